"""The "Camera sharing" sidebar panel: a web component served from this folder.

The panel's code is plain ES modules in frontend/ (no build step); it talks to the
integration only through the websocket commands of websocket_api.py. It is registered
while at least one entry is loaded, for administrators only.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from homeassistant.components import frontend, panel_custom
from homeassistant.components.http.server import StaticPathConfig
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.translation import async_get_translations
from homeassistant.util.hass_dict import HassKey

from .const import DOMAIN, PANEL_COMPONENT, PANEL_ICON, PANEL_STATIC_URL, PANEL_URL_PATH

FRONTEND_DIR = Path(__file__).parent / "frontend"
PANEL_MODULE = "rtcc-share-panel.js"
_STATIC_REGISTERED: HassKey[bool] = HassKey(f"{DOMAIN}_static")


def frontend_version() -> str:
    """A digest of the panel's files: a new version is a new module URL, never a stale one."""
    digest = hashlib.sha256()
    for path in sorted(FRONTEND_DIR.rglob("*.js")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


async def async_register_static(hass: HomeAssistant) -> None:
    """Serve the panel's files (from async_setup: once per run, as early as possible)."""
    if hass.data.get(_STATIC_REGISTERED):
        return
    hass.data[_STATIC_REGISTERED] = True
    # No long cache: the modules import each other by plain relative URLs; the main
    # module's URL carries the version instead.
    await hass.http.async_register_static_paths(
        [StaticPathConfig(PANEL_STATIC_URL, str(FRONTEND_DIR), cache_headers=False)]
    )


async def async_register_panel(hass: HomeAssistant) -> None:
    """Add the panel to the sidebar (administrators only) while an entry is loaded."""
    if frontend.async_panel_exists(hass, PANEL_URL_PATH):
        return
    version = await hass.async_add_executor_job(frontend_version)
    strings = await async_get_translations(hass, hass.config.language, "common", {DOMAIN})
    await panel_custom.async_register_panel(
        hass,
        frontend_url_path=PANEL_URL_PATH,
        webcomponent_name=PANEL_COMPONENT,
        sidebar_title=strings.get(f"component.{DOMAIN}.common.panel_title", "Camera sharing"),
        sidebar_icon=PANEL_ICON,
        module_url=f"{PANEL_STATIC_URL}/{PANEL_MODULE}?v={version}",
        require_admin=True,
        config={"domain": DOMAIN},
    )


@callback
def async_unregister_panel(hass: HomeAssistant) -> None:
    """Take the panel out of the sidebar (the last entry unloaded)."""
    frontend.async_remove_panel(hass, PANEL_URL_PATH, warn_if_unknown=False)
