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

from .status import AuditEvent
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


@dataclass(frozen=True, slots=True)
class Head:
    """Where the chain stands: the last entry's seq and hash (0 and 64 zeros when empty)."""

    seq: int = 0
    hash: str = GENESIS

    @classmethod
    def of_row(cls, row: tuple[int, str] | None) -> Head:
        """The head after the last stored entry."""
        if row is None:
            return cls()
        seq, text = row
        try:
            return cls(seq, str(json.loads(text)["hash"]))
        except (ValueError, KeyError, TypeError):
            # A damaged last entry: keep chaining from what was stored so verification
            # still points at the damaged seq rather than at every later entry.
            return cls(seq, hashlib.sha256(text.encode()).hexdigest())


def make_entry(
    head: Head,
    ts: float,
    event: AuditEvent,
    detail: dict[str, Any],
    *,
    unlock_id: str | None = None,
    hub: str | None = None,
) -> Entry:
    """The entry that follows `head` (pure: nothing is written)."""
    entry: Entry = {
        "seq": head.seq + 1,
        "ts": rfc3339(ts, millis=True),
        "event": event.value,
        "detail": detail,
        "prev": head.hash,
    }
    if unlock_id is not None:
        entry["unlock_id"] = unlock_id
    if hub is not None:
        entry["hub"] = hub
    entry["hash"] = entry_hash(entry)
    return entry


class AuditLog:
    """The chain's head in memory and the listeners of new entries (the owner's event stream).

    Entries are made by a change (state.py) from the head and written with it; only once the
    transaction committed does `advance` move the head and tell the listeners, so a failed
    write leaves the head where the stored chain ends and nobody hears of the lost entry.
    """

    def __init__(self, head: Head) -> None:
        self.head = head
        self._listeners: list[Listener] = []

    def advance(self, entries: list[Entry]) -> None:
        if not entries:
            return
        self.head = Head(entries[-1]["seq"], entries[-1]["hash"])
        for entry in entries:
            for listener in list(self._listeners):
                try:
                    listener(entry)
                except Exception:  # a broken listener must never stop auditing
                    _LOGGER.exception("audit listener failed")

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)
