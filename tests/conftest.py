"""Shared fixtures: a temporary gpt2030 home, seeds, the slow tier switch, and two ways to
keep the fast tier fast where a test exercises the pipeline around a report or a run's
diagnostics rather than their content (``fast_pipeline``)."""

from __future__ import annotations

import contextlib
import shutil
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from common import PAYLOAD, REPO, SEED, SHIPPED_LEDGER
from filelock import FileLock
from fixture_runs import SMALL, install, memoized, share_between_workers, shared_folder

__all__ = ["REPO", "SEED", "SHIPPED_LEDGER"]  # older test modules import them from here


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--run-slow", action="store_true", default=False,
                     help="also run the slow tier (real MCMC sampling, heavy commands end to end)")


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


@pytest.fixture(scope="session", autouse=True)
def _share_memoized(tmp_path_factory: pytest.TempPathFactory) -> None:
    """pytest-xdist's workers share :func:`fixture_runs.memoized` results (this session's)."""
    share_between_workers(shared_folder(tmp_path_factory.getbasetemp()))


@pytest.fixture(scope="session")
def small_report_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The small fixture run's real report (figures rasterised), rendered once a session
    (once for all pytest-xdist workers) with a hostile observation injected;
    test_reports.py and the browser test read it (never write into it)."""
    shared = shared_folder(tmp_path_factory.getbasetemp())
    with FileLock(str(shared / "small-report.lock")):
        out = shared / "small-report" / SMALL
        if not (out / "report.html").is_file():
            _write_small_report(tmp_path_factory, out)
    return out


def _write_small_report(tmp_path_factory: pytest.TempPathFactory, out: Path) -> None:
    import xarray as xr

    from gpt2030.inference.runs import load_run
    from gpt2030.reports.report import write_report

    run = load_run(install(tmp_path_factory.mktemp("report-home"), SMALL), SMALL)
    dt = run.datatree()
    obs = dt["observations"].to_dataset()
    evil = obs.isel(obs_id=[0]).assign_coords(obs_id=[f"evil-{PAYLOAD}"])
    for field in ("note", "source", "subject"):
        evil[field] = ("obs_id", np.array([f"{PAYLOAD} | pipe https://example.org/x?a=1&b=2"]))
    dt["observations"] = xr.concat([obs, evil], dim="obs_id")
    assert write_report(run, out, dt=dt) == out / "report.html"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A temporary GPT2030_HOME holding a copy of the shipped ledger (never the real one)."""
    (tmp_path / "observations").mkdir()
    shutil.copy(SHIPPED_LEDGER, tmp_path / "observations" / "ledger.csv")
    monkeypatch.setenv("GPT2030_HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _tiny_png() -> bytes:
    """A valid 1 x 1 white PNG, written by hand (nothing drawn)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)  # 1x1, 8-bit RGB
    pixels = zlib.compress(b"\x00\xff\xff\xff")
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels)
            + chunk(b"IEND", b""))


@pytest.fixture
def fast_pipeline(monkeypatch: pytest.MonkeyPatch) -> None:
    """For tests of commands and files around a report, not of its pictures or numbers.

    Two stand-ins, both outside what such a test asserts. A report's figures are built as
    usual but not rasterised (the report's renderer gives a 1 x 1 PNG; rasterising is half a
    report's time). And the pure functions of a run's draws that cost seconds (its
    diagnostics ``check``, the report's ``influence_table`` and ``prior_dominance``) are
    computed once per set of draws and arguments in a session: the fixture runs' draws are
    read again and again by every command that stores or reports them. The real figures
    are tested in test_reports.py and the browser test; those functions in
    test_diagnostics.py, test_compare_influence_export.py and test_reports.py.
    """
    from gpt2030.inference import diagnostics, reweight
    from gpt2030.reports import png as renderers
    from gpt2030.reports import sections

    class TinyRenderer:  # a Renderer without a worker whose every figure is ``png``
        has_worker = False

        def __call__(self, make, *args, **kwargs) -> bytes:
            make(*args, **kwargs)  # built (what a test of the report reaches), not drawn
            return png

    png = _tiny_png()
    for module in (sections, renderers):  # a report's own renderer, and update's
        monkeypatch.setattr(module, "Renderer", lambda: contextlib.nullcontext(TinyRenderer()))
    check = memoized(diagnostics.check)
    monkeypatch.setattr(diagnostics, "check", check)
    monkeypatch.setattr(reweight, "check", check)
    for name in ("influence_table", "prior_dominance"):
        monkeypatch.setattr(sections, name, memoized(getattr(sections, name)))
