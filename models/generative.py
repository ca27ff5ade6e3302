"""The essay's chain as one PyMC model: compute -> scaling -> data -> speed -> work.

``build_model`` is pure: observations and a configuration in, a ``pymc.Model`` out; no file
I/O, no sampling, no plotting. Every latent trend is in log10 units on the ``year`` grid,
anchored at :data:`~gpt2030.models.priors.T0`; every derived quantity is a ``Deterministic``
over that grid with the name a reader of the essay would use.

Model 2.0: the trends are state-space processes, not fixed lines. Compute growth, the
serving-speed trend, overtraining and shared benchmark progress each take a random walk
with Student-t steps, so a forecast's uncertainty grows with its horizon and leaves room for
a change of regime; served models are series with their own level, drift and autocorrelated
deviations; the compute record is monotone and meets a soft 2030 ceiling.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable

import numpy as np
import pandas as pd
import pymc as pm
import pytensor
import pytensor.tensor as pt

from gpt2030.models import FIRST_YEAR, chain
from gpt2030.models.essay import THRESHOLDS
from gpt2030.models.evidence import MORE_THAN, POINT, UNDER, Evidence, Term, prepare_evidence
from gpt2030.models.priors import (
    CHINCHILLA_COMPUTE,
    DEFAULT,
    FLOP_PER_PARAM_TOKEN,
    GPT3_COMPUTE,
    T0,
    WALK_NU,
    ModelConfig,
)

# PyTensor keeps, on every graph node it creates, the Python stack it was created from
# (8 frames, each frame's source line read) for its own error messages. Building a model,
# its log-densities, the draws' graphs and their rewrites creates tens of thousands of
# nodes: registering the shipped targets took 1.9 s with the traces and 0.9 s without
# (2026-11-29), a warm compile 21 and 18 s; the draws are the same. gpt2030 reports its
# own errors; whoever debugs a graph can ask for the traces with
# PYTENSOR_FLAGS=traceback__limit=8.
if "traceback__limit" not in os.environ.get("PYTENSOR_FLAGS", ""):
    pytensor.config.traceback__limit = 0

#: Bump ``MODEL_VERSION`` in ``models/__init__.py`` when the graph or the meaning of a
#: variable changes (it lives there so that reading runs needs no PyMC).

#: The trajectory grid: from the first shipped observations to five years past 2030. The
#: random walks step once a year on it.
YEARS = np.arange(FIRST_YEAR, 2036)

#: The reference alias for served speed: the API's ``gpt-4``, the frontier model when the
#: essay measured it (its offset is 0, so ``log_speed_2023`` is its speed at its first
#: reading, less the trend since T0).
REFERENCE_ALIAS = "gpt-4"
#: Model size (log10 parameters) at which a measurement setting's offset is defined.
SPEED_REFERENCE_LOG_SIZE = 11.0
#: The served-speed trackers read monthly: ``deployment_month_change`` is a one-month change.
MONTHS_PER_YEAR = 12
#: Growth (dex/yr) of the 2030 compute ceiling around 2030: GPU production +30-100%/yr
#: (Sevilla et al. 2024, chip section, median 1.7x = 0.23 dex) and hardware FLOP/s per chip
#: ~1.35x/yr (0.13 dex, Epoch AI's ML hardware trends) - 0.36 dex/yr.
CAP_GROWTH = 0.36
#: Width (dex) over which the record bends into the ceiling: a judgement (soft, not a wall).
CAP_SOFTNESS = 0.3

_LOG6 = math.log10(FLOP_PER_PARAM_TOKEN)


def _prior(config: ModelConfig, name: str, **kwargs):
    p = config.priors[name]
    return getattr(pm, p.dist)(name, **p.params, **kwargs)


def _anchored_cumsum(steps, anchor: int):
    """Values on the grid from yearly steps, zero at the grid's ``anchor`` index."""
    c = pt.concatenate([pt.zeros(1), pt.cumsum(steps)])
    return c - c[anchor]


