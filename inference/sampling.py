"""Sampling: prior predictive, posterior, posterior predictive, log-likelihood, log-prior.

One function, :func:`fit`, turns a model into a DataTree with every group the diagnostics
and reports read. Every random call takes its seed from the one ``seed`` argument.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from gpt2030.inference.progress import Progress, quiet_pymc, silent

if TYPE_CHECKING:
    import pymc as pm
    import xarray as xr

#: Draws of the prior predictive kept with every run (for prior-data conflict checks and
#: prior-only forecasts).
PRIOR_DRAWS = 500
SAMPLERS = ("nutpie", "pymc", "numpyro")


@dataclass(frozen=True)
class SamplerConfig:
    """How to sample: the run's stored settings."""

    #: Draws kept per chain (the stored run's ``draw`` dimension).
    # 10,000 kept in all: the 2030 headlines' bulk and tail ESS are 7,000-10,000 of them
    # (10,000-16,000 of the 20,000 kept at thin 2, whose sampler steps were the same), and the
    # slowest parameters lose nothing (alias_spread ~2,000 either way). Every stage after
    # sampling reads half as many draws as at thin 2 (measured: the predictive and log
    # densities 10 -> 7-9 s, the diagnostics 10 -> 6-8 s, a one-row update ~1.5-2 s less;
    # the rest of those stages is building graphs).
    draws: int = 2500
    tune: int = 1000
    chains: int = 4
    sampler: str = "nutpie"
    # Above the usual 0.8: the frontier likelihoods (a system is at or below the frontier)
    # and the random walks' heavy-tailed (Student-t) steps have regions of high curvature
    # where a smaller step avoids divergences (0.95 left 4-7 in 10,000 draws, 0.9 left 10
    # and 0.85 23: the energy blew up in BERT-large's compute at the grid's first year, or in
    # served-speed or benchmark rows as a random walk's scale moved; centring the walks'
    # steps in the years with data removed them but left chains stuck. 2026-11-28).
    target_accept: float = 0.99
    #: Sampler steps per kept draw: ``draws * thin`` are sampled, every ``thin``-th kept.
    # The served-speed hierarchy (alias spread, the series' autocorrelation) mixes slowly:
    # 5,000 draws a chain kept bulk ESS ~1,000 and R-hat at 1.002-1.007, but one seed in ten
    # at 1.012 (benchmarks/diagnose_seeds.py), a verdict that flips with the machine.
    # Twice the steps halve R-hat's excess over 1: 10,000 steps a chain, every 4th kept.
    thin: int = 4

    def describe(self) -> dict[str, object]:
        """JSON-serialisable settings.

        ``thin`` only when not 1, so that the runs made before it existed (unthinned) keep
        their keys.
        """
        d = asdict(self)
        if self.thin == 1:
            del d["thin"]
        return d

    @classmethod
    def from_record(cls, record: dict) -> SamplerConfig:
        """The settings a run's manifest records (no ``thin``: the run was not thinned)."""
        known = {k: v for k, v in record.items() if k in cls.__dataclass_fields__}
        return cls(**{"thin": 1, **known})


def cache_entries() -> int:
    """Files in PyTensor's numba cache (``<base_compiledir>/numba``, kept across processes).

    Returns
    -------
    int
        -1 when the folder cannot be read.
    """
    try:
        from pytensor.link.numba.cache import NUMBA_CACHE_PATH

        return sum(1 for _ in os.scandir(NUMBA_CACHE_PATH))
    except (ImportError, OSError):
        return -1


class _CacheCount:
    """How many functions a stage compiled into the persistent cache (0: all were hits)."""

    def __init__(self, info: dict) -> None:
        self.info = info

    def __enter__(self) -> _CacheCount:
        self.before = cache_entries()
        return self

    def __exit__(self, *exc: object) -> None:
        after = cache_entries()
        if self.before >= 0 and after >= 0:
            new = after - self.before
            text = "numba cache: all hits" if new == 0 else f"numba cache: {new} new entries"
            self.info["detail"] = f"{self.info['detail']}, {text}" if self.info.get(
                "detail") else text


def has_observations(model: pm.Model) -> bool:
    """Whether the model conditions on anything (else its posterior is its prior)."""
    return bool(model.observed_RVs)


