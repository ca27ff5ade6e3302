"""From ledger rows to the arrays each likelihood term of the model needs.

Pure: a typed observation frame in (see :func:`gpt2030.observations.observation_frame`),
plain NumPy arrays out, and for every ledger row the *role* it plays: which likelihood term
it conditions, or why it does not (context the model has no link for, a forecast while
forecasts are switched off, a duplicate of information another row already carries).

The mapping is one table, :data:`RULES`: the first rule whose kind and test match a row
decides its term (or the reason it is context) and how its value is read. Pairings that
need several rows (tokens per parameter: a model's active parameters with its tokens or its
compute) and the order of a served model's readings (its series) are resolved after it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Collection
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.stats import norm

from gpt2030.models.priors import (
    BENCHMARK_STATUS_SIGMA,
    CONFIDENCE_SIGMA,
    HUMAN_SPEED_SIGMA_FLOOR,
    SCALING_CONSTANT_SIGMA_FLOOR,
    STATUS_SIGMA,
)
from gpt2030.observations.schema import INTERVALS

#: A benchmark share is read as at least 0.5% and at most 99.5% before its logit is taken
#: (a perfect or a zero score has no logit); pre-registered predictions of scores are
#: censored at the same limits, so that a forecast and its fact are compared alike.
SHARE_LIMITS = (0.005, 0.995)
#: ``bound`` codes of the arrays: a value, "more than" (``lower``), "under" (``upper``).
POINT, MORE_THAN, UNDER = 0, 1, -1
_BOUND = {"lower": MORE_THAN, "upper": UNDER}

#: Benchmarks that are variants of one task: they share the task's latent capability and
#: differ by a per-variant offset (MATH-500 is a subset of MATH's test set, Lightman et al.
#: 2023; Level 5 is MATH's hardest level, Hendrycks et al. 2021). The first is the reference.
TASK_VARIANTS: dict[str, tuple[str, ...]] = {"MATH": ("MATH", "MATH-500", "MATH Level 5")}

#: Systems that spend inference compute on a chain of thought before answering (o1-style):
#: a regime of their own on the benchmark curves, not one more point on the old one.
REASONING_SYSTEM = re.compile(r"(^|[\s(/-])(o1|o3|o4|r1|qwq)([\s)/-]|$)|reasoning|thinking",
                              re.IGNORECASE)


def _z(coverage: float) -> float:
    """Standard-normal quantile of the upper end of a central interval of ``coverage``."""
    return float(norm.ppf(0.5 + coverage / 2))


@dataclass
class Term:
    """The data of one likelihood term: observation ids and aligned arrays."""

    ids: list[str] = field(default_factory=list)
    arrays: dict[str, list] = field(default_factory=dict)

    def add(self, obs_id: str, **values: object) -> None:
        """Append one observation's values (every call gives the same names)."""
        self.ids.append(obs_id)
        for k, v in values.items():
            self.arrays.setdefault(k, []).append(v)

    def __len__(self) -> int:
        """The number of rows in the term."""
        return len(self.ids)

    def array(self, name: str, dtype: type = float) -> np.ndarray:
        """One aligned array, as ``dtype``."""
        return np.asarray(self.arrays.get(name, []), dtype=dtype)


@dataclass
class Evidence:
    """Everything the model conditions on, term by term, and each row's role.

    ``tasks`` and ``benchmarks`` (the variants, each with its task in ``benchmark_task``)
    label the benchmark vectors; ``speed_settings`` (``api`` first) and ``speed_aliases``
    (served models) label the serving-speed vectors.
    """

    terms: dict[str, Term]
    roles: pd.Series  # index: ledger id; value: term name or "context: why"
    benchmarks: list[str]
    benchmark_task: list[int]
    tasks: list[str]
    speed_settings: list[str]
    speed_aliases: list[str]
    reasoning_since: float | None = None  # date of the first reasoning system's score

    def term(self, name: str) -> Term:
        """The named term (empty when no row falls in it)."""
        return self.terms.get(name) or Term()


def log10_sigma(row: pd.Series) -> float:
    """One-sigma error, in dex, of a log-scale observation.

    From its stated interval where it has one (the interval's log-width over the width of
    the same central interval of a normal), else from its status and, for Epoch's
    estimates, its confidence label (see :mod:`gpt2030.models.priors`).
    """
    if not math.isnan(row["low_base"]) and not math.isnan(row["high_base"]):
        z = _z(INTERVALS[row["interval"]])
        width = math.log10(row["high_base"]) - math.log10(row["low_base"])
        if width > 0:
            return max(width / (2 * z), 0.01)
    if row["status"] == "estimate" and row["confidence"] in CONFIDENCE_SIGMA:
        return CONFIDENCE_SIGMA[row["confidence"]]
    return STATUS_SIGMA[row["status"]]


