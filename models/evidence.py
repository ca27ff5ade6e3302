"""From ledger rows to the arrays each likelihood term of the model needs.

Pure: a typed observation frame in (see :func:`gpt2030.observations.observation_frame`),
plain NumPy arrays out, and for every ledger row the *role* it plays: which likelihood term
it conditions, or why it does not (context the model has no link for, a forecast while
forecasts are switched off, a duplicate of information another row already carries).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.stats import norm

from gpt2030.models.priors import (
    CONFIDENCE_SIGMA,
    HUMAN_SPEED_SIGMA_FLOOR,
    SCALING_CONSTANT_SIGMA_FLOOR,
    STATUS_SIGMA,
)
from gpt2030.observations.schema import INTERVALS


def _z(coverage: float) -> float:
    """Standard-normal quantile of the upper end of a central interval of ``coverage``."""
    return float(norm.ppf(0.5 + coverage / 2))


@dataclass
class Term:
    """The data of one likelihood term: observation ids and aligned arrays."""

    ids: list[str] = field(default_factory=list)
    arrays: dict[str, list] = field(default_factory=dict)

    def add(self, obs_id: str, **values: object) -> None:
        self.ids.append(obs_id)
        for k, v in values.items():
            self.arrays.setdefault(k, []).append(v)

    def __len__(self) -> int:
        return len(self.ids)

    def array(self, name: str, dtype: type = float) -> np.ndarray:
        return np.asarray(self.arrays.get(name, []), dtype=dtype)


@dataclass
class Evidence:
    """Everything the model conditions on, term by term, and each row's role."""

    terms: dict[str, Term]
    roles: pd.Series  # index: ledger id; value: term name or "context: why"
    benchmarks: list[str]
    speed_settings: list[str]
    speed_aliases: list[str]

    def term(self, name: str) -> Term:
        return self.terms.get(name) or Term()


def log10_sigma(row: pd.Series) -> float:
    """One-sigma error, in dex, of a log-scale observation.

    From its stated interval where it has one (the interval's log-width over the width of
    the same central interval of a normal), else from its status and, for Epoch's
    estimates, its confidence label (see :mod:`gpt2030.models.priors`).
    """
    if not math.isnan(row["low_base"]) and not math.isnan(row["high_base"]):
        z = _z(INTERVALS[row["interval"]])
        width = math.log10(row["high_base"]) - math.log10(row["low_base"])
        if width > 0:
            return max(width / (2 * z), 0.01)
    if row["status"] == "estimate" and row["confidence"] in CONFIDENCE_SIGMA:
        return CONFIDENCE_SIGMA[row["confidence"]]
    return STATUS_SIGMA[row["status"]]


def linear_sigma(row: pd.Series, default: float) -> float:
    """One-sigma error on the value's own scale, from its interval or ``default``."""
    if not math.isnan(row["low_base"]) and not math.isnan(row["high_base"]):
        z = _z(INTERVALS[row["interval"]])
        return max((row["high_base"] - row["low_base"]) / (2 * z), 1e-6)
    return default


_SIZE = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?)\s*([mbt])(?![a-z])", re.IGNORECASE)
_SCALE = {"m": 1e6, "b": 1e9, "t": 1e12}


def parameters_in_name(name: str) -> float:
    """The parameter count written in a model's name (``pythia-410m`` -> 4.1e8), or NaN."""
    m = _SIZE.search(name)
    return float(m[1]) * _SCALE[m[2].lower()] if m else math.nan


def speed_setting(metric: str) -> str:
    """Group a speed measurement's setting: ``api`` (a served model) or the hardware used.

    The frontier model reaches users through APIs; the API setting is the reference
    (offset 0) and every other setting (one GPU, wafer-scale chips) gets its own offset.
    """
    text = metric.casefold()
    if "cerebras" in text:
        return "cerebras"
    if re.search(r"\b8x\b|8-way", text):
        return "8x_gpu"
    if re.search(r"\b1x\b|single", text) or "deepspeed" in text or "fastertransformer" in text:
        return "1x_gpu"
    return "api"


def _is_forecast(row: pd.Series) -> bool:
    return row["status"] == "forecast"


