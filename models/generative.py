"""The essay's chain as one PyMC model: compute -> scaling -> data -> speed -> work.

``build_model`` is pure: observations and a configuration in, a ``pymc.Model`` out; no file
I/O, no sampling, no plotting. Every latent trend is in log10 units anchored at
:data:`~gpt2030.models.priors.T0`; every derived quantity is a ``Deterministic`` over the
``year`` grid with the name a reader of the essay would use.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt

from gpt2030.models import chain
from gpt2030.models.essay import THRESHOLDS
from gpt2030.models.evidence import Evidence, prepare_evidence
from gpt2030.models.priors import (
    CHINCHILLA_COMPUTE,
    DEFAULT,
    FLOP_PER_PARAM_TOKEN,
    GPT3_COMPUTE,
    T0,
    ModelConfig,
)

#: Bump when the graph or the meaning of a variable changes: stored runs of another
#: version are refused rather than misread.
MODEL_VERSION = "1.0.0"

#: The trajectory grid: from the first shipped observations to five years past 2030.
YEARS = np.arange(2018, 2036)

#: The reference alias for served speed: the API's ``gpt-4``, the frontier model when the
#: essay measured it (its offset is 0, so ``log_speed_2023`` is its speed at T0).
REFERENCE_ALIAS = "gpt-4"
#: Model size (log10 parameters) at which a measurement setting's offset is defined.
SPEED_REFERENCE_LOG_SIZE = 11.0

_LOG6 = math.log10(FLOP_PER_PARAM_TOKEN)


def _prior(config: ModelConfig, name: str, **kwargs):
    p = config.priors[name]
    return getattr(pm, p.dist)(name, **p.params, **kwargs)


def _below_frontier(name, frontier, sigma, gap, observed, dims):
    """Observed = frontier - gap + noise, gap ~ Exponential(mean ``gap``).

    Not every notable model (or benchmark entry) is the frontier one: the frontier is the
    upper envelope, and a system sits an exponentially distributed distance below it. The
    gap is marginalised in closed form (a negated exponentially modified normal).
    """

    def dist(frontier, sigma, gap, size):
        return -pm.ExGaussian.dist(mu=-frontier, sigma=sigma, nu=gap, size=size)

    return pm.CustomDist(name, frontier, sigma, gap, dist=dist, observed=observed, dims=dims)


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
        The trajectory grid.
    evidence : Evidence, optional
        ``prepare_evidence(observations, config.expert_forecasts)`` when the caller already
        has it (it also needs the rows' roles); prepared here otherwise.

    Returns
    -------
    pymc.Model
        Free parameters named as in :mod:`gpt2030.models.priors`; derived trajectories with
        dims ``year`` (``training_compute``, ``parameters``, ``training_tokens``,
        ``forward_passes``, ``work_years``, ``serial_speed``, ``speed_vs_human``,
        ``parallel_copies``, ``learning_years_per_day``, ``months_for_work``,
        ``overhang_growth_vs_gpt3``), ``speed_traded`` (``year``, ``k``),
        ``benchmark_accuracy`` (``benchmark``, ``year``) and ``data_binding_year``; one
        likelihood per evidence term with dims ``<term>_id``.
    """
    frame = observations if (observations is not None and config.use_observations) else None
    ev = None
    if frame is not None:
        ev = evidence or prepare_evidence(frame, config.expert_forecasts)
    benchmarks = _benchmark_names(ev)
    coords = {
        "year": years,
        "k": np.arange(1, 11),
        "benchmark": benchmarks,
        "speed_setting": (ev.speed_settings if ev else ["api"])[1:],
        "speed_alias": [a for a in (ev.speed_aliases if ev else []) if a != REFERENCE_ALIAS],
    }
    if ev is not None:
        coords.update({f"{name}_id": term.ids for name, term in ev.terms.items()})

    with pm.Model(coords=coords) as model:
        year = pt.as_tensor(years.astype(float))

        # -- 1. frontier compute: log10 FLOP of the largest training run by year ------------
        c0 = _prior(config, "log_compute_2023")
        growth = _prior(config, "compute_growth")
        if config.compute_slowdown:
            slow_year = _prior(config, "slowdown_year")
            slow_rate = _prior(config, "slowdown_rate")
        else:
            slow_year, slow_rate = 0.0, 0.0

        def log_compute(t):
            # Growth declines by ``slow_rate`` dex/yr per year after the slowdown year: the
            # integral of a smooth ramp (softplus, width one year).
            ramp = pt.softplus(t - slow_year) if config.compute_slowdown else 0.0
            return c0 + growth * (t - T0) - 0.5 * slow_rate * ramp**2

        log_c = log_compute(year)

        # -- 2. scaling: compute-optimal size N*(C) = N_ref (C / C_ref)^a, D* = C / 6N* ------
        a = _prior(config, "scaling_exponent")
        ratio_opt = _prior(config, "optimal_tokens_per_param")
        log_ratio_opt = pt.log10(ratio_opt)
        log_c_ref = math.log10(CHINCHILLA_COMPUTE)
        log_n_ref = 0.5 * (log_c_ref - _LOG6 - log_ratio_opt)

        def log_n_opt(lc):
            return log_n_ref + a * (lc - log_c_ref)

        # Practice departs from Chinchilla: a trend in tokens per parameter (dex above optimal).
        over0 = _prior(config, "overtrain_2023")
        over_trend = _prior(config, "overtrain_trend")

        def log_overtrain(t):
            return over0 + over_trend * (t - T0)

        # At fixed compute, m times the tokens per parameter means sqrt(m) fewer parameters.
        log_n_free = log_n_opt(log_c) - 0.5 * log_overtrain(year)
        log_d_free = log_c - _LOG6 - log_n_free

        # -- 3. data: the usable stock of text, and what happens when it binds --------------
        s0 = _prior(config, "log_stock_2023")
        s_growth = _prior(config, "stock_growth")
        reuse = _prior(config, "data_reuse")
        log_stock = s0 + s_growth * (year - T0)
        log_available = log_stock + reuse
        if config.data_constraint:
            w_syn = _prior(config, "synthetic_weight")
            syn_cost = _prior(config, "synthetic_cost")
            # Shortfall in dex, smoothed over ~0.1 dex so the sampler sees no kink.
            short = 0.1 * pt.softplus((log_d_free - log_available) / 0.1)
            synthetic_share = 1 - 10 ** (-short)
            # Lower bound: natural data only; the unspent compute goes into parameters.
            log_n_lower = log_n_free + short
            # Upper bound: the shortfall is made up with synthetic tokens that cost
            # ``syn_cost`` times more, as if training had that much less compute
            # (the essay's sqrt(2.8) = 1.7x more overhang, scaled by the synthetic share).
            log_n_upper = log_n_free - a * pt.log10(syn_cost) * synthetic_share
            log_n = w_syn * log_n_upper + (1 - w_syn) * log_n_lower
        else:
            log_n = log_n_free
        log_d = log_c - _LOG6 - log_n
        # The year the data a compute-optimal frontier run wants first exceeds the stock:
        # a year past the grid means "not before then".
        wants_more = pt.cast(log_d_free < log_available, "float64")
        pm.Deterministic("data_binding_year", years[0] + pt.sum(wants_more))
        pm.Deterministic("data_available", 10**log_available, dims="year")

        # -- 4. inference speed of the frontier model ----------------------------------------
        log_speed0 = _prior(config, "log_speed_2023")
        software = _prior(config, "software_speedup")
        size_exp = _prior(config, "size_exponent")
        bw0 = _prior(config, "log_bandwidth_2023")
        bw_growth = _prior(config, "bandwidth_growth")
        # Decoding is memory-bound: speed rises one for one with memory bandwidth.
        speed_trend = software + (bw_growth if config.hardware_trend else 0.0)
        log_n_t0 = log_n[int(np.searchsorted(years, T0))] if T0 in years else log_n[0]
        log_speed = log_speed0 + speed_trend * (year - T0) - size_exp * (log_n - log_n_t0)

        # -- human baseline ---------------------------------------------------------------------
        human_wpm = _prior(config, "human_wpm")
        tokens_per_word = _prior(config, "tokens_per_word")
        duration = _prior(config, "training_duration")
        human_tpm = pm.Deterministic("human_tokens_per_minute", human_wpm * tokens_per_word)

        # -- 6. derived quantities, named as in the essay -----------------------------------
        compute = pm.Deterministic("training_compute", 10**log_c, dims="year")
        params = pm.Deterministic("parameters", 10**log_n, dims="year")
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
                                  chain.parallel_copies(years_of_work, duration), dims="year")
        pm.Deterministic("learning_years_per_day", chain.learning_years_per_day(copies),
                         dims="year")
        pm.Deterministic("months_for_work", chain.months_for_work(vs_human), dims="year")
        # Against a compute-optimal GPT-3, as the essay's Appendix B counts it.
        log_c_gpt3 = math.log10(GPT3_COMPUTE)
        gpt3_passes = chain.forward_passes(10**log_c_gpt3, 10 ** log_n_opt(log_c_gpt3))
        pm.Deterministic("overhang_growth_vs_gpt3", passes / gpt3_passes, dims="year")

        # -- 5. benchmarks: frontier accuracy is logistic in time ----------------------------
        level = _prior(config, "bench_level", dims="benchmark")
        slope = _prior(config, "bench_slope", dims="benchmark")
        pm.Deterministic(
            "benchmark_accuracy",
            pm.math.invlogit(level[:, None] + slope[:, None] * (year[None, :] - T0)),
            dims=("benchmark", "year"),
        )

        if ev is not None:
            latent = {
                "log_compute": log_compute, "a": a, "log_ratio_opt": log_ratio_opt,
                "log_n_opt": log_n_opt, "log_overtrain": log_overtrain, "s0": s0,
                "s_growth": s_growth, "bw0": bw0, "bw_growth": bw_growth,
                "log_speed0": log_speed0, "speed_trend": speed_trend, "size_exp": size_exp,
                "human_wpm": human_wpm, "duration": duration, "level": level, "slope": slope,
            }
            _likelihoods(ev, config, latent)
    return model


