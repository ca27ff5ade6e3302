"""The run store: ``runs/<run-id>/`` holds ``run.nc`` (the DataTree) and ``manifest.json``.

A run is written into a hidden temporary folder and renamed into place only when complete,
so an interrupted ``infer`` never leaves a run that looks finished. A run explains itself:
the observations it was fitted to are a group of its DataTree, and its manifest names the
configuration, seed, model and package versions, timings and diagnostics verdict.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

import pandas as pd
import xarray as xr

from gpt2030.models import MODEL_VERSION
from gpt2030.observations import default_home
from gpt2030.observations.schema import FIELDS

RUN_FILE = "run.nc"
MANIFEST = "manifest.json"
PACKAGES = ("pymc", "pytensor", "arviz", "nutpie", "numpy", "pandas", "xarray")


class RunError(LookupError):
    """A run that does not exist, is incomplete, or cannot be read by this version."""


@dataclass(frozen=True)
class Run:
    """A stored run: its folder, manifest and (loaded on demand) DataTree."""

    path: Path
    manifest: dict

    @property
    def id(self) -> str:
        return self.manifest["run_id"]

    def datatree(self) -> xr.DataTree:
        """The run's DataTree, read eagerly (the file is not kept open)."""
        return xr.load_datatree(self.path / RUN_FILE)

    def observations(self) -> pd.DataFrame:
        """The ledger rows the run was fitted to, with each row's role in the model."""
        return observations_from_datatree(self.datatree())


def default_runs_dir(home: Path | None = None) -> Path:
    """``$GPT2030_HOME/runs`` (the working directory by default)."""
    return (home or default_home()) / "runs"


def run_key(observation_hash: str, config: dict, sampler: dict, seed: int,
            cutoff: str | None, prior_only: bool) -> str:
    """What makes two runs the same computation: equal keys give identical draws."""
    payload = json.dumps(
        {"observations": observation_hash, "config": config, "sampler": sampler, "seed": seed,
         "cutoff": cutoff, "prior_only": prior_only, "model_version": MODEL_VERSION},
        sort_keys=True,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:12]


def new_run_id(key: str, now: datetime | None = None) -> str:
    """``r20261127T214501-<key>``: sortable by time, and naming what was computed."""
    now = now or datetime.now(UTC)
    return f"r{now:%Y%m%dT%H%M%S}-{key}"


def package_versions() -> dict[str, str]:
    """Versions of the packages a run's numbers depend on."""
    return {name: version(name) for name in PACKAGES}


def observations_to_dataset(frame: pd.DataFrame, roles: pd.Series) -> xr.Dataset:
    """The ledger rows as a Dataset over ``obs_id`` (strings), with each row's role."""
    data = {f: ("obs_id", frame[f].astype(str).to_numpy()) for f in FIELDS if f != "id"}
    data["role"] = ("obs_id", roles.reindex(frame.index).fillna("").astype(str).to_numpy())
    return xr.Dataset(data, coords={"obs_id": frame["id"].astype(str).to_numpy()})


def observations_from_datatree(dt: xr.DataTree) -> pd.DataFrame:
    """The ``observations`` group back as a DataFrame indexed by id."""
    ds = dt["observations"].to_dataset()
    frame = ds.to_dataframe()
    frame.insert(0, "id", frame.index.astype(str))
    return frame


def save_run(dt: xr.DataTree, manifest: dict, runs_dir: Path) -> Run:
    """Write a run atomically: everything into a temporary folder, then one rename."""
    runs_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=runs_dir, prefix=f".tmp-{manifest['run_id']}-"))
    try:
        dt.attrs.update(model_version=manifest["model_version"], run_id=manifest["run_id"])
        dt.to_netcdf(tmp / RUN_FILE, encoding=_compressed(dt))
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
        final = runs_dir / manifest["run_id"]
        os.replace(tmp, final)  # a run folder appears complete, or not at all
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return Run(final, manifest)


def _compressed(dt: xr.DataTree) -> dict[str, dict[str, dict[str, object]]]:
    """zlib for every numeric variable: trajectories of thousands of draws compress ~3x."""
    return {
        node.path: {name: {"zlib": True, "complevel": 4}
                    for name, var in node.dataset.data_vars.items() if var.dtype.kind in "fiub"}
        for node in dt.subtree if node.has_data
    }


def update_manifest(run: Run, **fields: object) -> Run:
    """Replace fields of a stored manifest atomically."""
    manifest = {**run.manifest, **fields}
    fd, tmp = tempfile.mkstemp(dir=run.path, prefix=".manifest-", suffix=".tmp")
    with os.fdopen(fd, "w") as fh:
        fh.write(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    os.replace(tmp, run.path / MANIFEST)
    return Run(run.path, manifest)


def _read_manifest(path: Path) -> dict | None:
    try:
        return json.loads((path / MANIFEST).read_text())
    except (OSError, json.JSONDecodeError):
        return None


def list_runs(runs_dir: Path) -> list[Run]:
    """Complete runs, oldest first (any model version; see :func:`load_run`)."""
    if not runs_dir.is_dir():
        return []
    found = []
    for path in sorted(runs_dir.iterdir()):
        if path.name.startswith(".") or not (path / RUN_FILE).is_file():
            continue
        manifest = _read_manifest(path)
        if manifest is not None:
            found.append(Run(path, manifest))
    return sorted(found, key=lambda r: r.manifest.get("created", ""))


def load_run(runs_dir: Path, run_id: str | None = None) -> Run:
    """A stored run by id (or unique prefix), or the latest; refuses another model version.

    Raises
    ------
    RunError
        No such run, an ambiguous prefix, or a run saved by another model version.
    """
    runs = list_runs(runs_dir)
    if not runs:
        raise RunError(f"no runs in {runs_dir}: run `gpt2030 infer` first")
    if run_id is None or run_id == "latest":
        run = runs[-1]
    else:
        matches = [r for r in runs if r.id == run_id] or [r for r in runs
                                                         if r.id.startswith(run_id)]
        if not matches:
            raise RunError(f"no run {run_id!r} in {runs_dir}")
        if len(matches) > 1:
            raise RunError(f"{run_id!r} matches {len(matches)} runs; give more of the id")
        run = matches[0]
    stored = run.manifest.get("model_version")
    if stored != MODEL_VERSION:
        raise RunError(
            f"run {run.id} was made by model version {stored}, this is {MODEL_VERSION}: its "
            "variables may mean something else; re-run `gpt2030 infer` to refit"
        )
    return run


def find_run(runs_dir: Path, key: str) -> Run | None:
    """The latest complete run of this model version with the given key, if any."""
    for run in reversed(list_runs(runs_dir)):
        if run.manifest.get("key") == key and run.manifest.get("model_version") == MODEL_VERSION:
            return run
    return None
