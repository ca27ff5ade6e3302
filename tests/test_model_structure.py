"""Issue #3: the model's structure on the shipped ledger, without sampling the posterior."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pymc as pm
import pytest
import xarray as xr
from conftest import SEED, SHIPPED_LEDGER

from gpt2030.models import (
    CONFIGS,
    DEFAULT,
    ESSAY,
    MODEL_VERSION,
    YEARS,
    build_model,
    chain,
    get_config,
)
from gpt2030.models.evidence import prepare_evidence
from gpt2030.models.priors import DEFAULT_PRIORS, Prior
from gpt2030.observations import Ledger, observation_frame

#: The trajectories a reader of the essay looks for, all over the ``year`` grid.
TRAJECTORIES = ("training_compute", "parameters", "training_tokens", "forward_passes",
                "work_years", "speed_vs_human", "parallel_copies", "learning_years_per_day",
                "overhang_growth_vs_gpt3", "serial_speed", "months_for_work")
#: Free parameters that are structural (standardised steps of the random walks and
#: non-centred hierarchical offsets, scaled by priors of their own) rather than priors.
STRUCTURAL = {"growth_walk_steps", "software_walk_steps", "overtrain_walk_steps",
              "bench_walk_steps", "speed_alias_offset_z", "alias_drift_z"}
#: Evidence terms that are measurements (everything but expert forecasts).
MEASUREMENT_TERMS = {"compute", "scaling_exponent", "optimal_ratio", "tokens_per_param",
                     "data_stock", "bandwidth", "speed", "training_duration", "human_speed",
                     "benchmark"}


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return observation_frame(Ledger(SHIPPED_LEDGER).rows())


@pytest.fixture(scope="module")
def model(frame: pd.DataFrame) -> pm.Model:
    return build_model(frame, DEFAULT)


def test_model_version_and_years() -> None:
    assert MODEL_VERSION
    np.testing.assert_array_equal(YEARS, np.arange(2018, 2036))
    assert 2030 in YEARS and 2023 in YEARS


def test_named_variables_and_dims(model: pm.Model) -> None:
    dims = model.named_vars_to_dims
    np.testing.assert_array_equal(np.asarray(model.coords["year"]), YEARS)
    for name in TRAJECTORIES:
        assert name in model.named_vars, name
        assert dims[name] == ("year",), name
    assert dims["speed_traded"] == ("year", "k")
    np.testing.assert_array_equal(np.asarray(model.coords["k"]), np.arange(1, 11))
    assert dims["benchmark_accuracy"] == ("benchmark", "year")
    assert "data_binding_year" in model.named_vars
    assert model["data_binding_year"].ndim == 0
    for name in ("MATH", "IMO", "APPS (competition level)"):  # the thresholds' benchmarks
        assert name in model.coords["benchmark"]
    deterministics = {d.name for d in model.deterministics}
    assert set(TRAJECTORIES) | {"speed_traded", "benchmark_accuracy",
                                "data_binding_year"} <= deterministics


def test_observed_variables_are_indexed_by_ledger_ids(model: pm.Model,
                                                      frame: pd.DataFrame) -> None:
    evidence = prepare_evidence(frame, DEFAULT.expert_forecasts)
    observed = {rv.name for rv in model.observed_RVs}
    assert observed == {f"{term}_obs" for term, t in evidence.terms.items() if len(t)}
    assert {"compute_obs", "speed_obs", "benchmark_obs"} <= observed
    for name in observed:
        term = name.removesuffix("_obs")
        assert model.named_vars_to_dims[name] == (f"{term}_id",)
        ids = list(model.coords[f"{term}_id"])
        assert ids == evidence.terms[term].ids
        assert len(set(ids)) == len(ids)
        assert set(ids) <= set(frame.index)
        assert (evidence.roles[ids] == term).all()
        assert model.rvs_to_values[model[name]].get_value().shape == (len(ids),)


def test_observations_enter_through_data(model: pm.Model, frame: pd.DataFrame) -> None:
    assert model.data_vars
    data_names = {d.name for d in model.data_vars}
    evidence = prepare_evidence(frame, DEFAULT.expert_forecasts)
    for rv in model.observed_RVs:
        term = rv.name.removesuffix("_obs")
        assert f"{term}_y" in data_names
        y = model[f"{term}_y"].get_value()
        np.testing.assert_allclose(y, evidence.terms[term].array("y"))
        # The observed variable's value is that very Data container.
        assert model.rvs_to_values[rv] is model[f"{term}_y"]


@pytest.mark.slow
def test_logp_and_gradient_are_finite_at_the_initial_point(model: pm.Model) -> None:
    """Slow tier: compiling the whole model's gradient takes 20-30 s (the numba backend; not
    cached across processes). The fast tier checks each term's log density below."""
    point = model.initial_point(random_seed=SEED)
    logp = model.compile_logp()(point)
    assert np.isfinite(logp)
    grad = model.compile_dlogp()(point)
    assert grad.shape == (sum(np.size(v) for v in point.values()),)
    assert np.isfinite(grad).all()


