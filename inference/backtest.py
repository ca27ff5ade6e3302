"""Backtests: fit on the ledger as it stood at a cutoff, score the forecasts of what came later.

For a cutoff, :func:`backtest_cutoff`

1. fits the model (through :func:`gpt2030.inference.infer.infer`, so a stored run with the
   same observations, configuration and seed is reused) to the rows dated on or before the
   cutoff (a row counts from the *end* of its date's period, :func:`select_rows`);
2. rebuilds the model on the **whole** ledger and draws the posterior predictive of every
   later row that falls in a likelihood term, from the cutoff run's posterior
   (:func:`transplant_posterior`): the parameters are shared between the two models, except
   per-level vectors (a served alias's offset, a serving setting's level, a benchmark's
   level and slope) whose levels differ; a level first seen after the cutoff gets draws from
   its hierarchy or its prior at each posterior draw, never from data it could not have
   seen;
3. scores each held-out row (:mod:`gpt2030.inference.scoring`) and the same rows under a
   naive baseline (:func:`naive_predictions`) and, where it applies, the essay's own point
   forecasts (:func:`essay_points`).

All scores are in the model's stored units: log10 for compute, speed, tokens per parameter,
bandwidth and data stock; logit for benchmark scores; the value itself for the scaling
exponent.
"""

from __future__ import annotations

import math
import time
import warnings
from collections import defaultdict
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pymc as pm
import xarray as xr

from gpt2030.inference import over_draws, scoring
from gpt2030.inference.infer import InferRequest, infer, select_rows
from gpt2030.inference.progress import quiet_pymc
from gpt2030.inference.results import (
    Comparison,
    CutoffResult,
    EssayResult,
    KindResult,
    ModelOnly,
    PairedDifference,
    PitTest,
    Pooled,
    Scores,
)
from gpt2030.inference.runs import Run
from gpt2030.inference.sampling import SamplerConfig
from gpt2030.models import build_model, get_config
from gpt2030.models.evidence import Evidence, prepare_evidence
from gpt2030.models.generative import REFERENCE_ALIAS
from gpt2030.observations import Ledger, observation_frame
from gpt2030.observations.schema import decimal_year

#: Likelihood terms with a time trend (a naive baseline extrapolates them in time).
TREND_TERMS = ("compute", "speed", "benchmark", "tokens_per_param", "bandwidth", "data_stock")
#: A difference in mean CRPS smaller than this share of the best variant's is reported as
#: negligible, whatever its paired standard error (which treats correlated rows as
#: independent and so is too small).
NEGLIGIBLE_CRPS = 0.05
#: The essay's point forecasts (Steinhardt 2023): GPT-4's 2.1e25 FLOP (the ledger's Epoch
#: estimate, March 2023) growing log-linearly to 1e28 FLOP in 2030 (Appendix B), and GPT-4
#: served at 12 tokens/s in 2023 (Appendix A, Table 1).
ESSAY_COMPUTE = ((decimal_year("2023-03-15"), math.log10(2.1e25)),
                 (decimal_year("2030"), 28.0))
ESSAY_GPT4_SPEED = math.log10(12.0)
METHODS = ("gpt2030", "naive")
DEFAULT_SAMPLER = SamplerConfig()


def _term_table(ev: Evidence) -> pd.DataFrame:
    """One row per conditioning observation: term, date, value, series, level and bound.

    ``series`` groups rows for the naive baseline and for series-weighted scores (a served
    alias, a serving setting, a benchmark, or the whole term); ``level`` names the
    per-series parameters a row needs ("" for none), so that a level first seen after a
    cutoff is known to be drawn from its hierarchy.
    """
    recs = []
    for name, term in ev.terms.items():
        arrays = term.arrays
        for i, obs_id in enumerate(term.ids):
            series = arrays["series"][i]
            level = series if name in ("speed", "benchmark") else ""
            if series == f"alias:{REFERENCE_ALIAS}":
                level = ""
            recs.append({"id": obs_id, "term": name, "y": float(arrays["y"][i]),
                         "t": float(arrays["t"][i]) if "t" in arrays else math.nan,
                         "series": series, "level": level, "bound": int(arrays["bound"][i])})
    return pd.DataFrame.from_records(recs).set_index("id", drop=False) if recs else \
        pd.DataFrame(columns=["id", "term", "y", "t", "series", "level", "bound"], dtype=object)


