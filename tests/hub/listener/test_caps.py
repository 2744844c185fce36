"""Connection caps of `http_listener.Listener` with the protocol's numbers (64 per client
address, 512 in all), hundreds of real sockets on loopback from several source addresses."""

from __future__ import annotations

import asyncio
import logging

import pytest

from rtcc_hub.http_listener import CITY_LIMITS, ConnectionLimits
from tests.hub.listener.conftest import request, serve
from tests.support.sockets import (
    close_all,
    eventually,
    http_exchange,
    loopback_sources,
    open_socket,
    open_sockets,
    raise_descriptor_limit,
    still_open,
    wait_closed,
)

# The protocol's caps; long timeouts so that only the caps close anything here.
LIMITS = ConnectionLimits(head_timeout_s=300, idle_timeout_s=300)
PER_ADDRESS, TOTAL = CITY_LIMITS.per_address, CITY_LIMITS.total


@pytest.fixture(autouse=True)
def _descriptors() -> None:
    raise_descriptor_limit(4096)


def test_the_city_limits_are_the_protocols() -> None:
    assert (CITY_LIMITS.head_timeout_s, CITY_LIMITS.idle_timeout_s) == (10, 60)
    assert (CITY_LIMITS.per_address, CITY_LIMITS.total) == (64, 512)


async def _answers(port: int, source: str) -> bool:
    answer = await http_exchange(port, request(close=True), source=source)
    return answer.startswith(b"HTTP/1.1 200")


async def test_at_most_64_connections_per_client_address() -> None:
    async with serve(LIMITS) as served:
        held = await open_sockets(served.port, PER_ADDRESS, source="127.0.0.1")
        try:
            extra = [await open_socket(served.port, source="127.0.0.1") for _ in range(20)]
            # The extra ones are accepted and closed at once; the 64 stay open.
            assert all(await asyncio.gather(*(wait_closed(s, 2.0) for s in extra)))
            close_all(extra)
            assert len(await still_open(held, 0.5)) == PER_ADDRESS
            assert served.listener.open_connections == PER_ADDRESS
            # Another address is served meanwhile; the full one is not.
            assert await _answers(served.port, "127.0.0.2")
            assert not await _answers(served.port, "127.0.0.1")
            # One closed frees one slot for that address.
            held.pop().close()
            assert await eventually(lambda: _answers(served.port, "127.0.0.1"))
        finally:
            close_all(held)


async def test_at_most_512_connections_in_all() -> None:
    sources = loopback_sources(TOTAL // PER_ADDRESS + 1)  # 9 addresses
    async with serve(LIMITS) as served:
        held = []
        try:
            for source in sources[:-1]:
                held += await open_sockets(served.port, PER_ADDRESS, source=source)
            assert len(held) == TOTAL
            extra = [await open_socket(served.port, source=sources[-1]) for _ in range(20)]
            assert all(await asyncio.gather(*(wait_closed(s, 2.0) for s in extra)))
            close_all(extra)
            assert len(await still_open(held, 0.5)) == TOTAL
            assert served.listener.open_connections == TOTAL
            assert not await _answers(served.port, sources[-1])
            close_all(held[:10])
            assert await eventually(lambda: _answers(served.port, sources[-1]))
        finally:
            close_all(held)
        await asyncio.sleep(0.2)
        assert served.listener.open_connections == 0


async def test_a_flood_of_refused_connections_logs_one_line_per_condition(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="rtcc_hub.http_listener")
    async with serve(LIMITS) as served:
        held = await open_sockets(served.port, PER_ADDRESS)
        try:
            for _ in range(10):  # 2000 refused connections
                batch = await asyncio.gather(
                    *(open_socket(served.port) for _ in range(200)), return_exceptions=True
                )
                close_all(s for s in batch if not isinstance(s, BaseException))
            assert len(await still_open(held, 0.3)) == PER_ADDRESS
        finally:
            close_all(held)
    records = [r for r in caplog.records if r.name == "rtcc_hub.http_listener"]
    # One line when it started, one summary with the count at shutdown; no tracebacks.
    assert len(records) <= 2, [r.getMessage() for r in records]
    assert records[0].levelno == logging.WARNING
    assert "64 already open from its address" in records[0].getMessage()
    assert all(r.exc_info is None for r in records)
    if len(records) == 2:
        assert "more in 60 s" in records[1].getMessage()
