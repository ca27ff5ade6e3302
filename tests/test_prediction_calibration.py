"""Issue #14: pre-registered predictions are calibrated when the model is right.

Simulation-based calibration (Talts et al. 2018) of the whole path a prediction takes: the
synthetic rows of each target kind, the predictive drawn through the backtest's machinery,
the stored percentiles and draws, the ledger rows that settle it read back through the
model's terms, and the score. For each of :data:`N_DATASETS` simulated worlds, parameters and
data are drawn from the model's prior predictive: a small "past" ledger (training compute
and MATH scores, 2021-2024) and the "future" rows each target is about, jointly. The
posterior given the past is made by importance sampling a separate pool of prior draws
(Pareto-smoothed, :func:`gpt2030.inference.reweight.psis_weights`), weighted by the model's
own log-likelihood of that world's past rows; the predictions are registered from it, and
resolved by that world's future rows. When everything is consistent the PIT values of each
target kind are uniform.

Cheap and honest: one prior predictive, one log-likelihood pass (all worlds' past rows as
replicas in one model) and one predictive pass (the worlds' posteriors as the chains of one
run) instead of 200 fits.
"""

from __future__ import annotations

import math
from datetime import date

import numpy as np
import pymc as pm
import pytest
import xarray as xr
from common import SEED

from gpt2030.inference import over_draws, scoring
from gpt2030.inference.predictions import (
    ledger_table,
    plan,
    prediction_record,
    predictive,
    score_prediction,
)
from gpt2030.inference.progress import quiet_pymc
from gpt2030.inference.reweight import psis_weights
from gpt2030.inference.targets import Target, resolve
from gpt2030.models import MODEL_VERSION, build_model, get_config
from gpt2030.models.evidence import prepare_evidence
from gpt2030.observations import FIELDS, observation_frame

N_DATASETS = 200
POOL = 8000  # prior draws the posteriors are importance-sampled from
POSTERIOR_DRAWS = 100
REGISTERED = date(2026, 1, 1)
RESOLVED = date(2031, 1, 1)

TARGETS = (
    Target("max_compute", "2027-01-01", "2027-12-31", 4),
    Target("median_speed", "2027-06-01", "2027-06-30", 3),
    Target("best_benchmark", "2027-01-01", "2027-12-31", 3, benchmark="MATH"),
    Target("ledger", "2026-01-01", "2026-12-31", obs_kind="training_compute",
           subject="SBC model", date="2026", unit="FLOP", status="estimate",
           confidence="likely"),
)


def _row(**fields: str) -> dict[str, str]:
    row = dict.fromkeys(FIELDS, "")
    row.update({"source": "simulated", "added": "2025-01-01", **fields})
    return row


#: The past every world shares in form (its values are drawn): compute and MATH scores.
PAST = [
    *(_row(id=f"compute-{y}", kind="training_compute", subject=f"Model {y}",
           date=f"{y}-06-01", value="1e24", unit="FLOP", status="estimate",
           confidence="speculative") for y in range(2022, 2025)),
    *(_row(id=f"math-{y}", kind="benchmark_score", subject=f"System {y}", metric="MATH",
           date=f"{y}-06-01", value="50", unit="%", status="estimate")
      for y in range(2023, 2025)),
]
PAST_TERMS = ("compute", "benchmark")


def _restrict(ds: xr.Dataset, model: pm.Model) -> xr.Dataset:
    """The free parameters of ``model``, on its coordinates (levels it lacks dropped)."""
    out = {}
    for rv in model.free_RVs:
        da = ds[rv.name]
        for dim in model.named_vars_to_dims.get(rv.name, ()):
            da = da.sel({dim: list(model.coords[dim])})
        out[rv.name] = da
    return xr.Dataset(out)


def _value(y: float, term: str) -> str:
    """A ledger value (in the synthetic row's unit) whose term value is ``y``."""
    if term == "benchmark":
        return repr(100.0 / (1.0 + math.exp(-float(y))))  # percent
    return repr(10.0 ** float(y))


