"""Diagnostics of a run: whether the sampler can be trusted and the model fits its data.

Every threshold is named here, once, with its source. :func:`check` returns a structured
report whose ``verdict`` gates ``gpt2030 diagnose``'s exit status.

What decides the verdict
    * sampler checks on the free parameters: R-hat, bulk and tail ESS, divergences, the share
      of draws at the maximum tree depth, E-BFMI;
    * posterior predictive coverage: for every observation term with at least
      :data:`PPC_MIN_OBS` observations, the share of observations inside their 90% posterior
      predictive interval must be at least :data:`PPC_COVERAGE90_MIN`.

What is reported but informational (never fails a run)
    * MCSE of the free parameters (it follows from the ESS, which is already checked);
    * the 50% predictive coverage, and the coverage of terms with few observations;
    * prior sensitivity by power-scaling (``az.psense_summary``): a flagged parameter is one
      the data do not pin down, or whose prior disagrees with the data; that is a modelling
      question, not a computational failure;
    * the observations the model fits worst (PSIS-LOO-PIT extremes) and their Pareto k.
"""

from __future__ import annotations

import hashlib
import logging
import math
import warnings
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field

# arviz_stats, not the ``arviz`` umbrella: the umbrella also imports arviz_plots and with it
# matplotlib.pyplot (~0.5 s of every command that diagnoses or reports), and the statistics
# are arviz_stats' own functions (``az.loo`` is ``arviz_stats.loo``).
import arviz_stats as azs
import numpy as np
import pandas as pd
import xarray as xr

from gpt2030.inference.results import json_safe

#: Vehtari et al. 2021 ("Rank-normalization, folding, and localization"): R-hat <= 1.01.
RHAT_MAX = 1.01
#: Vehtari et al. 2021: bulk and tail ESS of at least 100 per chain; 400 for 4 chains.
ESS_MIN = 400
#: Any divergent transition means the sampler missed part of the posterior (Betancourt 2017).
DIVERGENCES_MAX = 0
#: Betancourt 2016: E-BFMI below 0.3 signals poor exploration of the energy distribution.
EBFMI_MIN = 0.3
#: Share of draws at the maximum tree depth above which the sampler was struggling
#: (Stan's warning fires on any saturated draw; 1% tolerates the odd long trajectory).
TREEDEPTH_SHARE_MAX = 0.01
#: Gelman et al. 2013 (BDA3, ch. 6) posterior predictive checking: a calibrated model puts
#: about 90% of its observations inside their 90% predictive intervals. Posterior intervals
#: are if anything too wide for in-sample data, so below 70% the model misfits a term.
PPC_COVERAGE90_MIN = 0.7
#: A coverage over fewer observations than this is too noisy to fail a run on (with n = 5 a
#: calibrated term has a ~8% chance of coverage <= 0.6).
PPC_MIN_OBS = 5
#: Kallioinen et al. 2024 ("Detecting and diagnosing prior and likelihood sensitivity with
#: power-scaling"): a cumulative Jensen-Shannon distance gradient of 0.05 flags sensitivity.
PSENSE_THRESHOLD = 0.05
#: Vehtari et al. 2024 ("Pareto smoothed importance sampling"): PSIS estimates are reliable
#: for k <= 0.7 (min(1 - 1/log10(S), 0.7) for S draws); above it, refit without the row.
PARETO_K_MAX = 0.7
#: How many of the worst-fitting observations a report lists.
WORST_FIT_N = 10

#: Parameters that drive the headline forecasts, always shown in the rank plot (beside the
#: worst-converging ones).
KEY_PARAMETERS = ("compute_growth", "log_compute_2023", "slowdown_year")

#: Stats names of the tree-depth saturation flag (nutpie, PyMC/NumPyro).
_MAXDEPTH_STATS = ("maxdepth_reached", "reached_max_treedepth")


@dataclass(frozen=True)
class Check:
    """One named check, its measured value, its threshold and whether it passed."""

    name: str
    value: float
    threshold: str
    passed: bool
    detail: str = ""