def heldout_rows(ledger_rows: list[dict[str, str]], cutoff: str, config_name: str
                 ) -> tuple[pd.DataFrame, Evidence, pd.DataFrame, set[str]]:
    """The full frame, its evidence, the table of all terms' rows, and the training ids."""
    config = get_config(config_name)
    frame = observation_frame(ledger_rows)
    train_rows = select_rows(ledger_rows, cutoff)
    train_ids = {r["id"] for r in train_rows}
    # A later reading of a served model is forecast from the readings known at the cutoff.
    ev = prepare_evidence(frame, config.expert_forecasts, known=train_ids)
    table = _term_table(ev)
    # What the cutoff model conditions on: the terms of the cutoff ledger's own evidence (a
    # pairing such as tokens per parameter can differ when one of its rows came later).
    cut_ev = prepare_evidence(observation_frame(train_rows), config.expert_forecasts) \
        if train_rows else None
    conditioned = {i for t in (cut_ev.terms.values() if cut_ev else []) for i in t.ids}
    table["train"] = table["id"].isin(conditioned)
    # Held out: rows dated after the cutoff. A row dated before it that the cutoff model
    # could not use (its pair came later) is neither trained on nor scored.
    table["heldout"] = ~table["id"].isin(train_ids)
    seen_levels = set(table.loc[table["train"], "level"])
    table["new_level"] = table["level"].ne("") & ~table["level"].isin(seen_levels)
    return frame, ev, table, train_ids


# -- the model's predictive ----------------------------------------------------------------

def _free_rv_dims(model: pm.Model) -> dict[str, tuple[str, ...]]:
    return {rv.name: tuple(model.named_vars_to_dims.get(rv.name, ())) for rv in model.free_RVs}


def transplant_posterior(posterior: xr.Dataset, model: pm.Model, seed: int,
                         compile_kwargs: dict | None = None
                         ) -> tuple[xr.Dataset, dict[str, list[str]]]:
    """The cutoff run's posterior of the free parameters, laid out on ``model``'s coords.

    A scalar parameter is copied; a per-level vector keeps the posterior of each level the
    cutoff run had and gets, for a level it did not have, a draw from the parameter's own
    distribution given the other parameters' posterior draws (the hierarchy for alias
    levels, the prior for benchmark levels and slopes and serving settings). A parameter the
    cutoff model lacked altogether (a term with no rows before the cutoff) is drawn the same
    way, whole: the Dataset holds every free parameter of ``model``.

    Returns the Dataset and, per vector, the levels that were drawn rather than copied.
    ``compile_kwargs`` go to :func:`pymc.sample_posterior_predictive` (a compile mode).
    """
    dims = _free_rv_dims(model)
    keep: dict[str, xr.DataArray] = {}
    partial: list[str] = []
    missing: list[str] = []
    for name, vdims in dims.items():
        if name not in posterior:
            missing.append(name)
            continue
        if not vdims:
            keep[name] = posterior[name]
            continue
        (dim,) = vdims
        want = [str(x) for x in model.coords[dim]]
        have = [str(x) for x in posterior[name][dim].values]
        if want == have:
            keep[name] = posterior[name]
        else:
            partial.append(name)
    new_levels: dict[str, list[str]] = {}
    if partial or missing:
        base = xr.Dataset(keep)
        with model, quiet_pymc():
            fresh = pm.sample_posterior_predictive(
                base, var_names=partial + missing, random_seed=seed, progressbar=False,
                freeze_vars=list(keep), compile_kwargs=compile_kwargs,
                return_inferencedata=False)  # arrays (chain, draw, ...)
        for name in missing:
            keep[name] = xr.DataArray(np.asarray(fresh[name], dtype=float),
                                      dims=("chain", "draw", *dims[name]),
                                      coords={"chain": base["chain"].values,
                                              "draw": base["draw"].values,
                                              **{d: np.asarray(model.coords[d])
                                                 for d in dims[name]}})
        for name in partial:
            (dim,) = dims[name]
            want = [str(x) for x in model.coords[dim]]
            old = posterior[name]
            have = {str(x): i for i, x in enumerate(old[dim].values)}
            vals = np.array(fresh[name], dtype=float)
            old_vals = np.asarray(old.transpose("chain", "draw", dim).values)
            for j, label in enumerate(want):
                if label in have:
                    vals[:, :, j] = old_vals[:, :, have[label]]
            new_levels[name] = [lab for lab in want if lab not in have]
            keep[name] = xr.DataArray(vals, dims=("chain", "draw", dim),
                                      coords={"chain": old["chain"].values,
                                              "draw": old["draw"].values,
                                              dim: np.asarray(model.coords[dim])})
    return xr.Dataset(keep), new_levels


