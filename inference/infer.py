"""``infer``: ledger in, stored run out; reused when the same computation was already done."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from gpt2030.inference.progress import Progress, silent
from gpt2030.inference.runs import (
    Run,
    clean_stale_tmp,
    describe_config,
    find_run,
    model_constants,
    new_run_id,
    observations_to_dataset,
    package_versions,
    run_key,
    save_run,
)
from gpt2030.inference.sampling import SamplerConfig, fit
from gpt2030.models import MODEL_VERSION, ModelConfig, build_model, get_config
from gpt2030.models.evidence import prepare_evidence
from gpt2030.observations import Ledger, observation_frame, observation_hash
from gpt2030.observations.schema import decimal_year, parse_date

if TYPE_CHECKING:
    import xarray as xr

    from gpt2030.inference.diagnostics import Diagnostics


@dataclass(frozen=True)
class InferRequest:
    """Everything that determines a run."""

    config: str = "default"
    sampler: SamplerConfig = field(default_factory=SamplerConfig)
    seed: int = 2030
    cutoff: str | None = None  # YYYY[-MM[-DD]]: only observations dated on or before it
    prior_only: bool = False


def select_rows(rows: list[dict[str, str]], cutoff: str | None) -> list[dict[str, str]]:
    """Rows dated on or before the cutoff (all rows without one).

    A row counts from the *end* of its date's period (a ``2023`` row is known by
    2023-12-31), so a cutoff never admits a row that could postdate it.
    """
    if cutoff is None:
        return list(rows)
    limit = parse_date(cutoff)[1]
    return [r for r in rows if parse_date(r["date"])[1] <= limit]


def infer(ledger: Ledger, runs_dir: Path, request: InferRequest, force: bool = False,
          progressbar: bool = False, today: date | None = None,
          progress: Progress | None = None,
          on_posterior: Callable[[xr.DataTree, dict], None] | None = None,
          ) -> tuple[Run, bool]:
    """Fit the model to the ledger and store the run; return it and whether it was reused.

    A stored run with the same key is reused unless ``force``; a broken one never is (it is
    fitted again). Hidden ``.tmp-*`` folders an interrupted save left over an hour ago are
    removed first. The manifest's ``timings`` holds each stage's seconds (``compile`` and
    ``sampling`` are parts of ``posterior``) and ``total``, the measured wall clock from the
    start of the fit to the manifest. ``progress`` prints one line per stage (build, prior,
    compile, sample, trajectory, predictive, diagnostics); silent when not given.
    ``on_posterior``, when given, is called with a new run's tree and its manifest as far as
    it is known before the diagnostics (no ``diagnostics`` or ``verdict``; the same
    ``run_id``), and its time is not the run's: ``update`` hands the report's figures to
    its drawing worker there (as for a reweighted run, ``reweight.try_reweight``).
    """
    progress = progress or silent()
    clean_stale_tmp(runs_dir)
    config = get_config(request.config)
    rows = select_rows(ledger.rows(), request.cutoff)
    obs_hash = observation_hash(rows)
    key = run_key(obs_hash, config.describe(), request.sampler.describe(), request.seed,
                  request.cutoff, request.prior_only)
    if not force:
        existing = find_run(runs_dir, key)
        if existing is not None:
            return existing, True

    wall_start = time.perf_counter()
    with progress.stage("build", detail=f"{len(rows)} observations"):
        frame = observation_frame(rows)
        evidence = prepare_evidence(frame, config.expert_forecasts)
        model = build_model(frame, config, evidence=evidence)
    timings = {"build": progress.timings["build"]}
    dt, fit_timings = fit(model, request.sampler, request.seed, progressbar=progressbar,
                          prior_only=request.prior_only, progress=progress)
    timings.update(fit_timings)
    roles = (evidence.roles.reindex(frame.index).fillna("") if config.use_observations
             else pd.Series("context: this configuration uses no observations", frame.index))
    dt["observations"] = observations_to_dataset(frame, roles)

    from gpt2030.inference.diagnostics import check

    prior_only = request.prior_only or "posterior" not in dt.children
    created = datetime.now(UTC)
    outside = hand_over(on_posterior, dt, lambda: run_manifest(
        key, rows, roles, config, request, None, {}, created=created, prior_only=prior_only))
    with progress.stage("diagnostics") as info:
        report = check(dt)
        info["detail"] = f"verdict {report.verdict}"
    timings["diagnostics"] = progress.timings["diagnostics"]
    # measured, not a sum of stages
    timings["total"] = time.perf_counter() - wall_start - outside
    manifest = run_manifest(key, rows, roles, config, request, report, timings,
                            created=created, prior_only=prior_only)
    return save_run(dt, manifest, runs_dir), False


def hand_over(on_posterior: Callable[[xr.DataTree, dict], None] | None, dt: xr.DataTree,
              preview: Callable[[], dict]) -> float:
    """Call ``on_posterior`` with a new run's tree and ``preview()``; its seconds (0 if None).

    ``preview`` makes the manifest as far as it is known before the diagnostics (only when
    there is someone to hand it to); the seconds are left out of the run's timings.
    """
    if on_posterior is None:
        return 0.0
    began = time.perf_counter()
    on_posterior(dt, preview())
    return time.perf_counter() - began


def run_manifest(key: str, rows: list[dict[str, str]], roles: pd.Series, config: ModelConfig,
                 request: InferRequest, report: Diagnostics | None, timings: dict[str, float],
                 created: datetime | None = None, **fields: object) -> dict:
    """The manifest a new run stores (read back as :class:`~gpt2030.inference.runs.Manifest`).

    One place for what every run records, fitted or reweighted: its id and key, the
    observations it was fitted to, the configuration with each prior's source, the chain's
    constants with theirs, the sampler and seed, package versions, timings and diagnostics.

    Parameters
    ----------
    key : str
        The run's key (:func:`~gpt2030.inference.runs.run_key`, or a reweighted run's own).
    rows : list of dict
        The ledger rows it was fitted to.
    roles : pandas.Series
        Each row's role in the model (``context...`` rows condition nothing).
    config : ModelConfig
        The configuration.
    request : InferRequest
        The settings asked for.
    report : Diagnostics or None
        Its diagnostics; None for a preview of the manifest before them (no
        ``diagnostics`` and ``verdict`` entries).
    timings : dict
        Seconds per stage, and ``total``.
    created : datetime, optional
        When the run was made (default: now); it names the run.
    **fields
        Entries to add or override (``prior_only``; a reweighted run's ``path``, ``parent``,
        ``k_hat`` ...).

    Returns
    -------
    dict
    """
    now = created or datetime.now(UTC)
    return {
        "run_id": new_run_id(key, now),
        "key": key,
        "created": now.isoformat(timespec="seconds"),
        "model_version": MODEL_VERSION,
        "observation_hash": observation_hash(rows),
        "n_observations": len(rows),
        "n_conditioning": int((~roles.astype(str).str.startswith("context")).sum()),
        "latest_observation": max((r["date"] for r in rows), default=None,
                                  key=lambda d: decimal_year(d)),
        "config": describe_config(config),  # each prior with its source
        "constants": model_constants(),  # the chain's fixed constants, with their sources
        "sampler": request.sampler.describe(),
        "seed": request.seed,
        "cutoff": request.cutoff,
        "prior_only": request.prior_only,
        "packages": package_versions(),
        "timings": {k: round(v, 3) for k, v in timings.items()},
        **({} if report is None else {"diagnostics": report.to_dict(),
                                       "verdict": report.verdict}),
        "path": "fitted",  # or "reweighted" (inference/reweight.py)
        **fields,
    }
