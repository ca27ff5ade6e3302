"""Targets of pre-registered predictions: named future facts, and the ledger rows that settle them.

A target is a question about ledger rows that do not exist yet. Four kinds (the names are a
contract: they are stored in the registry):

``max_compute``
    The largest training compute reported for a model released in the window [start, end]
    ("by END"): the maximum of the window's training-compute rows.
``median_speed``
    The median served speed of the API aliases read in a month (the served frontier models
    the ledger tracks): each alias's median reading in the month, then the median over the
    aliases.
``best_benchmark``
    The score of the best system on a benchmark in the window ("by END"): the maximum of the
    window's scores on it.
``ledger``
    Any ledger kind, subject and metric at a target date: the row of that fact dated within
    the date's period (a year, a month or a day; the earliest such row if several).

**How the model predicts a target.** :meth:`Target.rows` writes the rows the question is
about as synthetic ledger rows, exactly as a user would add them, and the predictive is the
model's posterior predictive of those rows (:mod:`gpt2030.inference.predictions`, through the
backtest's :func:`~gpt2030.inference.backtest.model_predictive`), so every target carries the
model's own observation model: the measurement error of the rows' status, the gap below the
frontier of a notable model or a benchmark entry, a served alias's own level and drift. An
aggregate takes the maximum (or median) over its rows, draw by draw; how many rows it has
(``count``) is a judgement from the shipped ledger's rates (:data:`DEFAULT_COUNT`), stored
with the target.

**How the ledger settles a target** (:func:`resolve`). Only rows added on or after the day a
prediction was registered count (a fact already known cannot confirm a forecast of it), only
measurements (not forecasts, not bounds), and only rows the model reads the same way as the
synthetic ones (the same likelihood term). ``ledger`` targets resolve as soon as such a row
arrives; the aggregates only :data:`SETTLE_AFTER_DAYS` after their window has closed (a
larger model may still come, and its facts arrive late), and only if it holds at least one
row. Values are compared on the model's own scale of the
term (log10 of FLOP and tokens/s, the logit of a benchmark share).
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta

import numpy as np
import pandas as pd

from gpt2030.observations.schema import (
    FIELDS,
    KINDS,
    PLAUSIBLE,
    decimal_year,
    parse_date,
    parse_day,
    validate_row,
)
from gpt2030.observations.units import DIMENSIONS, UNITS, to_base

#: The target kinds, with what each asks (``--target`` of ``predict register``).
TARGET_KINDS: dict[str, str] = {
    "max_compute": "the largest training compute reported for a model released in a window",
    "median_speed": "the median served speed of the API aliases read in a month",
    "best_benchmark": "the score of the best system on a benchmark in a window",
    "ledger": "one ledger kind, subject and metric at a target date",
}
#: Kinds settled by a maximum or median over a window: registered before the window opens.
AGGREGATE_KINDS = ("max_compute", "median_speed", "best_benchmark")
#: How many rows an aggregate is over, by default. A judgement from the shipped ledger's
#: rates (2026-11-28): 9 and 11 training-compute rows for 2023 and 2024 models; 8 to 16 API
#: aliases read a month in 2024 (median 9.5); 2 to 10 systems a year per benchmark (GPQA
#: Diamond: 5 in 2024).
DEFAULT_COUNT = {"max_compute": 10, "median_speed": 9, "best_benchmark": 5, "ledger": 1}
#: Days after an aggregate's window closes before it is settled: facts arrive late (a
#: December model's compute estimate, a month's tracker readings weeks later), and a
#: resolution is never redone, so settling at once would score a max or median over
#: part of the window. A judgement: Epoch AI's estimates of a model typically follow its
#: release by weeks to a few months.
SETTLE_AFTER_DAYS = 120
#: The most rows one aggregate may ask for.
MAX_COUNT = 100
#: Ledger kinds the model reads only in pairs (a model's tokens per active parameter): a
#: row's term depends on other rows, so no ledger target can be about one.
PAIRED_KINDS = ("parameters", "training_tokens")
#: The ledger kind of each aggregate's rows.
AGGREGATE_ROW_KIND = {"max_compute": "training_compute", "median_speed": "inference_speed",
                      "best_benchmark": "benchmark_score"}
#: The likelihood term each aggregate's rows fall in.
AGGREGATE_TERM = {"max_compute": "compute", "median_speed": "speed",
                  "best_benchmark": "benchmark"}
#: Status and confidence of an aggregate's synthetic rows, which set their measurement error
#: (``models/evidence.py``). Compute: Epoch's estimates of 2024 frontier models are mostly
#: "speculative" or "confident"; "likely" (0.3 dex) is the middle label (a judgement).
#: Speeds and scores: measured, as the tracker's readings and published scores are.
AGGREGATE_STATUS = {"max_compute": ("estimate", "likely"), "median_speed": ("measured", ""),
                    "best_benchmark": ("measured", "")}
#: The served aliases read in a month are of several ages: the shipped ledger's 2024-12
#: readings are of aliases first read 5 to 21 months before. An aggregate's synthetic aliases
#: are first read at ages spread evenly over this many months (a judgement).
ALIAS_AGE_MONTHS = 24.0
#: The metric of a synthetic served alias's readings: an API setting (``speed_setting``).
ALIAS_METRIC = "API (pre-registered target)"
#: The source every synthetic row carries (they never enter the ledger).
SYNTHETIC_SOURCE = "gpt2030 pre-registered target (synthetic row, never stored)"
#: How each likelihood term's values are stored in the model, and their base unit: a
#: prediction's draws are on this scale, and :func:`to_display` turns them into the unit.
TERM_SCALE: dict[str, tuple[str, str]] = {
    "compute": ("log10", "FLOP"),
    "speed": ("log10", "tokens/s"),
    "benchmark": ("logit", "%"),
    "bandwidth": ("log10", "B/s"),
    "data_stock": ("log10", "tokens"),
    "training_duration": ("log10", "years"),
    "human_speed": ("log10", "words/min"),
    "optimal_ratio": ("log10", "tokens/parameter"),
    "scaling_exponent": ("identity", ""),
    "tokens_per_param": ("log10", "tokens/parameter"),
}
#: The unit of a difference (a shift, a one-sigma error) on each scale of :data:`TERM_SCALE`.
SCALE_UNIT: dict[str, str] = {"log10": "dex", "logit": "logit", "identity": ""}


class TargetError(ValueError):
    """A target that cannot be registered or read (the message says why)."""


def to_display(x: float | np.ndarray, scale: str) -> float | np.ndarray:
    """A value on the model's scale in its display unit (FLOP, tokens/s, percent).

    Parameters
    ----------
    x : float or numpy.ndarray
        Values on ``scale``.
    scale : str
        ``log10``, ``logit`` (shown as a percentage) or ``identity``.

    Returns
    -------
    float or numpy.ndarray
    """
    if scale == "log10":
        return np.power(10.0, x)
    if scale == "logit":
        return 100.0 / (1.0 + np.exp(-np.asarray(x, dtype=float)))
    return x


def _iso(d: date) -> str:
    return d.isoformat()


def _day(text: str, what: str) -> date:
    try:
        return parse_day(text)
    except ValueError as err:
        raise TargetError(f"{what}: {err}") from None


def slug(text: str) -> str:
    """``GPQA Diamond`` -> ``gpqa-diamond``: a target id fragment."""
    return re.sub(r"[^a-z0-9.]+", "-", text.casefold()).strip("-.") or "x"


@dataclass(frozen=True)
class Target:
    """A named future fact (see the module docstring for the kinds).

    ``start`` and ``end`` bound the window (ISO dates, inclusive); ``count`` is how many rows
    an aggregate is over; ``benchmark`` names a ``best_benchmark``'s benchmark (a ledger
    ``metric``); ``obs_kind``, ``subject``, ``metric``, ``date``, ``unit``, ``status`` and
    ``confidence`` describe a ``ledger`` target's row. ``why`` says what the essay's argument
    takes from it.
    """

    kind: str
    start: str
    end: str
    count: int = 1
    benchmark: str = ""
    obs_kind: str = ""
    subject: str = ""
    metric: str = ""
    date: str = ""
    unit: str = ""
    status: str = ""
    confidence: str = ""
    why: str = field(default="", compare=False)

    @property
    def id(self) -> str:
        """The target's stable name: what makes two registrations predictions of one fact."""
        if self.kind == "median_speed":
            return f"median_speed:{self.start[:7]}"
        if self.kind == "max_compute":
            return f"max_compute:{self.start}..{self.end}"
        if self.kind == "best_benchmark":
            return f"best_benchmark:{slug(self.benchmark)}:{self.start}..{self.end}"
        parts = [self.obs_kind, slug(self.subject)] + ([slug(self.metric)] if self.metric
                                                        else [])
        return "ledger:" + ":".join([*parts, self.date])

    @property
    def window(self) -> tuple[date, date]:
        """The first and last day of the window."""
        return parse_date(self.start)[0], parse_date(self.end)[0]

    def describe(self) -> str:
        """The question in words, for tables and the report."""
        if self.kind == "max_compute":
            return (f"largest training compute reported for a model released {self.start} to "
                    f"{self.end}")
        if self.kind == "median_speed":
            return f"median served speed of the API aliases read in {self.start[:7]}"
        if self.kind == "best_benchmark":
            return f"best score on {self.benchmark}, {self.start} to {self.end}"
        what = " / ".join(x for x in (self.subject, self.metric) if x)
        return f"{self.obs_kind} of {what} in {self.date}"

    def to_dict(self) -> dict[str, object]:
        """The target as stored in the registry (every field, and its ``id``)."""
        return {"id": self.id, **asdict(self)}

    @classmethod
    def from_dict(cls, data: object) -> Target:
        """Read and check a stored (or given) target.

        Parameters
        ----------
        data : dict
            The fields of :class:`Target`; ``id``, when present, must be the one they make.

        Returns
        -------
        Target

        Raises
        ------
        TargetError
            An unknown kind or field, a missing or malformed field, or an ``id`` that does
            not match the fields.
        """
        if not isinstance(data, dict):
            raise TargetError("a target is a JSON object")
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known - {"id"})
        if unknown:
            raise TargetError(f"unknown target field(s) {unknown}")
        for name, value in data.items():
            want = int if name == "count" else str
            if not isinstance(value, want) or isinstance(value, bool):
                raise TargetError(f"target field {name!r} must be a {want.__name__}")
        if not {"kind", "start", "end"} <= set(data):
            raise TargetError("a target needs kind, start and end")
        target = cls(**{k: v for k, v in data.items() if k != "id"})
        target.check()
        if "id" in data and data["id"] != target.id:
            raise TargetError(f"target id {data['id']!r} does not match its fields "
                              f"({target.id!r})")
        return target

    def check(self) -> None:
        """Check the fields (not the dates against today: see :meth:`check_open`).

        Raises
        ------
        TargetError
            Naming the field.
        """
        if self.kind not in TARGET_KINDS:
            raise TargetError(f"unknown target kind {self.kind!r}; one of "
                              f"{', '.join(TARGET_KINDS)}")
        start, end = _day(self.start, "window start"), _day(self.end, "window end")
        if end < start:
            raise TargetError(f"the window ends ({self.end}) before it starts ({self.start})")
        if not 1 <= self.count <= MAX_COUNT:
            raise TargetError(f"count {self.count} must be 1 to {MAX_COUNT}")
        if self.kind == "median_speed":
            first, last = parse_date(self.start[:7])
            if (start, end) != (first, last):
                raise TargetError("a median_speed window is one calendar month")
        if self.kind == "best_benchmark" and not self.benchmark.strip():
            raise TargetError("a best_benchmark target needs --benchmark (a ledger metric)")
        if self.kind != "best_benchmark" and self.benchmark:
            raise TargetError(f"--benchmark is for best_benchmark, not {self.kind}")
        if self.kind == "ledger":
            self._check_ledger(start, end)
        elif self.obs_kind or self.subject or self.metric or self.date or self.unit or \
                self.status or self.confidence:
            raise TargetError(f"--kind, --subject, --metric, --unit, --status and "
                              f"--confidence describe a ledger target, not {self.kind}")
        if any(c in self.why for c in "\n\r"):
            raise TargetError("why must be one line")

    def _check_ledger(self, start: date, end: date) -> None:
        if self.count != 1:
            raise TargetError("a ledger target is one row (no --count)")
        if not self.subject.strip():
            raise TargetError("a ledger target needs --subject")
        if self.obs_kind in PAIRED_KINDS:
            raise TargetError(f"the model reads {self.obs_kind} rows only paired with a "
                              "model's other counts (tokens per parameter): it cannot predict "
                              "one alone")
        try:
            first, last = parse_date(self.date)
        except ValueError as err:
            raise TargetError(f"--date: {err}") from None
        if (first, last) != (start, end):
            raise TargetError("a ledger target's window is the period of its date")
        row = self.synthetic_row("check", self.date)
        problems = [p for p in validate_row(row) if p.field != "id"]
        if problems:
            raise TargetError(f"the target's row is not a valid ledger row: {problems[0]}")
        if self.status == "forecast":
            raise TargetError("a forecast row is a belief, not a fact that can settle a target")

    def check_open(self, today: date) -> None:
        """Refuse a target that can no longer be pre-registered on ``today``.

        A window that has closed is in the past. An aggregate's window must not have begun:
        rows already in it would be known when it is registered.

        Raises
        ------
        TargetError
        """
        start, end = self.window
        if end < today:
            raise TargetError(f"the window of {self.id} closed on {self.end}, before today "
                              f"({_iso(today)}): a prediction is registered before its fact")
        if self.kind in AGGREGATE_KINDS and start <= today:
            raise TargetError(f"the window of {self.id} began on {self.start} (today is "
                              f"{_iso(today)}): register a {self.kind} target before its "
                              "window opens (--start after today)")

    # -- the model's side: synthetic rows ------------------------------------------------

    def synthetic_row(self, row_id: str, when: str, **fields: str) -> dict[str, str]:
        """One synthetic ledger row of this target dated ``when`` (never stored)."""
        if self.kind == "ledger":
            kind, unit = self.obs_kind, self.unit or _default_unit(self.obs_kind)
            values = {"kind": kind, "subject": self.subject, "metric": self.metric,
                      "unit": unit, "status": self.status or "measured",
                      "confidence": self.confidence}
        else:
            status, confidence = AGGREGATE_STATUS[self.kind]
            kind = AGGREGATE_ROW_KIND[self.kind]
            unit = {"max_compute": "FLOP", "median_speed": "tokens/s",
                    "best_benchmark": "%"}[self.kind]
            values = {"kind": kind, "unit": unit, "status": status, "confidence": confidence,
                      "metric": self.benchmark}
        row = dict.fromkeys(FIELDS, "")
        row.update(values)
        row.update(id=row_id, date=when, value=neutral_value(kind, unit),
                   source=SYNTHETIC_SOURCE, added=when)
        row.update(fields)
        return row

    def rows(self, prefix: str, reasoning: bool = False
             ) -> tuple[list[dict[str, str]], list[str]]:
        """The synthetic ledger rows the model predicts for this target.

        Parameters
        ----------
        prefix : str
            Id prefix of the rows (unique per target in one call).
        reasoning : bool
            Whether a ``best_benchmark``'s systems are of the reasoning regime (o1-style):
            they are when the run's ledger holds a reasoning system.

        Returns
        -------
        (list of dict, list of str)
            Every row to add to the ledger, and the ids of those whose predictive makes the
            target (a served alias's first reading is a row of its own that sets its age but
            is not read in the month).
        """
        start, end = self.window
        if self.kind == "ledger":
            return [self.synthetic_row(f"{prefix}:0", self.date)], [f"{prefix}:0"]
        rows, read = [], []
        span = (end - start).days
        for k in range(self.count):
            when = start + timedelta(days=round(span * (k + 0.5) / self.count))
            rid = f"{prefix}:{k}"
            if self.kind == "median_speed":
                alias = f"pre-registered alias {k + 1} of {self.id}"
                age = ALIAS_AGE_MONTHS * (k + 0.5) / self.count
                first = start + timedelta(days=14) - timedelta(days=round(age * 365.25 / 12))
                rows.append(self.synthetic_row(f"{rid}:first", _iso(first), subject=alias,
                                               metric=ALIAS_METRIC))
                rows.append(self.synthetic_row(rid, self.start[:7], subject=alias,
                                               metric=ALIAS_METRIC))
            elif self.kind == "best_benchmark":
                name = f"pre-registered system {k + 1}" + (" (reasoning)" if reasoning else "")
                rows.append(self.synthetic_row(rid, _iso(when), subject=name))
            else:
                rows.append(self.synthetic_row(rid, _iso(when),
                                               subject=f"pre-registered model {k + 1}"))
            read.append(rid)
        return rows, read

    def may_settle(self, row: dict[str, str]) -> bool:
        """Whether a ledger row could settle this target (its kind, its date, a fact).

        A cheap filter before the rows are read into the model's terms (:func:`resolve`
        applies the rest): for a ledger target also the subject and metric, for a
        ``best_benchmark`` the benchmark.
        """
        kind = self.obs_kind if self.kind == "ledger" else AGGREGATE_ROW_KIND[self.kind]
        if row.get("kind") != kind or row.get("status") == "forecast" or \
                not _in_window(row.get("date", ""), *self.window):
            return False
        if self.kind == "best_benchmark":
            return _same(row.get("metric", ""), self.benchmark)
        if self.kind == "ledger":
            return _same(row.get("subject", ""), self.subject) and \
                _same(row.get("metric", ""), self.metric)
        return True

    def term(self) -> str | None:
        """The likelihood term an aggregate's rows fall in.

        None for a ledger target: its term depends on the row, and is found when it is
        registered.
        """
        return AGGREGATE_TERM.get(self.kind)

    def aggregate(self, draws: np.ndarray) -> np.ndarray:
        """The target's value per draw from its rows' draws (rows x draws).

        Parameters
        ----------
        draws : numpy.ndarray
            One row per synthetic row read (:meth:`rows`), one column per draw.

        Returns
        -------
        numpy.ndarray
            One value per draw: the maximum (compute, benchmark), the median (speed), or the
            one row's value.
        """
        draws = np.atleast_2d(np.asarray(draws, dtype=float))
        if self.kind == "median_speed":
            return np.median(draws, axis=0)
        return np.max(draws, axis=0)


