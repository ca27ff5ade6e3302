"""Model 2.0's structure, checked without sampling the posterior.

Active parameters for mixture-of-experts models, a served model's readings weighing as one
series, censoring of bound rows in every term, the synthetic-data branch's token count, and
forecast uncertainty that grows with the horizon.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import pandas as pd
import pymc as pm
import pytest
import xarray as xr
from common import SEED, SHIPPED_LEDGER
from scipy import stats

from gpt2030.models import DEFAULT, build_model, get_config
from gpt2030.models.evidence import MORE_THAN, POINT, UNDER, Term, prepare_evidence
from gpt2030.models.generative import _below_frontier, _normal_obs
from gpt2030.observations import Ledger, observation_frame


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return observation_frame(Ledger(SHIPPED_LEDGER).rows())


# -- active vs total parameters -----------------------------------------------------------

def test_moe_models_pair_tokens_with_active_parameters(frame: pd.DataFrame) -> None:
    ev = prepare_evidence(frame)
    term = ev.term("tokens_per_param")
    y = dict(zip(term.ids, term.array("y"), strict=True))
    active = frame[(frame["kind"] == "parameters") & (frame["metric"] == "active")]
    assert {"DeepSeek-V3", "GPT-4 (Mar 2023)", "Grok-1"} <= set(active["subject"])
    # DeepSeek-V3: 14.8T tokens over 37B active parameters (not 671B total).
    row = active[active["subject"] == "DeepSeek-V3"].iloc[0]
    assert ev.roles[row["id"]] == "tokens_per_param"
    assert y[row["id"]] == pytest.approx(math.log10(14.8e12 / 3.7e10))
    total = frame[(frame["kind"] == "parameters") & (frame["subject"] == "DeepSeek-V3")
                  & (frame["metric"] == "total")].iloc[0]
    assert ev.roles[total["id"]].startswith("context: the model's total parameters")
    # Grok-1 has no token count: C = 6ND with its active parameters gives ~78 tokens per
    # parameter (with its 314B total it would be ~5).
    grok = active[active["subject"] == "Grok-1"].iloc[0]
    assert y[grok["id"]] == pytest.approx(math.log10(2.9e24 / (6 * 7.85e10**2)), abs=1e-6)


def test_a_dense_model_uses_its_only_count(frame: pd.DataFrame) -> None:
    ev = prepare_evidence(frame)
    row = frame[(frame["kind"] == "parameters") & (frame["subject"] == "Chinchilla")].iloc[0]
    assert ev.roles[row["id"]] == "tokens_per_param"


# -- a series weighs as one series --------------------------------------------------------

def _speed_rows(n: int) -> pd.DataFrame:
    rows = [{"id": f"s{i}", "kind": "inference_speed", "subject": "gpt-4",
             "metric": "OpenAI API (tracker, monthly median)", "date": f"2023-{i + 1:02d}",
             "target_date": "", "value": "12", "unit": "tokens/s", "low": "", "high": "",
             "interval": "", "bound": "", "status": "measured", "confidence": "",
             "source": "test", "note": "", "added": "2026-11-28", "removed_on": "",
             "removed_reason": ""} for i in range(n)]
    return observation_frame(rows)


@functools.cache
def _speed_logp(n: int) -> tuple[object, dict]:
    """The speed term's compiled log-likelihood for ``n`` monthly readings, and a point
    (compiled once per ``n``: the autocorrelation is an input, not part of the graph)."""
    model = build_model(_speed_rows(n), DEFAULT)
    f = model.compile_fn(model.logp(vars=[model["speed_obs"]]), inputs=model.value_vars,
                         on_unused_input="ignore")
    return f, model.initial_point(random_seed=SEED)


def _level_information(n: int, phi: float) -> float:
    """Curvature of the speed term's log-likelihood in the series' level (its information)."""
    f, point = _speed_logp(n)
    point = {**point,
             "series_autocorrelation_logodds__": np.array(math.log(phi / (1 - phi)))}
    h = 1e-3

    def at(delta: float) -> float:
        p = dict(point)
        p["log_speed_2023"] = point["log_speed_2023"] + delta
        return float(f(p))

    return -(at(h) - 2 * at(0.0) + at(-h)) / h**2


def test_monthly_readings_of_one_deployment_weigh_about_one_series() -> None:
    one = _level_information(1, 0.5)
    many = _level_information(12, 0.5)
    # Twelve independent readings would carry 12 times the information of one; a year of
    # monthly readings of one deployment (correlation 0.5 a year apart) carries < 2 times.
    assert many / one < 2.0
    assert many / one > 1.0
    # The same readings with almost no autocorrelation (0.1 a month apart) count as nearly
    # independent facts: the test can tell the two apart.
    assert _level_information(12, 1e-12) / _level_information(1, 1e-12) > 8


# -- censoring -------------------------------------------------------------------------------

def _term(y: list[float], bound: list[int]) -> Term:
    t = Term()
    for i, (v, b) in enumerate(zip(y, bound, strict=True)):
        t.add(f"r{i}", y=v, bound=b)
    return t


def test_normal_bound_rows_use_the_cdf() -> None:
    term = _term([0.5, 0.5, 0.5], [POINT, MORE_THAN, UNDER])
    with pm.Model(coords={"x_id": term.ids}) as model:
        _normal_obs("x_obs", term, "x_id", 0.2, 0.4)
    logp = model.compile_fn(model.logp(vars=[model["x_obs"]], sum=False)[0], inputs=[])({})
    np.testing.assert_allclose(logp, [stats.norm.logpdf(0.5, 0.2, 0.4),
                                      stats.norm.logsf(0.5, 0.2, 0.4),
                                      stats.norm.logcdf(0.5, 0.2, 0.4)], rtol=1e-6)


def test_below_frontier_bound_rows_use_the_cdf() -> None:
    # Value = frontier + N(0, sigma) - Exponential(mean gap): a negated ExGaussian.
    frontier, sigma, gap, y = 1.0, 0.3, 0.5, 0.8
    term = _term([y, y, y], [POINT, MORE_THAN, UNDER])
    with pm.Model(coords={"x_id": term.ids}) as model:
        _below_frontier("x_obs", term, "x_id", frontier, sigma, gap)
    logp = model.compile_fn(model.logp(vars=[model["x_obs"]], sum=False)[0], inputs=[])({})
    # scipy: exponnorm(K = gap / sigma, loc, scale = sigma) is N(loc, sigma) + Exp(gap).
    neg = stats.exponnorm(gap / sigma, loc=-frontier, scale=sigma)
    np.testing.assert_allclose(logp, [neg.logpdf(-y), neg.logcdf(-y), neg.logsf(-y)],
                               rtol=1e-6)


def test_a_bound_row_is_censored_in_every_term(frame: pd.DataFrame) -> None:
    """One row of each term made "more than X": its likelihood becomes a probability that
    rises as X falls (a complementary CDF), never a density."""
    ev = prepare_evidence(frame, expert_forecasts=True)
    flipped = frame.copy()
    last = {term: data.ids[-1] for term, data in ev.terms.items()}
    flipped.loc[list(last.values()), "bound"] = "lower"
    model = build_model(flipped, get_config("with_forecasts"))
    point = model.initial_point(random_seed=SEED)
    rvs = model.observed_RVs
    # Two evaluations: Python's FAST_COMPILE gives the same numbers without seconds of C.
    logp = model.compile_fn(model.logp(vars=rvs, sum=False), inputs=model.value_vars,
                            on_unused_input="ignore", mode="FAST_COMPILE")
    names = [rv.name.removesuffix("_obs") for rv in rvs]
    assert set(names) == set(last)
    before = dict(zip(names, logp(point), strict=True))
    for term, obs_id in last.items():
        i = list(model.coords[f"{term}_id"]).index(obs_id)
        y = model[f"{term}_y"].get_value().copy()
        y[i] -= 0.2
        model[f"{term}_y"].set_value(y)
    after = dict(zip(names, logp(point), strict=True))
    for term, obs_id in last.items():
        i = list(model.coords[f"{term}_id"]).index(obs_id)
        assert before[term][i] <= 0.0, term  # a log probability
        assert after[term][i] > before[term][i], term  # a lower bound is likelier exceeded


# -- data: the synthetic branch's tokens -------------------------------------------------------

def test_synthetic_data_buys_fewer_tokens_than_unlimited_data(frame: pd.DataFrame) -> None:
    default = build_model(None, get_config("default"))
    point = default.initial_point(random_seed=SEED)
    point["log_stock_2023"] = np.array(12.5)  # a stock that binds early
    point["synthetic_weight_logodds__"] = np.array(12.0)  # the synthetic bound

    def tokens(model: pm.Model) -> np.ndarray:
        # The same values for every parameter the two models share (the Deterministic as a
        # function of the parameters' values, not of fresh random draws).
        (out,) = model.replace_rvs_by_values([model["training_tokens"]])
        f = model.compile_fn(out, inputs=model.value_vars, on_unused_input="ignore")
        return np.asarray(f({v.name: point[v.name] for v in model.value_vars}))

    synthetic = tokens(default)
    unlimited = tokens(build_model(None, get_config("no_data_limit")))
    # Fewer tokens wherever data binds, never more (where it does not bind the two agree).
    assert (synthetic <= unlimited * (1 + 1e-9)).all()
    assert synthetic[-1] < 0.9 * unlimited[-1]


# -- uncertainty grows with the horizon --------------------------------------------------------

@pytest.fixture(scope="module")
def prior_draws() -> xr.DataTree:
    """400 prior draws of the default model's compute and speed (sampled once)."""
    with build_model(None, DEFAULT):
        return pm.sample_prior_predictive(draws=400, random_seed=SEED,
                                          var_names=["training_compute", "serial_speed"])


def test_prior_predictive_widens_with_the_horizon(prior_draws: xr.DataTree) -> None:
    draws = prior_draws
    for name in ("training_compute", "serial_speed"):
        logs = np.log10(draws.prior[name].sel(year=[2024, 2027, 2030]).values[0])
        width = np.percentile(logs, 95, axis=0) - np.percentile(logs, 5, axis=0)
        assert width[0] < width[1] < width[2], name


def test_the_compute_record_never_falls(prior_draws: xr.DataTree) -> None:
    c = prior_draws.prior["training_compute"].values[0]
    assert (np.diff(np.log10(c), axis=1) > 0).all()
