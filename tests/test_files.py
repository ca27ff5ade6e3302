"""The one atomic write (observations/files.py): files, run folders, and nobody else's copy."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from gpt2030.observations.files import atomic_path, atomic_write

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("observations", "models", "inference", "reports", "cli")


def test_new_file_mode_and_existing_mode_kept(tmp_path: Path) -> None:
    new = atomic_write(tmp_path / "a" / "new.txt", "x")
    assert new.stat().st_mode & 0o777 == 0o644
    new.chmod(0o600)
    atomic_write(new, b"y")
    assert new.stat().st_mode & 0o777 == 0o600 and new.read_bytes() == b"y"
    with atomic_path(new, mode=0o640) as tmp:
        tmp.write_text("z")
    assert new.stat().st_mode & 0o777 == 0o640
    assert sorted(p.name for p in new.parent.iterdir()) == ["new.txt"]


def test_folder_appears_whole_or_not_at_all(tmp_path: Path) -> None:
    target = tmp_path / "runs" / "r1"
    with pytest.raises(KeyboardInterrupt), atomic_path(target, directory=True,
                                                       prefix=".tmp-r1-") as tmp:
        (tmp / "run.nc").write_bytes(b"half")
        raise KeyboardInterrupt
    assert list(target.parent.iterdir()) == []
    with atomic_path(target, directory=True, prefix=".tmp-r1-") as tmp:
        assert tmp.name.startswith(".tmp-r1-") and tmp.parent == target.parent
        (tmp / "run.nc").write_bytes(b"whole")
    assert (target / "run.nc").read_bytes() == b"whole"
    assert [p.name for p in target.parent.iterdir()] == ["r1"]
    assert target.stat().st_mode & 0o777 == 0o755


def test_a_folder_is_never_replaced(tmp_path: Path) -> None:
    target = tmp_path / "r1"
    target.mkdir()
    (target / "keep").write_text("old")
    with pytest.raises(OSError), atomic_path(target, directory=True) as tmp:
        (tmp / "new").write_text("new")
    assert [p.name for p in tmp_path.iterdir()] == ["r1"]
    assert (target / "keep").read_text() == "old"


def calls(path: Path) -> set[str]:
    """Dotted names of the functions a module calls (``os.replace``, ``tempfile.mkstemp``)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and \
                isinstance(node.func.value, ast.Name):
            names.add(f"{node.func.value.id}.{node.func.attr}")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            names.add(node.func.id)
    return names


def test_every_atomic_write_goes_through_the_one_helper() -> None:
    """Only observations/files.py renames temporaries into place; the ledger's writability
    probe (a temporary file that is deleted, never renamed) is the one other mkstemp."""
    renames = {"os.replace", "os.rename", "shutil.move"}
    temporaries = {"tempfile.mkstemp", "tempfile.mkdtemp", "tempfile.NamedTemporaryFile",
                   "NamedTemporaryFile", "mkstemp", "mkdtemp"}
    offenders = []
    for package in PACKAGES:
        for path in sorted((REPO / package).glob("*.py")):
            if path == REPO / "observations" / "files.py":
                continue
            used = calls(path)
            offenders += [f"{package}/{path.name}: {name}" for name in sorted(used & renames)]
            if path != REPO / "observations" / "store.py":
                offenders += [f"{package}/{path.name}: {name}"
                              for name in sorted(used & temporaries)]
    assert offenders == []
