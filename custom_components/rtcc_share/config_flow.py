"""Config flow for RTCC Share: connect to the add-on's control API."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, override

import probatio
from homeassistant.config_entries import ConfigEntry, ConfigFlow, ConfigFlowResult
from homeassistant.core import callback
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.selector import (
    TextSelector,
    TextSelectorConfig,
    TextSelectorType,
)
from homeassistant.helpers.service_info.hassio import HassioServiceInfo
from yarl import URL

from .api import (
    RtccShareAuthError,
    RtccShareClient,
    RtccShareConnectionError,
    RtccShareError,
    State,
)
from .const import CONF_TOKEN, CONF_URL, DOMAIN, LOGGER
from .options_flow import RtccShareOptionsFlow

TITLE = "RTCC Share"
URL_SELECTOR = TextSelector(TextSelectorConfig(type=TextSelectorType.URL))
TOKEN_SELECTOR = TextSelector(TextSelectorConfig(type=TextSelectorType.PASSWORD))


class InvalidUrl(Exception):
    """The URL is not an http(s) URL with a host."""


def _normalise_url(url: str) -> str:
    parsed = URL(url.strip())
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise InvalidUrl
    return str(parsed).rstrip("/")


class RtccShareConfigFlow(ConfigFlow, domain=DOMAIN):
    """Set up the connection to one add-on; its home_id is the unique id."""

    VERSION = 1

    _url: str
    _token: str
    _addon_name: str = TITLE

    @staticmethod
    @callback
    @override
    def async_get_options_flow(config_entry: ConfigEntry) -> RtccShareOptionsFlow:
        """Return the options flow, which writes the sharing policy."""
        return RtccShareOptionsFlow()

    async def _async_try(self, url: str, token: str, errors: dict[str, str]) -> State | None:
        """Connect with the token; fill `errors` and return None on failure."""
        try:
            url = _normalise_url(url)
        except (InvalidUrl, ValueError):
            errors[CONF_URL] = "invalid_url"
            return None
        client = RtccShareClient(url, token, async_get_clientsession(self.hass))
        try:
            state = await client.state()
        except RtccShareAuthError:
            errors["base"] = "invalid_auth"
        except RtccShareConnectionError:
            errors["base"] = "cannot_connect"
        except RtccShareError:
            LOGGER.exception("Unexpected answer from the RTCC Share add-on at %s", url)
            errors["base"] = "unknown"
        else:
            self._url, self._token = url, token
            return state
        return None

    @override
    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Ask for the control API's URL and token."""
        errors: dict[str, str] = {}
        if user_input is not None:
            state = await self._async_try(user_input[CONF_URL], user_input[CONF_TOKEN], errors)
            if state is not None:
                await self.async_set_unique_id(state.home_id, raise_on_progress=False)
                self._abort_if_unique_id_configured(
                    updates={CONF_URL: self._url, CONF_TOKEN: self._token}
                )
                return self._async_create_entry()
        return self.async_show_form(
            step_id="user",
            data_schema=self.add_suggested_values_to_schema(
                probatio.Schema(
                    {
                        probatio.Required(CONF_URL): URL_SELECTOR,
                        probatio.Required(CONF_TOKEN): TOKEN_SELECTOR,
                    }
                ),
                {CONF_URL: (user_input or {}).get(CONF_URL)},
            ),
            errors=errors,
        )

    @override
    async def async_step_hassio(self, discovery_info: HassioServiceInfo) -> ConfigFlowResult:
        """Handle the add-on announcing itself through Supervisor discovery."""
        config = discovery_info.config
        try:
            url = str(URL.build(scheme="http", host=config["host"], port=int(config["port"])))
            token = str(config["token"])
        except (KeyError, TypeError, ValueError):
            return self.async_abort(reason="invalid_discovery_info")
        errors: dict[str, str] = {}
        state = await self._async_try(url, token, errors)
        if state is None:
            return self.async_abort(reason=errors.get("base", "cannot_connect"))
        await self.async_set_unique_id(state.home_id)
        # The add-on may have moved or made a new token: keep the entry current.
        self._abort_if_unique_id_configured(updates={CONF_URL: self._url, CONF_TOKEN: self._token})
        self._addon_name = discovery_info.name or TITLE
        self.context["title_placeholders"] = {"name": self._addon_name}
        return await self.async_step_hassio_confirm()

    async def async_step_hassio_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask the owner to confirm the discovered add-on."""
        if user_input is not None:
            return self._async_create_entry()
        self._set_confirm_only()
        return self.async_show_form(
            step_id="hassio_confirm",
            description_placeholders={"addon": self._addon_name},
        )

    async def async_step_reauth(self, entry_data: Mapping[str, Any]) -> ConfigFlowResult:
        """Start reauth: the add-on refused the token."""
        return await self.async_step_reauth_confirm()

    async def async_step_reauth_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask for the add-on's new control token."""
        entry = self._get_reauth_entry()
        errors: dict[str, str] = {}
        if user_input is not None:
            state = await self._async_try(entry.data[CONF_URL], user_input[CONF_TOKEN], errors)
            if state is not None:
                await self.async_set_unique_id(state.home_id)
                self._abort_if_unique_id_mismatch(reason="different_addon")
                return self.async_update_reload_and_abort(
                    entry, data_updates={CONF_TOKEN: self._token}
                )
        return self.async_show_form(
            step_id="reauth_confirm",
            data_schema=probatio.Schema({probatio.Required(CONF_TOKEN): TOKEN_SELECTOR}),
            description_placeholders={"url": entry.data[CONF_URL]},
            errors=errors,
        )

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Change the add-on's URL or token."""
        entry = self._get_reconfigure_entry()
        errors: dict[str, str] = {}
        if user_input is not None:
            state = await self._async_try(user_input[CONF_URL], user_input[CONF_TOKEN], errors)
            if state is not None:
                await self.async_set_unique_id(state.home_id)
                self._abort_if_unique_id_mismatch(reason="different_addon")
                return self.async_update_reload_and_abort(
                    entry, data_updates={CONF_URL: self._url, CONF_TOKEN: self._token}
                )
        return self.async_show_form(
            step_id="reconfigure",
            data_schema=self.add_suggested_values_to_schema(
                probatio.Schema(
                    {
                        probatio.Required(CONF_URL): URL_SELECTOR,
                        probatio.Required(CONF_TOKEN): TOKEN_SELECTOR,
                    }
                ),
                {CONF_URL: (user_input or entry.data).get(CONF_URL)},
            ),
            errors=errors,
        )

    @callback
    def _async_create_entry(self) -> ConfigFlowResult:
        return self.async_create_entry(
            title=TITLE, data={CONF_URL: self._url, CONF_TOKEN: self._token}
        )
