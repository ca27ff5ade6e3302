"""Pre-registered predictions: what a run forecast before a fact was known, scored when it came.

**The registry** is one plain file, ``<home>/observations/predictions.jsonl``, one JSON object a
line, only ever appended to. A *prediction* record holds the run that made it (id, model
version, config), the day it was registered, the target (:class:`~gpt2030.inference.targets.
Target`), the likelihood term and scale its values are on, and its predictive distribution:
the 1st to 99th percentiles and :data:`KEPT_DRAWS` draws thinned in order, enough for the CRPS,
the log score and the PIT when the fact arrives. A *resolution* record names the prediction it
settles, the ledger rows that settled it, the observed value and the scores. A prediction is
resolved at most once: nothing is rescored silently, and a row later removed from the ledger
is reported, not used to rescore.

Every reader checks every line (:func:`read_registry`): a malformed line is refused with its
file and line number, and nothing is written until it is fixed. Writers hold a file lock
beside the registry and replace the whole file atomically with the old lines plus the new
(:func:`~gpt2030.observations.files.atomic_write`) rather than appending in place: the file
is small (about 50 KB per registered run), so rewriting it costs milliseconds, and a crash or
a full disk can then never leave half a line at its end, which an in-place append could.
Under the lock a writer re-reads the file, so concurrent registrations or scorings never
lose each other's lines or resolve one prediction twice.

**Registering** (:func:`register`) computes each target's predictive from the run's
posterior with the model's own observation model: the target's synthetic rows
(:meth:`Target.rows`) are added to the rows the run was fitted to and their posterior
predictive drawn as the backtest draws held-out rows
(:func:`~gpt2030.inference.backtest.model_predictive`: new served aliases or benchmarks get
their levels from the hierarchy), at most :data:`MAX_PREDICTIVE_DRAWS` posterior draws thinned
evenly. A target is registered once per run.

**Scoring** (:func:`score`) resolves every open prediction the current ledger settles
(:func:`~gpt2030.inference.targets.resolve`) and scores it with
:func:`gpt2030.inference.scoring.score_samples` against its stored draws.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pandas as pd
from filelock import FileLock

from gpt2030.inference import scoring
from gpt2030.inference.runs import Run, run_rows, thinned_posterior
from gpt2030.inference.targets import (
    TERM_SCALE,
    Target,
    TargetError,
    resolve,
    shipped_open,
    to_display,
)
from gpt2030.observations.files import atomic_write
from gpt2030.observations.schema import parse_date, parse_day

#: The registry's file name, in the home's ``observations/`` folder beside the ledger.
REGISTRY_NAME = "predictions.jsonl"
#: The record format; a reader refuses records of another.
FORMAT = 1
#: The percentiles each prediction stores.
PERCENTILES = tuple(range(1, 100))
#: Predictive draws each prediction keeps for scoring (thinned in order).
KEPT_DRAWS = 300
#: At most this many posterior draws make a prediction (thinned evenly along each chain):
#: enough for the 1st and 99th percentiles; more would only cost time.
MAX_PREDICTIVE_DRAWS = 1000
#: PyTensor's Python linker for the draws of levels the run lacks (new served aliases:
#: PyMC's per-draw predictive in ``transplant_posterior``; the targets' rows themselves are
#: one vectorised graph): for ~1,000 draws of a graph the numba cache has not seen (every
#: ledger and target set makes another) it compiles in ~1 s where numba takes ~7 s; it draws
#: slower (~4 ms a draw against ~1 ms), which 1,000 draws can afford (measured on the fixture
#: run, 2026-11-28).
COMPILE = {"mode": "FAST_COMPILE"}
#: Digits kept of each stored value (on the model's scale: dex or logits).
DIGITS = 5
_SYNTHETIC_PREFIX = "gpt2030-target"


class RegistryError(ValueError):
    """A registry line, or a registration, that is refused; nothing was written."""


def registry_path(home: Path) -> Path:
    """``<home>/observations/predictions.jsonl``.

    Parameters
    ----------
    home : pathlib.Path
        A gpt2030 home.

    Returns
    -------
    pathlib.Path
    """
    return Path(home) / "observations" / REGISTRY_NAME


# -- records -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Prediction:
    """A registered prediction (one line of the registry)."""

    id: str
    target: Target
    run_id: str
    model_version: str
    config: str
    registered: str
    registered_at: str
    term: str
    scale: str
    unit: str
    n_draws: int
    quantiles: tuple[float, ...]
    draws: tuple[float, ...]
    seed: int

    def quantile(self, p: float) -> float:
        """The predictive's ``p`` quantile on the model's scale (from the stored percentiles).

        Parameters
        ----------
        p : float
            A probability in [0.01, 0.99].

        Returns
        -------
        float
        """
        return float(np.interp(100 * p, PERCENTILES, self.quantiles))

    def shown(self, p: float) -> float:
        """The ``p`` quantile in the display unit (:attr:`unit`)."""
        return float(to_display(self.quantile(p), self.scale))

    def to_record(self) -> dict[str, object]:
        """The registry line."""
        return {"record": "prediction", "format": FORMAT, "id": self.id,
                "target": self.target.to_dict(), "run_id": self.run_id,
                "model_version": self.model_version, "config": self.config,
                "registered": self.registered, "registered_at": self.registered_at,
                "term": self.term, "scale": self.scale, "unit": self.unit,
                "n_draws": self.n_draws, "quantiles": list(self.quantiles),
                "draws": list(self.draws), "seed": self.seed}


@dataclass(frozen=True)
class Resolution:
    """How a prediction was settled and scored (one line of the registry)."""

    prediction: str
    target: str
    resolved: str
    rows: tuple[str, ...]
    observed: float
    crps: float
    log_score: float
    pit: float
    covered50: bool
    covered90: bool

    def to_record(self) -> dict[str, object]:
        """The registry line."""
        return {"record": "resolution", "format": FORMAT, "prediction": self.prediction,
                "target": self.target, "resolved": self.resolved, "rows": list(self.rows),
                "observed": self.observed, "crps": self.crps, "log_score": self.log_score,
                "pit": self.pit, "covered50": self.covered50, "covered90": self.covered90}

    def scores(self) -> dict[str, float]:
        """The scores as :func:`gpt2030.inference.scoring.aggregate` reads them."""
        return {"crps": self.crps, "log_score": self.log_score, "pit": self.pit,
                "covered50": float(self.covered50), "covered90": float(self.covered90)}


@dataclass(frozen=True)
class Registry:
    """Every record of a registry file, checked."""

    path: Path
    exists: bool
    predictions: tuple[Prediction, ...] = ()
    resolutions: dict[str, Resolution] = field(default_factory=dict)

    def target(self, target_id: str) -> Target | None:
        """The target registered under ``target_id``, if any."""
        for p in self.predictions:
            if p.target.id == target_id:
                return p.target
        return None


def _fail(reason: str) -> None:
    raise RegistryError(reason)


def _text(rec: dict, name: str) -> str:
    value = rec.get(name)
    if not isinstance(value, str) or not value:
        _fail(f"{name!r} must be a non-empty string")
    return value


def _day_text(rec: dict, name: str) -> str:
    text = _text(rec, name)
    try:
        parse_day(text)
    except ValueError as err:
        _fail(f"{name!r}: {err}")
    return text


def _number(rec: dict, name: str, low: float = -math.inf, high: float = math.inf) -> float:
    value = rec.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float) or \
            not math.isfinite(value) or not low <= value <= high:
        _fail(f"{name!r} must be a finite number in [{low}, {high}]")
    return float(value)


def _numbers(rec: dict, name: str, size: int | None = None, least: int = 1
             ) -> tuple[float, ...]:
    values = rec.get(name)
    if not isinstance(values, list) or len(values) < least or \
            (size is not None and len(values) != size) or \
            not all(isinstance(v, int | float) and not isinstance(v, bool)
                    and math.isfinite(v) for v in values):
        count = f"{size}" if size is not None else f"at least {least}"
        _fail(f"{name!r} must be a list of {count} finite numbers")
    return tuple(float(v) for v in values)


def _keys(rec: dict, keys: tuple[str, ...]) -> None:
    missing = [k for k in keys if k not in rec]
    extra = sorted(set(rec) - set(keys))
    if missing:
        _fail(f"missing field(s) {missing}")
    if extra:
        _fail(f"unknown field(s) {extra}")


_PREDICTION_KEYS = ("record", "format", "id", "target", "run_id", "model_version", "config",
                    "registered", "registered_at", "term", "scale", "unit", "n_draws",
                    "quantiles", "draws", "seed")
_RESOLUTION_KEYS = ("record", "format", "prediction", "target", "resolved", "rows",
                    "observed", "crps", "log_score", "pit", "covered50", "covered90")


def parse_prediction(rec: dict) -> Prediction:
    """A prediction record, checked.

    Raises
    ------
    RegistryError
        Naming the field.
    """
    _keys(rec, _PREDICTION_KEYS)
    try:
        target = Target.from_dict(rec["target"])
    except TargetError as err:
        raise RegistryError(f"target: {err}") from None
    term = _text(rec, "term")
    if term not in TERM_SCALE:
        _fail(f"unknown term {term!r}")
    if rec.get("scale") != TERM_SCALE[term][0]:
        _fail(f"'scale' of a {term} prediction is {TERM_SCALE[term][0]!r}")
    quantiles = _numbers(rec, "quantiles", size=len(PERCENTILES))
    if any(b < a for a, b in itertools.pairwise(quantiles)):
        _fail("'quantiles' must not decrease")
    n_draws, seed = rec.get("n_draws"), rec.get("seed")
    if not isinstance(n_draws, int) or isinstance(n_draws, bool) or n_draws < 1:
        _fail("'n_draws' must be a positive integer")
    if not isinstance(seed, int) or isinstance(seed, bool):
        _fail("'seed' must be an integer")
    registered_at = _text(rec, "registered_at")
    try:
        datetime.fromisoformat(registered_at)
    except ValueError:
        _fail(f"'registered_at' {registered_at!r} is not a time")
    unit = rec.get("unit")
    if not isinstance(unit, str):
        _fail("'unit' must be a string")
    return Prediction(id=_text(rec, "id"), target=target, run_id=_text(rec, "run_id"),
                      model_version=_text(rec, "model_version"), config=_text(rec, "config"),
                      registered=_day_text(rec, "registered"), registered_at=registered_at,
                      term=term, scale=TERM_SCALE[term][0], unit=str(unit), n_draws=n_draws,
                      quantiles=quantiles, draws=_numbers(rec, "draws", least=10), seed=seed)


def parse_resolution(rec: dict) -> Resolution:
    """A resolution record, checked (not yet against its prediction).

    Raises
    ------
    RegistryError
        Naming the field.
    """
    _keys(rec, _RESOLUTION_KEYS)
    rows = rec.get("rows")
    if not isinstance(rows, list) or not rows or \
            not all(isinstance(r, str) and r for r in rows):
        _fail("'rows' must be a non-empty list of ledger ids")
    flags = [rec.get(k) for k in ("covered50", "covered90")]
    if not all(isinstance(f, bool) for f in flags):
        _fail("'covered50' and 'covered90' must be true or false")
    return Resolution(prediction=_text(rec, "prediction"), target=_text(rec, "target"),
                      resolved=_day_text(rec, "resolved"), rows=tuple(rows),
                      observed=_number(rec, "observed"), crps=_number(rec, "crps", 0.0),
                      log_score=_number(rec, "log_score"), pit=_number(rec, "pit", 0.0, 1.0),
                      covered50=bool(flags[0]), covered90=bool(flags[1]))


def _parse(text: str, path: Path) -> Registry:
    """Every line of a registry's text, checked (see :func:`read_registry`)."""
    predictions: list[Prediction] = []
    by_id: dict[str, Prediction] = {}
    targets: dict[str, Target] = {}
    resolutions: dict[str, Resolution] = {}
    for n, line in enumerate(text.split("\n"), start=1):
        if not line and n == text.count("\n") + 1:
            break  # the empty string after the last newline
        try:
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as err:
                _fail(f"not a JSON object ({err.msg})")
            if not isinstance(rec, dict):
                _fail("not a JSON object")
            if rec.get("format") != FORMAT:
                _fail(f"'format' must be {FORMAT}")
            kind = rec.get("record")
            if kind == "prediction":
                p = parse_prediction(rec)
                if p.id in by_id:
                    _fail(f"prediction {p.id!r} is registered twice")
                known = targets.get(p.target.id)
                if known is not None and known != p.target:
                    _fail(f"target {p.target.id!r} has other fields than where it was first "
                          "registered")
                targets.setdefault(p.target.id, p.target)
                by_id[p.id] = p
                predictions.append(p)
            elif kind == "resolution":
                r = parse_resolution(rec)
                if r.prediction not in by_id:
                    _fail(f"resolves prediction {r.prediction!r}, which no earlier line "
                          "registers")
                if r.target != by_id[r.prediction].target.id:
                    _fail(f"names target {r.target!r}, but prediction {r.prediction!r} is "
                          f"of {by_id[r.prediction].target.id!r}")
                if r.prediction in resolutions:
                    _fail(f"prediction {r.prediction!r} is resolved twice")
                resolutions[r.prediction] = r
            else:
                _fail("'record' must be 'prediction' or 'resolution'")
        except RegistryError as err:
            raise RegistryError(f"{path}:{n}: malformed registry line: {err}; fix or remove "
                                "that line (nothing was changed)") from None
    return Registry(path, True, tuple(predictions), resolutions)


