"""Small shared pieces of the results inference hands on: JSON-safe values, atomic files.

Light on purpose (NumPy only): the report layer imports it without pulling in PyMC.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np


def json_safe(obj: object) -> object:
    """A value made JSON-safe, recursively: non-finite floats become ``None``.

    NumPy scalars become Python numbers, tuples become lists and mapping keys strings, so
    ``json.dumps`` never writes ``NaN`` (which is not JSON) and never fails on ``np.float64``.

    Parameters
    ----------
    obj : object
        A number, string, ``None``, or a dict / list / tuple of them.

    Returns
    -------
    object
        The same structure with JSON-safe leaves.
    """
    if isinstance(obj, bool | np.bool_):
        return bool(obj)
    if isinstance(obj, int | np.integer):
        return int(obj)
    if isinstance(obj, float | np.floating):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [json_safe(v) for v in obj]
    return obj


@contextmanager
def atomic_path(path: Path, mode: int = 0o644) -> Iterator[Path]:
    """A temporary path beside ``path`` that replaces ``path`` when the block succeeds.

    Readers see the old file or the new one, never half of one; on an error the temporary
    file is removed and ``path`` is untouched. Missing parent folders are created.

    Parameters
    ----------
    path : pathlib.Path
        The file to write.
    mode : int
        Permissions of the new file.

    Yields
    ------
    pathlib.Path
        Where to write (for libraries that write by path: ``to_csv``, ``to_netcdf``,
        ``savefig``).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-", suffix=".tmp")
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write(path: Path, data: bytes | str) -> Path:
    """Write ``data`` (text is UTF-8) to ``path`` atomically; return ``path``.

    Parameters
    ----------
    path : pathlib.Path
        The file to write.
    data : bytes or str
        The whole content.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    raw = data.encode("utf-8") if isinstance(data, str) else data
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(raw)
            fh.flush()
            os.fsync(fh.fileno())
    return Path(path)
