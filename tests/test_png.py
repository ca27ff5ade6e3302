"""The report's figure renderer: a worker process's bytes are this process's bytes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from common import SEED

from gpt2030.reports.png import Renderer, png_bytes


def _figure(k: int):
    from gpt2030.reports.figures import new_figure

    rng = np.random.default_rng(SEED + k)
    fig = new_figure(6, 3)
    ax = fig.add_subplot()
    ax.fill_between(np.arange(30), rng.normal(size=30), rng.normal(size=30) + 2, alpha=0.3)
    ax.set_yscale("log" if k % 2 else "linear")
    ax.set_title(f"figure {k}: $10^{{{k}}}$")
    return fig


def test_the_worker_draws_the_same_bytes_and_leaves_no_files() -> None:
    figs = [_figure(k) for k in range(4)]
    with Renderer() as render:
        assert render._worker is not None  # two cores or more here: a worker runs
        # its own folder (another test process may have a renderer's folder beside it)
        folder = Path(render._folder.name)
        assert folder.is_dir() and folder.name.startswith("gpt2030-figures-")
        pending = [render(f) for f in figs]
        assert all(render.wait_for(p.path) for p in pending)  # all drawn before asked for
        got = [p.result() for p in pending]
        assert all(p.by_worker for p in pending)
    assert got == [png_bytes(_figure(k)) for k in range(4)]
    assert got[0].startswith(b"\x89PNG") and len(set(got)) == 4
    assert not folder.exists()


def test_a_dead_worker_or_none_means_drawn_here(monkeypatch: pytest.MonkeyPatch) -> None:
    figs = [_figure(k) for k in range(3)]
    want = [png_bytes(_figure(k)) for k in range(3)]  # a figure drawn twice can differ
    with Renderer() as render:
        first = render(figs[0])
        render._worker.kill()  # dies with a figure pending
        render._worker.wait()
        rest = [render(f) for f in figs[1:]]
        assert [p.result() for p in [first, *rest]] == want
        assert render._worker is None
    monkeypatch.setattr(sys, "executable", "/nonexistent/python")
    with Renderer() as render:  # the worker cannot start
        assert render._worker is None
        assert render(_figure(0)).result() == want[0]


def test_a_figure_not_yet_begun_is_drawn_here_and_skipped_by_the_worker() -> None:
    """The report takes back what the worker has not begun instead of idling."""
    figs = [_figure(k) for k in range(3)]
    want = [png_bytes(_figure(k)) for k in range(3)]
    with Renderer() as render:
        first, second = render(figs[0]), render(figs[1])
        # Asked for at once: the worker (a new process) cannot have begun the second
        # figure, which waits behind the first, so it is drawn here.
        assert second.result() == want[1] and not second.by_worker
        assert render.wait_for(first.path)
        assert first.result() == want[0] and first.by_worker
        third = render(figs[2])
        assert render.wait_for(third.path)  # the worker skipped the second and serves on
        assert third.result() == want[2] and third.by_worker
        assert render._worker is not None


def test_a_figure_that_does_not_pickle_is_drawn_here(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pickling a figure can fail (matplotlib's callback registry changing size under the
    garbage collector raised RuntimeError once): that figure is drawn here, the rest go on."""
    from gpt2030.reports import png

    figs = [_figure(k) for k in range(2)]
    want = [png_bytes(_figure(k)) for k in range(2)]
    real = png.pickle.dumps

    def flaky(obj, *args, **kwargs):
        if obj is figs[0]:
            raise RuntimeError("dictionary changed size during iteration")
        return real(obj, *args, **kwargs)

    with Renderer() as render:
        monkeypatch.setattr(png.pickle, "dumps", flaky)
        first, second = render(figs[0]), render(figs[1])
        monkeypatch.undo()
        assert first.path is None and first.result() == want[0]
        assert render.wait_for(second.path)
        assert second.result() == want[1] and second.by_worker


def test_a_script_without_a_main_guard_runs_once(tmp_path: Path) -> None:
    """multiprocessing's spawn would import the caller's script again in its child."""
    marker = tmp_path / "runs.txt"
    script = tmp_path / "script.py"
    script.write_text(
        "from gpt2030.reports.figures import new_figure\n"
        "from gpt2030.reports.png import Renderer\n"
        f"open({str(marker)!r}, 'a').write('ran\\n')\n"
        "fig = new_figure(3, 2)\n"
        "fig.add_subplot().plot([1, 2, 3])\n"
        "with Renderer() as render:\n"
        "    pending = render(fig)\n"
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
        pending = render(_figure(0))
        while pending.source.exists() and time.perf_counter() - start < 5:
            time.sleep(0.01)  # until the worker has taken the figure
        got = pending.result()
        assert render._worker is None  # given up
    assert time.perf_counter() - start < 10
    assert got == png_bytes(_figure(0))
