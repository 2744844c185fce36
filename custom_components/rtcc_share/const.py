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

# How many unlocks the share history keeps in memory for the panel (the audit log has all).
HISTORY_SIZE: Final = 5000
# Page size when reading the audit log (the add-on caps it at 1000).
HISTORY_PAGE: Final = 1000
# At most this many audit entries of one unlock are shown when the owner expands it.
UNLOCK_EVENTS_MAX: Final = 500

# A snapshot (or clip download) keeps the city_viewing binary sensor on for this long.
VIEWING_HOLD: Final = timedelta(seconds=60)

# Event-stream reconnect backoff: doubles from the first value up to the cap.
RECONNECT_MIN: Final = 1.0
RECONNECT_MAX: Final = 60.0
# The add-on sends a keepalive every 15 s; three missed ones mean the link is dead.
EVENTS_READ_TIMEOUT: Final = 45.0
# Raise a repair issue when the add-on stays unreachable for this long.
UNREACHABLE_ISSUE_AFTER: Final = timedelta(minutes=5)
# Raise a repair issue when a relay to a city's broker stays down for this long.
RELAY_DOWN_ISSUE_AFTER: Final = timedelta(minutes=10)
# Coalesce the state refreshes a burst of audit entries asks for.
REFRESH_COOLDOWN: Final = 0.25

ISSUE_UNREACHABLE: Final = "addon_unreachable"
ISSUE_TOKEN_REFUSED: Final = "token_refused"  # noqa: S105 - an issue id
ISSUE_RELAY_DOWN: Final = "relay_down"

# The sidebar panel.
PANEL_URL_PATH: Final = "rtcc-share"
PANEL_COMPONENT: Final = "rtcc-share-panel"
PANEL_STATIC_URL: Final = "/rtcc_share_static"
PANEL_ICON: Final = "mdi:cctv"

# Hard limits of the policy (PROTOCOL.md section 2), checked here too so that forms and the
# panel can explain them before the add-on refuses the document.
RADIUS_MIN_M: Final = 50
RADIUS_MAX_M: Final = 5000
DURATION_MIN_S: Final = 1
DURATION_MAX_S: Final = 24 * 3600
ASK_TIMEOUT_MIN_S: Final = 10
ASK_TIMEOUT_MAX_S: Final = 86400
UNLOCKS_PER_WEEK_MAX: Final = 1000
CLIP_MIN_S: Final = 60
CLIP_MAX_S: Final = 2 * 3600
CLIP_AGE_MIN_S: Final = 3600
CLIP_AGE_MAX_S: Final = 30 * 24 * 3600
WIDTH_MIN: Final = 16
WIDTH_MAX: Final = 7680
FPS_MIN: Final = 0.1
FPS_MAX: Final = 30.0
LABEL_MAX: Final = 100
MASKS_MAX: Final = 32
MASK_POINTS_MIN: Final = 3
MASK_POINTS_MAX: Final = 100
EXCLUDED_MAX: Final = 100
