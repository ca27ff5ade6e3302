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

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr

from gpt2030.inference.diagnostics import free_parameters, quiet_arviz
from gpt2030.inference.forecast import HEADLINES, draws_group
from gpt2030.inference.runs import Manifest as Manifest  # re-exported for reports/
from gpt2030.inference.runs import Run, model_constants
from gpt2030.models import priors as priors_module
from gpt2030.models.essay import ESSAY_2030, THRESHOLDS, EssayFigure, Threshold
from gpt2030.models.evidence import speed_setting
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
    manifest = Manifest.from_dict(run.manifest)
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
        value = _num(r["value"])
        if not math.isfinite(value):
            continue
        try:
            t = decimal_year(str(r["date"]))
            unit = str(r["unit"])
            base = to_base(value, unit)
        except (ValueError, KeyError):
            continue
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
    import arviz as az

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
    if {"log_prior", "log_likelihood"} <= set(dt.children):
        sub = xr.DataTree.from_dict({
            "posterior": xr.Dataset(values),
            "log_prior": dt["log_prior"].to_dataset(),
            "log_likelihood": dt["log_likelihood"].to_dataset(),
        })
        try:
            with quiet_arviz():
                summary = az.psense_summary(sub)
        except (ValueError, KeyError, TypeError) as err:
            frame["diagnosis"] = f"power-scaling failed: {type(err).__name__}"
        else:
            for name in values:
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