def test_each_observed_term_has_a_finite_logp(model: pm.Model) -> None:
    point = model.initial_point(random_seed=SEED)
    # One evaluation: Python's FAST_COMPILE, not seconds of C compilation.
    f = model.compile_fn(model.logp(vars=model.observed_RVs, sum=False), inputs=model.value_vars,
                         on_unused_input="ignore", mode="FAST_COMPILE")
    for rv, values in zip(model.observed_RVs, f(point), strict=True):
        assert np.isfinite(values).all(), rv.name


def test_every_free_parameter_has_a_sourced_prior(model: pm.Model) -> None:
    free = [rv.name for rv in model.free_RVs]
    assert len(free) == len(set(free))
    for name in free:
        assert name in DEFAULT_PRIORS or name in STRUCTURAL, name
    for name in set(free) & set(DEFAULT_PRIORS):
        prior = DEFAULT_PRIORS[name]
        # The variable is the distribution the prior names.
        assert type(model[name].owner.op).__name__ == f"{prior.dist}RV", name


@pytest.mark.parametrize("config", sorted(CONFIGS))
def test_every_prior_has_a_source(config: str) -> None:
    priors = get_config(config).priors
    assert set(priors) == set(DEFAULT_PRIORS)
    for name, prior in priors.items():
        assert isinstance(prior, Prior)
        assert prior.source.strip(), name
        assert hasattr(pm, prior.dist), name
        assert prior.describe().startswith(prior.dist + "(")


def test_every_default_prior_is_used(frame: pd.DataFrame, model: pm.Model) -> None:
    free = {rv.name for rv in model.free_RVs}
    assert set(DEFAULT_PRIORS) <= free


def test_unknown_config_and_prior_names_are_refused() -> None:
    with pytest.raises(KeyError, match="default"):
        get_config("nope")
    with pytest.raises(KeyError, match="no such prior"):
        DEFAULT.with_priors(nope=DEFAULT_PRIORS["compute_growth"])


@pytest.fixture(scope="module")
def prior_draws(model: pm.Model) -> xr.DataTree:
    with model:
        return pm.sample_prior_predictive(draws=20, random_seed=SEED)


def test_prior_predictive_has_year_dims(prior_draws: xr.DataTree) -> None:
    dt = prior_draws
    assert dt.prior["training_compute"].dims == ("chain", "draw", "year")
    assert dt.prior["training_compute"].shape == (1, 20, len(YEARS))
    np.testing.assert_array_equal(dt.prior["year"].values, YEARS)
    assert dt.prior["speed_traded"].dims == ("chain", "draw", "year", "k")
    assert "compute_obs" in dt.prior_predictive
    assert dt.prior_predictive["compute_obs"].dims == ("chain", "draw", "compute_id")
    assert np.isfinite(dt.prior["training_compute"].values).all()
    assert (dt.prior["training_compute"].values > 0).all()


