"""Constants for the RTCC Share integration."""

import logging
from datetime import timedelta
from typing import Final

DOMAIN: Final = "rtcc_share"
LOGGER = logging.getLogger(__package__)

CONF_TOKEN: Final = "token"  # noqa: S105 - a config key, not a secret
CONF_URL: Final = "url"

# Events fired on the Home Assistant bus.
EVENT_UNLOCK: Final = "rtcc_share_unlock"
EVENT_ACCESS: Final = "rtcc_share_access"

# How many unlocks the share_history sensor keeps in its attributes.
HISTORY_SIZE: Final = 20
# Page size when reading the audit log at start-up (the add-on caps it at 1000).
HISTORY_PAGE: Final = 1000

# A snapshot keeps the city_viewing binary sensor on for this long.
VIEWING_HOLD: Final = timedelta(seconds=60)

# Event-stream reconnect backoff: doubles from the first value up to the cap.
RECONNECT_MIN: Final = 1.0
RECONNECT_MAX: Final = 60.0
# The add-on sends a keepalive every 15 s; three missed ones mean the link is dead.
EVENTS_READ_TIMEOUT: Final = 45.0
# Raise a repair issue when the add-on stays unreachable for this long.
UNREACHABLE_ISSUE_AFTER: Final = timedelta(minutes=5)
# Coalesce the state refreshes a burst of audit entries asks for.
REFRESH_COOLDOWN: Final = 0.25

ISSUE_UNREACHABLE: Final = "addon_unreachable"
ISSUE_TOKEN_REFUSED: Final = "token_refused"  # noqa: S105 - an issue id

MODE_AUTO: Final = "auto"
MODE_ASK: Final = "ask"

# Hard limits of the policy (PROTOCOL.md section 2), checked here too so that the
# options form can explain them before the add-on refuses the document.
RADIUS_MIN_M: Final = 50
RADIUS_MAX_M: Final = 5000
DURATION_MIN_S: Final = 1
DURATION_MAX_S: Final = 24 * 3600
