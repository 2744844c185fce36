"""Options flow for RTCC Share: the owner's sharing policy, written to the add-on.

Step `init` holds the rules of the whole home; then one `camera` step per selected
camera (label, limits, masks). Nothing is written until the last step, and a policy the
add-on refuses is shown in the form with nothing changed. Consent is not set here: it is
the consent switch.
"""

from __future__ import annotations

import json
from typing import Any

import probatio
from homeassistant.config_entries import ConfigFlowResult, OptionsFlow
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.selector import (
    BooleanSelector,
    EntitySelector,
    EntitySelectorConfig,
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    SelectSelector,
    SelectSelectorConfig,
    TextSelector,
    TextSelectorConfig,
)

from .api import (
    Policy,
    RtccShareAuthError,
    RtccShareClient,
    RtccShareConnectionError,
    RtccShareError,
    RtccShareInvalidPolicyError,
)
from .const import (
    CONF_TOKEN,
    CONF_URL,
    DURATION_MAX_S,
    DURATION_MIN_S,
    LOGGER,
    MODE_ASK,
    MODE_AUTO,
    RADIUS_MAX_M,
    RADIUS_MIN_M,
)
from .helpers import home_of

CONF_CAMERAS = "cameras"
CONF_LABEL = "label"
CONF_SHARE = "share"
CONF_MASKS = "masks"
CONF_MAX_WIDTH = "max_width"
CONF_MAX_FPS = "max_fps"

# Home-wide fields of the policy that the init step edits, in form order.
INT_FIELDS = (
    "ask_timeout_s",
    "max_radius_m",
    "max_duration_s",
    "max_unlocks_per_week",
)
DEFAULT_EXCLUDED = ["protest", "immigration", "reproductive_health"]


def _number(
    minimum: float, maximum: float, unit: str | None = None, step: float = 1
) -> NumberSelector:
    config = NumberSelectorConfig(min=minimum, max=maximum, step=step, mode=NumberSelectorMode.BOX)
    if unit:
        config["unit_of_measurement"] = unit
    return NumberSelector(config)


class InvalidMasks(ValueError):
    """The masks text is not a JSON list of polygons in 0..1 coordinates."""


def parse_masks(text: str) -> list[list[list[float]]]:
    """Parse masks: a JSON list of polygons, each at least 3 [x, y] points in 0..1."""
    try:
        masks = json.loads(text or "[]")
    except json.JSONDecodeError as err:
        raise InvalidMasks(f"not JSON ({err.msg})") from err
    if not isinstance(masks, list):
        raise InvalidMasks("expected a list of polygons")
    result: list[list[list[float]]] = []
    for index, polygon in enumerate(masks, start=1):
        if not isinstance(polygon, list) or len(polygon) < 3:
            raise InvalidMasks(f"polygon {index} needs at least 3 points")
        points: list[list[float]] = []
        for point in polygon:
            if (
                not isinstance(point, list)
                or len(point) != 2
                or not all(
                    isinstance(v, int | float) and not isinstance(v, bool) and 0 <= v <= 1
                    for v in point
                )
            ):
                raise InvalidMasks(
                    f"polygon {index}: {json.dumps(point)} is not an [x, y] point in 0..1"
                )
            points.append([float(point[0]), float(point[1])])
        result.append(points)
    return result