def fit(model: pm.Model, config: SamplerConfig, seed: int, progressbar: bool = False,
        prior_only: bool = False, progress: Progress | None = None,
        ) -> tuple[xr.DataTree, dict[str, float]]:
    """Sample a model; return the DataTree and the seconds each stage took.

    Parameters
    ----------
    model : pymc.Model
    config : SamplerConfig
    seed : int
        The only source of randomness: the same model, config and seed give the same draws.
    progressbar : bool
    prior_only : bool
        Sample the prior predictive only (also the case for a model with no observations).
    progress : Progress, optional
        Prints one line per stage (``prior``, ``compile``, ``sample``, ``predictive``);
        silent when not given.

    Returns
    -------
    (xarray.DataTree, dict)
        Groups ``prior``, ``prior_predictive`` and, unless prior-only, ``posterior``,
        ``sample_stats``, ``posterior_predictive``, ``log_likelihood``, ``log_prior``,
        ``observed_data``.
    """
    # Imported here: the command line reads SamplerConfig's defaults without loading PyMC.
    from gpt2030.inference import over_draws

    progress = progress or silent()
    timings: dict[str, float] = {}
    # All draws at once, with NumPy kernels: numba took ~47 s on a cold cache, and PyMC's
    # own sampler, called once per draw, 3-8 s.
    with progress.stage("prior", key="prior_predictive", detail="vectorised over the draws"), \
            quiet_pymc():
        dt = over_draws.prior(model, PRIOR_DRAWS, seed)
    timings["prior_predictive"] = progress.timings["prior_predictive"]
    if prior_only or not has_observations(model):
        return dt, timings

    start = time.perf_counter()
    post = _sample_posterior(model, config, seed, progressbar, timings, progress)
    timings["posterior"] = time.perf_counter() - start

    with progress.stage("predictive", key="predictive_and_log_densities",
                        detail="vectorised over the draws"):
        draws = post["posterior"].to_dataset()
        observed = [rv.name for rv in model.observed_RVs]
        post["posterior_predictive"] = over_draws.predictive(model, draws, observed, seed)
        free = [rv.name for rv in model.free_RVs]
        densities = over_draws.log_densities(model, draws, [*observed, *free])
        post["log_likelihood"] = densities[observed]
        post["log_prior"] = densities[free]
    timings["predictive_and_log_densities"] = progress.timings["predictive_and_log_densities"]
    for name in ("prior", "prior_predictive"):
        post[name] = dt[name].to_dataset()
    return post, timings


def _sample_posterior(model: pm.Model, config: SamplerConfig, seed: int, progressbar: bool,
                      timings: dict[str, float], progress: Progress | None = None,
                      ) -> xr.DataTree:
    import pymc as pm

    from gpt2030.inference import over_draws

    progress = progress or silent()
    if config.sampler == "nutpie":
        import nutpie

        if config.tune < 1:
            # nutpie 0.16 panics ("poisoned sampler state") without a single tuning step.
            raise ValueError("nutpie needs --tune of at least 1; use --sampler pymc to sample "
                             "without tuning")

        # Only the free parameters: the Deterministics (whole trajectories) are computed
        # afterwards, vectorised over the draws (over_draws); asking numba to compile them
        # into nutpie's function too costs ~25% more compile time on every run.
        # nutpie's C-callable wrapper (numba.cfunc) is compiled in every process: numba cannot
        # cache it (it uses dynamic globals); the PyTensor functions inside it are cached.
        # The wrapper's cost grows with the model's shared variables (one extraction
        # function each: ~1.3 s apiece for the ~30 data containers, ~40 s in all), so the
        # data are frozen into constants here: the wrapper then compiles in a few seconds.
        # The price: the cached logp is keyed by the data too, so a changed ledger compiles
        # it anew (about what every run paid before); the same ledger again is a cache hit.
        with progress.stage("compile", detail="nutpie's wrapper is never cached") as info, \
                _CacheCount(info):
            compiled = nutpie.compile_pymc_model(model, freeze_model=True,
                                                 var_names=[rv.name for rv in model.free_RVs])
        timings["compile"] = progress.timings["compile"]
        with progress.stage("sample", key="sampling", detail=_sampled(config)):
            dt = nutpie.sample(compiled, draws=config.draws * config.thin, tune=config.tune,
                               chains=config.chains, cores=min(config.chains, 2), seed=seed,
                               progress_bar=progressbar, save_warmup=False,
                               target_accept=config.target_accept)
        timings["sampling"] = progress.timings["sampling"]
        dt = thinned(dt, config.thin)
        # nutpie stores the free parameters; add every Deterministic of the model.
        with progress.stage("trajectory", key="deterministics",
                            detail="vectorised over the draws"):
            dt["posterior"] = over_draws.deterministics(model, dt["posterior"].to_dataset())
        dt["observed_data"] = observed_data(model)
        return dt
    if config.sampler in ("pymc", "numpyro"):
        with progress.stage("sample", key="sampling",
                            detail=f"{_sampled(config)}, compilation included"), \
                quiet_pymc(), model:
            dt = pm.sample(draws=config.draws * config.thin, tune=config.tune,
                           chains=config.chains, cores=1,
                           random_seed=seed, nuts_sampler=config.sampler,
                           target_accept=config.target_accept,
                           progressbar=progressbar, compute_convergence_checks=False)
        timings["sampling"] = progress.timings["sampling"]
        return thinned(dt, config.thin)
    raise ValueError(f"unknown sampler {config.sampler!r}; one of {', '.join(SAMPLERS)}")


