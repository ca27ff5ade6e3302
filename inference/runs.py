"""The run store: ``runs/<run-id>/`` holds ``run.nc`` (the DataTree) and ``manifest.json``.

A run is written into a hidden temporary folder and renamed into place only when complete,
so an interrupted ``infer`` never leaves a run that looks finished; the next ``infer`` removes
such a folder once it is an hour old. A run explains itself: the observations it was fitted
to are a group of its DataTree, and its manifest names the configuration, seed, model and
package versions, timings and diagnostics verdict.

Runs are checked when listed or loaded (:func:`check_run`): a manifest that does not parse or
lacks a field, or a ``run.nc`` that does not open or lacks a group, makes a
:class:`BrokenRun`, which is listed with its reason, never reused and never read. Listing
reads manifests only: each ``run.nc`` is checked without being opened (its HDF5 signature,
the end of file its superblock records, and the size the manifest recorded when the run was
saved); the run a command reads or reuses is also opened and its groups checked
(:func:`verify_run`). Runs saved before the size was recorded are opened when listed.

"The latest run", which every reading command uses when no run is named, is the latest run
of the ``default`` configuration fitted to all observations (no cutoff, not prior-only) by
this model version (:func:`latest_run`): backtest and variant fits never become it.
"""

from __future__ import annotations

import ast
import hashlib
import inspect
import json
import math
import re
import shutil
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING

from gpt2030.models import MODEL_VERSION, ModelConfig
from gpt2030.models import priors as priors_module
from gpt2030.observations import default_home
from gpt2030.observations.files import atomic_path
from gpt2030.observations.schema import FIELDS

if TYPE_CHECKING:  # xarray and pandas are imported where used: listing runs needs neither
    import numpy as np
    import pandas as pd
    import xarray as xr

    from gpt2030.inference.diagnostics import Diagnostics

RUN_FILE = "run.nc"
MANIFEST = "manifest.json"
#: Analyses of a run kept beside it, computed once (see inference/voi.py, inference/reporting.py).
VOI_FILE = "value_of_information.json"
PRIOR_DOMINANCE_FILE = "prior_dominance.json"
PACKAGES = ("pymc", "pytensor", "arviz", "nutpie", "numpy", "pandas", "xarray")


#: The configuration whose runs are "the latest run" when none is named.
DEFAULT_CONFIG = "default"
#: A hidden ``.tmp-*`` folder this old was left by an interrupted ``infer`` (saving a run
#: takes seconds), and the next ``infer`` removes it.
STALE_TMP_SECONDS = 3600.0
RUN_ID_PATTERN = re.compile(r"^r\d{8}T\d{6}-[0-9a-f]{12}$")
#: Manifest fields every run has, with their types (``None`` allowed where listed).
MANIFEST_FIELDS: dict[str, tuple[type, ...]] = {
    "run_id": (str,), "key": (str,), "created": (str,), "model_version": (str,),
    "observation_hash": (str,), "n_observations": (int,), "config": (dict,),
    "sampler": (dict,), "seed": (int,), "cutoff": (str, type(None)), "prior_only": (bool,),
    "timings": (dict,), "verdict": (str,),
}
#: Groups ``run.nc`` holds: always, and unless the run is prior-only.
GROUPS_ALWAYS = ("prior", "prior_predictive", "observations")
GROUPS_POSTERIOR = ("posterior", "posterior_predictive", "log_likelihood", "sample_stats")
#: The manifest field of a run whose ``run.nc`` holds only what differs from its fitted
#: parent (a reweighted run): the parent's id. Its draws are the parent's at the indices
#: of :data:`RESAMPLE` (see :func:`resampled_tree`).
RESAMPLED_FROM = "resampled_from"
#: The group of such a run that says which of the parent's draws each of its draws is:
#: ``parent_draw`` (chain, draw), a flat index into the parent's (chain, draw).
RESAMPLE = "resample"
#: Groups the ``run.nc`` of such a run holds: its own rows, the likelihood terms and
#: predictive draws its added rows changed, and the indices.
GROUPS_RESAMPLED = ("observations", "observed_data", "log_likelihood", "posterior_predictive",
                    RESAMPLE)

#: The fixed conversions of the essay's chain (models/priors.py) that each run stores, with
#: the comment that cites each, so that the report of an old run shows the run's own.
CONSTANTS = ("MINUTES_PER_YEAR", "FLOP_PER_PARAM_TOKEN", "FORWARD_FLOP_PER_PARAM",
             "GPT3_COMPUTE", "CHINCHILLA_COMPUTE")


def constant_comments() -> dict[str, str]:
    """The ``#:`` comments above each constant in models/priors.py, keyed by name.

    Returns
    -------
    dict of str to str
        The comment lines of each commented module-level assignment, joined by spaces.
    """
    source = inspect.getsource(priors_module)
    lines = source.splitlines()
    comments: dict[str, str] = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            text: list[str] = []
            i = node.lineno - 2
            while i >= 0 and lines[i].lstrip().startswith("#:"):
                text.insert(0, lines[i].lstrip()[2:].strip())
                i -= 1
            if text:
                comments[node.targets[0].id] = " ".join(text)
    return comments


def model_constants() -> list[dict[str, object]]:
    """The fixed constants of the chain in this installation of the chain, as a run stores them.

    Returns
    -------
    list of dict
        ``{"name", "value", "note"}`` for each of :data:`CONSTANTS`, in that order; ``note``
        is the comment that cites the value.
    """
    comments = constant_comments()
    return [{"name": name, "value": getattr(priors_module, name, None),
             "note": comments.get(name, "")} for name in CONSTANTS]