def test_prior_predictive_is_reproducible(model: pm.Model) -> None:
    with model:
        a = pm.sample_prior_predictive(draws=5, random_seed=SEED, var_names=["work_years"])
        b = pm.sample_prior_predictive(draws=5, random_seed=SEED, var_names=["work_years"])
    np.testing.assert_array_equal(a.prior["work_years"].values, b.prior["work_years"].values)


def test_essay_config_has_no_observations(frame: pd.DataFrame) -> None:
    for observations in (None, frame):
        essay = build_model(observations, ESSAY)
        assert essay.observed_RVs == []
        assert not any(name.endswith("_id") for name in essay.coords)
        assert essay.named_vars_to_dims["training_compute"] == ("year",)
    # One constant compute growth in the essay's arithmetic: no walk, no ceiling.
    assert not {"growth_walk_steps", "log_compute_cap_2030"} & {rv.name for rv in essay.free_RVs}


def test_structural_switches(frame: pd.DataFrame) -> None:
    free = {name: {rv.name for rv in build_model(frame, CONFIGS[name]).free_RVs}
            for name in ("constant_growth", "no_data_limit")}
    assert "growth_walk_sd" not in free["constant_growth"]
    assert "synthetic_weight" not in free["no_data_limit"]
    with_forecasts = build_model(frame, CONFIGS["with_forecasts"])
    assert "compute_forecast_obs" in {rv.name for rv in with_forecasts.observed_RVs}


def test_every_row_gets_a_role(frame: pd.DataFrame) -> None:
    for expert in (False, True):
        roles = prepare_evidence(frame, expert).roles
        missing = roles.index[roles.isna()].tolist()
        assert missing == [], f"{len(missing)} rows without a role: {missing}"


@pytest.mark.parametrize("expert", [False, True])
def test_roles_are_terms_or_say_why_not(frame: pd.DataFrame, expert: bool) -> None:
    evidence = prepare_evidence(frame, expert)
    roles = evidence.roles
    assert list(roles.index) == list(frame.index)
    given = roles.dropna()
    assert len(given) > 0.9 * len(roles)
    for obs_id, role in given.items():
        if role.startswith("context"):
            assert role.startswith("context: ") and len(role) > len("context: ") + 5, obs_id
        else:
            assert role in evidence.terms, (obs_id, role)
    # Every id of every term has that term as its role (tokens_per_param also marks the
    # token row it paired with).
    for term, data in evidence.terms.items():
        assert (roles[data.ids] == term).all(), term


def test_forecasts_condition_only_with_forecasts_switched_on(frame: pd.DataFrame) -> None:
    forecast = frame["status"] == "forecast"
    assert forecast.sum() > 0
    default = prepare_evidence(frame, expert_forecasts=False).roles
    assert default[forecast].str.startswith("context").all()
    assert "compute_forecast" not in set(default)

    on = prepare_evidence(frame, expert_forecasts=True).roles
    compute_forecasts = forecast & (frame["kind"] == "compute_projection") & (
        frame["metric"] == "training_compute")
    assert compute_forecasts.sum() > 0
    assert (on[compute_forecasts] == "compute_forecast").all()
    assert set(on[forecast]) - {"compute_forecast"} == {
        r for r in on[forecast] if r.startswith("context")}
    # Measurements keep their roles when forecasts are switched on.
    pd.testing.assert_series_equal(on[~forecast].fillna("<none>"),
                                   default[~forecast].fillna("<none>"))


@pytest.mark.parametrize("expert", [False, True])
def test_forecasts_never_land_in_a_measurement_term(frame: pd.DataFrame, expert: bool) -> None:
    evidence = prepare_evidence(frame, expert)
    forecast_ids = set(frame.index[frame["status"] == "forecast"])
    for term, data in evidence.terms.items():
        if term in MEASUREMENT_TERMS:
            assert not forecast_ids & set(data.ids), term
        else:
            assert term == "compute_forecast"
    roles = evidence.roles[sorted(forecast_ids)]
    assert roles.notna().all()
    assert not (set(roles) & MEASUREMENT_TERMS)


