"""Hash-chained, append-only audit log (PROTOCOL.md section 5).

An entry is `{"seq", "ts", "event", "unlock_id"?, "hub"?, "detail", "prev", "hash"}`; `hash` is
the SHA-256 hex of the entry without `hash`, serialised as
`json.dumps(entry, sort_keys=True, separators=(",", ":"))` (ASCII escapes), `prev` the previous
entry's hash (64 zeros first). Entries are stored in exactly this form so the history endpoint
and any outside verifier recompute the same chain. Nothing is ever updated or deleted.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from .storage import Storage
from .timefmt import rfc3339

_LOGGER = logging.getLogger(__name__)

GENESIS = "0" * 64

type Entry = dict[str, Any]
type Listener = Callable[[Entry], None]


def canonical(entry: Entry) -> str:
    """The exact serialisation the chain hashes (and the form entries are stored in)."""
    return json.dumps(entry, sort_keys=True, separators=(",", ":"))


def entry_hash(entry: Entry) -> str:
    """SHA-256 hex of the entry without its `hash` field."""
    body = {key: value for key, value in entry.items() if key != "hash"}
    return hashlib.sha256(canonical(body).encode("ascii")).hexdigest()


@dataclass(frozen=True, slots=True)
class VerifyResult:
    ok: bool
    entries: int
    head: str
    first_bad_seq: int | None = None

    def as_json(self) -> dict[str, Any]:
        result: dict[str, Any] = {"ok": self.ok, "entries": self.entries, "head": self.head}
        if self.first_bad_seq is not None:
            result["first_bad_seq"] = self.first_bad_seq
        return result


def verify_rows(rows: Iterable[tuple[int, str]]) -> VerifyResult:
    """Check a stored chain: seq from 1 without gaps, each `prev` and `hash` recomputed.

    `entries` is always the number of entries in the log. On failure `first_bad_seq` names the
    first entry that does not verify and `head` is the hash of the last one before it that did
    (64 zeros if none).
    """
    head = GENESIS
    count = 0
    first_bad: int | None = None
    for expected_seq, (seq, text) in enumerate(rows, start=1):
        count += 1
        if first_bad is not None:
            continue  # only counting from here on
        try:
            entry = json.loads(text)
            good = (
                isinstance(entry, dict)
                and seq == expected_seq
                and entry.get("seq") == seq
                and entry.get("prev") == head
                and entry.get("hash") == entry_hash(entry)
            )
        except (ValueError, TypeError):
            good = False
        if not good:
            first_bad = expected_seq
            continue
        head = entry["hash"]
    if first_bad is not None:
        return VerifyResult(ok=False, entries=count, head=head, first_bad_seq=first_bad)
    return VerifyResult(ok=True, entries=count, head=head)


class AuditLog:
    """Appends entries to storage and tells listeners (the control API's event stream)."""

    def __init__(self, storage: Storage, clock: Callable[[], float]) -> None:
        self._storage = storage
        self._clock = clock
        self._listeners: list[Listener] = []
        self._load_head()
        storage.on_rollback(self._load_head)

    def _load_head(self) -> None:
        """Position after the last stored entry (at start, and after a rolled-back write)."""
        last = self._storage.last_audit_row()
        if last is None:
            self._seq, self._head = 0, GENESIS
        else:
            self._seq = last[0]
            try:
                self._head = str(json.loads(last[1])["hash"])
            except (ValueError, KeyError, TypeError):
                # A damaged last entry: keep chaining from what was stored so verification
                # still points at the damaged seq rather than at every later entry.
                self._head = hashlib.sha256(last[1].encode()).hexdigest()

    @property
    def head_seq(self) -> int:
        return self._seq

    def append(
        self,
        event: str,
        detail: dict[str, Any],
        *,
        unlock_id: str | None = None,
        hub: str | None = None,
    ) -> Entry:
        entry: Entry = {
            "seq": self._seq + 1,
            "ts": rfc3339(self._clock(), millis=True),
            "event": event,
            "detail": detail,
            "prev": self._head,
        }
        if unlock_id is not None:
            entry["unlock_id"] = unlock_id
        if hub is not None:
            entry["hub"] = hub
        entry["hash"] = entry_hash(entry)
        self._storage.append_audit(entry["seq"], canonical(entry))
        self._seq, self._head = entry["seq"], entry["hash"]
        # Listeners hear of an entry only once it is durable: never of a rolled-back one.
        self._storage.after_commit(lambda: self._notify(entry))
        return entry

    def _notify(self, entry: Entry) -> None:
        for listener in list(self._listeners):
            try:
                listener(entry)
            except Exception:  # a broken listener must never stop auditing
                _LOGGER.exception("audit listener failed")

    def entries(self, after: int = 0, limit: int | None = None) -> list[Entry]:
        return [json.loads(text) for _, text in self._storage.audit_rows(after, limit)]

    def verify(self) -> VerifyResult:
        return verify_rows(self._storage.audit_rows())

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)
