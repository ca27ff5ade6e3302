"""Value of information: which next observation would narrow a forecast most.

Preposterior analysis from the stored draws, without refitting. For a candidate observation
``y`` (a kind of row the model has a likelihood for, dated in the near future, with the
ledger's typical measurement error for its kind), the posterior after seeing ``y`` is the
stored posterior reweighted by ``p(y | theta)``. So, for each candidate:

1. **Outcomes.** ``S`` stored draws ``theta_j`` are picked at random (seeded; the same
   draws for every candidate: common random numbers, so differences between candidates are
   estimated more precisely than each value) and an outcome ``y_s ~ p(y | theta_j)`` is
   simulated from the model's own observation model: its posterior predictive of the
   candidate row (PyTensor's ``FAST_COMPILE`` mode: ``S`` draws need no optimised code).
2. **Likelihood at every draw.** ``log p(y_s | theta_i)`` for every outcome ``s`` and
   stored draw ``i``, from the model's own likelihood term: the candidate row is appended
   ``S`` times to its term, one copy per outcome (:func:`gpt2030.models.evidence.
   with_hypothetical`), and the term's log-density is evaluated for all draws at once
   (the graph vectorised over the draws; it equals ``pymc.compute_log_likelihood``).
3. **Reweighting.** Per outcome, Pareto-smoothed importance weights (PSIS,
   :func:`gpt2030.inference.reweight.smooth_log_weights`) and the weighted 5% and 95%
   quantiles of each headline quantity.
4. **Expectation.** The width of that 90% interval (in dex: log10 of its upper over its
   lower end, since every headline spans orders of magnitude), net of the narrowing that
   concentrated weights cause by themselves (the same weights shuffled over the draws,
   :func:`evaluate`), averaged over the outcomes, with its Monte Carlo standard error,
   against the current width.

Pareto k-hat above :data:`~gpt2030.inference.diagnostics.PARETO_K_MAX` for an outcome means
its weights are unreliable: the observation would move the posterior too far for
reweighting (it is informative, but by how much only a refit would tell). A candidate with
more than :data:`FLAG_SHARE` of its outcomes so is flagged.

The result of a run is stored beside it (``runs/<id>/value_of_information.json``), so the
report and the command compute it once.
"""

from __future__ import annotations

import itertools
import json
import math
import time
from dataclasses import asdict, dataclass, field
from datetime import date as Date
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from gpt2030.inference import over_draws
from gpt2030.inference.diagnostics import PARETO_K_MAX, free_parameters, relative_ess
from gpt2030.inference.forecast import HEADLINES, YEAR, headline_draws
from gpt2030.inference.influence import weighted_quantile
from gpt2030.inference.progress import Progress, silent
from gpt2030.inference.results import json_safe
from gpt2030.inference.reweight import fitted_parent, smooth_log_weights, structure_change
from gpt2030.inference.runs import VOI_FILE, Run, run_rows, thinned_posterior
from gpt2030.inference.targets import SCALE_UNIT, TERM_SCALE
from gpt2030.observations.files import atomic_write
from gpt2030.observations.schema import decimal_year, parse_date

#: Bump when what is computed changes: a stored result of another version is recomputed.
VERSION = 1
#: Simulated outcomes per candidate (the command's default). With 200 the Monte Carlo error
#: of a reduction was 0.001-0.03 dex on a 1.4 dex wide work-years interval (a 6,000-draw
#: run of the shipped ledger; reported with every result). The report uses REPORT_OUTCOMES
#: (or a stored result with more).
OUTCOMES = 200
REPORT_OUTCOMES = 100
#: At most this many stored draws are reweighted (evenly thinned within each chain): PSIS
#: costs ~1 ms per outcome and thousand draws, and 4,000 draws still leave each outcome's
#: weighted interval an effective sample in the hundreds.
MAX_DRAWS = 4000
#: Seed of the outcomes (the stored draws picked and the simulated values).
SEED = 1
#: Central probability of the interval whose width is reduced.
PROB = 0.9
#: How far after its run a candidate observation is dated: a judgement (a fact one could
#: measure and record within the next half-year).
NEAR_FUTURE_MONTHS = 6
#: A candidate is flagged when more than this share of its outcomes have k-hat above
#: PARETO_K_MAX (a judgement: a rare extreme outcome barely moves the average).
FLAG_SHARE = 0.05
#: The file beside the run.
CACHE = VOI_FILE


