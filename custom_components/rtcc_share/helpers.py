"""Turn add-on errors into translated Home Assistant errors; the home's location."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError

from .api import (
    Home,
    RtccShareAuthError,
    RtccShareCameraUnavailableError,
    RtccShareConflictError,
    RtccShareConnectionError,
    RtccShareError,
    RtccShareInvalidPolicyError,
    RtccShareInvalidRequestError,
    RtccShareNotFoundError,
)
from .const import DOMAIN


def home_of(hass: HomeAssistant) -> Home:
    """The home location for the policy: Home Assistant's own home zone."""
    return Home(lat=hass.config.latitude, lon=hass.config.longitude)


@contextmanager
def addon_errors(
    hass: HomeAssistant, entry: ConfigEntry, unlock_id: str | None = None
) -> Iterator[None]:
    """Raise a translated error for anything the add-on refuses; nothing fails silently.

    Refusals that are about what was asked (an invalid policy, an unlock whose status
    does not allow it) are ServiceValidationErrors: the request was wrong, not the system.
    A refused token starts the entry's reauthentication.
    """
    placeholders = {"unlock_id": unlock_id or ""}
    try:
        yield
    except RtccShareInvalidPolicyError as err:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="invalid_policy",
            translation_placeholders={"error": err.message},
        ) from err
    except RtccShareInvalidRequestError as err:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="invalid_request",
            translation_placeholders={"error": err.message},
        ) from err
    except RtccShareConflictError as err:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="unlock_conflict",
            translation_placeholders=placeholders | {"error": err.message},
        ) from err
    except RtccShareNotFoundError as err:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="unlock_not_found",
            translation_placeholders=placeholders,
        ) from err
    except RtccShareCameraUnavailableError as err:
        raise HomeAssistantError(
            translation_domain=DOMAIN, translation_key="camera_unavailable"
        ) from err
    except RtccShareAuthError as err:
        entry.async_start_reauth(hass)
        raise HomeAssistantError(translation_domain=DOMAIN, translation_key="invalid_auth") from err
    except RtccShareConnectionError as err:
        raise HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="communication_error",
            translation_placeholders={"error": err.message},
        ) from err
    except RtccShareError as err:
        raise HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="unknown_error",
            translation_placeholders={"error": err.message},
        ) from err
