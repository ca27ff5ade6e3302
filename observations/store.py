"""The ledger: one CSV file of observations, read strictly and written atomically.

Why one file: an ``add --file`` of many rows, or a removal, must land whole or not at all,
and one ``os.replace`` of one file is atomic. Rows are sorted by kind, date and id, so a new
observation is a one-line diff. Removed rows stay in the file with ``removed_on`` and
``removed_reason`` filled in: the ledger keeps what was withdrawn and why, and every
reader skips them.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import re
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
from filelock import FileLock

from gpt2030.observations.schema import FIELDS, Problem, decimal_year, validate_row
from gpt2030.observations.units import DEFAULT_TOKENS_PER_WORD, dimension_of, to_base

LEDGER_NAME = "ledger.csv"


class LedgerError(ValueError):
    """A row, or the whole ledger, was refused; nothing was written."""


@dataclass(frozen=True)
class RowProblem:
    """A problem located in a file: ``path:line: field: message``."""

    path: Path
    line: int
    id: str
    problem: Problem

    def __str__(self) -> str:
        label = f" [{self.id}]" if self.id else ""
        return f"{self.path}:{self.line}:{label} {self.problem}"


def default_home() -> Path:
    """Where the ledger, runs and reports live: ``$GPT2030_HOME``, else the working directory."""
    return Path(os.environ.get("GPT2030_HOME") or Path.cwd())


def ledger_path(home: Path | None = None) -> Path:
    """The ledger file under a home directory."""
    return (home or default_home()) / "observations" / LEDGER_NAME


def read_rows(path: Path) -> list[dict[str, str]]:
    """Read a CSV of observation rows as strings, refusing a wrong header.

    Raises
    ------
    LedgerError
        When the file is missing or its header is not :data:`FIELDS` (a subset is accepted
        for ``--file`` input, whose missing optional columns are left empty).
    """
    return [row for _, row in read_numbered_rows(path)]


def read_numbered_rows(path: Path) -> list[tuple[int, dict[str, str]]]:
    """Rows with the file line each starts on (a quoted field may span several lines)."""
    if not path.is_file():
        raise LedgerError(f"{path}: no such file")
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        header = reader.fieldnames or []
        unknown = [h for h in header if h not in FIELDS]
        if unknown:
            raise LedgerError(f"{path}:1: unknown column(s) {unknown}; columns are {list(FIELDS)}")
        rows = []
        start = reader.line_num + 1
        for row in reader:
            if None in row:  # more cells than header columns
                raise LedgerError(f"{path}:{start}: row has more cells than the header")
            rows.append((start, {f: (row.get(f) or "") for f in FIELDS}))
            start = reader.line_num + 1
    return rows


def _serialize(rows: Iterable[dict[str, str]]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that readers see the old file or the new, never a half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        if path.exists():
            os.chmod(tmp, path.stat().st_mode & 0o777)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _sort_key(row: dict[str, str]) -> tuple[str, str, str]:
    return (row["kind"], row["date"], row["id"])


def _fact_key(row: dict[str, str]) -> tuple:
    """What makes two rows the same fact, whatever their ids and citations."""
    try:
        value = float(row["value"])
    except ValueError:
        value = row["value"]
    return (row["kind"], row["subject"].casefold(), row["metric"].casefold(), row["date"],
            value, row["unit"])


def slug(text: str) -> str:
    """Lowercase ``text`` into an id fragment: ``GPT-4 (Mar 2023)`` -> ``gpt-4-mar-2023``."""
    return re.sub(r"[^a-z0-9.]+", "-", text.casefold()).strip("-.") or "x"


class Ledger:
    """The observation ledger at ``path``; every write holds a lock and replaces atomically."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = FileLock(str(self.path) + ".lock", timeout=60)

    # -- reading ---------------------------------------------------------------------------
    def rows(self, include_removed: bool = False) -> list[dict[str, str]]:
        """All rows as stored strings, removed ones only if asked."""
        rows = read_rows(self.path)
        return rows if include_removed else [r for r in rows if not r["removed_on"]]

    def get(self, obs_id: str) -> dict[str, str]:
        """The row with id ``obs_id`` (removed rows included, so history can be shown)."""
        for row in self.rows(include_removed=True):
            if row["id"] == obs_id:
                return row
        raise LedgerError(f"no observation with id {obs_id!r}")

    def problems(self, today: date | None = None) -> list[RowProblem]:
        """Every problem in the stored ledger, each with its file and line."""
        found: list[RowProblem] = []
        seen_ids: dict[str, int] = {}
        seen_facts: dict[tuple, int] = {}
        for line, row in read_numbered_rows(self.path):
            for p in validate_row(row, today=today):
                found.append(RowProblem(self.path, line, row["id"], p))
            if row["id"] in seen_ids:
                msg = f"duplicate id (first on line {seen_ids[row['id']]})"
                found.append(RowProblem(self.path, line, row["id"], Problem("id", msg)))
            seen_ids.setdefault(row["id"], line)
            if not row["removed_on"]:
                key = _fact_key(row)
                if key in seen_facts:
                    msg = f"the same fact as line {seen_facts[key]}"
                    found.append(RowProblem(self.path, line, row["id"], Problem("value", msg)))
                seen_facts.setdefault(key, line)
        return found

    # -- writing ---------------------------------------------------------------------------
    def add(self, new_rows: Sequence[dict[str, str]], today: date | None = None,
            origin: str = "input") -> list[dict[str, str]]:
        """Validate and add rows, all or none; fills in ``added`` and a missing ``id``.

        Parameters
        ----------
        new_rows : sequence of dict
            Rows as strings; missing fields are empty.
        today : datetime.date, optional
            The ``added`` stamp and the limit for "in the future"; defaults to today.
        origin : str
            How to name the input in messages (a file path, or "input").

        Returns
        -------
        list of dict
            The rows as stored.

        Raises
        ------
        LedgerError
            Naming the first bad row and field; the ledger is left byte-identical.
        """
        today = today or date.today()
        with self._lock:
            existing = self.rows(include_removed=True)
            ids = {r["id"] for r in existing}
            facts = {_fact_key(r): r["id"] for r in existing if not r["removed_on"]}
            prepared = []
            for n, raw in enumerate(new_rows, start=1):
                where = f"{origin}: row {n}" if len(new_rows) > 1 or origin != "input" else "input"
                row = {f: (raw.get(f) or "").strip() for f in FIELDS}
                row["added"] = row["added"] or today.isoformat()
                if row["removed_on"] or row["removed_reason"]:
                    raise LedgerError(f"{where}: removed_on: new rows cannot arrive removed")
                if not row["id"] and row["kind"] and row["subject"] and row["date"]:
                    row["id"] = _fresh_id(row, ids)
                problems = validate_row(row, today=today)
                if problems:
                    raise LedgerError(f"{where}: {problems[0]}")
                if row["id"] in ids:
                    raise LedgerError(f"{where}: id: {row['id']!r} is already in the ledger")
                key = _fact_key(row)
                if key in facts:
                    raise LedgerError(
                        f"{where}: duplicate: the same fact is already in the ledger as "
                        f"{facts[key]!r}"
                    )
                ids.add(row["id"])
                facts[key] = row["id"]
                prepared.append(row)
            atomic_write_text(self.path, _serialize(sorted(existing + prepared, key=_sort_key)))
        return prepared

    def remove(self, obs_id: str, reason: str, today: date | None = None) -> dict[str, str]:
        """Withdraw an observation, keeping it in the file with the date and the reason."""
        if not reason.strip():
            raise LedgerError("removed_reason: a removal needs its reason (--reason)")
        today = today or date.today()
        with self._lock:
            rows = self.rows(include_removed=True)
            for row in rows:
                if row["id"] == obs_id:
                    if row["removed_on"]:
                        raise LedgerError(f"{obs_id!r} was already removed on {row['removed_on']}")
                    row["removed_on"] = today.isoformat()
                    row["removed_reason"] = reason.strip()
                    atomic_write_text(self.path, _serialize(rows))
                    return row
        raise LedgerError(f"no observation with id {obs_id!r}")