def _walk_steps(name: str):
    """Standardised Student-t steps of a random walk, one per year of the grid.

    Non-centred: these are the free parameters (``<name>_steps``) and the walk's scale
    multiplies them, so the sampler sees the same geometry whatever the scale is.
    """
    return pm.StudentT(f"{name}_steps", nu=WALK_NU, mu=0.0, sigma=1.0, dims="step")


def _walk(name: str, sd, anchor: int):
    """A random walk over the grid's steps, zero at the step that starts at ``anchor``."""
    c = pt.cumsum(_walk_steps(name))
    return sd * (c - c[anchor])


def _interp(values, t, years: np.ndarray):
    """Linear interpolation of a grid vector at decimal years ``t`` (extrapolated at ends)."""
    u = t - float(years[0])
    i = pt.clip(pt.floor(u), 0, len(years) - 2).astype("int64")
    frac = u - i
    return values[i] + frac * (values[i + 1] - values[i])


def build_model(
    observations: pd.DataFrame | None,
    config: ModelConfig = DEFAULT,
    years: np.ndarray = YEARS,
    evidence: Evidence | None = None,
) -> pm.Model:
    """Build the generative model of GPT-2030.

    Parameters
    ----------
    observations : pandas.DataFrame or None
        Typed observations (:func:`gpt2030.observations.observation_frame`); ignored, like
        ``None``, when ``config.use_observations`` is off.
    config : ModelConfig
        Priors and structural switches (:data:`gpt2030.models.priors.CONFIGS`).
    years : numpy.ndarray
        The trajectory grid (whole years, containing T0).
    evidence : Evidence, optional
        ``prepare_evidence(observations, config.expert_forecasts)`` when the caller already
        has it (it also needs the rows' roles); prepared here otherwise.

    Returns
    -------
    pymc.Model
        Free parameters named as in :mod:`gpt2030.models.priors`; derived trajectories with
        dims ``year`` (``training_compute``, ``parameters`` (active), ``total_parameters``,
        ``training_tokens``, ``forward_passes``, ``work_years``, ``serial_speed``,
        ``speed_vs_human``, ``training_duration_years``, ``parallel_copies``,
        ``learning_years_per_day``, ``months_for_work``, ``overhang_growth_vs_gpt3``,
        ``dataset_growth_vs_2023``), ``speed_traded`` (``year``, ``k``),
        ``benchmark_accuracy`` (``benchmark``, ``year``) and ``data_binding_year``; one
        likelihood per evidence term with dims ``<term>_id``.
    """
    frame = observations if (observations is not None and config.use_observations) else None
    ev = None
    if frame is not None:
        ev = evidence or prepare_evidence(frame, config.expert_forecasts)
    bench = _benchmark_layout(ev)
    coords = {
        "year": years,
        "step": years[:-1],
        "k": np.arange(1, 11),
        "benchmark": bench.variants,
        "task": bench.tasks,
        "bench_variant": [v for v, ref in zip(bench.variants, bench.is_reference, strict=True)
                          if not ref],
        "speed_setting": (ev.speed_settings if ev else ["api"])[1:],
        "speed_alias": [a for a in (ev.speed_aliases if ev else []) if a != REFERENCE_ALIAS],
        "served_model": list(ev.speed_aliases) if ev else [],
    }
    if ev is not None:
        coords.update({f"{name}_id": term.ids for name, term in ev.terms.items()})
    anchor = int(np.searchsorted(years, T0))

    with pm.Model(coords=coords) as model:
        year = pt.as_tensor(years.astype(float))
        latent = {"years": years, "anchor": anchor}
        log_c = _compute_link(config, years, year, anchor, latent)
        log_n, log_d = _scaling_and_data_link(config, year, anchor, log_c, latent)
        log_speed = _speed_link(config, anchor, log_n, latent)
        _derived(config, year, log_c, log_n, log_d, log_speed, latent)
        _benchmark_link(config, year, anchor, bench, ev, latent)
        if ev is not None:
            _likelihoods(ev, config, latent)
    return model


