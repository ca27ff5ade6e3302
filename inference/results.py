"""Small shared pieces of the results inference hands on: JSON-safe values, atomic files.

Light on purpose (NumPy only): the report layer imports it without pulling in PyMC.
:func:`atomic_path` and :func:`atomic_write` are re-exported from
:mod:`gpt2030.observations.files`, their one implementation, so that reports/ (which may
not import observations/) writes through the same helper.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np

# Re-exported (``x as x``) for reports/, which may not import observations/.
from gpt2030.observations.files import atomic_path as atomic_path
from gpt2030.observations.files import atomic_write as atomic_write


def json_safe(obj: object) -> object:
    """A value made JSON-safe, recursively: non-finite floats become ``None``.

    NumPy scalars become Python numbers, tuples become lists and mapping keys strings, so
    ``json.dumps`` never writes ``NaN`` (which is not JSON) and never fails on ``np.float64``.

    Parameters
    ----------
    obj : object
        A number, string, ``None``, or a dict / list / tuple of them.

    Returns
    -------
    object
        The same structure with JSON-safe leaves.
    """
    if isinstance(obj, bool | np.bool_):
        return bool(obj)
    if isinstance(obj, int | np.integer):
        return int(obj)
    if isinstance(obj, float | np.floating):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [json_safe(v) for v in obj]
    return obj


# --- the backtest result ------------------------------------------------------------------
#
# ``gpt2030 backtest`` writes this structure as JSON (``runs/backtests/<name>.json``); its
# keys are a contract. Each class reads its part with ``from_dict`` and writes it back with
# ``to_dict``, key for key: optional parts absent from the input stay absent.


def _opt_float(x: object) -> float | None:
    return None if x is None else float(x)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Scores:
    """Mean scores of one forecaster over some rows (``None``: no row had the score)."""

    coverage50: float | None = None
    coverage90: float | None = None
    crps: float | None = None
    log_score: float | None = None
    pit_mean: float | None = None

    @classmethod
    def from_dict(cls, data: dict | None) -> Scores:
        """Read ``{coverage50, coverage90, crps, log_score, pit_mean}``."""
        data = data or {}
        return cls(**{f.name: _opt_float(data.get(f.name)) for f in fields(cls)})

    def to_dict(self) -> dict[str, float | None]:
        """Return the JSON form."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class PairedDifference:
    """Mean of paired CRPS differences and its standard error (``None`` with too few rows)."""

    mean: float | None = None
    se: float | None = None

    @classmethod
    def from_dict(cls, data: dict | None) -> PairedDifference:
        """Read ``{mean, se}``."""
        data = data or {}
        return cls(_opt_float(data.get("mean")), _opt_float(data.get("se")))

    def to_dict(self) -> dict[str, float | None]:
        """Return the JSON form."""
        return {"mean": self.mean, "se": self.se}

    @property
    def within_noise(self) -> bool:
        """No estimate, or a mean within two standard errors of zero."""
        return self.mean is None or self.se is None or abs(self.mean) < 2 * self.se


@dataclass(frozen=True)
class Comparison:
    """gpt2030 against the naive baseline on the same rows: ``n`` rows, both scores."""

    n: int
    gpt2030: Scores
    naive: Scores
    crps_diff: PairedDifference

    @classmethod
    def from_dict(cls, data: dict, n: int | None = None) -> Comparison:
        """Read ``{n, gpt2030, naive, crps_diff}`` (``n`` may be given separately)."""
        return cls(int(data["n"]) if n is None else n, Scores.from_dict(data.get("gpt2030")),
                   Scores.from_dict(data.get("naive")),
                   PairedDifference.from_dict(data.get("crps_diff")))

    def scores_dict(self) -> dict[str, object]:
        """``{gpt2030, naive, crps_diff}`` (without ``n``)."""
        return {"gpt2030": self.gpt2030.to_dict(), "naive": self.naive.to_dict(),
                "crps_diff": self.crps_diff.to_dict()}