def test_a_new_forecast_row_does_not_move_the_default_model(frame: pd.DataFrame) -> None:
    row = frame.iloc[0].copy()
    row.update({"id": "test-forecast", "kind": "training_compute", "status": "forecast",
                "subject": "gpt-x", "metric": "", "value_base": 1e30, "t": 2024.5,
                "t_target": 2030.5, "low_base": np.nan, "high_base": np.nan, "bound": "",
                "unit": "FLOP", "dimension": "compute", "interval": ""})
    more = pd.concat([frame, row.to_frame().T.set_index(pd.Index(["test-forecast"]))])
    evidence = prepare_evidence(more, expert_forecasts=False)
    assert evidence.roles["test-forecast"].startswith("context")
    assert "test-forecast" not in evidence.term("compute").ids


def test_trajectories_follow_the_essay_arithmetic(prior_draws: xr.DataTree) -> None:
    """The derived trajectories are wired through :mod:`gpt2030.models.chain`."""
    p = prior_draws.prior
    compute, params, tokens = p["training_compute"], p["parameters"], p["training_tokens"]
    human_tpm = p["human_tokens_per_minute"]
    # C = 6ND, except that synthetic data spends part of C on making tokens: never more.
    assert (6 * params * tokens <= compute * (1 + 1e-9)).all()
    xr.testing.assert_allclose(p["forward_passes"], chain.forward_passes(compute, params),
                               rtol=1e-9)
    xr.testing.assert_allclose(p["work_years"],
                               chain.work_years(p["forward_passes"], human_tpm), rtol=1e-9)
    xr.testing.assert_allclose(p["speed_vs_human"], p["serial_speed"] * 60 / human_tpm,
                               rtol=1e-9)
    xr.testing.assert_allclose(p["months_for_work"], 12 / p["speed_vs_human"], rtol=1e-9)
    xr.testing.assert_allclose(p["speed_traded"],
                               p["speed_vs_human"] * p["k"] ** 2,
                               rtol=1e-9)
    xr.testing.assert_allclose(p["parallel_copies"],
                               p["work_years"] / p["training_duration_years"], rtol=1e-9)
    xr.testing.assert_allclose(p["learning_years_per_day"], p["parallel_copies"] / 365,
                               rtol=1e-9)
    xr.testing.assert_allclose(human_tpm, p["human_wpm"] * p["tokens_per_word"], rtol=1e-9)
    accuracy = p["benchmark_accuracy"]
    assert ((accuracy > 0) & (accuracy < 1)).all()
    binding = p["data_binding_year"]
    assert ((binding >= YEARS[0]) & (binding <= YEARS[-1] + 1)).all()


def test_observed_data_group_holds_each_terms_values_on_its_dims(model: pm.Model) -> None:
    from gpt2030.inference.sampling import observed_data

    ds = observed_data(model)
    assert set(ds.data_vars) == {rv.name for rv in model.observed_RVs}
    for rv in model.observed_RVs:
        expected = model.rvs_to_values[rv].eval()  # what PyTensor computes from the graph
        got = ds[rv.name]
        assert got.dims == tuple(model.named_vars_to_dims[rv.name])
        assert got.dtype == expected.dtype
        np.testing.assert_array_equal(got.values, expected)
        dim = got.dims[0]
        assert [str(v) for v in got[dim].values] == [str(v) for v in model.coords[dim]]


@pytest.mark.parametrize(("flags", "limit"), [("", 0), ("traceback__limit=5", 5)])
def test_graph_nodes_carry_no_stack_traces_unless_asked(flags: str, limit: int) -> None:
    """PyTensor's per-node stack traces cost a quarter of building the update's graphs: the
    model turns them off, unless the user's PYTENSOR_FLAGS names the setting."""
    import os
    import subprocess
    import sys

    code = ("import pytensor, pytensor.tensor as pt\n"
            "from gpt2030.models import build_model\n"
            "trace = getattr((pt.scalar() + 1).tag, 'trace', [])\n"
            "print(pytensor.config.traceback__limit, bool(trace))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env={**os.environ, "PYTENSOR_FLAGS": flags}).stdout.split()
    assert out == [str(limit), str(limit > 0)]