# -- 1. frontier compute ---------------------------------------------------------------------

def _compute_link(config, years, year, anchor, v) -> pt.TensorVariable:
    """log10 FLOP of the record training run by year: monotone, soft-capped in 2030.

    The record's yearly growth is ``compute_growth`` at T0 and takes a random walk on its
    logarithm (so it stays positive: a record never un-happens); it bends smoothly into a
    ceiling that is ~2e29 FLOP in 2030 (Epoch AI's constraints) and grows after that.
    """
    c0 = _prior(config, "log_compute_2023")
    growth = _prior(config, "compute_growth")
    if config.compute_slowdown:
        walk = _walk("growth_walk", _prior(config, "growth_walk_sd"), anchor)
        steps = growth * pt.exp(walk)
    else:
        steps = growth * pt.ones(len(years) - 1)
    free = c0 + _anchored_cumsum(steps, anchor)
    if config.compute_slowdown:
        cap = _prior(config, "log_compute_cap_2030") + CAP_GROWTH * (year - 2030.0)
        log_c = free - CAP_SOFTNESS * pt.softplus((free - cap) / CAP_SOFTNESS)
    else:
        log_c = free
    v["log_c"] = log_c
    return log_c


# -- 2 and 3. scaling, overtraining, data --------------------------------------------------

def _scaling_and_data_link(config, year, anchor, log_c, v):
    """Active parameters and tokens of the frontier run, given compute and the data stock."""
    a = _prior(config, "scaling_exponent")
    ratio_opt = _prior(config, "optimal_tokens_per_param")
    log_ratio_opt = pt.log10(ratio_opt)
    log_c_ref = math.log10(CHINCHILLA_COMPUTE)
    log_n_ref = 0.5 * (log_c_ref - _LOG6 - log_ratio_opt)

    def log_n_opt(lc):
        # Compute-optimal active parameters N*(C) = N_ref (C / C_ref)^a, D* = C / 6N*.
        return log_n_ref + a * (lc - log_c_ref)

    # Overtraining of the frontier model (dex of tokens per parameter above optimal): a
    # random walk with no drift, so it is not extrapolated as a line in time.
    over0 = _prior(config, "overtrain_2023")
    over_sd = _prior(config, "overtrain_walk_sd")
    over = over0 + over_sd * _anchored_cumsum(_walk_steps("overtrain_walk"), anchor)
    pm.Deterministic("overtraining", over, dims="year")
    # At fixed compute, m times the tokens per parameter means sqrt(m) fewer parameters.
    log_n_free = log_n_opt(log_c) - 0.5 * over
    log_d_free = log_c - _LOG6 - log_n_free

    s0 = _prior(config, "log_stock_2023")
    s_growth = _prior(config, "stock_growth")
    reuse = _prior(config, "data_reuse")
    # The stock of text; with repetition (a few epochs) and new modalities, what is usable.
    # Villalobos et al. 2024's "effective stock" already counts repetition, so it observes
    # ``log_available``, never the stock: no double counting.
    log_available = s0 + s_growth * (year - T0) + reuse
    if config.data_constraint:
        w_syn = _prior(config, "synthetic_weight")
        syn_cost = _prior(config, "synthetic_cost")
        # Shortfall in dex, smoothed over ~0.1 dex so the sampler sees no kink.
        short = 0.1 * pt.softplus((log_d_free - log_available) / 0.1)
        synthetic_share = 1 - 10 ** (-short)
        # Lower bound: natural data only; the unspent compute goes into parameters.
        log_n_lower = log_n_free + short
        log_d_lower = log_d_free - short
        # Upper bound: the shortfall is made up with synthetic tokens that cost ``syn_cost``
        # times more, as if training had that much less compute (the essay's sqrt(2.8) =
        # 1.7x more overhang, scaled by the synthetic share). The compute spent making the
        # data buys no tokens: D = C_eff / 6N, fewer tokens than the unconstrained run.
        lost = pt.log10(syn_cost) * synthetic_share
        log_n_upper = log_n_free - a * lost
        log_d_upper = log_c - lost - _LOG6 - log_n_upper
        log_n = w_syn * log_n_upper + (1 - w_syn) * log_n_lower
        log_d = w_syn * log_d_upper + (1 - w_syn) * log_d_lower
    else:
        log_n, log_d = log_n_free, log_d_free
    # The year the data a compute-optimal frontier run wants first exceeds the stock:
    # a year past the grid means "not before then".
    wants_more = pt.cast(log_d_free < log_available, "float64")
    pm.Deterministic("data_binding_year", float(v["years"][0]) + pt.sum(wants_more))
    pm.Deterministic("data_available", 10**log_available, dims="year")
    # The essay's lower bound: if only high-quality data could be used, datasets grow only
    # ~8x from 2023 to 2030. This is the growth the model gives, for comparison.
    pm.Deterministic("dataset_growth_vs_2023", 10 ** (log_d - log_d[anchor]), dims="year")
    v.update(a=a, log_ratio_opt=log_ratio_opt, log_n_opt=log_n_opt, over=over,
             over_gap=_prior(config, "overtrain_gap"), s0=s0, s_growth=s_growth, reuse=reuse)
    return log_n, log_d


