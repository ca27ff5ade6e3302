"""The ledger: one CSV file of observations, read strictly and written atomically.

Why one file: an ``add --file`` of many rows, or a removal, must land whole or not at all,
and one ``os.replace`` of one file is atomic. Rows are sorted by kind, date and id, so a new
observation is a one-line diff. Removed rows stay in the file with ``removed_on`` and
``removed_reason`` filled in: the ledger keeps what was withdrawn and why, and every
reader skips them.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import math
import os
import re
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from filelock import FileLock

from gpt2030.observations.files import atomic_write
from gpt2030.observations.schema import (
    FIELDS,
    FORCED_MARK,
    Problem,
    decimal_year,
    forced,
    parse_number,
    validate_row,
)
from gpt2030.observations.units import DEFAULT_TOKENS_PER_WORD, UNITS, dimension_of, to_base

if TYPE_CHECKING:
    import pandas as pd

LEDGER_NAME = "ledger.csv"


class LedgerError(ValueError):
    """A row, or the whole ledger, was refused; nothing was written.

    ``problems`` lists every located problem (``file:line: field: reason``) when there are
    several; the message itself is one line.
    """

    def __init__(self, message: str, problems: Sequence[object] = ()) -> None:
        super().__init__(message)
        self.problems = [str(p) for p in problems]


#: Fields of a new row kept exactly as given: a padded number or date is refused, not trimmed.
_UNTRIMMED = ("value", "low", "high", "date", "target_date")


@dataclass(frozen=True)
class RowProblem:
    """A problem located in a file: ``path:line: field: message``."""

    path: Path
    line: int
    id: str
    problem: Problem

    def __str__(self) -> str:
        """``path:line: [id] field: message``, as an editor's error list reads it."""
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


def read_text(path: Path) -> str:
    """A CSV file's text: UTF-8, with or without a byte-order mark; anything else refused.

    Raises
    ------
    LedgerError
        Naming the file and the line of the first byte that is not UTF-8 (or a UTF-16/32
        byte-order mark, or a NUL byte: a binary file).
    """
    if not path.exists():
        raise LedgerError(f"{path}: no such file")
    if not path.is_file():
        raise LedgerError(f"{path}: not a file")
    data = path.read_bytes()
    for bom, name in ((codecs.BOM_UTF32_LE, "UTF-32"), (codecs.BOM_UTF32_BE, "UTF-32"),
                      (codecs.BOM_UTF16_LE, "UTF-16"), (codecs.BOM_UTF16_BE, "UTF-16")):
        if data.startswith(bom):
            raise LedgerError(f"{path}:1: the file is {name} text; save it as UTF-8")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        raise LedgerError(f"{path}:{line}: not UTF-8 text (byte 0x{data[err.start]:02x}); "
                          "save the file as UTF-8") from None
    nul = text.find("\x00")
    if nul >= 0:
        raise LedgerError(f"{path}:{text.count(chr(10), 0, nul) + 1}: a NUL byte: not a CSV "
                          "text file")
    return text


def read_numbered_rows(path: Path) -> list[tuple[int, dict[str, str]]]:
    """Rows with the file line each starts on (a quoted field may span several lines)."""
    text = read_text(path)
    reader = csv.DictReader(io.StringIO(text, newline=""))
    rows = []
    try:
        header = reader.fieldnames or []
        if not header:
            raise LedgerError(f"{path}:1: no header row; columns are {list(FIELDS)}")
        unknown = [h for h in header if h not in FIELDS]
        if unknown:
            raise LedgerError(f"{path}:1: unknown column(s) {unknown}; columns are {list(FIELDS)}")
        twice = sorted({h for h in header if header.count(h) > 1})
        if twice:
            raise LedgerError(f"{path}:1: column(s) {twice} appear twice")
        start = reader.line_num + 1
        for row in reader:
            if None in row:  # more cells than header columns
                raise LedgerError(f"{path}:{start}: row has more cells than the header")
            rows.append((start, {f: (row.get(f) or "") for f in FIELDS}))
            start = reader.line_num + 1
    except csv.Error as err:
        raise LedgerError(f"{path}:{reader.line_num}: not a readable CSV row ({err})") from None
    return rows


