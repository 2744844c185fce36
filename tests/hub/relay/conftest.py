"""Relay tests: a real Mosquitto (the documented configuration), a real relay, the stand-in
router. Fixtures: tests/support/relay_fixtures.py."""

from tests.support.relay_fixtures import (  # noqa: F401 - fixtures
    broker,
    city,
    home_id,
    hub,
    mosquitto,
    observer,
    raw_city,
    router,
    start_relay,
)