def compute_sigma(row: pd.Series) -> float:
    """Error (dex) of a training-compute figure: never below an estimate's.

    Every FLOP count is an estimate, the developer's included (hardware utilisation and the
    runs that preceded the final one are rarely reported), so "official" is not 0.03 dex.
    """
    return max(log10_sigma(row), CONFIDENCE_SIGMA["confident"])


def linear_sigma(row: pd.Series, default: float) -> float:
    """One-sigma error on the value's own scale, from its interval or ``default``."""
    if not math.isnan(row["low_base"]) and not math.isnan(row["high_base"]):
        z = _z(INTERVALS[row["interval"]])
        return max((row["high_base"] - row["low_base"]) / (2 * z), 1e-6)
    return default


_SIZE = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?)\s*([mbt])(?![a-z])", re.IGNORECASE)
_SCALE = {"m": 1e6, "b": 1e9, "t": 1e12}


def parameters_in_name(name: str) -> float:
    """The parameter count written in a model's name (``pythia-410m`` -> 4.1e8), or NaN."""
    m = _SIZE.search(name)
    return float(m[1]) * _SCALE[m[2].lower()] if m else math.nan


def speed_setting(metric: str) -> str:
    """Group a speed measurement's setting: ``api`` (a served model) or the hardware used.

    The frontier model reaches users through APIs; the API setting is the reference
    (offset 0) and every other setting (one GPU, wafer-scale chips) gets its own offset.
    """
    text = metric.casefold()
    if "cerebras" in text:
        return "cerebras"
    if re.search(r"\b8x\b|8-way", text):
        return "8x_gpu"
    if re.search(r"\b1x\b|single", text) or "deepspeed" in text or "fastertransformer" in text:
        return "1x_gpu"
    return "api"


def benchmark_task(metric: str) -> str:
    """The task a benchmark measures (its variants share one latent capability)."""
    for task, variants in TASK_VARIANTS.items():
        if metric in variants:
            return task
    return metric


def is_reasoning_system(subject: str) -> bool:
    """Whether a system is of the reasoning regime (o1-style chain of thought at test time)."""
    return bool(REASONING_SYSTEM.search(subject))


def _bound(row: pd.Series) -> int:
    return _BOUND.get(row["bound"], POINT)


# -- the table: which rows condition which term --------------------------------------------

@dataclass(frozen=True)
class Rule:
    """Rows of ``kind`` for which ``test`` holds go to ``term`` (or are context: ``why``)."""

    kind: str
    test: Callable[[pd.Series], bool]
    term: str | None = None  # None: the row is context
    why: str = ""


def _metric(*names: str) -> Callable[[pd.Series], bool]:
    return lambda r: r["metric"].casefold() in names


def _not_forecast(r: pd.Series) -> bool:
    return r["status"] != "forecast"


def _essay_text(r: pd.Series) -> bool:
    return "essay text" in r["metric"].casefold()


def _is_kaplan(r: pd.Series) -> bool:
    return r["metric"] == "a" and "kaplan" in r["subject"].casefold()


def _human_system(r: pd.Series) -> bool:
    return r["subject"].casefold().startswith("human")


def _score(r: pd.Series) -> bool:
    return _not_forecast(r) and r["dimension"] in ("share", "percentile")


#: The evidence mapping. Order matters: the first matching rule wins; a row no rule matches
#: is context ("no link in the model for this quantity").
RULES: tuple[Rule, ...] = (
    Rule("training_compute", _not_forecast, "compute"),
    Rule("parameters", _not_forecast, "pairing"),
    Rule("training_tokens", _not_forecast, "pairing"),
    Rule("compute_projection", _metric("training_compute"), "compute_forecast"),
    Rule("scaling_constant", _is_kaplan, None,
         "Kaplan et al. 2020's exponent, superseded by Hoffmann et al. 2022 (learning-rate "
         "schedules not tuned per run)"),
    Rule("scaling_constant", lambda r: r["metric"] == "a", "scaling_exponent"),
    Rule("scaling_constant", _metric("tokens_per_parameter"), "optimal_ratio"),
    Rule("scaling_constant", _metric("training_duration"), "training_duration"),
    Rule("data_stock", lambda r: _not_forecast(r) and r["metric"] == "effective_stock",
         "data_stock"),
    Rule("hardware", lambda r: _not_forecast(r) and r["dimension"] == "bandwidth", "bandwidth"),
    Rule("inference_speed", _essay_text, None,
         "restates a row of the essay's Table 1 in words per minute"),
    Rule("inference_speed", _not_forecast, "speed"),
    Rule("human_speed", lambda r: (r["unit"] == "words/min" and "inner speech" in
                                   r["metric"].casefold()
                                   and "extended" not in r["metric"].casefold()),
         "human_speed"),
    Rule("benchmark_score", lambda r: "gain" in r["metric"].casefold(), None,
         "a gain between two systems, not a score"),
    Rule("benchmark_score", lambda r: _score(r) and _human_system(r), None,
         "a human baseline, not a system's score"),
    Rule("benchmark_score", _score, "benchmark"),
)