def model_predictive(run_dt: xr.DataTree, frame: pd.DataFrame, config_name: str,
                     heldout: pd.DataFrame, seed: int, evidence: Evidence | None = None,
                     compile_kwargs: dict | None = None
                     ) -> tuple[dict[str, np.ndarray], dict]:
    """Posterior predictive draws (flattened, chain by chain) of each held-out row, by id.

    ``evidence`` is the whole ledger's, prepared with the cutoff's rows as the ``known``
    ones (:func:`heldout_rows`), so a served model's later reading is forecast from its
    last reading before the cutoff, never from another held-out one. ``compile_kwargs``
    go to :func:`transplant_posterior`'s draws of new levels (``{"mode": "FAST_COMPILE"}``
    for a few hundred draws of a graph the numba cache has not seen: pre-registered
    predictions); the held-out rows' draws are :func:`~gpt2030.inference.over_draws.
    predictive`'s.
    """
    config = get_config(config_name)
    model = build_model(frame, config, evidence=evidence)
    post, new_levels = transplant_posterior(run_dt["posterior"].to_dataset(), model, seed,
                                            compile_kwargs)
    terms = sorted(set(heldout["term"]))
    names = [f"{t}_obs" for t in terms]
    # Every free parameter has its draws now: one graph over all of them at once
    # (over_draws), not PyMC's compiled function called once per draw.
    pp = over_draws.predictive(model, post, names, seed + 1)
    draws: dict[str, np.ndarray] = {}
    for term, name in zip(terms, names, strict=True):
        arr = np.asarray(pp[name].transpose("chain", "draw", ...).values, dtype=float)
        values = arr.reshape(-1, arr.shape[-1]).T  # row x (chain, draw), chain by chain
        ids = [str(x) for x in model.coords[f"{term}_id"]]
        pos = {obs_id: i for i, obs_id in enumerate(ids)}
        for obs_id in heldout.index[heldout["term"] == term]:
            draws[obs_id] = values[pos[obs_id]]
    return draws, new_levels


# -- the naive baseline --------------------------------------------------------------------

@dataclass(frozen=True)
class NaiveFit:
    """A least-squares line in time (or a constant) and its Student-t predictive."""

    n: int
    intercept: float
    slope: float
    tbar: float
    sxx: float
    scale: float
    df: int
    level: str  # "series", "term" or "term-constant"

    def predictive(self, t: float) -> tuple[float, float, int]:
        """Location, scale and degrees of freedom of the predictive at time ``t``."""
        if self.slope == 0.0 and self.sxx == 0.0:
            mu = self.intercept
            scale = self.scale * math.sqrt(1 + 1 / self.n)
        else:
            mu = self.intercept + self.slope * (t - self.tbar)
            scale = self.scale * math.sqrt(1 + 1 / self.n + (t - self.tbar) ** 2 / self.sxx)
        return mu, scale, self.df


#: Floor on the residual scale of a naive fit (in the stored units): a handful of identical
#: readings would otherwise claim certainty.
NAIVE_MIN_SCALE = 0.01


def fit_line(t: np.ndarray, y: np.ndarray, level: str) -> NaiveFit | None:
    """OLS of ``y`` on ``t`` (>= 3 points at >= 2 dates), else a constant (>= 2 points)."""
    t = np.asarray(t, float)
    y = np.asarray(y, float)
    n = y.size
    has_time = np.all(np.isfinite(t)) and n >= 3 and np.ptp(t) > 0
    if has_time:
        tbar = float(np.mean(t))
        sxx = float(np.sum((t - tbar) ** 2))
        slope = float(np.sum((t - tbar) * (y - y.mean())) / sxx)
        intercept = float(y.mean())
        resid = y - intercept - slope * (t - tbar)
        scale = max(math.sqrt(float(np.sum(resid**2)) / (n - 2)), NAIVE_MIN_SCALE)
        return NaiveFit(n, intercept, slope, tbar, sxx, scale, n - 2, level)
    if n >= 2:
        return NaiveFit(n, float(y.mean()), 0.0, 0.0, 0.0,
                        max(float(np.std(y, ddof=1)), NAIVE_MIN_SCALE), n - 1,
                        f"{level}-constant")
    return None


