"""Every relay of the options, started and stopped together: what the add-on wires in.

relays = Relays(options.relays, home_id=home_id, handler=router.handle, observer=audit)
await relays.start()
state["relays"] = relays.status()
await relays.stop()
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from .config import RelayConfig
from .observer import RelayObserver
from .relay import Handler, Relay, RelaySettings


class Relays:
    def __init__(
        self,
        configs: Sequence[RelayConfig],
        *,
        home_id: str,
        handler: Handler,
        observer: RelayObserver | None = None,
        settings: RelaySettings | None = None,
    ) -> None:
        self.relays = tuple(
            Relay(config, home_id=home_id, handler=handler, observer=observer, settings=settings)
            for config in configs
        )

    async def start(self) -> None:
        for relay in self.relays:
            await relay.start()

    async def stop(self) -> None:
        await asyncio.gather(*(relay.stop() for relay in self.relays))

    def status(self) -> list[dict[str, object]]:
        """Each relay's `hub`, `url`, `connected`, `since`, `last_error` (section 4)."""
        return [relay.status() for relay in self.relays]
