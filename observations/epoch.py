"""Evidence in bulk from Epoch AI's Notable AI Models CSV, the file its page offers.

https://epoch.ai/data/notable-ai-models offers the dataset as a CSV, updated daily; a user
downloads it and ``gpt2030 observe import --from epoch-notable-models FILE.csv`` reads it
(nothing reaches the network). Each model of the file in scope (a language model, published
on or after ``since``) gives up to three ledger rows, with the ids, kinds, metrics, units,
statuses and confidence labels of the shipped rows taken from the same dataset:

==================  ====================================  ==================================
column              ledger row                            id
==================  ====================================  ==================================
Training compute    ``training_compute``, FLOP            ``training_compute:<model>``
Parameters          ``parameters``, metric ``total``      ``parameters:<model>``
Training dataset    ``training_tokens``, metric           ``training_tokens:<model>:``
size (total)        ``dataset_size``, tokens              ``dataset-size``
==================  ====================================  ==================================

``<model>`` is the model's name as :func:`~gpt2030.observations.store.slug` writes it; the
date is the publication date; values keep 4 significant digits (as the shipped rows);
``confidence`` is Epoch's label in lower case (``Unknown`` and empty: none). ``status``:
training compute is ``official`` when the file's estimation method (a column of the 2025
vintages) includes ``Reported``, else ``estimate``; a parameter count or dataset size is
``official`` when Epoch is ``Confident``, else ``estimate`` (its error then follows Epoch's
confidence label). The source names the dataset, the download date (``vintage``) and the
file, and the model's link; the note is the start of Epoch's notes for that figure.

Re-importing a newer vintage (:func:`plan_import`) adds only facts the ledger lacks; a
value, date or confidence label that differs from the ledger's row of the same model and
figure is a proposed change, recorded only when asked (the old row is then kept as a removed
row with the reason, its successor gets a new id). A fact the ledger holds from another
source, or withdrew earlier, is left alone. A value outside the plausible range of its kind
(tiny models, fine-tuning sets counted as datasets) is not imported, and listed.
"""

from __future__ import annotations

import csv
import io
import math
import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from gpt2030.observations.schema import (
    FIELDS,
    implausible,
    parse_date,
    parse_number,
)
from gpt2030.observations.store import LedgerError, read_text, slug
from gpt2030.observations.units import to_base

#: ``--from`` name of this format.
NAME = "epoch-notable-models"
DATASET = "Epoch AI Notable AI Models dataset (https://epoch.ai/data/notable-ai-models)"
#: A ledger row whose source contains this came from the dataset.
SOURCE_MARK = "epoch.ai/data/notable-ai-models"

MODEL, DATE, DOMAIN = "Model", "Publication date", "Domain"
COMPUTE, PARAMETERS, CONFIDENCE, LINK = ("Training compute (FLOP)", "Parameters", "Confidence",
                                         "Link")
#: The dataset-size column read, in tokens: in the 2026 vintage Epoch converted the words
#: of its earlier ``(datapoints)`` column at 4/3 tokens per word for most language models
#: (LaMDA 1.56e12 words -> 2.08e12, GPT-2 8e9 -> 1.07e10; recent models were already in
#: tokens). A few pre-2020 entries look unconverted (ALBERT: BERT's 3.3e9 words): a
#: judgement to accept, their models are far below the frontier.
DATASET_SIZE = "Training dataset size (total)"
#: The earlier vintages' column, which mixes words (older models) and tokens (recent ones)
#: row by row: its sizes are not imported.
DATAPOINTS = "Training dataset size (datapoints)"
#: Epoch's notes column for each figure.
NOTES = {"training_compute": "Training compute notes", "parameters": "Parameters notes",
         "training_tokens": "Dataset size notes"}
METHOD = "Training compute estimation method"
REQUIRED = (MODEL, DATE, DOMAIN, COMPUTE, PARAMETERS, CONFIDENCE)
#: Epoch's confidence labels the ledger keeps (others, e.g. ``Unknown``, become none).
LABELS = ("confident", "likely", "speculative")
#: Characters of Epoch's notes kept in a row's note.
NOTE_CHARS = 200
#: Significant digits a value keeps (the shipped rows' convention).
DIGITS = 4


@dataclass(frozen=True)
class Fact:
    """A ledger row made from one line of the file."""

    line: int
    row: dict[str, str]


@dataclass(frozen=True)
class Change:
    """A figure whose value, date or confidence differs from the ledger's row of it."""

    old: dict[str, str]
    new: Fact
    fields: tuple[str, ...]

    def describe(self) -> str:
        """``value 4.56e+24 FLOP -> 3.408e+24 FLOP, date ...``: what changes."""
        def shown(row: dict[str, str], f: str) -> str:
            text = row[f] or "(none)"
            return f"{text} {row['unit']}" if f == "value" else text

        return ", ".join(f"{f} {shown(self.old, f)} -> {shown(self.new.row, f)}"
                         for f in self.fields)


