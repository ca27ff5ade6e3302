"""The observation record: its fields, what each may hold, and the checks on one row.

A row is kept as the strings that stand in the ledger file, so that an unchanged row is
written back byte for byte; :func:`validate_row` parses those strings and reports every
problem it finds, each naming its field.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import date

from gpt2030.observations.units import DIMENSIONS, UNITS, UnknownUnitError, dimension_of

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

ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._:-]{0,119}$")
_DATE_PATTERN = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one field of one row."""

    field: str
    message: str

    def __str__(self) -> str:
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


def _number(row: dict[str, str], field: str, problems: list[Problem]) -> float | None:
    text = (row.get(field) or "").strip()
    if not text:
        return None
    try:
        x = float(text)
    except ValueError:
        problems.append(Problem(field, f"{text!r} is not a number"))
        return None
    if not math.isfinite(x):
        problems.append(Problem(field, f"{text!r} is not a finite number"))
        return None
    return x


def validate_row(row: dict[str, str], today: date | None = None) -> list[Problem]:
    """Every problem with one ledger row; an empty list means the row is valid."""
    problems: list[Problem] = []
    for field in REQUIRED:
        if not (row.get(field) or "").strip():
            problems.append(Problem(field, "is required"))
    unknown = set(row) - set(FIELDS)
    if unknown:
        problems.append(Problem(sorted(unknown)[0], f"unknown field(s) {sorted(unknown)}"))

    rid = row.get("id") or ""
    if rid and not ID_PATTERN.match(rid):
        problems.append(
            Problem("id", f"{rid!r} must be lowercase letters, digits and . _ : - (max 120)")
        )

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
