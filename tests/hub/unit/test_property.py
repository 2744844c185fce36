"""Property: no frame or snapshot is ever served outside an active, consented, unpaused,
unexpired, shared unlock, across random unlocks, policy changes, pauses, revokes, clock moves
and restarts; and (liveness) access is granted whenever all of that holds.

The model below is independent of the ledger: it only records facts (what the city asked, what
the hub answered, what the owner did, how the policy and the clock moved) and derives from them
whether access must be allowed right now.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from rtcc_hub.app import AddOn
from rtcc_hub.carriage import CityRequest, Reply, StreamEnd
from rtcc_hub.errors import DomainError
from rtcc_hub.options import parse_options
from rtcc_hub.timefmt import rfc3339
from rtcc_hub.transitions import run_due
from tests.hub.unit.conftest import options_dict
from tests.hub.unit.fakes import Clock, FakeCameras, FakeProcessor
from tests.hub.unit.helpers import policy_doc
from tests.support.city import CityHub

CITY = CityHub.generate("jackson-rtcc", "Jackson RTCC", kid="k1")
ENTITIES = ("camera.front_door", "camera.garden")


@dataclass
class ModelUnlock:
    unlock_id: str
    token: str | None
    status_at_creation: str
    nbf: float
    exp: float
    decides_by: float | None
    stream_granted: bool
    camera_ids: dict[str, str]  # camera id -> entity id
    approved: bool = False
    finished: bool = False  # revoked, closed by the city, declined, consent withdrawn
    removed: set[str] = field(default_factory=set)  # entity ids unshared since creation


@dataclass
class Model:
    consent: bool = False
    paused_until: float | None = None
    shared: dict[str, bool] = field(default_factory=lambda: dict.fromkeys(ENTITIES, True))
    allow_live: bool = True
    mode: str = "auto"
    unlocks: list[ModelUnlock] = field(default_factory=list)

    def may_access(self, unlock: ModelUnlock, camera_id: str, capability: str, now: float) -> bool:
        entity = unlock.camera_ids.get(camera_id)
        started = unlock.status_at_creation == "active" or unlock.approved
        return (
            entity is not None
            and started
            and not unlock.finished
            and self.consent
            and not (self.paused_until is not None and self.paused_until > now)
            and unlock.nbf <= now < unlock.exp
            and self.shared[entity]
            and entity not in unlock.removed
            and (capability == "snapshot" or unlock.stream_granted)
        )


unlock_op = st.tuples(
    st.just("unlock"),
    st.sampled_from([("snapshot",), ("stream",), ("snapshot", "stream")]),
    st.sampled_from([5, 60, 600]),
    st.sampled_from(["burglary", "protest"]),
    st.sampled_from([0, 30]),
)
policy_op = st.tuples(
    st.just("policy"),
    # Mostly consenting and sharing: withdrawing consent ends every unlock for good, which
    # would leave little to probe for the rest of the example.
    st.sampled_from([True, True, True, False]),  # consent
    st.sampled_from([None, -10, 20, 300]),  # paused_until relative to now
    st.tuples(st.sampled_from([True, True, False]), st.sampled_from([True, True, False])),
    st.sampled_from(["auto", "ask"]),
    st.booleans(),  # allow_live
)
owner_op = st.tuples(
    st.sampled_from(["approve", "decline", "revoke", "city_close"]), st.integers(0, 7)
)
access_op = st.tuples(
    st.just("access"), st.integers(0, 7), st.integers(0, 1), st.sampled_from(["snapshot", "stream"])
)
clock_op = st.tuples(st.just("advance"), st.sampled_from([1, 5, 25, 61, 700]))
other_op = st.sampled_from([("restart",), ("tick",)])
# Access attempts dominate so that most examples probe both sides of every rule.
OPERATIONS = st.lists(
    st.one_of(
        unlock_op,
        policy_op,
        owner_op,
        access_op,
        access_op,
        access_op,
        access_op,
        clock_op,
        other_op,
    ),
    min_size=5,
    max_size=40,
)
# Every example starts from a consented policy with one snapshot and one stream unlock live,
# so that the interesting states are reachable in few steps.
PROLOGUE: list[tuple[Any, ...]] = [
    ("policy", True, None, (True, True), "auto", True),
    ("unlock", ("snapshot",), 600, "burglary", 0),
    ("unlock", ("snapshot", "stream"), 600, "burglary", 0),
]


async def _apply(hub: AddOn, model: Model, clock: Clock, op: tuple[Any, ...]) -> None:
    kind, now = op[0], clock()
    if kind == "unlock":
        _, scope, duration, offense, delay = op
        incident = {"id": "I", "offense": offense, "case_number": "C-1"}
        token = CITY.token(
            hub.home_id,
            now=now,
            nbf=int(now) + delay,
            exp=int(now) + delay + duration,
            scope=list(scope),
            incident=incident,
            area={"lat": 32.2988, "lon": -90.1848, "radius_m": 500},
        )
        answer = await hub.router.handle(
            CityRequest("POST", "/api/v1/unlocks", json.dumps({"token": token}).encode())
        )
        assert isinstance(answer, Reply) and answer.status == 201, answer
        body = json.loads(answer.body)
        status = body["status"]
        if status != "declined":  # fail closed: only ever with consent and no pause
            assert model.consent and not (model.paused_until and model.paused_until > now)
            assert offense != "protest"
        unlock = hub.state.ledger.get(body["unlock_id"])
        assert unlock is not None
        model.unlocks.append(
            ModelUnlock(
                unlock_id=body["unlock_id"],
                token=body.get("access_token"),
                status_at_creation=status,
                nbf=int(now) + delay,
                exp=int(now) + delay + duration,
                decides_by=unlock.decides_by,
                stream_granted="stream" in scope and model.allow_live,
                camera_ids={c.id: c.entity_id for c in unlock.cameras},
                finished=status == "declined",
            )
        )
    elif kind == "policy":
        _, consent, pause, shares, mode, allow_live = op
        paused_until = None if pause is None else int(now) + pause
        cameras = [
            {"entity_id": e, "label": e.split(".")[1], "share": s}
            for e, s in zip(ENTITIES, shares, strict=True)
        ]
        await hub.owner.put_policy(
            policy_doc(
                consent=consent,
                paused_until=None if paused_until is None else rfc3339(paused_until),
                cameras=cameras,
                mode=mode,
                allow_live=allow_live,
                ask_timeout_s=60,
                max_unlocks_per_week=10000,  # the quota has its own tests
            )
        )
        model.consent, model.mode, model.allow_live = consent, mode, allow_live
        model.paused_until = paused_until
        model.shared = dict(zip(ENTITIES, shares, strict=True))
        for unlock in model.unlocks:
            if not consent:
                unlock.finished = True
            unlock.removed |= {e for e, s in model.shared.items() if not s}
    elif kind in ("approve", "decline", "revoke", "city_close"):
        if not model.unlocks:
            return
        unlock = model.unlocks[op[1] % len(model.unlocks)]
        await _owner(hub, model, unlock, kind, now)
    elif kind == "access":
        if not model.unlocks:
            return
        unlock = model.unlocks[op[1] % len(model.unlocks)]
        camera_ids = sorted(unlock.camera_ids) or ["c_none"]
        camera_id = camera_ids[op[2] % len(camera_ids)]
        capability = op[3]
        expected = model.may_access(unlock, camera_id, capability, now)
        served = await _access(hub, unlock, camera_id, capability)
        assert served == expected, (op, unlock, model)
    elif kind == "advance":
        clock.advance(op[1])
    elif kind == "tick":
        await run_due(hub.state)


async def _owner(hub: AddOn, model: Model, unlock: ModelUnlock, kind: str, now: float) -> None:
    pending = (
        unlock.status_at_creation == "pending"
        and not unlock.approved
        and not unlock.finished
        and now < unlock.exp
        and unlock.decides_by is not None
        and now < unlock.decides_by
    )
    try:
        if kind == "approve":
            await hub.owner.approve(unlock.unlock_id)
            assert pending  # approval only succeeds for a live pending request
            unlock.approved = True
        elif kind == "decline":
            await hub.owner.decline(unlock.unlock_id)
            assert pending
            unlock.finished = True
        elif kind == "revoke":
            await hub.owner.revoke(unlock.unlock_id)
            unlock.finished = True
        else:
            if unlock.token is None:
                return
            answer = await _city(hub, "DELETE", f"/api/v1/unlocks/{unlock.unlock_id}", unlock)
            assert isinstance(answer, Reply) and answer.status == 204
            unlock.finished = True
    except DomainError as err:
        refused = err
    else:
        return
    assert refused.status == 409
    if kind in ("approve", "decline"):
        assert not pending


async def _city(hub: AddOn, method: str, path: str, unlock: ModelUnlock) -> Any:
    return await hub.router.handle(
        CityRequest(method, path, authorization=f"Bearer {unlock.token}", client="test")
    )


async def _access(hub: AddOn, unlock: ModelUnlock, camera_id: str, capability: str) -> bool:
    """Served or not, through the city router both carriages use."""
    if unlock.token is None:
        return False
    base = f"/api/v1/unlocks/{unlock.unlock_id}/cameras/{camera_id}"
    answer = await _city(hub, "GET", f"{base}/{capability}", unlock)
    if isinstance(answer, Reply):
        if answer.status == 200:
            assert capability == "snapshot" and answer.body.startswith(b"\xff\xd8")
            return True
        assert answer.status in (401, 403, 404, 410), answer
        return False
    sent: list[bytes] = []

    async def send(frame: bytes) -> None:
        sent.append(frame)
        answer.stop(StreamEnd.CANCELLED)

    assert await answer.run(send) is StreamEnd.CANCELLED
    return bool(sent)


async def _run(operations: list[tuple[Any, ...]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        clock = Clock()
        cameras = FakeCameras()
        options = parse_options(options_dict(CITY))

        async def create() -> AddOn:
            return await AddOn.create(
                options, data_dir, clock=clock, image_processor=FakeProcessor(), fetch_still=cameras
            )  # type: ignore[arg-type]

        hub = await create()
        model = Model()
        try:
            for op in PROLOGUE + operations:
                if op[0] == "restart":
                    await hub.stop()
                    hub = await create()
                    continue
                await _apply(hub, model, clock, op)
            assert (await hub.owner.verify()).ok
        finally:
            await hub.stop()


SNAP = ("access", 0, 0, "snapshot")
FRAME = ("access", 1, 0, "stream")
LIVE = ("policy", True, None, (True, True), "auto", True)


# The scenarios PROTOCOL.md names, always run in addition to the random ones.
@example([SNAP, FRAME, ("policy", False, None, (True, True), "auto", True), SNAP, FRAME])
@example([("policy", True, 300, (True, True), "auto", True), SNAP, FRAME, LIVE, SNAP, FRAME])
@example([("policy", True, 20, (True, True), "auto", True), FRAME, ("advance", 25), FRAME])
@example([("policy", True, None, (False, True), "auto", True), SNAP, LIVE, SNAP, FRAME])
@example([("advance", 700), SNAP, FRAME, ("restart",), SNAP])
@example([("restart",), SNAP, FRAME, ("revoke", 0), SNAP, ("city_close", 1), FRAME])
@example(
    [
        ("policy", True, None, (True, True), "ask", True),
        ("unlock", ("snapshot",), 600, "burglary", 0),
        ("access", 2, 0, "snapshot"),
        ("approve", 2),
        ("access", 2, 0, "snapshot"),
        ("advance", 61),
        ("unlock", ("snapshot",), 600, "burglary", 0),
        ("advance", 61),
        ("approve", 3),
        ("access", 3, 0, "snapshot"),
    ]
)
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(OPERATIONS)
def test_access_only_inside_a_live_consented_unlock(operations: list[tuple[Any, ...]]) -> None:
    asyncio.run(_run(operations))
