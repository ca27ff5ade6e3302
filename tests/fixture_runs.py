"""The stored fixture runs in tests/data/runs, a helper to copy them into a home, and
``memoized``: a pure function of a run's draws computed once a session per set of draws
(once for all of pytest-xdist's workers: see :func:`share_between_workers`).

Rebuilt by tests/data/make_fixtures.py; a small real run and a deliberately broken one
(``--tune 10 --draws 20``), so that pipeline tests need no sampling.
"""

from __future__ import annotations

import copy
import hashlib
import os
import pickle
import shutil
from pathlib import Path

from filelock import FileLock

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
#: A folder this session's workers share (None: results stay in this process).
_SHARED: list[Path] = []


def share_between_workers(folder: Path) -> None:
    """Keep :func:`memoized` results in ``folder`` too, for the session's other workers.

    Under pytest-xdist each worker is a process of its own: without this each would compute
    every result again. ``folder`` belongs to this session only (conftest.py makes it in
    the session's temporary folder), so a result is never read by a later session, whose
    code may differ.
    """
    _SHARED[:] = [folder]


def shared_folder(base: Path) -> Path:
    """The folder every worker of this session shares, given its own temporary folder.

    ``base`` is ``tmp_path_factory.getbasetemp()``: under pytest-xdist each worker's
    (``.../pytest-N/popen-gw0``), whose parent is the session's; without it, the session's.
    """
    root = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    folder = root / "shared"
    folder.mkdir(exist_ok=True)
    return folder


def memoized(func):
    """``func(dt, ...)`` computed once per set of draws and arguments; a copy returned.

    For pure functions of a run's DataTree only (the same draws give the same result).
    Under pytest-xdist, one worker computes a result while the others wait for it (a lock
    per result) and read it.
    """
    def compute(key, dt, args, kwargs):
        if not _SHARED:
            return func(dt, *args, **kwargs)
        path = _SHARED[0] / hashlib.sha256(key.encode()).hexdigest()
        with FileLock(f"{path}.lock"):
            if path.is_file():
                return pickle.loads(path.read_bytes())
            value = func(dt, *args, **kwargs)
            tmp = path.with_suffix(f".tmp-{os.getpid()}")
            tmp.write_bytes(pickle.dumps(value))
            tmp.replace(path)  # the others see the whole file or none
            return value

    def wrapper(dt, *args, **kwargs):
        key = f"{func.__module__}.{func.__name__}:{_fingerprint(dt)}:{args!r}:{kwargs!r}"
        if key not in _MEMO:
            _MEMO[key] = compute(key, dt, args, kwargs)
        return copy.deepcopy(_MEMO[key])

    return wrapper
