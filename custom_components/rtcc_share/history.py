"""The owner's view of past unlocks, folded from the add-on's audit entries.

The add-on's audit log is the record; this only summarises it for the panel's History
view and for the city-viewing sensor: one record per unlock with who asked, for what,
which cameras, when it was shared and ended, how much left the home and which recorded
clips were made; plus which cameras the city is looking at right now.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from .api import AuditEntry, UnlockStatus

# Statuses after which an unlock never changes again.
FINAL_STATUSES = frozenset({UnlockStatus.ENDED, UnlockStatus.DECLINED})
# Audit events that mean something left the home at that moment (PROTOCOL.md sections 5, 7).
SERVED_EVENTS = frozenset({"snapshot_served", "clip_served"})
# Audit events that belong to one unlock's story, shown when the owner expands it.
UNLOCK_EVENTS = frozenset(
    {
        "unlock_received",
        "unlock_status",
        "camera_removed",
        "snapshot_served",
        "stream_opened",
        "stream_closed",
        "clip_requested",
        "clip_prepared",
        "clip_served",
        "clip_deleted",
    }
)


@dataclass(slots=True)
class ClipRecord:
    """One recorded clip of an unlock (PROTOCOL.md section 7): its window and size."""

    clip_id: str
    entity_id: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    status: str = "requested"
    bytes: int | None = None
    frames: int | None = None
    sha256: str | None = None
    downloads: int = 0
    deleted_reason: str | None = None


@dataclass(slots=True)
class UnlockRecord:
    """One unlock as the History view shows it."""

    unlock_id: str
    hub: str | None
    first_seq: int
    last_seq: int
    received: datetime | None = None
    incident_id: str | None = None
    case_number: str | None = None
    offense: str | None = None
    scope: list[str] = field(default_factory=list)
    cameras: list[str] = field(default_factory=list)
    status: str = "received"
    # Why it was declined or how it ended: for the owner only, the city never sees it.
    reason: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    snapshots: int = 0
    frames: int = 0
    bytes: int = 0
    clips: dict[str, ClipRecord] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Viewing:
    """One camera of one unlock the city is looking at now."""

    unlock_id: str
    hub: str | None
    entity_id: str


class ShareHistory:
    """The last `size` unlocks, newest last, and what the city is looking at now."""

    def __init__(self, size: int, viewing_hold: timedelta) -> None:
        """Start empty; a snapshot counts as viewing for `viewing_hold`."""
        self._size = size
        self._hold = viewing_hold
        self._records: OrderedDict[str, UnlockRecord] = OrderedDict()
        # Open streams by viewer id, and recent servings (newest last).
        self._streams: dict[str, Viewing] = {}
        self._served: deque[tuple[datetime, Viewing]] = deque()

    def __len__(self) -> int:
        """How many unlocks are kept."""
        return len(self._records)

    def get(self, unlock_id: str) -> UnlockRecord | None:
        """One unlock's record, or None when it is not kept."""
        return self._records.get(unlock_id)

    def newest_first(self) -> Iterator[UnlockRecord]:
        """The kept records, newest first."""
        return reversed(self._records.values())

    # What the city is looking at

    @property
    def last_served(self) -> datetime | None:
        """When a snapshot or clip last left the home, or None."""
        return self._served[-1][0] if self._served else None

    def viewing(self, now: datetime) -> list[Viewing]:
        """Open streams, and what was served within the hold, oldest first, no repeats."""
        while self._served and now - self._served[0][0] >= self._hold:
            self._served.popleft()
        seen = dict.fromkeys([*(v for _, v in self._served), *self._streams.values()])
        return list(seen)

    def viewing_ends(self, now: datetime) -> datetime | None:
        """When the newest serving stops counting as viewing, if it still does."""
        last = self.last_served
        if last is None or (ends := last + self._hold) <= now:
            return None
        return ends

    # Folding entries in

    def apply(self, entry: AuditEntry) -> None:
        """Fold one audit entry in."""
        detail = entry.detail
        if entry.unlock_id is None:
            return
        if entry.event == "unlock_received":
            record = self._record(entry)
            incident = detail.get("incident")
            if isinstance(incident, Mapping):
                record.incident_id = _str(incident.get("id"))
                record.case_number = _str(incident.get("case_number"))
                record.offense = _str(incident.get("offense"))
            scope = detail.get("granted_scope", detail.get("scope"))
            if isinstance(scope, list):
                record.scope = [str(s) for s in scope]
            record.received = entry.ts
            return
        record_or_none = self._records.get(entry.unlock_id)
        if entry.event == "unlock_status":
            record = record_or_none or self._record(entry)
            record.last_seq = entry.seq
            self._apply_status(record, entry)
            return
        self._apply_access(record_or_none, entry)

    def _apply_access(self, record: UnlockRecord | None, entry: AuditEntry) -> None:
        """Streams and servings count for viewing even for an unlock no longer kept."""
        detail = entry.detail
        entity_id = _str(detail.get("entity_id"))
        viewer = _str(detail.get("viewer"))
        assert entry.unlock_id is not None
        if entry.event == "stream_opened" and viewer and entity_id:
            self._streams[viewer] = Viewing(entry.unlock_id, entry.hub, entity_id)
        elif entry.event == "stream_closed" and viewer:
            self._streams.pop(viewer, None)
        elif entry.event in SERVED_EVENTS and entity_id:
            self._served.append((entry.ts, Viewing(entry.unlock_id, entry.hub, entity_id)))
        if record is None:
            return  # access to an unlock older than the ones kept: nothing to add it to
        if entry.event in UNLOCK_EVENTS:
            record.last_seq = entry.seq
        if entry.event == "snapshot_served":
            record.snapshots += 1
            record.bytes += _int(detail.get("bytes"))
        elif entry.event == "stream_closed":
            record.frames += _int(detail.get("frames"))
            record.bytes += _int(detail.get("bytes"))
        elif entry.event.startswith("clip_") and (clip_id := _str(detail.get("clip_id"))):
            self._apply_clip(record, entry, clip_id)

    @staticmethod
    def _apply_clip(record: UnlockRecord, entry: AuditEntry, clip_id: str) -> None:
        detail = entry.detail
        clip = record.clips.setdefault(clip_id, ClipRecord(clip_id=clip_id))
        clip.entity_id = _str(detail.get("entity_id")) or clip.entity_id
        clip.start = _when(detail.get("start")) or clip.start
        clip.end = _when(detail.get("end")) or clip.end
        if entry.event == "clip_prepared":
            clip.status = "ready"
            clip.bytes = _int(detail.get("bytes"))
            clip.frames = _int(detail.get("frames"))
            clip.sha256 = _str(detail.get("sha256"))
        elif entry.event == "clip_served":
            clip.downloads += 1
            record.bytes += _int(detail.get("bytes"))
        elif entry.event == "clip_deleted":
            clip.status = "deleted"
            clip.deleted_reason = _str(detail.get("reason"))

    def _record(self, entry: AuditEntry) -> UnlockRecord:
        assert entry.unlock_id is not None
        record = self._records.get(entry.unlock_id)
        if record is None:
            record = UnlockRecord(
                unlock_id=entry.unlock_id, hub=entry.hub, first_seq=entry.seq, last_seq=entry.seq
            )
            self._records[entry.unlock_id] = record
            while len(self._records) > self._size:
                self._records.popitem(last=False)
        return record

    @staticmethod
    def _apply_status(record: UnlockRecord, entry: AuditEntry) -> None:
        detail = entry.detail
        status = _str(detail.get("status")) or record.status
        record.status = status
        record.incident_id = _str(detail.get("incident_id")) or record.incident_id
        record.offense = _str(detail.get("offense")) or record.offense
        if isinstance(cameras := detail.get("cameras"), list):
            record.cameras = [str(camera) for camera in cameras]
        if status == UnlockStatus.ACTIVE and record.start is None:
            record.start = entry.ts
        if status in FINAL_STATUSES:
            record.end = entry.ts
            record.reason = _str(detail.get("reason"))
        if record.received is None:
            record.received = entry.ts


def _str(value: Any) -> str | None:
    return None if value is None else str(value)


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _when(value: Any) -> datetime | None:
    """A time in a clip's detail: RFC 3339, or Unix seconds as in a token's `footage`."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(value, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return None
        return parsed if parsed.tzinfo is not None else None
    return None