# -- 4. serving speed ------------------------------------------------------------------------

def _speed_link(config, anchor, log_n, v):
    """Serial tokens/s of the frontier model, from the serving trend and its size."""
    log_speed0 = _prior(config, "log_speed_2023")
    software = _prior(config, "software_speedup")
    size_exp = _prior(config, "size_exponent")
    bw0 = _prior(config, "log_bandwidth_2023")
    bw_growth = _prior(config, "bandwidth_growth")
    # Decoding is memory-bound: speed rises one for one with memory bandwidth. Serving
    # software adds gains that come in jumps (speculative decoding, quantisation, new
    # kernels: each a one-off multiple), so the yearly change is a mean gain plus Student-t
    # shocks to the level: a random walk with drift, whose spread grows with the horizon.
    shocks = _prior(config, "software_walk_sd") * _walk_steps("software_walk")
    steps = software + shocks + (bw_growth if config.hardware_trend else 0.0)
    trend = _anchored_cumsum(steps, anchor)
    log_speed = log_speed0 + trend - size_exp * (log_n - log_n[anchor])
    v.update(log_speed0=log_speed0, trend=trend, size_exp=size_exp, bw0=bw0,
             bw_growth=bw_growth)
    return log_speed


# -- 5 and 6. derived quantities ---------------------------------------------------------

def _derived(config, year, log_c, log_n, log_d, log_speed, v) -> None:
    """The essay's headline quantities on the grid, named as in the essay."""
    human_wpm = _prior(config, "human_wpm")
    tokens_per_word = _prior(config, "tokens_per_word")
    duration = _prior(config, "training_duration")
    dur_growth = _prior(config, "duration_growth")
    sparsity = _prior(config, "frontier_sparsity")
    human_tpm = pm.Deterministic("human_tokens_per_minute", human_wpm * tokens_per_word)
    run_years = pm.Deterministic("training_duration_years",
                                 duration * 10 ** (dur_growth * (year - T0)), dims="year")

    compute = pm.Deterministic("training_compute", 10**log_c, dims="year")
    params = pm.Deterministic("parameters", 10**log_n, dims="year")
    pm.Deterministic("total_parameters", params * sparsity, dims="year")
    pm.Deterministic("training_tokens", 10**log_d, dims="year")
    passes = pm.Deterministic("forward_passes", chain.forward_passes(compute, params),
                              dims="year")
    years_of_work = pm.Deterministic("work_years", chain.work_years(passes, human_tpm),
                                     dims="year")
    speed = pm.Deterministic("serial_speed", 10**log_speed, dims="year")
    vs_human = pm.Deterministic("speed_vs_human", speed * 60.0 / human_tpm, dims="year")
    ks = pt.as_tensor(np.arange(1, 11, dtype=float))
    pm.Deterministic("speed_traded", chain.speed_traded(vs_human[:, None], ks[None, :]),
                     dims=("year", "k"))
    copies = pm.Deterministic("parallel_copies",
                              chain.parallel_copies(years_of_work, run_years), dims="year")
    pm.Deterministic("learning_years_per_day", chain.learning_years_per_day(copies),
                     dims="year")
    pm.Deterministic("months_for_work", chain.months_for_work(vs_human), dims="year")
    # Against a compute-optimal GPT-3, as the essay's Appendix B counts it.
    log_c_gpt3 = math.log10(GPT3_COMPUTE)
    gpt3_passes = chain.forward_passes(10**log_c_gpt3, 10 ** v["log_n_opt"](log_c_gpt3))
    pm.Deterministic("overhang_growth_vs_gpt3", passes / gpt3_passes, dims="year")
    v.update(human_wpm=human_wpm, duration=duration, dur_growth=dur_growth)