def _default_unit(kind: str) -> str:
    """The base unit of the first dimension a kind's rows measure."""
    return DIMENSIONS[KINDS[kind][0]].base if kind in KINDS else ""


def neutral_value(kind: str, unit: str) -> str:
    """A plausible value for a synthetic row (its value never matters: it is predicted).

    The geometric middle of the kind's plausible range (``observations/schema.py``
    ``PLAUSIBLE``) for positive ranges, the arithmetic middle otherwise, in ``unit``.
    """
    if unit not in UNITS:
        return "1"
    dim = UNITS[unit].dimension
    rule = PLAUSIBLE.get((kind, dim))
    if rule is None:
        base = 1.0
    elif rule.low > 0:
        base = math.sqrt(rule.low * rule.high)
    else:
        base = (rule.low + rule.high) / 2
    return f"{base / to_base(1.0, unit):.6g}"


# -- the ledger's side: resolution ---------------------------------------------------------


@dataclass(frozen=True)
class Settled:
    """What settled a target: its value on the model's scale, and the rows it came from."""

    value: float
    rows: tuple[str, ...]


def _same(a: str, b: str) -> bool:
    """Two subjects (or metrics) name the same thing: equal but for case and spaces."""
    return a.strip().casefold() == b.strip().casefold()


def _in_window(date_text: str, start: date, end: date) -> bool:
    try:
        first, last = parse_date(date_text)
    except ValueError:
        return False
    return first >= start and last <= end


