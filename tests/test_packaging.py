"""Issue #2: the project installs as one ``gpt2030`` namespace with a console script."""

from __future__ import annotations

import importlib.metadata
import importlib.resources
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from common import REPO

TOP_LEVEL = ("observations", "models", "inference", "reports", "cli")


def python_in(cwd: Path, code: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


@pytest.fixture(scope="module")
def outside(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("outside")
    assert REPO not in path.parents
    return path


@pytest.mark.parametrize("name", TOP_LEVEL)
def test_generic_top_level_names_are_not_importable(outside: Path, name: str) -> None:
    result = python_in(outside, f"import {name}")
    assert result.returncode != 0
    assert "ModuleNotFoundError" in result.stderr


def test_namespaced_packages_import_outside_the_repo(outside: Path) -> None:
    code = ("import gpt2030.models, gpt2030.observations, gpt2030.inference, gpt2030.cli, "
            "gpt2030.reports; from gpt2030.models import build_model; "
            "from gpt2030.cli.main import main; print(gpt2030.models.__name__)")
    result = python_in(outside, code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "gpt2030.models"


def test_console_script_exists_and_runs(outside: Path) -> None:
    (script,) = [ep for ep in importlib.metadata.entry_points(group="console_scripts")
                 if ep.name == "gpt2030"]
    assert script.value == "gpt2030.cli.main:run"
    exe = Path(sys.executable).parent / "gpt2030"
    assert exe.is_file() and os.access(exe, os.X_OK)
    result = subprocess.run([str(exe), "--help"], cwd=outside, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    assert "observe" in result.stdout


def test_module_entry_point_runs(outside: Path) -> None:
    env = {**os.environ, "GPT2030_HOME": str(REPO)}
    result = subprocess.run([sys.executable, "-m", "gpt2030.cli.main", "observe", "validate"],
                            cwd=outside, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ok:")
    refused = subprocess.run([sys.executable, "-m", "gpt2030.cli.main", "report", "r-none"],
                             cwd=outside, env=env, capture_output=True, text=True, timeout=300)
    assert refused.returncode == 2 and refused.stderr.startswith("gpt2030: ")  # main's status


def test_the_command_tunes_the_collector_for_its_own_process(outside: Path) -> None:
    """``run`` (the command) collects garbage less often and freezes every object before it
    exits; ``main`` (what tests call) leaves the collector alone."""
    code = ("import atexit, gc, sys\n"
            "from gpt2030.cli.main import GC_THRESHOLD, main, run\n"
            "before = gc.get_threshold()\n"
            "assert main(['observe', 'validate']) == 0 and gc.get_threshold() == before\n"
            "atexit.register(lambda: print(gc.get_threshold() == GC_THRESHOLD,"
            " gc.get_freeze_count() > 1000))\n"
            "run(['observe', 'validate'])\n")
    env = {**os.environ, "GPT2030_HOME": str(REPO)}
    result = subprocess.run([sys.executable, "-c", code], cwd=outside, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "True True"


def test_ledger_ships_as_package_data() -> None:
    shipped = importlib.resources.files("gpt2030.observations") / "ledger.csv"
    assert shipped.is_file()
    assert shipped.read_bytes() == (REPO / "observations" / "ledger.csv").read_bytes()


def test_distribution_metadata() -> None:
    dist = importlib.metadata.distribution("gpt2030")
    requires = " ".join(dist.requires or [])
    for dep in ("pymc", "arviz", "nutpie", "filelock"):
        assert dep in requires


@pytest.mark.slow
def test_wheel_installs_and_runs_in_a_fresh_venv(tmp_path: Path) -> None:
    """Build the wheel, install it alone into a new venv outside the repo, and run it.

    The new venv gets the wheel and nothing else (``--no-deps``); the third-party
    dependencies come from this environment's site-packages through ``PYTHONPATH``. That
    folder holds gpt2030 only as an editable finder activated by a ``.pth`` file, which
    Python reads only for site directories, never for ``PYTHONPATH`` entries: so every
    ``gpt2030`` module the commands import must come from the wheel itself.
    """
    import sysconfig

    assert REPO not in tmp_path.parents
    clean = {k: v for k, v in os.environ.items()
             if k not in ("PYTHONPATH", "PYTHONHOME", "GPT2030_HOME", "VIRTUAL_ENV")}

    def run(*cmd: str | Path, cwd: Path = tmp_path,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env or clean,
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, f"{cmd}\n{result.stdout}\n{result.stderr}"
        return result

    # Build from a copy: setuptools writes build/ and *.egg-info beside the sources.
    source = tmp_path / "source"
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(
        ".*", "build", "dist", "*.egg-info", "runs", "__pycache__", "tests", "benchmarks"))
    # The shipped backtest record (package data); the test fixture's until one is shipped.
    record = source / "inference" / "data" / "backtest-default.json"
    if not record.exists():
        record.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / "tests" / "data" / "backtest-default.json", record)
    dist = tmp_path / "dist"
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
        "--no-index", "--quiet", "--wheel-dir", dist, source)
    (wheel,) = dist.glob("gpt2030-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for package in TOP_LEVEL:
        assert f"gpt2030/{package}/__init__.py" in names, package
    assert "gpt2030/observations/ledger.csv" in names
    assert "gpt2030/inference/data/backtest-default.json" in names
    assert not any(n.startswith(("tests/", "gpt2030/tests/")) for n in names)

    venv = tmp_path / "venv"
    run(getattr(sys, "_base_executable", sys.executable), "-m", "venv", "--without-pip", venv)
    run(sys.executable, "-m", "pip", "--python", venv / "bin" / "python", "install",
        "--no-deps", "--no-index", "--quiet", wheel)
    env = {**clean, "PYTHONPATH": sysconfig.get_paths()["purelib"]}
    home = tmp_path / "home"
    where = run(venv / "bin" / "python", "-c",
                "import gpt2030.cli.main as m, importlib.resources as r; print(m.__file__); "
                "print(r.files('gpt2030.observations') / 'ledger.csv')", env=env)
    module, ledger = where.stdout.split()
    assert Path(module).is_relative_to(venv), module  # not the repo's editable install
    (home / "observations").mkdir(parents=True)
    shutil.copy(ledger, home / "observations" / "ledger.csv")

    helped = run(venv / "bin" / "gpt2030", "--help", cwd=home, env=env)
    for command in ("observe", "infer", "diagnose", "report", "backtest"):
        assert command in helped.stdout
    validated = run(venv / "bin" / "gpt2030", "observe", "validate", cwd=home,
                    env={**env, "GPT2030_HOME": str(home)})
    assert validated.stdout.startswith("ok:"), validated.stdout
    # The report of a home without backtests finds the record inside the installed wheel.
    quoted = run(venv / "bin" / "python", "-c",
                 "from gpt2030.inference.reporting import latest_backtest as b; "
                 "t = b(__import__('pathlib').Path('runs')); print(t.shipped, t.name)",
                 cwd=home, env=env)
    assert quoted.stdout.split() == ["True", json.loads(record.read_text())["name"]]


def test_the_parser_loads_no_heavy_library(outside: Path) -> None:
    """``gpt2030 --help``, ``observe`` and ``runs`` start in a fraction of a second: building
    the parser imports neither PyMC (seconds) nor pandas or xarray."""
    code = ("import sys; from gpt2030.cli.main import build_parser; build_parser(); "
            "print(sorted(m for m in ('pymc', 'pytensor', 'pandas', 'xarray', 'arviz', "
            "'matplotlib') if m in sys.modules))")
    env = {**os.environ, "PYTHONPATH": os.environ.get("PYTHONPATH", "")}
    result = subprocess.run([sys.executable, "-c", code], cwd=outside, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
