"""The add-on's listeners against the protocol's own limits (PROTOCOL.md section 3), from
outside: a real add-on subprocess, hundreds of real sockets on loopback.

- a silent or half-sent request head is cut at 10 s; an idle kept-alive connection at 60 s;
- at most 64 connections per client address and 512 in all, more closed at once;
- out of file descriptors (a low limit from the start, or EMFILE forced on the running add-on
  with prlimit): the owner still revokes within 1 s, nothing spins, the log stays short, and
  health answers again once the flood is over;
- no response of either API names the software; clients that close streams are not errors.
"""

from __future__ import annotations

import asyncio
import os
import re
import resource
import socket
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.hub.listener.conftest import Addon
from tests.support.sockets import (
    close_all,
    eventually,
    header_names,
    http_exchange,
    loopback_sources,
    open_socket,
    open_sockets,
    raise_descriptor_limit,
    read_response,
    reset_on_close,
    still_open,
    wait_closed,
)

HEAD_S, IDLE_S, PER_ADDRESS, TOTAL = 10.0, 60.0, 64, 512
SLACK_S = 3.0  # scheduling margin on a loaded machine
HEALTH = b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\n\r\n"
HEALTH_CLOSE = b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
StartAddon = Callable[..., Addon]


@pytest.fixture(autouse=True)
def _descriptors() -> None:
    raise_descriptor_limit(8192)


async def _closed_at(sock: socket.socket, started: float, wait_s: float) -> float | None:
    gone = await wait_closed(sock, wait_s)
    return time.monotonic() - started if gone else None


async def _kept_alive(port: int, source: str = "127.0.0.1") -> socket.socket:
    """A connection that made one request and is now idle (allowed for up to 60 s)."""
    sock = await open_socket(port, source=source)
    await asyncio.get_running_loop().sock_sendall(sock, HEALTH)
    head, _ = await read_response(sock)
    assert head.startswith(b"HTTP/1.1 200"), head
    return sock


async def _healthy(port: int, source: str = "127.0.0.1") -> bool:
    answer = await http_exchange(port, HEALTH_CLOSE, source=source, wait_s=3)
    return answer.startswith(b"HTTP/1.1 200")


async def _eventually_healthy(port: int, source: str = "127.0.0.1") -> bool:
    return await eventually(lambda: _healthy(port, source))


async def _revoke_time(addon: Addon, unlock_id: str) -> float:
    started = time.monotonic()
    status, body = await asyncio.to_thread(
        addon.hub.control_request, "POST", f"/control/v1/unlocks/{unlock_id}/revoke"
    )
    assert status == 200, body
    assert body["status"] == "ended"
    return time.monotonic() - started


def _open_descriptors(pid: int) -> list[int]:
    return [int(path.name) for path in Path(f"/proc/{pid}/fd").iterdir()]


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def test_head_and_idle_timeouts_are_10_and_60_seconds(start_addon: StartAddon) -> None:
    addon = start_addon()
    loop = asyncio.get_running_loop()
    port = addon.city_port
    started = time.monotonic()
    silent = await open_socket(port)
    dripping = await open_socket(port)
    await loop.sock_sendall(dripping, b"GET /api/v1/health HTTP/1.1\r\n")
    idle = await _kept_alive(port)
    late = await _kept_alive(port)

    async def drip() -> None:
        while True:  # a header line every 2 s: bytes keep coming, the head never ends
            await asyncio.sleep(2)
            await loop.sock_sendall(dripping, b"X-Slow: 1\r\n")

    async def late_partial_head() -> float | None:
        await asyncio.sleep(15)  # idle for longer than the head timeout: allowed
        await loop.sock_sendall(late, b"GET /api/v1/health HTTP/1.1\r\n")  # and never the rest
        sent = time.monotonic()
        return await _closed_at(late, sent, HEAD_S + SLACK_S)

    dripper = asyncio.ensure_future(drip())
    try:
        silent_at, dripping_at, late_after, idle_at = await asyncio.gather(
            _closed_at(silent, started, HEAD_S + SLACK_S),
            _closed_at(dripping, started, HEAD_S + SLACK_S),
            late_partial_head(),
            _closed_at(idle, started, IDLE_S + SLACK_S + 2),
        )
    finally:
        dripper.cancel()
        close_all([silent, dripping, idle, late])
    assert silent_at is not None and silent_at >= HEAD_S - 0.5, silent_at
    assert dripping_at is not None and dripping_at >= HEAD_S - 0.5, dripping_at
    assert late_after is not None and late_after >= HEAD_S - 0.5, late_after
    assert idle_at is not None and idle_at >= IDLE_S - 1, idle_at
    assert await _healthy(port)


