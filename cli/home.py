"""``gpt2030 init [DIR]``: start a home folder with the shipped ledger."""

from __future__ import annotations

import argparse
import os
from importlib.resources import files
from pathlib import Path

from gpt2030.cli import CommandError
from gpt2030.observations import Ledger, ledger_path
from gpt2030.observations.store import atomic_write_text


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``init`` to the top-level parser."""
    p = sub.add_parser(
        "init", help="start a home folder holding a copy of the shipped ledger",
        description="Create DIR (default: $GPT2030_HOME, else the current directory) and "
        "DIR/observations/ledger.csv, a copy of the ledger shipped with gpt2030. An existing "
        "ledger is never replaced.")
    p.add_argument("dir", nargs="?", type=Path, metavar="DIR", help="the home folder")
    p.set_defaults(func=cmd_init, needs_home=False)


def shipped_ledger_text() -> str:
    """The ledger packaged with gpt2030 (observations/ledger.csv)."""
    return files("gpt2030.observations").joinpath("ledger.csv").read_text(encoding="utf-8")


def cmd_init(args: argparse.Namespace) -> int:
    """Start a home holding a copy of the shipped ledger; refuse over an existing one."""
    home = args.dir or Path(os.environ.get("GPT2030_HOME") or Path.cwd())
    if home.exists() and not home.is_dir():
        raise CommandError(f"{home} is a file, not a folder")
    target = ledger_path(home)
    if target.exists():
        raise CommandError(f"{target} exists already: {home} is a home (nothing was changed)")
    atomic_write_text(target, shipped_ledger_text())
    n = len(Ledger(target).rows())
    print(f"started a gpt2030 home in {home} with the shipped ledger ({n} observations)")
    where = "" if home.resolve() == Path.cwd().resolve() else \
        f"export GPT2030_HOME={home} (or cd there), then "
    print(f"next: {where}gpt2030 infer")
    return 0