def naive_predictions(table: pd.DataFrame, heldout: pd.DataFrame, n_draws: int, seed: int
                      ) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Draws of each held-out row from the naive baseline, and which fit made them.

    Per term and series (compute, tokens per parameter, bandwidth, data stock: the whole
    term; speed: the served alias, or the serving setting for rows of known model size;
    benchmark: the benchmark), an ordinary least-squares line in time through the
    pre-cutoff rows, with the Student-t predictive of a new observation; a series with
    fewer than 3 rows falls back to the term's line; a term without a time axis (the
    scaling exponent) or without 3 dated rows to a constant with the rows' spread. Rows with
    no baseline (fewer than 2 pre-cutoff rows in the term) get none.
    """
    rng = np.random.default_rng(seed)
    train = table[table["train"]]
    fits: dict[tuple[str, str], NaiveFit | None] = {}

    def get(term: str, series: str) -> NaiveFit | None:
        key = (term, series)
        if key not in fits:
            rows = train[(train["term"] == term) & (train["series"] == series)] \
                if series else train[train["term"] == term]
            if series and len(rows) < 3:
                fits[key] = get(term, "")
            else:
                fits[key] = fit_line(rows["t"].to_numpy(), rows["y"].to_numpy(),
                                     "series" if series and series != term else "term")
        return fits[key]

    draws: dict[str, np.ndarray] = {}
    used: dict[str, str] = {}
    for obs_id, row in heldout.iterrows():
        fit = get(row["term"], row["series"])
        if fit is None:
            continue
        mu, scale, df = fit.predictive(row["t"] if np.isfinite(row["t"]) else 0.0)
        draws[obs_id] = mu + scale * rng.standard_t(df, size=n_draws)
        used[obs_id] = f"{fit.level} (n={fit.n})"
    return draws, used


# -- the essay's point forecasts -----------------------------------------------------------

def essay_compute(t: float) -> float:
    """The essay's frontier compute line, log10 FLOP at decimal year ``t``."""
    (t0, c0), (t1, c1) = ESSAY_COMPUTE
    return c0 + (c1 - c0) * (t - t0) / (t1 - t0)


def essay_points(heldout: pd.DataFrame, ev: Evidence) -> dict[str, float]:
    """The essay's point forecast of each held-out row it speaks to, by id."""
    points: dict[str, float] = {}
    for obs_id, row in heldout.iterrows():
        if row["term"] == "compute" and row["t"] >= ESSAY_COMPUTE[0][0]:
            # The line starts at GPT-4: earlier rows were history when the essay was written.
            points[obs_id] = essay_compute(row["t"])
        elif (row["term"] == "speed" and row["series"] == f"alias:{REFERENCE_ALIAS}"
              and 2023 <= row["t"] < 2024):
            points[obs_id] = ESSAY_GPT4_SPEED
    return points


# -- one cutoff ----------------------------------------------------------------------------

def _frontier_ids(table: pd.DataFrame) -> set[str]:
    """Compute rows that set a record: at or above every earlier compute row."""
    comp = table[table["term"] == "compute"].sort_values("t")
    best = -math.inf
    out = set()
    for obs_id, row in comp.iterrows():
        if row["y"] >= best:
            out.add(obs_id)
            best = row["y"]
    return out


def _fact_series(row: dict) -> str:
    """A scored row's series for equal weighting: one subject and metric.

    Rows stored by an older version, without it, count as series of their own.
    """
    return str(row.get("fact_series") or row["id"])


def _comparison(rows: list[dict], series_weighted: bool = False) -> Comparison:
    """gpt2030 against the naive baseline on ``rows`` (each scored by both).

    With ``series_weighted`` every series (one subject and metric) counts the same, however
    many readings it has; the paired CRPS difference stays row-weighted.
    """
    weights = scoring.series_weights([_fact_series(r) for r in rows]) if series_weighted \
        else None
    return Comparison(
        len(rows),
        *(Scores.from_dict(scoring.aggregate([r[m] for r in rows], weights)) for m in METHODS),
        PairedDifference.from_dict(scoring.paired_difference(
            [r["gpt2030"]["crps"] for r in rows], [r["naive"]["crps"] for r in rows])))


