"""Issue #2: the project installs as one ``gpt2030`` namespace with a console script."""

from __future__ import annotations

import importlib.metadata
import importlib.resources
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO

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
    assert script.value == "gpt2030.cli.main:main"
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


def test_ledger_ships_as_package_data() -> None:
    shipped = importlib.resources.files("gpt2030.observations") / "ledger.csv"
    assert shipped.is_file()
    assert shipped.read_bytes() == (REPO / "observations" / "ledger.csv").read_bytes()


def test_distribution_metadata() -> None:
    dist = importlib.metadata.distribution("gpt2030")
    requires = " ".join(dist.requires or [])
    for dep in ("pymc", "arviz", "nutpie", "filelock"):
        assert dep in requires