# -- candidates ------------------------------------------------------------------------------

#: What a candidate of each likelihood term is: the ledger kind it would be recorded as,
#: and the observation in words (the unit of its error is its term's, from
#: :data:`~gpt2030.inference.targets.TERM_SCALE`). Expert forecasts (``compute_
#: forecast``) are opinions, not measurements, and are never candidates.
TERMS: dict[str, tuple[str, str]] = {
    "compute": ("training_compute", "training compute of a new notable model"),
    "speed": ("inference_speed", "served speed of {alias} (a new reading)"),
    "speed_setting": ("inference_speed", "speed of a {size} model on {setting} (a new "
                      "reading)"),
    "benchmark": ("benchmark_score", "score of a new system on {benchmark}"),
    "tokens_per_param": ("parameters + training_tokens", "active parameters and training "
                         "tokens of a new frontier model"),
    "training_duration": ("scaling_constant", "training duration of a new frontier run"),
    "data_stock": ("data_stock", "a new estimate of the effective stock of text"),
    "bandwidth": ("hardware", "memory bandwidth of a new accelerator"),
    "scaling_exponent": ("scaling_constant", "a new fit of the compute-optimal scaling "
                         "exponent"),
    "optimal_ratio": ("scaling_constant", "a new fit of the compute-optimal tokens per "
                      "parameter"),
    "human_speed": ("human_speed", "a new study of human inner-speech speed"),
}


@dataclass(frozen=True)
class Candidate:
    """An observation one could make next: what, when, with what error, like which row.

    ``error`` is the median measurement error (one sigma, in ``error_unit``) of the run's
    rows of the same kind, as the evidence code reads them; the model adds its own
    structural spread to it. ``template`` is the real row whose other fields the
    candidate shares (the served model, the benchmark, the setting).
    """

    key: str
    term: str
    kind: str
    observation: str
    date: str | None
    error: float
    error_unit: str
    template: str
    fields: tuple[tuple[str, float], ...] = ()


def _latest(term, mask: np.ndarray) -> int:
    idx = np.flatnonzero(mask)
    if "t" not in term.arrays:
        return int(idx[-1])
    return int(idx[np.argmax(term.array("t")[idx])])


#: Serving settings (models/evidence.py ``speed_setting``) in words.
SETTINGS = {"1x_gpu": "one GPU", "8x_gpu": "eight GPUs", "cerebras": "Cerebras chips"}


def _most_read(term, group: np.ndarray, rows: np.ndarray) -> int:
    """The group (served model, setting, benchmark) with the most rows; ties: the latest."""
    counts = {g: int(np.sum(rows & (group == g))) for g in set(group[rows].tolist())}
    t = term.array("t")
    return max(counts, key=lambda g: (counts[g], float(np.max(t[rows & (group == g)]))))


def _size_words(log_size: float) -> str:
    n = 10**log_size
    for scale, word in ((1e12, "T"), (1e9, "B"), (1e6, "M")):
        if n >= scale:
            return f"{n / scale:.3g}{word}-parameter"
    return f"{n:.3g}-parameter"


