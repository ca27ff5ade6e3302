"""Figures to PNG bytes, in this process or in a second one while the report goes on.

Building and drawing a report's nine figures (matplotlib's Agg, constrained layout) takes
seconds and holds the GIL: threads do not overlap it. A :class:`Renderer` hands each figure
to one worker process as its function and arguments (the run's draws it plots, not the
built figure), and the worker builds and draws it while the report computes its tables;
when the report has nothing left to do but wait and enough figures wait in the worker's
queue (:data:`TAKE_BACK_QUEUE`), it takes back those the worker has not begun and makes them
itself. So the report's own process never imports matplotlib when the worker makes every
figure. The bytes are those :func:`draw` gives in this process (the same matplotlib draws
the same figure).

The worker is ``python -m gpt2030.reports.png`` in a subprocess, not a
``multiprocessing`` child: spawn and forkserver children import the caller's main module
again, so a user's script without a ``__main__`` guard would run a second time. The
worker imports what the figures need and warms matplotlib up while it waits
(:func:`warm_up`), and talks through files in a temporary folder and one line per figure on
its standard streams; whatever goes wrong with it, the figure is drawn here instead.
"""

from __future__ import annotations

import io
import os
import pickle
import select
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: Resolution of the report's figures.
DPI = 125
#: Figures waiting in the worker's queue (the one asked for included) from which the report
#: takes the one it asks for back and draws it itself, unless it has drawn one already: the
#: warmed-up worker draws a figure in ~0.4-0.6 s, and this process's first one, which imports
#: matplotlib and loads its fonts, took ~1.5-2.5 s. Taking back the queue's last one or two
#: made the update wait ~0.5 s longer than letting the worker finish (2026-11-29, traces).
TAKE_BACK_QUEUE = 4
#: Longest wait (s) for the worker's next figure before it is given up and the rest are
#: drawn here: a figure takes well under a second, a first matplotlib import on a fresh
#: machine (which builds its font cache) some seconds; a hung worker must not hang a report.
WAIT_SECONDS = 120.0


def png_bytes(fig: Figure, dpi: int = DPI) -> bytes:
    """The figure as PNG bytes.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure.
    dpi : int
        Resolution.

    Returns
    -------
    bytes
    """
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def draw(make: Callable[..., Figure], *args, **kwargs) -> bytes:
    """The PNG bytes of the figure ``make(*args, **kwargs)`` builds, made here and now."""
    return png_bytes(make(*args, **kwargs))


@dataclass
class PendingPNG:
    """A figure's PNG bytes as the worker draws them: :meth:`result` waits for them."""

    #: the figure's function and arguments (what the worker is handed)
    make: Callable[..., Figure]
    args: tuple
    kwargs: dict = field(default_factory=dict)
    dpi: int = DPI
    renderer: Renderer | None = None
    #: the worker's file of the bytes (None: drawn here)
    path: Path | None = None
    #: the pickled call handed to the worker; whoever renames it first makes the figure
    source: Path | None = None
    #: whether the worker drew it (known once :meth:`result` returned)
    by_worker: bool = False

    def result(self) -> bytes:
        """The PNG bytes: the worker's, or drawn here when it has not begun them.

        A figure still waiting in the worker's queue when its bytes are asked for is taken
        back and drawn here (the worker skips it) when the queue is long enough that this
        process would otherwise idle while the worker draws it (:data:`TAKE_BACK_QUEUE`),
        or this process has drawn a figure already.
        """
        renderer = self.renderer
        if renderer is not None and self.path is not None and self.source is not None:
            take = (renderer.drawn_here or renderer.queued() >= TAKE_BACK_QUEUE) \
                and _claim(self.source)
            if not take and renderer.wait_for(self.path):
                self.by_worker = True
                return self.path.read_bytes()
            renderer.drawn_here += 1
        return png_bytes(self.make(*self.args, **self.kwargs), self.dpi)


def _claim(source: Path) -> bool:
    """Take a queued figure's pickle (an atomic rename); False when the other side has it."""
    try:
        source.rename(source.with_suffix(".claimed"))
    except FileNotFoundError:
        return False
    return True


#: What makes a section's figures, given a figure function and its arguments: :func:`draw`
#: (here, now) or a :class:`Renderer`.
Render = Callable[..., "bytes | PendingPNG"]