@dataclass
class EpochFile:
    """What a file gives: ledger rows, values not imported, remarks, lines in scope."""

    facts: list[Fact]
    skipped: list[str]  # "file:line: column: why"
    remarks: list[str]  # about the whole file
    in_scope: int
    out_of_scope: int


@dataclass
class ImportPlan:
    """What an import would do to the ledger."""

    new: list[Fact] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)  # ledger ids, same fact
    elsewhere: list[tuple[Fact, str]] = field(default_factory=list)  # held from another source
    withdrawn: list[tuple[Fact, str]] = field(default_factory=list)  # removed from the ledger
    skipped: list[str] = field(default_factory=list)  # "file:line: column: why"
    in_scope: int = 0
    out_of_scope: int = 0


def _collapse(text: str) -> str:
    return re.sub(r"\s+", " ", text or "").strip()


def _value(x: float) -> str:
    return format(x, f".{DIGITS}g")


def read_file(path: Path, vintage: date, since: date, today: date | None = None
              ) -> EpochFile:
    """The ledger rows a Notable AI Models CSV gives, or every problem in it.

    Parameters
    ----------
    path : pathlib.Path
        The downloaded CSV (UTF-8, with or without a byte-order mark).
    vintage : datetime.date
        When it was downloaded (named in each row's source).
    since : datetime.date
        Models published before this date are out of scope.
    today : datetime.date, optional
        The limit for "in the future" (default: today).

    Returns
    -------
    EpochFile
        The rows (in file order), the values not imported (``file:line: column: why``),
        remarks on the file, and how many lines were in and out of scope.

    Raises
    ------
    LedgerError
        Not this file (its header lacks a column this import reads), or a malformed line
        (an unreadable number or date, no model name, a model twice): every problem, each
        as ``file:line: column: reason``; nothing is imported.
    """
    today = today or date.today()
    text = read_text(path)
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise LedgerError(f"{path}:1: not Epoch AI's Notable AI Models CSV: no column "
                          f"{missing[0]!r} (download it from https://epoch.ai/data/"
                          "notable-ai-models)")
    reader.fieldnames = header
    size_col = DATASET_SIZE if DATASET_SIZE in header else None
    remarks = [] if size_col else [
        f"{path}: no {DATASET_SIZE!r} column" + (
            f"; this vintage's {DATAPOINTS!r} mixes words and tokens row by row, so its "
            "dataset sizes are not imported" if DATAPOINTS in header else "")]
    problems: list[str] = []
    skipped: list[str] = []
    facts: list[Fact] = []
    seen: dict[str, int] = {}
    in_scope = out_of_scope = 0
    source = f"{DATASET}, downloaded {vintage.isoformat()} ({path.name})"
    start = reader.line_num + 1
    try:
        for raw in reader:
            line, start = start, reader.line_num + 1
            if None in raw:
                problems.append(f"{path}:{line}: the line has more cells than the header")
                continue
            row = {k: (v or "") for k, v in raw.items()}
            got = _read_line(path, line, row, size_col, source, since, today)
            if got is None:
                out_of_scope += 1
                continue
            in_scope += 1
            rows, bad, not_imported = got
            problems += bad
            skipped += not_imported
            name = _collapse(row[MODEL])
            if name and not bad:
                key = slug(name)
                if key in seen:
                    problems.append(f"{path}:{line}: {MODEL}: {name!r} is the model of line "
                                    f"{seen[key]} too")
                    continue
                seen[key] = line
                facts += [Fact(line, r) for r in rows]
    except csv.Error as err:
        raise LedgerError(f"{path}:{reader.line_num}: not a readable CSV line ({err}); "
                          "nothing was imported") from None
    if problems:
        raise LedgerError(f"{path}: {len(problems)} problem(s) (listed above); nothing was "
                          "imported", problems)
    return EpochFile(facts, skipped, remarks, in_scope, out_of_scope)


