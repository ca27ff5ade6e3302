"""The vectorised predictive and log-densities against PyMC's draw-by-draw ones.

The shipped ledger's model has every kind of observed variable the model makes: plain
normals, censored normals and the below-frontier terms (a ``CustomDist`` over an
``ExGaussian``, both symbolic random variables).
"""

from __future__ import annotations

import numpy as np
import pymc as pm
import pymc.stats
import pytest
import xarray as xr
from common import SEED, SHIPPED_LEDGER
from pymc.distributions.distribution import SymbolicRandomVariable
from pytensor.graph.traversal import toposort

from gpt2030.inference import over_draws
from gpt2030.inference.progress import quiet_pymc
from gpt2030.models import DEFAULT, build_model
from gpt2030.observations import Ledger, observation_frame

DRAWS = 40
#: Draws per evaluation in these tests: 80 draws make 12 chunks, the last one short.
SMALL_CHUNK = 7


@pytest.fixture(scope="module")
def model() -> pm.Model:
    return build_model(observation_frame(Ledger(SHIPPED_LEDGER).rows()), DEFAULT)


@pytest.fixture(scope="module")
def draws(model: pm.Model) -> xr.Dataset:
    """Prior draws of the free parameters as a 2-chain "posterior"."""
    with quiet_pymc(), model:
        prior = pm.sample_prior_predictive(draws=2 * DRAWS, random_seed=SEED,
                                           compile_kwargs={"mode": "FAST_COMPILE"})
    free = prior["prior"].to_dataset()[[rv.name for rv in model.free_RVs]]
    halves = [free.isel(draw=slice(i * DRAWS, (i + 1) * DRAWS)).assign_coords(
        draw=np.arange(DRAWS)) for i in range(2)]
    return xr.concat(halves, dim="chain").transpose("chain", "draw", ...).assign_coords(
        chain=[0, 1])


def _pymc(model, draws, kind):
    tree = xr.DataTree.from_dict({"posterior": draws})
    fn = pm.compute_log_likelihood if kind == "likelihood" else pymc.stats.compute_log_prior
    with quiet_pymc(), model:
        out = fn(tree, extend_inferencedata=False, progressbar=False,
                 compile_kwargs={"mode": "FAST_COMPILE"})
    return out.to_dataset() if isinstance(out, xr.DataTree) else out