# -- 5. benchmarks ---------------------------------------------------------------------------

class _BenchLayout:
    """Benchmarks (variants) and the tasks they measure."""

    def __init__(self, variants: list[str], task_of: list[int], tasks: list[str],
                 reasoning_since: float | None) -> None:
        self.variants, self.task_of, self.tasks = variants, task_of, tasks
        seen: set[int] = set()
        self.is_reference = []
        for t in task_of:
            self.is_reference.append(t not in seen)
            seen.add(t)
        self.reasoning_since = reasoning_since


def _benchmark_layout(ev: Evidence | None) -> _BenchLayout:
    from gpt2030.models.evidence import benchmark_task

    variants = list(ev.benchmarks) if ev else []
    for th in THRESHOLDS:
        if th.benchmark not in variants:
            variants.append(th.benchmark)
    tasks: list[str] = []
    for name in variants:
        if benchmark_task(name) not in tasks:
            tasks.append(benchmark_task(name))
    # A task's reference variant is the one named like the task where present.
    variants.sort(key=lambda n: (tasks.index(benchmark_task(n)), n != benchmark_task(n)))
    task_of = [tasks.index(benchmark_task(n)) for n in variants]
    return _BenchLayout(variants, task_of, tasks, ev.reasoning_since if ev else None)


def _benchmark_link(config, year, anchor, bench: _BenchLayout, ev, v) -> None:
    """Frontier accuracy of each benchmark: logistic in time, plus shared shocks.

    Variants of one task share its level and slope and differ by an offset; progress
    shocks common to every benchmark take a random walk; reasoning systems (o1-style) are a
    regime with a gain of their own, part of the frontier from their first score on.
    """
    level = _prior(config, "bench_level", dims="task")
    slope = _prior(config, "bench_slope", dims="task")
    offsets = _prior(config, "bench_variant_offset", dims="bench_variant")
    ref = np.asarray(bench.is_reference)
    pos = np.cumsum(~ref) - 1
    offset = pt.concatenate([pt.zeros(1), offsets])[np.where(ref, 0, pos + 1)]
    task_of = np.asarray(bench.task_of, dtype=int)
    common = _prior(config, "bench_walk_sd") * _anchored_cumsum(_walk_steps("bench_walk"),
                                                                 anchor)
    boost = _prior(config, "reasoning_boost")
    regime = (np.asarray(v["years"], dtype=float) >= bench.reasoning_since).astype(float) \
        if bench.reasoning_since is not None else np.zeros(len(v["years"]))
    logit = (level[task_of][:, None] + offset[:, None]
             + slope[task_of][:, None] * (year[None, :] - T0)
             + common[None, :] + boost * regime[None, :])
    pm.Deterministic("benchmark_accuracy", pm.math.invlogit(logit), dims=("benchmark", "year"))
    v.update(level=level, slope=slope, offset=offset, task_of=task_of, common=common,
             boost=boost, variants=bench.variants)


