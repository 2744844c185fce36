"""The composition root: builds the services for one data dir, serves them, stops them.

Nothing here decides anything. `AddOn.create` opens the state and wires the services; `start`
binds the listeners and starts the scheduler; `stop` ends streams (auditing them), the listeners
and the scheduler and closes the store. Several add-ons can live in one process (the city-scale
benchmark and the demo's neighbours do): nothing is kept at module level.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import ssl
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from . import __version__
from .access import CityAccess
from .audit import AuditLog, Head
from .city_api import build_city_app
from .city_routes import CityRouter
from .clips import ClipService
from .control_api import build_control_app
from .descriptors import DescriptorBudget
from .errors import DomainError
from .ha_client import CameraUnavailable, HomeAssistantClient
from .http_listener import CITY_LIMITS, CONTROL_LIMITS, ConnectionLimits, Listener
from .identity import load_control_token, load_home_key, public_pem
from .imaging import ImageProcessor
from .intake import UnlockIntake
from .ledger import Counters, Ledger
from .lifecycle import policy_effects
from .options import SUPERVISOR_CORE_URL, Options
from .owner import OwnerControl
from .policy import Policy, load_stored_policy
from .receipts import ReceiptSigner
from .recorders import Recorders
from .refusals import RefusalAudit
from .relay import Relays
from .relay_audit import RelayAudit
from .scheduler import Scheduler
from .state import HomeState
from .status import AuditEvent, EndReason, UnlockStatus
from .stills import StillSource
from .storage import Connect, Store, get_meta, last_audit_row, load_unlock_rows, set_meta
from .transitions import stage_policy_effects, stage_transition

_LOGGER = logging.getLogger(__name__)

type Clock = Callable[[], float]
type Fetch = Callable[[str], Awaitable[bytes]]


@dataclass(frozen=True, slots=True)
class Runtime:
    """What the process environment gives the add-on (read by __main__, never by services)."""

    supervisor_token: str | None = None
    turbojpeg_lib: str | None = None


def _policy_json(policy: Policy) -> str:
    return json.dumps(policy.as_json())


async def open_state(data_dir: Path, clock: Clock, connect: Connect | None = None) -> HomeState:
    """Open (or initialise) the stored state under `data_dir` into memory."""
    store = await (Store.open(data_dir) if connect is None else Store.open(data_dir, connect))

    def load(
        conn: sqlite3.Connection,
    ) -> tuple[str | None, str | None, str | None, list[str], Head]:
        return (
            get_meta(conn, "home_id"),
            get_meta(conn, "policy"),
            get_meta(conn, "counters"),
            load_unlock_rows(conn),
            Head.of_row(last_audit_row(conn)),
        )

    home_id, policy_text, counters_text, rows, head = await store.read(load)
    state = HomeState(
        store,
        home_id=home_id or str(uuid.uuid4()),
        # First start: consent false, nothing shared.
        policy=Policy() if policy_text is None else load_stored_policy(json.loads(policy_text)),
        ledger=Ledger.from_rows(rows),
        counters=Counters.from_storage(counters_text),
        audit=AuditLog(head),
        clock=clock,
        policy_json=_policy_json,
    )
    async with state.change() as change:
        if home_id is None:
            change.sql(set_meta("home_id", state.home_id))
        if store.found_empty:
            # A database file with nothing in it where one existed: this home starts anew
            # (new home_id, consent off). Say so where the owner will see it.
            _LOGGER.warning("the database %s was empty: starting as a new home", store.path)
            change.audit(AuditEvent.STORAGE_FOUND_EMPTY, {"file": store.path.name})
        change.audit(AuditEvent.SERVICE_STARTED, {"version": __version__})
    return state


class AddOn:
    """One home: the state under one data dir and the services over it."""

    def __init__(
        self,
        options: Options,
        state: HomeState,
        *,
        data_dir: Path,
        control_token: str,
        home_key: Ed25519PrivateKey,
        processor: ImageProcessor,
        fetch: Fetch | None,
        runtime: Runtime,
    ) -> None:
        self.options = options
        self.state = state
        self.control_token = control_token
        self.processor = processor
        self.runtime = runtime
        self._fetch_override = fetch
        self._session: aiohttp.ClientSession | None = None
        self._ha: HomeAssistantClient | None = None
        self.stills = StillSource(self._fetch_upstream)
        signer = ReceiptSigner(home_key, state.home_id)
        self.access = CityAccess(
            state, self.stills, processor.process_async, signer, public_pem(home_key)
        )
        self.refusals = RefusalAudit(state)
        self.intake = UnlockIntake(state, options.hubs, self.refusals)
        self.clips = ClipService(state, self.access, signer, data_dir)
        self.router = CityRouter(self.intake, self.access, self.clips)
        self.relays = Relays(
            options.relays,
            home_id=state.home_id,
            handler=self.router.handle,
            observer=RelayAudit(state, self.refusals),
        )
        self.owner = OwnerControl(
            state,
            self.access,
            options.hubs,
            relays=self.relays.status,
            clips=self.clips.owner_views,
        )
        self.scheduler = Scheduler(state, self.access, self.refusals, self.clips)
        self.stopping = asyncio.Event()
        self.city_port = 0
        self.control_port = 0
        self._listeners: list[Listener] = []
        self._stopped = False

    @property
    def home_id(self) -> str:
        return self.state.home_id

    @classmethod
    async def create(
        cls,
        options: Options,
        data_dir: str | Path,
        *,
        clock: Clock = time.time,
        image_processor: ImageProcessor | None = None,
        fetch_still: Fetch | None = None,
        runtime: Runtime | None = None,
        connect: Connect | None = None,
    ) -> AddOn:
        """Open the state under `data_dir` and make everything that is due at start happen.

        `image_processor`, `fetch_still` and `connect` exist for tests; by default images come
        from Home Assistant and are processed by PyTurboJPEG.
        """
        runtime = runtime or Runtime()
        path = Path(data_dir)
        state = await open_state(path, clock, connect)
        try:
            token = options.control_token
            if token is None:
                token = await asyncio.to_thread(load_control_token, path)
            home_key = await asyncio.to_thread(load_home_key, path)
            processor = image_processor or ImageProcessor(lib_path=runtime.turbojpeg_lib)
        except BaseException:
            await state.store.close()
            raise
        addon = cls(
            options,
            state,
            data_dir=path,
            control_token=token,
            home_key=home_key,
            processor=processor,
            fetch=fetch_still,
            runtime=runtime,
        )
        try:
            await addon.access.close_interrupted()
            await addon._settle_at_start()
            await addon.clips.load()
        except BaseException:
            await state.store.close()
            raise
        return addon

    async def _settle_at_start(self) -> None:
        """Apply what happened while the add-on was down, in one change: unlocks of hubs the
        owner removed from `hubs` (say a key leaked) end as `revoked` — their tokens must not
        keep working until their windows end —, and expiry, timeouts and the policy apply."""
        state = self.state
        if not state.ledger.open_unlocks():
            return
        async with state.change() as change:
            for unlock in change.open_unlocks():
                if self.options.hub(unlock.hub) is None:
                    stage_transition(change, unlock, UnlockStatus.ENDED, EndReason.REVOKED)
                elif next(policy_effects(unlock, change.policy, change.now), None) is not None:
                    stage_policy_effects(change, unlock, change.policy)

    # images ---------------------------------------------------------------------------------

    async def _fetch_upstream(self, entity_id: str) -> bytes:
        if self._fetch_override is not None:
            return await self._fetch_override(entity_id)
        if self._ha is None:
            raise CameraUnavailable("Home Assistant client not started")
        return await self._ha.fetch_still(entity_id)

    def _ha_base(self) -> tuple[str, str]:
        """Home Assistant's URL and the add-on's token for it ("" when there is none)."""
        if self.options.supervisor:
            return SUPERVISOR_CORE_URL, self.runtime.supervisor_token or ""
        return self.options.ha_url or "", self.options.ha_token or ""

    def _ha_client(self, session: aiohttp.ClientSession) -> HomeAssistantClient | None:
        url, token = self._ha_base()
        return HomeAssistantClient(session, url, token) if url else None

    # lifecycle ------------------------------------------------------------------------------

    def _ssl_context(self) -> ssl.SSLContext | None:
        if not (self.options.certfile and self.options.keyfile):
            return None
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(self.options.certfile, self.options.keyfile)
        return context

    async def start(self) -> None:
        """Bind both listeners (ports 0 pick free ones) and start the scheduler."""
        self._session = aiohttp.ClientSession()
        self._ha = self._ha_client(self._session)
        session = self._session
        ha_url, ha_token = self._ha_base()
        recorders = Recorders.standard(
            session, frigate_url=self.options.frigate_url, ha_url=ha_url, ha_token=ha_token
        )
        self.clips.use_recorders(lambda: recorders)
        options = self.options
        control_app = build_control_app(self.owner, self.control_token, self.stopping)
        # The listeners protect themselves (PROTOCOL.md section 3): see http_listener.
        budget = DescriptorBudget.for_process()
        self.control_port = await self._serve(
            control_app, name="control API", host=options.control_bind,
            port=options.control_port, limits=CONTROL_LIMITS, budget=budget, ssl_context=None,
        )  # fmt: skip
        if options.city_http:
            city_app = build_city_app(self.router)
            self.city_port = await self._serve(
                city_app, name="city API", host=options.bind, port=options.city_port,
                limits=CITY_LIMITS, budget=budget, ssl_context=self._ssl_context(),
            )  # fmt: skip
        self.scheduler.start()
        await self.relays.start()

    async def _serve(
        self,
        app: web.Application,
        *,
        name: str,
        host: str,
        port: int,
        limits: ConnectionLimits,
        budget: DescriptorBudget,
        ssl_context: ssl.SSLContext | None,
    ) -> int:
        listener = Listener(
            app, name=name, host=host, port=port, limits=limits, budget=budget,
            ssl_context=ssl_context,
        )  # fmt: skip
        self._listeners.append(listener)
        await listener.start()
        return listener.port

    def listening_line(self) -> str:
        """The readiness line (printed by __main__; the tests and the demo wait for it)."""
        city = f"{self.options.bind}:{self.city_port}" if self.options.city_http else "off"
        relays = f" relays={len(self.relays.relays)}" if self.relays.relays else ""
        return (
            f"rtcc_hub listening city={city} "
            f"control={self.options.control_bind}:{self.control_port}{relays}"
        )

    async def stop(self) -> None:
        """Close streams (auditing them), stop listeners and the scheduler, close storage."""
        if self._stopped:
            return
        self._stopped = True
        self.stopping.set()
        await self.relays.stop()
        await self.clips.stop()
        await self.access.stop()
        for listener in reversed(self._listeners):
            await listener.stop()
        self._listeners.clear()
        await self.scheduler.stop()
        self.stills.close()
        if self._session is not None:
            await self._session.close()
            self._session = None
        try:
            await self.refusals.flush(force=True)
        except DomainError:
            _LOGGER.warning("could not write the aggregated refusals at shutdown")
        self.processor.close()
        await self.state.store.close()
