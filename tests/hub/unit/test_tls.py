"""The city API over TLS when certfile and keyfile are configured."""

from __future__ import annotations

import ssl
from pathlib import Path

import aiohttp

from rtcc_hub.app import AddOn as Hub
from rtcc_hub.options import parse_options
from tests.hub.unit.conftest import options_dict
from tests.hub.unit.fakes import FakeProcessor
from tests.support.city import CityHub
from tests.support.tls import self_signed_cert


async def test_city_api_over_tls(tmp_path: Path, city: CityHub) -> None:
    certfile, keyfile = self_signed_cert(tmp_path)
    options = parse_options(options_dict(city, certfile=str(certfile), keyfile=str(keyfile)))
    hub = await Hub.create(options, tmp_path / "data", image_processor=FakeProcessor())  # type: ignore[arg-type]
    await hub.start()
    try:
        context = ssl.create_default_context(cafile=str(certfile))
        context.check_hostname = False
        async with aiohttp.ClientSession() as session:
            url = f"https://127.0.0.1:{hub.city_port}/api/v1/health"
            async with session.get(url, ssl=context) as response:
                assert response.status == 200
                assert response.headers["Cache-Control"] == "no-store"
            # The control API stays plain HTTP on its own listener.
            url = f"http://127.0.0.1:{hub.control_port}/control/v1/state"
            async with session.get(url) as response:
                assert response.status == 401
    finally:
        await hub.stop()