@pytest.fixture(autouse=True)
def _small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Many chunks, so that a mistake in putting them back in order shows."""
    monkeypatch.setattr(over_draws, "CHUNK", SMALL_CHUNK)


@pytest.fixture(scope="module")
def log_lik(model, draws) -> xr.Dataset:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(over_draws, "CHUNK", SMALL_CHUNK)
        return over_draws.log_likelihood(model, draws)


@pytest.mark.parametrize("kind", ["likelihood", "prior"])
def test_log_densities_are_pymcs(model, draws, log_lik, kind):
    ours = log_lik if kind == "likelihood" else over_draws.log_prior(model, draws)
    theirs = _pymc(model, draws, kind)
    assert set(ours.data_vars) == set(theirs.data_vars)
    for name in theirs.data_vars:
        assert ours[name].dims == theirs[name].dims, name
        for dim in ours[name].dims:
            np.testing.assert_array_equal(ours[dim].values, theirs[dim].values)
        # The Gamma priors' log-densities: PyMC's compile rewrites them and moves them by
        # up to 4e-7 from SciPy's, ours (no rewrites) by up to 1.2e-7 (2026-11-29).
        tol = 1e-9 if kind == "likelihood" else 5e-7
        np.testing.assert_allclose(ours[name].values, theirs[name].values, rtol=tol,
                                   atol=tol, err_msg=name)


def test_log_likelihood_of_some_terms(model, draws, log_lik):
    some = over_draws.log_likelihood(model, draws, ["speed_obs", "benchmark_obs"])
    assert set(some.data_vars) == {"speed_obs", "benchmark_obs"}
    for name in some.data_vars:
        np.testing.assert_allclose(some[name].values, log_lik[name].values)


def test_observed_and_free_densities_in_one_graph_are_the_separate_ones(model, draws, log_lik):
    """``infer`` asks for both at once (observed terms from their own graphs, the free
    parameters from the model's): names in any order, each the value asked alone gives."""
    free = [rv.name for rv in model.free_RVs][:3]
    names = [free[0], "speed_obs", *free[1:], "compute_obs"]
    both = over_draws.log_densities(model, draws, names)
    prior = over_draws.log_prior(model, draws)
    assert list(both.data_vars) == names
    for name in names:
        alone = log_lik[name] if name.endswith("_obs") else prior[name]
        np.testing.assert_allclose(both[name].values, alone.values, rtol=1e-12, err_msg=name)


def test_custom_distributions_are_inlined(model):
    names = ["compute_obs", "benchmark_obs"]
    assert any(isinstance(n.op, SymbolicRandomVariable) for n in toposort(
        [model[n] for n in names]))
    flat = over_draws.inline_symbolic([model[n] for n in names])
    assert not any(isinstance(n.op, SymbolicRandomVariable) for n in toposort(flat))


def test_predictive_is_seeded_and_shaped(model, draws):
    names = ["compute_obs", "scaling_exponent_obs"]
    a = over_draws.predictive(model, draws, names, seed=SEED)
    b = over_draws.predictive(model, draws, names, seed=SEED)
    c = over_draws.predictive(model, draws, names, seed=SEED + 1)
    for name in names:
        dims = model.named_vars_to_dims[name]
        assert a[name].dims == ("chain", "draw", *dims)
        assert a[name].shape[:2] == (2, DRAWS)
        np.testing.assert_array_equal(a[name].values, b[name].values)
        assert not np.allclose(a[name].values, c[name].values), name


def test_predictive_follows_each_draws_parameters(model, draws):
    """Draw i of the predictive is made with parameter draw i: the scaling exponent's
    reports sit on the exponent (measurement errors 0.01-0.03, prior spread ~0.1)."""
    pp = over_draws.predictive(model, draws, ["scaling_exponent_obs"], seed=SEED)
    reported = pp["scaling_exponent_obs"].mean("scaling_exponent_id").values.ravel()
    exponent = draws["scaling_exponent"].values.ravel()
    assert np.corrcoef(reported, exponent)[0, 1] > 0.9
    assert np.abs(reported - exponent).mean() < 0.05


@pytest.mark.slow
def test_predictive_matches_pymcs_distribution(model, draws):
    """One parameter draw repeated: per row, the mean and spread of 4,000 predictive draws
    agree with PyMC's for the same draw (both Monte Carlo: 5 standard errors). Slow tier:
    PyMC draws them one at a time."""
    n = 4000
    one = draws.isel(chain=[0], draw=[0] * n).assign_coords(draw=np.arange(n))
    names = ["compute_obs", "benchmark_obs", "speed_obs", "tokens_per_param_obs"]
    ours = over_draws.predictive(model, one, names, seed=SEED)
    with quiet_pymc(), model:
        theirs = pm.sample_posterior_predictive(
            xr.DataTree.from_dict({"posterior": one}), var_names=names, random_seed=SEED,
            progressbar=False, compile_kwargs={"mode": "FAST_COMPILE"}
        )["posterior_predictive"]
    first, second = (ours["compute_obs"].values[0, i * 1000:(i + 1) * 1000] for i in (0, 1))
    assert not np.allclose(first, second)  # the random stream moves on between chunks
    for name in names:
        x, y = ours[name].values[0], theirs[name].values[0]
        sd = y.std(0)
        assert np.all(np.abs(x.mean(0) - y.mean(0)) <= 5 * sd * np.sqrt(2 / n) + 1e-12), name
        assert np.all(np.abs(x.std(0) / sd - 1) <= 5 / np.sqrt(n) + 0.02), name


def test_deterministics_are_pymcs(model, draws):
    ours = over_draws.deterministics(model, draws)
    with quiet_pymc(), model:
        # a copy: with extend_dataset, PyMC adds the Deterministics to the Dataset it is given
        theirs = pm.compute_deterministics(draws.copy(), extend_dataset=True, progressbar=False,
                                           compile_kwargs={"mode": "FAST_COMPILE"})
    assert set(ours.data_vars) == set(theirs.data_vars)
    assert {d.name for d in model.deterministics} <= set(ours.data_vars)
    for name in theirs.data_vars:
        assert ours[name].dims == theirs[name].dims, name
        np.testing.assert_allclose(ours[name].values, theirs[name].values, rtol=1e-9,
                                   err_msg=name)


def _python_loops(fn) -> list[str]:
    """Nodes of a compiled graph over the draws that run Python once per draw or element:
    a ``Blockwise`` (a loop over the draws) or an ``Elemwise`` over the draws whose scalar
    op has no NumPy function."""
    from pytensor.tensor.blockwise import Blockwise
    from pytensor.tensor.elemwise import Elemwise

    found = []
    for node in fn.maker.fgraph.apply_nodes:
        over_draws_ = any(getattr(o.type, "ndim", 0) and o.type.shape[0] == SMALL_CHUNK
                          for o in node.outputs)
        if isinstance(node.op, Blockwise) or (
                isinstance(node.op, Elemwise) and over_draws_
                and getattr(node.op.scalar_op, "nfunc_spec", None) is None
                and not hasattr(node.op.scalar_op, "fgraph")):  # Composite: NumPy inside
            found.append(str(node.op))
    return found


def test_graphs_over_the_draws_run_in_numpy(model, draws, monkeypatch):
    """The walks' joins, the Deterministics' identities, fills, per-row assignments and
    softplus run on whole arrays (as PyTensor's vectorising alone left them, they looped
    in Python over every draw or element: ~0.8 s of a run's 1.0-1.4 s of trajectories)."""
    made = []
    real = over_draws._compile

    def keep(*args, **kwargs):
        made.append(real(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(over_draws, "_compile", keep)
    over_draws.deterministics(model, draws)
    over_draws.log_densities(model, draws, [*(rv.name for rv in model.observed_RVs),
                                            *(rv.name for rv in model.free_RVs)])
    over_draws.predictive(model, draws, [rv.name for rv in model.observed_RVs], seed=SEED)
    assert len(made) == 3
    for fn in made:
        assert _python_loops(fn) == []


@pytest.fixture(scope="module")
def prior_both(model) -> tuple[xr.DataTree, xr.DataTree]:
    n = 1000
    ours = over_draws.prior(model, n, SEED)
    with quiet_pymc(), model:
        theirs = pm.sample_prior_predictive(draws=n, random_seed=SEED,
                                            compile_kwargs={"mode": "FAST_COMPILE"})
    return ours, theirs


@pytest.mark.slow
def test_prior_is_pymcs_in_one_graph(model, prior_both):
    """The same groups, variables, dims and shapes as PyMC's prior predictive, seeded, and
    the same distributions: two-sample KS of every free parameter, Deterministic and
    observed variable (a few elements each) against PyMC's draws (other random numbers).
    A root parameter drawn once and broadcast, or a child drawn from its prior mean instead
    of its parents' draws, fails here. Slow tier: PyMC draws one at a time."""
    from scipy.stats import ks_2samp

    ours, theirs = prior_both
    assert list(ours.children) == list(theirs.children)
    smallest = 1.0
    for group in ("prior", "prior_predictive"):
        a, b = ours[group].to_dataset(), theirs[group].to_dataset()
        assert set(a.data_vars) == set(b.data_vars), group
        for name in b.data_vars:
            assert a[name].dims == b[name].dims and a[name].shape == b[name].shape, name
            x = a[name].values.reshape(a.sizes["draw"], -1)
            y = b[name].values.reshape(b.sizes["draw"], -1)
            for j in range(0, x.shape[1], max(1, x.shape[1] // 4)):
                xs, ys = x[:, j][np.isfinite(x[:, j])], y[:, j][np.isfinite(y[:, j])]
                if np.unique(ys).size > 10:
                    smallest = min(smallest, ks_2samp(xs, ys).pvalue)
    assert smallest > 1e-4


def test_prior_is_seeded(model):
    a, b, c = (over_draws.prior(model, 20, seed) for seed in (SEED, SEED, SEED + 1))
    for name in ("compute_growth", "growth_walk_steps", "training_compute"):
        np.testing.assert_array_equal(a["prior"][name].values, b["prior"][name].values)
        assert not np.allclose(a["prior"][name].values, c["prior"][name].values), name
    # every draw its own: a root parameter is not one draw repeated
    assert np.unique(a["prior"]["compute_growth"].values).size == 20


def test_prior_draws_a_child_given_its_parents_draws():
    """The shipped model's parameters are all roots (non-centred); a hierarchy's child is
    drawn at each of its parent's draws, as PyMC's forward sampler draws it."""
    with pm.Model(coords={"group": ["a", "b", "c"]}) as toy:
        parent = pm.Normal("parent", 0.0, 1.0)
        scale = pm.HalfNormal("scale", 1.0)
        child = pm.Normal("child", parent, 0.01 * scale, dims="group")
        pm.Normal("y", child, 0.01, observed=np.zeros(3), dims="group")
    prior = over_draws.prior(toy, 2000, SEED)
    x = prior["prior"]["parent"].values.ravel()
    kids = prior["prior"]["child"].values.reshape(-1, 3)
    ys = prior["prior_predictive"]["y"].values.reshape(-1, 3)
    assert np.unique(x).size == 2000
    for j in range(3):
        assert np.corrcoef(x, kids[:, j])[0, 1] > 0.999
        assert np.corrcoef(kids[:, j], ys[:, j])[0, 1] > 0.99
    spread = 0.01 * np.sqrt(np.mean(prior["prior"]["scale"].values ** 2))
    assert abs(np.std(kids[:, 0] - x) / spread - 1) < 0.05