@dataclass(frozen=True)
class KindResult(Comparison):
    """The comparison on one kind of rows, and on its rows of levels seen before the cutoff."""

    n_new_level: int = 0
    seen_levels_only: Comparison | None = None
    #: the same rows with every series (one subject and metric) weighted equally
    series_weighted: Comparison | None = None

    @classmethod
    def from_dict(cls, data: dict, n: int | None = None) -> KindResult:
        """Read one ``by_kind`` entry."""
        base = Comparison.from_dict(data, n)
        seen = data.get("seen_levels_only")
        weighted = data.get("series_weighted")
        return cls(base.n, base.gpt2030, base.naive, base.crps_diff,
                   int(data.get("n_new_level", 0)),
                   Comparison.from_dict(seen) if seen else None,
                   Comparison.from_dict(weighted) if weighted else None)

    def to_dict(self) -> dict[str, object]:
        """Return the JSON form."""
        out: dict[str, object] = {"n": self.n, **self.scores_dict(),
                                  "n_new_level": self.n_new_level}
        if self.seen_levels_only is not None:
            out["seen_levels_only"] = {"n": self.seen_levels_only.n,
                                       **self.seen_levels_only.scores_dict()}
        if self.series_weighted is not None:
            out["series_weighted"] = {"n": self.series_weighted.n,
                                      **self.series_weighted.scores_dict()}
        return out


@dataclass(frozen=True)
class Pooled:
    """Scores over every cutoff's rows: row-weighted and with every series weighted equally.

    A series is one subject and metric (a served alias's monthly readings, one model's
    training compute); it may be scored at several cutoffs and counts once in all.
    """

    n: int
    n_series: int
    rows: Comparison
    series_weighted: Comparison
    by_kind: dict[str, KindResult]

    @classmethod
    def from_dict(cls, data: dict) -> Pooled:
        """Read ``pooled``."""
        return cls(int(data["n"]), int(data["n_series"]), Comparison.from_dict(data["rows"]),
                   Comparison.from_dict(data["series_weighted"]),
                   {k: KindResult.from_dict(v) for k, v in data["by_kind"].items()})

    def to_dict(self) -> dict[str, object]:
        """Return the JSON form."""
        return {"n": self.n, "n_series": self.n_series,
                "rows": {"n": self.rows.n, **self.rows.scores_dict()},
                "series_weighted": {"n": self.series_weighted.n,
                                    **self.series_weighted.scores_dict()},
                "by_kind": {k: v.to_dict() for k, v in self.by_kind.items()}}


@dataclass(frozen=True)
class EssayResult(Comparison):
    """The essay's point forecasts against both forecasters, on the rows it speaks to."""

    what: str = ""
    essay_crps: float | None = None
    essay_abs_error_log10: float | None = None

    @classmethod
    def from_dict(cls, data: dict, n: int | None = None) -> EssayResult:
        """Read one ``essay`` entry."""
        base = Comparison.from_dict(data, n)
        essay = data.get("essay") or {}
        return cls(base.n, base.gpt2030, base.naive, base.crps_diff, str(data.get("what", "")),
                   _opt_float(essay.get("crps")), _opt_float(essay.get("abs_error_log10")))

    def to_dict(self) -> dict[str, object]:
        """Return the JSON form."""
        return {"n": self.n, "what": self.what,
                "essay": {"crps": self.essay_crps, "abs_error_log10": self.essay_abs_error_log10},
                **self.scores_dict()}


@dataclass(frozen=True)
class ModelOnly:
    """Held-out rows with no naive baseline, scored for gpt2030 only."""

    n: int
    ids: list[str]
    gpt2030: Scores | None
    by_kind: dict[str, tuple[int, Scores]]
    why: str

    @classmethod
    def from_dict(cls, data: dict) -> ModelOnly:
        """Read ``model_only``."""
        return cls(int(data.get("n", 0)), [str(i) for i in data.get("ids") or []],
                   Scores.from_dict(data["gpt2030"]) if data.get("gpt2030") else None,
                   {k: (int(v["n"]), Scores.from_dict(v.get("gpt2030")))
                    for k, v in (data.get("by_kind") or {}).items()},
                   str(data.get("why", "")))

    def to_dict(self) -> dict[str, object]:
        """Return the JSON form."""
        return {"n": self.n, "ids": list(self.ids),
                "gpt2030": self.gpt2030.to_dict() if self.gpt2030 else None,
                "by_kind": {k: {"n": n, "gpt2030": s.to_dict()}
                            for k, (n, s) in self.by_kind.items()},
                "why": self.why}


@dataclass(frozen=True)
class PitTest:
    """Calibration of one forecaster's PIT values."""

    ks_pvalue: float | None
    share_above_median: float | None

    @classmethod
    def from_dict(cls, data: dict | None) -> PitTest:
        """Read ``{ks_pvalue, share_above_median}``."""
        data = data or {}
        return cls(_opt_float(data.get("ks_pvalue")), _opt_float(data.get("share_above_median")))

    def to_dict(self) -> dict[str, float | None]:
        """Return the JSON form."""
        return {"ks_pvalue": self.ks_pvalue, "share_above_median": self.share_above_median}