def pool(cutoffs: list[CutoffResult]) -> Pooled | None:
    """Every cutoff's rows scored by both forecasters, together: the rolling-origin summary.

    Row-weighted and with every series weighted equally (a series scored at several cutoffs
    counts once in all), overall and by kind.
    """
    rows = [r for c in cutoffs for r in c.rows if "naive" in r]
    if not rows:
        return None
    kinds: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        kinds[r["kind"]].append(r)
    by = {}
    for kind, recs in sorted(kinds.items()):
        c = _comparison(recs)
        by[kind] = KindResult(c.n, c.gpt2030, c.naive, c.crps_diff,
                              n_new_level=sum(bool(r.get("new_level")) for r in recs),
                              series_weighted=_comparison(recs, series_weighted=True))
    return Pooled(len(rows), len({_fact_series(r) for r in rows}), _comparison(rows),
                  _comparison(rows, series_weighted=True), by)


def score_rows(heldout: pd.DataFrame, model_draws: dict[str, np.ndarray],
               naive_draws: dict[str, np.ndarray], naive_used: dict[str, str],
               points: dict[str, float], rng: np.random.Generator
               ) -> tuple[list[dict], list[dict]]:
    """Score every held-out row: those the naive baseline also forecasts, and the others.

    Parameters
    ----------
    heldout : pandas.DataFrame
        The held-out rows (:func:`heldout_rows`' table, ``heldout`` true).
    model_draws, naive_draws : dict
        Predictive draws by row id (the naive baseline may lack some rows).
    naive_used : dict
        Which naive fit made each row's draws.
    points : dict
        The essay's point forecasts by row id.
    rng : numpy.random.Generator
        Breaks PIT ties.

    Returns
    -------
    tuple of list of dict
        The rows scored by both forecasters, and the rows scored by gpt2030 only; each
        ``{id, kind, series, t, y, new_level, gpt2030}`` plus ``essay``, ``naive`` and
        ``naive_fit`` where they apply.
    """
    scored: list[dict] = []
    model_only: list[dict] = []
    for obs_id, row in heldout.iterrows():
        rec = {"id": obs_id, "kind": row["term"], "series": row["series"],
               "t": round(float(row["t"]), 4) if np.isfinite(row["t"]) else None,
               "y": float(row["y"]), "new_level": bool(row["new_level"]),
               "gpt2030": scoring.score_samples(model_draws[obs_id], row["y"], rng)}
        if obs_id in points:
            rec["essay"] = scoring.score_point(points[obs_id], row["y"])
        if obs_id in naive_draws:
            rec["naive"] = scoring.score_samples(naive_draws[obs_id], row["y"], rng)
            rec["naive_fit"] = naive_used[obs_id]
            scored.append(rec)
        else:
            model_only.append(rec)
    return scored, model_only


def by_kind(scored: list[dict]) -> dict[str, KindResult]:
    """The comparison per kind of row, with the rows of levels seen before the cutoff apart."""
    kinds: dict[str, list[dict]] = defaultdict(list)
    for rec in scored:
        kinds[rec["kind"]].append(rec)
    out = {}
    for kind, recs in sorted(kinds.items()):
        seen = [r for r in recs if not r["new_level"]]
        n_new = len(recs) - len(seen)
        c = _comparison(recs)
        out[kind] = KindResult(c.n, c.gpt2030, c.naive, c.crps_diff, n_new_level=n_new,
                               seen_levels_only=_comparison(seen) if 0 < n_new < len(recs)
                               else None,
                               series_weighted=_comparison(recs, series_weighted=True))
    return out


#: The essay comparisons: key, which rows, and what they are.
ESSAY_COMPARISONS = (
    ("compute", "every held-out training-compute row dated after GPT-4 (March 2023) against "
     "the essay's 2.1e25 (2023) to 1e28 (2030) line; the essay forecasts the frontier, so "
     "smaller models count against it"),
    ("compute_frontier", "held-out compute rows dated after GPT-4 that set a record (at or "
     "above every earlier row)"),
    ("speed_gpt4_2023", "gpt-4 API speed readings dated 2023 against the essay's 12 tokens/s "
     "(the essay measured it in June 2023: a consistency check more than a forecast)"),
)


