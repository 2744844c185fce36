"""Great-circle distance."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rtcc_hub.geofence import EARTH_RADIUS_M, distance_m, within

LAT = st.floats(min_value=-90, max_value=90)
LON = st.floats(min_value=-180, max_value=180)


def test_zero_distance() -> None:
    assert distance_m(32.2988, -90.1848, 32.2988, -90.1848) == 0


def test_one_degree_of_latitude_is_about_111_km() -> None:
    assert distance_m(0, 0, 1, 0) == pytest.approx(111_195, rel=1e-3)


def test_longitude_shrinks_with_latitude() -> None:
    at_equator = distance_m(0, 0, 0, 1)
    at_60 = distance_m(60, 0, 60, 1)
    assert at_60 == pytest.approx(at_equator / 2, rel=1e-3)


def test_antipodes_are_half_the_circumference() -> None:
    assert distance_m(0, 0, 0, 180) == pytest.approx(math.pi * EARTH_RADIUS_M)


def test_known_city_distance() -> None:
    # Jackson, MS to Memphis, TN: about 317 km.
    assert distance_m(32.2988, -90.1848, 35.1495, -90.0490) == pytest.approx(317_000, rel=0.01)


def test_within_is_inclusive_and_exclusive_outside() -> None:
    d = distance_m(32.0, -90.0, 32.001, -90.0)
    assert within(32.0, -90.0, 32.001, -90.0, d + 0.01)
    assert not within(32.0, -90.0, 32.001, -90.0, d - 0.01)


@given(LAT, LON, LAT, LON)
def test_symmetric_and_bounded(lat1: float, lon1: float, lat2: float, lon2: float) -> None:
    d = distance_m(lat1, lon1, lat2, lon2)
    assert 0 <= d <= math.pi * EARTH_RADIUS_M + 1e-6
    assert d == pytest.approx(distance_m(lat2, lon2, lat1, lon1), abs=1e-6)
