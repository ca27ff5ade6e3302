"""The run store and ``gpt2030 diagnose``, on stored fixture runs (no sampling).

Fixtures (``tests/data/runs``, built by ``tests/data/make_fixtures.py``): a small healthy-ish
run (2 chains x 100 draws) and a deliberately broken one (nutpie, ``--tune 10 --draws 20``).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from fixture_runs import BROKEN, FIXTURES, SMALL, install

from gpt2030.cli.main import main
from gpt2030.inference.diagnostics import (
    PPC_COVERAGE90_MIN,
    PPC_MIN_OBS,
    PSENSE_THRESHOLD,
    check,
    predictive_fit,
)
from gpt2030.inference.runs import (
    MANIFEST,
    RUN_FILE,
    RunError,
    list_runs,
    load_run,
    save_run,
)
from gpt2030.models import MODEL_VERSION


def manifest_of(run_id: str) -> dict:
    return json.loads((FIXTURES / run_id / MANIFEST).read_text())


@pytest.fixture(scope="module")
def small_dt() -> xr.DataTree:
    return xr.load_datatree(FIXTURES / SMALL / RUN_FILE)


@pytest.fixture(scope="module")
def broken_dt() -> xr.DataTree:
    return xr.load_datatree(FIXTURES / BROKEN / RUN_FILE)


# --- the run store ------------------------------------------------------------------------


def test_store_round_trip(tmp_path: Path, small_dt: xr.DataTree) -> None:
    runs = tmp_path / "runs"
    manifest = {**manifest_of(SMALL), "run_id": "r20300101T000000-abc",
                "created": "2030-01-01T00:00:00+00:00"}
    run = save_run(small_dt.copy(), manifest, runs)
    assert run.path == runs / "r20300101T000000-abc"
    assert sorted(p.name for p in run.path.iterdir()) == [MANIFEST, RUN_FILE]
    loaded = load_run(runs, "r20300101")  # a unique prefix
    assert loaded.id == "r20300101T000000-abc"
    assert loaded.manifest == json.loads(json.dumps(manifest))
    for key in ("key", "model_version", "n_observations", "sampler", "seed", "diagnostics",
                "verdict", "packages"):
        assert key in loaded.manifest
    dt = loaded.datatree()
    assert dt.attrs["run_id"] == "r20300101T000000-abc"
    assert dt.attrs["model_version"] == MODEL_VERSION
    np.testing.assert_array_equal(dt["posterior"]["compute_growth"].values,
                                  small_dt["posterior"]["compute_growth"].values)
    obs = loaded.observations()
    assert len(obs) == small_dt["observations"].sizes["obs_id"]
    assert {"id", "kind", "value", "role"} <= set(obs.columns)
    assert load_run(runs).id == loaded.id  # latest
    assert [r.id for r in list_runs(runs)] == [loaded.id]


def test_store_refuses_other_model_version_and_lists_only_complete_runs(home: Path) -> None:
    runs = install(home, SMALL)
    manifest = json.loads((runs / SMALL / MANIFEST).read_text())
    manifest["model_version"] = "0.0.1"
    (runs / SMALL / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(RunError, match=r"model version 0\.0\.1"):
        load_run(runs, SMALL)
    assert main(["diagnose", SMALL, "--no-plots"]) == 2  # a clean refusal, not a traceback

    # an interrupted save: a hidden temporary folder, even one holding both files
    tmp = runs / f".tmp-{BROKEN}-x1y2"
    shutil.copytree(FIXTURES / BROKEN, tmp)
    assert [r.id for r in list_runs(runs)] == [SMALL]
    with pytest.raises(RunError, match="no run"):
        load_run(runs, BROKEN)


def test_list_runs_sorted_by_creation(home: Path) -> None:
    runs = install(home, SMALL, BROKEN)
    created = [r.manifest["created"] for r in list_runs(runs)]
    assert created == sorted(created)
    assert load_run(runs).id == BROKEN  # the newest


# --- diagnose: the broken run -------------------------------------------------------------


def test_check_fails_broken_run_on_sampler_checks(broken_dt: xr.DataTree) -> None:
    report = check(broken_dt, sensitivity=False)
    assert report.verdict == "fail" and not report.ok
    failed = {c.name: c for c in report.failures}
    assert {"r_hat", "ess_bulk", "ess_tail"} <= set(failed)
    assert failed["r_hat"].value > 1.01
    assert failed["ess_bulk"].value < 400
    json.dumps(report.to_dict())  # the manifest stores it


def test_diagnose_cli_broken_run_exits_1_and_names_failures(
        home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    install(home, BROKEN)
    assert main(["diagnose", BROKEN, "--no-plots"]) == 1
    out = capsys.readouterr().out
    assert "verdict FAIL" in out
    last = out.strip().splitlines()[-1]
    assert last.startswith("verdict: fail")
    report = check(xr.load_datatree(FIXTURES / BROKEN / RUN_FILE), sensitivity=False)
    for c in report.failures:  # every failing check, with its value
        assert c.name in last
        assert f"{c.value:.4g}" in last
    assert not (home / "runs" / BROKEN / "diagnostics").exists()  # --no-plots


# --- diagnose: the small run --------------------------------------------------------------


def test_diagnose_json_structure_and_plots(home: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    install(home, SMALL)
    status = main(["diagnose", SMALL, "--format", "json"])
    data = json.loads(capsys.readouterr().out)
    assert status == (0 if data["verdict"] == "pass" else 1)
    assert data["run_id"] == SMALL and data["prior_only"] is False
    names = [c["name"] for c in data["checks"]]
    for name in ("r_hat", "ess_bulk", "ess_tail", "divergences", "treedepth", "e_bfmi"):
        assert name in names
    assert data["verdict"] == ("pass" if all(c["passed"] for c in data["checks"]) else "fail")
    terms = {t["term"]: t for t in data["terms"]}
    assert terms["compute"]["n"] == 30 and terms["speed"]["n"] == 206
    for t in terms.values():
        assert 0 <= t["coverage50"] <= t["coverage90"] <= 1
        assert t["checked"] == (t["n"] >= PPC_MIN_OBS)
        assert (f"ppc_coverage90:{t['term']}" in names) == t["checked"]
    # the worst-fitting observations name ledger ids of the run, most extreme first
    ids = set(xr.load_datatree(FIXTURES / SMALL / RUN_FILE)["observations"]["obs_id"].values)
    tails = [o["tail_probability"] for o in data["worst_fit"]]
    assert len(tails) == 10 and tails == sorted(tails)
    assert all(o["obs_id"] in ids for o in data["worst_fit"])
    # sensitivity rows are the flagged ones only
    assert all(s["diagnosis"].startswith("potential") for s in data["sensitivity"])
    assert data["sensitivity_threshold"] == PSENSE_THRESHOLD
    # plots, beside the run
    plots = sorted(Path(p).name for p in data["plots"])
    assert plots == ["predictive_check.png", "rank.png", "sensitivity.png"]
    for p in data["plots"]:
        assert Path(p).parent == home / "runs" / SMALL / "diagnostics"
        assert Path(p).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_coverage_check_fails_when_a_term_is_misfit(small_dt: xr.DataTree) -> None:
    dt = small_dt.copy()
    base = check(dt, sensitivity=False)
    assert next(c for c in base.checks if c.name == "ppc_coverage90:speed").passed
    observed = dt["observed_data"].to_dataset()
    observed["speed_obs"] = observed["speed_obs"] + 3.0  # 1000x faster than anything predicted
    dt["observed_data"] = observed
    report = check(dt, sensitivity=False)
    speed = next(c for c in report.checks if c.name == "ppc_coverage90:speed")
    assert speed.value == 0.0 and not speed.passed
    assert speed.value < PPC_COVERAGE90_MIN
    assert report.verdict == "fail"
    terms, fits = predictive_fit(dt)
    assert next(t for t in terms if t.term == "speed").coverage90 == 0.0
    # every speed row is now far in the upper tail
    speed_fits = [f for f in fits if f.term == "speed"]
    assert all(f.loo_pit > 0.99 for f in speed_fits)
    assert fits[0].term == "speed"


def test_diagnose_prior_only_run_exits_0(home: Path, small_dt: xr.DataTree,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    dt = xr.DataTree.from_dict({g: small_dt[g].to_dataset() for g in
                                ("prior", "prior_predictive", "observations")})
    manifest = {**manifest_of(SMALL), "run_id": "r20300101T000000-prior", "prior_only": True,
                "created": "2030-01-01T00:00:00+00:00"}
    save_run(dt, manifest, home / "runs")
    assert main(["diagnose", "r20300101T000000-prior"]) == 0
    out = capsys.readouterr().out
    assert "prior-only" in out
    assert main(["diagnose", "r20300101T000000-prior", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["prior_only"] is True and data["verdict"] == "pass" and data["checks"] == []
    assert not (home / "runs" / "r20300101T000000-prior" / "diagnostics").exists()
