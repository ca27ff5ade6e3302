"""Issue #2: the unit registry and its conversions."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gpt2030.observations.units import (
    DEFAULT_TOKENS_PER_WORD,
    DIMENSIONS,
    UNITS,
    UnknownUnitError,
    convert,
    dimension_of,
    get_unit,
    to_base,
)

#: Every ordered pair of distinct units that measure the same dimension.
SAME_DIMENSION_PAIRS = sorted(
    (a, b)
    for a, b in itertools.permutations(UNITS, 2)
    if UNITS[a].dimension == UNITS[b].dimension
)

values = st.floats(min_value=1e-30, max_value=1e30, allow_nan=False, allow_infinity=False)
tokens_per_word = st.floats(min_value=0.5, max_value=3.0)


def test_there_are_pairs_to_check() -> None:
    # words/tokens, FLOP/PFLOP-s-day, the speed units, %/fraction, bandwidths, ...
    assert len(SAME_DIMENSION_PAIRS) >= 20
    assert ("words/min", "tokens/s") in SAME_DIMENSION_PAIRS


@pytest.mark.parametrize(("a", "b"), SAME_DIMENSION_PAIRS, ids="->".join)
@settings(derandomize=True, database=None, max_examples=40, deadline=None)
@given(x=values, tpw=tokens_per_word)
def test_round_trip(a: str, b: str, x: float, tpw: float) -> None:
    back = convert(convert(x, a, b, tokens_per_word=tpw), b, a, tokens_per_word=tpw)
    assert back == pytest.approx(x, rel=1e-12)


@settings(derandomize=True, database=None, max_examples=100, deadline=None)
@given(pair=st.sampled_from(SAME_DIMENSION_PAIRS), x=values)
def test_round_trip_default_tokens_per_word(pair: tuple[str, str], x: float) -> None:
    a, b = pair
    assert convert(convert(x, a, b), b, a) == pytest.approx(x, rel=1e-12)


@settings(derandomize=True, database=None, max_examples=100, deadline=None)
@given(pair=st.sampled_from(SAME_DIMENSION_PAIRS), x=values, tpw=tokens_per_word)
def test_convert_agrees_with_to_base(pair: tuple[str, str], x: float, tpw: float) -> None:
    a, b = pair
    y = convert(x, a, b, tokens_per_word=tpw)
    assert to_base(y, b, tpw) == pytest.approx(to_base(x, a, tpw), rel=1e-12)


@pytest.mark.parametrize("unit", sorted(UNITS))
def test_identity_and_registry_consistency(unit: str) -> None:
    assert convert(7.5, unit, unit) == pytest.approx(7.5)
    assert UNITS[unit].dimension in DIMENSIONS
    assert get_unit(unit).name == unit
    assert dimension_of(unit) is DIMENSIONS[UNITS[unit].dimension]


@pytest.mark.parametrize("dim", sorted(DIMENSIONS))
def test_every_dimension_base_unit_is_registered_with_factor_one(dim: str) -> None:
    base = DIMENSIONS[dim].base
    assert base in UNITS
    assert UNITS[base].dimension == dim
    assert to_base(3.0, base) == 3.0


def test_essay_gpt4_speed_540_wpm_is_12_tokens_per_second() -> None:
    assert DEFAULT_TOKENS_PER_WORD == pytest.approx(4 / 3)
    assert convert(540, "words/min", "tokens/s") == pytest.approx(12.0, rel=1e-12)
    assert convert(12, "tokens/s", "words/min") == pytest.approx(540.0, rel=1e-12)


def test_tokens_per_word_is_a_parameter() -> None:
    assert convert(540, "words/min", "tokens/s", tokens_per_word=3 / 2) == pytest.approx(13.5)
    assert convert(540, "words/min", "tokens/s", tokens_per_word=2) == pytest.approx(18.0)
    # Units not counted in words ignore it.
    assert convert(60, "tokens/min", "tokens/s", tokens_per_word=2) == pytest.approx(1.0)
    assert to_base(3, "words", tokens_per_word=1.5) == pytest.approx(4.5)


def test_known_factors() -> None:
    assert convert(1, "PFLOP/s-day", "FLOP") == pytest.approx(8.64e19)
    assert convert(50, "%", "fraction") == pytest.approx(0.5)
    assert convert(2, "years", "months") == pytest.approx(24.0)
    assert convert(1, "TB/s", "GB/s") == pytest.approx(1000.0)


def test_unknown_unit_raises_with_the_list() -> None:
    with pytest.raises(UnknownUnitError) as info:
        convert(1, "furlongs", "tokens/s")
    message = str(info.value)
    assert "furlongs" in message
    for known in ("FLOP", "tokens/s", "words/min", "%"):
        assert known in message
    assert isinstance(info.value, ValueError)
    with pytest.raises(UnknownUnitError, match="furlongs"):
        convert(1, "tokens/s", "furlongs")
    with pytest.raises(UnknownUnitError, match="known units"):
        to_base(1, "furlongs")


def test_cross_dimension_conversion_is_refused() -> None:
    with pytest.raises(ValueError, match="cannot convert"):
        convert(1, "FLOP", "tokens")
    with pytest.raises(ValueError, match="cannot convert"):
        convert(1, "words", "words/s")


def test_no_nan_or_zero_factors() -> None:
    for u in UNITS.values():
        assert math.isfinite(u.factor) and u.factor > 0