@pytest.mark.slow
def test_pit_of_resolved_predictions_is_uniform_when_the_world_follows_the_model() -> None:
    config = get_config("default")
    planned = plan("default", PAST, TARGETS)
    full = build_model(planned.frame, config, evidence=planned.evidence)
    with full, quiet_pymc():
        prior = pm.sample_prior_predictive(draws=N_DATASETS + POOL, random_seed=SEED)
    params = prior["prior"].to_dataset().isel(chain=0, drop=True)
    simulated = prior["prior_predictive"].to_dataset().isel(chain=0, drop=True)

    def obs(term: str, obs_id: str) -> np.ndarray:
        return np.asarray(simulated[f"{term}_obs"].sel({f"{term}_id": obs_id}).values)

    past_y = {r["id"]: obs(planned.evidence.roles[r["id"]], r["id"]) for r in PAST}

    # The posterior of every world from one pool: each world's past rows as replicas of the
    # past in one model, whose log-likelihood is evaluated at every pool draw.
    replicas = [{**r, "id": f"{r['id']}-w{i}"} for i in range(N_DATASETS) for r in PAST]
    rep_frame = observation_frame(replicas)
    rep_evidence = prepare_evidence(rep_frame, config.expert_forecasts)
    rep_model = build_model(rep_frame, config, evidence=rep_evidence)
    data = {}
    for term in PAST_TERMS:
        ids = rep_evidence.term(term).ids
        data[f"{term}_y"] = np.array([past_y[i.rsplit("-w", 1)[0]][int(i.rsplit("-w", 1)[1])]
                                      for i in ids])
    pool = _restrict(params.isel(draw=slice(N_DATASETS, None)), rep_model)
    with rep_model, quiet_pymc():
        pm.set_data(data)
    ll = over_draws.log_likelihood(rep_model, pool.expand_dims(chain=[0]),
                                   [f"{t}_obs" for t in PAST_TERMS])
    loglik = np.zeros((POOL, N_DATASETS))
    for term in PAST_TERMS:
        arr = np.asarray(ll[f"{term}_obs"].isel(chain=0).values)  # (draw, row)
        world = np.array([int(i.rsplit("-w", 1)[1]) for i in rep_evidence.term(term).ids])
        for w in range(N_DATASETS):
            loglik[:, w] += arr[:, world == w].sum(axis=1)

    rng = np.random.default_rng(SEED)
    picks, k_hats = [], []
    for w in range(N_DATASETS):
        weights = psis_weights(loglik[None, :, w])
        k_hats.append(weights.k_hat)
        p = np.exp(weights.log_weights.ravel())
        picks.append(rng.choice(POOL, size=POSTERIOR_DRAWS, replace=True, p=p / p.sum()))
    # Pareto k-hat above 0.7 marks an unreliable importance-sampled posterior: a few are
    # tolerable (their PIT is still drawn from a nearly right posterior), many are not.
    assert np.mean(np.array(k_hats) <= 0.7) >= 0.9, "importance sampling is unreliable"
    # The worlds' posteriors as the chains of one run, on the past model's coordinates.
    past_model = build_model(observation_frame(PAST), config)
    idx = np.stack(picks)  # (world, draw)
    post = _restrict(pool, past_model)
    post = post.isel(draw=xr.DataArray(idx, dims=("chain", "draw"))).drop_vars(
        ["chain", "draw"], errors="ignore").assign_coords(
        chain=np.arange(N_DATASETS), draw=np.arange(POSTERIOR_DRAWS))
    run = xr.DataTree.from_dict({"posterior": post})
    predicted = predictive(run, "default", PAST, TARGETS, seed=SEED,
                           max_draws=N_DATASETS * POSTERIOR_DRAWS, compile_kwargs={})

    pits: dict[str, list[float]] = {t.kind: [] for t in TARGETS}
    inside90: dict[str, list[bool]] = {t.kind: [] for t in TARGETS}
    for t in TARGETS:
        p = predicted[t.id]
        term = p.term
        # The world's future: the target's rows, with the values that world drew.
        template = [r for r in planned.frame.to_dict("records")
                    if r["id"] in planned.read[t.id]]
        for w in range(N_DATASETS):
            rows = [{**{f: str(r[f]) for f in FIELDS}, "value": _value(obs(term, r["id"])[w],
                                                                         term),
                     "added": REGISTERED.isoformat()} for r in template]
            frame, table = ledger_table(rows, [t])
            settled = resolve(t, term, REGISTERED, RESOLVED, frame, table)
            assert settled is not None, (t.id, w)
            pred = prediction_record(f"world-{w}", MODEL_VERSION, "default", t, term,
                                     p.draws[w], REGISTERED, SEED)
            res = score_prediction(pred, settled.value, settled.rows, RESOLVED)
            pits[t.kind].append(res.pit)
            inside90[t.kind].append(res.covered90)
    for kind, values in pits.items():
        assert len(values) >= 200
        p_value = scoring.pit_uniformity_pvalue(values)
        assert p_value is not None and p_value > 0.01, (kind, p_value, np.histogram(
            values, bins=10, range=(0, 1))[0])
        assert abs(np.mean(inside90[kind]) - 0.9) < 0.07, (kind, np.mean(inside90[kind]))
