"""The listener's small parts: client address keys, slots, the log throttle, the descriptor
budget and its spares, binding."""

from __future__ import annotations

import asyncio
import logging
import os
import resource
import socket
import subprocess
import sys
from enum import StrEnum

import pytest

from rtcc_hub.descriptors import (
    DESCRIPTORS_PER_CITY_CONNECTION,
    MIN_CITY_CONNECTIONS,
    RESERVED_DESCRIPTORS,
    DescriptorBudget,
    SpareDescriptors,
    city_connection_cap,
    open_descriptor_count,
)
from rtcc_hub.http_listener import ConnectionSlots, Refusal, bind_sockets, client_address_key
from rtcc_hub.logthrottle import ConditionThrottle
from tests.support.hub_process import child_env


@pytest.mark.parametrize(
    ("peer", "key"),
    [
        (("203.0.113.9", 5555), "203.0.113.9"),
        (("::ffff:203.0.113.9", 5555, 0, 0), "203.0.113.9"),
        (("2001:db8:1:2:aaaa::1", 5555, 0, 0), "2001:db8:1:2::/64"),
        (("2001:db8:1:2:bbbb::7", 1, 0, 0), "2001:db8:1:2::/64"),
        (("fe80::1%eth0", 1, 0, 2), "fe80::/64"),
        (("::1", 1, 0, 0), "::/64"),
        ("not an address", "not an address"),
    ],
)
def test_client_address_key(peer: object, key: str) -> None:
    assert client_address_key(peer) == key


def test_slots_count_per_address_and_in_all() -> None:
    slots = ConnectionSlots(per_address=2, total=3)
    assert slots.acquire("a") is None and slots.acquire("a") is None
    assert slots.acquire("a") is Refusal.PER_ADDRESS
    assert slots.acquire("b") is None
    assert slots.acquire("c") is Refusal.TOTAL
    slots.release("a")
    assert slots.open == 2
    assert slots.acquire("c") is None
    assert slots.acquire("a") is Refusal.TOTAL


class _Cond(StrEnum):
    ONE = "one"
    TWO = "two"


async def test_throttle_logs_once_then_counts_then_summarises(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="t")
    throttle = ConditionThrottle(logging.getLogger("t"), "test API", interval_s=0.3)
    for _ in range(1000):
        throttle.log(_Cond.ONE, logging.WARNING, "refused")
    throttle.log(_Cond.TWO, logging.INFO, "timed out")
    assert [r.getMessage() for r in caplog.records] == [
        "test API: refused (repeats within 0 s are counted)",
        "test API: timed out (repeats within 0 s are counted)",
    ]
    await asyncio.sleep(0.5)  # the window ends: its summary is written by itself
    assert caplog.records[-1].getMessage() == "test API: refused: 999 more in 0 s"
    assert caplog.records[-1].levelno == logging.WARNING
    throttle.log(_Cond.ONE, logging.WARNING, "refused")  # a new window: a full line again
    throttle.log(_Cond.ONE, logging.WARNING, "refused")
    throttle.close()
    assert [r.getMessage() for r in caplog.records][-2:] == [
        "test API: refused (repeats within 0 s are counted)",
        "test API: refused: 1 more in 0 s",
    ]
    assert len(caplog.records) == 5


async def test_throttle_skips_levels_that_are_off(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="t2")
    throttle = ConditionThrottle(logging.getLogger("t2"), "x")
    throttle.log(_Cond.ONE, logging.DEBUG, "quiet")
    throttle.close()
    assert caplog.records == []


def test_city_cap_is_sized_below_the_descriptor_limit() -> None:
    assert city_connection_cap(512, 8192, 40) == 512
    expected = (1024 - 40 - RESERVED_DESCRIPTORS) // DESCRIPTORS_PER_CITY_CONNECTION
    assert city_connection_cap(512, 1024, 40) == expected < 512
    assert city_connection_cap(512, 100, 40) == MIN_CITY_CONNECTIONS


def test_budget_warns_when_the_limit_is_too_low(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    assert DescriptorBudget(8192, 8192, 30, SpareDescriptors(0)).city_cap(512) == 512
    assert caplog.records == []
    assert DescriptorBudget(200, 200, 30, SpareDescriptors(0)).city_cap(512) == MIN_CITY_CONNECTIONS
    assert "accepts at most 8 at once" in caplog.records[0].getMessage()


def test_the_soft_limit_is_raised_towards_the_hard_limit() -> None:
    # In a child with soft 256 / hard 4096, as many systems start processes.
    code = (
        "import resource; from rtcc_hub.descriptors import DescriptorBudget;"
        "resource.setrlimit(resource.RLIMIT_NOFILE, (256, 4096));"
        "b = DescriptorBudget.for_process();"
        "print(b.soft_limit, b.hard_limit, resource.getrlimit(resource.RLIMIT_NOFILE)[0])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=child_env(), capture_output=True, text=True, check=True
    ).stdout.split()
    assert out == ["4096", "4096", "4096"]


def test_open_descriptor_count_sees_new_descriptors() -> None:
    before = open_descriptor_count()
    fds = [os.open(os.devnull, os.O_RDONLY) for _ in range(5)]
    try:
        assert open_descriptor_count() == before + 5
    finally:
        for fd in fds:
            os.close(fd)


def test_spares_release_and_replenish() -> None:
    spares = SpareDescriptors(2)
    assert spares.held == 2
    assert spares.release_one() and spares.held == 1
    spares.replenish()
    assert spares.held == 2
    assert spares.release_one() and spares.release_one() and not spares.release_one()
    spares.replenish()
    spares.close()
    assert spares.held == 0


def test_spares_stay_short_while_descriptors_are_short() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    fillers: list[int] = []
    spares = SpareDescriptors(0)
    resource.setrlimit(resource.RLIMIT_NOFILE, (open_descriptor_count() + 8, hard))
    try:
        while True:  # fill every descriptor this limit leaves
            try:
                fillers.append(os.open(os.devnull, os.O_RDONLY))
            except OSError:
                break
        spares._count = 3  # what replenish aims for
        spares.replenish()  # no exception at EMFILE, just fewer spares
        assert spares.held == 0
        os.close(fillers.pop())
        spares.replenish()
        assert spares.held == 1
    finally:
        spares.close()
        for fd in fillers:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_bind_names_the_address_in_use() -> None:
    [first] = bind_sockets("127.0.0.1", 0)
    try:
        port = first.getsockname()[1]
        with pytest.raises(OSError, match=r"attempting to bind on address .*127\.0\.0\.1"):
            bind_sockets("127.0.0.1", port)
    finally:
        first.close()


def test_bind_every_address_of_a_name_on_one_port() -> None:
    sockets = bind_sockets("localhost", 0)
    try:
        ports = {s.getsockname()[1] for s in sockets}
        assert len(ports) == 1
        assert all(s.type == socket.SOCK_STREAM for s in sockets)
    finally:
        for s in sockets:
            s.close()