def _sampled(config: SamplerConfig) -> str:
    kept = f"{config.chains} chains x {config.draws} draws"
    return kept if config.thin == 1 else \
        f"{kept} (1 in {config.thin} of {config.draws * config.thin})"


#: Sample stats flagging a problem in a draw: a kept draw carries the flag if any of the
#: draws it stands for had it, so that thinning never hides a divergence.
_FLAGS = ("diverging", "maxdepth_reached", "reached_max_treedepth")


def thinned(dt: xr.DataTree, thin: int) -> xr.DataTree:
    """Every ``thin``-th draw of every group over ``draw`` (the last of each block).

    A kept draw's divergence and tree-depth flags are those of its whole block; its other
    sample stats (energy, step size, tree depth) are its own. E-BFMI needs consecutive
    sampler steps (the kept chain's energies, ``thin`` steps apart, would read near 1 and
    hide a problem), so it is computed before thinning and kept as ``e_bfmi`` per chain.

    Parameters
    ----------
    dt : xarray.DataTree
        A sampled run: ``posterior`` and ``sample_stats`` (and any group) over
        ``(chain, draw)``.
    thin : int

    Returns
    -------
    xarray.DataTree
        Draws relabelled 0, 1, ...
    """
    import arviz_stats as azs
    import numpy as np
    import xarray as xr

    if thin == 1:
        return dt
    groups = {}
    for name, node in dt.children.items():
        ds = node.to_dataset()
        if "draw" not in ds.dims:
            groups[name] = ds
            continue
        n_kept = ds.sizes["draw"] // thin
        kept = ds.isel(draw=slice(thin - 1, n_kept * thin, thin))
        if name == "sample_stats" and "energy" in ds:
            kept["e_bfmi"] = azs.bfmi(ds[["energy"]])["energy"]
        for flag in _FLAGS:
            if name == "sample_stats" and flag in ds:
                block = ds[flag].isel(draw=slice(0, n_kept * thin))
                axis = block.dims.index("draw")
                values = np.asarray(block.values)
                shape = (*values.shape[:axis], n_kept, thin, *values.shape[axis + 1:])
                kept[flag] = (block.dims, values.reshape(shape).any(axis=axis + 1))
        groups[name] = kept.assign_coords(draw=np.arange(n_kept))
    return xr.DataTree.from_dict(groups)


def observed_data(model: pm.Model) -> xr.Dataset:
    """The model's observed values as the ``observed_data`` group, on the model's dims.

    PyMC's own ``find_observations`` (what its ``to_inference_data`` uses) reads each
    observed variable's data container directly; evaluating each one (``.eval()``)
    compiled a PyTensor function per term, ~2 s for the model's ten terms.

    Parameters
    ----------
    model : pymc.Model
        A built model.

    Returns
    -------
    xarray.Dataset
        One variable per observed term, with its coordinates.
    """
    import numpy as np
    import xarray as xr
    from pymc.backends.arviz import find_observations

    observed = find_observations(model)
    return xr.Dataset(
        {name: (model.named_vars_to_dims.get(name, ()), values)
         for name, values in observed.items()},
        coords={d: np.asarray(model.coords[d]) for name in observed
                for d in model.named_vars_to_dims.get(name, ())},
    )
