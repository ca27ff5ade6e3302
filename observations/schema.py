"""The observation record: its fields, what each may hold, and the checks on one row.

A row is kept as the strings that stand in the ledger file, so that an unchanged row is
written back byte for byte; :func:`validate_row` parses those strings and reports every
problem it finds, each naming its field.
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass
from datetime import date

from gpt2030.observations.units import (
    DIMENSIONS,
    UNITS,
    UnknownUnitError,
    dimension_of,
    to_base,
)

#: Column order of the ledger file. A contract: the store writes exactly these.
FIELDS: tuple[str, ...] = (
    "id",
    "kind",
    "subject",
    "metric",
    "date",
    "target_date",
    "value",
    "unit",
    "low",
    "high",
    "interval",
    "bound",
    "status",
    "confidence",
    "source",
    "note",
    "added",
    "removed_on",
    "removed_reason",
)

#: What each kind of observation is, and which dimensions its unit may measure.
KINDS: dict[str, tuple[str, ...]] = {
    "training_compute": ("compute",),
    "parameters": ("parameters",),
    "training_tokens": ("tokens",),
    "inference_speed": ("speed",),
    "benchmark_score": ("share", "percentile", "rating"),
    "data_stock": ("tokens", "calendar", "share", "growth", "memory", "ratio", "dimensionless"),
    "scaling_constant": (
        "loss",
        "dimensionless",
        "tokens_per_parameter",
        "flop_per_param_token",
        "compute",
        "duration",
    ),
    "compute_projection": ("compute", "parameters"),
    "compute_growth": ("duration", "growth", "ratio"),
    "human_speed": ("speed",),
    "hardware": ("bandwidth", "compute_rate", "memory", "power"),
    "capability_forecast": ("calendar", "share"),
}

#: How a value came to be known. Forecasts are beliefs, not measurements: the model
#: keeps them apart and uses them only when a configuration switches them on.
STATUSES = ("official", "estimate", "measured", "forecast", "rumor", "derived")

#: What ``low``/``high`` are: the central coverage of the stated interval.
INTERVALS: dict[str, float] = {
    "90%": 0.90,
    "95%": 0.95,
    "80%": 0.80,
    "50%": 0.50,
    "1sd": 0.6827,
    # A stated range of unknown coverage: read as a 90% interval (a judgement; sources
    # that give a bare range usually mean "most plausible values").
    "range": 0.90,
}

#: ``lower``: the truth is at least ``value`` ("more than X"); ``upper``: at most.
BOUNDS = ("", "lower", "upper")

#: Epoch AI's confidence labels, and the generic ones other sources use.
CONFIDENCES = ("", "confident", "likely", "speculative", "high", "medium", "low")

# ``id`` last: a missing id is usually made from kind, subject and date, so when one of those
# is missing that field, not the id, is the problem to name first.
REQUIRED = ("kind", "subject", "date", "value", "unit", "status", "source", "added", "id")

ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._:-]{0,119}\Z")
_DATE_PATTERN = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?\Z", re.ASCII)
#: A plain decimal number: no ``1_000``, no padding, no ``nan``/``inf``/hex spellings.
NUMBER_PATTERN = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?\Z", re.ASCII)

_LINE_BREAKS = frozenset("\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029")

#: Fields that may hold several lines (free text); every other field is one line.
MULTILINE_FIELDS = ("source", "note", "removed_reason")

#: The earliest date a row may hold: the ledger is about machine learning, and the first
#: learning machines (Turing's 1950 paper, the 1950s perceptrons) mark its start (a judgement).
EARLIEST = date(1950, 1, 1)

#: The mark ``observe add --force-implausible`` puts at the start of a row's note: the row was
#: knowingly accepted outside :data:`PLAUSIBLE`, and the note says why.
FORCED_MARK = "[implausible, accepted]"


@dataclass(frozen=True)
class Plausible:
    """The range, in the base unit of the dimension, outside which a value is refused."""

    low: float
    high: float
    why: str


#: Plausible values per kind and dimension, in base units (``units.DIMENSIONS``). A value
#: outside is refused unless added with ``--force-implausible`` and a note. Each range is
#: much wider than the shipped ledger's values, so only typos and unit slips fall outside;
#: ``why`` gives the source or the judgement.
PLAUSIBLE: dict[tuple[str, str], Plausible] = {
    ("training_compute", "compute"): Plausible(
        1e15, 1e32, "Epoch AI notable models: language models from 2010 on use >= 1e15 FLOP; "
        "1e32 is ~1,000x beyond the largest 2030 projections (Sevilla et al. 2022)"),
    ("parameters", "parameters"): Plausible(
        1e3, 1e16, "judgement: the largest dense or sparse models have ~2e12 (GPT-4, rumoured); "
        "1e16 leaves four orders of magnitude"),
    ("training_tokens", "tokens"): Plausible(
        1e6, 1e17, "Villalobos et al. 2024: the whole indexed web is ~5e14 tokens; x200 margin"),
    ("inference_speed", "speed"): Plausible(
        0.01, 1e5, "judgement: served models run 1-2,000 tokens/s (Artificial Analysis, Cerebras "
        "2024); 1e5 allows a 50x faster chip"),
    ("human_speed", "speed"): Plausible(
        0.05, 100.0, "Korba 2016 / Brysbaert 2019: speech ~150 wpm, reading ~240 wpm, inner "
        "speech ~4,000 wpm at most (~90 tokens/s)"),
    ("benchmark_score", "share"): Plausible(0.0, 1.0, "a score is the fraction of items solved"),
    ("benchmark_score", "percentile"): Plausible(0.0, 100.0, "a percentile of human competitors"),
    ("benchmark_score", "rating"): Plausible(
        0.0, 5000.0, "Codeforces ratings: the top human rating is ~4,000 Elo"),
    ("data_stock", "tokens"): Plausible(
        1e9, 1e18, "Villalobos et al. 2022/2024: all text, public and private, ~1e15-1e17"),
    ("data_stock", "calendar"): Plausible(1950.0, 2200.0, "judgement: a year this century"),
    ("data_stock", "share"): Plausible(0.0, 1.0, "a fraction of a stock"),
    ("data_stock", "growth"): Plausible(
        0.1, 100.0, "judgement: data stocks grow ~1.1x/year, datasets ~3x/year (Epoch AI)"),
    ("data_stock", "memory"): Plausible(
        1.0, 1e24, "judgement: the whole internet is ~1e23 bytes (IDC 2023)"),
    ("data_stock", "ratio"): Plausible(
        1e-3, 1e4, "Muennighoff et al. 2023: repetition up to ~16 epochs is studied"),
    ("data_stock", "dimensionless"): Plausible(
        0.0, 1e15, "judgement: counts such as unique web pages (~1e12, Villalobos et al. 2024)"),
    ("scaling_constant", "loss"): Plausible(
        1e-3, 1e5, "Hoffmann et al. 2022 and Besiroglu et al. 2024: E ~1.7, A and B up to "
        "~3,400 nats"),
    ("scaling_constant", "dimensionless"): Plausible(
        0.0, 1e3, "exponents and ratios of scaling laws are O(0.1-10) (Kaplan et al. 2020)"),
    ("scaling_constant", "tokens_per_parameter"): Plausible(
        0.1, 1e5, "Chinchilla's 20; 2024 models train at up to ~10^4 (Llama 3 8B: 1,875)"),
    ("scaling_constant", "flop_per_param_token"): Plausible(
        1.0, 100.0, "the 6ND rule (Kaplan et al. 2020); 2 for a forward pass"),
    ("scaling_constant", "compute"): Plausible(
        1.0, 1e32, "judgement: per-token FLOP (2N) up to a whole training run"),
    ("scaling_constant", "duration"): Plausible(
        0.01, 1200.0, "judgement: training runs last days to years (~3-15 months, Epoch AI)"),
    ("compute_projection", "compute"): Plausible(
        1e15, 1e42, "judgement: long-range projections reach ~1e39 FLOP (Besiroglu et al. 2022 "
        "to 2100)"),
    ("compute_projection", "parameters"): Plausible(
        1e6, 1e18, "judgement: projected model sizes up to ~1e15"),
    ("compute_growth", "duration"): Plausible(
        0.5, 600.0, "doubling times: 3.4 months (Amodei & Hernandez 2018) to ~20 months "
        "(pre-deep-learning era, Sevilla et al. 2022)"),
    ("compute_growth", "growth"): Plausible(
        0.1, 100.0, "Sevilla et al. 2022, Epoch AI: 4-10x/year"),
    ("compute_growth", "ratio"): Plausible(1e-3, 1e6, "judgement: growth over a period"),
    ("hardware", "bandwidth"): Plausible(
        1e8, 1e15, "accelerator datasheets: 0.7-8 TB/s (P100 to B200); x100 margin"),
    ("hardware", "compute_rate"): Plausible(
        1e9, 1e21, "datasheets: ~1e14-5e15 FLOP/s per chip; up to a whole cluster"),
    ("hardware", "memory"): Plausible(
        1e6, 1e16, "datasheets: 16-192 GB per chip; up to a whole cluster"),
    ("hardware", "power"): Plausible(
        1.0, 1e11, "judgement: a chip draws ~1e3 W, the largest data centres ~1e9 W"),
    ("capability_forecast", "calendar"): Plausible(
        2000.0, 2200.0, "judgement: forecasts of years from now on"),
    ("capability_forecast", "share"): Plausible(0.0, 1.0, "a probability or a score, 0 to 1"),
}


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one field of one row."""

    field: str
    message: str

    def __str__(self) -> str:
        """``field: message``, as the problem is printed."""
        return f"{self.field}: {self.message}"