def essay_results(scored: list[dict], frontier: set[str]) -> dict[str, EssayResult]:
    """The essay's point forecasts against both forecasters, on the rows each speaks to."""
    with_essay = [r for r in scored if "essay" in r]
    rows = {"compute": [r for r in with_essay if r["kind"] == "compute"],
            "speed_gpt4_2023": [r for r in with_essay if r["kind"] == "speed"]}
    rows["compute_frontier"] = [r for r in rows["compute"] if r["id"] in frontier]
    out = {}
    for key, what in ESSAY_COMPARISONS:
        sel = rows[key]
        if sel:
            c = _comparison(sel)
            out[key] = EssayResult(
                c.n, c.gpt2030, c.naive, c.crps_diff, what=what,
                essay_crps=float(np.mean([r["essay"]["crps"] for r in sel])),
                essay_abs_error_log10=float(np.mean([r["essay"]["abs_error"] for r in sel])))
    return out


def model_only_result(rows: list[dict]) -> ModelOnly:
    """The rows without a naive baseline, scored for gpt2030 only."""
    kinds: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        kinds[r["kind"]].append(r)
    return ModelOnly(
        len(rows), [r["id"] for r in rows],
        Scores.from_dict(scoring.aggregate([r["gpt2030"] for r in rows])) if rows else None,
        {k: (len(v), Scores.from_dict(scoring.aggregate([r["gpt2030"] for r in v])))
         for k, v in sorted(kinds.items())},
        "no naive baseline: fewer than 2 rows of the term before the cutoff")


def backtest_cutoff(ledger: Ledger, runs_dir, cutoff: str, config_name: str = "default",
                    sampler: SamplerConfig = DEFAULT_SAMPLER, seed: int = 2030,
                    force: bool = False, progressbar: bool = False) -> dict:
    """Fit at ``cutoff`` and score every later row the model has a term for.

    Returns the contract dict (:meth:`CutoffResult.to_dict` of :func:`run_cutoff`):
    ``cutoff``, ``run_id``, ``n_train``, ``n_heldout``, ``overall``, ``by_kind``, ``essay``,
    plus ``rows`` (every held-out row's scores), ``pit`` (the model's PIT values),
    ``new_levels`` and ``timings``.
    """
    return run_cutoff(ledger, runs_dir, cutoff, config_name, sampler, seed, force,
                      progressbar).to_dict()


def run_cutoff(ledger: Ledger, runs_dir, cutoff: str, config_name: str = "default",
               sampler: SamplerConfig = DEFAULT_SAMPLER, seed: int = 2030,
               force: bool = False, progressbar: bool = False) -> CutoffResult:
    """:func:`backtest_cutoff` as a typed :class:`CutoffResult`."""
    timings: dict[str, float] = {}
    start = time.perf_counter()
    rows = ledger.rows()
    request = InferRequest(config=config_name, sampler=sampler, seed=seed, cutoff=cutoff)
    run, reused = infer(ledger, runs_dir, request, force=force, progressbar=progressbar)
    timings["fit"] = time.perf_counter() - start

    start = time.perf_counter()
    frame, ev, table, train_ids = heldout_rows(rows, cutoff, config_name)
    heldout = table[table["heldout"]]
    result = CutoffResult(cutoff=cutoff, run_id=run.id, config=config_name, run_reused=reused,
                          verdict=run.manifest.get("verdict"), n_train=len(train_ids),
                          n_train_conditioning=int(table["train"].sum()),
                          n_heldout=len(heldout), timings=timings)
    if heldout.empty:
        return result
    model_draws, result.new_levels = model_predictive(run.datatree(), frame, config_name,
                                                      heldout, seed, evidence=ev)
    timings["predictive"] = time.perf_counter() - start

    start = time.perf_counter()
    n_draws = len(next(iter(model_draws.values())))
    naive_draws, naive_used = naive_predictions(table, heldout, n_draws, seed)
    scored, model_only = score_rows(heldout, model_draws, naive_draws, naive_used,
                                    essay_points(heldout, ev), np.random.default_rng(seed))
    for rec in scored + model_only:
        rec["fact_series"] = f"{frame.at[rec['id'], 'subject']} | {frame.at[rec['id'], 'metric']}"
    result.n_scored = len(scored)
    result.overall = _comparison(scored)
    result.overall_series_weighted = _comparison(scored, series_weighted=True)
    result.by_kind = by_kind(scored)
    result.essay = essay_results(scored, _frontier_ids(table))
    result.model_only = model_only_result(model_only)
    result.pit_test = {m: PitTest(scoring.pit_uniformity_pvalue([r[m]["pit"] for r in scored]),
                                  float(np.mean([r[m]["pit"] > 0.5 for r in scored])))
                       for m in METHODS}
    result.pit = [r["gpt2030"]["pit"] for r in scored]
    result.pit_naive = [r["naive"]["pit"] for r in scored]
    result.rows = scored + model_only
    timings["scoring"] = time.perf_counter() - start
    result.timings = {k: round(v, 2) for k, v in timings.items()}
    return result


