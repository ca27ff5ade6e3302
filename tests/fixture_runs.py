"""The stored fixture runs in tests/data/runs, a helper to copy them into a home, and
``memoized``: a pure function of a run's draws computed once a session per set of draws.

Rebuilt by tests/data/make_fixtures.py; a small real run and a deliberately broken one
(``--tune 10 --draws 20``), so that pipeline tests need no sampling.
"""

from __future__ import annotations

import copy
import hashlib
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


def _fingerprint(dt) -> str:
    """A hash of every array of every group of a DataTree (same draws, same hash)."""
    h = hashlib.sha256()
    for node in dt.subtree:
        for name, var in sorted(node.dataset.variables.items()):
            h.update(f"{node.path}/{name}{var.shape}{var.dtype}".encode())
            h.update(var.values.tobytes() if var.dtype.kind != "O" else
                     repr(var.values.tolist()).encode())
    return h.hexdigest()


#: Results of pure functions of a run's draws computed in this session, by function, draws
#: and arguments.
_MEMO: dict[str, object] = {}


def memoized(func):
    """``func(dt, ...)`` computed once per set of draws and arguments; a copy returned.

    For pure functions of a run's DataTree only (the same draws give the same result).
    """
    def wrapper(dt, *args, **kwargs):
        key = f"{func.__module__}.{func.__name__}:{_fingerprint(dt)}:{args!r}:{kwargs!r}"
        if key not in _MEMO:
            _MEMO[key] = func(dt, *args, **kwargs)
        return copy.deepcopy(_MEMO[key])

    return wrapper
