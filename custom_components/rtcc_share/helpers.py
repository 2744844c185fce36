"""Turn add-on errors into translated Home Assistant errors."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError

from .api import (
    RtccShareAuthError,
    RtccShareConflictError,
    RtccShareConnectionError,
    RtccShareError,
    RtccShareInvalidPolicyError,
    RtccShareNotFoundError,
)
from .const import DOMAIN

if TYPE_CHECKING:
    from .coordinator import RtccShareCoordinator


def home_of(hass: HomeAssistant) -> dict[str, float]:
    """The home location for the policy: Home Assistant's own home zone."""
    return {"lat": hass.config.latitude, "lon": hass.config.longitude}


@contextmanager
def addon_errors(coordinator: RtccShareCoordinator, unlock_id: str | None = None) -> Iterator[None]:
    """Raise a translated error for anything the add-on refuses; nothing fails silently.

    Refusals that are about what was asked (an invalid policy, an unlock whose status
    does not allow it) are ServiceValidationErrors: the request was wrong, not the system.
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
    except RtccShareAuthError as err:
        coordinator.config_entry.async_start_reauth(coordinator.hass)
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