# -- model variants ------------------------------------------------------------------------

VARIANTS = ("default", "constant_growth", "no_data_limit", "no_hardware_trend")


def pointwise_loglik(dt: xr.DataTree) -> xr.DataArray:
    """One log-likelihood per observation: every term's values, concatenated on ``obs_id``."""
    ll = dt["log_likelihood"].to_dataset()
    parts = []
    for name in sorted(ll.data_vars):
        da = ll[name]
        (dim,) = [d for d in da.dims if d not in ("chain", "draw")]
        parts.append(da.rename({dim: "obs_id"}).assign_coords(
            obs_id=[f"{name}:{x}" for x in da[dim].values]))
    return xr.concat(parts, dim="obs_id")


def loo_datatree(dt: xr.DataTree) -> xr.DataTree:
    """A DataTree with the posterior and one pointwise log-likelihood variable ``obs``."""
    return xr.DataTree.from_dict({
        "posterior": dt["posterior"].to_dataset()[["log_compute_2023"]],
        "log_likelihood": xr.Dataset({"obs": pointwise_loglik(dt)}),
    })


def compare_variants(ledger: Ledger, runs_dir, cutoff: str | None,
                     variants: tuple[str, ...] = VARIANTS,
                     sampler: SamplerConfig = DEFAULT_SAMPLER, seed: int = 2030,
                     force: bool = False, progressbar: bool = False,
                     backtests: dict[str, CutoffResult | dict] | None = None) -> dict:
    """PSIS-LOO on the full ledger and (with a cutoff) backtest scores, per variant."""
    import arviz as az

    trees, runs, loos = {}, {}, {}
    timings: dict[str, float] = {}
    obs_sets = {}
    for name in variants:
        start = time.perf_counter()
        run, _ = infer(ledger, runs_dir, InferRequest(config=name, sampler=sampler, seed=seed),
                       force=force, progressbar=progressbar)
        trees[name] = loo_datatree(run.datatree())
        runs[name] = Run(run.path, run.manifest)  # without its cached tree (memory)
        obs_sets[name] = tuple(trees[name]["log_likelihood"]["obs_id"].values)
        timings[f"fit_{name}"] = round(time.perf_counter() - start, 2)
    if len(set(obs_sets.values())) != 1:
        raise ValueError("the variants' runs condition on different observations: "
                         "LOO cannot compare them")
    # ArviZ warns once per model when Pareto k is high; the count is reported instead.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        for name in variants:
            loos[name] = az.loo(trees[name], var_name="obs")
        table = az.compare(loos, round_to="none")
    rows = []
    for name, rec in table.iterrows():
        lo = loos[name]
        k = np.asarray(lo.pareto_k, dtype=float).ravel()
        good_k = float(lo.good_k) if getattr(lo, "good_k", None) is not None else 0.7
        rows.append({
            "variant": str(name), "run_id": runs[name].id,
            "verdict": runs[name].manifest.get("verdict"),
            "rank": int(rec["rank"]), "elpd_loo": float(rec["elpd"]), "se": float(rec["se"]),
            "p_loo": float(rec["p"]), "elpd_diff": float(rec["elpd_diff"]),
            "dse": float(rec["dse"]), "weight": float(rec["weight"]),
            "p_worse": float(rec["p_worse"]) if "p_worse" in rec else None,
            "diag_diff": str(rec.get("diag_diff", "") or ""),
            "n_pareto_k_bad": int(np.sum(k > good_k)), "good_k": round(good_k, 3),
        })
    bt_rows: dict[str, dict] = {}
    if cutoff:
        per_row: dict[str, dict[str, float]] = {}
        for name in variants:
            given = (backtests or {}).get(name)
            res = CutoffResult.from_dict(given) if isinstance(given, dict) else given
            if res is None:
                res = run_cutoff(ledger, runs_dir, cutoff, name, sampler, seed, force,
                                 progressbar)
            bt_rows[name] = {"run_id": res.run_id, "n_scored": res.n_scored or 0,
                             **(res.overall.gpt2030.to_dict() if res.overall else {})}
            per_row[name] = {r["id"]: r["gpt2030"]["crps"] for r in res.rows if "naive" in r}
        scored = [n for n in variants if bt_rows[n].get("crps") is not None]
        if scored:
            best = min(scored, key=lambda n: bt_rows[n]["crps"])
            for name in scored:
                ids = sorted(set(per_row[name]) & set(per_row[best]))
                bt_rows[name]["crps_diff_vs_best"] = scoring.paired_difference(
                    [per_row[name][i] for i in ids], [per_row[best][i] for i in ids])
        for r in rows:
            r["backtest"] = bt_rows.get(r["variant"])
    return {"n_observations": len(obs_sets[variants[0]]), "cutoff": cutoff, "table": rows,
            "conclusion": variant_conclusion(rows, cutoff), "timings": timings}