def describe_config(config: ModelConfig) -> dict[str, object]:
    """A configuration as its runs store it: its switches, and each prior with its source.

    Parameters
    ----------
    config : ModelConfig
        The configuration fitted.

    Returns
    -------
    dict
        ``config.describe()`` with ``source`` added to every prior. (The run key is made from
        ``config.describe()`` alone, so a reworded source never makes a new computation.)
    """
    described = config.describe()
    described["priors"] = {name: {**spec, "source": config.priors[name].source}
                           for name, spec in described["priors"].items()}
    return described


def _no_diagnostics() -> Diagnostics:
    from gpt2030.inference.diagnostics import Diagnostics

    return Diagnostics()


@dataclass(frozen=True)
class Manifest:
    """A run's ``manifest.json`` as typed fields (the run store's schema, as read back).

    ``config`` holds the configuration's switches (``name`` and the booleans), ``priors``
    the stored prior specifications ``{name: {dist, params[, source]}}`` and ``constants``
    the stored fixed constants (:func:`model_constants`). Runs saved before priors carried
    their ``source`` and before ``constants`` was stored still load: those read ``None``.
    """

    run_id: str
    created: str = ""
    model_version: str = ""
    config: dict = field(default_factory=dict)
    priors: dict[str, dict] = field(default_factory=dict)
    constants: list[dict] | None = None
    sampler: dict = field(default_factory=dict)
    seed: int | None = None
    cutoff: str | None = None
    prior_only: bool = False
    verdict: str = "unknown"
    diagnostics: Diagnostics = field(default_factory=_no_diagnostics)
    observation_hash: str = ""
    n_observations: int | None = None
    n_conditioning: int | None = None
    latest_observation: str | None = None
    packages: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)
    run_nc_bytes: int | None = None

    @classmethod
    def from_dict(cls, data: dict) -> Manifest:
        """Read a manifest dict (missing optional fields take their defaults).

        Parameters
        ----------
        data : dict
            The parsed ``manifest.json``.

        Returns
        -------
        Manifest
        """
        from gpt2030.inference.diagnostics import Diagnostics

        config = dict(data.get("config") or {})
        priors = config.pop("priors", None) or {}
        known = {f for f in cls.__dataclass_fields__ if f not in ("config", "priors",
                                                                  "diagnostics")}
        values = {k: data[k] for k in known if data.get(k) is not None}
        return cls(**values, config=config, priors=dict(priors),
                   diagnostics=Diagnostics.from_dict(data.get("diagnostics")))

    @property
    def config_name(self) -> str:
        """The configuration's name (``?`` if the manifest lacks it)."""
        return str(self.config.get("name", "?"))

    @property
    def lineage(self) -> tuple:
        """What makes two runs successive forecasts of the same kind.

        Config name, model version (another version's variables may mean something else),
        cutoff (a backtest fit is not an earlier forecast) and whether it is prior-only.
        """
        return (self.config_name, self.model_version, self.cutoff, self.prior_only)


def refit_command(manifest: dict | None) -> str:
    """The ``gpt2030 infer --force ...`` that computes the run a manifest describes."""
    parts = ["gpt2030 infer --force"]
    m = manifest or {}
    config = m.get("config")
    if isinstance(config, dict) and isinstance(config.get("name"), str) and \
            config["name"] != DEFAULT_CONFIG:
        parts.append(f"--config {config['name']}")
    if isinstance(m.get("cutoff"), str):
        parts.append(f"--cutoff {m['cutoff']}")
    if m.get("prior_only") is True:
        parts.append("--prior-only")
    sampler = m.get("sampler")
    if isinstance(sampler, dict):
        parts += [f"--{k} {sampler[k]}" for k in ("draws", "tune", "chains", "sampler")
                  if isinstance(sampler.get(k), int | str)]
        # A run recorded without ``thin`` was not thinned.
        thin = sampler.get("thin", 1)
        if isinstance(thin, int):
            parts.append(f"--thin {thin}")
    if isinstance(m.get("seed"), int):
        parts.append(f"--seed {m['seed']}")
    return " ".join(parts)


def remedy(run_id: str, manifest: dict | None = None) -> str:
    """What to do about a broken run, in the words every command uses."""
    return (f"fit it again with `{refit_command(manifest)}`, or remove it with "
            f"`gpt2030 runs remove {run_id}`")


class RunError(LookupError):
    """A run that does not exist, is incomplete, or cannot be read by this version."""


class BrokenRunError(RunError):
    """A stored run that fails its checks (see :func:`check_run`)."""

    def __init__(self, run_id: str, reason: str, manifest: dict | None = None) -> None:
        super().__init__(f"run {run_id} is broken: {reason}; {remedy(run_id, manifest)}")
        self.run_id = run_id
        self.reason = reason


@dataclass(frozen=True)
class RunInfo:
    """What tells runs apart, typed, from a checked manifest."""

    run_id: str
    created: str
    config: str
    cutoff: str | None
    seed: int
    n_observations: int
    prior_only: bool
    verdict: str
    model_version: str

    @property
    def is_default(self) -> bool:
        """A candidate for "the latest run": default config, all observations, a posterior."""
        return (self.config == DEFAULT_CONFIG and self.cutoff is None and not self.prior_only
                and self.model_version == MODEL_VERSION)

    def header(self) -> str:
        """The one line every command that reads a run prints."""
        kind = " (prior only)" if self.prior_only else ""
        return (f"run {self.run_id}: config {self.config}{kind}, cutoff "
                f"{self.cutoff or 'none'}, seed {self.seed}, {self.n_observations} "
                f"observations, verdict {self.verdict}")


