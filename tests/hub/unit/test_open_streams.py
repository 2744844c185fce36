"""Open streams are persisted (open_streams table): checkpoints, normal close, crash recovery."""

from __future__ import annotations

import asyncio
from pathlib import Path

from rtcc_hub.audit import verify_rows
from rtcc_hub.storage import OpenStream, Storage
from tests.hub.unit.conftest import Env
from tests.hub.unit.test_streaming import open_stream, read_parts


def _row(viewer: str = "v_1", **changes: object) -> OpenStream:
    fields: dict[str, object] = {
        "viewer": viewer,
        "unlock_id": "u_1",
        "hub": "jackson-rtcc",
        "camera_id": "c_1",
        "entity_id": "camera.front_door",
        "opened_at": 1_800_000_000.0,
    }
    fields.update(changes)
    return OpenStream(**fields)  # type: ignore[arg-type]


def test_storage_open_streams_round_trip(tmp_path: Path) -> None:
    storage = Storage.open(tmp_path)
    try:
        storage.add_open_stream(_row("v_a"))
        storage.add_open_stream(_row("v_b", opened_at=1_800_000_001.0))
        storage.checkpoint_open_stream("v_a", 7, 7000, 2)
        storage.checkpoint_open_stream("v_missing", 1, 1, 1)  # no row: nothing happens
        storage.delete_open_stream("v_b")
    finally:
        storage.close()
    reopened = Storage.open(tmp_path)
    try:
        assert reopened.open_streams() == [_row("v_a", frames=7, bytes=7000, dropped=2)]
    finally:
        reopened.close()


def _open_rows(env: Env) -> list[OpenStream]:
    return list(env.hub.storage.open_streams())


async def test_open_stream_row_checkpointed_and_deleted_at_close(env: Env) -> None:
    body, path = await open_stream(env)
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    async with env.session.get(env.city_url + path, headers=headers) as response:
        assert response.status == 200
        [row] = _open_rows(env)
        opened = [e for e in env.hub.audit.entries() if e["event"] == "stream_opened"]
        assert row.viewer == opened[0]["detail"]["viewer"]
        assert (row.unlock_id, row.hub) == (body["unlock_id"], "jackson-rtcc")
        assert row.camera_id == body["cameras"][0]["id"]
        assert row.entity_id == "camera.front_door"
        assert (row.frames, row.bytes) == (0, 0)
        parts, _ = await read_parts(response, 0.7)
        assert parts >= 2
        env.hub.checkpoint_streams()
        [row] = _open_rows(env)
        session = next(iter(env.hub._sessions))
        assert row.frames == session.frames >= 2
        assert row.bytes == session.bytes > 0
        # The unlock's and the totals' counters were written with it.
        stored = Storage.open(env.data_dir)
        try:
            assert f'"frames": {row.frames}' in "".join(stored.load_unlocks())
            assert f'"frames_sent": {row.frames}' in (stored.get_meta("counters") or "")
        finally:
            stored.close()
    await asyncio.sleep(0.6)
    closed = [e for e in env.hub.audit.entries() if e["event"] == "stream_closed"]
    assert len(closed) == 1 and closed[0]["detail"]["reason"] != "interrupted"
    assert _open_rows(env) == []


async def test_scheduler_checkpoints_open_streams(env: Env) -> None:
    env.hub.stream_checkpoint_s = 0.3
    body, path = await open_stream(env)
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    async with env.session.get(env.city_url + path, headers=headers) as response:
        assert response.status == 200
        await read_parts(response, 1.0)
        [row] = _open_rows(env)
        assert row.frames >= 2 and row.bytes > 0


async def test_leftover_open_streams_closed_as_interrupted_at_start(env: Env) -> None:
    body, path = await open_stream(env)
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    async with env.session.get(env.city_url + path, headers=headers) as response:
        await read_parts(response, 0.5)
        env.hub.checkpoint_streams()
        [row] = _open_rows(env)
    await asyncio.sleep(0.3)
    # A crash: the row of a stream whose close was never written (the add-on was killed).
    env.hub.storage.add_open_stream(row)
    env.hub.storage.add_open_stream(_row("v_other", unlock_id=body["unlock_id"], frames=3))
    await env.restart()
    entries = env.hub.audit.entries()
    interrupted = [
        e
        for e in entries
        if e["event"] == "stream_closed" and e["detail"]["reason"] == "interrupted"
    ]
    assert [e["detail"]["viewer"] for e in interrupted] == [row.viewer, "v_other"]
    first = interrupted[0]
    assert first["unlock_id"] == body["unlock_id"] and first["hub"] == "jackson-rtcc"
    assert first["detail"] == {
        "camera_id": row.camera_id,
        "entity_id": row.entity_id,
        "viewer": row.viewer,
        "frames": row.frames,
        "bytes": row.bytes,
        "dropped": row.dropped,
        "reason": "interrupted",
    }
    # Written at start-up (after service_started, before anything else) and never again.
    starts = [e["seq"] for e in entries if e["event"] == "service_started"]
    assert first["seq"] == starts[-1] + 1
    assert _open_rows(env) == []
    assert env.hub.audit.verify().ok
    await env.restart()
    again = [e for e in env.hub.audit.entries() if e["detail"].get("reason") == "interrupted"]
    assert len(again) == 2
    assert verify_rows(env.hub.storage.audit_rows()).ok
