"""Entry point of the ``gpt2030`` command: builds the parser from each command module.

Exit status: 0 success; 1 a failed check (``diagnose``, ``update``, ``observe validate``);
2 refused input or a run or ledger that cannot be used, with a one-line reason on stderr;
3 an internal error (a bug; ``GPT2030_DEBUG=1`` shows the traceback); 130 interrupted;
141 stdout was closed early (``| head``), quietly. No traceback reaches the user.
"""

from __future__ import annotations

import argparse
import errno
import gc
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from gpt2030.cli import CommandError, analysis, backtest, home, observe, predict, report, runs
from gpt2030.inference.runs import RunError
from gpt2030.observations import LedgerError

EXIT_REFUSED = 2
EXIT_INTERNAL = 3
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141


def build_parser() -> argparse.ArgumentParser:
    """The full ``gpt2030`` parser: one sub-command per user task."""
    parser = argparse.ArgumentParser(
        prog="gpt2030",
        description="Bayesian forecasts of GPT-2030 from an evidence ledger. "
        "The ledger, runs and reports live under $GPT2030_HOME (default: the current directory).",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    home.register(sub)
    observe.register(sub)
    runs.register(sub)
    analysis.register(sub)
    report.register(sub)
    backtest.register(sub)
    predict.register(sub)
    return parser


def _error(message: str) -> None:
    print(f"gpt2030: error: {message}", file=sys.stderr)


def _os_message(err: OSError) -> str:
    where = err.filename or ""
    if err.filename2:
        where = f"{where} -> {err.filename2}"
    if err.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        what = "read-only" if err.errno == errno.EROFS else "permission denied"
        return f"cannot write or read {where or 'a file'}: {what} (check the home folder)"
    reason = err.strerror or str(err) or type(err).__name__
    return f"{where}: {reason}" if where else reason


def _check_home() -> None:
    value = os.environ.get("GPT2030_HOME")
    if value and not Path(value).is_dir():
        what = "is a file, not a folder" if Path(value).exists() else "no such folder"
        raise CommandError(f"GPT2030_HOME={value}: {what} (start one with `gpt2030 init "
                           f"{value}`)")


def _quiet_stdout() -> None:
    """After a broken pipe: point stdout at /dev/null so the exit flush stays silent."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``gpt2030``; return the exit status (see the module docstring)."""
    for stream in (sys.stdout, sys.stderr):
        # A subject in any script prints, whatever the terminal's encoding.
        try:
            stream.reconfigure(errors="backslashreplace")  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            pass
    try:
        args = build_parser().parse_args(argv)
        if getattr(args, "needs_home", True):
            _check_home()
        return int(args.func(args) or 0)
    except LedgerError as err:
        for problem in err.problems:
            print(problem, file=sys.stderr)
        _error(str(err))
        return EXIT_REFUSED
    except (CommandError, RunError) as err:
        _error(str(err))
        return EXIT_REFUSED
    except BrokenPipeError:
        _quiet_stdout()
        return EXIT_BROKEN_PIPE
    except KeyboardInterrupt:
        print("gpt2030: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except OSError as err:
        _error(_os_message(err))
        return EXIT_REFUSED
    except Exception as err:
        if os.environ.get("GPT2030_DEBUG"):
            raise
        first = (str(err).strip().splitlines() or [""])[0][:300]
        _error(f"internal error ({type(err).__name__}: {first}); this is a bug: please report "
               "it (GPT2030_DEBUG=1 shows the traceback)")
        return EXIT_INTERNAL


#: Python's cyclic garbage collector in the command's own process: a collection after every
#: 50,000 net allocations, not 2,000. Importing the scientific stack and building PyTensor
#: graphs allocate millions of objects; with the defaults the collector ran ~780 times in a
#: one-row update (0.7 s of it), with these ~11 (0.24 s), peak memory the same (663-666 MB).
GC_THRESHOLD = (50_000, 20, 100)


def run(argv: Sequence[str] | None = None) -> None:
    """The ``gpt2030`` command: :func:`main` in a process of its own, then exit with its status.

    Tunes the garbage collector for a short-lived process (:data:`GC_THRESHOLD`), and freezes
    every object before exiting: Python's final collection then skips them instead of
    traversing the graphs and draws the process is about to drop anyway (~0.65 s of every
    ``update``; exit handlers still run, and every file was closed before). Tests call
    :func:`main`, in a process that lives on with Python's defaults.
    """
    gc.set_threshold(*GC_THRESHOLD)
    status = main(argv)
    gc.freeze()
    sys.exit(status)


if __name__ == "__main__":
    run()