@dataclass(frozen=True)
class TermFit:
    """Posterior predictive coverage of one observation term."""

    term: str
    n: int
    coverage50: float
    coverage90: float
    n_high_k: int  # observations whose PSIS-LOO Pareto k exceeds PARETO_K_MAX
    checked: bool  # whether coverage90 counts towards the verdict (n >= PPC_MIN_OBS)


@dataclass(frozen=True)
class ObservationFit:
    """How well the model predicts one observation (leave-one-out, by PSIS)."""

    obs_id: str
    term: str
    subject: str
    observed: float
    predicted_median: float
    q05: float
    q95: float
    loo_pit: float  # P(y_rep <= y | the other observations)
    tail_probability: float  # 2 * min(loo_pit, 1 - loo_pit)
    pareto_k: float


@dataclass(frozen=True)
class Sensitivity:
    """A parameter flagged by power-scaling sensitivity."""

    parameter: str
    prior: float
    likelihood: float
    diagnosis: str


def _float(x: object) -> float:
    """A stored number back as a float (JSON ``null`` is NaN)."""
    return float("nan") if x is None else float(x)  # type: ignore[arg-type]


@dataclass
class Diagnostics:
    """All checks of a run; ``verdict`` is ``pass`` only when every check passed.

    ``convergence``, ``terms`` (below PPC_MIN_OBS), ``worst_fit`` and ``sensitivity`` are
    reported for reading; only ``checks`` decide the verdict. :meth:`to_dict` is the form
    stored in a run's manifest (its keys are a contract), :meth:`from_dict` reads it back.
    """

    checks: list[Check] = field(default_factory=list)
    prior_only: bool = False
    #: the worst-converging free parameters: ``parameter, r_hat, ess_bulk, ess_tail,
    #: mcse_mean, sd, mcse_over_sd``
    convergence: list[dict[str, object]] = field(default_factory=list)
    terms: list[TermFit] = field(default_factory=list)
    worst_fit: list[ObservationFit] = field(default_factory=list)
    sensitivity: list[Sensitivity] = field(default_factory=list)
    #: every free parameter's sensitivity (``sensitivity`` holds the flagged ones)
    sensitivity_all: list[Sensitivity] = field(default_factory=list, repr=False)
    notes: list[str] = field(default_factory=list)
    plots: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether every check passed."""
        return all(c.passed for c in self.checks)

    @property
    def verdict(self) -> str:
        """``pass`` or ``fail``."""
        return "pass" if self.ok else "fail"

    @property
    def failures(self) -> list[Check]:
        """The checks that failed."""
        return [c for c in self.checks if not c.passed]

    def to_dict(self) -> dict[str, object]:
        """Return the JSON-serialisable form (stored in the run's manifest)."""
        return {
            "verdict": self.verdict,
            "prior_only": self.prior_only,
            "checks": [json_safe({**asdict(c), "value": float(c.value)}) for c in self.checks],
            "convergence": [json_safe(row) for row in self.convergence],
            "terms": [json_safe(asdict(t)) for t in self.terms],
            "worst_fit": [json_safe(asdict(o)) for o in self.worst_fit],
            "sensitivity": [json_safe(asdict(s)) for s in self.sensitivity],
            "sensitivity_threshold": PSENSE_THRESHOLD,
            "notes": list(self.notes),
            "plots": list(self.plots),
        }

    @classmethod
    def from_dict(cls, data: dict[str, object] | None) -> Diagnostics:
        """Read back what :meth:`to_dict` stored (missing parts are empty).

        Parameters
        ----------
        data : dict or None
            A manifest's ``diagnostics`` entry.

        Returns
        -------
        Diagnostics
        """
        data = data or {}

        def rows(key: str) -> list[dict]:
            return [r for r in data.get(key) or [] if isinstance(r, dict)]

        return cls(
            checks=[Check(str(c["name"]), _float(c.get("value")), str(c.get("threshold", "")),
                          bool(c.get("passed")), str(c.get("detail", "")))
                    for c in rows("checks")],
            prior_only=bool(data.get("prior_only", False)),
            convergence=rows("convergence"),
            terms=[TermFit(str(t["term"]), int(t["n"]), _float(t["coverage50"]),
                           _float(t["coverage90"]), int(t["n_high_k"]), bool(t["checked"]))
                   for t in rows("terms")],
            worst_fit=[ObservationFit(str(o["obs_id"]), str(o["term"]), str(o["subject"]),
                                      _float(o["observed"]), _float(o["predicted_median"]),
                                      _float(o["q05"]), _float(o["q95"]), _float(o["loo_pit"]),
                                      _float(o["tail_probability"]), _float(o["pareto_k"]))
                       for o in rows("worst_fit")],
            sensitivity=[Sensitivity(str(r["parameter"]), _float(r["prior"]),
                                     _float(r["likelihood"]), str(r["diagnosis"]))
                         for r in rows("sensitivity")],
            notes=[str(n) for n in data.get("notes") or []],
            plots=[str(p) for p in data.get("plots") or []],
        )


#: The name before Diagnostics became the typed result of every boundary.
DiagnosticReport = Diagnostics


@contextmanager
def degenerate_ok() -> Iterator[None]:
    """Let arviz-stats divide by zero quietly on degenerate chains.

    A chain that never moved (a broken run) has zero within-chain variance; arviz-stats then
    emits ``RuntimeWarning: invalid value`` and returns NaN. NaN is exactly the answer we
    want (and every check treats a non-finite value as failed), so the warning is expected
    and harmless here, and only ``RuntimeWarning`` is silenced.
    """
    with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


@contextmanager
def quiet_arviz() -> Iterator[None]:
    """Silence ArviZ's advisories for a block: its logger and its ``UserWarning`` s.

    ``psense_summary`` logs a generic advice, ``loo`` warns once per call about high Pareto
    k or single-observation terms; the diagnostics report the same findings themselves, in
    counts, so these would only be noise on the CLI's stderr.
    """
    logger = logging.getLogger("arviz_stats")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with degenerate_ok(), warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            yield
    finally:
        logger.setLevel(level)


def has_posterior(dt: xr.DataTree) -> bool:
    """Whether the run sampled a posterior (else it is prior-only).

    Parameters
    ----------
    dt : xarray.DataTree
        A run.

    Returns
    -------
    bool
    """
    return "posterior" in dt.children


def free_parameters(dt: xr.DataTree) -> list[str]:
    """Names of the sampled (free) parameters: posterior variables that have log-priors.

    A vector with no levels (a backtest's early cutoff has no benchmark variants yet) has
    nothing sampled and is left out: ArviZ's statistics cannot stack it over the draws.

    Parameters
    ----------
    dt : xarray.DataTree
        A run.

    Returns
    -------
    list of str
    """
    post = dt["posterior"]
    names = [v for v in dt["log_prior"].data_vars if v in post.data_vars] \
        if "log_prior" in dt.children else list(post.data_vars)
    return [v for v in names if post[v].size]


def convergence_frame(dt: xr.DataTree) -> pd.DataFrame:
    """``az.summary`` of every element of the free parameters, labelled ``var[coord]``.

    Columns ``mean, sd, eti89_lb, eti89_ub, ess_bulk, ess_tail, r_hat, mcse_mean, mcse_sd``,
    unrounded; a degenerate chain gives NaN (which every check treats as failed).

    Parameters
    ----------
    dt : xarray.DataTree
        A run.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``var[coord]`` labels.
    """
    with degenerate_ok():
        return azs.summary(dt, var_names=free_parameters(dt), kind="all", round_to="none")


def _worst(values: pd.Series, largest: bool) -> tuple[float, str]:
    """The worst value and its label; any non-finite value is the worst of all."""
    bad = values[~np.isfinite(values.to_numpy(dtype=float))]
    if len(bad):
        return float("nan"), str(bad.index[0])
    name = values.idxmax() if largest else values.idxmin()
    return float(values[name]), str(name)


def sampler_checks(dt: xr.DataTree, table: pd.DataFrame | None = None) -> list[Check]:
    """Convergence and sampler-health checks on the free parameters.

    Parameters
    ----------
    dt : xarray.DataTree
        A run with ``posterior`` and ``sample_stats``.
    table : pandas.DataFrame, optional
        :func:`convergence_frame` of ``dt``, when already computed.

    Returns
    -------
    list of Check
        ``r_hat``, ``ess_bulk``, ``ess_tail``, ``divergences`` and, where the sampler
        records them, ``treedepth`` and ``e_bfmi``.
    """
    table = convergence_frame(dt) if table is None else table
    checks = []
    value, name = _worst(table["r_hat"], largest=True)
    checks.append(Check("r_hat", value, f"<= {RHAT_MAX}", bool(value <= RHAT_MAX),
                        f"worst: {name}"))
    for method in ("bulk", "tail"):
        value, name = _worst(table[f"ess_{method}"], largest=False)
        checks.append(Check(f"ess_{method}", value, f">= {ESS_MIN}", bool(value >= ESS_MIN),
                            f"worst: {name}"))
    stats = dt["sample_stats"]
    divergent = stats["diverging"] if "diverging" in stats else stats.get("divergences")
    n_div = int(np.asarray(divergent).sum()) if divergent is not None else 0
    post = dt["posterior"]
    n_draws = int(post.sizes["chain"] * post.sizes["draw"])
    checks.append(Check("divergences", n_div, f"<= {DIVERGENCES_MAX}", n_div <= DIVERGENCES_MAX,
                        f"{n_div} of {n_draws} draws"))
    depth_stat = next((s for s in _MAXDEPTH_STATS if s in stats), None)
    if depth_stat is not None:
        share = float(np.asarray(stats[depth_stat].values, dtype=float).mean())
        checks.append(Check("treedepth", share, f"<= {TREEDEPTH_SHARE_MAX}",
                            share <= TREEDEPTH_SHARE_MAX, "share of draws at the maximum depth"))
    if "e_bfmi" in stats:  # a thinned run: E-BFMI of every sampler step, before thinning
        bfmi = np.asarray(stats["e_bfmi"].values, dtype=float)
    elif "energy" in stats and stats["energy"].sizes.get("draw", 0) > 2:
        with degenerate_ok():
            bfmi = np.asarray(azs.bfmi(stats.to_dataset()[["energy"]])["energy"].values,
                              dtype=float)
    else:
        bfmi = None
    if bfmi is not None:
        low = float(np.min(bfmi)) if np.all(np.isfinite(bfmi)) else float("nan")
        checks.append(Check("e_bfmi", low, f">= {EBFMI_MIN}", bool(low >= EBFMI_MIN),
                            "lowest chain"))
    return checks


def convergence_table(dt: xr.DataTree, n: int = 10,
                      table: pd.DataFrame | None = None) -> list[dict[str, object]]:
    """Per-element R-hat, ESS and MCSE of the free parameters, the worst ``n`` by R-hat.

    Parameters
    ----------
    dt : xarray.DataTree
        A run with a posterior.
    n : int
        How many rows to keep.
    table : pandas.DataFrame, optional
        :func:`convergence_frame` of ``dt``, when already computed.

    Returns
    -------
    list of dict
        ``parameter, r_hat, ess_bulk, ess_tail, mcse_mean, sd, mcse_over_sd``; a non-finite
        R-hat sorts first.
    """
    table = convergence_frame(dt) if table is None else table
    cols = ["r_hat", "ess_bulk", "ess_tail", "mcse_mean", "sd"]
    frame = table[cols].astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        frame["mcse_over_sd"] = np.where(frame["sd"] > 0, frame["mcse_mean"] / frame["sd"],
                                         np.nan)
    key = frame["r_hat"].where(np.isfinite(frame["r_hat"]), np.inf)
    frame = frame.iloc[np.argsort(-key.to_numpy(), kind="stable")]
    return [{"parameter": str(label), **{c: float(v) for c, v in row.items()}}
            for label, row in frame.head(n).iterrows()]


# --- posterior predictive checks ----------------------------------------------------------


def observation_terms(dt: xr.DataTree) -> list[str]:
    """Observed variables (``<term>_obs``) present in observed data and the predictive.

    Parameters
    ----------
    dt : xarray.DataTree
        A run.

    Returns
    -------
    list of str
    """
    if "observed_data" not in dt.children or "posterior_predictive" not in dt.children:
        return []
    pp = dt["posterior_predictive"].data_vars
    return [str(v) for v in dt["observed_data"].data_vars if str(v).endswith("_obs") and v in pp]


def relative_ess(dt: xr.DataTree) -> float:
    """Mean relative efficiency of the free parameters (the ``reff`` PSIS is given).

    ``az.loo``'s own default averages over every posterior variable, trajectories and other
    deterministics included; the free parameters are what the sampler moved.

    Parameters
    ----------
    dt : xarray.DataTree
        A run.

    Returns
    -------
    float
        Mean ESS over the number of draws; 1 with one chain or a degenerate estimate.
    """
    post = dt["posterior"].to_dataset()[free_parameters(dt)]
    n = post.sizes["chain"] * post.sizes["draw"]
    if post.sizes["chain"] < 2:
        return 1.0
    # The diagnostics and then the report's influence table ask for it on the same draws.
    digest = hashlib.sha256()
    for name, var in post.data_vars.items():
        digest.update(repr((name, var.dims, var.shape)).encode())
        digest.update(np.ascontiguousarray(var.values, dtype=float).view(np.uint8))
    key = digest.hexdigest()
    if key not in _ESS_MEMO:
        with degenerate_ok():
            ess = np.concatenate([np.ravel(v.values) for v in azs.ess(post, method="mean")
                                  .data_vars.values()])
        r = float(np.mean(ess)) / n if ess.size else 1.0
        _ESS_MEMO[key] = r if np.isfinite(r) and r > 0 else 1.0
        while len(_ESS_MEMO) > _LOO_MEMO_SIZE:
            _ESS_MEMO.popitem(last=False)
    return _ESS_MEMO[key]


def loo_weights(dt: xr.DataTree, var: str, r_eff: float | None = None
                ) -> tuple[xr.DataArray, xr.DataArray] | None:
    """PSIS leave-one-out log weights of one observed variable, and their Pareto k.

    Parameters
    ----------
    dt : xarray.DataTree
        A run with ``posterior`` and ``log_likelihood``.
    var : str
        The observed variable (``<term>_obs``).
    r_eff : float, optional
        Relative efficiency; :func:`relative_ess` by default.

    Returns
    -------
    tuple of xarray.DataArray, or None
        ``az.loo``'s smoothed log weights over ``(<term>_id, chain, draw)`` (not normalised)
        and ``k`` per observation (its PSIS step, ``psislw``, alone); ``None`` when PSIS
        cannot smooth them (a likelihood that is constant over the draws, as from a chain
        that never moved).
    """
    r_eff = relative_ess(dt) if r_eff is None else r_eff
    key = _loo_key(dt["log_likelihood"][var], r_eff)
    if key in _LOO_MEMO:
        _LOO_MEMO.move_to_end(key)
        return _LOO_MEMO[key]
    try:
        with quiet_arviz():
            # ``az.loo``'s own smoothing step (it returns these very arrays as its
            # ``log_weights`` and ``pareto_k``), without the elpd it computes besides:
            # ~1/3 of its time, and nothing here reads the elpd.
            got = _psislw(dt["log_likelihood"][var], r_eff)
    except ValueError:
        got = None
    _LOO_MEMO[key] = got
    while len(_LOO_MEMO) > _LOO_MEMO_SIZE:
        _LOO_MEMO.popitem(last=False)
    return got


#: PSIS-LOO results by their inputs' content (:func:`_loo_key`): ``update`` diagnoses a run
#: (LOO-PIT) and then reports it (influence), and both smooth the same weights of the same
#: log-likelihood (~1 s for the model's ten terms); hashing a term's values costs ~1/20 of
#: smoothing them. Bounded: about one run's terms (the model has ten; ~80 MB of weights).
_LOO_MEMO: OrderedDict[tuple, tuple[xr.DataArray, xr.DataArray] | None] = OrderedDict()
_LOO_MEMO_SIZE = 12
#: :func:`relative_ess` by the free parameters' draws (hashed).
_ESS_MEMO: OrderedDict[str, float] = OrderedDict()


def _psislw(log_lik: xr.DataArray, r_eff: float) -> tuple[xr.DataArray, xr.DataArray]:
    """PSIS of leave-one-out: smoothed log weights and Pareto k (arviz_stats' ``psislw``)."""
    return log_lik.azstats.psislw(r_eff=r_eff, dim=["chain", "draw"])


def _loo_key(log_lik: xr.DataArray, r_eff: float) -> tuple:
    """What ``az.loo`` of one term reads (its log-likelihood, labels and ``reff``), hashed."""
    digest = hashlib.sha256(np.ascontiguousarray(log_lik.values).view(np.uint8))
    for name in log_lik.dims:
        if name in log_lik.coords:
            digest.update(repr((name, log_lik[name].values.tolist())).encode())
    return (log_lik.name, log_lik.dims, log_lik.shape, str(log_lik.dtype), float(r_eff),
            digest.hexdigest())


def _loo_tree(dt: xr.DataTree) -> xr.DataTree:
    """The groups PSIS-LOO reads, with only the free parameters in ``posterior``.

    ``loo_pit`` estimates the relative efficiency from every posterior variable on each
    call; the trajectories make that the slowest step, and the free parameters are the ones
    :func:`relative_ess` uses anyway.
    """
    groups = {g: dt[g].to_dataset() for g in ("posterior_predictive", "observed_data",
                                              "log_likelihood") if g in dt.children}
    groups["posterior"] = dt["posterior"].to_dataset()[free_parameters(dt)]
    return xr.DataTree.from_dict(groups)


def normalised_weights(log_weights: xr.DataArray) -> np.ndarray:
    """PSIS log weights as ``(observation, sample)`` weights, each row summing to one.

    Parameters
    ----------
    log_weights : xarray.DataArray
        Log weights over an observation dimension, ``chain`` and ``draw``.

    Returns
    -------
    numpy.ndarray
        Shape ``(observation, chain * draw)``, chain-major like the flattened draws.
    """
    obs_dim = [d for d in log_weights.dims if d not in ("chain", "draw")]
    lw = np.asarray(log_weights.transpose(*obs_dim, "chain", "draw").values, dtype=float)
    lw = lw.reshape(lw.shape[0], -1)
    w = np.exp(lw - lw.max(axis=1, keepdims=True))
    return w / w.sum(axis=1, keepdims=True)


def predictive_fit(dt: xr.DataTree) -> tuple[list[TermFit], list[ObservationFit]]:
    """Coverage by term and every observation's LOO-PIT, worst (most extreme) first.

    The LOO-PIT is ``arviz_stats.loo_pit`` with PSIS weights from ``az.loo``: ties between
    the observed value and predictive draws (a censored row sitting at its bound) are broken
    at random with ArviZ's fixed seed. Without a log-likelihood, or where PSIS cannot smooth
    a term's weights, it is the plain posterior predictive PIT and ``pareto_k`` is infinite
    (unreliable).

    Parameters
    ----------
    dt : xarray.DataTree
        A run.

    Returns
    -------
    tuple
        ``(terms, fits)``: a :class:`TermFit` per observed term, and an
        :class:`ObservationFit` per observation, the most extreme LOO-PIT first.
    """
    terms: list[TermFit] = []
    fits: list[ObservationFit] = []
    by_id = subjects(dt)
    has_loglik = "log_likelihood" in dt.children
    r_eff = relative_ess(dt) if has_loglik else 1.0
    loo_dt = _loo_tree(dt) if has_loglik else dt
    names = observation_terms(dt)
    psis = {var: loo_weights(loo_dt, var, r_eff) for var in names
            if has_loglik and var in dt["log_likelihood"].data_vars}
    psis = {var: got for var, got in psis.items() if got is not None}
    pits: dict[str, xr.DataArray] = {}
    for var, (log_w, khat) in psis.items():
        # arviz_stats' ``loo_pit`` on the term's draws, as ``azs.loo_pit(loo_dt, ...)``
        # computes it, without the relative efficiency of the posterior that the top-level
        # function estimates first (~0.25 s) and does not use when given the weights.
        with quiet_arviz():
            pits[var], _ = loo_dt["posterior_predictive"][var].azstats.loo_pit(
                y_obs=loo_dt["observed_data"][var], log_weights=log_w, pareto_k=khat,
                sample_dims=["chain", "draw"])
    for var in names:
        term = var.removesuffix("_obs")
        y = dt["observed_data"][var]
        obs_dim = y.dims[0]
        yrep = dt["posterior_predictive"][var].transpose(obs_dim, "chain", "draw")
        yv = np.asarray(y.values, dtype=float)
        rep = np.asarray(yrep.sel({obs_dim: y[obs_dim]}).values, dtype=float)
        rep = rep.reshape(rep.shape[0], -1)
        q = np.quantile(rep, [0.05, 0.25, 0.5, 0.75, 0.95], axis=1)
        in50 = (yv >= q[1]) & (yv <= q[3])
        in90 = (yv >= q[0]) & (yv <= q[4])
        if var in psis:
            pit = np.asarray(pits[var].sel({obs_dim: y[obs_dim]}).values, dtype=float)
            k = np.asarray(psis[var][1].sel({obs_dim: y[obs_dim]}).values, dtype=float)
        else:  # plain posterior predictive p-values, not leave-one-out
            pit = (rep < yv[:, None]).mean(axis=1) + 0.5 * (rep == yv[:, None]).mean(axis=1)
            k = np.full(len(yv), np.inf if has_loglik else np.nan)
        pit = np.clip(pit, 0.0, 1.0)
        n = len(yv)
        terms.append(TermFit(term, n, float(in50.mean()), float(in90.mean()),
                             int(np.sum(k > PARETO_K_MAX)), n >= PPC_MIN_OBS))
        for i, obs_id in enumerate(np.asarray(y[obs_dim].values).astype(str)):
            fits.append(ObservationFit(
                str(obs_id), term, str(by_id.get(obs_id, "")), float(yv[i]), float(q[2][i]),
                float(q[0][i]), float(q[4][i]), float(pit[i]),
                float(2 * min(pit[i], 1 - pit[i])), float(k[i])))
    fits.sort(key=lambda o: (o.tail_probability, -np.nan_to_num(o.pareto_k)))
    return terms, fits


def coverage_checks(terms: list[TermFit]) -> list[Check]:
    """One verdict check per term with enough observations.

    Parameters
    ----------
    terms : list of TermFit
        :func:`predictive_fit`'s terms.

    Returns
    -------
    list of Check
        ``ppc_coverage90:<term>`` for every term with at least :data:`PPC_MIN_OBS` rows.
    """
    return [Check(f"ppc_coverage90:{t.term}", t.coverage90, f">= {PPC_COVERAGE90_MIN}",
                  t.coverage90 >= PPC_COVERAGE90_MIN,
                  f"{round(t.coverage90 * t.n)} of {t.n} observations in their 90% interval")
            for t in terms if t.checked]


def subjects(dt: xr.DataTree) -> dict[str, str]:
    """Each observation's subject, by id (empty when the run stores no observations).

    Parameters
    ----------
    dt : xarray.DataTree
        A run.

    Returns
    -------
    dict
    """
    if "observations" not in dt.children or "subject" not in dt["observations"].data_vars:
        return {}
    obs = dt["observations"]
    return dict(zip(np.asarray(obs["obs_id"].values).astype(str),
                    np.asarray(obs["subject"].values).astype(str), strict=True))


# --- prior sensitivity --------------------------------------------------------------------


def sensitivity_table(dt: xr.DataTree) -> list[Sensitivity]:
    """Power-scaling sensitivity of every free parameter (all rows, flagged or not).

    Parameters
    ----------
    dt : xarray.DataTree
        A run.

    Returns
    -------
    list of Sensitivity

    Raises
    ------
    ValueError
        PSIS cannot smooth the power-scaling weights (a stuck chain).
    """
    with quiet_arviz():
        frame = azs.psense_summary(dt, var_names=free_parameters(dt), threshold=PSENSE_THRESHOLD)
    return [Sensitivity(str(name), float(row["prior"]), float(row["likelihood"]),
                        str(row["diagnosis"])) for name, row in frame.iterrows()]


def flagged(rows: list[Sensitivity]) -> list[Sensitivity]:
    """The rows diagnosed as prior-data conflict or strong prior / weak likelihood.

    Parameters
    ----------
    rows : list of Sensitivity
        :func:`sensitivity_table`.

    Returns
    -------
    list of Sensitivity
        Most prior-sensitive first.
    """
    return sorted((r for r in rows if r.diagnosis.startswith("potential")),
                  key=lambda r: -r.prior)


# --- the report ---------------------------------------------------------------------------


#: The checks of the sampler's run (:func:`sampler_checks`), as opposed to the model's fit.
SAMPLER_CHECKS = ("r_hat", "ess_bulk", "ess_tail", "divergences", "treedepth", "e_bfmi")


def check(dt: xr.DataTree, sensitivity: bool = True,
          sampler_of: Diagnostics | None = None) -> Diagnostics:
    """Run every diagnostic that applies to this run.

    Parameters
    ----------
    dt : xarray.DataTree
        A run (see :mod:`gpt2030.inference.sampling`).
    sensitivity : bool
        Also compute power-scaling sensitivity (needs ``log_prior`` and ``log_likelihood``).
    sampler_of : Diagnostics, optional
        The diagnostics of the MCMC run these draws come from (a reweighted run's fitted
        parent): its sampler checks, convergence table and flagged prior sensitivity are
        taken as they are, since resampled draws repeat and their R-hat, ESS and
        power-scaling would describe the resampling, not the sampler. Without stored sampler
        checks a failing ``sampler_checks`` check stands in for them.
    """
    if not has_posterior(dt):
        return Diagnostics(prior_only=True, notes=[
            "prior-only run: no posterior, so nothing to diagnose"])
    if sampler_of is not None:
        report = Diagnostics(checks=[c for c in sampler_of.checks if c.name in SAMPLER_CHECKS],
                             convergence=list(sampler_of.convergence),
                             sensitivity=list(sampler_of.sensitivity))
        if not report.checks:  # nothing stored to inherit: never a pass without them
            report.checks.append(Check("sampler_checks", math.nan, "stored", False,
                                       "the fitted run's sampler checks are not stored"))
    else:
        table = convergence_frame(dt)
        report = Diagnostics(checks=sampler_checks(dt, table),
                             convergence=convergence_table(dt, table=table))
    terms, fits = predictive_fit(dt)
    report.terms = terms
    report.worst_fit = fits[:WORST_FIT_N]
    report.checks.extend(coverage_checks(terms))
    small = [t.term for t in terms if not t.checked]
    if small:
        report.notes.append(
            f"coverage of terms with fewer than {PPC_MIN_OBS} observations is informational: "
            + ", ".join(small))
    high_k = sum(t.n_high_k for t in terms)
    if high_k:
        report.notes.append(f"{high_k} observation(s) have Pareto k > {PARETO_K_MAX}: their "
                            "LOO-PIT and influence estimates are unreliable (refit needed)")
    if sensitivity:
        if {"log_prior", "log_likelihood"} <= set(dt.children):
            try:
                report.sensitivity_all = sensitivity_table(dt)
            except ValueError as err:  # e.g. a stuck chain: PSIS cannot smooth constant weights
                report.notes.append(f"sensitivity could not be computed: {err}")
            else:
                report.sensitivity = flagged(report.sensitivity_all)
                report.notes.append(
                    f"prior sensitivity is informational: {len(report.sensitivity)} flagged "
                    "parameter(s) do not fail the run")
        else:
            report.notes.append("no log_prior/log_likelihood groups: sensitivity not computed")
    return report