def resolve(target: Target, term: str, registered: date, today: date, frame: pd.DataFrame,
            table: pd.DataFrame) -> Settled | None:
    """The ledger's answer to a target, or None while it is open.

    Parameters
    ----------
    target : Target
        The target.
    term : str
        The likelihood term of its synthetic rows (stored with the prediction).
    registered : datetime.date
        The day the prediction was registered: only rows added on or after it count.
    today : datetime.date
        An aggregate resolves only :data:`SETTLE_AFTER_DAYS` after its window's last day.
    frame : pandas.DataFrame
        The current ledger's rows (:func:`gpt2030.observations.observation_frame`), removed
        ones left out.
    table : pandas.DataFrame
        Its term table (:func:`gpt2030.inference.backtest._term_table` of its evidence):
        ``id, term, y, series, bound``.

    Returns
    -------
    Settled or None
    """
    from gpt2030.models.evidence import POINT

    start, end = target.window
    if target.kind in AGGREGATE_KINDS and today <= end + timedelta(days=SETTLE_AFTER_DAYS):
        return None
    rows = table[(table["term"] == term) & (table["bound"] == POINT)]
    if rows.empty:
        return None
    info = frame.loc[rows.index]
    keep = [i for i in rows.index
            if _in_window(str(info.at[i, "date"]), start, end)
            and str(info.at[i, "status"]) != "forecast"
            and _added_on_or_after(str(info.at[i, "added"]), registered)]
    rows = rows.loc[keep]
    if target.kind == "median_speed":
        rows = rows[rows["series"].astype(str).str.startswith("alias:")]
    elif target.kind in ("best_benchmark", "ledger"):
        rows = rows[[target.may_settle({f: str(info.at[i, f]) for f in
                                        ("kind", "status", "date", "subject", "metric")})
                     for i in rows.index]]
    if rows.empty:
        return None
    if target.kind == "median_speed":
        per_alias = rows.groupby("series")["y"].median()
        ids = tuple(sorted(rows.index.astype(str)))
        return Settled(float(np.median(per_alias.to_numpy())), ids)
    if target.kind == "ledger":
        order = sorted(rows.index, key=lambda i: (decimal_year(str(info.at[i, "date"])), i))
        first = order[0]
        return Settled(float(rows.at[first, "y"]), (str(first),))
    best = rows["y"].astype(float).idxmax()
    return Settled(float(rows.at[best, "y"]), tuple(sorted(rows.index.astype(str))))


