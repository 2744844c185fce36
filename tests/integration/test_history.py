"""The share history folded from audit entries: edge cases a live add-on rarely produces,
and the clip entries of PROTOCOL.md sections 5 and 7 the add-on does not write yet."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from custom_components.rtcc_share.api import AuditEntry
from custom_components.rtcc_share.history import ShareHistory, Viewing

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
HOLD = timedelta(seconds=60)


def _entry(seq: int, event: str, unlock_id: str | None = None, **detail: Any) -> AuditEntry:
    return AuditEntry(
        seq=seq,
        ts=T0 + timedelta(seconds=seq),
        event=event,
        unlock_id=unlock_id,
        hub="jackson-rtcc" if unlock_id else None,
        detail=detail,
    )


def _ids(history: ShareHistory) -> list[str]:
    return [r.unlock_id for r in history.newest_first()]


def test_keeps_the_newest_unlocks_only() -> None:
    """Beyond `size` unlocks the oldest goes; access to it afterwards is ignored."""
    history = ShareHistory(2, HOLD)
    for seq, unlock_id in enumerate(("u_1", "u_2", "u_3"), start=1):
        history.apply(_entry(seq, "unlock_received", unlock_id, incident={"id": unlock_id}))
    assert _ids(history) == ["u_3", "u_2"]
    assert len(history) == 2

    history.apply(_entry(4, "snapshot_served", "u_1", bytes=10, entity_id="camera.a"))
    history.apply(_entry(5, "stream_closed", "u_1", frames=3, bytes=30))
    assert history.get("u_1") is None
    # The viewing clock still follows the snapshot, whichever unlock it was for.
    assert history.last_served == T0 + timedelta(seconds=4)


def test_received_then_statuses() -> None:
    """The request's incident and scope, then its story; seqs bound its stretch of the log."""
    history = ShareHistory(5, HOLD)
    incident = {"id": "I-1", "case_number": "C-1", "offense": "burglary"}
    history.apply(
        _entry(3, "unlock_received", "u_1", incident=incident, scope=["snapshot", "stream"])
    )
    history.apply(_entry(4, "unlock_status", "u_1", status="active", cameras=["camera.a"]))
    history.apply(_entry(9, "unlock_status", "u_1", status="ended", reason="revoked"))
    record = history.get("u_1")
    assert record is not None
    assert (record.incident_id, record.case_number, record.offense) == ("I-1", "C-1", "burglary")
    assert record.scope == ["snapshot", "stream"]
    assert (record.first_seq, record.last_seq) == (3, 9)
    assert record.received == T0 + timedelta(seconds=3)
    assert (record.status, record.reason) == ("ended", "revoked")


def test_status_without_received_and_odd_details() -> None:
    """A status for an unlock never received starts a record; odd values do not break it."""
    history = ShareHistory(5, HOLD)
    history.apply(_entry(1, "unlock_status", "u_1", status="active", cameras="camera.x"))
    history.apply(_entry(2, "snapshot_served", "u_1", bytes="many"))
    history.apply(_entry(3, "stream_closed", "u_1", frames=True, bytes=7))
    history.apply(_entry(4, "unlock_status", "u_1", status=None, offense="burglary"))
    history.apply(_entry(5, "service_started", None, version="1"))
    history.apply(_entry(6, "unlock_received", "u_2", incident="not an object", scope="x"))
    record = history.get("u_1")
    assert record is not None
    assert record.hub == "jackson-rtcc"
    assert record.cameras == []  # not a list: ignored
    assert record.snapshots == 1
    assert record.bytes == 7  # "many" counts as nothing
    assert record.frames == 0  # True is not a frame count
    assert record.status == "active"  # a status entry without a status keeps the last one
    assert record.offense == "burglary"
    assert record.start == T0 + timedelta(seconds=1)
    assert record.received == T0 + timedelta(seconds=1)
    assert record.end is None
    odd = history.get("u_2")
    assert odd is not None
    assert (odd.incident_id, odd.scope) == (None, [])


