"""Config flow: user, hassio discovery, reauth and reconfigure against a real add-on."""

from __future__ import annotations

from homeassistant.config_entries import SOURCE_HASSIO, SOURCE_USER, ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers.service_info.hassio import HassioServiceInfo
from pytest_homeassistant_custom_component.common import MockConfigEntry
from yarl import URL

from custom_components.rtcc_share.const import CONF_TOKEN, CONF_URL, DOMAIN
from tests.support.hub_process import HubProcess, free_port


def _discovery(hub: HubProcess, **config: object) -> HassioServiceInfo:
    url = URL(hub.control_url)
    return HassioServiceInfo(
        config={"host": url.host, "port": url.port, "token": hub.control_token} | config,
        name="RTCC Share",
        slug="rtcc_share",
        uuid="1234",
    )


async def test_user_flow_errors_then_success(hass: HomeAssistant, hub: HubProcess) -> None:
    """Every error is shown in the form, and the same form then succeeds."""
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "user"
    assert result["errors"] == {}

    cases = [
        ({CONF_URL: "ftp://example", CONF_TOKEN: "x"}, {CONF_URL: "invalid_url"}),
        ({CONF_URL: "not a url", CONF_TOKEN: "x"}, {CONF_URL: "invalid_url"}),
        (
            {CONF_URL: f"http://127.0.0.1:{free_port()}", CONF_TOKEN: hub.control_token},
            {"base": "cannot_connect"},
        ),
        ({CONF_URL: hub.control_url, CONF_TOKEN: "wrong-token"}, {"base": "invalid_auth"}),
        # The city API answers, but not the control API: not something we understand.
        ({CONF_URL: hub.city_url, CONF_TOKEN: hub.control_token}, {"base": "unknown"}),
    ]
    for user_input, errors in cases:
        result = await hass.config_entries.flow.async_configure(result["flow_id"], user_input)
        assert result["type"] is FlowResultType.FORM
        assert result["errors"] == errors, user_input

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_URL: hub.control_url + "/", CONF_TOKEN: hub.control_token}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "RTCC Share"
    assert result["data"] == {CONF_URL: hub.control_url, CONF_TOKEN: hub.control_token}
    assert result["result"].unique_id == hub.home_id


