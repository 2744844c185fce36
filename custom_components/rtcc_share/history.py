"""The owner's view of past unlocks, folded from the add-on's audit entries.

The add-on's audit log is the record; this only summarises it for the share_history
sensor: one line per unlock with who asked, for what, which cameras, when it was
shared and ended, and how much left the home.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .api import AuditEntry

# Statuses after which an unlock never changes again.
FINAL_STATUSES = frozenset({"ended", "declined"})


@dataclass(slots=True)
class UnlockRecord:
    """One unlock as the history sensor shows it."""

    unlock_id: str
    hub: str | None
    incident_id: str | None = None
    offense: str | None = None
    cameras: list[str] = field(default_factory=list)
    status: str = "received"
    start: datetime | None = None
    end: datetime | None = None
    end_reason: str | None = None
    snapshots: int = 0
    frames: int = 0
    bytes: int = 0

    def as_dict(self) -> dict[str, Any]:
        """Return the record as a JSON-friendly attribute value."""
        return {
            "unlock_id": self.unlock_id,
            "hub": self.hub,
            "incident_id": self.incident_id,
            "offense": self.offense,
            "cameras": list(self.cameras),
            "status": self.status,
            "start": self.start.isoformat() if self.start else None,
            "end": self.end.isoformat() if self.end else None,
            "end_reason": self.end_reason,
            "snapshots": self.snapshots,
            "frames": self.frames,
            "bytes": self.bytes,
        }


class ShareHistory:
    """The last `size` unlocks, newest last, plus when a snapshot was last served."""

    def __init__(self, size: int) -> None:
        """Start empty."""
        self._size = size
        self._records: OrderedDict[str, UnlockRecord] = OrderedDict()
        self.last_snapshot: datetime | None = None

    def records(self) -> list[dict[str, Any]]:
        """Return the records, newest first."""
        return [record.as_dict() for record in reversed(self._records.values())]

    def apply(self, entry: AuditEntry) -> None:
        """Fold one audit entry in."""
        detail = entry.detail
        if entry.event == "snapshot_served":
            self.last_snapshot = entry.ts
        if entry.unlock_id is None:
            return
        if entry.event == "unlock_received":
            incident = detail.get("incident") or {}
            record = self._record(entry)
            record.incident_id = _str(incident.get("id"))
            record.offense = _str(incident.get("offense"))
            return
        record_or_none = self._records.get(entry.unlock_id)
        if entry.event == "unlock_status":
            record = record_or_none or self._record(entry)
            self._apply_status(record, entry)
        elif record_or_none is None:
            # Access to an unlock older than the ones kept: nothing to add it to.
            return
        elif entry.event == "snapshot_served":
            record_or_none.snapshots += 1
            record_or_none.bytes += _int(detail.get("bytes"))
        elif entry.event == "stream_closed":
            record_or_none.frames += _int(detail.get("frames"))
            record_or_none.bytes += _int(detail.get("bytes"))

    def _record(self, entry: AuditEntry) -> UnlockRecord:
        assert entry.unlock_id is not None
        record = self._records.get(entry.unlock_id)
        if record is None:
            record = UnlockRecord(unlock_id=entry.unlock_id, hub=entry.hub)
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
        if status == "active" and record.start is None:
            record.start = entry.ts
        if status in FINAL_STATUSES:
            record.end = entry.ts
            record.end_reason = _str(detail.get("reason"))


def _str(value: Any) -> str | None:
    return None if value is None else str(value)


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
