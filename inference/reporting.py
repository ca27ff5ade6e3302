"""What a report shows about a run, computed here so that ``reports/`` only renders.

The report of a run must describe *that* run: its configuration, its priors with their
sources, the fixed conversions of the chain, the units of its evidence. :func:`report_context`
gathers them into typed values, reading each from the stored run where the run holds it and,
for what runs made before 2026-11-28 did not store (prior sources, the constants and their
comments), from this installation's model, saying so (``ReportContext.from_today``).
``reports/`` imports this module
and :mod:`gpt2030.inference.forecast`, never ``gpt2030.models`` or ``gpt2030.observations``.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from gpt2030.inference.diagnostics import free_parameters, quiet_arviz
from gpt2030.inference.forecast import ESSAY_YEAR, HEADLINES, draws_group, forecast_table
from gpt2030.inference.results import BacktestResult
from gpt2030.inference.runs import PRIOR_DOMINANCE_FILE, Run, model_constants
from gpt2030.inference.runs import Manifest as Manifest  # re-exported for reports/
from gpt2030.models import priors as priors_module
from gpt2030.models.essay import ESSAY_2030, THRESHOLDS, EssayFigure, Threshold
from gpt2030.models.evidence import benchmark_task, speed_setting
from gpt2030.observations import decimal_year, to_base

#: A parameter whose posterior sd is at least this share of its prior sd learned little.
PRIOR_DOMINATED_SD_RATIO = 0.7


@dataclass(frozen=True)
class PriorRow:
    """One prior of a run: as stored, described, and where it comes from."""

    name: str
    description: str
    source: str


@dataclass(frozen=True)
class Constant:
    """A fixed conversion of the chain, its value and the comment that cites it."""

    name: str
    value: float | None
    note: str


@dataclass(frozen=True)
class ReportContext:
    """Everything a report shows about a run besides its draws."""

    manifest: Manifest
    priors: list[PriorRow]
    constants: list[Constant]
    essay_2030: dict[str, EssayFigure]
    thresholds: tuple[Threshold, ...]
    #: what came from this installation's model rather than the stored run
    from_today: tuple[str, ...] = ()


def describe_prior(dist: str, params: dict[str, float]) -> str:
    """``Normal(mu=0.5, sigma=0.15)``: a prior as a reader would write it.

    Parameters
    ----------
    dist : str
        The PyMC distribution's name.
    params : dict
        Its parameters.

    Returns
    -------
    str
    """
    args = ", ".join(f"{k}={float(v):g}" for k, v in params.items())
    return f"{dist}({args})"


def _today_source(config_name: str, name: str) -> str:
    config = priors_module.CONFIGS.get(config_name)
    prior = (config.priors.get(name) if config else None) or \
        priors_module.DEFAULT_PRIORS.get(name)
    return prior.source if prior else ""


def report_context(run: Run) -> ReportContext:
    """The typed context of a run's report (see the module's docstring).

    Parameters
    ----------
    run : Run
        A stored run.

    Returns
    -------
    ReportContext
    """
    return manifest_context(run.manifest)


def manifest_context(manifest_dict: dict) -> ReportContext:
    """:func:`report_context` from a run's manifest alone (a run not saved yet included).

    Parameters
    ----------
    manifest_dict : dict
        A run's manifest (``manifest.json``).

    Returns
    -------
    ReportContext
    """
    manifest = Manifest.from_dict(manifest_dict)
    from_today: list[str] = []
    priors = []
    for name, spec in manifest.priors.items():
        source = spec.get("source")
        if source is None:
            source = _today_source(manifest.config_name, name)
            if "prior sources" not in from_today:
                from_today.append("prior sources")
        priors.append(PriorRow(name, describe_prior(str(spec.get("dist", "?")),
                                                    spec.get("params") or {}), source))
    stored = manifest.constants
    if stored is None:
        from_today.append("constants")
        stored = model_constants()
    constants = [Constant(str(c["name"]), c.get("value"), str(c.get("note", "")))
                 for c in stored]
    return ReportContext(manifest, priors, constants, dict(ESSAY_2030), tuple(THRESHOLDS),
                         tuple(from_today))


# -- evidence in base units ------------------------------------------------------------------


def _num(text: object) -> float:
    try:
        return float(str(text))
    except ValueError:
        return math.nan


def _dated_value(row: pd.Series) -> tuple[float, float] | None:
    """A row's decimal year and value in its dimension's base unit.

    ``None`` for a row without a number, a readable date or a known unit: the one rule by
    which the report's figures, records and capability history read the evidence.
    """
    value = _num(row["value"])
    if not math.isfinite(value):
        return None
    try:
        return decimal_year(str(row["date"])), to_base(value, str(row["unit"]))
    except (ValueError, KeyError):
        return None


def evidence_points(obs: pd.DataFrame, mask: pd.Series, scale: float = 1.0) -> pd.DataFrame:
    """Rows under ``mask`` as ``t, value, low, high`` in base units (divided by ``scale``).

    Parameters
    ----------
    obs : pandas.DataFrame
        A run's observations (:func:`~gpt2030.inference.runs.observations_from_datatree`).
    mask : pandas.Series
        Which rows.
    scale : float
        A unit to express the values in (1: the base unit).

    Returns
    -------
    pandas.DataFrame
        ``t`` in decimal years; ``low``/``high`` are NaN where the row states no interval.
        Rows without a number, a date or a known unit are left out.
    """
    rows = []
    for _, r in obs[mask].iterrows():
        point = _dated_value(r)
        if point is None:
            continue
        t, base = point
        unit = str(r["unit"])
        low, high = _num(r["low"]) if "low" in r else math.nan, \
            _num(r["high"]) if "high" in r else math.nan
        rows.append({"t": t, "value": base / scale,
                     "low": to_base(low, unit) / scale if math.isfinite(low) else math.nan,
                     "high": to_base(high, unit) / scale if math.isfinite(high) else math.nan})
    return pd.DataFrame(rows, columns=["t", "value", "low", "high"])


def api_speed_rows(obs: pd.DataFrame) -> pd.Series:
    """Speed observations of served models (the API setting), as a mask over ``obs``.

    Parameters
    ----------
    obs : pandas.DataFrame
        A run's observations.

    Returns
    -------
    pandas.Series
        Boolean, aligned with ``obs``.
    """
    return (obs["role"].astype(str) == "speed") & obs["metric"].astype(str).map(
        lambda m: speed_setting(m) == "api")


# -- capabilities and prior dominance --------------------------------------------------------


def capability_probabilities(dt: xr.DataTree, benchmark: str, accuracy: float,
                             years: range = range(2024, 2036)) -> dict[int, float]:
    """P(frontier accuracy on ``benchmark`` >= ``accuracy``) per year, from the run's draws.

    Parameters
    ----------
    dt : xarray.DataTree
        A run with ``benchmark_accuracy`` over ``(benchmark, year)``.
    benchmark : str
        The benchmark.
    accuracy : float
        The threshold, as a fraction.
    years : range
        Years to report (those on the model's grid).

    Returns
    -------
    dict
        ``{year: probability}``.
    """
    da = dt[draws_group(dt)]["benchmark_accuracy"].sel(benchmark=benchmark)
    grid = set(int(y) for y in da["year"].values)
    return {y: float((np.asarray(da.sel(year=y).values) >= accuracy).mean())
            for y in years if y in grid}


def scalar_parameters(dt: xr.DataTree, order: list[str] | None = None) -> list[str]:
    """The sampled scalar parameters of a run, in ``order`` (the stored priors') first.

    Parameters
    ----------
    dt : xarray.DataTree
        A run.
    order : list of str, optional
        Names in the order to list them (the others follow).

    Returns
    -------
    list of str
    """
    group = dt[draws_group(dt)]
    names = free_parameters(dt) if "posterior" in dt.children else list(group.data_vars)
    rank = {n: i for i, n in enumerate(order or [])}
    names = sorted(names, key=lambda n: rank.get(n, len(rank)))
    return [n for n in names if n in group and set(group[n].dims) == {"chain", "draw"}]


def prior_dominance(dt: xr.DataTree, year: int, parameters: list[str],
                    stored: list | None = None) -> pd.DataFrame:
    """How much each scalar parameter and each headline quantity in ``year`` rests on priors.

    Parameters
    ----------
    dt : xarray.DataTree
        A run with ``posterior`` (and ``prior``, ``log_prior``, ``log_likelihood`` where
        stored).
    year : int
        The year of the headline quantities (taken on a log10 scale).
    parameters : list of str
        The scalar parameters, in the order to list them.
    stored : list of Sensitivity, optional
        The run's own power-scaling rows (its diagnostics), which win where they cover a
        parameter.

    Returns
    -------
    pandas.DataFrame
        Indexed by quantity: ``kind`` (parameter or headline), ``sd_ratio`` (posterior sd
        over prior sd; near 1: the data taught little), ``psense_prior``,
        ``psense_likelihood``, ``diagnosis`` (``az.psense_summary``) and ``prior_dominated``
        (sd ratio >= :data:`PRIOR_DOMINATED_SD_RATIO` or a strong prior diagnosed).
    """
    import arviz_stats as azs

    post = dt["posterior"].to_dataset()
    prior = dt["prior"].to_dataset() if "prior" in dt.children else None
    frame = pd.DataFrame(index=pd.Index(parameters + list(HEADLINES), name="quantity"),
                         columns=["kind", "sd_ratio", "psense_prior", "psense_likelihood",
                                  "diagnosis"], dtype=object)
    frame["kind"] = ["parameter"] * len(parameters) + ["headline"] * len(HEADLINES)
    values = {n: post[n] for n in parameters}
    for key, q in HEADLINES.items():
        if q.variable in post:
            values[key] = np.log10(post[q.variable].sel(year=year, drop=True))
    for name, da in values.items():
        src = name if name in parameters else HEADLINES[name].variable
        if prior is not None and src in prior:
            p = prior[src].sel(year=year, drop=True) if "year" in prior[src].dims else prior[src]
            if name not in parameters:
                p = np.log10(p)
            psd = float(np.nanstd(np.asarray(p.values, float)))
            frame.loc[name, "sd_ratio"] = float(np.nanstd(np.asarray(da.values, float))) / psd \
                if psd > 0 else math.nan
    covered = {row.parameter for row in stored or []}
    # The stored rows win where they cover a quantity: power-scale only the others.
    scale = {name: da for name, da in values.items() if name not in covered}
    if scale and {"log_prior", "log_likelihood"} <= set(dt.children):
        sub = xr.DataTree.from_dict({
            "posterior": xr.Dataset(scale),
            "log_prior": dt["log_prior"].to_dataset(),
            "log_likelihood": dt["log_likelihood"].to_dataset(),
        })
        try:
            with quiet_arviz():
                summary = azs.psense_summary(sub)
        except (ValueError, KeyError, TypeError) as err:
            frame["diagnosis"] = f"power-scaling failed: {type(err).__name__}"
        else:
            for name in scale:
                if name in summary.index:
                    frame.loc[name, ["psense_prior", "psense_likelihood", "diagnosis"]] = [
                        float(summary.loc[name, "prior"]),
                        float(summary.loc[name, "likelihood"]),
                        str(summary.loc[name, "diagnosis"])]
    for row in stored or []:
        if row.parameter in frame.index:
            frame.loc[row.parameter, ["psense_prior", "psense_likelihood", "diagnosis"]] = [
                row.prior, row.likelihood, row.diagnosis]
    ratio = pd.to_numeric(frame["sd_ratio"], errors="coerce")
    frame["prior_dominated"] = (ratio >= PRIOR_DOMINATED_SD_RATIO).fillna(False) | \
        frame["diagnosis"].fillna("").astype(str).str.contains("strong prior")
    return frame


#: A fitted run's prior-dominance table is stored beside it (PRIOR_DOMINANCE_FILE) by its
#: first report: its later reports and the runs reweighted from it read it (their resampled
#: draws repeat, so power-scaling them would say little) instead of power-scaling 20,000
#: draws again, the largest part of a report. Bump this when :func:`prior_dominance` changes.
PRIOR_DOMINANCE_VERSION = 1


def keep_prior_dominance(run: Run, year: int, frame: pd.DataFrame) -> None:
    """Store a fitted run's :func:`prior_dominance` beside it (a read-only folder: not).

    Parameters
    ----------
    run : Run
        The run the table is of (a reweighted run's table is not kept).
    year : int
        Its headline year.
    frame : pandas.DataFrame
        The table.
    """
    from gpt2030.inference.results import json_safe
    from gpt2030.inference.reweight import REWEIGHTED, run_path
    from gpt2030.observations.files import atomic_write

    if run_path(run.manifest) == REWEIGHTED:
        return
    record = {"version": PRIOR_DOMINANCE_VERSION, "run_id": run.id, "year": year,
              "rows": json_safe(frame.reset_index().to_dict("records"))}
    try:
        atomic_write(Path(run.path) / PRIOR_DOMINANCE_FILE,
                     json.dumps(record, allow_nan=False) + "\n")
    except OSError:
        pass


def stored_prior_dominance(run: Run, year: int) -> tuple[pd.DataFrame, str] | None:
    """The stored prior-dominance table of a run: its own, or a reweighted run's parent's.

    Parameters
    ----------
    run : Run
        A stored run.
    year : int
        The headline year the table must be of.

    Returns
    -------
    (pandas.DataFrame, str) or None
        The table as :func:`prior_dominance` returns it and the id of the run it was
        computed on; None when none is stored (compute it).
    """
    from gpt2030.inference.reweight import REWEIGHTED, fitted_parent, run_path

    owner = fitted_parent(run) if run_path(run.manifest) == REWEIGHTED else run
    if owner is None:
        return None
    source = owner.id
    try:
        doc = json.loads((Path(owner.path) / PRIOR_DOMINANCE_FILE).read_text(encoding="utf-8"))
        if (doc["version"], doc["run_id"], doc["year"]) != \
                (PRIOR_DOMINANCE_VERSION, source, year):
            return None
        frame = pd.DataFrame.from_records(doc["rows"]).set_index("quantity")
        for name in ("sd_ratio", "psense_prior", "psense_likelihood"):
            frame[name] = pd.to_numeric(frame[name], errors="coerce")
        frame["prior_dominated"] = frame["prior_dominated"].astype(bool)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return frame, source


# -- how and why the forecast differs from the essay -----------------------------------------

#: The headlines whose difference from the essay the report explains (the others follow
#: from them: learning-years per day are copies / 365, months for a year of work 12 / speed).
EXPLAINED = ("training_compute_flop", "work_years", "speed_vs_human", "overhang_growth_vs_gpt3",
             "parallel_copies")
#: The essay's trade of throughput for speed: k = 5 gives k^2 = 25 times its 5x (section 2).
ESSAY_TRADE_K = 5
#: The backtest kinds (likelihood terms) that inform each explained headline's links.
HEADLINE_KINDS: dict[str, tuple[str, ...]] = {
    "training_compute_flop": ("compute",),
    "work_years": ("compute", "tokens_per_param"),
    "speed_vs_human": ("speed",),
    "overhang_growth_vs_gpt3": ("compute", "tokens_per_param"),
    "parallel_copies": ("compute", "tokens_per_param"),
}
#: A backtest kind needs this many scored rows to be named as where the model misses.
MIN_KIND_ROWS = 5


def _essay_prior_median(name: str) -> float:
    """The median of the ``essay`` configuration's prior (the essay's own assumption)."""
    p = priors_module.CONFIGS["essay"].priors[name]
    if p.dist == "LogNormal":
        return float(math.exp(p.params["mu"]))
    return float(p.params["mu"])


@dataclass(frozen=True)
class EssayLinks:
    """The essay's value of each link of the chain in 2030, cited or implied by its figures.

    ``human_tokens_per_minute`` is 380 words/min x 4/3 tokens per word (Appendix A);
    ``parameters`` is what 1e28 FLOP and 1.8M work-years at that speed imply (C / 2 passes);
    ``serial_speed`` what 5x human implies; ``training_duration_years`` what 1.8M work-years
    over 1.5M copies imply; ``gpt3_passes`` what 100x overhang growth implies; and
    ``serial_speed_2023`` GPT-4's 12 tokens/s of June 2023.
    """

    training_compute: float
    human_tokens_per_minute: float
    parameters: float
    serial_speed: float
    serial_speed_2023: float
    training_duration_years: float
    gpt3_passes: float

    @classmethod
    def from_essay(cls) -> EssayLinks:
        """The links from :data:`ESSAY_2030` and the ``essay`` configuration's medians."""
        e = ESSAY_2030
        human = _essay_prior_median("human_wpm") * _essay_prior_median("tokens_per_word")
        passes = e["work_years"].median * human * priors_module.MINUTES_PER_YEAR
        compute = e["training_compute_flop"].median
        return cls(
            training_compute=compute, human_tokens_per_minute=human,
            parameters=compute / (priors_module.FORWARD_FLOP_PER_PARAM * passes),
            serial_speed=e["speed_vs_human"].median * human / 60.0,
            serial_speed_2023=10 ** _essay_prior_median("log_speed_2023"),
            training_duration_years=e["work_years"].median / e["parallel_copies"].median,
            gpt3_passes=passes / e["overhang_growth_vs_gpt3"].median)


@dataclass(frozen=True)
class ChainLink:
    """One link's share of a headline's difference from the essay.

    ``dex`` is ``sign * log10(model / essay)``: how many powers of ten the link adds to the
    headline's ratio of medians (``sign`` -1 where the link divides, as parameters do).
    """

    key: str
    label: str
    unit: str
    model: float
    essay: float
    sign: int
    how: str  # where the essay's value comes from

    @property
    def dex(self) -> float:
        """The link's contribution, in dex (log10)."""
        return self.sign * math.log10(self.model / self.essay)


@dataclass(frozen=True)
class Mover:
    """An observation that moves a headline: its PSIS leave-one-out shift of the median."""

    obs_id: str
    subject: str
    shift: float  # dex, leave-one-out minus full: negative means it pushes the forecast up
    reliable: bool


@dataclass(frozen=True)
class EssayDifference:
    """How a headline in the essay's year differs from the essay's figure, and why."""

    key: str
    label: str
    unit: str
    median: float
    q05: float
    q95: float
    essay: float
    links: list[ChainLink]
    movers: list[Mover]
    #: sub-links of serial speed 2023 -> year: ``{growth, trend, size, speed_2023}`` (dex and
    #: tokens/s), present for the speed headline
    speed_parts: dict[str, float] = field(default_factory=dict)
    #: the overtraining of the frontier model (dex of tokens per parameter above optimal)
    overtraining: float | None = None

    @property
    def dex(self) -> float:
        """log10 of the model's median over the essay's."""
        return math.log10(self.median / self.essay)

    @property
    def residual(self) -> float:
        """What the links' medians leave unexplained (medians do not multiply exactly)."""
        return self.dex - sum(link.dex for link in self.links)


def _median(group: xr.DataTree, name: str, year: int | None) -> float:
    da = group[name]
    if year is not None and "year" in da.dims:
        da = da.sel(year=year)
    return float(np.nanmedian(np.asarray(da.values, float)))


def essay_differences(dt: xr.DataTree, year: int = ESSAY_YEAR,
                      influence: pd.DataFrame | None = None, movers: int = 3
                      ) -> list[EssayDifference]:
    """Each explained headline against the essay, link by link, largest difference first.

    Parameters
    ----------
    dt : xarray.DataTree
        A run.
    year : int
        The year (the essay's figures are for :data:`ESSAY_YEAR`).
    influence : pandas.DataFrame, optional
        :func:`~gpt2030.inference.influence.influence_table` of the run for ``year``: the
        observations that move each headline most.
    movers : int
        How many observations to name per headline.

    Returns
    -------
    list of EssayDifference
        Sorted by ``abs(dex)``, descending. A headline whose variables the run lacks is left
        out.
    """
    group = dt[draws_group(dt)]
    essay = EssayLinks.from_essay()
    needed = {"training_compute", "parameters", "human_tokens_per_minute", "serial_speed",
              "training_duration_years", "forward_passes", "overhang_growth_vs_gpt3"}
    if not needed <= set(group.data_vars):
        return []
    med = {n: _median(group, n, year) for n in needed}
    passes = np.asarray(group["forward_passes"].sel(year=year).values, float)
    overhang = np.asarray(group["overhang_growth_vs_gpt3"].sel(year=year).values, float)
    gpt3 = float(np.nanmedian(passes / overhang))
    compute = ChainLink("compute", "frontier training compute", "FLOP",
                        med["training_compute"], essay.training_compute, 1, "cited: Appendix B")
    params = ChainLink("parameters", "active parameters of the frontier model", "parameters",
                       med["parameters"], essay.parameters, -1,
                       "implied: 1e28 FLOP / (2 x the forward passes of 1.8M work-years)")
    human = ChainLink("human", "human thinking speed", "tokens/min",
                      med["human_tokens_per_minute"], essay.human_tokens_per_minute, -1,
                      "cited: 380 words/min x 4/3 tokens per word (Appendix A)")
    links = {
        "training_compute_flop": [compute],
        "work_years": [compute, params, human],
        "speed_vs_human": [
            ChainLink("serial_speed", "serial speed of the frontier model", "tokens/s",
                      med["serial_speed"], essay.serial_speed, 1,
                      "implied: 5x the essay's human thinking speed"),
            human],
        "overhang_growth_vs_gpt3": [
            compute, params,
            ChainLink("gpt3", "forward passes of a compute-optimal GPT-3", "tokens", gpt3,
                      essay.gpt3_passes, -1, "implied: 1.8M work-years / 100x")],
        "parallel_copies": [
            compute, params, human,
            ChainLink("duration", "training-run duration", "years",
                      med["training_duration_years"], essay.training_duration_years, -1,
                      "implied: 1.8M work-years / 1.5M copies")],
    }
    table = forecast_table(dt, year, list(EXPLAINED))
    out = []
    for key in EXPLAINED:
        if key not in table or key not in ESSAY_2030:
            continue
        r = table[key]
        found: list[Mover] = []
        if influence is not None and key in influence.columns:
            shifts = pd.to_numeric(influence[key], errors="coerce")
            size = shifts.abs().fillna(0.0)
            # Reliable estimates first (Pareto k fine), then the rough ones, each by size.
            rank = pd.DataFrame({"ok": influence["reliable"].astype(bool), "size": size})
            order = rank.sort_values(["ok", "size"], ascending=False).index[:movers]
            for i in order:
                row = influence.loc[i]
                if not math.isfinite(float(shifts[i])) or float(shifts[i]) == 0.0:
                    continue
                found.append(Mover(str(row["obs_id"]), str(row.get("subject", "")),
                                   float(shifts[i]), bool(row["reliable"])))
        diff = EssayDifference(key, str(r["label"]), str(r["unit"]), float(r["median"]),
                               float(r["q05"]), float(r["q95"]), ESSAY_2030[key].median,
                               links[key], found)
        if key == "speed_vs_human" and "size_exponent" in group:
            diff = _with_speed_parts(diff, group, year, essay)
        if key in ("work_years", "overhang_growth_vs_gpt3", "parallel_copies") and \
                "overtraining" in group:
            diff = EssayDifference(**{**diff.__dict__,
                                      "overtraining": _median(group, "overtraining", year)})
        out.append(diff)
    return sorted(out, key=lambda d: -abs(d.dex))


def _with_speed_parts(diff: EssayDifference, group: xr.DataTree, year: int,
                      essay: EssayLinks) -> EssayDifference:
    """Serial speed from T0 to ``year``: the serving trend and the cost of a larger model."""
    t0 = priors_module.T0
    s = np.log10(np.asarray(group["serial_speed"].values, float))
    n = np.log10(np.asarray(group["parameters"].values, float))
    years = list(int(y) for y in group["year"].values)
    if t0 not in years or year not in years:
        return diff
    i0, i1 = years.index(t0), years.index(year)
    e = np.asarray(group["size_exponent"].values, float)
    growth = s[..., i1] - s[..., i0]
    size = -e * (n[..., i1] - n[..., i0])
    parts = {"t0": float(t0), "speed_t0": float(np.nanmedian(10 ** s[..., i0])),
             "growth": float(np.nanmedian(growth)), "size": float(np.nanmedian(size)),
             "trend": float(np.nanmedian(growth - size)),
             "essay_t0": essay.serial_speed_2023,
             "essay_growth": math.log10(essay.serial_speed / essay.serial_speed_2023)}
    return EssayDifference(**{**diff.__dict__, "speed_parts": parts})


# -- how far to trust it: the latest backtest ------------------------------------------------


@dataclass(frozen=True)
class KindScore:
    """A backtest's scores of the model on one kind of held-out rows."""

    kind: str
    n: int
    coverage50: float | None
    coverage90: float | None
    pit_mean: float | None


@dataclass(frozen=True)
class CutoffTrust:
    """One cutoff of a backtest: all rows, and by kind."""

    cutoff: str
    n_train: int
    overall: KindScore | None
    kinds: dict[str, KindScore]

    @property
    def worst(self) -> KindScore | None:
        """The kind with the lowest 90% coverage among those with enough rows."""
        ok = [k for k in self.kinds.values()
              if k.coverage90 is not None and k.n >= MIN_KIND_ROWS]
        return min(ok, key=lambda k: (k.coverage90, -k.n)) if ok else None


@dataclass(frozen=True)
class BacktestTrust:
    """The backtest a report quotes: the home's latest, else the one shipped with gpt2030."""

    name: str
    created: str
    config: str
    cutoffs: list[CutoffTrust]
    #: the record shipped as package data (:func:`shipped_backtest`), not the home's own
    shipped: bool = False
    #: the model version that made it and the ledger it read (``None``: not recorded)
    model_version: str | None = None
    observation_hash: str | None = None
    n_observations: int | None = None

    @property
    def date(self) -> str:
        """The day the backtest was made (``YYYY-MM-DD``)."""
        return self.created[:10]


#: Backtest records shipped with gpt2030 (package data): ``backtest-<config>.json``, each the
#: JSON that ``gpt2030 backtest`` saves under ``runs/backtests/``, made on the shipped ledger.
SHIPPED_BACKTESTS = files("gpt2030.inference") / "data"


def _readable(text: str) -> BacktestResult | None:
    """A backtest record with at least one scored cutoff, else ``None``."""
    try:
        result = BacktestResult.from_dict(json.loads(text))
    except (ValueError, KeyError, TypeError, AttributeError):
        return None  # an unreadable file is not a backtest to quote
    return result if any(c.overall is not None for c in result.cutoffs) else None


def shipped_backtest(config: str = "default") -> BacktestResult | None:
    """The backtest record of ``config`` shipped with gpt2030, if there is one.

    Parameters
    ----------
    config : str
        The configuration.

    Returns
    -------
    BacktestResult or None
        ``None`` when no readable record of ``config`` with a scored cutoff is shipped.
    """
    source = SHIPPED_BACKTESTS / f"backtest-{config}.json"
    if not source.is_file():
        return None
    result = _readable(source.read_text(encoding="utf-8"))
    return result if result is not None and result.config == config else None


def latest_backtest(runs_dir: Path, config: str = "default") -> BacktestTrust | None:
    """The backtest of ``config`` a report quotes: the home's latest, else the shipped one.

    The most recently created backtest of ``config`` in ``runs_dir/backtests``; when the
    home has none, the record shipped with gpt2030 (:func:`shipped_backtest`), marked
    ``shipped``. Another configuration's record is never quoted: it says nothing about this
    one.

    Parameters
    ----------
    runs_dir : pathlib.Path
        The home's ``runs`` folder.
    config : str
        The configuration whose backtests count.

    Returns
    -------
    BacktestTrust or None
        ``None`` when neither the home nor the package holds a readable backtest of
        ``config`` with a scored cutoff.
    """
    same = []
    for path in sorted(Path(runs_dir, "backtests").glob("*.json")):
        try:
            result = _readable(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError):  # unreadable: not quoted, never fatal
            continue
        if result is not None and result.config == config:
            same.append(result)
    shipped = not same
    best = max(same, key=lambda r: r.created) if same else shipped_backtest(config)
    if best is None:
        return None

    def score(kind: str, n: int, s) -> KindScore:
        return KindScore(kind, n, s.coverage50, s.coverage90, s.pit_mean)

    cutoffs = [CutoffTrust(c.cutoff, c.n_train,
                           score("all", c.overall.n, c.overall.gpt2030) if c.overall else None,
                           {k: score(k, v.n, v.gpt2030) for k, v in c.by_kind.items()})
               for c in best.cutoffs if c.overall is not None]
    return BacktestTrust(best.name, best.created, best.config, cutoffs, shipped,
                         best.model_version, best.observation_hash, best.n_observations)


# -- capabilities: what was observed, and what is forecast ---------------------------------


@dataclass(frozen=True)
class BestScore:
    """The best observed frontier score on a threshold's task by a date."""

    value: float  # fraction
    subject: str
    metric: str
    date: str
    source: str


def best_scores(obs: pd.DataFrame, benchmark: str) -> dict[int, BestScore]:
    """The best score so far on ``benchmark``'s task at the end of each observed year.

    Rows of every variant of the task count (MATH-500 for MATH), only those that condition
    the benchmark term (human baselines and forecasts are context, not systems' scores).

    Parameters
    ----------
    obs : pandas.DataFrame
        A run's observations.
    benchmark : str
        A threshold's benchmark.

    Returns
    -------
    dict
        ``{year: BestScore}`` for every year from the first score to the last.
    """
    task = benchmark_task(benchmark)
    mask = (obs["role"].astype(str) == "benchmark") & \
        obs["metric"].astype(str).map(lambda m: benchmark_task(m) == task)
    rows = []
    for _, r in obs[mask].iterrows():
        point = _dated_value(r)
        if point is not None:
            rows.append((*point, r))
    if not rows:
        return {}
    rows.sort(key=lambda x: x[0])
    out: dict[int, BestScore] = {}
    best: BestScore | None = None
    first, last = int(rows[0][0]), int(rows[-1][0])
    i = 0
    for y in range(first, last + 1):
        while i < len(rows) and int(rows[i][0]) <= y:
            _t, frac, r = rows[i]
            if best is None or frac > best.value:
                best = BestScore(frac, str(r["subject"]), str(r["metric"]), str(r["date"]),
                                 str(r.get("source", "")))
            i += 1
        if best is not None:
            out[y] = best
    return out


def latest_observation_year(manifest: Manifest, obs: pd.DataFrame) -> float | None:
    """The decimal year of the run's latest observation (manifest, else the rows' dates).

    Parameters
    ----------
    manifest : Manifest
        The run's manifest.
    obs : pandas.DataFrame
        Its observations.

    Returns
    -------
    float or None
    """
    if manifest.latest_observation:
        try:
            return decimal_year(str(manifest.latest_observation))
        except ValueError:
            pass
    dates = []
    for d in obs.get("date", pd.Series(dtype=str)).astype(str):
        try:
            dates.append(decimal_year(d))
        except ValueError:
            continue
    return max(dates) if dates else None


def record_rows(points: pd.DataFrame) -> pd.Series:
    """Which points set a record (at or above every earlier point): the frontier systems.

    Parameters
    ----------
    points : pandas.DataFrame
        ``t, value`` (:func:`evidence_points`).

    Returns
    -------
    pandas.Series
        Boolean, aligned with ``points``.
    """
    if points.empty:
        return pd.Series([], dtype=bool)
    order = points.sort_values("t", kind="stable")
    best = order["value"].cummax()
    return (order["value"] >= best).reindex(points.index)


#: First characters that make a spreadsheet read a cell as a formula (OWASP, "CSV
#: injection"): such a cell gets a leading apostrophe, which shows it as text.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
#: Columns that hold numbers: a number there (``-3.5``, ``-1e3``) stays a number.
NUMERIC_FIELDS = frozenset({"value", "low", "high"})
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def spreadsheet_safe(text: str, numeric: bool = False) -> str:
    """A CSV cell that a spreadsheet shows as written, never evaluates as a formula.

    Parameters
    ----------
    text : str
        The cell.
    numeric : bool
        Whether the cell's column holds numbers: a plain number (a negative one included)
        is then left as it is.

    Returns
    -------
    str
        ``text``, or ``'`` + ``text`` when it starts with one of :data:`FORMULA_START`.
    """
    if numeric and _NUMBER.fullmatch(text):
        return text
    return "'" + text if text.startswith(FORMULA_START) else text


def evidence_csv(obs: pd.DataFrame, fields: tuple[str, ...]) -> bytes:
    """The run's observations as CSV (UTF-8, one row per observation, ``fields`` columns).

    Every cell passes :func:`spreadsheet_safe`: ledger text is the user's (and sources'), and
    the file is meant to be opened in a spreadsheet.

    Parameters
    ----------
    obs : pandas.DataFrame
        A run's observations.
    fields : tuple of str
        The columns, in order (missing ones are blank).

    Returns
    -------
    bytes
    """
    frame = obs.reindex(columns=list(fields)).fillna("").astype(str).replace("nan", "")
    frame = frame.sort_values(["kind", "date", "id"] if "kind" in frame else ["id"],
                              kind="stable")
    for column in frame.columns:
        frame[column] = frame[column].map(
            lambda cell, numeric=column in NUMERIC_FIELDS: spreadsheet_safe(cell, numeric))
    # CRLF line ends (RFC 4180): the csv writer then quotes a field holding a bare CR or LF,
    # which with "\n" line ends it would leave bare, splitting the row for a reader.
    return frame.to_csv(index=False, lineterminator="\r\n").encode("utf-8")


#: A model is a frontier system when its training compute was within this many dex (a
#: factor 2) of the record training run at its date.
FRONTIER_DEX = math.log10(2.0)


def subject_key(name: str) -> str:
    """A model's name reduced for matching across sources: no parenthetical, alphanumerics.

    Parameters
    ----------
    name : str
        A subject, e.g. ``GPT-4 (Mar 2023)`` or ``gpt-4``.

    Returns
    -------
    str
        e.g. ``gpt4``.
    """
    return re.sub(r"[^0-9a-z]", "", re.sub(r"\(.*?\)", "", str(name)).casefold())


def frontier_compute_rows(obs: pd.DataFrame) -> pd.Series:
    """Compute rows of frontier systems: within :data:`FRONTIER_DEX` of the record so far.

    Parameters
    ----------
    obs : pandas.DataFrame
        A run's observations.

    Returns
    -------
    pandas.Series
        Boolean, aligned with ``obs`` (False for rows that are not compute rows).
    """
    out = pd.Series(False, index=obs.index)
    rows = []
    for i, r in obs[obs["role"].astype(str) == "compute"].iterrows():
        point = _dated_value(r)
        if point is not None and point[1] > 0:
            rows.append((point[0], math.log10(point[1]), i))
    record = -math.inf
    for _t, v, i in sorted(rows, key=lambda x: x[0]):
        record = max(record, v)
        out[i] = v >= record - FRONTIER_DEX
    return out


def frontier_speed_rows(obs: pd.DataFrame) -> pd.Series:
    """API speed readings of frontier systems (their name matches a frontier compute row).

    Parameters
    ----------
    obs : pandas.DataFrame
        A run's observations.

    Returns
    -------
    pandas.Series
        Boolean, aligned with ``obs``.
    """
    names = {subject_key(s) for s in obs.loc[frontier_compute_rows(obs), "subject"]}
    names.discard("")
    return api_speed_rows(obs) & obs["subject"].astype(str).map(
        lambda s: subject_key(s) in names)