def candidates(ev, dt: xr.DataTree, when: str) -> tuple[list[Candidate], list[str]]:
    """The candidate observations of a run's evidence, and the terms left out (with why).

    One candidate per likelihood term the run has rows in, dated ``when`` where the term has
    dates, like the term's latest row; for served speed one like the latest reading of the
    served model with the most readings and one like the latest reading of the non-API
    setting with the most readings (a model of known size), for benchmarks like the
    latest score on the benchmark with the most scores. Its error is the median of the
    term's rows (of served models, or of other settings, for served speed).

    Parameters
    ----------
    ev : gpt2030.models.evidence.Evidence
        The run's evidence.
    dt : xarray.DataTree
        The run (for the frontier compute a new frontier model's row assumes).
    when : str
        The candidates' date, ``YYYY-MM``.

    Returns
    -------
    (list of Candidate, list of str)
    """
    out: list[Candidate] = []
    skipped: list[str] = []
    for name in ev.terms:
        if name not in TERMS:
            skipped.append(f"{name}: expert forecasts are opinions, not measurements")
    for name, (kind, words) in TERMS.items():
        base = "speed" if name == "speed_setting" else name
        unit = SCALE_UNIT[TERM_SCALE[base][0]]
        term = ev.term(base)
        if not len(term):
            if name != "speed_setting":
                skipped.append(f"{name}: the run has no row of this kind, so no typical "
                               "error to give it")
            continue
        kind_rows = np.ones(len(term), bool)  # the rows whose errors are typical
        fmt: dict[str, str] = {}
        key = name
        fields: tuple[tuple[str, float], ...] = ()
        if base == "speed":
            alias = term.array("alias", int)
            kind_rows = alias >= 0 if name == "speed" else alias < 0
            if not kind_rows.any():
                continue
            group = alias if name == "speed" else term.array("setting", int)
            i = _latest(term, kind_rows & (group == _most_read(term, group, kind_rows)))
            if name == "speed":
                fmt["alias"] = ev.speed_aliases[alias[i]]
                key = f"speed:{fmt['alias']}"
            else:
                setting = ev.speed_settings[group[i]]
                fmt.update(setting=SETTINGS.get(setting, setting),
                           size=_size_words(term.array("log_size")[i]))
                key = f"speed_setting:{setting}"
        elif name == "benchmark":
            which = term.array("benchmark", int)
            i = _latest(term, which == _most_read(term, which, kind_rows))
            fmt["benchmark"] = ev.benchmarks[which[i]]
            key = f"benchmark:{fmt['benchmark']}"
        else:
            i = _latest(term, kind_rows)
        if name == "tokens_per_param":
            # A frontier model: its compute is the posterior median record at that date.
            comp = dt["posterior"]["training_compute"]
            med = np.log10(comp).median(("chain", "draw"))
            fields = (("log_compute", float(np.interp(decimal_year(when),
                                                      comp["year"].values, med.values))),)
        out.append(Candidate(
            key=key, term=base, kind=kind, observation=words.format(**fmt),
            date=when if "t" in term.arrays else None,
            error=float(np.median(term.array("meas")[kind_rows])), error_unit=unit,
            template=term.ids[i], fields=fields))
    return out, skipped


# -- results -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Effect:
    """What one candidate does to one quantity's 90% interval (widths in dex)."""

    expected_width: float
    reduction: float
    share: float  # reduction over the current width
    mc_se: float  # Monte Carlo standard error of the expected width (and of the reduction)
    tied_with_next: bool = False  # not distinguishable from the next-ranked candidate


@dataclass(frozen=True)
class CandidateValue:
    """A candidate, its effect on each quantity, and how reliable its weights are."""

    candidate: Candidate
    effects: dict[str, Effect]
    k_hat_median: float
    k_hat_max: float
    share_k_high: float  # share of outcomes with k-hat above PARETO_K_MAX

    @property
    def flagged(self) -> bool:
        """Whether its reweighting is unreliable for too many outcomes."""
        return self.share_k_high > FLAG_SHARE


@dataclass(frozen=True)
class Current:
    """A quantity's current 90% interval (5% and 95% quantiles) and its width in dex."""

    q05: float
    q95: float
    width: float


