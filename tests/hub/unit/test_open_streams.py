"""Open streams are persisted (open_streams table): checkpoints, normal close, crash recovery."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from rtcc_hub.audit import verify_rows
from rtcc_hub.storage import (
    OpenStream,
    Statement,
    Store,
    add_open_stream,
    audit_rows,
    checkpoint_open_stream,
    delete_open_stream,
    get_meta,
    load_unlock_rows,
    open_stream_rows,
)
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


async def test_storage_open_streams_round_trip(tmp_path: Path) -> None:
    store = await Store.open(tmp_path)
    try:
        await _write(
            store,
            add_open_stream(_row("v_a")),
            add_open_stream(_row("v_b", opened_at=1_800_000_001.0)),
            checkpoint_open_stream("v_a", 7, 7000, 2),
            checkpoint_open_stream("v_missing", 1, 1, 1),  # no row: nothing happens
            delete_open_stream("v_b"),
        )
    finally:
        await store.close()
    reopened = await Store.open(tmp_path)
    try:
        rows = await reopened.read(open_stream_rows)
        assert rows == [_row("v_a", frames=7, bytes=7000, dropped=2)]
    finally:
        await reopened.close()


async def _write(store: Store, *statements: Statement) -> None:
    await store.write(list(statements), deadline=time.monotonic() + 5)


async def _open_rows(env: Env) -> list[OpenStream]:
    return await env.hub.state.store.read(open_stream_rows)


async def test_open_stream_row_checkpointed_and_deleted_at_close(env: Env) -> None:
    body, path = await open_stream(env)
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    async with env.session.get(env.city_url + path, headers=headers) as response:
        assert response.status == 200
        [row] = await _open_rows(env)
        opened = [e for e in (await env.entries()) if e["event"] == "stream_opened"]
        assert row.viewer == opened[0]["detail"]["viewer"]
        assert (row.unlock_id, row.hub) == (body["unlock_id"], "jackson-rtcc")
        assert row.camera_id == body["cameras"][0]["id"]
        assert row.entity_id == "camera.front_door"
        assert (row.frames, row.bytes) == (0, 0)
        parts, _ = await read_parts(response, 0.7)
        assert parts >= 2
        await env.hub.access.checkpoint()
        [row] = await _open_rows(env)
        session = next(iter(env.hub.access.sessions))
        assert row.frames == session.frames >= 2
        assert row.bytes == session.bytes > 0
        # The unlock's and the totals' counters were written with it.
        store = env.hub.state.store
        assert f'"frames": {row.frames}' in "".join(await store.read(load_unlock_rows))
        counters = await store.read(lambda conn: get_meta(conn, "counters"))
        assert f'"frames_sent": {row.frames}' in (counters or "")
    await asyncio.sleep(0.6)
    closed = [e for e in (await env.entries()) if e["event"] == "stream_closed"]
    assert len(closed) == 1 and closed[0]["detail"]["reason"] != "interrupted"
    assert (await _open_rows(env)) == []


async def test_scheduler_checkpoints_open_streams(env: Env) -> None:
    env.hub.scheduler.checkpoint_s = 0.3
    body, path = await open_stream(env)
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    async with env.session.get(env.city_url + path, headers=headers) as response:
        assert response.status == 200
        await read_parts(response, 1.0)
        [row] = await _open_rows(env)
        assert row.frames >= 2 and row.bytes > 0


async def test_leftover_open_streams_closed_as_interrupted_at_start(env: Env) -> None:
    body, path = await open_stream(env)
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    async with env.session.get(env.city_url + path, headers=headers) as response:
        await read_parts(response, 0.5)
        await env.hub.access.checkpoint()
        [row] = await _open_rows(env)
    await asyncio.sleep(0.3)
    # A crash: the row of a stream whose close was never written (the add-on was killed).
    await _write(
        env.hub.state.store,
        add_open_stream(row),
        add_open_stream(_row("v_other", unlock_id=body["unlock_id"], frames=3)),
    )
    await env.restart()
    entries = await env.entries()
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
    assert (await _open_rows(env)) == []
    assert (await env.verify()).ok
    await env.restart()
    again = [e for e in (await env.entries()) if e["detail"].get("reason") == "interrupted"]
    assert len(again) == 2
    assert verify_rows(await env.hub.state.store.read(audit_rows)).ok