def _rule_for(row: pd.Series) -> Rule | None:
    for rule in RULES:
        if rule.kind == row["kind"] and rule.test(row):
            return rule
    return None


class _Builder:
    """Collects terms and roles while the rows are read (one instance per call)."""

    def __init__(self) -> None:
        self.terms: dict[str, Term] = {}
        self.roles: dict[str, str] = {}
        self.benchmarks: list[str] = []
        self.tasks: list[str] = []
        self.settings: list[str] = ["api"]
        self.aliases: list[str] = []

    def use(self, term: str, row: pd.Series, **values: object) -> None:
        self.terms.setdefault(term, Term()).add(row["id"], **values)
        self.roles[row["id"]] = term

    def skip(self, row: pd.Series, why: str) -> None:
        self.roles[row["id"]] = f"context: {why}"

    @staticmethod
    def index(names: list[str], name: str) -> int:
        if name not in names:
            names.append(name)
        return names.index(name)


def _read(b: _Builder, term: str, row: pd.Series, expert_forecasts: bool) -> None:
    """Read one row into its term (the per-term part of the table)."""
    bound = _bound(row)
    if term == "compute":
        b.use(term, row, t=row["t"], y=math.log10(row["value_base"]), meas=compute_sigma(row),
              bound=bound, series="compute")
    elif term == "compute_forecast":
        if not expert_forecasts:
            b.skip(row, "expert forecast (switched off; config with_forecasts uses it)")
            return
        b.use(term, row, t=row["t_target"], y=math.log10(row["value_base"]),
              meas=log10_sigma(row), bound=bound, series="compute_forecast")
    elif term == "scaling_exponent":
        sigma = math.hypot(linear_sigma(row, 0.03), SCALING_CONSTANT_SIGMA_FLOOR)
        b.use(term, row, y=row["value_base"], meas=sigma, bound=bound, series=term)
    elif term == "optimal_ratio":
        b.use(term, row, y=math.log10(row["value_base"]), meas=max(log10_sigma(row), 0.05),
              bound=bound, series=term)
    elif term == "training_duration":
        b.use(term, row, t=row["t"], y=math.log10(row["value_base"] / 12.0),
              meas=log10_sigma(row), bound=bound, series=term)
    elif term == "data_stock":
        b.use(term, row, t=row["t"], y=math.log10(row["value_base"]), meas=log10_sigma(row),
              bound=bound, series=term)
    elif term == "bandwidth":
        b.use(term, row, t=row["t"], y=math.log10(row["value_base"]), meas=log10_sigma(row),
              bound=bound, series=term)
    elif term == "human_speed":
        # A floor of 0.1 dex: one small study of inner speech, however exactly reported.
        b.use(term, row, y=math.log10(float(row["value"])),
              meas=max(log10_sigma(row), HUMAN_SPEED_SIGMA_FLOOR), bound=bound, series=term)
    elif term == "speed":
        _read_speed(b, row, bound)
    elif term == "benchmark":
        share = row["value_base"] / (100.0 if row["dimension"] == "percentile" else 1.0)
        share = min(max(share, SHARE_LIMITS[0]), SHARE_LIMITS[1])
        variant = b.index(b.benchmarks, row["metric"])
        b.index(b.tasks, benchmark_task(row["metric"]))
        b.use(term, row, t=row["t"], y=math.log(share / (1 - share)), benchmark=variant,
              reasoning=int(is_reasoning_system(row["subject"])),
              meas=BENCHMARK_STATUS_SIGMA[row["status"]], bound=bound,
              series=f"benchmark:{row['metric']}")