#: Keys of a cutoff that are absent when nothing was held out (``None`` here).
_FULL_ONLY = ("n_scored", "model_only", "pit_test", "pit_naive", "overall_series_weighted")


@dataclass
class CutoffResult:
    """The backtest of one cutoff (see :func:`gpt2030.inference.backtest.backtest_cutoff`)."""

    cutoff: str
    run_id: str
    config: str | None = None
    run_reused: bool | None = None
    verdict: str | None = None
    n_train: int = 0
    n_train_conditioning: int | None = None
    n_heldout: int = 0
    n_scored: int | None = None
    overall: Comparison | None = None
    #: ``overall`` with every series (one subject and metric) weighted equally
    overall_series_weighted: Comparison | None = None
    by_kind: dict[str, KindResult] = field(default_factory=dict)
    essay: dict[str, EssayResult] = field(default_factory=dict)
    model_only: ModelOnly | None = None
    pit_test: dict[str, PitTest] | None = None
    pit: list[float | None] = field(default_factory=list)
    pit_naive: list[float | None] | None = None
    new_levels: dict[str, list[str]] = field(default_factory=dict)
    #: every held-out row's scores, as stored (``id, kind, series, t, y, new_level,
    #: gpt2030`` and, where they apply, ``naive, naive_fit, essay``)
    rows: list[dict] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict) -> CutoffResult:
        """Read one entry of ``cutoffs``."""
        overall = data.get("overall") or None
        n_scored = data.get("n_scored")
        return cls(
            cutoff=str(data["cutoff"]), run_id=str(data["run_id"]), config=data.get("config"),
            run_reused=data.get("run_reused"), verdict=data.get("verdict"),
            n_train=int(data.get("n_train", 0)),
            n_train_conditioning=data.get("n_train_conditioning"),
            n_heldout=int(data.get("n_heldout", 0)),
            n_scored=None if n_scored is None else int(n_scored),
            overall=Comparison.from_dict(overall, int(n_scored or 0)) if overall else None,
            overall_series_weighted=Comparison.from_dict(data["overall_series_weighted"])
            if data.get("overall_series_weighted") else None,
            by_kind={k: KindResult.from_dict(v) for k, v in (data.get("by_kind") or {}).items()},
            essay={k: EssayResult.from_dict(v) for k, v in (data.get("essay") or {}).items()},
            model_only=ModelOnly.from_dict(data["model_only"]) if "model_only" in data
            else None,
            pit_test={m: PitTest.from_dict(v) for m, v in data["pit_test"].items()}
            if "pit_test" in data else None,
            pit=list(data.get("pit") or []),
            pit_naive=list(data["pit_naive"]) if "pit_naive" in data else None,
            new_levels={k: list(v) for k, v in (data.get("new_levels") or {}).items()},
            rows=list(data.get("rows") or []),
            timings=dict(data.get("timings") or {}),
        )

    def to_dict(self) -> dict[str, object]:
        """Return the JSON form, with the keys :meth:`from_dict` read."""
        out: dict[str, object] = {
            "cutoff": self.cutoff, "run_id": self.run_id, "config": self.config,
            "run_reused": self.run_reused, "verdict": self.verdict, "n_train": self.n_train,
            "n_train_conditioning": self.n_train_conditioning, "n_heldout": self.n_heldout,
            "n_scored": self.n_scored,
            "overall": self.overall.scores_dict() if self.overall else {},
            "overall_series_weighted": {"n": self.overall_series_weighted.n,
                                        **self.overall_series_weighted.scores_dict()}
            if self.overall_series_weighted else None,
            "by_kind": {k: v.to_dict() for k, v in self.by_kind.items()},
            "essay": {k: v.to_dict() for k, v in self.essay.items()},
            "model_only": self.model_only.to_dict() if self.model_only else None,
            "pit_test": {m: v.to_dict() for m, v in self.pit_test.items()}
            if self.pit_test is not None else None,
            "pit": list(self.pit), "pit_naive": self.pit_naive,
            "new_levels": {k: list(v) for k, v in self.new_levels.items()},
            "rows": list(self.rows), "timings": dict(self.timings),
        }
        for key in _FULL_ONLY:
            if out[key] is None:
                del out[key]
        return out


