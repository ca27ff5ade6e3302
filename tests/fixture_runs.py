"""The stored fixture runs in tests/data/runs, and a helper to copy them into a home.

Rebuilt by tests/data/make_fixtures.py; a small real run and a deliberately broken one
(``--tune 10 --draws 20``), so that pipeline tests need no sampling.
"""

from __future__ import annotations

import shutil
from pathlib import Path

FIXTURES = Path(__file__).parent / "data" / "runs"
SMALL = "r20261128T105456-f6f54ffdad57"
BROKEN = "r20261128T110011-aa592eea5fa1"


def install(home: Path, *run_ids: str) -> Path:
    """Copy fixture runs into ``home/runs`` (never use them in place); return that folder."""
    runs = home / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    for run_id in run_ids:
        shutil.copytree(FIXTURES / run_id, runs / run_id)
    return runs