def _added_on_or_after(text: str, registered: date) -> bool:
    try:
        return parse_date(text)[0] >= registered
    except ValueError:
        return False


# -- the shipped targets -----------------------------------------------------------------


def _year(kind: str, year: int, why: str, benchmark: str = "") -> Target:
    return Target(kind, f"{year}-01-01", f"{year}-12-31", DEFAULT_COUNT[kind],
                  benchmark=benchmark, why=why)


def _month(month: str, why: str) -> Target:
    first, last = parse_date(month)
    return Target("median_speed", _iso(first), _iso(last), DEFAULT_COUNT["median_speed"],
                  why=why)


#: The targets ``update`` registers for every run of the default config, chosen for what the
#: essay's argument rests on. An aggregate is registered only while its window has not opened,
#: so the set's early targets drop out as time passes and the later ones stay.
SHIPPED_TARGETS: tuple[Target, ...] = (
    _month("2026-12", "served speed, the essay's '5x human' link: the first month the "
           "pre-registered record can check"),
    _year("max_compute", 2027, "frontier compute, the chain's first link: the record must grow "
          "~0.5 dex a year to reach the essay's 1e28 FLOP in 2030"),
    _year("best_benchmark", 2027, "graduate-level science questions: the benchmark curve and "
          "the reasoning regime that the capability forecasts extrapolate",
          benchmark="GPQA Diamond"),
    _year("best_benchmark", 2027, "research-level mathematics (the essay's 'math research' "
          "capability): far from saturated, so it tests the slope, not the ceiling",
          benchmark="FrontierMath Tiers 1-3"),
    _month("2027-12", "served speed a year on: whether serving software and bandwidth keep "
           "lifting the frontier's tokens/s"),
    Target("ledger", "2027-01-01", "2027-12-31", obs_kind="data_stock",
           subject="Human-generated public text", metric="effective_stock", date="2027",
           unit="tokens", status="estimate",
           why="the data link: whether data runs out by 2030 rests on one 2024 estimate of "
           "the effective stock (Villalobos et al. 2024); a new estimate tests it"),
    _year("max_compute", 2028, "frontier compute: whether the growth holds through the "
          "2028 power and chip constraints (Sevilla et al. 2024)"),
    _month("2028-12", "served speed: the trend the 2030 speed forecast extrapolates"),
    _year("max_compute", 2029, "frontier compute a year before the essay's horizon"),
    _year("best_benchmark", 2029, "research-level mathematics two years further on",
          benchmark="FrontierMath Tiers 1-3"),
    _year("max_compute", 2030, "the essay's headline input: ~1e28 FLOP for the 2030 frontier "
          "run (Appendix B)"),
    _month("2030-06", "the essay's speed claim (5x human, 125x with the trade) is about "
           "2030's serving speed"),
)


def shipped_open(today: date) -> tuple[list[Target], list[tuple[Target, str]]]:
    """The shipped targets that can be registered on ``today``, and the others with why not.

    Parameters
    ----------
    today : datetime.date
        The registration day.

    Returns
    -------
    (list of Target, list of (Target, str))
    """
    open_, closed = [], []
    for target in SHIPPED_TARGETS:
        try:
            target.check_open(today)
        except TargetError as err:
            closed.append((target, str(err)))
        else:
            open_.append(target)
    return open_, closed

