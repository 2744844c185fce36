"""The share history folded from audit entries: edge cases a live add-on rarely produces."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from custom_components.rtcc_share.api import AuditEntry
from custom_components.rtcc_share.history import ShareHistory

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def _entry(seq: int, event: str, unlock_id: str | None = None, **detail: Any) -> AuditEntry:
    return AuditEntry(
        seq=seq,
        ts=T0 + timedelta(seconds=seq),
        event=event,
        unlock_id=unlock_id,
        hub="jackson-rtcc" if unlock_id else None,
        detail=detail,
    )


def test_keeps_the_newest_unlocks_only() -> None:
    """Beyond `size` unlocks the oldest goes; access to it afterwards is ignored."""
    history = ShareHistory(2)
    for seq, unlock_id in enumerate(("u_1", "u_2", "u_3"), start=1):
        history.apply(_entry(seq, "unlock_received", unlock_id, incident={"id": unlock_id}))
    assert [r["unlock_id"] for r in history.records()] == ["u_3", "u_2"]

    history.apply(_entry(4, "snapshot_served", "u_1", bytes=10))
    history.apply(_entry(5, "stream_closed", "u_1", frames=3, bytes=30))
    assert "u_1" not in {r["unlock_id"] for r in history.records()}
    # The viewing clock still follows the snapshot, whichever unlock it was for.
    assert history.last_snapshot == T0 + timedelta(seconds=4)


def test_status_without_received_and_odd_details() -> None:
    """A status for an unlock never received starts a record; odd values do not break it."""
    history = ShareHistory(5)
    history.apply(_entry(1, "unlock_status", "u_1", status="active", cameras="camera.x"))
    history.apply(_entry(2, "snapshot_served", "u_1", bytes="many"))
    history.apply(_entry(3, "stream_closed", "u_1", frames=True, bytes=7))
    history.apply(_entry(4, "unlock_status", "u_1", status=None, offense="burglary"))
    history.apply(_entry(5, "service_started", None, version="1"))
    (record,) = history.records()
    assert record["hub"] == "jackson-rtcc"
    assert record["cameras"] == []  # not a list: ignored
    assert record["snapshots"] == 1
    assert record["bytes"] == 7  # "many" counts as nothing
    assert record["frames"] == 0  # True is not a frame count
    assert record["status"] == "active"  # a status entry without a status keeps the last one
    assert record["offense"] == "burglary"
    assert record["start"] == (T0 + timedelta(seconds=1)).isoformat()
    assert record["end"] is None


def test_start_is_the_first_activation() -> None:
    """A resume after a pause does not move the start; the end comes with a final status."""
    history = ShareHistory(5)
    history.apply(_entry(1, "unlock_status", "u_1", status="active", cameras=["camera.a"]))
    history.apply(_entry(2, "unlock_status", "u_1", status="suspended", reason="paused"))
    history.apply(_entry(3, "unlock_status", "u_1", status="active", reason="resumed"))
    history.apply(_entry(4, "unlock_status", "u_1", status="ended", reason="expired"))
    (record,) = history.records()
    assert record["start"] == (T0 + timedelta(seconds=1)).isoformat()
    assert record["end"] == (T0 + timedelta(seconds=4)).isoformat()
    assert record["end_reason"] == "expired"
    assert record["cameras"] == ["camera.a"]
