"""Progress a person can read: one line per stage with its elapsed time, on stderr.

``infer`` and ``update`` print, for each stage (validate, build, compile, sample, predictive,
diagnostics, report), one line such as ``gpt2030: compile      41.2 s  (total 0:58)``. On
a terminal the line shows ``...`` while the stage runs and is completed in place; in a log
only the finished line is written. PyMC's own INFO messages (the ``Sampling: [...]`` list
of every variable) are silenced for the calls that make them, through PyMC's logger only.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

#: Width of the stage name column.
_NAME_WIDTH = 11


class Progress:
    """Times stages and (unless ``quiet``) prints one line per stage on ``stream``.

    Parameters
    ----------
    stream : file-like, optional
        Where the lines go (default: ``sys.stderr``).
    quiet : bool
        Record the timings only; print nothing.
    """

    def __init__(self, stream: TextIO | None = None, quiet: bool = False) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.quiet = quiet
        self.start = time.perf_counter()
        self.timings: dict[str, float] = {}

    def _tty(self) -> bool:
        try:
            return bool(self.stream.isatty())
        except (AttributeError, ValueError):
            return False

    def _clock(self) -> str:
        total = int(time.perf_counter() - self.start)
        return f"{total // 60}:{total % 60:02d}"

    def note(self, text: str) -> None:
        """Print one free line (for example which path an update takes)."""
        if not self.quiet:
            print(f"gpt2030: {text}", file=self.stream, flush=True)

    @contextmanager
    def stage(self, name: str, key: str | None = None, detail: str = "") -> Iterator[dict]:
        """Time one stage; print its line when it ends.

        Parameters
        ----------
        name : str
            The stage as printed (``compile``, ``sample``, ...).
        key : str, optional
            The name its seconds are recorded under in :attr:`timings` (default ``name``).
        detail : str
            Printed after the time; the stage may also set ``info["detail"]`` on the
            dictionary it is given.

        Yields
        ------
        dict
            A mutable ``info`` dictionary (``detail``) the stage may fill.
        """
        info = {"detail": detail}
        tty = self._tty() and not self.quiet
        if tty:
            print(f"gpt2030: {name:<{_NAME_WIDTH}} ...", end="", file=self.stream, flush=True)
        begin = time.perf_counter()
        try:
            yield info
        except BaseException:
            if tty:
                print(file=self.stream, flush=True)
            raise
        seconds = time.perf_counter() - begin
        self.timings[key or name] = seconds
        if not self.quiet:
            extra = f"  {info['detail']}" if info.get("detail") else ""
            line = (f"gpt2030: {name:<{_NAME_WIDTH}} {seconds:6.1f} s  (total "
                    f"{self._clock()}){extra}")
            print(("\r" + line) if tty else line, file=self.stream, flush=True)


#: A progress that records timings and prints nothing (library calls, tests).
def silent() -> Progress:
    """A :class:`Progress` that prints nothing."""
    return Progress(quiet=True)


@contextmanager
def quiet_pymc() -> Iterator[None]:
    """Silence PyMC's INFO messages (``Sampling: [...]``, chain counts) for a block.

    Only PyMC's logger is raised to WARNING, and restored after; warnings and errors still
    show, and no global warning filter changes.
    """
    logger = logging.getLogger("pymc")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)
