"""The city API over TLS when certfile and keyfile are configured."""

from __future__ import annotations

import datetime as dt
import ssl
from pathlib import Path

import aiohttp
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from rtcc_hub.app import Hub
from rtcc_hub.options import parse_options
from tests.hub.unit.conftest import options_dict
from tests.hub.unit.fakes import FakeProcessor
from tests.support.city import CityHub


def self_signed(tmp_path: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    certfile, keyfile = tmp_path / "cert.pem", tmp_path / "key.pem"
    certfile.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    keyfile.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return certfile, keyfile


async def test_city_api_over_tls(tmp_path: Path, city: CityHub) -> None:
    certfile, keyfile = self_signed(tmp_path)
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