@dataclass
class ValueOfInformation:
    """Candidates with their effect on each headline quantity, for one run and year."""

    run_id: str
    year: int
    date: str
    n_outcomes: int
    seed: int
    n_draws: int
    r_eff: float
    current: dict[str, Current]
    values: list[CandidateValue]
    skipped: list[str] = field(default_factory=list)
    seconds: float = 0.0
    version: int = VERSION
    prob: float = PROB

    def ranked(self, quantity: str) -> list[CandidateValue]:
        """The candidates by expected reduction of ``quantity``'s width, largest first."""
        return sorted(self.values, key=lambda v: -v.effects[quantity].reduction)

    def to_dict(self) -> dict:
        """Everything, JSON-safe (what is stored beside the run; NaN and inf as ``None``)."""
        return json_safe(asdict(self))

    @classmethod
    def from_dict(cls, doc: dict) -> ValueOfInformation:
        """The inverse of :meth:`to_dict` (``None`` read back as NaN)."""
        def num(x: object) -> float:
            return math.nan if x is None else float(x)  # type: ignore[arg-type]

        values = [CandidateValue(
            Candidate(**{**v["candidate"], "fields": tuple(
                (str(name), num(x)) for name, x in v["candidate"].get("fields", ()))}),
            {k: Effect(num(e["expected_width"]), num(e["reduction"]), num(e["share"]),
                       num(e["mc_se"]), bool(e["tied_with_next"]))
             for k, e in v["effects"].items()},
            num(v["k_hat_median"]), num(v["k_hat_max"]), num(v["share_k_high"]))
            for v in doc["values"]]
        current = {k: Current(num(c["q05"]), num(c["q95"]), num(c["width"]))
                   for k, c in doc["current"].items()}
        return cls(**{**doc, "current": current, "values": values})

    def quantity_dict(self, quantity: str) -> dict:
        """The ranking for one quantity, as ``value-of-information --format json`` prints it.

        Parameters
        ----------
        quantity : str
            A key of :data:`~gpt2030.inference.forecast.HEADLINES`.

        Returns
        -------
        dict
        """
        cur = self.current[quantity]
        rows = []
        for rank, v in enumerate(self.ranked(quantity), start=1):
            e = v.effects[quantity]
            c = v.candidate
            rows.append({
                "rank": rank, "key": c.key, "observation": c.observation, "kind": c.kind,
                "term": c.term, "date": c.date, "error": c.error, "error_unit": c.error_unit,
                "like": c.template, "expected_width_dex": e.expected_width,
                "reduction_dex": e.reduction, "reduction_share": e.share,
                "mc_se_dex": e.mc_se, "tied_with_next": e.tied_with_next,
                "k_hat_median": v.k_hat_median, "k_hat_max": v.k_hat_max,
                "share_k_above_0.7": v.share_k_high, "flagged": v.flagged})
        out = {"run_id": self.run_id, "quantity": quantity, "year": self.year,
               "unit": HEADLINES[quantity].unit, "label": HEADLINES[quantity].label,
               "interval": self.prob,
               "current": {"q05": cur.q05, "q95": cur.q95, "width_dex": cur.width},
               "date": self.date, "n_outcomes": self.n_outcomes, "seed": self.seed,
               "n_draws": self.n_draws, "candidates": rows, "skipped": self.skipped}
        return json_safe(out)


# -- the preposterior computation (pure: draws and log-likelihoods in) ----------------------


def log_widths(values: np.ndarray, weights: np.ndarray, prob: float = PROB
               ) -> np.ndarray:
    """Width (dex) of the central ``prob`` interval of positive draws under each weighting.

    Parameters
    ----------
    values : numpy.ndarray
        Positive draws of a quantity, shape ``(N,)``.
    weights : numpy.ndarray
        Weightings of the draws, shape ``(S, N)``, rows summing to one.
    prob : float
        Central probability.

    Returns
    -------
    numpy.ndarray
        Shape ``(S,)``.
    """
    lo, hi = weighted_quantile(np.log10(values), weights, [(1 - prob) / 2, (1 + prob) / 2])
    return hi - lo


