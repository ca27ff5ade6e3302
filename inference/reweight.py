"""The fast update: reweight a stored posterior by the rows a ledger gained, or say why not.

When the ledger differs from the latest default run's observations only by added rows, the
posterior given all rows is the stored posterior times the added rows' likelihood. So the
stored draws are importance-weighted by the change in log-likelihood (the new model's terms
that the added rows touch, minus the same terms in the stored run: exact also for a served
model's series, where a reading is conditioned on the one before it), the weights are
Pareto-smoothed (PSIS, Vehtari et al. 2024), and a new run is stored whose posterior is
resampled from the parent's (seeded, with replacement, by the smoothed weights; the indices
kept in order so every chain stays a chain). Its manifest records ``path: "reweighted"``,
the ``parent`` run, the Pareto ``k_hat`` and the ``weight_ess``. Its ``run.nc`` holds only
what is its own (its rows, the terms the added rows changed, and which of the parent's draws
each of its draws is; ``resampled_from`` in the manifest): a few MB, where the parent's draws
are ~140 MB for the shipped ledger (inference/runs.py, ``resampled_tree``).

It refits instead (returns a :class:`Refit` reason) when k-hat exceeds
:data:`~gpt2030.inference.diagnostics.PARETO_K_MAX` (the weights are unreliable), when a new
row brings a parameter or a coordinate the stored run lacks (a new served model, benchmark,
speed setting), after a removal or any change other than added rows, when the settings
(config, sampler, seed) differ from the stored run's, or when asked to (``--refit``).
A reweighted run is always reweighted from the last *fitted* run (its ``parent``), never from
another reweighted run, so the weights never compound.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pymc as pm
import xarray as xr

from gpt2030.inference import over_draws
from gpt2030.inference.diagnostics import PARETO_K_MAX, Check, Diagnostics, check
from gpt2030.inference.infer import hand_over, run_manifest
from gpt2030.inference.progress import Progress, silent
from gpt2030.inference.runs import (
    MANIFEST,
    RESAMPLE,
    RESAMPLED_FROM,
    Run,
    RunError,
    keep_saved_tree,
    latest_run,
    load_run,
    observations_to_dataset,
    resampled_tree,
    run_key,
    save_run,
    take_draws,
)
from gpt2030.inference.sampling import SamplerConfig, observed_data
from gpt2030.models import build_model, get_config
from gpt2030.models.evidence import prepare_evidence
from gpt2030.observations import Ledger, observation_frame, observation_hash
from gpt2030.observations.schema import FIELDS

#: ``manifest["path"]`` of a run sampled by MCMC, and of one reweighted from its parent.
FITTED = "fitted"
REWEIGHTED = "reweighted"
_SAMPLE_DIMS = ("chain", "draw")


@dataclass(frozen=True)
class Refit:
    """Why the fast path does not apply: the run must be fitted again."""

    reason: str


@dataclass(frozen=True)
class Reweighted:
    """A reweighted run before its diagnostics.

    ``tree`` is the whole run (``runs.resampled_tree`` of the parent's and ``own``), ``own``
    what its ``run.nc`` holds (``runs.GROUPS_RESAMPLED``), and ``fields`` its manifest's
    ``path``, ``parent``, ``k_hat``, ``weight_ess``, ``parent_draws``, ``new_observations``
    and ``resampled_from``.
    """

    tree: xr.DataTree
    own: xr.DataTree
    fields: dict


@dataclass(frozen=True)
class Weights:
    """Pareto-smoothed importance weights of the stored draws."""

    log_weights: np.ndarray  # (chain, draw), normalised: logsumexp = 0
    k_hat: float
    ess: float  # 1 / sum(w^2) of the normalised smoothed weights


def run_path(manifest: dict) -> str:
    """``fitted`` or ``reweighted``: how a run's posterior was produced."""
    return str(manifest.get("path") or FITTED)


def fitted_parent(run: Run) -> Run | None:
    """The fitted run a reweighted run was resampled from, as its folder holds it.

    Parameters
    ----------
    run : Run
        A stored run.

    Returns
    -------
    Run or None
        None for a fitted run, or when the parent's manifest cannot be read (removed, or
        damaged); its draws are not read or checked here.
    """
    parent = run.manifest.get("parent")
    if run_path(run.manifest) != REWEIGHTED or not parent:
        return None
    folder = Path(run.path).parent / str(parent)
    try:
        return Run(folder, json.loads((folder / MANIFEST).read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return None


def path_line(manifest: dict) -> str:
    """One line saying which path produced a run (for reports and the CLI).

    Parameters
    ----------
    manifest : dict
        A run's manifest.

    Returns
    -------
    str
    """
    if run_path(manifest) == REWEIGHTED:
        new = manifest.get("new_observations") or []
        return (f"reweighted from run {manifest.get('parent')} by {len(new)} added "
                f"observation(s) (Pareto k-hat {float(manifest.get('k_hat', math.nan)):.2f}, "
                f"weight ESS {float(manifest.get('weight_ess', math.nan)):.0f} of "
                f"{manifest.get('parent_draws', '?')} draws); a full refit: `gpt2030 update "
                "--refit`")
    return "fitted by MCMC"


def psis_weights(log_ratios: np.ndarray, r_eff: float | None = None) -> Weights:
    """PSIS-smooth log importance ratios over (chain, draw).

    Parameters
    ----------
    log_ratios : numpy.ndarray
        (chain, draw) log importance ratios.
    r_eff : float, optional
        Relative efficiency of the draws (default: the relative bulk ESS of the ratios).

    Returns
    -------
    Weights
    """
    lr = np.asarray(log_ratios, dtype=float)
    if not np.all(np.isfinite(lr)):
        lr = np.where(np.isfinite(lr), lr, -np.inf)
    finite = lr[np.isfinite(lr)]
    if finite.size == lr.size and np.ptp(finite) < 1e-12:
        # Equal ratios (rows the parameters do not touch): the draws keep equal weights,
        # and there is no tail to fit (k-hat 0 by convention).
        return Weights(np.full(lr.shape, -math.log(lr.size)), 0.0, float(lr.size))
    if r_eff is None:
        import arviz_stats as azs

        ratios = np.exp(xr.DataArray(lr - np.max(lr), dims=_SAMPLE_DIMS))
        try:
            r_eff = float(azs.ess(ratios.to_dataset(name="w"), method="mean",
                                 relative=True)["w"])
        except (ValueError, TypeError):
            r_eff = 1.0
        r_eff = r_eff if np.isfinite(r_eff) and r_eff > 0 else 1.0
    lw, k = smooth_log_weights(lr, r_eff)
    w = np.exp(lw)
    return Weights(lw, float(k), float(1.0 / np.sum(w**2)))


def smooth_log_weights(log_ratios: np.ndarray, r_eff: float) -> tuple[np.ndarray, np.ndarray]:
    """Pareto-smoothed, normalised log weights over the last two axes (chain, draw).

    Batched: any leading axes (one set of ratios each, e.g. one simulated outcome each)
    are smoothed independently in one call.

    Parameters
    ----------
    log_ratios : numpy.ndarray
        Log importance ratios, shape ``(..., chain, draw)``; -inf for a zero weight.
    r_eff : float
        Relative efficiency of the draws (capped at 1).

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        The log weights (each set's logsumexp is 0), shaped like ``log_ratios``, and the
        Pareto k-hat of each set, shaped like the leading axes.
    """
    import arviz_stats  # noqa: F401  (registers the ``azstats`` accessor)

    lr = np.asarray(log_ratios, dtype=float)
    lr = np.where(np.isfinite(lr), lr, -np.inf)
    lr = lr - np.max(lr, axis=(-2, -1), keepdims=True)
    # A set of equal ratios has no tail to fit (PSIS refuses it): equal weights, k-hat 0.
    flat = np.all(lr == 0.0, axis=(-2, -1))
    lead = [f"set{i}" for i in range(lr.ndim - 2)]
    stand_in = np.linspace(-1.0, 0.0, lr.shape[-1])  # replaced below: any spread will do
    da = xr.DataArray(np.where(flat[..., None, None], stand_in, lr),
                      dims=(*lead, *_SAMPLE_DIMS))
    # arviz_stats' psislw takes LOO's input, a log-likelihood, and weights by its negative.
    smoothed, k = (-da).azstats.psislw(dim=list(_SAMPLE_DIMS), r_eff=min(r_eff, 1.0))
    lw = np.asarray(smoothed.transpose(*lead, *_SAMPLE_DIMS).values, dtype=float)
    lw = np.where(flat[..., None, None], 0.0, lw)
    top = np.max(lw, axis=(-2, -1), keepdims=True)
    lw = lw - (top + np.log(np.sum(np.exp(lw - top), axis=(-2, -1), keepdims=True)))
    return lw, np.where(flat, 0.0, np.asarray(k.values, dtype=float))


def resample_indices(log_weights: np.ndarray, seed: int) -> np.ndarray:
    """Seeded resampling with replacement, in draw order, shaped like the weights.

    Parameters
    ----------
    log_weights : numpy.ndarray
        (chain, draw) normalised log weights.
    seed : int

    Returns
    -------
    numpy.ndarray
        Flat indices into the (chain, draw) draws, sorted (so each new chain is a stretch of
        the old chains in their order), shape (chain, draw).
    """
    w = np.exp(np.asarray(log_weights, float).ravel())
    w = w / w.sum()
    rng = np.random.default_rng(seed)
    idx = np.sort(rng.choice(w.size, size=w.size, replace=True, p=w))
    return idx.reshape(np.shape(log_weights))


def _compare_rows(stored: pd.DataFrame, current: xr.Dataset) -> str | None:
    """Why the current rows are not the stored rows plus additions (None if they are)."""
    fields = [f for f in FIELDS if f != "id" and f in current.data_vars
              and f in stored.columns]
    cur_ids = set(map(str, current["obs_id"].values))
    for obs_id in stored.index.astype(str):
        if obs_id not in cur_ids:
            return f"observation {obs_id} was removed"
    cur = current.sel(obs_id=list(stored.index.astype(str)))
    for f in fields:
        a = stored[f].astype(str).to_numpy()
        b = cur[f].values.astype(str)
        bad = np.flatnonzero(a != b)
        if bad.size:
            return f"observation {stored.index[bad[0]]} changed ({f})"
    return None


def structure_change(model: pm.Model, post: xr.Dataset, free: list[str]) -> str | None:
    """A parameter or coordinate of ``model`` that the stored posterior lacks, or None.

    Parameters
    ----------
    model : pymc.Model
        The model rebuilt on new rows.
    post : xarray.Dataset
        The stored posterior.
    free : list of str
        The stored run's free parameters.

    Returns
    -------
    str or None
        What differs, in words; None when the stored draws are draws of ``model``'s
        parameters.
    """
    names = {rv.name for rv in model.free_RVs}
    new = sorted(names - set(free))
    if new:
        return f"the new rows bring parameter(s) {', '.join(new)}"
    gone = sorted(set(free) - names)
    if gone:
        return f"the model no longer has {', '.join(gone)}"
    for dim, values in model.coords.items():
        if dim.endswith("_id") or dim not in post.coords:
            continue
        old = [str(v) for v in post.coords[dim].values]
        now = [str(v) for v in (values or [])]
        if old != now:
            added = [v for v in now if v not in old]
            what = f"new {dim} {', '.join(added[:3])}" if added else f"a changed {dim} list"
            return f"the new rows bring {what}"
    for rv in model.free_RVs:
        if rv.name not in post:
            return f"parameter {rv.name} is not stored"
        dims = tuple(model.named_vars_to_dims.get(rv.name, ()))
        stored = tuple(d for d in post[rv.name].dims if d not in _SAMPLE_DIMS)
        if dims != stored:
            return f"parameter {rv.name} has dims {dims}, stored {stored}"
    return None


def plan(ledger: Ledger, runs_dir: Path, request, refit: bool = False
         ) -> tuple[Run, Run | None] | Refit:
    """Decide whether the update can reweight.

    Parameters
    ----------
    ledger : Ledger
    runs_dir : pathlib.Path
    request : InferRequest
        The settings asked for (config, sampler, seed; no cutoff).
    refit : bool
        ``--refit``: never reweight.

    Returns
    -------
    (Run, Run or None) or Refit
        The latest default run and, when it already holds exactly the current ledger with
        these settings, that run again as the second element (reuse it); else the fitted run
        to reweight from as the first element and None. A :class:`Refit` otherwise.
    """
    if refit:
        return Refit("--refit asked for a full refit")
    if request.config != "default" or request.cutoff or request.prior_only:
        return Refit("only the default config with all observations is reweighted")
    try:
        latest = latest_run(runs_dir)
    except RunError:
        return Refit("no stored default run to reweight")
    rows = ledger.rows()
    if latest.manifest.get("observation_hash") == observation_hash(rows) and \
            _same_settings(latest.manifest, request):
        return latest, latest
    base = latest
    if run_path(latest.manifest) == REWEIGHTED:
        try:
            base = load_run(runs_dir, str(latest.manifest.get("parent")))
        except RunError as err:
            return Refit(f"the fitted parent of {latest.id} cannot be read ({err})")
    if not _same_settings(base.manifest, request):
        return Refit("the sampler settings or seed differ from the stored run's")
    return base, None


def _same_settings(manifest: dict, request) -> bool:
    recorded = manifest.get("sampler")
    return (isinstance(recorded, dict)
            and SamplerConfig.from_record(recorded) == request.sampler
            and manifest.get("seed") == request.seed
            and (manifest.get("config") or {}).get("name") == request.config)


def reweight(base: Run, ledger: Ledger, request, progress: Progress | None = None,
             on_draws: Callable[[xr.DataTree, dict], None] | None = None,
             ) -> Reweighted | Refit:
    """The reweighted run's DataTree and manifest fields, or why it must refit.

    Parameters
    ----------
    base : Run
        The fitted run whose draws are reweighted.
    ledger : Ledger
        The current ledger (the base's rows plus added ones).
    request : InferRequest
        The settings (seeded resampling uses ``request.seed``).
    progress : Progress, optional
    on_draws : callable, optional
        Called, as soon as the new draws are known, with a tree of the run's ``posterior``
        and ``observations`` (what the report's figures read) and its manifest ``fields``;
        then the predictive of the added rows' terms and the whole tree are made.

    Returns
    -------
    Reweighted or Refit
        The new run's tree, the part of it that its ``run.nc`` stores, and its manifest's
        ``path``, ``parent``, ``k_hat``, ``weight_ess``, ``parent_draws``,
        ``new_observations`` and ``resampled_from``.
    """
    progress = progress or silent()
    config = get_config(request.config)
    rows = ledger.rows()
    with progress.stage("build", detail=f"{len(rows)} observations") as info:
        frame = observation_frame(rows)
        evidence = prepare_evidence(frame, config.expert_forecasts)
        roles = evidence.roles.reindex(frame.index).fillna("")
        current = observations_to_dataset(frame, roles)
        dt_base = base.datatree()
        stored = dt_base["observations"].to_dataset().to_dataframe()
        why = _compare_rows(stored, current)
        if why:
            return Refit(why)
        known = set(stored.index.astype(str))  # once, not once per current row
        added = [i for i in current["obs_id"].values.astype(str) if i not in known]
        if not added:
            return Refit("no added observations")
        info["detail"] = f"{len(added)} added observation(s)"
        model = build_model(frame, config, evidence=evidence)
        post = dt_base["posterior"].to_dataset()
        free = list(dt_base["log_prior"].data_vars) if "log_prior" in dt_base.children else \
            [rv.name for rv in model.free_RVs]
        why = structure_change(model, post, free)
        if why:
            return Refit(why)
    old_ll = dt_base["log_likelihood"].to_dataset()
    affected = []
    for rv in model.observed_RVs:
        dims = model.named_vars_to_dims.get(rv.name, ())
        ids = [str(v) for v in model.coords[dims[0]]] if dims else []
        if rv.name not in old_ll or not dims or dims[0] not in old_ll[rv.name].dims or \
                [str(v) for v in old_ll[rv.name][dims[0]].values] != ids:
            affected.append(rv.name)
    with progress.stage("likelihood", key="log_likelihood",
                        detail=f"terms {', '.join(affected)}"):
        new_ll = over_draws.log_likelihood(model, post[free], affected)
        delta = xr.zeros_like(post[free[0]].isel(
            {d: 0 for d in post[free[0]].dims if d not in _SAMPLE_DIMS}), dtype=float)
        for name in affected:
            obs_dims = [d for d in new_ll[name].dims if d not in _SAMPLE_DIMS]
            delta = delta + new_ll[name].sum(obs_dims)
            if name in old_ll:
                old_dims = [d for d in old_ll[name].dims if d not in _SAMPLE_DIMS]
                delta = delta - old_ll[name].sum(old_dims)
        weights = psis_weights(delta.transpose(*_SAMPLE_DIMS).values)
    n_draws = int(weights.log_weights.size)
    fields = {"path": REWEIGHTED, "parent": base.id, "k_hat": round(weights.k_hat, 4),
              "weight_ess": round(weights.ess, 1), "parent_draws": n_draws,
              "new_observations": added}
    if not weights.k_hat <= PARETO_K_MAX:
        return Refit(f"Pareto k-hat {weights.k_hat:.2f} > {PARETO_K_MAX}: the added rows move "
                     "the posterior too far for reweighting")
    with progress.stage("resample", detail=f"k-hat {weights.k_hat:.2f}, weight ESS "
                        f"{weights.ess:.0f} of {n_draws}"):
        seed = int(hashlib.sha256(f"{request.seed}:{base.id}:{','.join(added)}".encode())
                   .hexdigest()[:8], 16)
        idx = resample_indices(weights.log_weights, seed)
        posterior = take_draws(post, idx)
    fields = {**fields, RESAMPLED_FROM: base.id}
    if on_draws is not None:
        # The figures read only these: the worker draws them while the rest is made.
        on_draws(xr.DataTree.from_dict({"posterior": posterior, "observations": current}),
                 fields)
    with progress.stage("predictive", detail=f"terms {', '.join(affected)}"):
        fresh = over_draws.predictive(model, posterior[free], affected, seed)
        # What the new run holds of its own; the rest is its parent's draws at ``idx``
        # (runs.resampled_tree, which also reads it back later).
        own = xr.DataTree.from_dict({
            "log_likelihood": take_draws(new_ll[affected], idx),
            "posterior_predictive": fresh,
            "observed_data": observed_data(model),
            "observations": current,
            RESAMPLE: xr.Dataset({"parent_draw": (_SAMPLE_DIMS, idx)},
                                 coords={d: np.arange(n) for d, n in
                                         zip(_SAMPLE_DIMS, idx.shape, strict=True)}),
        })
        dt = resampled_tree(dt_base, own, posterior=posterior)
    return Reweighted(dt, own, fields)


def reweighted_checks(dt: xr.DataTree, parent: Run, fields: dict) -> Diagnostics:
    """The diagnostics of a reweighted run (what ``update`` stores and ``diagnose`` shows).

    Parameters
    ----------
    dt : xarray.DataTree
        The reweighted run's tree.
    parent : Run
        The fitted run it was reweighted from.
    fields : dict
        Its manifest's ``k_hat``, ``weight_ess``, ``new_observations`` (and ``parent``,
        ``parent_draws``, ``path``).

    Returns
    -------
    Diagnostics
        The parent's sampler checks (the resampled draws repeat, so their R-hat and ESS
        would describe the resampling, not the sampler), the predictive checks of the
        reweighted posterior, and the importance weights' Pareto k-hat. Power-scaling
        sensitivity is the parent's too (not recomputed).
    """
    report = check(dt, sensitivity=False,
                   sampler_of=Diagnostics.from_dict(parent.manifest.get("diagnostics")))
    report.notes.append(f"sampler checks (R-hat, ESS, divergences, E-BFMI) are those of the "
                        f"fitted run {parent.id}")
    report.checks.append(Check("pareto_k", fields["k_hat"], f"<= {PARETO_K_MAX}",
                               fields["k_hat"] <= PARETO_K_MAX,
                               f"importance weights of {len(fields['new_observations'])} "
                               f"added row(s); weight ESS {fields['weight_ess']:.0f}"))
    report.notes.append(f"posterior {path_line(fields)}")
    return report


def try_reweight(ledger: Ledger, runs_dir: Path, request, refit: bool = False,
                 progress: Progress | None = None,
                 on_posterior: Callable[[xr.DataTree, dict], None] | None = None,
                 ) -> tuple[Run, bool] | None:
    """Store the reweighted run (or reuse the latest one), or None when it must refit.

    Parameters
    ----------
    ledger : Ledger
    runs_dir : pathlib.Path
    request : InferRequest
    refit : bool
        ``--refit``.
    progress : Progress, optional
        Prints the stages and, when it refits, the reason in one line.
    on_posterior : callable, optional
        Called as soon as a new reweighted run's draws are known, with a tree of its
        ``posterior`` and ``observations`` and its manifest as far as it is known (no
        ``diagnostics`` or ``verdict``, no ``timings`` yet; the same ``run_id``); then its
        predictive, diagnostics and save follow: ``update`` hands the report's figures to
        its drawing worker there (started before the predictive and the whole tree are
        made, ~0.3-0.4 s sooner). Not called when the run is reused or it refits; its own
        time, and the stages it ran, are not counted in the run's timings.

    Returns
    -------
    (Run, bool) or None
        The run and whether it was reused; None: fit the model (the reason was printed).
    """
    progress = progress or silent()
    wall = time.perf_counter()
    decision = plan(ledger, runs_dir, request, refit)
    if isinstance(decision, Refit):
        if decision.reason != "no stored default run to reweight":
            progress.note(f"full refit: {decision.reason}")
        return None
    base, same = decision
    if same is not None:
        return same, True
    config = get_config(request.config)
    rows = ledger.rows()
    obs_hash = observation_hash(rows)
    full_key = run_key(obs_hash, config.describe(), request.sampler.describe(), request.seed,
                       None, False)
    # Not the key of a full fit: ``infer`` never reuses a reweighted run as a fitted one.
    key = hashlib.sha256(f"{full_key}:{REWEIGHTED}:{base.id}".encode()).hexdigest()[:12]
    created = datetime.now(UTC)
    outside = 0.0
    hooked: set[str] = set()  # stages the hook ran: not the run's

    def draws_known(tree: xr.DataTree, fields: dict) -> None:
        nonlocal outside
        roles = tree["observations"]["role"].to_series()
        before = set(progress.timings)
        outside += hand_over(on_posterior, tree, lambda: run_manifest(
            key, rows, roles, config, request, None, {}, created=created, cutoff=None,
            prior_only=False, **fields))
        hooked.update(set(progress.timings) - before)

    result = reweight(base, ledger, request, progress,
                      on_draws=draws_known if on_posterior is not None else None)
    if isinstance(result, Refit):
        progress.note(f"full refit: {result.reason}")
        return None
    dt, fields = result.tree, result.fields
    roles = dt["observations"]["role"].to_series()
    timings = {k: v for k, v in progress.timings.items() if k not in hooked}
    with progress.stage("diagnostics") as info:
        report = reweighted_checks(dt, base, fields)
        info["detail"] = f"verdict {report.verdict}"
    timings["diagnostics"] = progress.timings["diagnostics"]
    timings["total"] = time.perf_counter() - wall - outside
    manifest = run_manifest(key, rows, roles, config, request, report, timings,
                            created=created, cutoff=None, prior_only=False, **fields)
    progress.note(f"posterior {path_line(manifest)}")
    return keep_saved_tree(save_run(dt, manifest, runs_dir, own=result.own), dt), False
