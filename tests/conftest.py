"""Shared fixtures: a temporary gpt2030 home, seeds, and the slow tier switch."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from common import REPO, SEED, SHIPPED_LEDGER

__all__ = ["REPO", "SEED", "SHIPPED_LEDGER"]  # older test modules import them from here


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--run-slow", action="store_true", default=False,
                     help="also run the slow tier (real MCMC sampling)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--run-slow"):
        return
    skip = pytest.mark.skip(reason="slow tier: run with --run-slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(SEED)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A temporary GPT2030_HOME holding a copy of the shipped ledger (never the real one)."""
    (tmp_path / "observations").mkdir()
    shutil.copy(SHIPPED_LEDGER, tmp_path / "observations" / "ledger.csv")
    monkeypatch.setenv("GPT2030_HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    return tmp_path
