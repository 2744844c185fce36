"""The owner's policy (PROTOCOL.md section 2): schema, storage form and the unlock decision.

`decide()` is pure (no I/O, no clock): the same policy, claims and `now` always give the same
answer, so it is tested directly and reused by the property test.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from enum import StrEnum
from types import MappingProxyType
from typing import Any

import voluptuous as vol

from .geofence import distance_m
from .status import DeclineReason, Scope
from .timefmt import parse_rfc3339, rfc3339
from .tokens import UnlockClaims

MIN_RADIUS_M, MAX_RADIUS_M = 50, 5000
MIN_DURATION_S, MAX_DURATION_S = 1, 24 * 3600
MIN_CLIP_S, MAX_CLIP_S = 60, 2 * 3600
MIN_CLIP_AGE_S, MAX_CLIP_AGE_S = 3600, 30 * 24 * 3600

type Point = tuple[float, float]
type Polygon = tuple[Point, ...]


class PolicyError(ValueError):
    """An invalid policy document (400 invalid_policy); the message names the field."""


@dataclass(frozen=True, slots=True)
class Home:
    lat: float
    lon: float


class Mode(StrEnum):
    AUTO = "auto"  # standing consent, like the opt-in waiver
    ASK = "ask"  # each unlock waits for the owner's approval


class RecorderSource(StrEnum):
    FRIGATE = "frigate"
    UNIFIPROTECT = "unifiprotect"


@dataclass(frozen=True, slots=True)
class Recorder:
    """Where a camera's recordings are (section 2): Frigate by its camera name, or Home
    Assistant's UniFi Protect video view (found by the camera's entity id)."""

    source: RecorderSource
    camera: str | None = None  # Frigate's camera name

    def as_json(self) -> dict[str, Any]:
        if self.source is RecorderSource.FRIGATE:
            return {"source": self.source.value, "camera": self.camera}
        return {"source": self.source.value}


@dataclass(frozen=True, slots=True)
class CameraPolicy:
    entity_id: str
    # None when missing, empty or only whitespace: the city then sees "Camera N".
    label: str | None = None
    share: bool = False
    masks: tuple[Polygon, ...] = ()
    max_width: int | None = None
    max_fps: float = 2.0
    recorder: Recorder | None = None


@dataclass(frozen=True, slots=True)
class Policy:
    consent: bool = False
    paused_until: float | None = None
    mode: Mode = Mode.AUTO
    ask_timeout_s: int = 600
    home: Home | None = None
    max_radius_m: float = 800
    max_duration_s: int = 3600
    max_unlocks_per_week: int = 10
    allow_live: bool = False
    require_case_number: bool = True
    excluded_offenses: tuple[str, ...] = ()
    allow_clips: bool = False
    max_clip_s: int = 1800
    max_clip_age_s: int = 7 * 24 * 3600
    cameras: tuple[CameraPolicy, ...] = ()
    revision: int = field(default=0, compare=False)
    # entity id -> (position from 1, camera): every access looks a camera up.
    _index: Mapping[str, tuple[int, CameraPolicy]] = field(
        init=False, compare=False, repr=False, default_factory=dict
    )

    def __post_init__(self) -> None:
        index = {cam.entity_id: (n, cam) for n, cam in enumerate(self.cameras, start=1)}
        object.__setattr__(self, "_index", MappingProxyType(index))

    def camera(self, entity_id: str) -> CameraPolicy | None:
        found = self._index.get(entity_id)
        return None if found is None else found[1]

    def shared(self, entity_id: str) -> bool:
        camera = self.camera(entity_id)
        return camera is not None and camera.share

    def public_label(self, camera: CameraPolicy) -> str:
        """What the city sees of a camera: its label, else "Camera N" by its position in
        `cameras` counting from 1 (every camera listed counts, shared or not); nothing
        derived from the entity id, ever."""
        if camera.label is not None:
            return camera.label
        return f"Camera {self._index[camera.entity_id][0]}"

    def paused(self, now: float) -> bool:
        return self.paused_until is not None and self.paused_until > now

    def as_json(self) -> dict[str, Any]:
        """The section-2 document plus `revision` (control API only: it holds the home)."""
        return {
            "consent": self.consent,
            "paused_until": None if self.paused_until is None else rfc3339(self.paused_until),
            "mode": self.mode,
            "ask_timeout_s": self.ask_timeout_s,
            "home": None if self.home is None else {"lat": self.home.lat, "lon": self.home.lon},
            "max_radius_m": self.max_radius_m,
            "max_duration_s": self.max_duration_s,
            "max_unlocks_per_week": self.max_unlocks_per_week,
            "allow_live": self.allow_live,
            "require_case_number": self.require_case_number,
            "excluded_offenses": list(self.excluded_offenses),
            "allow_clips": self.allow_clips,
            "max_clip_s": self.max_clip_s,
            "max_clip_age_s": self.max_clip_age_s,
            "cameras": [
                {
                    "entity_id": cam.entity_id,
                    "label": cam.label,
                    "share": cam.share,
                    "masks": [[list(point) for point in poly] for poly in cam.masks],
                    "max_width": cam.max_width,
                    "max_fps": cam.max_fps,
                    "recorder": None if cam.recorder is None else cam.recorder.as_json(),
                }
                for cam in self.cameras
            ],
            "revision": self.revision,
        }


def changed_fields(old: Policy, new: Policy) -> list[str]:
    """Names of the top-level fields that differ (audited; never the values)."""
    return [
        f.name
        for f in fields(Policy)
        if f.compare and f.init and getattr(old, f.name) != getattr(new, f.name)
    ]


# Schema ---------------------------------------------------------------------------------------


_LAST_SECOND = 253402300799  # 9999-12-31T23:59:59Z
# Larger integers cannot become floats exactly (10**400 does not at all); no limit needs them.
_MAX_INTEGER = 2**53


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise vol.Invalid("must be a number")
    if isinstance(value, int) and abs(value) > _MAX_INTEGER:
        raise vol.Invalid("must be a number of sensible size")
    if not math.isfinite(value):
        raise vol.Invalid("must be a finite number")
    return value


def _integer(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or abs(value) > _MAX_INTEGER:
        raise vol.Invalid("must be an integer of sensible size")
    return value


def _boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise vol.Invalid("must be true or false")
    return value


def _time_or_null(value: Any) -> float | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise vol.Invalid("must be an RFC 3339 time or null")
    try:
        moment = parse_rfc3339(value)
    except ValueError as err:
        raise vol.Invalid("must be an RFC 3339 time with an offset, or null") from err
    if math.ceil(moment) > _LAST_SECOND:  # stored rounded up, echoed as RFC 3339
        raise vol.Invalid("must be before the year 10000")
    return moment


def _point(value: Any) -> Point:
    if not isinstance(value, list | tuple) or len(value) != 2:
        raise vol.Invalid("a point must be [x, y]")
    x, y = (_number(v) for v in value)
    if not (0 <= x <= 1 and 0 <= y <= 1):
        raise vol.Invalid("point coordinates must be within 0..1")
    return (float(x), float(y))


def _polygon(value: Any) -> Polygon:
    if not isinstance(value, list) or not 3 <= len(value) <= 100:
        raise vol.Invalid("a mask must be a list of 3 to 100 points")
    return tuple(_point(point) for point in value)


_ENTITY_ID = re.compile(r"^camera\.[a-z0-9_]+$")


def _entity_id(value: Any) -> str:
    if not isinstance(value, str) or not _ENTITY_ID.fullmatch(value):
        raise vol.Invalid("must be a camera entity id like camera.front_door")
    return value


# Frigate camera names: letters, digits, "_" and "-" (Frigate's own config rule).
_FRIGATE_CAMERA = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def _recorder(value: Any) -> Recorder | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise vol.Invalid("must be an object with a source, or null")
    source = value.get("source")
    if source == RecorderSource.FRIGATE:
        if set(value) != {"source", "camera"}:
            raise vol.Invalid('a frigate recorder is {"source": "frigate", "camera": NAME}')
        camera = value["camera"]
        if not isinstance(camera, str) or not _FRIGATE_CAMERA.fullmatch(camera):
            raise vol.Invalid("camera must be a Frigate camera name (letters, digits, _ and -)")
        return Recorder(RecorderSource.FRIGATE, camera)
    if source == RecorderSource.UNIFIPROTECT:
        if set(value) != {"source"}:
            raise vol.Invalid('a unifiprotect recorder is {"source": "unifiprotect"}')
        return Recorder(RecorderSource.UNIFIPROTECT)
    raise vol.Invalid("source must be frigate or unifiprotect")


def _in_range(check: Any, low: float, high: float) -> vol.All:
    return vol.All(check, vol.Range(min=low, max=high, msg=f"must be between {low} and {high}"))


_CAMERA = vol.Schema(
    {
        vol.Required("entity_id"): _entity_id,
        # Optional: without one (or with only whitespace) the city sees "Camera N".
        vol.Optional("label", default=None): vol.Any(None, vol.All(str, vol.Length(max=100))),
        vol.Optional("share", default=False): _boolean,
        vol.Optional("masks", default=list): vol.All(list, vol.Length(max=32), [_polygon]),
        vol.Optional("max_width", default=None): vol.Any(None, _in_range(_integer, 16, 7680)),
        vol.Optional("max_fps", default=2.0): _in_range(_number, 0.1, 30),
        vol.Optional("recorder", default=None): _recorder,
    }
)

_POLICY = vol.Schema(
    {
        vol.Optional("consent", default=False): _boolean,
        vol.Optional("paused_until", default=None): _time_or_null,
        vol.Optional("mode", default="auto"): vol.In(["auto", "ask"], msg="must be auto or ask"),
        vol.Optional("ask_timeout_s", default=600): _in_range(_integer, 1, 86400),
        vol.Optional("home", default=None): vol.Any(
            None,
            vol.Schema(
                {
                    vol.Required("lat"): _in_range(_number, -90, 90),
                    vol.Required("lon"): _in_range(_number, -180, 180),
                }
            ),
        ),
        vol.Optional("max_radius_m", default=800): _in_range(_number, MIN_RADIUS_M, MAX_RADIUS_M),
        vol.Optional("max_duration_s", default=3600): _in_range(
            _integer, MIN_DURATION_S, MAX_DURATION_S
        ),
        vol.Optional("max_unlocks_per_week", default=10): _in_range(_integer, 0, 10000),
        vol.Optional("allow_live", default=False): _boolean,
        vol.Optional("require_case_number", default=True): _boolean,
        vol.Optional("excluded_offenses", default=list): vol.All(
            list, vol.Length(max=100), [vol.All(str, vol.Length(min=1, max=200))]
        ),
        vol.Optional("allow_clips", default=False): _boolean,
        vol.Optional("max_clip_s", default=1800): _in_range(_integer, MIN_CLIP_S, MAX_CLIP_S),
        vol.Optional("max_clip_age_s", default=7 * 24 * 3600): _in_range(
            _integer, MIN_CLIP_AGE_S, MAX_CLIP_AGE_S
        ),
        vol.Optional("cameras", default=list): vol.All(list, vol.Length(max=100), [_CAMERA]),
        # Clients may send back the document they read; the stored revision wins.
        vol.Optional("revision"): _integer,
    }
)


_PREVIEW = vol.Schema(
    {
        vol.Required("entity_id"): _entity_id,
        vol.Optional("masks"): _CAMERA.schema[vol.Optional("masks", default=list)],
        vol.Optional("max_width"): _CAMERA.schema[vol.Optional("max_width", default=None)],
    }
)


@dataclass(frozen=True, slots=True)
class PreviewRequest:
    """`POST /control/v1/preview`: what the city would see of a camera with these masks and
    width (absent keys: the camera's policy, or none for a camera not in it)."""

    entity_id: str
    masks: tuple[Polygon, ...] | None
    max_width: int | None
    max_width_given: bool


def parse_preview(raw: Any) -> PreviewRequest:
    """Validate a preview body; PolicyError names the bad field."""
    if not isinstance(raw, dict):
        raise PolicyError("preview: must be a JSON object")
    try:
        data = _PREVIEW(raw)
    except vol.MultipleInvalid as err:
        first = err.errors[0]
        raise PolicyError(f"{_field_name(first.path)}: {first.error_message}") from err
    return PreviewRequest(
        entity_id=data["entity_id"],
        masks=None if "masks" not in data else tuple(data["masks"]),
        max_width=data.get("max_width"),
        max_width_given="max_width" in data,
    )


def _field_name(path: list[Any]) -> str:
    name = ""
    for part in path:
        name += f"[{part}]" if isinstance(part, int) else (f".{part}" if name else str(part))
    return name or "policy"


def _whole_second_up(value: float | None) -> float | None:
    # Stored and echoed in whole seconds, rounded up: a pause never ends early.
    return None if value is None else float(math.ceil(value))


def parse_policy(raw: Any) -> Policy:
    """Validate a PUT body into a Policy (revision 0); PolicyError names the bad field."""
    if not isinstance(raw, dict):
        raise PolicyError("policy: must be a JSON object")
    try:
        data = _POLICY(raw)
    except vol.MultipleInvalid as err:
        first = err.errors[0]
        raise PolicyError(f"{_field_name(first.path)}: {first.error_message}") from err
    except vol.Invalid as err:
        raise PolicyError(f"{_field_name(err.path)}: {err.error_message}") from err
    if data["consent"] and data["home"] is None:
        raise PolicyError("home: required when consent is true")
    entity_ids = [cam["entity_id"] for cam in data["cameras"]]
    if len(set(entity_ids)) != len(entity_ids):
        raise PolicyError("cameras: each entity_id may appear only once")
    home = data["home"]
    return Policy(
        consent=data["consent"],
        paused_until=_whole_second_up(data["paused_until"]),
        mode=Mode(data["mode"]),
        ask_timeout_s=data["ask_timeout_s"],
        home=None if home is None else Home(lat=float(home["lat"]), lon=float(home["lon"])),
        max_radius_m=data["max_radius_m"],
        max_duration_s=data["max_duration_s"],
        max_unlocks_per_week=data["max_unlocks_per_week"],
        allow_live=data["allow_live"],
        require_case_number=data["require_case_number"],
        excluded_offenses=tuple(data["excluded_offenses"]),
        allow_clips=data["allow_clips"],
        max_clip_s=data["max_clip_s"],
        max_clip_age_s=data["max_clip_age_s"],
        cameras=tuple(
            CameraPolicy(
                entity_id=cam["entity_id"],
                label=cam["label"].strip() if has_visible_text(cam["label"]) else None,
                share=cam["share"],
                masks=tuple(cam["masks"]),
                max_width=cam["max_width"],
                max_fps=float(cam["max_fps"]),
                recorder=cam["recorder"],
            )
            for cam in data["cameras"]
        ),
    )


def load_stored_policy(raw: dict[str, Any]) -> Policy:
    """Rebuild the stored policy (section-2 form with its revision)."""
    revision = raw.get("revision", 0)
    return replace(parse_policy(raw), revision=int(revision))


# Decision ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Accept:
    granted_scope: tuple[Scope, ...]
    cameras: tuple[CameraPolicy, ...]


@dataclass(frozen=True, slots=True)
class Pending:
    granted_scope: tuple[Scope, ...]
    cameras: tuple[CameraPolicy, ...]
    decides_by: float


@dataclass(frozen=True, slots=True)
class Decline:
    reason: DeclineReason


type Decision = Accept | Pending | Decline


def offense_words(text: str) -> str:
    """The comparable form of an offense or an excluded term (PROTOCOL.md section 2).

    NFKD normalisation, case folding, marks (M*) and format characters (Cf, the zero-width
    ones) dropped, and every run of characters that are neither letters nor digits turned into
    one space: "Reproductive-Health", "REPRODUCTIVE_HEALTH", fullwidth letters and
    "pro\u200btest" all become plain words separated by single spaces.
    """
    text = unicodedata.normalize("NFKD", text).casefold()
    # casefold can produce new decomposable characters (e.g. the dotted capital I): once more.
    text = unicodedata.normalize("NFKD", text)
    kept: list[str] = []
    for char in text:
        category = unicodedata.category(char)
        if category[0] == "M" or category == "Cf":
            continue
        word_char = category[0] == "L" or category == "Nd"
        if word_char:
            kept.append(char)
        elif kept and kept[-1] != " ":
            kept.append(" ")
    return "".join(kept).strip()


def _outside_area(policy: Policy, claims: UnlockClaims) -> bool:
    home, area = policy.home, claims.area
    if home is None:  # cannot place the home: fail closed
        return True
    return distance_m(home.lat, home.lon, area.lat, area.lon) > area.radius_m


def _offense_excluded(policy: Policy, claims: UnlockClaims) -> bool:
    """An excluded term occurs in the offense starting at a word boundary: `protest` excludes
    "Protests" and "anti-war protest", not "contest". An offense with no letter or digit at
    all cannot be compared and is declined whenever the owner excludes anything."""
    terms = [t for t in (offense_words(term) for term in policy.excluded_offenses) if t]
    if not terms:
        return False
    offense = offense_words(claims.incident.offense)
    if not offense or any(_mixed_script(word) for word in offense.split(" ")):
        return True
    padded = " " + offense
    return any(" " + term in padded for term in terms)


_SCRIPTS = ("LATIN", "CYRILLIC", "GREEK")


def _mixed_script(word: str) -> bool:
    """A word with letters of more than one of Latin, Cyrillic and Greek: the way a lookalike
    letter ("pr\u043etest", Cyrillic o) slips past a term. Such an offense is declined whenever
    the owner excludes anything; a word in one script is compared as it is."""
    scripts = {
        next((script for script in _SCRIPTS if unicodedata.name(char, "").startswith(script)), "")
        for char in word
        if unicodedata.category(char)[0] == "L"
    }
    return len(scripts - {""}) > 1


def has_visible_text(text: str | None) -> bool:
    """True when `text` has a character that shows: not whitespace, format (zero-width) or
    control characters."""
    if text is None:
        return False
    return any(
        not char.isspace() and unicodedata.category(char) not in ("Cf", "Cc", "Zs", "Zl", "Zp")
        for char in text
    )


def _case_number_missing(policy: Policy, claims: UnlockClaims) -> bool:
    return policy.require_case_number and not has_visible_text(claims.incident.case_number)


def _granted_scope(policy: Policy, claims: UnlockClaims) -> tuple[Scope, ...]:
    """The asked scope without what the owner does not allow (section 3.1: `["snapshot",
    "stream"]` becomes snapshot-only while `allow_live` is false); empty when nothing is left."""
    allowed = {
        Scope.SNAPSHOT: True,
        Scope.STREAM: policy.allow_live,
        Scope.CLIP: policy.allow_clips,
    }
    return tuple(scope for scope in claims.scope if allowed[scope])


def _nothing_left(scope: Scope) -> Callable[[Policy, UnlockClaims, float], bool]:
    """True when nothing but disallowed parts is left and `scope` is among them."""

    def applies(policy: Policy, claims: UnlockClaims, now: float) -> bool:
        return not _granted_scope(policy, claims) and scope in claims.scope

    return applies


def _footage_too_long(policy: Policy, claims: UnlockClaims, now: float) -> bool:
    footage = claims.footage
    return footage is not None and footage.end - footage.start > policy.max_clip_s


def _footage_too_old(policy: Policy, claims: UnlockClaims, now: float) -> bool:
    footage = claims.footage
    return footage is not None and footage.start < now - policy.max_clip_age_s


# Checked in this order; the first that applies is the decline reason (audited, never sent to
# the city). Each rule is a predicate of (policy, claims, now). The footage rules hold whether
# or not clips are allowed: a window the owner would refuse declines the unlock (fail closed).
_DECLINE_RULES: tuple[tuple[DeclineReason, Callable[[Policy, UnlockClaims, float], bool]], ...] = (
    (DeclineReason.CONSENT_OFF, lambda policy, claims, now: not policy.consent),
    (DeclineReason.PAUSED, lambda policy, claims, now: policy.paused(now)),
    (
        DeclineReason.RADIUS_TOO_LARGE,
        lambda policy, claims, now: claims.area.radius_m > policy.max_radius_m,
    ),
    (DeclineReason.OUTSIDE_AREA, lambda policy, claims, now: _outside_area(policy, claims)),
    (
        DeclineReason.DURATION_TOO_LONG,
        lambda policy, claims, now: claims.exp - claims.nbf > policy.max_duration_s,
    ),
    (
        DeclineReason.EXCLUDED_OFFENSE,
        lambda policy, claims, now: _offense_excluded(policy, claims),
    ),
    (
        DeclineReason.CASE_NUMBER_REQUIRED,
        lambda policy, claims, now: _case_number_missing(policy, claims),
    ),
    (DeclineReason.STREAM_NOT_ALLOWED, _nothing_left(Scope.STREAM)),
    (DeclineReason.CLIP_NOT_ALLOWED, _nothing_left(Scope.CLIP)),
    (DeclineReason.FOOTAGE_TOO_LONG, _footage_too_long),
    (DeclineReason.FOOTAGE_TOO_OLD, _footage_too_old),
    (
        DeclineReason.NO_CAMERA_SHARED,
        lambda policy, claims, now: not any(c.share for c in policy.cameras),
    ),
)


def decide(policy: Policy, claims: UnlockClaims, now: float) -> Decision:
    """Accept, hold for the owner (ask mode) or decline one validly signed unlock."""
    for reason, applies in _DECLINE_RULES:
        if applies(policy, claims, now):
            return Decline(reason)
    granted = _granted_scope(policy, claims)
    cameras = tuple(cam for cam in policy.cameras if cam.share)
    if policy.mode == Mode.ASK:
        return Pending(granted, cameras, decides_by=now + policy.ask_timeout_s)
    return Accept(granted, cameras)
