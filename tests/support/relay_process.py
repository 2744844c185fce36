"""A process holding one relay (for the kill -9 test): `python -m tests.support.relay_process
OPTIONS_JSON HOME_ID`. It parses the options with the add-on's parser, runs the first relay
with the stand-in router, prints `connected` once online, and runs until killed."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from rtcc_hub.options import Options, parse_options
from rtcc_hub.relay import Relay
from tests.support.standin_router import StandinRouter


async def main(options: Options, home_id: str) -> None:
    relay = Relay(options.relays[0], home_id=home_id, handler=StandinRouter().handle)
    await relay.start()
    while not relay.connected:  # noqa: ASYNC110 - the relay offers no event, by design
        await asyncio.sleep(0.02)
    print("connected", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    document = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
    asyncio.run(main(parse_options(document), sys.argv[2]))
