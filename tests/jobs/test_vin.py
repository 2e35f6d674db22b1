"""VIN check digits."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from routeboard.jobs.vin import check_digit, vin_problem

ALPHABET = "0123456789ABCDEFGHJKLMNPRSTUVWXYZ"


@pytest.mark.parametrize("vin", ["1HGCM82633A004352", "1M8GDM9AXKP042788", "11111111111111111"])
def test_known_good_vins(vin: str) -> None:
    assert vin_problem(vin) is None


@given(st.text(alphabet=ALPHABET, min_size=17, max_size=17))
def test_fixing_the_ninth_character_always_validates(raw: str) -> None:
    vin = raw[:8] + check_digit(raw) + raw[9:]
    assert vin_problem(vin) is None
    wrong = next(c for c in "0123456789X" if c != vin[8])
    assert vin_problem(vin[:8] + wrong + vin[9:]) is not None