def _fresh_id(row: dict[str, str], taken: set[str]) -> str:
    parts = [row["kind"], slug(row["subject"])]
    if row["metric"]:
        parts.append(slug(row["metric"]))
    parts.append(row["date"])
    base = ":".join(parts)[:110]
    candidate, n = base, 2
    while candidate in taken:
        candidate, n = f"{base}-{n}", n + 1
    return candidate


def observation_frame(rows: Sequence[dict[str, str]],
                      tokens_per_word: float = DEFAULT_TOKENS_PER_WORD) -> pd.DataFrame:
    """Typed observations for the model: one row per observation, indexed by ``id``.

    Adds ``t`` (decimal year of ``date``), ``t_target`` (of ``target_date``), the value and
    interval in the base unit of their dimension (``value_base``, ``low_base``,
    ``high_base``) and ``dimension``. Assumes the rows are valid (see :meth:`Ledger.problems`).
    """
    records = []
    for row in rows:
        rec: dict[str, object] = dict(row)
        rec["t"] = decimal_year(row["date"])
        rec["t_target"] = decimal_year(row["target_date"]) if row["target_date"] else np.nan
        rec["dimension"] = dimension_of(row["unit"]).name
        for f in ("value", "low", "high"):
            rec[f"{f}_base"] = (to_base(float(row[f]), row["unit"], tokens_per_word)
                                if row[f] else np.nan)
        records.append(rec)
    columns = [*FIELDS, "t", "t_target", "dimension", "value_base", "low_base", "high_base"]
    return pd.DataFrame.from_records(records, columns=columns).set_index("id", drop=False)


def observation_hash(rows: Sequence[dict[str, str]]) -> str:
    """A short, order-independent hash of an observation set (what a run was fitted to)."""
    return hashlib.sha256(_serialize(sorted(rows, key=lambda r: r["id"])).encode()).hexdigest()[:16]