def _read_speed(b: _Builder, row: pd.Series, bound: int) -> None:
    setting = speed_setting(row["metric"])
    size = parameters_in_name(row["subject"])
    known = setting != "api" and not math.isnan(size)
    if setting != "api" and not known:
        b.skip(row, "a non-API speed for a model of unknown size")
        return
    alias = "" if known else row["subject"].casefold()
    setting_idx = b.index(b.settings, setting)
    alias_idx = b.index(b.aliases, alias) if alias else -1
    b.use("speed", row, t=row["t"], y=math.log10(row["value_base"]), meas=log10_sigma(row),
          bound=bound, setting=setting_idx, alias=alias_idx,
          log_size=math.log10(size) if known else math.nan,
          series=f"alias:{alias}" if alias else f"setting:{setting}")


def _pair_tokens_per_param(b: _Builder, frame: pd.DataFrame) -> None:
    """Tokens per active parameter of each model with a parameter count and a token count.

    A mixture-of-experts model's ``active`` parameters (used per token) are the ones that
    enter C = 6ND and the compute-optimal ratio; a ``total`` count is its size in memory.
    A model with only a total count is dense (active = total). Tokens seen beat a dataset
    size (a dataset can be used for several epochs); without a token count, C = 6ND gives
    the tokens from the model's compute.
    """
    # Plain records, grouped once: pandas' per-subject filtering cost ~0.3 s a call, and
    # the evidence is prepared several times in one update.
    records = frame.to_dict("records")
    pairing: dict[str, list[dict]] = {}
    compute_of: dict[str, dict] = {}
    for r in records:
        if b.roles.get(r["id"]) == "pairing":
            pairing.setdefault(r["subject"], []).append(r)
        if r["kind"] == "training_compute" and r["status"] != "forecast":
            compute_of.setdefault(r["subject"], r)  # the first, in the frame's order

    def first(group: list[dict], preferred: list[dict]) -> dict | None:
        return (preferred or group)[0] if group else None

    for subject, group in pairing.items():
        params = [r for r in group if r["kind"] == "parameters"]
        tokens = [r for r in group if r["kind"] == "training_tokens"]
        prow = first(params, [r for r in params if r["metric"].casefold() == "active"])
        for r in params:
            if prow is not None and r["id"] != prow["id"]:
                b.skip(r, "the model's total parameters; its active parameters are used")
        trow = first(tokens, [r for r in tokens if "seen" in r["metric"].casefold()])
        for r in tokens:
            if trow is not None and r["id"] != trow["id"]:
                b.skip(r, "another token count of this model (tokens seen) is used")
        crow = compute_of.get(subject)
        if prow is None:
            b.skip(trow, "no parameter count for this model to pair with")
            continue
        if crow is None:
            for r in (prow, trow):
                if r is not None:
                    b.skip(r, "no training compute for this model")
            continue
        if trow is not None:
            ratio = trow["value_base"] / prow["value_base"]
            meas = math.hypot(log10_sigma(trow), log10_sigma(prow))
        else:
            ratio = crow["value_base"] / (6 * prow["value_base"] ** 2)
            meas = math.hypot(compute_sigma(crow), 2 * log10_sigma(prow))
        b.use("tokens_per_param", prow, t=prow["t"], y=math.log10(ratio), meas=meas,
              log_compute=math.log10(crow["value_base"]), bound=POINT,
              series=f"model:{subject}")
        if trow is not None:
            b.roles[trow["id"]] = "tokens_per_param"


def _speed_series(term: Term, known: Collection[str] | None) -> None:
    """Each reading's predecessor in its series (index, or -1) and the years since it.

    A served model's readings are one series with autocorrelated deviations (the same
    deployment measured month after month), so each reading is conditioned on the one
    before it. Bounds never serve as a predecessor. With ``known`` (a backtest), only those
    rows can be predecessors: a later reading is forecast from what was known.
    """
    n = len(term)
    prev = np.full(n, -1, dtype=int)
    gap = np.zeros(n)
    series = term.arrays.get("series", [])
    t = term.array("t")
    bound = term.array("bound", int)
    order = sorted(range(n), key=lambda i: (series[i], t[i], term.ids[i]))
    last: dict[str, int] = {}
    for i in order:
        if not series[i].startswith("alias:") or bound[i] != POINT:
            continue
        j = last.get(series[i])
        if j is not None and t[i] > t[j]:
            prev[i], gap[i] = j, t[i] - t[j]
        if known is None or term.ids[i] in known:
            last[series[i]] = i
    term.arrays["prev"] = prev.tolist()
    term.arrays["gap"] = gap.tolist()


