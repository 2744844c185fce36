"""What a caller asks of the processor, and the one error it answers with."""

from __future__ import annotations

from dataclasses import dataclass

from ..maskgeom import Polygon


@dataclass(frozen=True, slots=True)
class OutputSpec:
    """What the city may see of one camera: hashable, so one encode per distinct output."""

    masks: tuple[Polygon, ...] = ()
    max_width: int | None = None


class ImageError(Exception):
    """The frame cannot be shared: corrupt, not a JPEG, too large, or an unusable spec."""