def test_start_is_the_first_activation() -> None:
    """A resume after a pause does not move the start; the end comes with a final status."""
    history = ShareHistory(5, HOLD)
    history.apply(_entry(1, "unlock_status", "u_1", status="active", cameras=["camera.a"]))
    history.apply(_entry(2, "unlock_status", "u_1", status="suspended", reason="paused"))
    history.apply(_entry(3, "unlock_status", "u_1", status="active", reason="resumed"))
    history.apply(_entry(4, "unlock_status", "u_1", status="ended", reason="expired"))
    record = history.get("u_1")
    assert record is not None
    assert record.start == T0 + timedelta(seconds=1)
    assert record.end == T0 + timedelta(seconds=4)
    assert record.reason == "expired"
    assert record.cameras == ["camera.a"]


def test_clips_window_size_and_downloads() -> None:
    """Clip entries (PROTOCOL.md sections 5 and 7): window, size, downloads, deletion."""
    history = ShareHistory(5, HOLD)
    history.apply(_entry(1, "unlock_status", "u_1", status="active", cameras=["camera.a"]))
    window = {"start": "2026-11-23T11:00:00Z", "end": "2026-11-23T11:05:00Z"}
    ids = {"camera_id": "c_1", "entity_id": "camera.a", "clip_id": "k_1"}
    history.apply(_entry(2, "clip_requested", "u_1", **ids, **window))
    clip = history.get("u_1").clips["k_1"]  # type: ignore[union-attr]
    assert clip.status == "requested"
    assert clip.start == datetime(2026, 11, 23, 11, 0, tzinfo=UTC)
    history.apply(
        _entry(
            3,
            "clip_prepared",
            "u_1",
            **ids,
            **window,
            bytes=2_000_000,
            sha256="ab" * 32,
            source_sha256="cd" * 32,
            frames=4500,
        )
    )
    history.apply(_entry(4, "clip_served", "u_1", **ids, bytes=2_000_000))
    history.apply(_entry(5, "clip_served", "u_1", **ids, bytes=2_000_000))
    history.apply(_entry(6, "clip_deleted", "u_1", clip_id="k_1", reason="unlock_ended"))
    # Unix seconds (as a token's footage window) and nonsense are read as well as they can be.
    history.apply(_entry(7, "clip_requested", "u_1", clip_id="k_2", start=1_795_000_000, end="x"))
    history.apply(_entry(8, "clip_requested", "u_1", clip_id="k_3", start=10**20, end=True))
    history.apply(_entry(9, "clip_requested", "u_1", clip_id=None))  # no clip id: ignored
    record = history.get("u_1")
    assert record is not None
    assert sorted(record.clips) == ["k_1", "k_2", "k_3"]
    assert (clip.status, clip.bytes, clip.frames, clip.downloads) == ("deleted", 2_000_000, 4500, 2)
    assert clip.deleted_reason == "unlock_ended"
    assert clip.end == datetime(2026, 11, 23, 11, 5, tzinfo=UTC)
    assert record.bytes == 4_000_000  # what left the home: both downloads
    assert record.clips["k_2"].start == datetime.fromtimestamp(1_795_000_000, UTC)
    assert record.clips["k_2"].end is None
    assert record.clips["k_3"].start is None
    assert record.last_seq == 9


def test_viewing_streams_and_recent_servings() -> None:
    """Open streams count until closed; a snapshot or clip download for the hold."""
    history = ShareHistory(5, HOLD)
    history.apply(_entry(1, "unlock_status", "u_1", status="active", cameras=["camera.a"]))
    history.apply(_entry(2, "stream_opened", "u_1", entity_id="camera.a", viewer="v_1"))
    history.apply(_entry(3, "snapshot_served", "u_1", entity_id="camera.b", bytes=1))
    history.apply(_entry(4, "snapshot_served", "u_1", entity_id="camera.b", bytes=1))
    now = T0 + timedelta(seconds=10)
    streamed = Viewing("u_1", "jackson-rtcc", "camera.a")
    snapped = Viewing("u_1", "jackson-rtcc", "camera.b")
    assert history.viewing(now) == [snapped, streamed]  # no repeats
    assert history.viewing_ends(now) == T0 + timedelta(seconds=4) + HOLD
    history.apply(_entry(5, "stream_closed", "u_1", viewer="v_1", frames=2, bytes=20))
    assert history.viewing(now) == [snapped]
    later = T0 + timedelta(seconds=4) + HOLD
    assert history.viewing(later) == []
    assert history.viewing_ends(later) is None
    history.apply(_entry(6, "clip_served", "u_9", entity_id="camera.c", clip_id="k", bytes=5))
    assert history.viewing(later) == [Viewing("u_9", "jackson-rtcc", "camera.c")]