def variant_conclusion(rows: list[dict], cutoff: str | None) -> str:
    """One honest sentence (or two) on which variant the evidence prefers, and by how much."""
    best = rows[0]
    parts = [f"By PSIS-LOO over {len(rows)} variants, {best['variant']} ranks first"]
    within, beyond = [], []
    for r in rows[1:]:
        (within if abs(r["elpd_diff"]) < 2 * max(r["dse"], 1e-9) else beyond).append(r)
    if within:
        parts.append("; " + ", ".join(f"{r['variant']} (elpd_diff {r['elpd_diff']:.1f}, "
                                      f"dse {r['dse']:.1f})" for r in within)
                     + " are within two standard errors of it, i.e. indistinguishable on "
                     "this ledger")
    if beyond:
        parts.append("; " + ", ".join(f"{r['variant']} (elpd_diff {r['elpd_diff']:.1f}, "
                                      f"dse {r['dse']:.1f})" for r in beyond)
                     + " fit the evidence worse by more than two standard errors")
    text = "".join(parts) + "."
    bad = [r for r in rows if r.get("n_pareto_k_bad")]
    if bad:
        text += (" PSIS is unreliable for some observations (Pareto k above "
                 f"{bad[0].get('good_k', 0.7)} for {min(r['n_pareto_k_bad'] for r in bad)}-"
                 f"{max(r['n_pareto_k_bad'] for r in bad)} of them per variant), so these elpd "
                 "values are approximate; exact refits without those rows would be needed to "
                 "firm them up.")
    if any(r["variant"] == "no_hardware_trend" for r in within):
        text += (" no_hardware_trend ties in LOO because served speed's trend is the sum "
                 "of a software and a bandwidth trend: without the bandwidth link the "
                 "software term absorbs the whole trend, so the fitted speed data can barely "
                 "tell them apart.")
    names = {r["variant"] for r in rows}
    if {"no_data_limit", "constant_growth"} & names:
        text += (" constant_growth and no_data_limit change the model mainly after the data "
                 "window (a compute slowdown centred on 2027; a data limit that binds later), "
                 "so LOO on past observations can barely tell them from the default: a tie "
                 "there is not evidence for either assumption.")
    if cutoff and all(r.get("backtest") and r["backtest"].get("crps") is not None
                      for r in rows):
        bt = sorted(rows, key=lambda r: r["backtest"]["crps"])
        text += (f" In the backtest from {cutoff}, mean CRPS is lowest for {bt[0]['variant']} "
                 f"({bt[0]['backtest']['crps']:.3f})")
        clear, tied = [], []
        for r in bt[1:]:
            d = r["backtest"].get("crps_diff_vs_best") or {}
            label = (f"{r['variant']} ({r['backtest']['crps']:.3f}, +{d['mean']:.3f} ± "
                     f"{d['se']:.3f})") if d.get("se") else r["variant"]
            meaningful = (d.get("se") and d["mean"] > 2 * d["se"]
                          and d["mean"] > NEGLIGIBLE_CRPS * bt[0]["backtest"]["crps"])
            (clear if meaningful else tied).append(label)
        if tied:
            text += ("; " + ", ".join(tied) + " are within noise of it (less than "
                     f"{NEGLIGIBLE_CRPS:.0%} worse, or within two paired standard errors)")
        if clear:
            text += ("; " + ", ".join(clear) + " forecast the later rows worse by more than "
                     f"{NEGLIGIBLE_CRPS:.0%} and two paired standard errors (rows of one "
                     "series are correlated, so these standard errors are too small)")
        text += "."
    failed = [r["variant"] for r in rows if r.get("verdict") not in (None, "pass")]
    if failed:
        text += (f" The run of {', '.join(failed)} did not pass the sampler diagnostics "
                 "(see `gpt2030 runs list`): read its numbers with care.")
    return text