# -- measurement: one observation helper for every term ----------------------------------

def _split_bounds(bound: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return (np.flatnonzero(bound == POINT), np.flatnonzero(bound == MORE_THAN),
            np.flatnonzero(bound == UNDER))


def _observe(name: str, term: Term, dims: str, logp_fns: tuple[Callable, Callable, Callable],
             dist: Callable, params: list, plain: Callable | None = None, observed=None):
    """Condition on a term's values, censoring its bound rows.

    A row with ``bound`` "more than X" contributes the probability of exceeding X (the log
    complementary CDF), "under X" the CDF; other rows the density. ``logp_fns`` are the
    (density, CDF, complementary CDF) in log form of one row's distribution given
    ``params``; ``dist`` builds it symbolically for draws (the predictive is of the value,
    uncensored). Without
    bound rows, ``plain`` (a PyMC distribution builder) is used directly. ``observed`` is the
    values' Data container (the term's ``y`` when not given).
    """
    y = term.array("y") if observed is None else observed
    bound = term.array("bound", int)
    if plain is not None and not bound.any():
        return plain(name, *params, observed=y, dims=dims)
    point, more, under = _split_bounds(bound)
    logp_f, logcdf_f, logccdf_f = logp_fns

    def logp(value, *ps):
        out = pt.zeros_like(value)
        for idx, f in ((point, logp_f), (more, logccdf_f), (under, logcdf_f)):
            if len(idx):
                sub = [p[idx] if getattr(p, "ndim", 0) else p for p in ps]
                out = pt.set_subtensor(out[idx], f(value[idx], *sub))
        return out

    return pm.CustomDist(name, *params, logp=logp, dist=dist, observed=y, dims=dims)


def _normal_obs(name: str, term: Term, dims: str, mu, sigma, observed=None):
    def fns():
        return (lambda x, m, s: pm.logp(pm.Normal.dist(m, s), x),
                lambda x, m, s: pm.logcdf(pm.Normal.dist(m, s), x),
                lambda x, m, s: pm.logccdf(pm.Normal.dist(m, s), x))

    def dist(m, s, size):
        return pm.Normal.dist(m, s, size=size)

    n = len(term)
    mu = pt.broadcast_to(pt.as_tensor(mu), (n,))
    sigma = pt.broadcast_to(pt.as_tensor(sigma), (n,))
    return _observe(name, term, dims, fns(), dist, [mu, sigma], plain=pm.Normal,
                    observed=observed)


def _below_frontier(name: str, term: Term, dims: str, frontier, sigma, gap, observed=None):
    """Observed = frontier - gap + noise, gap ~ Exponential(mean ``gap``).

    Not every notable model (or benchmark entry) is the frontier one: the frontier is the
    upper envelope, and a system sits an exponentially distributed distance below it. The
    gap is marginalised in closed form: the value is a negated exponentially modified
    normal, whose CDF is the ExGaussian's complementary CDF at the negated value.
    """
    def exg(m, s, g):
        return pm.ExGaussian.dist(mu=-m, sigma=s, nu=g)

    fns = (lambda x, m, s, g: pm.logp(exg(m, s, g), -x),
           lambda x, m, s, g: pm.logccdf(exg(m, s, g), -x),
           lambda x, m, s, g: pm.logcdf(exg(m, s, g), -x))

    def dist(m, s, g, size):
        return -pm.ExGaussian.dist(mu=-m, sigma=s, nu=g, size=size)

    n = len(term)
    frontier = pt.broadcast_to(pt.as_tensor(frontier), (n,))
    sigma = pt.broadcast_to(pt.as_tensor(sigma), (n,))
    gap = pt.broadcast_to(pt.as_tensor(gap), (n,))
    return _observe(name, term, dims, fns, dist, [frontier, sigma, gap], observed=observed)


# -- the likelihood terms ------------------------------------------------------------------

def _likelihoods(ev: Evidence, config: ModelConfig, v: dict) -> None:
    """Condition the model on each evidence term present (inside the model context)."""
    years = v["years"]
    made: dict[str, pt.TensorVariable] = {}

    def data(term: str, name: str, dtype=float):
        key = f"{term}_{name}"
        if key not in made:
            made[key] = pm.Data(key, ev.term(term).array(name, dtype), dims=f"{term}_id")
        return made[key]

    def meas(term: str, structural=0.0):
        """Structural spread and each row's own measurement error, added in quadrature."""
        return pt.sqrt(structural**2 + data(term, "meas") ** 2)

    def at(values, term: str):
        return _interp(values, data(term, "t"), years)

    def normal(term: str, mu, sigma):
        _normal_obs(f"{term}_obs", ev.term(term), f"{term}_id", mu, sigma,
                    observed=data(term, "y"))

    def below_frontier(term: str, frontier, sigma, gap):
        _below_frontier(f"{term}_obs", ev.term(term), f"{term}_id", frontier, sigma, gap,
                        observed=data(term, "y"))

    def present(term: str) -> bool:
        return len(ev.term(term)) > 0

    if present("compute"):
        wiggle = _prior(config, "frontier_wiggle")
        below_frontier("compute", at(v["log_c"], "compute"), meas("compute", wiggle),
                       _prior(config, "compute_gap"))
    if present("compute_forecast"):
        normal("compute_forecast", at(v["log_c"], "compute_forecast"), meas("compute_forecast"))
    if present("scaling_exponent"):
        normal("scaling_exponent", v["a"], meas("scaling_exponent"))
    if present("optimal_ratio"):
        normal("optimal_ratio", v["log_ratio_opt"], meas("optimal_ratio"))
    if present("tokens_per_param"):
        spread = _prior(config, "practice_spread")
        lc = data("tokens_per_param", "log_compute")
        # log10 D*/N* at the model's own compute, the frontier's overtraining of its year,
        # and more overtraining the further below the frontier the model sits.
        below = at(v["log_c"], "tokens_per_param") - lc
        mu = (lc - _LOG6 - 2 * v["log_n_opt"](lc) + at(v["over"], "tokens_per_param")
              + v["over_gap"] * below)
        normal("tokens_per_param", mu, meas("tokens_per_param", spread))
    if present("data_stock"):
        t = data("data_stock", "t")
        normal("data_stock", v["s0"] + v["s_growth"] * (t - T0) + v["reuse"], meas("data_stock"))
    if present("bandwidth"):
        spread = _prior(config, "bandwidth_spread")
        t = data("bandwidth", "t")
        normal("bandwidth", v["bw0"] + v["bw_growth"] * (t - T0), meas("bandwidth", spread))
    if present("speed"):
        mu, sigma = _speed_mean(ev, config, v, data)
        normal("speed", mu, sigma)
    if present("training_duration"):
        spread = _prior(config, "duration_spread")
        t = data("training_duration", "t")
        normal("training_duration", pt.log10(v["duration"]) + v["dur_growth"] * (t - T0),
               meas("training_duration", spread))
    if present("human_speed"):
        normal("human_speed", pt.log10(v["human_wpm"]), meas("human_speed"))
    if present("benchmark"):
        term = ev.term("benchmark")
        variant_of = {name: i for i, name in enumerate(v["variants"])}
        b = np.array([variant_of[ev.benchmarks[i]] for i in term.array("benchmark", int)])
        task = v["task_of"][b]
        t = data("benchmark", "t")
        frontier = (v["level"][task] + v["offset"][b] + v["slope"][task] * (t - T0)
                    + at(v["common"], "benchmark")
                    + v["boost"] * data("benchmark", "reasoning"))
        noise = _prior(config, "bench_noise")
        below_frontier("benchmark", frontier, meas("benchmark", noise),
                       _prior(config, "bench_gap"))


def _speed_mean(ev: Evidence, config: ModelConfig, v: dict, data):
    """Served models as series; other settings through the model's size.

    A served model (API alias) enters at its first reading a random distance from the
    frontier model's speed of that date (the reference alias at distance 0), then drifts
    at its own rate (shrunk to the population's, free to stall), with deviations that are
    autocorrelated within the series (AR(1) in continuous time): month after month of one
    deployment counts as one series, not as independent facts. Returns each reading's
    mean and scale given the reading before it in its series.
    """
    term = ev.term("speed")
    years = v["years"]
    served = list(ev.speed_aliases)
    alias_idx = term.array("alias", int)
    t_np = term.array("t")
    first = np.array([t_np[alias_idx == i].min() for i in range(len(served))]) \
        if served else np.zeros(0)
    is_alias = alias_idx >= 0
    safe_alias = np.where(is_alias, alias_idx, 0)

    spread = _prior(config, "alias_spread")
    # Non-centred: most aliases have a handful of readings, too few to pin their own level.
    others = spread * pm.Normal("speed_alias_offset_z", 0.0, 1.0, dims="speed_alias")
    ref = served.index(REFERENCE_ALIAS) if REFERENCE_ALIAS in served else -1
    pos = np.array([i - (ref >= 0 and i > ref) for i in range(len(served))])
    offset = pt.concatenate([pt.zeros(1), others])[np.where(np.arange(len(served)) == ref, 0,
                                                            pos + 1)] \
        if served else pt.zeros(0)
    drift_mean = _prior(config, "alias_drift_mean")
    drift_spread = _prior(config, "alias_drift_spread")
    drift_z = pm.Normal("alias_drift_z", 0.0, 1.0, dims="served_model")
    drift = drift_mean + drift_spread * drift_z

    setting = _prior(config, "setting_level", dims="speed_setting")
    setting_level = pt.concatenate([pt.zeros(1), setting])
    setting_idx = term.array("setting", int)
    log_size = term.array("log_size")
    t = data("speed", "t")
    trend_at = _interp(v["trend"], t, years)
    if served:
        first_t = pt.as_tensor(first)[safe_alias]
        launch = v["log_speed0"] + _interp(v["trend"], first_t, years)
        mu_alias = launch + offset[safe_alias] + drift[safe_alias] * (t - first_t)
    else:
        mu_alias = pt.zeros_like(t)
    mu_setting = (setting_level[setting_idx] + trend_at
                  - v["size_exp"] * (np.nan_to_num(log_size) - SPEED_REFERENCE_LOG_SIZE))
    mu = pt.where(is_alias, mu_alias, mu_setting)

    phi = _prior(config, "series_autocorrelation")
    # The readings identify the month-to-month change well and the stationary spread only
    # weakly: sampled as (spread, autocorrelation), the two lay on a narrow curved ridge
    # (correlation 0.95 on the unconstrained scale) whose tail gave divergences. Sampled as
    # (monthly change, autocorrelation) the two are nearly independent; the stationary
    # spread of an AR(1) in continuous time follows: change^2 = noise^2 (1 - phi^(2/12)).
    month_change = _prior(config, "deployment_month_change")
    noise = pm.Deterministic("deployment_noise",
                             month_change / pt.sqrt(1.0 - phi ** (2.0 / MONTHS_PER_YEAR)))
    scale = pt.sqrt(noise**2 + data("speed", "meas") ** 2)
    prev = term.array("prev", int)
    has_prev = prev >= 0
    safe_prev = np.where(has_prev, prev, 0)
    y = data("speed", "y")  # the observed values: predecessors follow any new data
    rho = phi ** data("speed", "gap")
    carry = pt.where(has_prev, rho * (y[safe_prev] - mu[safe_prev]), 0.0)
    cond_sd = scale * pt.sqrt(pt.where(has_prev, 1.0 - rho**2, 1.0) + 1e-6)
    return mu + carry, cond_sd