class Renderer:
    """PNG bytes of figures made by one worker process (a context manager).

    ``renderer(make, *args)`` returns a :class:`PendingPNG` at once: the worker builds the
    figure (``make`` must be importable by name, a module-level function, and its arguments
    picklable: the draws a figure plots, ~1.5 MB a quantity) and draws it. With a single
    core, or where the worker cannot start or fails, the figure is drawn in this process
    when its bytes are asked for. Leaving the ``with`` block stops the worker and removes
    its folder: ask for the bytes inside it.
    """

    def __init__(self, dpi: int = DPI) -> None:
        self.dpi = dpi
        self._worker: subprocess.Popen | None = None
        self._folder: tempfile.TemporaryDirectory | None = None
        self._sent = 0
        self._done: set[str] = set()
        self._unread = b""  # the worker's output after its last complete line
        #: figures handed over but drawn here (taken back, or the worker failed)
        self.drawn_here = 0

    def __enter__(self) -> Renderer:
        """Start the worker (where there is a second core)."""
        if (os.cpu_count() or 1) > 1:
            try:
                self._folder = tempfile.TemporaryDirectory(prefix="gpt2030-figures-")
                self._worker = subprocess.Popen(
                    [sys.executable, "-m", __name__], stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, bufsize=0)
            except OSError:  # no temporary folder or no process: every figure drawn here
                self._worker = None
        return self

    def __exit__(self, *exc) -> None:
        """Stop the worker (at once when the block raised) and remove its files."""
        self._stop(kill=exc[0] is not None)
        if self._folder is not None:
            self._folder.cleanup()
            self._folder = None

    @property
    def has_worker(self) -> bool:
        """Whether a worker process is drawing (else each figure is drawn here when asked)."""
        return self._worker is not None

    def __call__(self, make: Callable[..., Figure], *args, **kwargs) -> PendingPNG:
        """Hand ``make(*args, **kwargs)`` to the worker; its bytes come with ``result()``."""
        pending = PendingPNG(make, args, kwargs, self.dpi)
        if self._worker is None or self._folder is None:
            return pending
        folder = Path(self._folder.name)
        self._sent += 1
        src, dst = folder / f"{self._sent}.pickle", folder / f"{self._sent}.png"
        try:
            data = pickle.dumps((make, args, kwargs))
        except (pickle.PicklingError, TypeError, AttributeError):
            # This figure cannot go (a function or an argument that does not pickle): made
            # here, the worker serves on.
            return pending
        try:
            src.write_bytes(data)
            # one short line: never fills the pipe, so this never waits for the worker
            self._worker.stdin.write(f"{src}\t{dst}\t{self.dpi}\n".encode())
        except OSError:  # the worker or its folder is gone: every later figure drawn here
            self._stop()
            return pending
        pending.renderer, pending.path, pending.source = self, dst, src
        return pending

    def queued(self) -> int:
        """Figures handed to the worker that neither it nor this process has begun."""
        if self._folder is None:
            return 0
        return sum(1 for _ in Path(self._folder.name).glob("*.pickle"))

    def wait_for(self, path: Path) -> bool:
        """Wait until the worker has written ``path``; False when it cannot.

        It cannot when it stopped, or answered nothing for :data:`WAIT_SECONDS` (then it
        is stopped): the caller draws the figure itself.
        """
        while str(path) not in self._done:
            if self._worker is None:
                return False
            out = self._worker.stdout
            ready, _, _ = select.select([out], [], [], WAIT_SECONDS)
            chunk = os.read(out.fileno(), 1 << 16) if ready else b""
            if not chunk:  # the worker ended, or hangs
                self._stop(kill=not ready)
                return False
            *lines, self._unread = (self._unread + chunk).split(b"\n")
            self._done.update(line.decode() for line in lines)
        return True

    def _stop(self, kill: bool = False) -> None:
        worker, self._worker = self._worker, None
        if worker is None:
            return
        try:
            if kill:
                worker.kill()
            worker.stdin.close()  # its input ends: an idle worker exits
            worker.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            worker.kill()
            worker.wait()
        worker.stdout.close()


def warm_up() -> None:
    """Build and draw a small figure, and discard it.

    A process's first figure pays for loading matplotlib's fonts, building its mathtext
    parser (log axes' labels) and its PNG writer: its first figure of a report took 1.5-2.5 s
    against ~1.1 s for the same figure drawn again (2026-11-29). The worker does this while
    it waits for its first figure, so the report's figures do not wait for it. A warmed-up
    process draws the same bytes (tested: the worker's figures against :func:`draw`'s).
    """
    from gpt2030.reports.figures import new_figure

    fig = new_figure(width=2.0, height=1.5)
    ax = fig.add_subplot()
    ax.set_yscale("log")
    ax.fill_between([2020, 2030], [1e2, 1e4], [1e4, 1e7], alpha=0.3, label="band")
    ax.plot([2020, 2030], [1e3, 1e5], marker="o", label="line")
    ax.set_title("title", fontsize=11, loc="left")
    ax.set_xlabel("year")
    ax.legend(fontsize=7)
    png_bytes(fig, dpi=40)


def _serve() -> None:
    """The worker: per input line (pickle, png and dpi, tab-separated) make, draw, echo png.

    It imports the figures' module and matplotlib and draws a small figure first
    (:func:`warm_up`: what the first figure's function and arguments need, and what
    matplotlib does once per process, ~2-3 s), while it waits for the first figure. A
    figure the caller took back (its pickle renamed before the worker's turn) is skipped. A
    figure it cannot make gets no echo line: the worker stops, and the caller makes that
    figure and every later one itself.
    """
    warm_up()  # while idle, not when the first figure comes

    for line in sys.stdin:
        src, dst, dpi = line.rstrip("\n").split("\t")
        if not _claim(Path(src)):
            continue
        make, args, kwargs = pickle.loads(Path(src).with_suffix(".claimed").read_bytes())
        Path(dst).write_bytes(png_bytes(make(*args, **kwargs), int(dpi)))
        print(dst, flush=True)


if __name__ == "__main__":
    _serve()
    # Its input ended and nothing is left to write (each PNG is closed, each line flushed):
    # exit without tearing the interpreter down (matplotlib, pandas, xarray: ~0.35 s that
    # the report's process spent waiting for it at the end of every report).
    os._exit(0)