def read_registry(path: Path) -> Registry:
    """The registry at ``path``, every line checked (an empty one if there is no file).

    Parameters
    ----------
    path : pathlib.Path
        The registry file (:func:`registry_path`).

    Returns
    -------
    Registry

    Raises
    ------
    RegistryError
        A line that is not a well-formed record, naming the file and line.
    """
    path = Path(path)
    if not path.exists():
        return Registry(path, False)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise RegistryError(f"{path}: not UTF-8 text; nothing was changed") from None
    return _parse(text, path)


def _line(record: dict[str, object]) -> str:
    return json.dumps(record, sort_keys=True, separators=(",", ":"), allow_nan=False) + "\n"


def _append(path: Path, records: Sequence[dict[str, object]]) -> list[dict[str, object]]:
    """Append records under the lock, atomically; return the ones written.

    A prediction already registered, or a resolution of a prediction already resolved (by a
    concurrent writer), is dropped, not written twice.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path) + ".lock", timeout=60):
        text = path.read_text(encoding="utf-8") if path.exists() else ""
        current = _parse(text, path)
        have = {p.id for p in current.predictions}
        written = []
        for rec in records:
            if rec["record"] == "prediction" and rec["id"] in have:
                continue
            if rec["record"] == "resolution" and rec["prediction"] in current.resolutions:
                continue
            written.append(rec)
        if not written:
            return []
        if text and not text.endswith("\n"):
            text += "\n"
        new = text + "".join(_line(rec) for rec in written)
        _parse(new, path)  # what is written must read back
        atomic_write(path, new)
    return written


# -- registering -----------------------------------------------------------------------------


def _rounded(values: np.ndarray) -> tuple[float, ...]:
    return tuple(round(float(v), DIGITS) for v in values)


def _seed(*parts: str) -> int:
    return int(hashlib.sha256(":".join(parts).encode()).hexdigest()[:8], 16)


@dataclass(frozen=True)
class Predicted:
    """A target's predictive: draws on the model's scale, and the term they are of."""

    target: Target
    term: str
    draws: np.ndarray


@dataclass(frozen=True)
class Plan:
    """The rows a set of targets adds to a run's rows, and the term each target falls in.

    ``unpredictable`` says, by target id, why the model cannot predict a target (its rows
    fall in no likelihood term); ``terms`` holds the term of every other one.
    """

    frame: pd.DataFrame
    evidence: object
    read: dict[str, list[str]]
    terms: dict[str, str]
    unpredictable: dict[str, str]


def plan(config_name: str, rows: list[dict[str, str]], targets: Sequence[Target]) -> Plan:
    """Add the targets' synthetic rows to a run's rows and find each target's term (cheap).

    Parameters
    ----------
    config_name : str
        The run's configuration.
    rows : list of dict
        The ledger rows the run was fitted to.
    targets : sequence of Target
        The targets.

    Returns
    -------
    Plan

    Raises
    ------
    RegistryError
        A ledger id that clashes with a synthetic row's.
    """
    from gpt2030.models import get_config
    from gpt2030.models.evidence import is_reasoning_system, prepare_evidence
    from gpt2030.observations import observation_frame

    config = get_config(config_name)
    known = {r["id"] for r in rows}
    reasoning = any(r["kind"] == "benchmark_score" and is_reasoning_system(r["subject"])
                    for r in rows)
    synthetic: list[dict[str, str]] = []
    read: dict[str, list[str]] = {}
    for i, target in enumerate(targets):
        new, ids = target.rows(f"{_SYNTHETIC_PREFIX}-{i}", reasoning=reasoning)
        synthetic += new
        read[target.id] = ids
    clash = known & {r["id"] for r in synthetic}
    if clash:
        raise RegistryError(f"the ledger holds id {sorted(clash)[0]!r}, which pre-registered "
                            "targets use for their synthetic rows")
    frame = observation_frame(rows + synthetic)
    # A served alias's reading is forecast from the run's own readings, never from another
    # synthetic one (as a backtest forecasts later rows from the cutoff's).
    evidence = prepare_evidence(frame, config.expert_forecasts, known=known)
    terms: dict[str, str] = {}
    unpredictable: dict[str, str] = {}
    for target in targets:
        roles = {str(evidence.roles.get(i, "")) for i in read[target.id]}
        role = roles.pop() if len(roles) == 1 else "context: its rows fall in several terms"
        wanted = target.term()
        if role.startswith("context") or role not in TERM_SCALE or \
                (wanted is not None and role != wanted):
            unpredictable[target.id] = (
                f"target {target.id}: the model has no likelihood term for its rows "
                f"({role.removeprefix('context: ')}), so it cannot predict them")
        else:
            terms[target.id] = role
    return Plan(frame, evidence, read, terms, unpredictable)


def predictive(dt, config_name: str, rows: list[dict[str, str]], targets: Sequence[Target],
               seed: int, max_draws: int = MAX_PREDICTIVE_DRAWS,
               compile_kwargs: dict | None = None, planned: Plan | None = None
               ) -> dict[str, Predicted]:
    """Each target's predictive from a posterior, with the model's own observation model.

    Parameters
    ----------
    dt : xarray.DataTree
        A run (its ``posterior`` group is used).
    config_name : str
        The run's configuration.
    rows : list of dict
        The ledger rows the run was fitted to.
    targets : sequence of Target
        The targets.
    seed : int
        Seeds the predictive (and any new levels' draws).
    max_draws : int
        At most this many posterior draws, thinned evenly along each chain.
    compile_kwargs : dict, optional
        How PyTensor compiles the draws (:data:`COMPILE` by default).
    planned : Plan, optional
        :func:`plan` of these targets, when already made.

    Returns
    -------
    dict
        :class:`Predicted` by target id; its ``draws`` are (chain, draw) of the thinned
        posterior.

    Raises
    ------
    RegistryError
        A target whose rows the model has no likelihood term for (a ledger kind it only
        keeps as context).
    """
    import xarray as xr

    from gpt2030.inference.backtest import _term_table, model_predictive
    from gpt2030.models.evidence import SHARE_LIMITS

    planned = planned or plan(config_name, rows, targets)
    if planned.unpredictable:
        raise RegistryError(next(iter(planned.unpredictable.values())))
    table = _term_table(planned.evidence)
    heldout = table.loc[[i for target in targets for i in planned.read[target.id]]]
    thin = xr.DataTree.from_dict({"posterior": thinned_posterior(dt, max_draws)[0]})
    draws, _ = model_predictive(thin, planned.frame, config_name, heldout, seed,
                                evidence=planned.evidence,
                                compile_kwargs=COMPILE if compile_kwargs is None
                                else compile_kwargs)
    shape = (thin["posterior"].sizes["chain"], thin["posterior"].sizes["draw"])
    out = {}
    for t in targets:
        values = t.aggregate(np.vstack([draws[i] for i in planned.read[t.id]]))
        if planned.terms[t.id] == "benchmark":
            # a score reads as a share within SHARE_LIMITS (models/evidence.py): so do its draws
            low, high = (math.log(s / (1 - s)) for s in SHARE_LIMITS)
            values = np.clip(values, low, high)
        out[t.id] = Predicted(t, planned.terms[t.id], values.reshape(shape))
    return out


def prediction_record(run_id: str, model_version: str, config: str, target: Target,
                      term: str, draws: np.ndarray, registered: date, seed: int,
                      now: datetime | None = None) -> Prediction:
    """A prediction from a target's predictive draws (percentiles and thinned draws).

    Parameters
    ----------
    run_id, model_version, config : str
        The run that made it.
    target : Target
        What it predicts.
    term : str
        The likelihood term of the target's rows (sets the scale and unit).
    draws : numpy.ndarray
        Predictive draws on the term's scale, in draw order.
    registered : datetime.date
        The registration day.
    seed : int
        The seed the draws came from.
    now : datetime.datetime, optional
        The registration time (default: now).

    Returns
    -------
    Prediction
    """
    x = np.asarray(draws, dtype=float).ravel()
    x = x[np.isfinite(x)]
    if x.size < 10:
        raise RegistryError(f"target {target.id}: fewer than 10 finite predictive draws")
    quantiles = np.quantile(x, np.asarray(PERCENTILES) / 100)
    keep = x[np.unique(np.linspace(0, x.size - 1, min(KEPT_DRAWS, x.size)).round()
                       .astype(int))]
    scale, unit = TERM_SCALE[term]
    now = now or datetime.now(UTC)
    return Prediction(id=f"{run_id}/{target.id}", target=target, run_id=run_id,
                      model_version=model_version, config=config,
                      registered=registered.isoformat(),
                      registered_at=now.isoformat(timespec="seconds"), term=term,
                      scale=scale, unit=unit, n_draws=int(x.size),
                      quantiles=tuple(float(q) for q in
                                      np.maximum.accumulate(_rounded(quantiles))),
                      draws=_rounded(keep), seed=seed)


@dataclass(frozen=True)
class Registered:
    """What :func:`register` did: the predictions written, and the targets skipped (why)."""

    predictions: list[Prediction]
    skipped: list[tuple[str, str]]
    path: Path


def _known_already(targets: Sequence[Target], terms: dict[str, str],
                   rows: list[dict[str, str]]) -> dict[str, str]:
    """Ledger targets that a row of ``rows`` already settles: target id -> row id."""
    ledger_targets = [t for t in targets if t.kind == "ledger"]
    frame, table = ledger_table(rows, ledger_targets)
    found = {}
    for t in ledger_targets:
        settled = resolve(t, terms[t.id], date.min, date.max, frame, table)
        if settled is not None:
            found[t.id] = settled.rows[0]
    return found


def register(run: Run, home: Path, targets: Sequence[Target] | None = None,
             ledger_rows: list[dict[str, str]] | None = None, today: date | None = None,
             max_draws: int = MAX_PREDICTIVE_DRAWS) -> Registered:
    """Register a run's predictions of targets (the shipped set by default), once per run.

    Parameters
    ----------
    run : Run
        A run with a posterior.
    home : pathlib.Path
        The home whose registry is appended to.
    targets : sequence of Target, optional
        Given targets: each must still be open (else the call is refused). Without them, the
        shipped targets whose windows are still open (:data:`~gpt2030.inference.targets.
        SHIPPED_TARGETS`); the others are skipped, saying why.
    ledger_rows : list of dict, optional
        The current ledger: a ledger target one of its rows already settles is refused
        (given) or skipped (shipped).
    today : datetime.date, optional
        The registration day (default: today).
    max_draws : int
        Posterior draws used at most (:data:`MAX_PREDICTIVE_DRAWS`).

    Returns
    -------
    Registered

    Raises
    ------
    RegistryError
        A malformed registry, a prior-only run, a given target that is closed, already
        known, unpredictable, or registered before under the same id with other fields.
    """
    today = today or date.today()
    path = registry_path(home)
    registry = read_registry(path)
    prior_only = RegistryError(f"run {run.id} is prior-only: it has no posterior to make "
                               "predictions from")
    if run.manifest.get("prior_only"):
        raise prior_only
    given = targets is not None
    skipped: list[tuple[str, str]] = []
    if given:
        todo = list(targets or [])
        for t in todo:
            try:
                t.check_open(today)
            except TargetError as err:
                raise RegistryError(str(err)) from None
    else:
        todo, closed = shipped_open(today)
        skipped += [(t.id, why) for t, why in closed]
    keep = []
    for t in todo:
        before = registry.target(t.id)
        if before is not None and before != t:
            why = (f"target {t.id} was registered before with other fields; give the same "
                   "ones (see `gpt2030 predict list --format json`)")
            if given:
                raise RegistryError(why)
            skipped.append((t.id, why))
        elif any(p.run_id == run.id and p.target.id == t.id for p in registry.predictions):
            skipped.append((t.id, f"already registered for run {run.id}"))
        elif t.id not in {k.id for k in keep}:
            keep.append(t)
    if not keep:
        return Registered([], skipped, path)
    config = str((run.manifest.get("config") or {}).get("name", "default"))
    # Which term each target falls in depends on its own rows only (ledger targets of
    # parameter or token counts, which pair with other rows, are refused), so the checks
    # run on the synthetic rows alone, before the run is read.
    alone = plan(config, [], keep)
    known = _known_already([t for t in keep if t.id in alone.terms], alone.terms,
                           ledger_rows or [])
    ready = []
    for t in keep:
        why = alone.unpredictable.get(t.id) or (
            f"{t.id} is already known: ledger row {known[t.id]} settles it; nothing left to "
            "predict" if t.id in known else None)
        if why is None:
            ready.append(t)
        elif given:
            raise RegistryError(why)
        else:
            skipped.append((t.id, why))
    if not ready:
        return Registered([], skipped, path)
    dt = run.datatree()
    if "posterior" not in dt.children:
        raise prior_only
    rows = run_rows(dt)
    seed = _seed(run.id, "predictions")
    predicted = predictive(dt, config, rows, ready, seed, max_draws)
    records = [prediction_record(run.id, str(run.manifest.get("model_version")), config,
                                 p.target, p.term, p.draws, today, seed)
               for p in predicted.values()]
    written = _append(path, [r.to_record() for r in records])
    ids = {w["id"] for w in written}
    return Registered([r for r in records if r.id in ids], skipped, path)


# -- scoring ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scored:
    """What :func:`score` did: the new resolutions, how many stay open, and warnings."""

    resolved: list[tuple[Prediction, Resolution]]
    still_open: int
    stale: list[str]


def score_prediction(prediction: Prediction, settled_value: float, rows: Sequence[str],
                     today: date) -> Resolution:
    """Score one prediction against the value that settled it.

    Parameters
    ----------
    prediction : Prediction
        The prediction.
    settled_value : float
        The observed value on the prediction's scale.
    rows : sequence of str
        The ledger ids it came from.
    today : datetime.date
        The resolution day.

    Returns
    -------
    Resolution
    """
    rng = np.random.default_rng(_seed(prediction.id, "pit"))
    # On the stored draws' grid: a score at a share limit (models/evidence.py SHARE_LIMITS)
    # then ties with the draws censored there, and the PIT spreads the tie uniformly.
    y = round(float(settled_value), DIGITS)
    s = scoring.score_samples(np.asarray(prediction.draws), y, rng)
    return Resolution(prediction=prediction.id, target=prediction.target.id,
                      resolved=today.isoformat(), rows=tuple(rows), observed=y,
                      crps=round(s["crps"], DIGITS), log_score=round(s["log_score"], DIGITS),
                      pit=round(s["pit"], DIGITS),
                      # the intervals every listing prints (stored percentiles), so "inside
                      # 90%" never contradicts the interval shown beside it
                      covered50=bool(prediction.quantile(0.25) <= y <= prediction.quantile(0.75)),
                      covered90=bool(prediction.quantile(0.05) <= y <= prediction.quantile(0.95)))


def ledger_table(rows: list[dict[str, str]], targets: Sequence[Target]
                 ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The ledger rows that could settle the targets, and their term table.

    Parameters
    ----------
    rows : list of dict
        Ledger rows (removed ones are left out).
    targets : sequence of Target
        The targets: only rows one of them may settle (:meth:`Target.may_settle`) are read
        into the model's terms (each row's term depends on that row alone for these kinds).

    Returns
    -------
    (pandas.DataFrame, pandas.DataFrame)
        The observation frame and :func:`~gpt2030.inference.backtest._term_table`.
    """
    from gpt2030.inference.backtest import _term_table
    from gpt2030.models.evidence import prepare_evidence
    from gpt2030.observations import observation_frame

    live = [r for r in rows if not r.get("removed_on")
            and any(t.may_settle(r) for t in targets)]
    frame = observation_frame(live)
    if not live:
        return frame, pd.DataFrame(columns=["id", "term", "y", "t", "series", "level", "bound"])
    # Forecast rows never settle a target; expert forecasts on only so that every term exists.
    return frame, _term_table(prepare_evidence(frame, expert_forecasts=True))


def score(home: Path, ledger_rows: list[dict[str, str]], today: date | None = None) -> Scored:
    """Resolve and score every open prediction the ledger now settles.

    Parameters
    ----------
    home : pathlib.Path
        The home whose registry is read and appended to.
    ledger_rows : list of dict
        The ledger (removed rows are left out).
    today : datetime.date, optional
        The resolution day (default: today).

    Returns
    -------
    Scored

    Raises
    ------
    RegistryError
        A malformed registry.
    """
    today = today or date.today()
    path = registry_path(home)
    registry = read_registry(path)
    pending = [p for p in registry.predictions if p.id not in registry.resolutions]
    live = {r["id"] for r in ledger_rows if not r.get("removed_on")}
    stale = [f"{r.prediction}: resolved by {', '.join(x for x in r.rows if x not in live)}, "
             "no longer in the ledger (the resolution stands; nothing is rescored)"
             for r in registry.resolutions.values() if any(x not in live for x in r.rows)]
    if not pending:
        return Scored([], 0, stale)
    frame, table = ledger_table(ledger_rows, [p.target for p in pending])
    done: list[tuple[Prediction, Resolution]] = []
    for p in pending:
        settled = resolve(p.target, p.term, parse_date(p.registered)[0], today, frame, table)
        if settled is not None:
            done.append((p, score_prediction(p, settled.value, settled.rows, today)))
    written = _append(path, [r.to_record() for _, r in done])
    ids = {w["prediction"] for w in written}
    done = [(p, r) for p, r in done if p.id in ids]
    return Scored(done, len(pending) - len(done), stale)


# -- the track record ----------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """A prediction and, once settled, its resolution."""

    prediction: Prediction
    resolution: Resolution | None = None

    @property
    def status(self) -> str:
        """``open`` or ``resolved``."""
        return "open" if self.resolution is None else "resolved"

    def to_dict(self) -> dict[str, object]:
        """The entry as ``predict list --format json`` prints it (values in ``unit``)."""
        p, r = self.prediction, self.resolution
        out: dict[str, object] = {
            "prediction": p.id, "target": p.target.id, "kind": p.target.kind,
            "question": p.target.describe(), "why": p.target.why,
            "window_start": p.target.start, "window_end": p.target.end,
            "run_id": p.run_id, "model_version": p.model_version, "registered": p.registered,
            "status": self.status, "unit": p.unit, "scale": p.scale,
            "median": p.shown(0.5), "q05": p.shown(0.05), "q25": p.shown(0.25),
            "q75": p.shown(0.75), "q95": p.shown(0.95),
            "resolved": None, "rows": None, "observed": None, "crps": None,
            "log_score": None, "pit": None, "covered50": None, "covered90": None,
        }
        if r is not None:
            out.update(resolved=r.resolved, rows=list(r.rows),
                       observed=float(to_display(r.observed, p.scale)), crps=r.crps,
                       log_score=r.log_score, pit=r.pit, covered50=r.covered50,
                       covered90=r.covered90)
        return out


#: Bins of the PIT histogram.
PIT_BINS = 10


@dataclass(frozen=True)
class Calibration:
    """How the resolved predictions did: coverage, scores, and the PIT's spread.

    ``by_row`` counts every prediction once; ``by_target`` weighs every target the same
    (a target registered by many runs is one fact).
    """

    n: int
    n_targets: int
    by_row: dict[str, float | None]
    by_target: dict[str, float | None]
    pit_counts: tuple[int, ...]
    ks_pvalue: float | None


def calibration(resolved: Sequence[Entry]) -> Calibration | None:
    """The calibration of resolved entries (None when there are none).

    Parameters
    ----------
    resolved : sequence of Entry
        Entries with a resolution.

    Returns
    -------
    Calibration or None
    """
    done = [e for e in resolved if e.resolution is not None]
    if not done:
        return None
    scores = [e.resolution.scores() for e in done if e.resolution is not None]
    keys = [e.prediction.target.id for e in done]
    pits = np.array([s["pit"] for s in scores])
    counts, _ = np.histogram(pits, bins=PIT_BINS, range=(0.0, 1.0))
    return Calibration(len(done), len(set(keys)), scoring.aggregate(scores),
                       scoring.aggregate(scores, scoring.series_weights(keys)),
                       tuple(int(c) for c in counts), scoring.pit_uniformity_pvalue(pits))


@dataclass(frozen=True)
class OpenTarget:
    """An open target: every registration of it in order, and the reported run's, if any."""

    target: Target
    history: tuple[Prediction, ...]
    current: Prediction | None

    @property
    def first(self) -> Prediction:
        """The first registration."""
        return self.history[0]

    @property
    def latest(self) -> Prediction:
        """The reported run's registration, else the latest."""
        return self.current or self.history[-1]

    @property
    def shift(self) -> float:
        """How far the median moved from the first registration to :attr:`latest`.

        On the model's scale: dex, or logits for a benchmark.
        """
        return self.latest.quantile(0.5) - self.first.quantile(0.5)


@dataclass(frozen=True)
class TrackRecord:
    """A home's registry as the report shows it.

    ``problem`` says why the registry could not be read (then nothing else is filled).
    """

    path: Path
    exists: bool
    problem: str | None = None
    entries: tuple[Entry, ...] = ()
    calibration: Calibration | None = None
    open_targets: tuple[OpenTarget, ...] = ()

    @property
    def resolved(self) -> list[Entry]:
        """The resolved entries, in registry order."""
        return [e for e in self.entries if e.resolution is not None]


def entries(registry: Registry) -> list[Entry]:
    """Every prediction with its resolution, in registry order.

    Parameters
    ----------
    registry : Registry
        A read registry.

    Returns
    -------
    list of Entry
    """
    return [Entry(p, registry.resolutions.get(p.id)) for p in registry.predictions]


def track_record(home: Path, run_id: str | None = None) -> TrackRecord:
    """The track record of a home's registry, for the report.

    Parameters
    ----------
    home : pathlib.Path
        The home.
    run_id : str, optional
        The reported run: its registration of each open target is the "current" forecast.

    Returns
    -------
    TrackRecord
        Never raises for a malformed registry: ``problem`` says what is wrong.
    """
    path = registry_path(home)
    try:
        registry = read_registry(path)
    except RegistryError as err:
        return TrackRecord(path, True, str(err))
    if not registry.exists:
        return TrackRecord(path, False)
    all_entries = entries(registry)
    open_by_target: dict[str, list[Prediction]] = {}
    resolved_targets = set()
    for e in all_entries:
        if e.resolution is None:
            open_by_target.setdefault(e.prediction.target.id, []).append(e.prediction)
        else:
            resolved_targets.add(e.prediction.target.id)
    open_targets = []
    for history in open_by_target.values():
        current = next((p for p in history if p.run_id == run_id), None)
        open_targets.append(OpenTarget(history[0].target, tuple(history), current))
    open_targets.sort(key=lambda o: (o.target.end, o.target.id))
    return TrackRecord(path, True, None, tuple(all_entries),
                       calibration([e for e in all_entries if e.resolution is not None]),
                       tuple(open_targets))