class RtccShareOptionsFlow(OptionsFlow):
    """Edit the sharing policy."""

    def __init__(self) -> None:
        """Start with nothing read."""
        self._policy: Policy | None = None
        self._home_rules: dict[str, Any] = {}
        self._pending: list[str] = []
        self._cameras: list[dict[str, Any]] = []
        # The add-on's (or the mask parser's) explanation, shown with the form's error.
        self._error = ""

    @property
    def _client(self) -> RtccShareClient:
        # Its own client, so the policy can be edited even while the entry is not loaded.
        return RtccShareClient(
            self.config_entry.data[CONF_URL],
            self.config_entry.data[CONF_TOKEN],
            async_get_clientsession(self.hass),
        )

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Home-wide rules and which cameras take part."""
        if self._policy is None:
            try:
                self._policy = (await self._client.state()).policy
            except RtccShareAuthError:
                return self.async_abort(reason="invalid_auth")
            except RtccShareError:
                return self.async_abort(reason="cannot_connect")
        errors: dict[str, str] = {}
        if user_input is not None:
            missing = [c for c in user_input[CONF_CAMERAS] if self.hass.states.get(c) is None]
            if missing:
                errors[CONF_CAMERAS] = "unknown_camera"
            else:
                self._home_rules = {
                    "mode": user_input["mode"],
                    "allow_live": user_input["allow_live"],
                    "require_case_number": user_input["require_case_number"],
                    "excluded_offenses": sorted(
                        {o.strip().lower() for o in user_input["excluded_offenses"] if o.strip()}
                    ),
                    **{field: int(user_input[field]) for field in INT_FIELDS},
                }
                self._pending = list(dict.fromkeys(user_input[CONF_CAMERAS]))
                self._cameras = []
                if self._pending:
                    return await self.async_step_camera()
                if not (errors := await self._async_put([])):
                    return self.async_create_entry(data={})
        document = self._policy.document
        suggested = {
            CONF_CAMERAS: [c.entity_id for c in self._policy.cameras],
            "excluded_offenses": document.get("excluded_offenses", DEFAULT_EXCLUDED),
            **{k: document.get(k) for k in ("mode", "allow_live", "require_case_number")},
            **{k: document.get(k) for k in INT_FIELDS},
            **(user_input or {}),
        }
        return self.async_show_form(
            step_id="init",
            data_schema=self.add_suggested_values_to_schema(_init_schema(), suggested),
            description_placeholders={"error": self._error},
            errors=errors,
        )

    async def async_step_camera(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Label, limits and masks of one camera; the last one writes the policy."""
        entity_id = self._pending[0]
        errors: dict[str, str] = {}
        if user_input is not None:
            try:
                masks = parse_masks(user_input.get(CONF_MASKS, "[]"))
            except InvalidMasks as err:
                errors[CONF_MASKS] = "invalid_masks"
                self._error = str(err)
            else:
                camera: dict[str, Any] = {
                    "entity_id": entity_id,
                    "label": user_input[CONF_LABEL].strip() or entity_id,
                    "share": user_input[CONF_SHARE],
                    "masks": masks,
                }
                if user_input.get(CONF_MAX_WIDTH) is not None:
                    camera[CONF_MAX_WIDTH] = int(user_input[CONF_MAX_WIDTH])
                if user_input.get(CONF_MAX_FPS) is not None:
                    camera[CONF_MAX_FPS] = float(user_input[CONF_MAX_FPS])
                if len(self._pending) > 1:
                    self._cameras.append(camera)
                    self._pending.pop(0)
                    return await self.async_step_camera()
                if not (errors := await self._async_put([*self._cameras, camera])):
                    return self.async_create_entry(data={})
        return self.async_show_form(
            step_id="camera",
            data_schema=self.add_suggested_values_to_schema(
                _camera_schema(), user_input or self._camera_defaults(entity_id)
            ),
            description_placeholders={"camera": entity_id, "error": self._error},
            errors=errors,
        )

    def _camera_defaults(self, entity_id: str) -> dict[str, Any]:
        """Current settings of the camera, or a label from its friendly name."""
        assert self._policy is not None
        for camera in self._policy.document.get("cameras") or ():
            if camera.get("entity_id") == entity_id:
                return {
                    CONF_LABEL: camera.get("label", ""),
                    CONF_SHARE: camera.get("share", True),
                    CONF_MASKS: json.dumps(camera.get("masks") or []),
                    CONF_MAX_WIDTH: camera.get("max_width"),
                    CONF_MAX_FPS: camera.get("max_fps"),
                }
        state = self.hass.states.get(entity_id)
        label = state.name if state is not None else entity_id
        return {CONF_LABEL: label, CONF_SHARE: True, CONF_MASKS: "[]"}

    async def _async_put(self, cameras: list[dict[str, Any]]) -> dict[str, str]:
        """PUT the policy; return form errors (the refusal's text in `_error`)."""
        assert self._policy is not None
        document = self._policy.to_put(**self._home_rules, home=home_of(self.hass), cameras=cameras)
        try:
            await self._client.put_policy(document)
        except RtccShareInvalidPolicyError as err:
            self._error = err.message
            return {"base": "invalid_policy"}
        except RtccShareAuthError:
            return {"base": "invalid_auth"}
        except RtccShareConnectionError:
            return {"base": "cannot_connect"}
        except RtccShareError as err:
            LOGGER.warning("Unexpected answer from the add-on: %s", err.message)
            return {"base": "unknown"}
        return {}


def _init_schema() -> probatio.Schema:
    return probatio.Schema(
        {
            probatio.Required(CONF_CAMERAS, default=[]): EntitySelector(
                EntitySelectorConfig(domain="camera", multiple=True)
            ),
            probatio.Required("mode", default=MODE_AUTO): SelectSelector(
                SelectSelectorConfig(options=[MODE_AUTO, MODE_ASK], translation_key="mode")
            ),
            probatio.Required("ask_timeout_s", default=600): _number(10, 86400, "s"),
            probatio.Required("max_radius_m", default=800): _number(
                RADIUS_MIN_M, RADIUS_MAX_M, "m"
            ),
            probatio.Required("max_duration_s", default=3600): _number(
                DURATION_MIN_S, DURATION_MAX_S, "s"
            ),
            probatio.Required("max_unlocks_per_week", default=10): _number(0, 1000),
            probatio.Required("allow_live", default=False): BooleanSelector(),
            probatio.Required("require_case_number", default=True): BooleanSelector(),
            probatio.Required("excluded_offenses", default=[]): SelectSelector(
                SelectSelectorConfig(
                    options=DEFAULT_EXCLUDED,
                    multiple=True,
                    custom_value=True,
                    translation_key="excluded_offenses",
                )
            ),
        }
    )


def _camera_schema() -> probatio.Schema:
    return probatio.Schema(
        {
            probatio.Required(CONF_LABEL): TextSelector(),
            probatio.Required(CONF_SHARE, default=True): BooleanSelector(),
            probatio.Optional(CONF_MAX_WIDTH): _number(16, 7680, "px"),
            probatio.Optional(CONF_MAX_FPS): _number(0.1, 30, step=0.1),
            probatio.Optional(CONF_MASKS, default="[]"): TextSelector(
                TextSelectorConfig(multiline=True)
            ),
        }
    )