@dataclass(frozen=True)
class VariantRow:
    """One model variant: its PSIS-LOO and, with a cutoff, its backtest scores."""

    variant: str
    run_id: str
    verdict: str | None
    rank: int
    elpd_loo: float
    se: float
    p_loo: float
    elpd_diff: float
    dse: float
    weight: float
    p_worse: float | None
    diag_diff: str
    n_pareto_k_bad: int
    good_k: float
    #: ``{run_id, n_scored, coverage50, ..., crps_diff_vs_best}``, or ``None`` without a
    #: cutoff (then the key is absent)
    backtest: dict | None = None
    has_backtest: bool = False

    _KEYS = ("variant", "run_id", "verdict", "rank", "elpd_loo", "se", "p_loo", "elpd_diff",
             "dse", "weight", "p_worse", "diag_diff", "n_pareto_k_bad", "good_k")

    @classmethod
    def from_dict(cls, data: dict) -> VariantRow:
        """Read one row of ``variants.table``."""
        return cls(**{k: data.get(k) for k in cls._KEYS}, backtest=data.get("backtest"),
                   has_backtest="backtest" in data)

    def to_dict(self) -> dict[str, object]:
        """Return the JSON form."""
        out: dict[str, object] = {k: getattr(self, k) for k in self._KEYS}
        if self.has_backtest:
            out["backtest"] = self.backtest
        return out

    @property
    def backtest_scores(self) -> Scores:
        """The backtest's mean scores (all ``None`` without a backtest)."""
        return Scores.from_dict(self.backtest)

    @property
    def crps_diff_vs_best(self) -> PairedDifference:
        """The paired CRPS difference against the best variant's backtest."""
        return PairedDifference.from_dict((self.backtest or {}).get("crps_diff_vs_best"))


@dataclass
class VariantComparison:
    """PSIS-LOO (and backtest) of the model variants on the same observations."""

    n_observations: int
    cutoff: str | None
    table: list[VariantRow]
    conclusion: str
    timings: dict[str, float] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict) -> VariantComparison:
        """Read ``variants``."""
        return cls(int(data["n_observations"]), data.get("cutoff"),
                   [VariantRow.from_dict(r) for r in data.get("table") or []],
                   str(data.get("conclusion", "")), dict(data.get("timings") or {}))

    def to_dict(self) -> dict[str, object]:
        """Return the JSON form."""
        return {"n_observations": self.n_observations, "cutoff": self.cutoff,
                "table": [r.to_dict() for r in self.table], "conclusion": self.conclusion,
                "timings": dict(self.timings)}


@dataclass
class BacktestResult:
    """A whole ``gpt2030 backtest``: its cutoffs and, optionally, the model variants."""

    name: str
    config: str
    created: str
    cutoffs: list[CutoffResult]
    variants: VariantComparison | None = None
    sampler: dict | None = None
    seed: int | None = None
    seconds: float | None = None
    #: every cutoff's scored rows together (a rolling-origin backtest's summary)
    pooled: Pooled | None = None
    #: the model version that made it, and the ledger it read (its rows' hash, as a run's
    #: manifest records it, and their number); ``None`` in records made before they were
    #: stored
    model_version: str | None = None
    observation_hash: str | None = None
    n_observations: int | None = None

    @classmethod
    def from_dict(cls, data: dict) -> BacktestResult:
        """Read the JSON document (a dict)."""
        var = data.get("variants")
        pooled = data.get("pooled")
        n_obs = data.get("n_observations")
        return cls(str(data.get("name", "")), str(data.get("config", "")),
                   str(data.get("created", "")),
                   [CutoffResult.from_dict(c) for c in data.get("cutoffs") or []],
                   VariantComparison.from_dict(var) if var else None,
                   data.get("sampler"), data.get("seed"), data.get("seconds"),
                   Pooled.from_dict(pooled) if pooled else None,
                   data.get("model_version"), data.get("observation_hash"),
                   None if n_obs is None else int(n_obs))

    def to_dict(self) -> dict[str, object]:
        """Return the JSON document, NaN-free."""
        return json_safe({"name": self.name, "config": self.config, "created": self.created,
                          "model_version": self.model_version,
                          "observation_hash": self.observation_hash,
                          "n_observations": self.n_observations,
                          "sampler": self.sampler, "seed": self.seed,
                          "cutoffs": [c.to_dict() for c in self.cutoffs],
                          "pooled": self.pooled.to_dict() if self.pooled else None,
                          "variants": self.variants.to_dict() if self.variants else None,
                          "seconds": self.seconds})  # type: ignore[return-value]

    @classmethod
    def load(cls, path: Path) -> BacktestResult:
        """Read ``runs/backtests/<name>.json``."""
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))

    def save(self, path: Path) -> Path:
        """Write the JSON document atomically; return ``path``."""
        return atomic_write(path, json.dumps(self.to_dict(), indent=1) + "\n")
