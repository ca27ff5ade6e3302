"""End to end: ``gpt2030 infer`` samples for real, reuses, reproduces, and dies cleanly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from gpt2030.cli.main import main
from gpt2030.inference.forecast import HEADLINES

pytestmark = pytest.mark.slow

#: Short runs; every 2nd step kept, as these tests were sized for (not the default 4th).
SMALL = ["--draws", "300", "--thin", "2", "--tune", "300", "--chains", "2"]


def _infer(capsys: pytest.CaptureFixture, *extra: str) -> tuple[str, str]:
    assert main(["infer", "--seed", "1", *SMALL, *extra]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    return out[-1], "\n".join(out)


def test_infer_reuses_then_force_reproduces_identical_draws(home: Path, capsys) -> None:
    first, _ = _infer(capsys)
    again, text = _infer(capsys)
    assert again == first and "reusing" in text

    forced, text = _infer(capsys, "--force")
    assert forced != first and "stored" in text
    a = xr.load_datatree(home / "runs" / first / "run.nc")["posterior"].to_dataset()
    b = xr.load_datatree(home / "runs" / forced / "run.nc")["posterior"].to_dataset()
    for name in ("log_compute_2023", "compute_growth", "speed_vs_human"):
        np.testing.assert_array_equal(a[name].values, b[name].values)

    assert main(["forecast", "--year", "2030", "--format", "json", "--run", first]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert set(HEADLINES) <= set(payload["quantities"])
    compute = payload["quantities"]["training_compute_flop"]
    assert compute["q05"] < compute["q25"] < compute["median"] < compute["q75"] < compute["q95"]
    assert 1e26 < compute["median"] < 1e30

    assert main(["runs", "list", "--format", "json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert {r["run_id"] for r in listed} == {first, forced}
    assert all(r["observations"] > 400 for r in listed)


def test_killed_infer_leaves_no_complete_run(home: Path) -> None:
    env = {**os.environ, "GPT2030_HOME": str(home)}
    cmd = [sys.executable, "-c", "import sys; from gpt2030.cli.main import main; "
           "sys.exit(main(sys.argv[1:]))", "infer", "--seed", "5", *SMALL]
    proc = subprocess.Popen(cmd, env=env, cwd=home, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    time.sleep(12)  # inside model building, compilation or sampling
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    runs = home / "runs"
    complete = [p for p in runs.iterdir() if not p.name.startswith(".")] if runs.exists() else []
    assert complete == []
    assert main(["runs", "list", "--format", "json"]) == 0


def test_update_hands_a_new_fits_figures_over_before_its_diagnostics(
        home: Path, capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    """``update`` starts the report's figures from the fitted tree in memory, before the
    run's diagnostics and save (``infer``'s ``on_posterior``); the report is byte for byte
    the one ``report`` writes later from the stored run."""
    from gpt2030.cli import report as cli_report

    seen = []
    real = cli_report.FigureStart.__call__

    def spy(self, dt: xr.DataTree, manifest: dict) -> None:
        seen.append((manifest["run_id"], "diagnostics" in manifest,
                     (home / "runs" / manifest["run_id"]).exists()))
        real(self, dt, manifest)
        time.sleep(2.0)  # not the run's time

    monkeypatch.setattr(cli_report.FigureStart, "__call__", spy)
    status = main(["update", "--seed", "1", *SMALL])
    assert status in (0, 1)  # 1: a short run's diagnostics may fail; the report is written
    path = Path(capsys.readouterr().out.strip().splitlines()[-1])
    run_id = path.parent.name
    assert seen == [(run_id, False, False)]  # once, before the diagnostics and the save
    # the run's total, measured from the start of its fit to its manifest, is its stages'
    # (posterior holds compile and sampling), not the hook's 2 s besides
    timings = json.loads((home / "runs" / run_id / "manifest.json").read_text())["timings"]
    stages = ("build", "prior_predictive", "posterior", "predictive_and_log_densities",
              "diagnostics")
    assert timings["total"] == pytest.approx(sum(timings[k] for k in stages), abs=0.5)
    assert main(["report", run_id, "--out", str(home / "again")]) in (0, 1)
    written = sorted(p.name for p in path.parent.iterdir())
    assert written == sorted(p.name for p in (home / "again").iterdir())
    for name in written:
        assert (path.parent / name).read_bytes() == (home / "again" / name).read_bytes(), name