def prepare_evidence(frame: pd.DataFrame, expert_forecasts: bool = False) -> Evidence:
    """Sort the ledger's rows into the model's likelihood terms.

    Parameters
    ----------
    frame : pandas.DataFrame
        Typed observations (:func:`gpt2030.observations.observation_frame`).
    expert_forecasts : bool
        Whether forecasts of frontier compute condition the model.

    Returns
    -------
    Evidence
    """
    terms: dict[str, Term] = {}
    roles: dict[str, str] = {}

    def use(term: str, row: pd.Series, **values: object) -> None:
        terms.setdefault(term, Term()).add(row["id"], **values)
        roles[row["id"]] = term

    def skip(row: pd.Series, why: str) -> None:
        roles[row["id"]] = f"context: {why}"

    subjects_with_parameters = set(frame.loc[frame["kind"] == "parameters", "subject"])
    by_subject_params: dict[str, pd.Series] = {}
    by_subject_tokens: dict[str, pd.Series] = {}
    by_subject_compute: dict[str, pd.Series] = {}
    benchmarks: list[str] = []
    settings: list[str] = ["api"]
    aliases: list[str] = []

    for _, row in frame.iterrows():
        kind, metric = row["kind"], row["metric"].casefold()
        forecast = _is_forecast(row)
        lower = row["bound"] == "lower"
        upper = row["bound"] == "upper"
        if kind == "training_compute" and not forecast:
            use("compute", row, t=row["t"], y=math.log10(row["value_base"]),
                sigma=log10_sigma(row), lower=lower, upper=upper)
            by_subject_compute.setdefault(row["subject"], row)
        elif kind == "parameters" and not forecast:
            by_subject_params.setdefault(row["subject"], row)
        elif kind == "training_tokens" and not forecast:
            prior = by_subject_tokens.get(row["subject"])
            # Tokens seen beat dataset size: a dataset can be used for several epochs.
            if prior is None or ("seen" in metric and "seen" not in prior["metric"].casefold()):
                by_subject_tokens[row["subject"]] = row
            if row["subject"] not in subjects_with_parameters:
                skip(row, "no parameter count for this model to pair with")
        elif kind == "compute_projection" and metric == "training_compute":
            if expert_forecasts:
                use("compute_forecast", row, t=row["t_target"],
                    y=math.log10(row["value_base"]), sigma=log10_sigma(row))
            else:
                skip(row, "expert forecast (switched off; config with_forecasts uses it)")
        elif (kind == "scaling_constant" and row["metric"] == "a"
              and "kaplan" in row["subject"].casefold()):
            skip(row, "Kaplan et al. 2020's exponent, superseded by Hoffmann et al. 2022 "
                 "(learning-rate schedules not tuned per run)")
        elif kind == "scaling_constant" and row["metric"] == "a":
            sigma = math.hypot(linear_sigma(row, 0.03), SCALING_CONSTANT_SIGMA_FLOOR)
            use("scaling_exponent", row, y=row["value_base"], sigma=sigma)
        elif kind == "scaling_constant" and metric == "tokens_per_parameter":
            use("optimal_ratio", row, y=math.log10(row["value_base"]),
                sigma=max(log10_sigma(row), 0.05))
        elif kind == "scaling_constant" and metric == "training_duration" and upper:
            use("training_duration", row, y=math.log10(row["value_base"] / 12.0),
                sigma=log10_sigma(row))
        elif kind == "data_stock" and metric == "effective_stock" and not forecast:
            use("data_stock", row, t=row["t"], y=math.log10(row["value_base"]),
                sigma=log10_sigma(row))
        elif kind == "hardware" and row["dimension"] == "bandwidth" and not forecast:
            use("bandwidth", row, t=row["t"], y=math.log10(row["value_base"]))
        elif kind == "inference_speed" and "essay text" in metric:
            skip(row, "restates a row of the essay's Table 1 in words per minute")
        elif kind == "inference_speed" and not forecast and not (lower or upper):
            setting = speed_setting(row["metric"])
            size = parameters_in_name(row["subject"])
            known = setting != "api" and not math.isnan(size)
            if setting != "api" and not known:
                skip(row, "a non-API speed for a model of unknown size")
                continue
            alias = "" if known else row["subject"].casefold()
            if setting not in settings:
                settings.append(setting)
            if alias and alias not in aliases:
                aliases.append(alias)
            use("speed", row, t=row["t"], y=math.log10(row["value_base"]),
                setting=settings.index(setting), alias=alias,
                log_size=math.log10(size) if known else math.nan)
        elif (kind == "human_speed" and row["unit"] == "words/min"
              and "inner speech" in metric and "extended" not in metric):
            # A floor of 0.1 dex: one small study of inner speech, however exactly reported.
            use("human_speed", row, y=math.log10(float(row["value"])),
                sigma=max(log10_sigma(row), HUMAN_SPEED_SIGMA_FLOOR))
        elif kind == "benchmark_score" and "gain" in metric:
            skip(row, "a gain between two systems, not a score")
        elif kind == "benchmark_score" and not forecast and row["dimension"] in ("share",
                                                                                  "percentile"):
            if row["subject"].casefold().startswith("human"):
                skip(row, "a human baseline, not a system's score")
                continue
            share = row["value_base"] / (100.0 if row["dimension"] == "percentile" else 1.0)
            share = min(max(share, 0.005), 0.995)
            name = row["metric"]
            if name not in benchmarks:
                benchmarks.append(name)
            use("benchmark", row, t=row["t"], y=math.log(share / (1 - share)),
                benchmark=benchmarks.index(name))
        elif forecast:
            skip(row, "a forecast the model has no link for")
        else:
            skip(row, "no link in the model for this quantity")

    # Tokens per parameter of each model with a parameter count and a token count (or its
    # compute, through C = 6ND): the evidence on overtraining.
    for subject, prow in by_subject_params.items():
        trow = by_subject_tokens.get(subject)
        crow = by_subject_compute.get(subject)
        if trow is not None:
            ratio = trow["value_base"] / prow["value_base"]
            used = [prow, trow]
        elif crow is not None:
            ratio = crow["value_base"] / (6 * prow["value_base"] ** 2)
            used = [prow]
        else:
            skip(prow, "no token count or compute for this model to pair with")
            continue
        if crow is None:
            for r in used:
                skip(r, "no training compute for this model")
            continue
        use("tokens_per_param", prow, t=prow["t"], y=math.log10(ratio),
            log_compute=math.log10(crow["value_base"]))
        for r in used[1:]:
            roles[r["id"]] = "tokens_per_param"

    for _, row in frame.iterrows():
        if row["id"] not in roles and row["kind"] == "training_tokens":
            skip(row, "another token count of this model (tokens seen) is used")
    return Evidence(
        terms=terms,
        roles=pd.Series(roles, name="role").reindex(frame.index),
        benchmarks=benchmarks,
        speed_settings=settings,
        speed_aliases=aliases,
    )