def _read_line(path: Path, line: int, row: dict[str, str], size_col: str | None, source: str,
               since: date, today: date
               ) -> tuple[list[dict[str, str]], list[str], list[str]] | None:
    """One line's rows, problems and values not imported; None when out of scope."""
    where = f"{path}:{line}"
    if "language" not in row[DOMAIN].casefold():
        return None
    text = row[DATE].strip()
    try:
        day = parse_date(text)[0]
    except ValueError as err:
        return [], [f"{where}: {DATE}: {err}"], []
    if day < since:
        return None
    problems: list[str] = []
    name = _collapse(row[MODEL])
    if not name:
        problems.append(f"{where}: {MODEL}: is empty")
    if day > today:
        problems.append(f"{where}: {DATE}: {text} is in the future")
    label = row[CONFIDENCE].strip().casefold()
    confidence = label if label in LABELS else ""
    method = {m.strip().casefold() for m in row.get(METHOD, "").split(",")}
    link = row.get(LINK, "").strip()
    figures = [("training_compute", COMPUTE, "", "FLOP", ""),
               ("parameters", PARAMETERS, "total", "parameters", "")]
    if size_col:
        figures.append(("training_tokens", size_col, "dataset_size", "tokens",
                        ":dataset-size"))
    rows, skipped = [], []
    for kind, column, metric, unit, suffix in figures:
        cell = row[column].strip()
        if not cell:
            continue
        try:
            x = parse_number(cell)
        except ValueError as err:
            problems.append(f"{where}: {column}: {err}")
            continue
        if x <= 0 or not math.isfinite(x):
            why = "not positive"
        else:
            why = implausible(x, unit, kind)
        if why:
            skipped.append(f"{where}: {column}: {why.split('; if it is right')[0]}")
            continue
        if kind == "training_compute":
            status = "official" if "reported" in method else "estimate"
        else:
            status = "official" if confidence == "confident" else "estimate"
        note = _collapse(row.get(NOTES[kind], ""))
        if len(note) > NOTE_CHARS:
            note = note[:NOTE_CHARS].rstrip() + "..."
        rows.append({**dict.fromkeys(FIELDS, ""),
                     "id": f"{kind}:{slug(name)}{suffix}", "kind": kind, "subject": name,
                     "metric": metric, "date": text, "value": _value(x), "unit": unit,
                     "status": status, "confidence": confidence,
                     "source": source + (f"; model: {link}" if link else ""),
                     "note": f"Epoch: {note}" if note else ""})
    return rows, problems, skipped


def _key(row: dict[str, str]) -> tuple[str, str, str]:
    return (row["kind"], slug(row["subject"]), row["metric"].casefold())


def _same_value(a: dict[str, str], b: dict[str, str]) -> bool:
    try:
        x, y = to_base(float(a["value"]), a["unit"]), to_base(float(b["value"]), b["unit"])
    except (KeyError, ValueError):
        return a["value"] == b["value"] and a["unit"] == b["unit"]
    return math.isclose(x, y, rel_tol=10.0 ** (1 - DIGITS) / 2)


def plan_import(ledger_rows: list[dict[str, str]], facts: list[Fact]) -> ImportPlan:
    """Sort the file's facts into new, unchanged, changed and left alone.

    A fact is matched to the ledger's live row of the same kind, model (its slug) and
    metric: the same value (to 4 significant digits, in base units), date and confidence
    is unchanged; otherwise a change, when that row came from this dataset, and left
    alone (``elsewhere``) when it came from another source. A fact whose id the ledger
    has only as a removed row was withdrawn: it is not added again.

    Parameters
    ----------
    ledger_rows : list of dict
        Every row of the ledger, removed ones included.
    facts : list of Fact
        The file's rows (:func:`read_file`).

    Returns
    -------
    ImportPlan
    """
    plan = ImportPlan()
    live = {_key(r): r for r in ledger_rows if not r["removed_on"]}
    removed = {r["id"]: r for r in ledger_rows if r["removed_on"]}
    for fact in facts:
        old = live.get(_key(fact.row))
        if old is None:
            if fact.row["id"] in removed:
                plan.withdrawn.append((fact, removed[fact.row["id"]]["removed_reason"]))
            else:
                plan.new.append(fact)
            continue
        differ = tuple(f for f, same in (
            ("value", _same_value(old, fact.row)), ("date", old["date"] == fact.row["date"]),
            ("confidence", old["confidence"] == fact.row["confidence"])) if not same)
        if not differ:
            plan.unchanged.append(old["id"])
        elif SOURCE_MARK not in old["source"]:
            plan.elsewhere.append((fact, old["id"]))
        else:
            plan.changes.append(Change(old, fact, differ))
    return plan


def successor_id(old_id: str, vintage: date, taken: set[str]) -> str:
    """A new id for the row that replaces ``old_id``: ``<old id>:<vintage>`` (unique).

    Parameters
    ----------
    old_id : str
        The superseded row's id.
    vintage : datetime.date
        The file's vintage.
    taken : set of str
        Ids in use.

    Returns
    -------
    str
    """
    base = re.sub(r":\d{4}-\d{2}-\d{2}(-\d+)?$", "", old_id)[:108] + f":{vintage.isoformat()}"
    candidate, n = base, 2
    while candidate in taken:
        candidate, n = f"{base}-{n}", n + 1
    return candidate