def parse_date(text: str) -> tuple[date, date]:
    """Parse ``YYYY``, ``YYYY-MM`` or ``YYYY-MM-DD`` into the first and last day it covers.

    Raises
    ------
    ValueError
        For anything else, or a date that does not exist (``2023-13-40``).
    """
    m = _DATE_PATTERN.match(text)
    if not m:
        raise ValueError(f"{text!r} is not a date of the form YYYY, YYYY-MM or YYYY-MM-DD")
    year, month, day = int(m[1]), m[2], m[3]
    try:
        if month is None:
            return date(year, 1, 1), date(year, 12, 31)
        if day is None:
            first = date(year, int(month), 1)
            following = date(year + int(month) // 12, int(month) % 12 + 1, 1)
            return first, date.fromordinal(following.toordinal() - 1)
        d = date(year, int(month), int(day))
        return d, d
    except ValueError as err:
        raise ValueError(f"{text!r} is not a real date ({err})") from None


def parse_day(text: str) -> date:
    """Parse one day, ``YYYY-MM-DD`` (a year or a month is refused).

    Parameters
    ----------
    text : str
        The date.

    Returns
    -------
    datetime.date

    Raises
    ------
    ValueError
        Anything but a real day: the message says what was wrong, for the caller to
        prefix with the flag or field it came from.
    """
    first, last = parse_date(text)
    if first != last:
        raise ValueError(f"give a day, YYYY-MM-DD (not {text!r})")
    return first


def decimal_year(text: str) -> float:
    """The middle of the period a date string covers, as a decimal year.

    A year-precision date is read as mid-year, a month as mid-month: the unbiased
    guess when only the period is known.
    """
    first, last = parse_date(text)
    mid = (first.toordinal() + last.toordinal() + 1) / 2
    start = date(first.year, 1, 1).toordinal()
    days = date(first.year + 1, 1, 1).toordinal() - start
    return first.year + (mid - start) / days


def parse_number(text: str) -> float:
    """A plain decimal number (``12``, ``-0.5``, ``1.2e28``), strictly.

    Raises
    ------
    ValueError
        For anything Python's ``float`` accepts but a ledger should not hold: ``1_000``,
        padded text, ``nan``, ``inf``, or a number too large to be finite.
    """
    if not NUMBER_PATTERN.match(text):
        if text.strip() != text and NUMBER_PATTERN.match(text.strip()):
            raise ValueError(f"{text!r} has spaces around the number")
        if text.strip().casefold().lstrip("+-") in ("inf", "infinity", "nan"):
            raise ValueError(f"{text!r} is not a finite number")
        raise ValueError(f"{text!r} is not a number (plain digits, '.', an optional exponent)")
    x = float(text)
    if not math.isfinite(x):
        raise ValueError(f"{text!r} is not a finite number")
    return x


def _number(row: dict[str, str], field: str, problems: list[Problem]) -> float | None:
    text = row.get(field) or ""
    if not text.strip():
        return None
    try:
        return parse_number(text)
    except ValueError as err:
        problems.append(Problem(field, str(err)))
        return None


def forced(row: dict[str, str]) -> bool:
    """Whether the row was knowingly added outside the plausible range (see FORCED_MARK)."""
    return (row.get("note") or "").startswith(FORCED_MARK)


def implausible(x: float, unit: str, kind: str) -> str | None:
    """Why ``x`` in ``unit`` is implausible for ``kind`` (see :data:`PLAUSIBLE`), or None."""
    dim = UNITS[unit].dimension
    rule = PLAUSIBLE.get((kind, dim))
    if rule is None:
        return None
    base = to_base(x, unit)
    if rule.low <= base <= rule.high:
        return None
    base_unit = DIMENSIONS[dim].base
    shown = f"{x:g} {unit}" + ("" if unit == base_unit else f" ({base:.3g} {base_unit})")
    return (f"{shown} is implausible for {kind}: outside [{rule.low:g}, {rule.high:g}] "
            f"{base_unit} ({rule.why}); if it is right, add it with --force-implausible and "
            "a --note saying why")


def validate_row(row: dict[str, str], today: date | None = None) -> list[Problem]:
    """Every problem with one ledger row; an empty list means the row is valid."""
    problems: list[Problem] = []
    for field in REQUIRED:
        if not (row.get(field) or "").strip():
            problems.append(Problem(field, "is required"))
    unknown = set(row) - set(FIELDS)
    if unknown:
        problems.append(Problem(sorted(unknown)[0], f"unknown field(s) {sorted(unknown)}"))
    for field in FIELDS:
        text = row.get(field) or ""
        if field in MULTILINE_FIELDS:
            continue
        if any(c in _LINE_BREAKS for c in text):
            problems.append(Problem(field, "must be a single line (it holds a line break)"))
        elif any(unicodedata.category(c) == "Cc" for c in text):
            problems.append(Problem(field, "holds a control character"))

    kind = row.get("kind") or ""
    if kind and kind not in KINDS:
        problems.append(Problem("kind", f"unknown kind {kind!r}; known kinds: {', '.join(KINDS)}"))

    status = row.get("status") or ""
    if status and status not in STATUSES:
        known = ", ".join(STATUSES)
        problems.append(Problem("status", f"unknown status {status!r}; one of {known}"))

    for field, allowed in (("bound", BOUNDS), ("confidence", CONFIDENCES)):
        if (row.get(field) or "") not in allowed:
            problems.append(Problem(field, f"{row[field]!r} is not one of {allowed[1:]}"))

    for field in ("date", "target_date", "added", "removed_on"):
        text = row.get(field) or ""
        if text:
            try:
                first, _ = parse_date(text)
            except ValueError as err:
                problems.append(Problem(field, str(err)))
                continue
            if field in ("date", "added") and today is not None and first > today:
                problems.append(Problem(field, f"{text} is in the future"))
            if first < EARLIEST:
                problems.append(Problem(field, f"{text} is before {EARLIEST.year}: the ledger "
                                        "holds machine-learning facts from 1950 on"))
    target = row.get("target_date") or ""
    if target and row.get("date"):
        try:
            if parse_date(target)[1] < parse_date(row["date"])[0]:
                problems.append(Problem("target_date", f"{target} is before the date "
                                        f"{row['date']}: a forecast is about a later date"))
        except ValueError:
            pass  # reported above
    if status == "forecast" and not row.get("target_date"):
        problems.append(Problem("target_date", "a forecast needs the date it is about"))
    if row.get("removed_on") and not (row.get("removed_reason") or "").strip():
        problems.append(Problem("removed_reason", "a removal needs its reason"))

    value, low, high = (_number(row, f, problems) for f in ("value", "low", "high"))
    unit = row.get("unit") or ""
    dim = None
    if unit:
        try:
            dim = dimension_of(unit)
        except UnknownUnitError as err:
            problems.append(Problem("unit", str(err)))
    if dim is not None and kind in KINDS and dim.name not in KINDS[kind]:
        allowed_units = sorted(u.name for u in UNITS.values() if u.dimension in KINDS[kind])
        problems.append(
            Problem("unit", f"{unit!r} does not measure a {kind}; use one of {allowed_units}")
        )
    if dim is not None:
        for field, x in (("value", value), ("low", low), ("high", high)):
            if x is not None and not _in_range(x, unit, dim.name):
                problems.append(Problem(field, _range_message(x, unit, kind, dim.name)))
            elif x is not None and kind in KINDS and not forced(row):
                why = implausible(x, unit, kind)
                if why:
                    problems.append(Problem(field, why))

    interval = row.get("interval") or ""
    if (low is not None or high is not None) and interval not in INTERVALS:
        problems.append(
            Problem("interval", f"low/high need the interval they are, one of {list(INTERVALS)}")
        )
    if interval and low is None and high is None:
        problems.append(Problem("interval", "is set but low and high are empty"))
    if value is not None:
        if low is not None and low > value:
            problems.append(Problem("low", f"{low:g} is above the value {value:g}"))
        if high is not None and high < value:
            problems.append(Problem("high", f"{high:g} is below the value {value:g}"))
    if forced(row) and not (row.get("note") or "")[len(FORCED_MARK):].strip():
        problems.append(Problem("note", "a row accepted as implausible needs a note saying why"))
    rid = row.get("id") or ""
    if rid and not ID_PATTERN.match(rid):
        problems.append(
            Problem("id", f"{rid!r} must be lowercase letters, digits and . _ : - (max 120)")
        )
    return problems


def _in_range(x: float, unit: str, dim_name: str) -> bool:
    dim = DIMENSIONS[dim_name]
    base = x * UNITS[unit].factor  # word_power never changes a sign or a range check
    if dim.positive:
        return base > dim.minimum and base <= dim.maximum
    return dim.minimum <= base <= dim.maximum


def _range_message(x: float, unit: str, kind: str, dim_name: str) -> str:
    dim = DIMENSIONS[dim_name]
    what = kind or dim_name
    if dim.positive and x <= 0:
        return f"{x:g} {unit} is impossible: a {what} must be positive"
    bounds = f"[{dim.minimum:g}, {dim.maximum:g}] {dim.base}"
    return f"{x:g} {unit} is outside the possible range {bounds}"
