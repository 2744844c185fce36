"""Great-circle distance between two points on Earth (haversine formula)."""

from __future__ import annotations

import math

# Mean Earth radius (IUGG), metres. The error against the ellipsoid is below 0.5 %, far inside
# the 50 m minimum radius any area may have.
EARTH_RADIUS_M = 6_371_008.8


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres between two WGS84 points given in degrees."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi = phi2 - phi1
    dlmb = math.radians(lon2 - lon1)
    a = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlmb / 2) ** 2
    # Clamp: rounding can push `a` a hair above 1 for antipodal points.
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(min(1.0, max(0.0, a))))


def within(lat: float, lon: float, centre_lat: float, centre_lon: float, radius_m: float) -> bool:
    """True when the point lies inside (or on) the circle around the centre."""
    return distance_m(lat, lon, centre_lat, centre_lon) <= radius_m