def _serialize(rows: Iterable[dict[str, str]]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=FIELDS, lineterminator="\n")
    # With "\n" line endings the csv module leaves a field holding a bare "\r" unquoted,
    # which no reader parses back: such a row is written with every field quoted.
    quoted = csv.DictWriter(buf, fieldnames=FIELDS, lineterminator="\n",
                            quoting=csv.QUOTE_ALL)
    writer.writeheader()
    for row in rows:
        (quoted if any("\r" in (v or "") for v in row.values()) else writer).writerow(row)
    return buf.getvalue()


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that readers see the old file or the new, never a half.

    The ledger's name for :func:`gpt2030.observations.files.atomic_write`, the one atomic
    write (an existing file keeps its permissions).
    """
    atomic_write(path, text)


def ensure_writable(folder: Path) -> None:
    """Create ``folder`` if needed and check that a file can be written in it.

    Raises
    ------
    OSError
        Naming the folder (not a temporary name) when it is read-only or cannot be made:
        checked before a lock is taken or minutes of sampling are spent.
    """
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".gpt2030-probe-")
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise type(err)(err.errno, err.strerror, str(folder)) from None


def _sort_key(row: dict[str, str]) -> tuple[str, str, str]:
    return (row["kind"], row["date"], row["id"])


def _fact_key(row: dict[str, str]) -> tuple:
    """What makes two rows the same fact, whatever their ids, citations and units.

    The value is compared in the base unit of its dimension (600 tokens/min is 10 tokens/s),
    to 10 significant digits. Units counted in words are compared only with word units: how
    many tokens a word is is a parameter of the model, not a fact.
    """
    value: tuple
    try:
        unit = UNITS[row["unit"]]
        base = parse_number(row["value"]) * unit.factor
        value = (unit.dimension, unit.word_power, float(f"{base:.10g}"))
    except (KeyError, ValueError):
        value = (row["unit"], row["value"])
    return (row["kind"], row["subject"].strip().casefold(), row["metric"].strip().casefold(),
            row["date"], value)


def with_defaults(row: dict[str, str]) -> dict[str, str]:
    """The defaults of ``observe add`` for fields left empty, flags or ``--file`` alike.

    ``status``: ``forecast`` when there is a ``target_date``, else ``measured``;
    ``interval``: ``90%`` when ``low`` or ``high`` is given.
    """
    row = dict(row)
    if not (row.get("status") or "").strip():
        row["status"] = "forecast" if (row.get("target_date") or "").strip() else "measured"
    if ((row.get("low") or "").strip() or (row.get("high") or "").strip()) and \
            not (row.get("interval") or "").strip():
        row["interval"] = "90%"
    return row


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
        return self._problems(read_numbered_rows(self.path), today)

    def _problems(self, numbered: list[tuple[int, dict[str, str]]],
                  today: date | None) -> list[RowProblem]:
        found: list[RowProblem] = []
        seen_ids: dict[str, int] = {}
        seen_facts: dict[tuple, int] = {}
        for line, row in numbered:
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
            origin: str = "input", lines: Sequence[int] | None = None,
            force_implausible: bool = False,
            supersede: Mapping[str, str] | None = None) -> list[dict[str, str]]:
        """Validate and add rows, all or none.

        Fills in ``added``, a missing ``id`` and the defaults of :func:`with_defaults`.

        Parameters
        ----------
        new_rows : sequence of dict
            Rows as strings; missing fields are empty.
        today : datetime.date, optional
            The ``added`` stamp and the limit for "in the future"; defaults to today.
        origin : str
            How to name the input in messages (a file path, or "input").
        lines : sequence of int, optional
            The line of ``origin`` each row starts on: problems then read
            ``origin:line: field: reason``.
        force_implausible : bool
            Accept values outside :data:`~gpt2030.observations.schema.PLAUSIBLE`; such a row
            needs a note, which is stored behind :data:`FORCED_MARK`.
        supersede : mapping of str to str, optional
            Stored rows withdrawn in the same write, id -> reason: each stays in the file as
            a removed row (as :meth:`remove` leaves it), so a corrected value replaces the
            old one in one atomic step, and the old fact is no duplicate of its successor.

        Returns
        -------
        list of dict
            The rows as stored.

        Raises
        ------
        LedgerError
            Listing every bad row and field (``problems``); the ledger is left
            byte-identical. Also when the stored ledger itself fails validation: a write
            never silently carries a broken ledger forward.
        """
        today = today or date.today()
        ensure_writable(self.path.parent)
        with self._lock:
            numbered = self._read_valid(today, "added")
            existing = [row for _, row in numbered]
            supersede = dict(supersede or {})
            live = {r["id"] for r in existing if not r["removed_on"]}
            gone = [i for i in supersede if i not in live]
            if gone:
                raise LedgerError(f"{gone[0]!r} is not a live observation of the ledger: it "
                                  "cannot be superseded; nothing was added")
            ids = {r["id"] for r in existing}
            stored_ids = frozenset(ids)
            facts = {_fact_key(r): r["id"] for r in existing
                     if not r["removed_on"] and r["id"] not in supersede}
            prepared = []
            found: list[str] = []
            bad_rows = 0
            for n, raw in enumerate(new_rows, start=1):
                if lines is not None:
                    where = f"{origin}:{lines[n - 1]}"
                elif len(new_rows) > 1 or origin != "input":
                    where = f"{origin}: row {n}"
                else:
                    where = "input"
                row = {f: (raw.get(f) or "") if f in _UNTRIMMED else (raw.get(f) or "").strip()
                       for f in FIELDS}
                row = with_defaults(row)
                row["added"] = row["added"] or today.isoformat()
                row_problems: list[str] = []
                if row["removed_on"] or row["removed_reason"]:
                    row_problems.append("removed_on: new rows cannot arrive removed")
                if not row["id"] and row["kind"] and row["subject"] and row["date"]:
                    row["id"] = _fresh_id(row, ids)
                    generated = True
                else:
                    generated = False
                if forced(row) and not force_implausible:
                    row_problems.append(f"note: starts with {FORCED_MARK!r}, which only "
                                        "--force-implausible may set")
                problems = validate_row(row, today=today)
                if problems and force_implausible and not forced(row):
                    marked = {**row, "note": f"{FORCED_MARK} {row['note']}".rstrip()}
                    if not validate_row(marked, today=today):
                        row, problems = marked, []
                    elif not row["note"] and not validate_row(
                            {**marked, "note": f"{FORCED_MARK} why"}, today=today):
                        problems = [Problem("note", "--force-implausible needs a note saying "
                                            "why the value is right")]
                if generated and len(problems) > 1:
                    # An id made from a bad field is not a second problem.
                    problems = [p for p in problems if p.field != "id"]
                row_problems += [str(p) for p in problems]
                if not problems and row["id"] in ids:
                    row_problems.append(f"id: {row['id']!r} is already in the ledger")
                key = _fact_key(row)
                if not problems and key in facts:
                    where_else = ("is already in the ledger as" if facts[key] in stored_ids
                                  else "came earlier in this input as")
                    row_problems.append(f"duplicate: the same fact {where_else} {facts[key]!r}")
                if row_problems:
                    bad_rows += 1
                    found += [f"{where}: {p}" for p in row_problems]
                    continue
                ids.add(row["id"])
                facts[key] = row["id"]
                prepared.append(row)
            if found:
                if len(found) == 1:
                    raise LedgerError(found[0])
                if len(new_rows) == 1:
                    raise LedgerError(f"{found[0]}; " + "; ".join(
                        p.removeprefix(f"{where}: ") for p in found[1:]))
                raise LedgerError(f"{origin}: {bad_rows} of {len(new_rows)} row(s) refused "
                                  "(listed above); nothing was added", found)
            for row in existing:
                if row["id"] in supersede:
                    row["removed_on"] = today.isoformat()
                    row["removed_reason"] = supersede[row["id"]].strip()
            atomic_write_text(self.path, _serialize(sorted(existing + prepared, key=_sort_key)))
        return prepared

    def _read_valid(self, today: date, undone: str) -> list[tuple[int, dict[str, str]]]:
        """The stored rows, numbered, read under the lock by a write.

        A write never carries a broken ledger forward: a stored ledger that fails
        validation is refused, and nothing is ``undone`` (added, removed).
        """
        numbered = read_numbered_rows(self.path)
        stored = self._problems(numbered, today)
        if stored:
            raise LedgerError(
                f"{self.path} has {len(stored)} problem(s) (listed above): fix them first "
                f"(`gpt2030 observe validate`); nothing was {undone}", stored)
        return numbered

    def remove(self, obs_id: str, reason: str, today: date | None = None) -> dict[str, str]:
        """Withdraw an observation, keeping it in the file with the date and the reason."""
        if not reason.strip():
            raise LedgerError("removed_reason: a removal needs its reason (--reason)")
        today = today or date.today()
        ensure_writable(self.path.parent)
        with self._lock:
            numbered = self._read_valid(today, "removed")
            rows = [row for _, row in numbered]
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
    import pandas as pd  # here, not at the top: the observe commands never need it

    records = []
    for row in rows:
        rec: dict[str, object] = dict(row)
        rec["t"] = decimal_year(row["date"])
        rec["t_target"] = decimal_year(row["target_date"]) if row["target_date"] else math.nan
        rec["dimension"] = dimension_of(row["unit"]).name
        for f in ("value", "low", "high"):
            rec[f"{f}_base"] = (to_base(float(row[f]), row["unit"], tokens_per_word)
                                if row[f] else math.nan)
        records.append(rec)
    columns = [*FIELDS, "t", "t_target", "dimension", "value_base", "low_base", "high_base"]
    return pd.DataFrame.from_records(records, columns=columns).set_index("id", drop=False)


def observation_hash(rows: Sequence[dict[str, str]]) -> str:
    """A short, order-independent hash of an observation set (what a run was fitted to)."""
    return hashlib.sha256(_serialize(sorted(rows, key=lambda r: r["id"])).encode()).hexdigest()[:16]