def evaluate(quantities: dict[str, np.ndarray], log_lik: dict[Candidate, np.ndarray],
             r_eff: float = 1.0, prob: float = PROB, seed: int = SEED
             ) -> tuple[dict[str, Current], list[CandidateValue]]:
    """Expected interval widths after each candidate, from draws and outcome likelihoods.

    An interval read off ``N`` weighted draws is narrower, on average, the fewer draws the
    weights effectively keep (a sample's 5-95% range grows with its size), whatever the
    weights say about the quantity. So each outcome's reduction is the weighted width
    under the *same* weights randomly permuted over the draws (the same effective sample,
    no relation to the quantity) minus the weighted width: for a candidate independent
    of the quantity the two have the same distribution, so it reduces nothing on
    average, however sharp it is about other parameters (tested). For an informative
    candidate the correction is slightly too large (the bias shrinks with the width), so
    its reduction is slightly understated.

    Parameters
    ----------
    quantities : dict of str to numpy.ndarray
        Positive draws of each quantity, flattened chain-major, shape ``(chain * draw,)``.
    log_lik : dict of Candidate to numpy.ndarray
        ``log p(y_s | theta_i)``: one row per simulated outcome, shape ``(S, chain,
        draw)``; every candidate's outcomes simulated from the same draws (common random
        numbers: the paired differences then tell whether two candidates differ).
    r_eff : float
        Relative efficiency of the draws, for PSIS.
    prob : float
        Central probability of the interval.
    seed : int
        Seeds the permutations.

    Returns
    -------
    (dict of str to Current, list of CandidateValue)
        The current intervals, and the candidates in the order given.

    Raises
    ------
    ValueError
        A quantity with a draw that is not positive and finite.
    """
    current = {}
    for key, x in quantities.items():
        if not np.all(np.isfinite(x) & (x > 0)):
            raise ValueError(f"{key} has draws that are not positive: no width in dex")
        uniform = np.full((1, x.size), 1.0 / x.size)
        lo, hi = weighted_quantile(x, uniform, [(1 - prob) / 2, (1 + prob) / 2])
        current[key] = Current(float(lo[0]), float(hi[0]),
                               float(log_widths(x, uniform, prob)[0]))
    rng = np.random.default_rng(seed)
    # Per candidate and quantity: the reduction of each outcome (dex).
    widths: dict[Candidate, dict[str, np.ndarray]] = {}
    ks: dict[Candidate, np.ndarray] = {}
    for cand, ll in log_lik.items():
        lw, k = smooth_log_weights(ll, r_eff)
        w = np.exp(lw.reshape(lw.shape[0], -1))
        shuffled = np.take_along_axis(w, rng.permuted(
            np.broadcast_to(np.arange(w.shape[1]), w.shape), axis=1), axis=1)
        ks[cand] = k
        widths[cand] = {}
        for key, x in quantities.items():
            # Per outcome: the reduction of the width, net of the effective-sample effect.
            widths[cand][key] = log_widths(x, shuffled, prob) - log_widths(x, w, prob)
    values = []
    for cand in log_lik:
        effects = {}
        for key in quantities:
            red = widths[cand][key]
            mean = float(np.mean(red))
            effects[key] = Effect(current[key].width - mean, mean, mean / current[key].width,
                                  float(np.std(red, ddof=1) / math.sqrt(red.size))
                                  if red.size > 1 else math.nan)
        k = ks[cand]
        values.append(CandidateValue(cand, effects, float(np.median(k)), float(np.max(k)),
                                     float(np.mean(k > PARETO_K_MAX))))
    return current, _mark_ties(values, widths, list(quantities))


def _mark_ties(values: list[CandidateValue], widths: dict, keys: list[str]
               ) -> list[CandidateValue]:
    """Mark each candidate not distinguishable from the next-ranked one, per quantity.

    Tied: the paired difference of their reductions over the shared outcomes (common
    random numbers) is within two standard errors of zero.
    """
    ties: dict[tuple[str, str], bool] = {}
    for key in keys:
        order = sorted(values, key=lambda v: -v.effects[key].reduction)
        for a, b in itertools.pairwise(order):
            d = widths[a.candidate][key] - widths[b.candidate][key]
            se = float(np.std(d, ddof=1) / math.sqrt(d.size)) if d.size > 1 else math.inf
            ties[(a.candidate.key, key)] = bool(abs(float(np.mean(d))) <= 2 * se)
    return [CandidateValue(v.candidate, {
        key: Effect(e.expected_width, e.reduction, e.share, e.mc_se,
                    ties.get((v.candidate.key, key), False))
        for key, e in v.effects.items()}, v.k_hat_median, v.k_hat_max, v.share_k_high)
        for v in values]


# -- the model's observation model ----------------------------------------------------------


def run_frame(dt: xr.DataTree) -> pd.DataFrame:
    """The observation frame of the rows a run was fitted to (its ``observations`` group).

    Parameters
    ----------
    dt : xarray.DataTree
        A run.

    Returns
    -------
    pandas.DataFrame
        :func:`gpt2030.observations.observation_frame` of those rows.
    """
    from gpt2030.observations import observation_frame

    return observation_frame(run_rows(dt))