@dataclass(frozen=True)
class Run:
    """A stored run: its folder, manifest and (loaded on demand) DataTree."""

    path: Path
    manifest: dict
    #: The DataTree once read: one update reads a 100-200 MB ``run.nc`` once per run object,
    #: not once per stage (registering, scoring, the report, value of information).
    _tree: list = field(default_factory=list, compare=False, repr=False)

    @property
    def id(self) -> str:
        """The run id (``r<UTC time>-<key>``), as its manifest records it."""
        return self.manifest["run_id"]

    @property
    def info(self) -> RunInfo:
        """What tells this run apart from others (config, cutoff, seed, verdict...)."""
        m = self.manifest
        return RunInfo(run_id=m["run_id"], created=m["created"],
                       config=str(m["config"].get("name", "?")), cutoff=m["cutoff"],
                       seed=m["seed"], n_observations=m["n_observations"],
                       prior_only=bool(m["prior_only"]), verdict=m["verdict"],
                       model_version=m["model_version"])

    def datatree(self) -> xr.DataTree:
        """The run's DataTree, read eagerly (the file is not kept open).

        Raises
        ------
        BrokenRunError
            When the file cannot be read (damaged after it was checked).
        """
        if not self._tree:
            # The parent's draws first: a missing or damaged parent names the parent.
            parent = resampled_source(self) if self.manifest.get(RESAMPLED_FROM) else None
            try:
                self._tree.append(_read_tree(self.path / RUN_FILE, parent))
            except (OSError, ValueError, KeyError, RuntimeError) as err:
                raise BrokenRunError(self.id, f"{RUN_FILE} cannot be read "
                                     f"({_first_line(err)})", self.manifest) from None
        # A shallow copy: a caller that adds or drops groups or variables leaves the cached
        # tree as stored; the arrays are shared, and read-only (_read_only) so that no
        # caller can change them under the others.
        return self._tree[0].copy(deep=False)

    def observations(self) -> pd.DataFrame:
        """The ledger rows the run was fitted to, with each row's role in the model."""
        return observations_from_datatree(self.datatree())


#: The ``run.nc`` files this process read or saved last, by file identity (:func:`_read_tree`,
#: :func:`keep_saved_tree`): one update reads the fitted parent to reweight it, and its
#: report compares the new run with that same parent through another :class:`Run` object.
_READ_TREES: OrderedDict[tuple, xr.DataTree] = OrderedDict()
#: Two trees (a few hundred MB each for the shipped ledger): the parent and the new run.
_READ_TREES_SIZE = 2


