"""Everything the city receives passes through here: upright, masked, scaled, re-serialised.

Public API: `ImageProcessor` (`process`, `process_async`, `close`), `OutputSpec`,
`ImageError`. The modules, one concern each:

- `jpegfile`: the marker walk (structure, completeness, EXIF orientation via `exif`)
- `plan`: which route a frame takes, and why (a pure decision)
- `lossless`: `tj3Transform` + the native DCT-domain mask filter (`native`)
- `decoded`: scaled decode into planes or pixels, resample (`resize`), paint, encode
- `orientation`: EXIF orientation as transform ops and numpy views
- `turbo`: libjpeg-turbo 3 through ctypes, one handle per thread
- `workspace`: per-thread buffers reused across frames
- `clean`: the final byte-cleanliness check (PROTOCOL section 3.2)

docs/DESIGN.md ("Imaging") explains the routes and the measurements behind them.
"""

from ..maskgeom import Polygon
from .processor import ImageProcessor
from .spec import ImageError, OutputSpec
from .turbo import LIB_ENV

__all__ = ["LIB_ENV", "ImageError", "ImageProcessor", "OutputSpec", "Polygon"]
