"""Options flow for RTCC Share: the owner's sharing policy, written to the add-on.

Step `init` holds the rules of the whole home; then one `camera` step per selected
camera (label, limits, masks). Nothing is written until the last step, and a policy the
add-on refuses is shown in the form with nothing changed. Consent is not set here: it is
the consent switch.
"""

from __future__ import annotations

import json
from dataclasses import replace
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
    SelectOptionDict,
    SelectSelector,
    SelectSelectorConfig,
    TextSelector,
    TextSelectorConfig,
)

from .api import (
    Mode,
    Policy,
    PolicyCamera,
    Recorder,
    RecorderSource,
    RtccShareAuthError,
    RtccShareClient,
    RtccShareConnectionError,
    RtccShareError,
    RtccShareInvalidPolicyError,
    has_visible_text,
)
from .cameras import (
    friendly_name,
    is_frigate_camera_name,
    recorder_choices,
    suggested_recorder,
)
from .const import (
    ASK_TIMEOUT_MAX_S,
    ASK_TIMEOUT_MIN_S,
    CLIP_AGE_MAX_S,
    CLIP_AGE_MIN_S,
    CLIP_MAX_S,
    CLIP_MIN_S,
    CONF_TOKEN,
    CONF_URL,
    DURATION_MAX_S,
    DURATION_MIN_S,
    LOGGER,
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
CONF_RECORDER = "recorder"
CONF_FRIGATE_CAMERA = "frigate_camera"
CONF_MAX_CLIP_MIN = "max_clip_minutes"
CONF_MAX_CLIP_AGE_H = "max_clip_age_hours"
RECORDER_NONE = "none"
# The select's "Frigate camera by name…": the name typed in CONF_FRIGATE_CAMERA, for a
# Frigate Home Assistant has no integration for (or knows under other names). No
# recorder_value() is this: those are "none", "unifiprotect" or "frigate:NAME".
RECORDER_FRIGATE_BY_NAME = "frigate_by_name"

# Home-wide fields of the policy that the init step edits, in form order.
INT_FIELDS = (
    "ask_timeout_s",
    "max_radius_m",
    "max_duration_s",
    "max_unlocks_per_week",
)
DEFAULT_EXCLUDED = ["protest", "immigration", "reproductive_health"]


def recorder_value(recorder: Recorder | None) -> str:
    """A recorder as one select option: none, unifiprotect, or frigate:NAME."""
    if recorder is None:
        return RECORDER_NONE
    if recorder.source is RecorderSource.FRIGATE:
        return f"frigate:{recorder.camera}"
    return str(recorder.source)


def recorder_from_value(value: str) -> Recorder | None:
    """The recorder a select option stands for (values come from recorder_value)."""
    if value == RECORDER_NONE:
        return None
    if value.startswith("frigate:"):
        return Recorder(RecorderSource.FRIGATE, value.removeprefix("frigate:"))
    return Recorder(RecorderSource(value))


def recorder_from_input(user_input: dict[str, Any]) -> tuple[Recorder | None, dict[str, str]]:
    """The recorder a camera step's answers choose, or the form errors that prevent it.

    A typed Frigate name counts only with "Frigate camera by name…" chosen, and a name
    typed with another choice is an error rather than silently dropped.
    """
    choice = user_input.get(CONF_RECORDER, RECORDER_NONE)
    # Frigate names have no spaces: the ones around a pasted name are not part of it.
    name = (user_input.get(CONF_FRIGATE_CAMERA) or "").strip()
    if choice != RECORDER_FRIGATE_BY_NAME:
        if name:
            return None, {CONF_FRIGATE_CAMERA: "frigate_camera_unused"}
        return recorder_from_value(choice), {}
    if not is_frigate_camera_name(name):
        return None, {CONF_FRIGATE_CAMERA: "invalid_frigate_camera"}
    return Recorder(RecorderSource.FRIGATE, name), {}


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
        self._cameras: list[PolicyCamera] = []
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
                    "mode": Mode(user_input["mode"]),
                    "allow_live": user_input["allow_live"],
                    "require_case_number": user_input["require_case_number"],
                    "excluded_offenses": tuple(
                        sorted(
                            {
                                o.strip().lower()
                                for o in user_input["excluded_offenses"]
                                if o.strip()
                            }
                        )
                    ),
                    **{field: int(user_input[field]) for field in INT_FIELDS},
                    "allow_clips": user_input["allow_clips"],
                    "max_clip_s": int(user_input[CONF_MAX_CLIP_MIN] * 60),
                    "max_clip_age_s": int(user_input[CONF_MAX_CLIP_AGE_H] * 3600),
                }
                self._pending = list(dict.fromkeys(user_input[CONF_CAMERAS]))
                self._cameras = []
                if self._pending:
                    return await self.async_step_camera()
                if not (errors := await self._async_put([])):
                    return self.async_create_entry(data={})
        policy = self._policy
        suggested = {
            CONF_CAMERAS: [c.entity_id for c in policy.cameras],
            "excluded_offenses": list(policy.excluded_offenses),
            "mode": str(policy.mode),
            "allow_live": policy.allow_live,
            "require_case_number": policy.require_case_number,
            **{k: getattr(policy, k) for k in INT_FIELDS},
            "allow_clips": policy.allow_clips,
            CONF_MAX_CLIP_MIN: policy.max_clip_s / 60,
            CONF_MAX_CLIP_AGE_H: policy.max_clip_age_s / 3600,
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
            recorder, errors = recorder_from_input(user_input)
            try:
                masks = parse_masks(user_input.get(CONF_MASKS, "[]"))
            except InvalidMasks as err:
                errors[CONF_MASKS] = "invalid_masks"
                self._error = str(err)
            if not errors:
                label = user_input.get(CONF_LABEL) or ""
                camera = PolicyCamera(
                    entity_id=entity_id,
                    # No visible text is no label: the city sees "Camera N", never the
                    # entity id (PROTOCOL.md section 2).
                    label=label.strip() if has_visible_text(label) else None,
                    share=user_input[CONF_SHARE],
                    masks=tuple(tuple((x, y) for x, y in polygon) for polygon in masks),
                    max_width=None
                    if user_input.get(CONF_MAX_WIDTH) is None
                    else int(user_input[CONF_MAX_WIDTH]),
                    max_fps=2.0
                    if user_input.get(CONF_MAX_FPS) is None
                    else float(user_input[CONF_MAX_FPS]),
                    recorder=recorder,
                )
                if len(self._pending) > 1:
                    self._cameras.append(camera)
                    self._pending.pop(0)
                    return await self.async_step_camera()
                if not (errors := await self._async_put([*self._cameras, camera])):
                    return self.async_create_entry(data={})
        return self.async_show_form(
            step_id="camera",
            data_schema=self.add_suggested_values_to_schema(
                _camera_schema(self._recorder_options(entity_id)),
                user_input or self._camera_defaults(entity_id),
            ),
            description_placeholders={
                "camera": entity_id,
                "name": friendly_name(self.hass, entity_id) or entity_id,
                "error": self._error,
            },
            errors=errors,
        )

    def _recorder_options(self, entity_id: str) -> list[SelectOptionDict]:
        """No recorder, the recorders Home Assistant offers for it, and the stored one."""
        assert self._policy is not None
        recorders = [choice.recorder for choice in recorder_choices(self.hass, entity_id)]
        stored = self._policy.camera(entity_id)
        if stored is not None and stored.recorder is not None and stored.recorder not in recorders:
            recorders.append(stored.recorder)
        options = [SelectOptionDict(value=RECORDER_NONE, label=RECORDER_NONE)]
        for recorder in recorders:
            value = recorder_value(recorder)
            label = f"Frigate: {recorder.camera}" if recorder.camera else value
            options.append(SelectOptionDict(value=value, label=label))
        options.append(
            SelectOptionDict(value=RECORDER_FRIGATE_BY_NAME, label=RECORDER_FRIGATE_BY_NAME)
        )
        return options

    def _camera_defaults(self, entity_id: str) -> dict[str, Any]:
        """Current settings of the camera, or a label from its name in Home Assistant.

        Never the entity id: a camera without a name gets no label ("Camera N").
        """
        assert self._policy is not None
        camera = self._policy.camera(entity_id)
        if camera is not None:
            return {
                CONF_LABEL: camera.label or "",
                CONF_SHARE: camera.share,
                CONF_MASKS: json.dumps([[list(p) for p in polygon] for polygon in camera.masks]),
                CONF_MAX_WIDTH: camera.max_width,
                CONF_MAX_FPS: camera.max_fps,
                CONF_RECORDER: recorder_value(camera.recorder),
            }
        return {
            CONF_LABEL: friendly_name(self.hass, entity_id) or "",
            CONF_SHARE: True,
            CONF_MASKS: "[]",
            CONF_RECORDER: recorder_value(suggested_recorder(self.hass, entity_id)),
        }

    async def _async_put(self, cameras: list[PolicyCamera]) -> dict[str, str]:
        """PUT the policy; return form errors (the refusal's text in `_error`)."""
        assert self._policy is not None
        policy = replace(
            self._policy, **self._home_rules, home=home_of(self.hass), cameras=tuple(cameras)
        )
        try:
            await self._client.put_policy(policy)
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
            probatio.Required("mode", default=str(Mode.AUTO)): SelectSelector(
                SelectSelectorConfig(options=[str(m) for m in Mode], translation_key="mode")
            ),
            probatio.Required("ask_timeout_s", default=600): _number(
                ASK_TIMEOUT_MIN_S, ASK_TIMEOUT_MAX_S, "s"
            ),
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
            probatio.Required("allow_clips", default=False): BooleanSelector(),
            probatio.Required(CONF_MAX_CLIP_MIN, default=30): _number(
                CLIP_MIN_S / 60, CLIP_MAX_S / 60, "min"
            ),
            probatio.Required(CONF_MAX_CLIP_AGE_H, default=168): _number(
                CLIP_AGE_MIN_S / 3600, CLIP_AGE_MAX_S / 3600, "h"
            ),
        }
    )


def _camera_schema(recorders: list[SelectOptionDict]) -> probatio.Schema:
    return probatio.Schema(
        {
            probatio.Optional(CONF_LABEL): TextSelector(TextSelectorConfig()),
            probatio.Required(CONF_SHARE, default=True): BooleanSelector(),
            probatio.Optional(CONF_MAX_WIDTH): _number(16, 7680, "px"),
            probatio.Optional(CONF_MAX_FPS): _number(0.1, 30, step=0.1),
            probatio.Optional(CONF_MASKS, default="[]"): TextSelector(
                TextSelectorConfig(multiline=True)
            ),
            probatio.Optional(CONF_RECORDER, default=RECORDER_NONE): SelectSelector(
                SelectSelectorConfig(options=recorders, translation_key="recorder")
            ),
            probatio.Optional(CONF_FRIGATE_CAMERA): TextSelector(TextSelectorConfig()),
        }
    )