async def test_64_per_address_and_512_in_all(start_addon: StartAddon) -> None:
    addon = start_addon()
    port = addon.city_port
    sources = loopback_sources(TOTAL // PER_ADDRESS + 1)
    held: list[socket.socket] = []
    try:
        for source in sources[:-1]:  # 8 addresses x 64, all kept alive
            held += await asyncio.gather(*(_kept_alive(port, source) for _ in range(PER_ADDRESS)))
        assert len(held) == TOTAL
        # From a full address, and from a new one while 512 are open: closed at once.
        extra = [await open_socket(port, source=s) for s in (sources[0], sources[-1]) * 10]
        assert all(await asyncio.gather(*(wait_closed(s, 2.0) for s in extra)))
        close_all(extra)
        assert len(await still_open(held, 0.5)) == TOTAL
        assert not await _healthy(port, sources[-1])
        status, _ = await asyncio.to_thread(addon.hub.control_request, "GET", "/control/v1/state")
        assert status == 200  # the owner is not affected
        # Below the total again, a new address is served; the full address still is not.
        close_all(held[PER_ADDRESS : PER_ADDRESS + 5])
        assert await _eventually_healthy(port, sources[-1])
        assert not await _healthy(port, sources[0])
    finally:
        close_all(held)
    assert await _eventually_healthy(port, sources[0])


async def test_a_low_descriptor_limit_caps_the_city_and_spares_the_owner(
    start_addon: StartAddon,
) -> None:
    addon = start_addon(nofile=(200, 200))
    [warning] = [line for line in addon.hub.output if "too low for 512 city connections" in line]
    cap = int(re.search(r"accepts at most (\d+) at once", warning)[1])
    assert 8 <= cap < 20
    unlocks = [addon.unlock() for _ in range(3)]
    port = addon.city_port
    mark = addon.mark()
    flood: list[socket.socket] = []
    try:
        for round_ in range(3):  # 3 x 300 connections from 6 addresses, all kept open
            for source in loopback_sources(6):
                flood += await open_sockets(port, 50, source=source)
            assert await _revoke_time(addon, unlocks[round_]["unlock_id"]) < 1.0
        assert len(await still_open(flood, 1.0)) == cap
    finally:
        close_all(flood)
    assert await _eventually_healthy(port)
    lines = addon.lines_since(mark)
    assert len(lines) <= 6, lines
    assert not [line for line in lines if "Traceback" in line or " ERROR " in line]


async def test_out_of_descriptors_the_owner_still_revokes_within_1_s(
    start_addon: StartAddon,
) -> None:
    addon = start_addon()
    assert addon.hub.proc is not None
    pid = addon.hub.proc.pid
    port = addon.city_port
    unlocks = [addon.unlock() for _ in range(3)]
    held = [await _kept_alive(port) for _ in range(10)]
    fds = _open_descriptors(pid)
    hard = resource.prlimit(pid, resource.RLIMIT_NOFILE)[1]
    resource.prlimit(pid, resource.RLIMIT_NOFILE, (max(fds) + 1, hard))
    mark = addon.mark()
    try:
        # Fill what the lowered limit leaves, until the add-on says it ran out.
        for _ in range(200):
            if any("out of file descriptors" in line for line in addon.lines_since(mark)):
                break
            sock = await open_socket(port, source="127.0.0.2")
            held.append(sock)
            if await wait_closed(sock, 0.2):
                sock.close()
        else:
            pytest.fail(f"the add-on never ran out of descriptors: {addon.lines_since(mark)}")
        # A flood of new connections now: each accepted with a spare and closed at once.
        flood = asyncio.ensure_future(_flood(port, rounds=6))
        try:
            for unlock in unlocks:
                assert await _revoke_time(addon, unlock["unlock_id"]) < 1.0
                await asyncio.sleep(0.3)
        finally:
            shed = await flood
        assert shed > 0
        # Exhausted and idle: the loop does not spin.
        cpu = _cpu_seconds(pid)
        await asyncio.sleep(3)
        assert _cpu_seconds(pid) - cpu < 1.5
    finally:
        close_all(held)
    # The flood is over and descriptors are free again: health answers.
    assert await _eventually_healthy(port), addon.lines_since(mark)
    lines = addon.lines_since(mark)
    assert len(lines) <= 10, lines
    assert not [line for line in lines if "Traceback" in line or " ERROR " in line]


async def _flood(port: int, rounds: int) -> int:
    """Connections opened and found closed at once, `rounds` x 100."""
    shed = 0
    for _ in range(rounds):
        batch = await asyncio.gather(
            *(open_socket(port, source="127.0.0.3") for _ in range(100)), return_exceptions=True
        )
        socks = [s for s in batch if not isinstance(s, BaseException)]
        shed += sum(await asyncio.gather(*(wait_closed(s, 1.0) for s in socks)))
        close_all(socks)
    return shed


async def test_clients_closing_streams_leave_no_errors_in_the_log(
    start_addon: StartAddon,
) -> None:
    addon = start_addon()
    unlock = addon.unlock()
    loop = asyncio.get_running_loop()
    mark = addon.mark()
    for n in range(30):
        sock = await open_socket(addon.city_port)
        await loop.sock_sendall(sock, addon.stream_request(unlock))
        await loop.sock_recv(sock, 65536)  # the first frame is on its way
        if n % 2:
            reset_on_close(sock)
        sock.close()
    await asyncio.sleep(1.5)
    state = addon.hub.control_get("/control/v1/state")
    assert state["counters"]["open_streams"] == 0
    assert addon.lines_since(mark) == []


async def test_a_flood_of_bad_connections_leaves_a_few_lines(start_addon: StartAddon) -> None:
    addon = start_addon()
    port = addon.city_port
    loop = asyncio.get_running_loop()
    mark = addon.mark()
    silent = [await open_socket(port, source="127.0.0.5") for _ in range(50)]
    for n in range(300):
        sock = await open_socket(port, source=f"127.0.0.{6 + n % 3}")
        await loop.sock_sendall(sock, os.urandom(64) if n % 2 else b"GET / HTTP/1.1\r\nBad\r\n\r\n")
        if n % 3 == 0:
            reset_on_close(sock)
        sock.close()
    over = await open_sockets(port, 100, source="127.0.0.9")  # 36 over the per-address cap
    close_all(over)
    assert all(await asyncio.gather(*(wait_closed(s, HEAD_S + SLACK_S) for s in silent)))
    close_all(silent)
    assert await _healthy(port)
    lines = addon.lines_since(mark)
    # One line per condition (head timeout, per-address refusal), summaries come later.
    assert 1 <= len(lines) <= 4, lines
    assert not [line for line in lines if "Traceback" in line or " ERROR " in line]


async def test_no_response_names_the_software(start_addon: StartAddon) -> None:
    addon = start_addon()
    city, control = addon.city_port, addon.control_port
    answers = [
        await http_exchange(city, HEALTH_CLOSE),
        await http_exchange(city, b"GET /nowhere HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
        await http_exchange(city, b"GARBAGE\r\n\r\n"),
        await http_exchange(city, b"POST /api/v1/unlocks HTTP/1.1\r\nHost: x\r\n"
                                  b"Content-Length: 2\r\nConnection: close\r\n\r\n{}"),
        await http_exchange(control, b"GET /control/v1/state HTTP/1.1\r\nHost: x\r\n"
                                     b"Connection: close\r\n\r\n"),
        await http_exchange(control, b"GARBAGE\r\n\r\n"),
    ]  # fmt: skip
    answers.append(
        await http_exchange(control, b"GET /control/v1/state HTTP/1.1\r\nHost: x\r\n"
                            b"Authorization: Bearer " + addon.hub.control_token.encode()
                            + b"\r\nConnection: close\r\n\r\n")
    )  # fmt: skip
    assert answers[-1].startswith(b"HTTP/1.1 200")
    for answer in answers:
        head = answer.partition(b"\r\n\r\n")[0]
        assert head.startswith(b"HTTP/1."), answer[:100]
        assert "server" not in header_names(head), head
