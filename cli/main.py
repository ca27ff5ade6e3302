"""Entry point of the ``gpt2030`` command: builds the parser from each command module."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from gpt2030.cli import CommandError, analysis, backtest, observe, report, runs
from gpt2030.observations import LedgerError


def build_parser() -> argparse.ArgumentParser:
    """The full ``gpt2030`` parser: one sub-command per user task."""
    parser = argparse.ArgumentParser(
        prog="gpt2030",
        description="Bayesian forecasts of GPT-2030 from an evidence ledger. "
        "The ledger, runs and reports live under $GPT2030_HOME (default: the current directory).",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    observe.register(sub)
    runs.register(sub)
    analysis.register(sub)
    report.register(sub)
    backtest.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``gpt2030``; return the exit status (0 success, 1 a failed check, 2 refused input)."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (LedgerError, CommandError) as err:
        print(f"gpt2030: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
