"""Every prior of the model, with its source or the judgement behind it, in one place.

Conventions: ``log10`` scales for quantities that grow multiplicatively (compute, tokens,
speed, bandwidth); time ``t`` in decimal years; trends are anchored at :data:`T0`.

Default priors use only what was public by mid-2023, when the essay was written, so that a
backtest from a 2023 cutoff is honest: later findings (Villalobos et al. 2024, Besiroglu et
al. 2024, Epoch's 2024 trend updates) enter the model as *observations* in the ledger, and
drop out of a fit whose cutoff precedes them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from types import MappingProxyType

#: Anchor year of every trend (intercepts are values at the start of 2023).
T0 = 2023.0

#: GPT-3's training compute, FLOP: Brown et al. (2020), Table D.1 (3.14e23; the essay
#: rounds it to 3.1e23). The reference point of the essay's overhang arithmetic.
GPT3_COMPUTE = 3.14e23
#: GPT-3's parameters: Brown et al. (2020), 175B.
GPT3_PARAMETERS = 1.75e11
#: Chinchilla's compute, FLOP, where N_opt = 70B and D_opt = 1.4T (Hoffmann et al. 2022,
#: Table 3: 5.76e23). The anchor of the compute-optimal scaling law below.
CHINCHILLA_COMPUTE = 5.76e23
#: Training FLOP per parameter per token, C = 6 N D (Kaplan et al. 2020, section 2.1;
#: Hoffmann et al. 2022 use the same approximation).
FLOP_PER_PARAM_TOKEN = 6.0
#: A forward pass costs 2 N FLOP per token (Kaplan et al. 2020; the essay's 3.5e11 for GPT-3).
FORWARD_FLOP_PER_PARAM = 2.0
#: Minutes of thinking in a year: the essay counts years of 365 days of continuous
#: thinking (9e11 tokens at 500 tokens/min = ~3,400 years, Appendix B).
MINUTES_PER_YEAR = 365 * 24 * 60


@dataclass(frozen=True)
class Prior:
    """A prior: a PyMC distribution name, its parameters, and where they come from."""

    dist: str
    params: dict[str, float]
    source: str

    def describe(self) -> str:
        """``Normal(mu=0.5, sigma=0.15)``: the prior as a reader would write it."""
        args = ", ".join(f"{k}={v:g}" for k, v in self.params.items())
        return f"{self.dist}({args})"


def _lognormal(median: float, sigma: float, source: str) -> Prior:
    return Prior("LogNormal", {"mu": math.log(median), "sigma": sigma}, source)


DEFAULT_PRIORS: dict[str, Prior] = {
    # -- 1. frontier compute ------------------------------------------------------------------
    "log_compute_2023": Prior(
        "Normal", {"mu": 25.0, "sigma": 0.5},
        "Judgement: the largest runs known by mid-2023 (GPT-4, PaLM) were estimated at "
        "~2e24-2e25 FLOP; sigma 0.5 dex leaves the data to place the frontier."),
    "compute_growth": _lognormal(
        0.5, 0.3,
        "Sevilla et al. 2022 (arXiv:2202.05924): doubling every ~6 months in the deep-learning "
        "era (0.50 dex/yr) and ~10 months for large-scale runs (0.36 dex/yr); the growth of "
        "the record in 2023, 90% interval 0.3-0.8 dex/yr. Positive: a record never un-happens."),
    "growth_walk_sd": Prior(
        "HalfNormal", {"sigma": 0.15},
        "Judgement: year-to-year change of log growth (a random walk on the growth rate, "
        "Student-t steps). Sevilla et al. 2022 found the doubling time changed from ~20 to "
        "~6 months at the start of the deep-learning era, a factor ~3 within a few years."),
    "log_compute_cap_2030": Prior(
        "Normal", {"mu": 29.3, "sigma": 0.5},
        "Sevilla et al. 2024, Epoch AI, 'Can AI scaling continue through 2030?': ~2e29 FLOP "
        "runs feasible by 2030 (power 2e28-2e30, chips 1e29-5e30, data 6e28-2e32, latency "
        "3e30-1e32, 80% ranges); the soft ceiling on the record, sigma 0.5 dex."),
    "frontier_wiggle": Prior(
        "Gamma", {"alpha": 4.0, "beta": 20.0},
        "Judgement: the frontier run of a year scatters around the smooth trend by ~0.2 dex "
        "(90% 0.07-0.4). Kept away from 0 on purpose: a perfectly smooth frontier would make "
        "every record-setting model a hard wall for the sampler."),
    "compute_gap": Prior(
        "HalfNormal", {"sigma": 1.0},
        "Judgement: a notable model's mean shortfall below the frontier run, in dex."),

    # -- 2. scaling ---------------------------------------------------------------------------
    "scaling_exponent": Prior(
        "Normal", {"mu": 0.5, "sigma": 0.1},
        "Judgement: centred on the square-root law, wide enough to hold Kaplan et al. 2020's "
        "0.73 at 2.3 sigma; Hoffmann et al. 2022's fits (a = 0.50, 0.49, 0.46) and Besiroglu "
        "et al. 2024's refit are observations in the ledger."),
    "optimal_tokens_per_param": _lognormal(
        20.0, 0.7,
        "Judgement: tens of tokens per parameter, a factor ~3 either way; Chinchilla's 20 "
        "(Hoffmann et al. 2022, 70B on 1.4T tokens) is an observation in the ledger."),
    "overtrain_2023": Prior(
        "Normal", {"mu": 0.0, "sigma": 0.5},
        "Judgement: how far (dex) the frontier model sits above compute-optimal tokens per "
        "parameter in 2023; centred on Chinchilla, wide enough for LLaMA-style overtraining."),
    "overtrain_walk_sd": Prior(
        "HalfNormal", {"sigma": 0.1},
        "Judgement: yearly change (dex) of the frontier's overtraining, a random walk with no "
        "drift: practice moved from Kaplan-style undertraining (2020) to Chinchilla (2022) to "
        "LLaMA-style overtraining (2023), ~0.3-0.5 dex in three years."),
    "overtrain_gap": Prior(
        "Normal", {"mu": 0.0, "sigma": 0.3},
        "Judgement after Touvron et al. 2023 (LLaMA, section 1): a model trained for cheap "
        "inference, far below the frontier's compute, is trained on more tokens per "
        "parameter; dex of overtraining per dex below the frontier, no sign assumed."),
    "practice_spread": Prior(
        "HalfNormal", {"sigma": 0.5},
        "Judgement: spread (dex) of labs' tokens-per-parameter around the common trend."),
    # -- 3. data ------------------------------------------------------------------------------
    "log_stock_2023": Prior(
        "Normal", {"mu": 14.3, "sigma": 0.6},
        "Villalobos et al. 2022 (arXiv:2211.04325): stock of language data ~7e13 to 7e16 "
        "words, high-quality ~1e13 words; the usable stock is judged near the low end, "
        "2e14 tokens, with sigma 0.6 dex."),
    "stock_growth": Prior(
        "Normal", {"mu": 0.03, "sigma": 0.01},
        "Villalobos et al. 2022: the stock of language data grows ~7% a year (log10 1.07)."),
    "data_reuse": Prior(
        "Normal", {"mu": 0.15, "sigma": 0.15},
        "Muennighoff et al. 2023 (arXiv:2305.16264): up to ~4 epochs are nearly as good as new "
        "data; with new modalities, judged to add a factor ~1.4 (0.15 dex), 0 to 0.4 dex."),
    "synthetic_weight": Prior(
        "Beta", {"alpha": 2.0, "beta": 2.0},
        "The essay's two bounds when data binds (Appendix B): compute into parameters "
        "(weight 0) or into costlier synthetic tokens (weight 1); no evidence favours either."),
    "synthetic_cost": _lognormal(
        2.8, 0.3,
        "The essay, Appendix B, after Huang et al. 2022: 8.4 forward-pass equivalents per "
        "synthetic training token instead of 3, a 2.8x cost."),
    # -- 4. inference speed -------------------------------------------------------------------
    "log_speed_2023": Prior(
        "Normal", {"mu": 1.0, "sigma": 0.5},
        "Judgement: serial speed of the frontier model's deployment at T0, log10 tokens/s; "
        "~10 tokens/s, wide (the measured speeds place it)."),
    "software_speedup": Prior(
        "Normal", {"mu": 0.05, "sigma": 0.1},
        "Judgement: long-run serving-software gains in dex/yr; the essay (Appendix A) notes "
        "FasterTransformer runs about 2x faster than its DeepSpeed measurements."),
    "software_walk_sd": Prior(
        "HalfNormal", {"sigma": 0.1},
        "Judgement: scale (dex) of a year's jump in serving speed beyond the mean gain, "
        "Student-t: speculative decoding, quantisation and new kernels each arrive as a "
        "one-off multiple (the essay, Appendix A: FasterTransformer ~2x over DeepSpeed)."),
    "log_bandwidth_2023": Prior(
        "Normal", {"mu": 12.5, "sigma": 0.5},
        "Judgement: a datacenter accelerator's memory bandwidth at T0, log10 B/s, ~3 TB/s "
        "within a factor 3; the chips' datasheets are observations in the ledger."),
    "bandwidth_growth": Prior(
        "Normal", {"mu": 0.1, "sigma": 0.1},
        "Judgement: memory bandwidth has grown more slowly than FLOP/s (the essay, Appendix "
        "A); the datasheets in the ledger place the trend."),
    "bandwidth_spread": Prior(
        "HalfNormal", {"sigma": 0.2},
        "Judgement: chips of one year differ in bandwidth by tens of percent (dex)."),
    "size_exponent": Prior(
        "Normal", {"mu": 0.5, "sigma": 0.25},
        "Judgement: between 0 (latency-bound) and 1 (bandwidth-bound, speed ~ 1/size); the "
        "essay's Table 1 (a k times larger model is ~k^0.6 slower) is in the ledger."),
    "deployment_month_change": Prior(
        "HalfNormal", {"sigma": 0.1},
        "Judgement: month-to-month change (dex, one standard deviation) of one served "
        "model's speed readings, deployment and measurement together: readings a month apart "
        "differ by ~15% (median 0.07 dex), rarely by more than 60% (0.2 dex). The series' "
        "stationary spread (deployment_noise) follows from it and series_autocorrelation."),
    "alias_spread": Prior(
        "HalfNormal", {"sigma": 0.5},
        "Judgement: how far a served model's speed at its first reading sits from the "
        "frontier model's of that date, dex."),
    "alias_drift_mean": Prior(
        "Normal", {"mu": 0.0, "sigma": 0.15},
        "Judgement: mean yearly drift (dex/yr) of a served model's speed after its first "
        "reading; no direction assumed (an alias can get faster hardware or more load)."),
    "alias_drift_spread": Prior(
        "HalfNormal", {"sigma": 0.15},
        "Judgement: spread (dex/yr) of served models' drifts around the mean: some stall, "
        "some speed up."),
    "series_autocorrelation": Prior(
        "Beta", {"alpha": 2.0, "beta": 2.0},
        "Judgement: correlation of a served model's deviations one year apart (monthly "
        "readings of one deployment are not independent facts); 0 to 1, centred at 0.5."),
    "setting_level": Prior(
        "Normal", {"mu": 1.5, "sigma": 1.0},
        "Judgement: speed of a 1e11-parameter model at T0 in a non-API setting (one GPU, "
        "wafer-scale chips), log10 tokens/s: ~30 tokens/s, within a factor 10."),
    # -- human baseline and conversions --------------------------------------------------------
    "human_wpm": _lognormal(
        300.0, 0.3,
        "Judgement from Rayner & Clifton 2009 (via the essay, Appendix A): reading 250-350 and "
        "listening ~400 words/min bracket thinking; Korba's 380 wpm inner speech is in the "
        "ledger."),
    "tokens_per_word": _lognormal(
        1.4, 0.12,
        "OpenAI's rule of thumb 4/3 (the essay's choice); the essay's footnote 12 thinks "
        "3/2 or even 2 more realistic: median 1.4, 90% interval ~1.15-1.7."),
    "training_duration": _lognormal(
        0.25, 0.7,
        "Judgement: a frontier run's length in 2023, ~3 months within a factor 2 (Epoch AI's "
        "training-run durations; GPT-3 ~15 days, Gopher 38, PaLM 50-64); the durations of "
        "real runs are observations in the ledger, Sevilla et al. 2022's 'under 1.2 years' a "
        "bound."),
    "duration_growth": Prior(
        "Normal", {"mu": 0.05, "sigma": 0.05},
        "Judgement: runs have lengthened (GPT-3 ~15 days in 2020, GPT-4 ~95 in 2022), dex/yr; "
        "Sevilla et al. 2022 argue runs longer than ~15 months are inefficient."),
    "duration_spread": Prior(
        "HalfNormal", {"sigma": 0.3},
        "Judgement: spread (dex) of real runs' lengths around the frontier's."),
    "frontier_sparsity": _lognormal(
        4.0, 0.8,
        "Judgement: total over active parameters of the frontier model (1 for a dense model; "
        "Mixtral 8x7B 3.6, GPT-4 as rumoured 6.4, DeepSeek-V3 18: ledger rows). Only the "
        "total parameters depend on it."),
    # -- 5. benchmarks --------------------------------------------------------------------
    "bench_level": Prior(
        "Normal", {"mu": 0.0, "sigma": 1.5},
        "Judgement: frontier accuracy at T0 on the logit scale, 18%-82% within 1 sigma."),
    "bench_slope": Prior(
        "Normal", {"mu": 1.0, "sigma": 0.5},
        "Judgement from 2021-2023 progress (MATH: ~7% in 2021, 50% in mid-2022): about "
        "1 logit a year, from half to double that, for each benchmark. Not pooled: with two "
        "or three readings on most benchmarks a pooled spread is a funnel the data cannot "
        "resolve."),
    "bench_variant_offset": Prior(
        "Normal", {"mu": 0.0, "sigma": 1.5},
        "Judgement: logit offset of a benchmark variant from its task's reference (MATH-500 "
        "is a subset of MATH's test set; MATH Level 5 its hardest level)."),
    "bench_walk_sd": Prior(
        "HalfNormal", {"sigma": 0.3},
        "Judgement: yearly shocks (logit/yr) to progress shared by all benchmarks, Student-t "
        "steps: a new kind of system moves every curve at once."),
    "reasoning_boost": Prior(
        "HalfNormal", {"sigma": 2.0},
        "Judgement: logit gain of a reasoning system (chain of thought at test time, o1-style) "
        "over the curve of its time; positive, up to a few logits."),
    "bench_gap": Prior(
        "Gamma", {"alpha": 2.0, "beta": 3.0},
        "Judgement: mean logit shortfall of a non-frontier system below the frontier."),
    "bench_noise": Prior(
        "Gamma", {"alpha": 4.0, "beta": 12.0},
        "Judgement: evaluation-setting noise on the logit scale, ~0.33 (90% 0.1-0.6); kept "
        "away from 0 for the same reason as frontier_wiggle."),
}

#: Error scale (dex, one sigma) of a log-scale observation with no stated interval, by
#: status. A judgement: official figures are rounded, estimates are reconstructions.
STATUS_SIGMA: dict[str, float] = {
    "official": 0.03,
    "measured": 0.05,
    "derived": 0.1,
    "estimate": 0.2,
    "forecast": 0.5,
    "rumor": 0.5,
}
#: Error scale (logit, one sigma) of a benchmark score by status: a judgement (a measured
#: score varies with prompt and sampling by a few points; an estimate more).
BENCHMARK_STATUS_SIGMA: dict[str, float] = {
    "official": 0.1, "measured": 0.1, "derived": 0.2, "estimate": 0.3, "forecast": 0.7,
    "rumor": 0.7}
#: Student-t degrees of freedom of every random walk's steps: heavy enough tails for a
#: change of regime (a step of 3 sigma is ~10 times likelier than under a normal), finite
#: variance. A judgement, after Harvey's robust structural time-series models.
WALK_NU = 4.0
#: Epoch AI's confidence labels, ordered as Epoch orders them; the dex values are a
#: judgement (confident: within ~2x; likely: ~4x; speculative: ~10x, at 90%).
CONFIDENCE_SIGMA: dict[str, float] = {"confident": 0.15, "likely": 0.3, "speculative": 0.5}
#: A floor on the error of a fitted scaling constant: fits of the same law by different
#: approaches disagree by more than their stated intervals (Besiroglu et al. 2024).
SCALING_CONSTANT_SIGMA_FLOOR = 0.02
#: A floor on the error of a human thinking-speed figure (dex): Korba's 380 wpm comes from
#: one small study of inner speech.
HUMAN_SPEED_SIGMA_FLOOR = 0.1


@dataclass(frozen=True)
class ModelConfig:
    """A named set of priors and structural switches.

    Attributes
    ----------
    name : str
        The configuration's name, stored with every run.
    priors : mapping of str to Prior
        One prior per free parameter.
    compute_slowdown : bool
        Let compute growth change year by year (a random walk on log growth) and meet the
        soft 2030 ceiling of Epoch AI's constraints (else one constant growth rate).
    data_constraint : bool
        Let the stock of text limit the dataset a frontier run can use.
    hardware_trend : bool
        Let memory bandwidth growth speed up inference.
    expert_forecasts : bool
        Condition on forecasts in the ledger (Besiroglu et al. 2022, Metaculus): evidence
        about beliefs, off by default so it never mixes silently with measurements.
    use_observations : bool
        Condition on the ledger at all (off: the prior predictive of the configuration).
    """

    name: str
    priors: MappingProxyType = field(default_factory=lambda: MappingProxyType(DEFAULT_PRIORS))
    compute_slowdown: bool = True
    data_constraint: bool = True
    hardware_trend: bool = True
    expert_forecasts: bool = False
    use_observations: bool = True

    def with_priors(self, **updates: Prior) -> ModelConfig:
        """A copy with some priors replaced (unknown names are refused)."""
        unknown = set(updates) - set(self.priors)
        if unknown:
            raise KeyError(f"no such prior(s): {sorted(unknown)}")
        return replace(self, priors=MappingProxyType({**self.priors, **updates}))

    def describe(self) -> dict[str, object]:
        """A JSON-serialisable description (stored with each run)."""
        return {
            "name": self.name,
            "compute_slowdown": self.compute_slowdown,
            "data_constraint": self.data_constraint,
            "hardware_trend": self.hardware_trend,
            "expert_forecasts": self.expert_forecasts,
            "use_observations": self.use_observations,
            "priors": {k: {"dist": p.dist, "params": p.params} for k, p in self.priors.items()},
        }


_ESSAY = "The essay's own assumption (Steinhardt 2023)"
DEFAULT = ModelConfig("default")

#: The essay's assumptions, with no observations: its prior predictive is the essay's
#: forecast made probabilistic. Where the essay is silent about a link, the prior is set so
#: that the chain reproduces the essay's headline median (stated beside each).
ESSAY = replace(
    DEFAULT.with_priors(
        log_compute_2023=Prior("Normal", {"mu": 25.3, "sigma": 0.2},
                               f"{_ESSAY}: GPT-4 at ~2e25 FLOP in early 2023."),
        compute_growth=Prior("Normal", {"mu": 0.39, "sigma": 0.1},
                             f"{_ESSAY}: 1e28 FLOP in 2030, the geometric middle of Besiroglu "
                             "et al. 2022 (4.7e28) and Metaculus (2.3e27)."),
        scaling_exponent=Prior("Normal", {"mu": 0.5, "sigma": 0.02},
                               f"{_ESSAY}: Chinchilla, size grows as the square root of compute."),
        optimal_tokens_per_param=_lognormal(20.0, 0.1, f"{_ESSAY}: Chinchilla's 20."),
        overtrain_2023=Prior("Normal", {"mu": 0.0, "sigma": 0.1},
                             f"{_ESSAY}: compute-optimal training."),
        log_speed_2023=Prior("Normal", {"mu": math.log10(12.0), "sigma": 0.1},
                             f"{_ESSAY}: GPT-4 at 12 tokens/s (540 wpm) in June 2023."),
        software_speedup=Prior("Normal", {"mu": 0.1, "sigma": 0.1},
                               f"{_ESSAY}: silent on the decomposition; set so that the chain "
                               "gives its 5x median speed in 2030."),
        tokens_per_word=_lognormal(4 / 3, 0.02, f"{_ESSAY}: 4/3 tokens per word."),
        human_wpm=_lognormal(380.0, 0.1, f"{_ESSAY}: thinking at 380 words/min (Korba), "
                             "cited range 300-400."),
        size_exponent=Prior("Normal", {"mu": 0.6, "sigma": 0.1},
                            f"{_ESSAY}: a k times larger model is ~k^0.6 slower (Table 1)."),
        training_duration=_lognormal(1.0, 0.15, f"{_ESSAY}: training takes about a year."),
        duration_growth=Prior("Normal", {"mu": 0.0, "sigma": 0.01},
                              f"{_ESSAY}: a fixed training duration."),
        software_walk_sd=Prior("HalfNormal", {"sigma": 0.01},
                               f"{_ESSAY}: one fixed trend, no jumps."),
        overtrain_walk_sd=Prior("HalfNormal", {"sigma": 0.01},
                                f"{_ESSAY}: compute-optimal training throughout."),
    ),
    name="essay",
    compute_slowdown=False,
    use_observations=False,
)

#: Named configurations: the default, the essay's, and the variants compared by PSIS-LOO
#: and backtests (each switches off one link of the chain).
CONFIGS: dict[str, ModelConfig] = {
    "default": DEFAULT,
    "essay": ESSAY,
    "with_forecasts": replace(DEFAULT, name="with_forecasts", expert_forecasts=True),
    "constant_growth": replace(DEFAULT, name="constant_growth", compute_slowdown=False),
    "no_data_limit": replace(DEFAULT, name="no_data_limit", data_constraint=False),
    "no_hardware_trend": replace(DEFAULT, name="no_hardware_trend", hardware_trend=False),
}


def get_config(name: str) -> ModelConfig:
    """The named configuration, or a ``KeyError`` listing the names."""
    try:
        return CONFIGS[name]
    except KeyError:
        raise KeyError(f"unknown config {name!r}; one of {', '.join(CONFIGS)}") from None