async def test_user_flow_already_configured_updates(hass: HomeAssistant, hub: HubProcess) -> None:
    """The same add-on (home_id) again aborts and keeps the entry's address current."""
    entry = MockConfigEntry(
        domain=DOMAIN,
        unique_id=hub.home_id,
        data={CONF_URL: "http://127.0.0.1:1", CONF_TOKEN: "old"},
    )
    entry.add_to_hass(hass)
    result = await hass.config_entries.flow.async_init(
        DOMAIN,
        context={"source": SOURCE_USER},
        data={CONF_URL: hub.control_url, CONF_TOKEN: hub.control_token},
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    assert entry.data == {CONF_URL: hub.control_url, CONF_TOKEN: hub.control_token}


async def test_hassio_discovery(hass: HomeAssistant, hub: HubProcess) -> None:
    """Supervisor discovery asks for confirmation and creates the entry."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_HASSIO}, data=_discovery(hub)
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "hassio_confirm"
    assert result["description_placeholders"] == {"addon": "RTCC Share"}

    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"] == {CONF_URL: hub.control_url, CONF_TOKEN: hub.control_token}
    assert result["result"].unique_id == hub.home_id
    await hass.async_block_till_done()
    assert result["result"].state is ConfigEntryState.LOADED
    await hass.config_entries.async_unload(result["result"].entry_id)


async def test_hassio_rediscovery_updates_entry(hass: HomeAssistant, hub: HubProcess) -> None:
    """A new address or token announced for the same add-on updates the entry."""
    entry = MockConfigEntry(
        domain=DOMAIN,
        unique_id=hub.home_id,
        data={CONF_URL: "http://127.0.0.1:1", CONF_TOKEN: "old"},
    )
    entry.add_to_hass(hass)
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_HASSIO}, data=_discovery(hub)
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    assert entry.data == {CONF_URL: hub.control_url, CONF_TOKEN: hub.control_token}


async def test_hassio_discovery_failures(hass: HomeAssistant, hub: HubProcess) -> None:
    """Unusable announcements and unreachable add-ons abort with a reason."""
    for config, reason in (
        ({"port": "not-a-port"}, "invalid_discovery_info"),
        ({"token": "wrong"}, "invalid_auth"),
        ({"port": free_port()}, "cannot_connect"),
    ):
        result = await hass.config_entries.flow.async_init(
            DOMAIN, context={"source": SOURCE_HASSIO}, data=_discovery(hub, **config)
        )
        assert result["type"] is FlowResultType.ABORT
        assert result["reason"] == reason, config
    missing = HassioServiceInfo(config={"host": "127.0.0.1"}, name="x", slug="x", uuid="x")
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_HASSIO}, data=missing
    )
    assert result["reason"] == "invalid_discovery_info"


async def test_reauth(hass: HomeAssistant, hub: HubProcess) -> None:
    """A refused token leads to reauth; a wrong token is shown; the right one reloads."""
    entry = MockConfigEntry(
        domain=DOMAIN,
        unique_id=hub.home_id,
        data={CONF_URL: hub.control_url, CONF_TOKEN: "stale-token"},
    )
    entry.add_to_hass(hass)
    assert not await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.SETUP_ERROR
    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert len(flows) == 1
    flow = flows[0]
    assert flow["context"]["source"] == "reauth"
    assert flow["step_id"] == "reauth_confirm"

    result = await hass.config_entries.flow.async_configure(
        flow["flow_id"], {CONF_TOKEN: "still-wrong"}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "invalid_auth"}

    result = await hass.config_entries.flow.async_configure(
        flow["flow_id"], {CONF_TOKEN: hub.control_token}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    await hass.async_block_till_done()
    assert entry.data[CONF_TOKEN] == hub.control_token
    assert entry.state is ConfigEntryState.LOADED
    await hass.config_entries.async_unload(entry.entry_id)


async def test_reauth_different_addon(hass: HomeAssistant, hub: HubProcess) -> None:
    """A token for another add-on (another home_id) is refused."""
    entry = MockConfigEntry(
        domain=DOMAIN,
        unique_id="another-home",
        data={CONF_URL: hub.control_url, CONF_TOKEN: "stale"},
    )
    entry.add_to_hass(hass)
    result = await entry.start_reauth_flow(hass)
    assert result["step_id"] == "reauth_confirm"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_TOKEN: hub.control_token}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "different_addon"
    assert entry.data[CONF_TOKEN] == "stale"


async def test_reconfigure(hass: HomeAssistant, hub: HubProcess) -> None:
    """Reconfigure shows errors, refuses another add-on, and updates the address."""
    entry = MockConfigEntry(
        domain=DOMAIN,
        unique_id=hub.home_id,
        data={CONF_URL: "http://127.0.0.1:1", CONF_TOKEN: "old"},
    )
    entry.add_to_hass(hass)
    result = await entry.start_reconfigure_flow(hass)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "reconfigure"

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_URL: "http://127.0.0.1:1", CONF_TOKEN: "old"}
    )
    assert result["errors"] == {"base": "cannot_connect"}

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_URL: hub.control_url, CONF_TOKEN: hub.control_token}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    assert entry.data == {CONF_URL: hub.control_url, CONF_TOKEN: hub.control_token}
    await hass.async_block_till_done()
    await hass.config_entries.async_unload(entry.entry_id)

    other = MockConfigEntry(
        domain=DOMAIN, unique_id="another-home", data={CONF_URL: "http://x", CONF_TOKEN: "t"}
    )
    other.add_to_hass(hass)
    result = await other.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_URL: hub.control_url, CONF_TOKEN: hub.control_token}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "different_addon"
