"""Atomic files: the one way gpt2030 replaces a file (or creates a run folder).

Everything is written beside its destination under a hidden temporary name and moved into
place with one ``os.replace``, so a reader sees the old file or the new one, never half of
one, and an interrupted write leaves the old file and no temporary. The ledger, the run
store, reports, plots and exports all write through :func:`atomic_path` or
:func:`atomic_write`. It sits in the bottom layer so that every layer above may import it
(reports/ through :mod:`gpt2030.inference.results`).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["atomic_path", "atomic_write"]

#: Permissions of a new file, and of a new folder (an existing file keeps its own).
FILE_MODE = 0o644
DIR_MODE = 0o755


@contextmanager
def atomic_path(path: Path, mode: int | None = None, *, directory: bool = False,
                prefix: str | None = None) -> Iterator[Path]:
    """A temporary path beside ``path`` that replaces ``path`` when the block succeeds.

    Readers see the old file or the new one, never half of one; on an error (or an
    interrupt) the temporary is removed and ``path`` is untouched. Missing parent folders
    are created. A file is flushed to disk (``fsync``) before it is moved into place.

    Parameters
    ----------
    path : pathlib.Path
        The file (or, with ``directory``, the folder) to write.
    mode : int, optional
        Permissions of the result. By default an existing file keeps its permissions and a
        new one gets :data:`FILE_MODE` (:data:`DIR_MODE` for a folder).
    directory : bool
        Yield a temporary folder to fill instead of a file; it is renamed to ``path``, which
        must not exist as a non-empty folder (``os.replace`` refuses, nothing is lost).
    prefix : str, optional
        Name prefix of the temporary (default ``.<name>-``; hidden, so listings skip it).

    Yields
    ------
    pathlib.Path
        Where to write (for libraries that write by path: ``to_csv``, ``to_netcdf``,
        ``savefig``).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    prefix = f".{path.name}-" if prefix is None else prefix
    if directory:
        tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=prefix))
    else:
        fd, name = tempfile.mkstemp(dir=path.parent, prefix=prefix, suffix=".tmp")
        os.close(fd)
        tmp = Path(name)
    try:
        yield tmp
        if mode is None:
            mode = DIR_MODE if directory else _existing_mode(path, FILE_MODE)
        os.chmod(tmp, mode)
        if not directory:
            with open(tmp, "rb") as fh:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if directory:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)
        raise


def _existing_mode(path: Path, default: int) -> int:
    """The permission bits of ``path`` if it is a file, else ``default``."""
    try:
        return path.stat().st_mode & 0o777 if path.is_file() else default
    except OSError:
        return default


def atomic_write(path: Path, data: bytes | str) -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_path`); return ``path``.

    Parameters
    ----------
    path : pathlib.Path
        The file to write.
    data : bytes or str
        The whole content; text is encoded as UTF-8 with its line endings as given (a text
        that cannot be encoded raises before anything is written).

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    raw = data.encode("utf-8") if isinstance(data, str) else data
    with atomic_path(path) as tmp:
        tmp.write_bytes(raw)
    return Path(path)