def _identity(nc: Path) -> tuple:
    """What tells a ``run.nc`` apart: path, device, inode, size and modification time.

    A run's file is written once, atomically (a new inode), never in place.
    """
    st = nc.stat()
    return (str(nc.resolve()), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def _remember(identity: tuple, tree: xr.DataTree) -> xr.DataTree:
    _READ_TREES[identity] = tree
    _READ_TREES.move_to_end(identity)
    while len(_READ_TREES) > _READ_TREES_SIZE:
        _READ_TREES.popitem(last=False)
    return tree


def _read_tree(nc: Path, parent: Run | None = None) -> xr.DataTree:
    """``nc`` read eagerly, or the tree this process read from (or saved as) that file.

    With ``parent``, the file holds a reweighted run's own part and the tree is
    :func:`resampled_tree` of the parent's.
    """
    import xarray as xr

    identity = _identity(nc)
    if identity in _READ_TREES:
        _READ_TREES.move_to_end(identity)
        return _READ_TREES[identity]
    tree = xr.load_datatree(nc)
    if parent is not None:
        tree = resampled_tree(parent.datatree(), tree)
    return _remember(identity, _read_only(tree))


def resampled_source(run: Run) -> Run:
    """The fitted run whose draws a reweighted run's ``run.nc`` indexes, checked.

    Raises
    ------
    BrokenRunError
        When that run is missing, broken, or itself stored as indices: the reweighted run
        cannot be read without it.
    """
    found = _source(run.path, run.manifest)
    if isinstance(found, Run):
        try:
            return verify_run(found)
        except BrokenRunError as err:
            found = BrokenRun(found.path, err.reason)
    raise BrokenRunError(run.id, _source_reason(run.manifest, found), run.manifest)


def _source(path: Path, manifest: dict) -> Run | BrokenRun:
    """The run a resampled run's manifest names (:data:`RESAMPLED_FROM`), as listed.

    A fitted run of the same folder: a name that is not a run id, a missing folder, or a
    run that is itself stored as indices is broken (never followed further).
    """
    name = manifest.get(RESAMPLED_FROM)
    if not isinstance(name, str) or not RUN_ID_PATTERN.match(name):
        return BrokenRun(path, "that is not a run id")
    folder = path.parent / name
    if not folder.is_dir():
        return BrokenRun(folder, "it is missing")
    theirs = _read_manifest(folder)
    if isinstance(theirs, dict) and theirs.get(RESAMPLED_FROM):
        return BrokenRun(folder, "it is stored as indices into another run itself")
    return check_run(folder)


def _source_reason(manifest: dict, source: BrokenRun) -> str:
    return f"its draws are those of run {manifest.get(RESAMPLED_FROM)}, and {source.reason}"


def take_draws(ds: xr.Dataset, idx: np.ndarray) -> xr.Dataset:
    """The draws ``idx`` (flat indices into ``ds``'s (chain, draw), shaped (chain, draw)).

    Parameters
    ----------
    ds : xarray.Dataset
        A group over (chain, draw).
    idx : numpy.ndarray
        Integer array of the new (chain, draw) shape.

    Returns
    -------
    xarray.Dataset
        ``ds`` at those draws, with chain and draw numbered afresh; its attributes kept.
    """
    import numpy as np
    import xarray as xr

    dims = ("chain", "draw")
    ci, di = np.unravel_index(idx.ravel(), (ds.sizes["chain"], ds.sizes["draw"]))
    out = ds.isel(chain=xr.DataArray(ci.reshape(idx.shape), dims=dims),
                  draw=xr.DataArray(di.reshape(idx.shape), dims=dims))
    out = out.drop_vars(list(dims), errors="ignore")
    return out.assign_coords(chain=np.arange(idx.shape[0]), draw=np.arange(idx.shape[1]))


def resampled_tree(parent: xr.DataTree, own: xr.DataTree,
                   posterior: xr.Dataset | None = None) -> xr.DataTree:
    """A reweighted run's whole tree, from its fitted parent's and its own part.

    Parameters
    ----------
    parent : xarray.DataTree
        The fitted parent's tree.
    own : xarray.DataTree
        What the reweighted run's ``run.nc`` holds (:data:`GROUPS_RESAMPLED`): its
        observations and observed data; in ``log_likelihood`` and ``posterior_predictive``
        the terms its added rows changed, already at its own draws; and
        ``resample.parent_draw``.
    posterior : xarray.Dataset, optional
        The parent's posterior at those draws (:func:`take_draws`), when already taken.

    Returns
    -------
    xarray.DataTree
        Every group over draws is the parent's at ``parent_draw``, with the run's own terms
        replacing the parent's of the same name (appended after the others); the prior groups
        are the parent's; the root's attributes are the run's own. ``update`` builds the tree
        it keeps in memory with this same function, so a later read gives the same tree.
    """
    import numpy as np
    import xarray as xr

    idx = np.asarray(own[RESAMPLE]["parent_draw"].values)
    groups: dict[str, xr.Dataset] = {}
    for name in ("posterior", "sample_stats", "log_prior", "log_likelihood",
                 "posterior_predictive"):
        if name not in parent.children:
            continue
        if name == "posterior" and posterior is not None:
            groups[name] = posterior
            continue
        ds = parent[name].to_dataset()
        mine = own[name].to_dataset() if name in own.children else xr.Dataset()
        ds = take_draws(ds[[v for v in ds.data_vars if v not in mine.data_vars]], idx)
        groups[name] = ds.merge(mine, combine_attrs="override") if mine.data_vars else ds
    groups["observed_data"] = own["observed_data"].to_dataset()
    for name in ("prior", "prior_predictive"):
        if name in parent.children:
            groups[name] = parent[name].to_dataset()
    groups["observations"] = own["observations"].to_dataset()
    groups[RESAMPLE] = own[RESAMPLE].to_dataset()
    tree = xr.DataTree.from_dict(groups)
    tree.attrs = dict(own.attrs)
    return tree


@dataclass(frozen=True)
class BrokenRun:
    """A run folder that fails its checks: listed with the reason, never reused or read."""

    path: Path
    reason: str
    manifest: dict | None = None

    @property
    def id(self) -> str:
        """The folder's name (the manifest of a broken run may be missing or wrong)."""
        return self.path.name

    @property
    def created(self) -> str:
        """From the manifest when it has one, else the time in the folder's name."""
        if self.manifest and isinstance(self.manifest.get("created"), str):
            return self.manifest["created"]
        m = re.match(r"^r(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})-", self.path.name)
        if m:
            return f"{m[1]}-{m[2]}-{m[3]}T{m[4]}:{m[5]}:{m[6]}+00:00"
        return datetime.fromtimestamp(self.path.stat().st_mtime, UTC).isoformat(
            timespec="seconds")

    def field(self, name: str) -> object:
        """A manifest field, or ``None`` when the manifest or the field is missing.

        Parameters
        ----------
        name : str
            The field.

        Returns
        -------
        object
        """
        return (self.manifest or {}).get(name)

    @property
    def may_be_default(self) -> bool:
        """Whether it could be a default run (``True`` when the manifest is unreadable)."""
        if not self.manifest:
            return True
        config = self.manifest.get("config")
        name = config.get("name") if isinstance(config, dict) else None
        version = self.manifest.get("model_version")
        return (name in (None, DEFAULT_CONFIG) and not self.manifest.get("cutoff")
                and not self.manifest.get("prior_only")
                and version in (None, MODEL_VERSION))

    def error(self) -> BrokenRunError:
        """The refusal a command raises when it is asked to read this run."""
        return BrokenRunError(self.id, self.reason, self.manifest)


def _first_line(err: BaseException) -> str:
    if isinstance(err, OSError) and err.strerror:
        return err.strerror  # without the path, which the message names already
    text = str(err).strip().splitlines()
    return (text[0] if text else type(err).__name__)[:200]


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
    import numpy as np
    import xarray as xr

    # Fixed-width unicode, the dtype these strings have when a run is read back: a tree kept
    # in memory after saving (:func:`keep_saved_tree`) is then the tree the file holds.
    def text(column: pd.Series) -> np.ndarray:
        # From a list: numpy sizes an object array of empty strings as <U2, a list as <U1.
        return np.array(column.astype(str).tolist(), dtype=str)

    data = {f: ("obs_id", text(frame[f])) for f in FIELDS if f != "id"}
    data["role"] = ("obs_id", text(roles.reindex(frame.index).fillna("")))
    return xr.Dataset(data, coords={"obs_id": text(frame["id"])})


def observations_from_datatree(dt: xr.DataTree) -> pd.DataFrame:
    """The ``observations`` group back as a DataFrame indexed by id."""
    ds = dt["observations"].to_dataset()
    frame = ds.to_dataframe()
    frame.insert(0, "id", frame.index.astype(str))
    return frame


def run_rows(dt: xr.DataTree) -> list[dict[str, str]]:
    """The ledger rows a run was fitted to, as strings (its ``observations`` group).

    Parameters
    ----------
    dt : xarray.DataTree
        A run.

    Returns
    -------
    list of dict
        One row per observation, every ledger field a string (empty when missing); no rows
        when the run stores none.
    """
    if "observations" not in dt.children:
        return []
    obs = dt["observations"].to_dataset()
    ids = [str(i) for i in obs["obs_id"].values]
    cols = {f: [str(v) for v in obs[f].values] if f in obs else [""] * len(ids)
            for f in FIELDS if f != "id"}
    return [{"id": obs_id, **{f: cols[f][n] for f in cols}} for n, obs_id in enumerate(ids)]


def thinned_posterior(dt: xr.DataTree, max_draws: int) -> tuple[xr.Dataset, int]:
    """A run's posterior thinned evenly along each chain to about ``max_draws`` draws.

    Parameters
    ----------
    dt : xarray.DataTree
        A run with a posterior.
    max_draws : int
        How many draws (chains times draws) to keep at most, give or take one per chain.

    Returns
    -------
    (xarray.Dataset, int)
        The posterior keeping every ``step``-th draw of each chain, and ``step`` (the
        smallest that keeps no more than ``max_draws``; 1 keeps them all), for the
        callers that thin other arrays of the same draws alike.
    """
    post = dt["posterior"].to_dataset()
    step = max(1, math.ceil(post.sizes["chain"] * post.sizes["draw"] / max_draws))
    return post.isel(draw=slice(None, None, step)), step


def save_run(dt: xr.DataTree, manifest: dict, runs_dir: Path,
             own: xr.DataTree | None = None) -> Run:
    """Write a run atomically: everything into a temporary folder, then one rename.

    Parameters
    ----------
    dt : xarray.DataTree
        The run's tree.
    manifest : dict
        Its manifest (``run_nc_bytes`` is added).
    runs_dir : pathlib.Path
    own : xarray.DataTree, optional
        What ``run.nc`` holds instead of ``dt``, for a run whose manifest names the fitted
        run it was resampled from (:data:`RESAMPLED_FROM`): ``dt`` is
        :func:`resampled_tree` of the parent's tree and ``own``. A one-row update then
        writes a few MB, not the ~140 MB of draws its parent holds already.

    Returns
    -------
    Run
    """
    if (own is None) != (not manifest.get(RESAMPLED_FROM)):
        raise ValueError(f"a run's own part is stored exactly when its manifest has "
                         f"{RESAMPLED_FROM!r}")
    stored = dt if own is None else own
    for tree in (dt, stored):
        tree.attrs.update(model_version=manifest["model_version"], run_id=manifest["run_id"])
    final = runs_dir / manifest["run_id"]
    # A run folder appears complete, or not at all (a killed save leaves a ``.tmp-*``).
    with atomic_path(final, directory=True, prefix=f".tmp-{manifest['run_id']}-") as tmp:
        stored.to_netcdf(tmp / RUN_FILE, encoding=_storage(stored))
        # What lets a listing check run.nc without opening it (see check_run).
        manifest = {**manifest, "run_nc_bytes": (tmp / RUN_FILE).stat().st_size}
        text = json.dumps(manifest, indent=1, sort_keys=True) + "\n"
        (tmp / MANIFEST).write_text(text)
    # The manifest as the file holds it (keys sorted, JSON's types), as any later read gives
    # it: a report written now lists the priors in the order a later one does.
    return Run(final, json.loads(text))


def _read_only(dt: xr.DataTree) -> xr.DataTree:
    """``dt`` with every array marked read-only, in place; returned for chaining.

    A run's tree is shared: every :class:`Run` of the same file in a process, and every
    shallow copy :meth:`Run.datatree` hands out, hold the same arrays. An in-place edit by
    one caller would change what the others read (and no longer match the file), so it is
    an error instead.
    """
    import numpy as np

    for node in dt.subtree:
        for var in node.variables.values():
            if isinstance(var.data, np.ndarray):
                var.data.flags.writeable = False
    return dt


def keep_saved_tree(run: Run, dt: xr.DataTree) -> Run:
    """``run`` holding ``dt``, the tree just saved as its ``run.nc``, instead of re-reading it.

    For a tree that reads back as it is: numbers, and strings as fixed-width unicode (as
    :func:`observations_to_dataset` makes them); a reweighted run's tree is checked to be so
    by tests/test_reweight.py. ``update`` registers predictions from the run and reports it
    right after saving it (~0.3 s to read back for the shipped ledger).

    Parameters
    ----------
    run : Run
        What :func:`save_run` returned.
    dt : xarray.DataTree
        The tree it saved.

    Returns
    -------
    Run
        ``run``: its file's tree is the one in memory (for any :class:`Run` of it).
    """
    _remember(_identity(run.path / RUN_FILE), _read_only(dt))
    return run


def _storage(dt: xr.DataTree) -> dict[str, dict[str, dict[str, object]]]:
    """How ``run.nc`` stores each numeric variable: floats plain, integers and flags zlib'd.

    The floats are draws of continuous quantities, whose mantissas are noise to zlib: on a
    run of the shipped ledger (20,000 draws, 2026-11-28) zlib level 1 made its 283 MB
    235 MB, and took ~6 s to write (the largest stage of the one-row update) and ~0.6 s more
    to read each time. Stored plain and contiguous the file is 282 MB and writes in ~1 s.
    The integer and boolean sampler statistics (tree depths, divergences) shrink 2-3x at no
    measurable cost, so they stay compressed.

    Every numeric variable gets its encoding here: a tree read from a run (a reweighted
    run's groups are its parent's, resampled) carries the parent file's chunking and
    compression, which xarray would otherwise reuse. An empty variable (a vector with no
    levels, as a backtest's early cutoff has no benchmark variants) cannot be contiguous in
    netCDF ("Invalid argument"): it is stored plain in netCDF's default layout.
    """
    plain = {"zlib": False, "shuffle": False, "contiguous": True, "chunksizes": None}
    empty = {"zlib": False, "shuffle": False}
    packed = {"zlib": True, "complevel": 1}

    def encoding(var: xr.DataArray) -> dict[str, object]:
        if var.dtype.kind != "f":
            return dict(packed)
        return dict(plain if var.size else empty)

    return {
        node.path: {name: encoding(var) for name, var in node.dataset.data_vars.items()
                    if var.dtype.kind in "fiub"}
        for node in dt.subtree if node.has_data
    }


def _read_manifest(path: Path) -> dict | None:
    try:
        return json.loads((path / MANIFEST).read_text())
    except (OSError, json.JSONDecodeError):
        return None


def check_manifest(manifest: object, folder: str) -> str | None:
    """What is wrong with a parsed manifest, or None."""
    if not isinstance(manifest, dict):
        return f"{MANIFEST} is not a JSON object"
    for name, types in MANIFEST_FIELDS.items():
        if name not in manifest:
            return f"{MANIFEST} has no {name!r}"
        value = manifest[name]
        if not isinstance(value, types) or (int in types and isinstance(value, bool)):
            return f"{MANIFEST}: {name!r} is {type(value).__name__}, not {types[0].__name__}"
    if manifest["run_id"] != folder:
        return f"{MANIFEST} names run {manifest['run_id']!r}, not its folder {folder!r}"
    if not isinstance(manifest["config"].get("name"), str):
        return f"{MANIFEST}: the config has no name"
    try:
        datetime.fromisoformat(manifest["created"])
    except ValueError:
        return f"{MANIFEST}: created {manifest['created']!r} is not a time"
    return None


#: Every netCDF-4 file is an HDF5 file, which starts with this signature (the HDF5 file
#: format specification, section II.A; netCDF-C and h5netcdf write no user block).
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def _hdf5_end(head: bytes) -> int | None:
    """The end-of-file address an HDF5 superblock at offset 0 records, or None.

    Superblock versions 0 and 1 store it after the base and free-space addresses (at byte 24
    or 28), versions 2 and 3 after the base and extension addresses (at byte 12); every
    address is ``size of offsets`` bytes, little-endian, relative to the base address.
    """
    if len(head) < 16:
        return None
    version = head[8]
    if version in (0, 1):
        size, start = head[13], 24 if version == 0 else 28
    elif version in (2, 3):
        size, start = head[9], 12
    else:
        return None
    if size not in (2, 4, 8) or len(head) < start + 3 * size:
        return None
    base, end = (int.from_bytes(head[start + i * size:start + (i + 1) * size], "little")
                 for i in (0, 2))
    return base + end


def file_problem(nc: Path, recorded_bytes: object = None) -> str | None:
    """What is wrong with a ``run.nc``, found without opening it as netCDF, or None.

    Parameters
    ----------
    nc : pathlib.Path
        The file.
    recorded_bytes : int, optional
        Its size when the run was saved (the manifest's ``run_nc_bytes``).

    Returns
    -------
    str or None
        The reason it is broken: not an HDF5 (netCDF-4) file, shorter than the end of file
        its superblock records (truncated), or another size than saved (damaged or
        replaced).
    """
    try:
        size = nc.stat().st_size
        with open(nc, "rb") as fh:
            head = fh.read(64)
    except OSError as err:
        return f"{RUN_FILE} does not open ({_first_line(err)})"
    if not head.startswith(HDF5_SIGNATURE):
        return f"{RUN_FILE} does not open (truncated or damaged: not a netCDF-4/HDF5 file)"
    end = _hdf5_end(head)
    if end is None:
        return f"{RUN_FILE} does not open (truncated or damaged: unreadable HDF5 superblock)"
    if size < end:
        return f"{RUN_FILE} does not open (truncated: {size:,} of {end:,} bytes)"
    if isinstance(recorded_bytes, int) and size != recorded_bytes:
        return (f"{RUN_FILE} does not open as saved (damaged or replaced: {size:,} bytes, "
                f"saved {recorded_bytes:,})")
    return None


def groups_problem(nc: Path, prior_only: bool, resampled: bool = False) -> str | None:
    """What is wrong with a ``run.nc`` once opened (netCDF4, no data read), or None.

    Parameters
    ----------
    nc : pathlib.Path
        The file.
    prior_only : bool
        Whether the run has no posterior (then only :data:`GROUPS_ALWAYS` are required).
    resampled : bool
        Whether the file holds a reweighted run's own part (:data:`GROUPS_RESAMPLED`).

    Returns
    -------
    str or None
        The reason: it does not open, or lacks a group a run of its kind holds.
    """
    import netCDF4

    try:
        with netCDF4.Dataset(nc, "r") as ds:
            groups = set(ds.groups)
    except Exception as err:  # any failure to open means a damaged file
        return f"{RUN_FILE} does not open (truncated or damaged: {_first_line(err)})"
    wanted = GROUPS_RESAMPLED if resampled else \
        GROUPS_ALWAYS + (() if prior_only else GROUPS_POSTERIOR)
    missing = [g for g in wanted if g not in groups]
    if missing:
        return f"{RUN_FILE} lacks the group(s) {', '.join(missing)}"
    return None


def check_run(path: Path) -> Run | BrokenRun:
    """A run folder, checked as cheaply as listing allows.

    The manifest parses and has its fields, and ``run.nc`` passes :func:`file_problem`
    (read from its first bytes and size, not opened). A run whose manifest recorded no size
    (saved before sizes were recorded) is opened and its groups checked, as before.

    Parameters
    ----------
    path : pathlib.Path
        A run folder.

    Returns
    -------
    Run or BrokenRun
        The :class:`Run`, or a :class:`BrokenRun` with the reason.
    """
    if not (path / MANIFEST).is_file():
        return BrokenRun(path, f"{MANIFEST} is missing")
    try:
        manifest = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as err:
        return BrokenRun(path, f"{MANIFEST} cannot be read ({_first_line(err)})")
    except json.JSONDecodeError:
        return BrokenRun(path, f"{MANIFEST} is not valid JSON (truncated?)")
    reason = check_manifest(manifest, path.name)
    if reason:
        return BrokenRun(path, reason, manifest if isinstance(manifest, dict) else None)
    nc = path / RUN_FILE
    if not nc.is_file():
        return BrokenRun(path, f"{RUN_FILE} is missing", manifest)
    recorded = manifest.get("run_nc_bytes")
    reason = file_problem(nc, recorded)
    resampled = bool(manifest.get(RESAMPLED_FROM))
    if reason is None and not isinstance(recorded, int):
        reason = groups_problem(nc, manifest["prior_only"], resampled)
    if reason is None and resampled:
        # Its draws are another run's: without that run it cannot be read.
        found = _source(path, manifest)
        if isinstance(found, BrokenRun):
            reason = _source_reason(manifest, found)
    return BrokenRun(path, reason, manifest) if reason else Run(path, manifest)


def verify_run(run: Run) -> Run:
    """The run, once its ``run.nc`` has been opened and holds its groups.

    :func:`check_run` (what listing uses) does not open a file whose size the manifest
    recorded; a command that reads or reuses a run calls this first.

    Parameters
    ----------
    run : Run
        A run that passed :func:`check_run`.

    Returns
    -------
    Run
        ``run``.

    Raises
    ------
    BrokenRunError
        When the file does not open or lacks a group.
    """
    if isinstance(run.manifest.get("run_nc_bytes"), int):  # else check_run opened it already
        reason = groups_problem(run.path / RUN_FILE, bool(run.manifest["prior_only"]),
                                bool(run.manifest.get(RESAMPLED_FROM)))
        if reason:
            raise BrokenRunError(run.id, reason, run.manifest)
    if run.manifest.get(RESAMPLED_FROM):
        resampled_source(run)
    return run


def _run_folders(runs_dir: Path) -> list[Path]:
    """Folders that are (or were meant to be) runs.

    Those named like a run id, or holding a manifest or a ``run.nc``. Hidden folders,
    ``backtests/`` and a user's own folders are not runs.
    """
    if not runs_dir.is_dir():
        return []
    return sorted(p for p in runs_dir.iterdir()
                  if p.is_dir() and not p.name.startswith(".") and p.name != "backtests"
                  and (RUN_ID_PATTERN.match(p.name) or (p / MANIFEST).exists()
                       or (p / RUN_FILE).exists()))


def scan_runs(runs_dir: Path) -> list[Run | BrokenRun]:
    """Every run folder, checked, oldest first (broken ones included)."""
    found = [check_run(p) for p in _run_folders(runs_dir)]
    return sorted(found, key=lambda r: (r.manifest.get("created", "") if isinstance(r, Run)
                                        else r.created, r.id))


def list_runs(runs_dir: Path) -> list[Run]:
    """Runs that look complete (a manifest that parses, a ``run.nc``), oldest first.

    Any model version: a quick listing. :func:`scan_runs` checks each run
    (:func:`check_run`), and every function that picks a run to read or reuse
    (:func:`load_run`, :func:`latest_run`, :func:`find_run`) uses it.

    Parameters
    ----------
    runs_dir : pathlib.Path
        The home's ``runs`` folder.

    Returns
    -------
    list of Run
    """
    found = []
    for path in _run_folders(runs_dir):
        if not (path / RUN_FILE).is_file():
            continue
        manifest = _read_manifest(path)
        if isinstance(manifest, dict) and isinstance(manifest.get("run_id"), str):
            found.append(Run(path, manifest))
    return sorted(found, key=lambda r: str(r.manifest.get("created", "")))


def latest_run(runs_dir: Path) -> Run:
    """The latest run of the default config, all observations, no cutoff, not prior-only.

    Raises
    ------
    BrokenRunError
        When a broken run that may be such a run is newer than the latest good one: it may be
        the one meant, so it is named rather than passed over.
    RunError
        When there is no such run.
    """
    scanned = scan_runs(runs_dir)
    good = [r for r in scanned if isinstance(r, Run) and r.info.is_default]
    newest = good[-1] if good else None
    after = newest.manifest["created"] if newest else ""
    for r in reversed(scanned):
        if isinstance(r, BrokenRun) and r.may_be_default and r.created > after:
            raise r.error()
    if newest is None:
        others = len(scanned)
        hint = (f" ({others} other run(s): name one, see `gpt2030 runs list`)" if others
                else "")
        raise RunError(f"no run of the default config with all observations by model version "
                       f"{MODEL_VERSION} in {runs_dir}{hint}: run `gpt2030 infer`")
    return newest


def load_run(runs_dir: Path, run_id: str | None = None) -> Run:
    """A stored run by id (or unique prefix), or the latest (:func:`latest_run`).

    Raises
    ------
    RunError
        No such run, an ambiguous prefix, or a run saved by another model version;
        :class:`BrokenRunError` for a run that fails its checks.
    """
    if run_id is None or run_id == "latest":
        run = latest_run(runs_dir)
    else:
        scanned = scan_runs(runs_dir)
        if not scanned:
            raise RunError(f"no runs in {runs_dir}: run `gpt2030 infer` first")
        matches = [r for r in scanned if r.id == run_id] or [r for r in scanned
                                                            if r.id.startswith(run_id)]
        if not matches:
            raise RunError(f"no run {run_id!r} in {runs_dir} (`gpt2030 runs list`)")
        if len(matches) > 1:
            raise RunError(f"{run_id!r} matches {len(matches)} runs; give more of the id")
        (found,) = matches
        if isinstance(found, BrokenRun):
            raise found.error()
        run = found
    stored = run.manifest.get("model_version")
    if stored != MODEL_VERSION:
        raise RunError(
            f"run {run.id} was made by model version {stored}, this is {MODEL_VERSION}: its "
            "variables may mean something else; re-run `gpt2030 infer` to refit"
        )
    return verify_run(run)


def find_run(runs_dir: Path, key: str) -> Run | None:
    """The latest complete run of this model version with the given key, if any.

    Broken runs are never returned: ``infer`` fits them again.
    """
    for run in reversed(scan_runs(runs_dir)):
        if isinstance(run, Run) and run.manifest.get("key") == key and \
                run.manifest.get("model_version") == MODEL_VERSION:
            try:
                return verify_run(run)
            except BrokenRunError:
                continue
    return None


def broken_runs_with_key(runs_dir: Path, key: str) -> list[BrokenRun]:
    """Broken runs whose manifest names this key (what ``infer`` is about to fit again)."""
    found = []
    for r in scan_runs(runs_dir):
        if isinstance(r, Run) and r.manifest.get("key") == key:
            try:
                verify_run(r)  # listing did not open it
            except BrokenRunError as err:
                found.append(BrokenRun(r.path, err.reason, r.manifest))
        elif isinstance(r, BrokenRun) and r.field("key") == key:
            found.append(r)
    return found


#: What a run folder may hold, all written by gpt2030: ``runs remove`` deletes these only.
#: Files gpt2030 writes into a run folder (the analyses kept beside a run: VOI_FILE by
#: inference/voi.py, PRIOR_DOMINANCE_FILE by inference/reporting.py).
_RUN_FILES = (MANIFEST, RUN_FILE, "export.csv", "export.nc", VOI_FILE, PRIOR_DOMINANCE_FILE)
_RUN_FOLDERS = ("diagnostics",)


def remove_run(runs_dir: Path, run_id: str) -> Path:
    """Delete one stored run folder (exact id), and only what gpt2030 wrote into it.

    Raises
    ------
    RunError
        No run folder of that name, one holding files gpt2030 did not write (listed;
        nothing is deleted then), or one whose draws reweighted runs index (listed: they
        cannot be read without it; remove them first).
    """
    path = runs_dir / run_id
    if not run_id or "/" in run_id or run_id.startswith(".") or path.is_symlink() or \
            not path.is_dir() or path.name == "backtests" or path.parent != runs_dir:
        raise RunError(f"no run {run_id!r} in {runs_dir} (give the whole id, "
                       "see `gpt2030 runs list`)")
    children = sorted(p.name for p in _run_folders(runs_dir)
                      if isinstance(m := _read_manifest(p), dict)
                      and m.get(RESAMPLED_FROM) == run_id)
    if children:
        raise RunError(f"run {run_id} holds the draws of the reweighted run(s) "
                       f"{', '.join(children)}, which cannot be read without it: remove them "
                       "first (`gpt2030 runs remove ID`); nothing was removed")

    def ours(p: Path) -> bool:
        if p.is_file() and (p.name in _RUN_FILES or (
                p.name.startswith((".manifest-", *(f".{f}-" for f in _RUN_FILES)))
                and p.name.endswith(".tmp"))):  # a temporary of an interrupted write
            return True
        return p.is_dir() and p.name in _RUN_FOLDERS and all(
            q.is_file() and q.suffix in (".png", ".tmp", ".json") for q in p.iterdir())

    foreign = sorted(p.name for p in path.iterdir() if not ours(p))
    if foreign:
        raise RunError(f"{path} holds files gpt2030 did not write ({', '.join(foreign)}): "
                       "move them out first; nothing was removed")
    for p in path.iterdir():
        if p.is_dir():
            shutil.rmtree(p)
        else:
            p.unlink()
    path.rmdir()
    return path


def clean_stale_tmp(runs_dir: Path, max_age: float = STALE_TMP_SECONDS,
                    now: float | None = None) -> list[Path]:
    """Remove ``.tmp-r*`` folders an interrupted ``save_run`` left, once ``max_age`` old."""
    if not runs_dir.is_dir():
        return []
    now = time.time() if now is None else now
    removed = []
    for p in runs_dir.iterdir():
        if not (p.is_dir() and p.name.startswith(".tmp-r")):
            continue
        try:
            age = now - p.stat().st_mtime
        except OSError:
            continue
        if age > max_age:
            shutil.rmtree(p, ignore_errors=True)
            removed.append(p)
    return removed
