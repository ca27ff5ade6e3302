"""Listing runs reads manifests only; the run a command reads is opened (issue 9's checks kept)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from gpt2030.inference import runs as runs_module
from gpt2030.inference.runs import (
    MANIFEST,
    RUN_FILE,
    BrokenRun,
    BrokenRunError,
    Run,
    _hdf5_end,
    check_run,
    find_run,
    load_run,
    save_run,
    scan_runs,
)
from gpt2030.models import MODEL_VERSION

RUN_ID = "r20300101T000000-abcdefabcdef"


def tree(prior_only: bool = True, groups_missing: tuple[str, ...] = ()) -> xr.DataTree:
    rng = np.random.default_rng(7)
    draws = xr.Dataset({"a": (("chain", "draw"), rng.normal(size=(2, 50)))})
    obs = xr.Dataset({"kind": ("obs_id", np.array(["x", "y"]))}, coords={"obs_id": ["o1", "o2"]})
    groups = {"prior": draws, "prior_predictive": draws, "observations": obs}
    if not prior_only:
        groups |= {g: draws for g in ("posterior", "posterior_predictive", "log_likelihood",
                                      "sample_stats")}
    return xr.DataTree.from_dict({g: d for g, d in groups.items() if g not in groups_missing})


def manifest(run_id: str = RUN_ID, prior_only: bool = True) -> dict:
    return {"run_id": run_id, "key": "k" * 12, "created": "2030-01-01T00:00:00+00:00",
            "model_version": MODEL_VERSION, "observation_hash": "h", "n_observations": 2,
            "config": {"name": "default"}, "sampler": {}, "seed": 1, "cutoff": None,
            "prior_only": prior_only, "timings": {}, "verdict": "pass"}


@pytest.fixture
def saved(tmp_path: Path) -> Run:
    return save_run(tree(prior_only=False), manifest(prior_only=False), tmp_path / "runs")


def forbid_opening(monkeypatch: pytest.MonkeyPatch) -> None:
    """From here on, opening any netCDF file fails the test."""
    import netCDF4

    def refuse(*args: object, **kwargs: object):
        raise AssertionError("a run.nc was opened")

    monkeypatch.setattr(netCDF4, "Dataset", refuse)
    monkeypatch.setattr(xr, "open_datatree", refuse)
    monkeypatch.setattr(xr, "load_datatree", refuse)


def test_save_records_the_size_the_superblock_agrees_with(saved: Run) -> None:
    nc = saved.path / RUN_FILE
    stored = json.loads((saved.path / MANIFEST).read_text())
    assert stored["run_nc_bytes"] == nc.stat().st_size == saved.manifest["run_nc_bytes"]
    assert _hdf5_end(nc.read_bytes()[:64]) == nc.stat().st_size


def test_save_returns_the_manifest_as_stored(tmp_path: Path) -> None:
    # keys sorted and JSON's types, as a later load gives it: a report written right after
    # the save lists the priors in the order a later report does
    made = {**manifest(prior_only=False), "priors_order": {"z": 1, "a": (2, 3)}}
    run = save_run(tree(prior_only=False), made, tmp_path / "runs")
    stored = json.loads((run.path / MANIFEST).read_text())
    assert run.manifest == stored and list(run.manifest) == list(stored)
    assert list(run.manifest["priors_order"]) == ["a", "z"]
    assert run.manifest["priors_order"]["a"] == [2, 3]
    assert load_run(tmp_path / "runs", run.id).manifest == run.manifest


def test_listing_opens_no_run_file(saved: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    forbid_opening(monkeypatch)
    (found,) = scan_runs(saved.path.parent)
    assert isinstance(found, Run) and found.id == RUN_ID


@pytest.mark.parametrize("keep", [0.999, 0.5, 0.001])
def test_a_truncated_file_is_broken_without_opening_it(
        saved: Run, keep: float, monkeypatch: pytest.MonkeyPatch) -> None:
    nc = saved.path / RUN_FILE
    data = nc.read_bytes()
    nc.write_bytes(data[:max(1, int(len(data) * keep))])
    forbid_opening(monkeypatch)
    (found,) = scan_runs(saved.path.parent)
    assert isinstance(found, BrokenRun) and found.reason.startswith(f"{RUN_FILE} does not open")


def test_a_replaced_file_is_broken_without_opening_it(
        saved: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    tree(prior_only=False, groups_missing=("posterior",)).to_netcdf(saved.path / RUN_FILE)
    forbid_opening(monkeypatch)
    found = check_run(saved.path)
    assert isinstance(found, BrokenRun) and "damaged or replaced" in found.reason


def test_a_run_saved_before_sizes_were_recorded_is_opened_when_listed(saved: Run) -> None:
    path = saved.path / MANIFEST
    old = {k: v for k, v in json.loads(path.read_text()).items() if k != "run_nc_bytes"}
    path.write_text(json.dumps(old))
    assert isinstance(check_run(saved.path), Run)
    tree(prior_only=False, groups_missing=("posterior",)).to_netcdf(saved.path / RUN_FILE)
    found = check_run(saved.path)
    assert isinstance(found, BrokenRun) and found.reason == f"{RUN_FILE} lacks the group(s) " \
        "posterior"


def test_the_run_asked_for_is_opened(saved: Run) -> None:
    """A file of the recorded size that lacks a group passes listing, not reading."""
    nc = saved.path / RUN_FILE
    tree(prior_only=False, groups_missing=("sample_stats",)).to_netcdf(nc)
    path = saved.path / MANIFEST
    path.write_text(json.dumps({**json.loads(path.read_text()),
                                "run_nc_bytes": nc.stat().st_size}))
    runs_dir = saved.path.parent
    assert isinstance(check_run(saved.path), Run)
    for read in (lambda: load_run(runs_dir, RUN_ID), lambda: load_run(runs_dir)):
        with pytest.raises(BrokenRunError, match=r"lacks the group\(s\) sample_stats"):
            read()
    assert find_run(runs_dir, "k" * 12) is None  # never reused: infer fits it again
    (broken,) = runs_module.broken_runs_with_key(runs_dir, "k" * 12)
    assert broken.id == RUN_ID and "sample_stats" in broken.reason


def test_a_good_run_loads(saved: Run) -> None:
    assert load_run(saved.path.parent).id == RUN_ID
    assert find_run(saved.path.parent, "k" * 12).id == RUN_ID
    assert runs_module.broken_runs_with_key(saved.path.parent, "k" * 12) == []


def test_floats_are_stored_plain_and_counts_compressed_whatever_the_tree_carries(
        tmp_path: Path) -> None:
    # A reweighted run's groups come from its parent's file and carry that file's zlib
    # chunking; save_run must store the floats plain (fast to write and read) regardless.
    import netCDF4

    dt = tree(prior_only=False)
    dt["sample_stats"] = dt["sample_stats"].to_dataset().assign(
        tree_depth=(("chain", "draw"), np.full((2, 50), 7, dtype=np.int64)),
        diverging=(("chain", "draw"), np.zeros((2, 50), dtype=bool)))
    parent = tmp_path / "parent.nc"
    dt.to_netcdf(parent, encoding={"/posterior": {"a": {"zlib": True, "complevel": 4,
                                                        "chunksizes": (1, 10)}}})
    inherited = xr.load_datatree(parent)
    assert inherited["posterior"]["a"].encoding["zlib"]
    run = save_run(inherited, manifest(prior_only=False), tmp_path / "runs")
    with netCDF4.Dataset(run.path / RUN_FILE) as nc:
        a = nc["posterior"]["a"]
        assert a.filters()["zlib"] is False and a.chunking() == "contiguous"
        for name in ("tree_depth", "diverging"):
            assert nc["sample_stats"][name].filters()["zlib"] is True
    back = xr.load_datatree(run.path / RUN_FILE)
    xr.testing.assert_identical(back["posterior"].to_dataset(),
                                inherited["posterior"].to_dataset())
    assert back["sample_stats"]["diverging"].dtype == bool


def test_a_file_is_read_once_per_process_until_it_changes(
        saved: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    # update reads the fitted parent to reweight it, and its report compares the new run
    # with that parent through another Run object: the file is read once.
    reads = []
    real = xr.load_datatree
    monkeypatch.setattr(xr, "load_datatree", lambda p, *a, **k: reads.append(p) or real(p))
    first = Run(saved.path, saved.manifest).datatree()
    second = Run(saved.path, saved.manifest).datatree()
    assert len(reads) == 1
    xr.testing.assert_identical(first, second)
    second["posterior"] = second["posterior"].to_dataset().drop_vars("a")  # a caller's edit
    assert "a" in Run(saved.path, saved.manifest).datatree()["posterior"]
    # An edit in place would change every holder's tree: the shared arrays refuse it.
    with pytest.raises(ValueError, match="read-only"):
        first["posterior"]["a"].values[0, 0] = -1.0
    assert Run(saved.path, saved.manifest).datatree()["posterior"]["a"].values[0, 0] != -1.0
    # The file replaced (as a new run folder's would be): read again, and damage is seen.
    nc = saved.path / RUN_FILE
    data = nc.read_bytes()
    nc.unlink()
    nc.write_bytes(data[: len(data) // 2])
    with pytest.raises(BrokenRunError):
        Run(saved.path, saved.manifest).datatree()
    assert len(reads) == 2
