from __future__ import annotations

import contextlib

from tests.support.relay_fixtures import StartRelay
from tests.support.standin_router import StandinRouter


async def test_health_snapshot_stream(
    start_relay: StartRelay, city, router: StandinRouter, home_id: str
) -> None:
    relay = await start_relay()
    home = city.home(home_id)
    assert await home.health() == {"status": "ok"}
    unlock = router.add_unlock(cameras={"cam-a": 300_000})
    jpeg = await home.snapshot(unlock.unlock_id, unlock.access_token, "cam-a")
    assert len(jpeg) == 300_000
    frames = []
    async with contextlib.aclosing(
        home.stream(unlock.unlock_id, unlock.access_token, "cam-a")
    ) as it:
        async for f in it:
            frames.append(f)
            if len(frames) == 3:
                break
    assert frames == router.streams[0].sent[:3]
    print(relay.status(), router.requests[-1])
