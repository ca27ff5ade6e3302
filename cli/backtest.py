"""Commands of the backtest stage (filled in by its issue)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    """Add this stage's commands to the top-level parser."""
