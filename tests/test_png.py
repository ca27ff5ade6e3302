"""The report's figure renderer: a worker process's bytes are this process's bytes.

The worker is handed a figure function and its arguments: here the PIT histogram's
(:func:`~gpt2030.reports.figures.fig_pit`), whose counts are plain data."""

from __future__ import annotations

import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from common import SEED

from gpt2030.reports.figures import fig_pit
from gpt2030.reports.png import TAKE_BACK_QUEUE, Renderer, draw


def _counts(k: int) -> tuple[int, ...]:
    """A PIT histogram's counts, one set per ``k``."""
    return tuple(int(c) for c in np.random.default_rng(SEED + k).integers(0, 20, size=10))


def _want(k: int) -> bytes:
    return draw(fig_pit, _counts(k))


def test_the_worker_draws_the_same_bytes_and_leaves_no_files() -> None:
    with Renderer() as render:
        assert render._worker is not None  # two cores or more here: a worker runs
        # its own folder (another test process may have a renderer's folder beside it)
        folder = Path(render._folder.name)
        assert folder.is_dir() and folder.name.startswith("gpt2030-figures-")
        pending = [render(fig_pit, _counts(k)) for k in range(4)]
        assert all(render.wait_for(p.path) for p in pending)  # all drawn before asked for
        got = [p.result() for p in pending]
        assert all(p.by_worker for p in pending)
        worker = render._worker
    assert worker.returncode == 0  # its input ended: it exited, and cleanly
    assert got == [_want(k) for k in range(4)]
    assert got[0].startswith(b"\x89PNG") and len(set(got)) == 4
    assert not folder.exists()


def test_a_dead_worker_or_none_means_drawn_here(monkeypatch: pytest.MonkeyPatch) -> None:
    want = [_want(k) for k in range(3)]
    with Renderer() as render:
        first = render(fig_pit, _counts(0))
        render._worker.kill()  # dies with a figure pending
        render._worker.wait()
        rest = [render(fig_pit, _counts(k)) for k in (1, 2)]
        assert [p.result() for p in [first, *rest]] == want
        assert render._worker is None
    monkeypatch.setattr(sys, "executable", "/nonexistent/python")
    with Renderer() as render:  # the worker cannot start
        assert render._worker is None
        assert render(fig_pit, _counts(0)).result() == want[0]


def test_a_figure_not_yet_begun_is_drawn_here_and_skipped_by_the_worker() -> None:
    """The report takes back what the worker has not begun when enough figures wait."""
    n = TAKE_BACK_QUEUE + 1
    want = [_want(k) for k in range(n + 1)]
    with Renderer() as render:
        pending = [render(fig_pit, _counts(k)) for k in range(n)]
        # Asked for at once: the worker (a new process) has begun the first at most, so the
        # last waits behind TAKE_BACK_QUEUE others and is drawn here.
        assert pending[-1].result() == want[n - 1] and not pending[-1].by_worker
        assert render.drawn_here == 1
        assert render.wait_for(pending[0].path)
        assert pending[0].result() == want[0] and pending[0].by_worker
        later = render(fig_pit, _counts(n))
        assert render.wait_for(later.path)  # the worker skipped the taken one, serves on
        assert later.result() == want[n] and later.by_worker
        assert render._worker is not None


def test_a_short_queue_is_left_to_the_worker() -> None:
    """With fewer than TAKE_BACK_QUEUE figures waiting, the report waits for the worker
    rather than import matplotlib for a figure the worker is about to draw."""
    want = [_want(k) for k in range(2)]
    with Renderer() as render:
        first, second = render(fig_pit, _counts(0)), render(fig_pit, _counts(1))
        assert render.queued() <= 2
        assert second.result() == want[1] and second.by_worker
        assert first.result() == want[0] and first.by_worker
        assert render.drawn_here == 0 and render.queued() == 0


def test_a_figure_that_does_not_pickle_is_drawn_here() -> None:
    """A figure function or argument that does not pickle: that figure is made here, the
    rest go on."""
    want = [_want(k) for k in range(2)]
    with Renderer() as render:
        first = render(lambda counts: fig_pit(counts), _counts(0))  # a lambda does not pickle
        second = render(fig_pit, _counts(1))
        assert first.path is None and first.result() == want[0]
        assert render.wait_for(second.path)
        assert second.result() == want[1] and second.by_worker


def test_a_warmed_up_process_draws_the_same_bytes_as_a_fresh_one() -> None:
    """The worker draws a throwaway figure while it waits (warm_up): the essay figure (log
    axes, mathtext labels, a legend), drawn first in a fresh process and after warming up."""
    rows = [{"label": f"quantity {i}", "unit": "unit", "q05": 10.0 ** i, "q25": 2 * 10.0 ** i,
             "median": 3 * 10.0 ** i, "q75": 5 * 10.0 ** i, "q95": 10.0 ** (i + 1),
             "essay": 4 * 10.0 ** i, "essay_low": None, "essay_high": None}
            for i in range(5)]
    code = ("import pickle, sys\n"
            "from gpt2030.reports.figures import fig_essay_forest\n"
            "from gpt2030.reports.png import draw, warm_up\n"
            "rows = pickle.loads(sys.stdin.buffer.read())\n"
            "{warm}sys.stdout.buffer.write(draw(fig_essay_forest, rows))\n")
    cold, warm = (subprocess.run([sys.executable, "-c", code.format(warm=w)],
                                 input=pickle.dumps(rows), capture_output=True,
                                 check=True).stdout
                  for w in ("", "warm_up()\n"))
    assert cold.startswith(b"\x89PNG") and cold == warm


def test_a_script_without_a_main_guard_runs_once(tmp_path: Path) -> None:
    """multiprocessing's spawn would import the caller's script again in its child."""
    marker = tmp_path / "runs.txt"
    script = tmp_path / "script.py"
    script.write_text(
        "from gpt2030.reports.figures import fig_pit\n"
        "from gpt2030.reports.png import Renderer\n"
        f"open({str(marker)!r}, 'a').write('ran\\n')\n"
        "with Renderer() as render:\n"
        "    pending = render(fig_pit, (1, 2, 3))\n"
        "    assert pending.result().startswith(b'\\x89PNG') and pending.path is not None\n")
    subprocess.run([sys.executable, str(script)], check=True, cwd=tmp_path)
    assert marker.read_text() == "ran\n"


def test_a_hung_worker_is_given_up(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A worker that never answers is stopped after WAIT_SECONDS; the figure is drawn here."""
    import time

    from gpt2030.reports import png

    hung = tmp_path / "python"  # takes the first figure, then never answers
    hung.write_text('#!/bin/sh\nread src dst dpi\nmv "$src" "${src%.pickle}.claimed"\n'
                    "exec sleep 60\n")
    hung.chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(hung))
    monkeypatch.setattr(png, "WAIT_SECONDS", 0.5)
    start = time.perf_counter()
    with Renderer() as render:
        assert render._worker is not None
        pending = render(fig_pit, _counts(0))
        while pending.source.exists() and time.perf_counter() - start < 5:
            time.sleep(0.01)  # until the worker has taken the figure
        got = pending.result()
        assert render._worker is None  # given up
    assert time.perf_counter() - start < 10
    assert got == _want(0)