def _benchmark_names(ev: Evidence | None) -> list[str]:
    names = list(ev.benchmarks) if ev else []
    for th in THRESHOLDS:
        if th.benchmark not in names:
            names.append(th.benchmark)
    return names


def _likelihoods(ev: Evidence, config: ModelConfig, v: dict) -> None:
    """Condition the model on each evidence term present (inside the model context).

    ``v`` holds the latent quantities and trend functions each term needs.
    """
    def data(term: str, name: str, dtype=float):
        return pm.Data(f"{term}_{name}", ev.term(term).array(name, dtype), dims=f"{term}_id")

    if len(ev.term("compute")):
        gap = _prior(config, "compute_gap")
        wiggle = _prior(config, "frontier_wiggle")
        t = data("compute", "t")
        sigma = pt.sqrt(data("compute", "sigma") ** 2 + wiggle**2)
        _below_frontier("compute_obs", v["log_compute"](t), sigma, gap,
                        observed=data("compute", "y"), dims="compute_id")
    if len(ev.term("compute_forecast")):
        t = data("compute_forecast", "t")
        pm.Normal("compute_forecast_obs", v["log_compute"](t), data("compute_forecast", "sigma"),
                  observed=data("compute_forecast", "y"), dims="compute_forecast_id")
    if len(ev.term("scaling_exponent")):
        pm.Normal("scaling_exponent_obs", v["a"], data("scaling_exponent", "sigma"),
                  observed=data("scaling_exponent", "y"), dims="scaling_exponent_id")
    if len(ev.term("optimal_ratio")):
        pm.Normal("optimal_ratio_obs", v["log_ratio_opt"], data("optimal_ratio", "sigma"),
                  observed=data("optimal_ratio", "y"), dims="optimal_ratio_id")
    if len(ev.term("tokens_per_param")):
        spread = _prior(config, "practice_spread")
        lc = data("tokens_per_param", "log_compute")
        t = data("tokens_per_param", "t")
        # log10 D*/N* at the model's own compute, plus the overtraining of its year.
        log_ratio = lc - _LOG6 - 2 * v["log_n_opt"](lc) + v["log_overtrain"](t)
        pm.Normal("tokens_per_param_obs", log_ratio, spread,
                  observed=data("tokens_per_param", "y"), dims="tokens_per_param_id")
    if len(ev.term("data_stock")):
        t = data("data_stock", "t")
        pm.Normal("data_stock_obs", v["s0"] + v["s_growth"] * (t - T0), data("data_stock", "sigma"),
                  observed=data("data_stock", "y"), dims="data_stock_id")
    if len(ev.term("bandwidth")):
        spread = _prior(config, "bandwidth_spread")
        t = data("bandwidth", "t")
        pm.Normal("bandwidth_obs", v["bw0"] + v["bw_growth"] * (t - T0), spread,
                  observed=data("bandwidth", "y"), dims="bandwidth_id")
    if len(ev.term("speed")):
        term = ev.term("speed")
        aliases = [a for a in ev.speed_aliases if a != REFERENCE_ALIAS]
        alias_idx = np.array([aliases.index(a) + 1 if a and a != REFERENCE_ALIAS else 0
                              for a in term.arrays["alias"]])
        setting_idx = term.array("setting", int)
        log_size = term.array("log_size")
        known = ~np.isnan(log_size)
        spread = _prior(config, "alias_spread")
        # Each served model's own level at T0, centred on the frontier model's: absolute
        # levels (not offsets from gpt-4) keep them uncorrelated with ``log_speed_2023``,
        # and most aliases have many monthly readings that pin their level.
        alias = pm.Normal("speed_alias_level", v["log_speed0"], spread, dims="speed_alias")
        alias_level = pt.concatenate([pt.stack([v["log_speed0"]]), alias])
        # Settings other than the API: the level of a 1e11-parameter model there.
        setting = _prior(config, "setting_level", dims="speed_setting")
        setting_level = pt.concatenate([pt.zeros(1), setting])
        noise = _prior(config, "deployment_noise")
        t = data("speed", "t")
        size_term = pm.Data("speed_log_size", np.where(known, log_size, 0.0), dims="speed_id")
        level = pt.where(known,
                         setting_level[setting_idx]
                         - v["size_exp"] * (size_term - SPEED_REFERENCE_LOG_SIZE),
                         alias_level[alias_idx])
        mu = level + v["speed_trend"] * (t - T0)
        pm.Normal("speed_obs", mu, noise, observed=data("speed", "y"), dims="speed_id")
    if len(ev.term("training_duration")):
        # "Under 1.2 years" (Sevilla et al. 2022) is a bound, not a value: a censored
        # observation, whose likelihood is the probability of lying below it.
        y = data("training_duration", "y")
        pm.Censored("training_duration_obs",
                    pm.Normal.dist(pt.log10(v["duration"]), data("training_duration", "sigma")),
                    lower=y, upper=None, observed=y, dims="training_duration_id")
    if len(ev.term("human_speed")):
        pm.Normal("human_speed_obs", pt.log10(v["human_wpm"]), data("human_speed", "sigma"),
                  observed=data("human_speed", "y"), dims="human_speed_id")
    if len(ev.term("benchmark")):
        term = ev.term("benchmark")
        gap = _prior(config, "bench_gap")
        noise = _prior(config, "bench_noise")
        b = term.array("benchmark", int)
        t = data("benchmark", "t")
        frontier = v["level"][b] + v["slope"][b] * (t - T0)
        _below_frontier("benchmark_obs", frontier, noise, gap,
                        observed=data("benchmark", "y"), dims="benchmark_id")