def outcome_likelihoods(dt: xr.DataTree, config_name: str, cands: list[Candidate],
                        n_outcomes: int, seed: int, step: int = 1, ev=None
                        ) -> tuple[dict[Candidate, np.ndarray], dict[Candidate, np.ndarray]]:
    """Simulated outcomes of each candidate and their log-likelihood at every stored draw.

    Parameters
    ----------
    dt : xarray.DataTree
        A run with a posterior.
    config_name : str
        The run's configuration.
    cands : list of Candidate
        The candidates (:func:`candidates`).
    n_outcomes : int
        Outcomes per candidate.
    seed : int
        Seeds which stored draws simulate the outcomes, and the simulation.
    step : int
        Use every ``step``-th draw of each chain.
    ev : gpt2030.models.evidence.Evidence, optional
        The run's evidence, when already prepared.

    Returns
    -------
    (dict, dict)
        Per candidate, the outcomes ``(S,)`` in the term's units, and ``log p(y_s |
        theta_i)`` shaped ``(S, chain, draw)``.

    Raises
    ------
    ValueError
        When the candidate rows would change the model's parameters (a bug: candidates
        copy real rows).
    """
    from gpt2030.models import build_model, get_config
    from gpt2030.models.evidence import Hypothetical, prepare_evidence, with_hypothetical

    config = get_config(config_name)
    frame = run_frame(dt)
    ev = ev if ev is not None else prepare_evidence(frame, config.expert_forecasts)
    copies = [Hypothetical(c.term, f"voi:{c.key}:{s}", c.template, c.error,
                           float(ev.term(c.term).array("y")[ev.term(c.term).ids.index(
                               c.template)]),
                           decimal_year(c.date) if c.date else None, c.fields)
              for c in cands for s in range(n_outcomes)]
    ev2 = with_hypothetical(ev, copies)
    model = build_model(frame, config, evidence=ev2)
    post = dt["posterior"].to_dataset()
    free = [rv.name for rv in model.free_RVs]
    why = structure_change(model, post, free)
    if why:
        raise ValueError(f"the candidate rows change the model ({why})")
    post = post[free].isel(draw=slice(None, None, step))
    n_chain, n_draw = post.sizes["chain"], post.sizes["draw"]
    picked = np.random.default_rng(seed).integers(0, n_chain * n_draw, n_outcomes)
    # The picked draws (chain-major flat indices), indexed pointwise rather than through a
    # stacked sample dimension, which xarray cannot make of a vector with no levels (a
    # backtest's early cutoff has no benchmark variants).
    chosen = post.isel(chain=xr.DataArray(picked // n_draw, dims="sample"),
                       draw=xr.DataArray(picked % n_draw, dims="sample"))
    chosen = chosen.drop_vars(["chain", "draw"]).rename(sample="draw")
    chosen = chosen.expand_dims(chain=1).assign_coords(draw=np.arange(n_outcomes))
    terms = sorted({c.term for c in cands})
    where = {c: [ev2.term(c.term).ids.index(f"voi:{c.key}:{s}") for s in range(n_outcomes)]
             for c in cands}
    # S draws of the predictive, vectorised over them (PyMC's sampler, one compiled call a
    # draw, took ~13 s for 200, of which ~8 s compiling in FAST_COMPILE).
    pp = over_draws.predictive(model, chosen, [f"{t}_obs" for t in terms], seed + 1)
    outcomes = {}
    new_y = {t: ev2.term(t).array("y") for t in terms}
    for c in cands:
        sim = np.asarray(pp[f"{c.term}_obs"].values, dtype=float)[0]
        outcomes[c] = sim[np.arange(n_outcomes), where[c]]
        new_y[c.term][where[c]] = outcomes[c]
    for t, y in new_y.items():
        # The term's values are a shared variable (pm.Data): same shape, so set it directly
        # (pm.set_data compiles a shape check per term).
        model[f"{t}_y"].set_value(y)
    # The terms' log-densities with the outcomes as data, vectorised over the stored draws.
    lik = over_draws.log_likelihood(model, post, [f"{t}_obs" for t in terms])
    log_lik = {}
    for c in cands:
        rows = lik[f"{c.term}_obs"].values[..., where[c]]  # (chain, draw, S)
        log_lik[c] = np.moveaxis(rows, -1, 0).reshape(n_outcomes, n_chain, n_draw)
    return outcomes, log_lik


# -- a run's value of information -----------------------------------------------------------


def default_date(manifest: dict) -> str:
    """``YYYY-MM``, :data:`NEAR_FUTURE_MONTHS` after the month the run was made.

    Parameters
    ----------
    manifest : dict
        The run's manifest.

    Returns
    -------
    str
    """
    made = Date.fromisoformat(str(manifest.get("created", ""))[:10])
    month = made.year * 12 + made.month - 1 + NEAR_FUTURE_MONTHS
    return f"{month // 12:04d}-{month % 12 + 1:02d}"


def check_date(text: str, years: np.ndarray) -> str:
    """A candidate date, checked: a real date on the model's year grid.

    Parameters
    ----------
    text : str
        ``YYYY``, ``YYYY-MM`` or ``YYYY-MM-DD``.
    years : numpy.ndarray
        The run's year grid.

    Returns
    -------
    str
        ``text``.

    Raises
    ------
    ValueError
        Naming the problem.
    """
    parse_date(text)
    t = decimal_year(text)
    if not years[0] <= t <= years[-1] + 1:
        raise ValueError(f"date {text} is outside the model's years {years[0]}-{years[-1]}")
    return text


def compute(run: Run, dt: xr.DataTree | None = None, year: int = YEAR,
            date: str | None = None, n_outcomes: int = OUTCOMES, seed: int = SEED,
            progress: Progress | None = None) -> ValueOfInformation:
    """The value of information of every candidate for a run's headline quantities.

    Parameters
    ----------
    run : Run
        A stored run with a posterior.
    dt : xarray.DataTree, optional
        Its DataTree, when already read.
    year : int
        The year of the headline quantities.
    date : str, optional
        The candidates' date (default :func:`default_date`).
    n_outcomes : int
        Simulated outcomes per candidate.
    seed : int
        Seed of the outcomes.
    progress : Progress, optional
        Prints one line per stage.

    Returns
    -------
    ValueOfInformation

    Raises
    ------
    ValueError
        A prior-only run, a run without observations, a year or date off the model's
        grid, fewer than 2 outcomes.
    """
    from gpt2030.models.evidence import prepare_evidence

    progress = progress or silent()
    start = time.perf_counter()
    dt = dt if dt is not None else run.datatree()
    if "posterior" not in dt.children:
        raise ValueError("value of information needs a posterior: this run is prior-only")
    if n_outcomes < 2:
        raise ValueError("--outcomes must be at least 2 (the Monte Carlo error needs two)")
    config_name = str((run.manifest.get("config") or {}).get("name", "default"))
    n_chain, n_draw = dt["posterior"].sizes["chain"], dt["posterior"].sizes["draw"]
    thinned, step = thinned_posterior(dt, MAX_DRAWS)
    quantities = {key: headline_draws(dt, key, year).reshape(n_chain, n_draw)[:, ::step]
                  .ravel() for key in HEADLINES}
    years = np.asarray(dt["posterior"]["year"].values)
    when = check_date(date or default_date(run.manifest), years)
    with progress.stage("build", detail="candidates") as info:
        from gpt2030.models import get_config

        ev = prepare_evidence(run_frame(dt), get_config(config_name).expert_forecasts)
        cands, skipped = candidates(ev, dt, when)
        if not cands:
            raise ValueError("the run conditions on no observation the model has a "
                             "likelihood for: there is no candidate to value")
        info["detail"] = f"{len(cands)} candidates dated {when}"
    with progress.stage("simulate", detail=f"{n_outcomes} outcomes each"):
        _, log_lik = outcome_likelihoods(dt, config_name, cands, n_outcomes, seed, step, ev)
    n = next(iter(quantities.values())).size
    with progress.stage("reweight", detail=f"PSIS per outcome, {n} draws"):
        names = [v for v in free_parameters(dt) if v in thinned]
        r_eff = relative_ess(xr.DataTree.from_dict({"posterior": thinned[names]}))
        current, values = evaluate(quantities, log_lik, r_eff, seed=seed)
    return ValueOfInformation(run.id, year, when, n_outcomes, seed, int(n), float(r_eff),
                              current, values, skipped, round(time.perf_counter() - start, 2))


def _matches(doc: dict, run: Run, year: int, date: str | None, n_outcomes: int,
             seed: int) -> bool:
    """Whether a stored result serves these settings.

    It does when it is of this version, run, year, date and seed, with at least as many
    outcomes (more only lowers the Monte Carlo error).
    """
    return (doc.get("version") == VERSION and doc.get("run_id") == run.id
            and doc.get("year") == year and int(doc.get("n_outcomes", 0)) >= n_outcomes
            and doc.get("seed") == seed
            and doc.get("date") == (date or default_date(run.manifest)))


def for_run(run: Run, dt: xr.DataTree | None = None, year: int = YEAR,
            date: str | None = None, n_outcomes: int = OUTCOMES, seed: int = SEED,
            progress: Progress | None = None) -> tuple[ValueOfInformation, bool]:
    """The stored result beside the run when it has these settings, else computed and stored.

    The file is written atomically; a run folder that cannot be written (read-only) only
    means it is computed again next time.

    Parameters
    ----------
    run : Run
        A stored run.
    dt : xarray.DataTree, optional
        Its DataTree, when already read.
    year, date, n_outcomes, seed
        As for :func:`compute`.
    progress : Progress, optional
        Prints one line per stage when it computes.

    Returns
    -------
    (ValueOfInformation, bool)
        The result, and whether it was read from the stored file.
    """
    found = stored(run, year, date, n_outcomes, seed)
    if found is not None:
        return found, True
    result = compute(run, dt, year, date, n_outcomes, seed, progress)
    try:
        atomic_write(Path(run.path) / CACHE,
                     json.dumps(result.to_dict(), indent=1, allow_nan=False) + "\n")
    except OSError:
        pass
    return result, False


def stored(run: Run, year: int = YEAR, date: str | None = None, n_outcomes: int = OUTCOMES,
           seed: int = SEED) -> ValueOfInformation | None:
    """The result stored beside the run, when it serves these settings (else None).

    Parameters
    ----------
    run : Run
        A stored run.
    year, date, n_outcomes, seed
        As for :func:`compute`; a stored result with more outcomes serves.

    Returns
    -------
    ValueOfInformation or None
    """
    try:
        doc = json.loads((Path(run.path) / CACHE).read_text(encoding="utf-8"))
        if _matches(doc, run, year, date, n_outcomes, seed):
            return ValueOfInformation.from_dict(doc)
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return None


def for_report(run: Run, dt: xr.DataTree, year: int = YEAR) -> ValueOfInformation | str:
    """The report's ranking, or why there is none.

    With :data:`REPORT_OUTCOMES` outcomes, or a stored result with more.

    Parameters
    ----------
    run : Run
        A stored run.
    dt : xarray.DataTree
        Its DataTree.
    year : int
        The year of the headline quantities.

    Returns
    -------
    ValueOfInformation or str
        The result, or one sentence saying why the run has none (prior-only, no
        observation with a likelihood, or a run that fails its diagnostics: its draws
        cannot be trusted to rank anything, and the report spends no time on them).
    """
    if "posterior" not in dt.children:
        return "A prior-only run: there is no posterior to reweight."
    if run.manifest.get("verdict") != "pass":
        return ("Not shown: the run fails its diagnostics (section 1), so its draws cannot "
                "be trusted to rank observations. `gpt2030 value-of-information` ranks them "
                "anyway.")
    own = stored(run, year, None, REPORT_OUTCOMES)
    if own is not None:
        return own
    parent = _parent_result(run, year)
    if parent is not None:
        return parent
    try:
        return for_run(run, dt, year, n_outcomes=REPORT_OUTCOMES)[0]
    except ValueError as err:
        return f"Not computed: {err}."


def _parent_result(run: Run, year: int) -> ValueOfInformation | None:
    """A reweighted run's ranking: its fitted parent's stored one, when there is one.

    Reweighting by a few rows barely moves the posterior (its k-hat <= 0.7 says so), while
    ranking again would cost as much as the rest of ``observe add --update``; the report
    says whose ranking it shows (``run_id``).
    """
    parent = fitted_parent(run)
    if parent is None or parent.manifest.get("verdict") != "pass":
        return None  # as for the run itself: untrusted draws rank nothing
    return stored(parent, year, None, REPORT_OUTCOMES)
