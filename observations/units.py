"""One registry of units, each with an explicit conversion to its dimension's base unit.

Every observation is stored in the unit its source used, and converted here, once, to the
base unit the model works in (FLOP, tokens, tokens/s, ...). Words and tokens are linked by a
tokens-per-word ratio that is a parameter, not a constant: the essay uses OpenAI's rule of
thumb of 4/3 tokens per word, and its footnote 12 says 3/2 or 2 may be more realistic.

A hand-written table rather than a general units library (pint): the only non-SI link we
need is tokens-per-word, which must stay a parameter, and the table is short enough to read.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# Steinhardt (2023), Appendix A: "OpenAI's rule of thumb" of 4 tokens per 3 words.
DEFAULT_TOKENS_PER_WORD = 4 / 3


@dataclass(frozen=True)
class Dimension:
    """A physical dimension: its base unit and the range of values that can be true."""

    name: str
    base: str
    minimum: float = 0.0  # inclusive unless ``positive``
    maximum: float = math.inf
    positive: bool = False  # strictly > minimum: quantities the model takes logs of


DIMENSIONS = {
    d.name: d
    for d in (
        Dimension("compute", "FLOP", positive=True),
        Dimension("compute_rate", "FLOP/s", positive=True),
        Dimension("parameters", "parameters", positive=True),
        Dimension("tokens", "tokens", positive=True),
        Dimension("speed", "tokens/s", positive=True),
        Dimension("share", "fraction", maximum=1.0),
        Dimension("percentile", "percentile", maximum=100.0),
        Dimension("bandwidth", "B/s", positive=True),
        Dimension("memory", "bytes", positive=True),
        Dimension("power", "W", positive=True),
        Dimension("calendar", "year", minimum=1900.0, maximum=2200.0),
        Dimension("duration", "months", positive=True),
        Dimension("growth", "x/year", positive=True),
        Dimension("tokens_per_parameter", "tokens/parameter", positive=True),
        Dimension("flop_per_param_token", "FLOP/(parameter*token)", positive=True),
        Dimension("loss", "nats", positive=True),
        Dimension("ratio", "x", positive=True),
        Dimension("dimensionless", "dimensionless"),
        Dimension("rating", "Elo", positive=True),
    )
}


@dataclass(frozen=True)
class Unit:
    """A unit: ``base = value * factor * tokens_per_word ** word_power``."""

    name: str
    dimension: str
    factor: float = 1.0
    # Units counted in words convert to tokens by multiplying by tokens-per-word:
    # words -> tokens is +1; nothing in the registry divides by it.
    word_power: int = 0


UNITS = {
    u.name: u
    for u in (
        Unit("FLOP", "compute"),
        Unit("PFLOP/s-day", "compute", 1e15 * 86_400),
        Unit("FLOP/s", "compute_rate"),
        Unit("parameters", "parameters"),
        Unit("tokens", "tokens"),
        Unit("words", "tokens", word_power=1),
        Unit("tokens/s", "speed"),
        Unit("tokens/min", "speed", 1 / 60),
        Unit("words/s", "speed", word_power=1),
        Unit("words/min", "speed", 1 / 60, word_power=1),
        Unit("fraction", "share"),
        Unit("%", "share", 0.01),
        Unit("percentile", "percentile"),
        Unit("B/s", "bandwidth"),
        Unit("GB/s", "bandwidth", 1e9),
        Unit("TB/s", "bandwidth", 1e12),
        Unit("bytes", "memory"),
        Unit("GB", "memory", 1e9),
        Unit("W", "power"),
        Unit("year", "calendar"),
        Unit("months", "duration"),
        Unit("years", "duration", 12.0),
        Unit("x/year", "growth"),
        Unit("tokens/parameter", "tokens_per_parameter"),
        Unit("FLOP/(parameter*token)", "flop_per_param_token"),
        Unit("nats", "loss"),
        Unit("x", "ratio"),
        Unit("dimensionless", "dimensionless"),
        Unit("Elo", "rating"),
    )
}


class UnknownUnitError(ValueError):
    """Raised for a unit name that is not in :data:`UNITS`."""


def get_unit(name: str) -> Unit:
    """Return the registered unit called ``name``.

    Raises
    ------
    UnknownUnitError
        With the list of known units, so a typo is easy to fix.
    """
    try:
        return UNITS[name]
    except KeyError:
        known = ", ".join(sorted(UNITS))
        raise UnknownUnitError(f"unknown unit {name!r}; known units: {known}") from None


def dimension_of(unit: str) -> Dimension:
    """Return the :class:`Dimension` a unit measures."""
    return DIMENSIONS[get_unit(unit).dimension]


def to_base(value: float, unit: str, tokens_per_word: float = DEFAULT_TOKENS_PER_WORD) -> float:
    """Convert ``value`` in ``unit`` to the base unit of its dimension."""
    u = get_unit(unit)
    return value * u.factor * tokens_per_word**u.word_power


def convert(
    value: float, from_unit: str, to_unit: str, tokens_per_word: float = DEFAULT_TOKENS_PER_WORD
) -> float:
    """Convert ``value`` between two units of the same dimension.

    Examples
    --------
    GPT-4's June 2023 reading in the essay, 540 words per minute, is 12 tokens per second:

    >>> round(convert(540, "words/min", "tokens/s"), 6)
    12.0
    """
    a, b = get_unit(from_unit), get_unit(to_unit)
    if a.dimension != b.dimension:
        raise ValueError(
            f"cannot convert {from_unit!r} ({a.dimension}) to {to_unit!r} ({b.dimension})"
        )
    return to_base(value, from_unit, tokens_per_word) / to_base(1.0, to_unit, tokens_per_word)