def prepare_evidence(frame: pd.DataFrame, expert_forecasts: bool = False,
                     known: Collection[str] | None = None) -> Evidence:
    """Sort the ledger's rows into the model's likelihood terms (see :data:`RULES`).

    Parameters
    ----------
    frame : pandas.DataFrame
        Typed observations (:func:`gpt2030.observations.observation_frame`).
    expert_forecasts : bool
        Whether forecasts of frontier compute condition the model.
    known : collection of str, optional
        Ids known when forecasting (a backtest's training rows): a served model's reading is
        conditioned only on earlier readings among them. All rows when omitted.

    Returns
    -------
    Evidence
    """
    b = _Builder()
    for _, row in frame.iterrows():
        rule = _rule_for(row)
        if rule is None:
            b.skip(row, "a forecast the model has no link for" if row["status"] == "forecast"
                   else "no link in the model for this quantity")
        elif rule.term is None:
            b.skip(row, rule.why)
        elif rule.term == "pairing":
            b.roles[row["id"]] = "pairing"
        else:
            _read(b, rule.term, row, expert_forecasts)
    _pair_tokens_per_param(b, frame)
    for obs_id, role in list(b.roles.items()):
        if role == "pairing":  # a parameter or token row no rule above could pair
            b.roles[obs_id] = "context: no token count or compute for this model to pair with"
    if "speed" in b.terms:
        _speed_series(b.terms["speed"], known)
    bench = b.terms.get("benchmark")
    reasoning_since = None
    if bench is not None:
        flags = bench.array("reasoning", int).astype(bool)
        if flags.any():
            reasoning_since = float(bench.array("t")[flags].min())
    return Evidence(
        terms=b.terms,
        roles=pd.Series(b.roles, name="role").reindex(frame.index),
        benchmarks=b.benchmarks,
        benchmark_task=[b.tasks.index(benchmark_task(v)) for v in b.benchmarks],
        tasks=b.tasks,
        speed_settings=b.settings,
        speed_aliases=b.aliases,
        reasoning_since=reasoning_since,
    )


# -- hypothetical observations (value of information) --------------------------------------

@dataclass(frozen=True)
class Hypothetical:
    """An observation not yet made: a real row of a term, copied to a new date and error.

    ``template`` is the id of a real row of ``term`` whose other fields (a served model, a
    benchmark, a serving setting, a model's compute) the new row shares; ``t`` is its
    decimal year (ignored by terms without a date), ``meas`` its measurement error in the
    term's units and ``y`` a placeholder value (the caller sets the simulated one).
    ``fields`` overrides any other array of the term (e.g. ``log_compute``).
    """

    term: str
    id: str
    template: str
    meas: float
    y: float
    t: float | None = None
    fields: tuple[tuple[str, float], ...] = ()


def with_hypothetical(ev: Evidence, rows: Collection[Hypothetical]) -> Evidence:
    """A copy of ``ev`` with hypothetical rows appended to their terms.

    Each new row is read like a new observation of its kind: a served model's reading is
    conditioned on the model's last real reading before it, and a hypothetical row is
    never the predecessor of another, so copies of one row are independent given the
    parameters. No new served model, benchmark or setting is introduced (every row copies
    a real one), so the model built from the copy has the same parameters.

    Parameters
    ----------
    ev : Evidence
        The evidence of real rows (left unchanged).
    rows : collection of Hypothetical
        The rows to append, in order.

    Returns
    -------
    Evidence

    Raises
    ------
    KeyError
        A row's term is absent from ``ev``, or its template is not a row of that term.
    """
    real = {name: set(term.ids) for name, term in ev.terms.items()}
    terms = {name: Term(list(term.ids), {k: list(v) for k, v in term.arrays.items()})
             for name, term in ev.terms.items()}
    for row in rows:
        term = terms[row.term]
        i = term.ids.index(row.template) if row.template in real[row.term] else None
        if i is None:
            raise KeyError(f"{row.template!r} is not a row of the {row.term} term")
        values = {k: v[i] for k, v in term.arrays.items() if k not in ("prev", "gap")}
        values.update(meas=row.meas, y=row.y, bound=POINT, **dict(row.fields))
        if row.t is not None and "t" in values:
            values["t"] = row.t
        term.ids.append(row.id)
        for k, v in values.items():
            term.arrays[k].append(v)
    if "speed" in terms and any(r.term == "speed" for r in rows):
        _speed_series(terms["speed"], real["speed"])
    return Evidence(terms=terms, roles=ev.roles, benchmarks=list(ev.benchmarks),
                    benchmark_task=list(ev.benchmark_task), tasks=list(ev.tasks),
                    speed_settings=list(ev.speed_settings),
                    speed_aliases=list(ev.speed_aliases), reasoning_since=ev.reasoning_since)
