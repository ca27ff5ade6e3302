"""Issue #2: the ledger store: strict reads, atomic all-or-nothing writes, the typed frame."""

from __future__ import annotations

import math
import tempfile
from datetime import date
from pathlib import Path

import numpy as np
import pytest
from conftest import SHIPPED_LEDGER
from hypothesis import given, settings
from hypothesis import strategies as st

from gpt2030.observations import (
    FIELDS,
    Ledger,
    LedgerError,
    ledger_path,
    observation_frame,
    observation_hash,
)
from gpt2030.observations.schema import validate_row
from gpt2030.observations.store import atomic_write_text, read_rows

#: After every shipped row was added (their ``added`` stamps must not be in the future).
TODAY = date(2027, 1, 1)


def new_row(**changes: str) -> dict[str, str]:
    row = {"kind": "inference_speed", "subject": "test-model", "metric": "OpenAI API",
           "date": "2024-03", "value": "20", "unit": "tokens/s", "status": "measured",
           "source": "example"}
    row.update(changes)
    return row


@pytest.fixture
def ledger(home: Path) -> Ledger:
    return Ledger(ledger_path())


def stray_files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


def test_ledger_path_follows_home(home: Path) -> None:
    assert ledger_path() == home / "observations" / "ledger.csv"
    assert ledger_path(Path("/x")) == Path("/x/observations/ledger.csv")


def test_shipped_ledger_is_valid_and_sorted() -> None:
    ledger = Ledger(SHIPPED_LEDGER)
    assert ledger.problems() == []
    rows = ledger.rows(include_removed=True)
    assert len(rows) > 400
    keys = [(r["kind"], r["date"], r["id"]) for r in rows]
    assert keys == sorted(keys)
    assert len({r["id"] for r in rows}) == len(rows)
    header = SHIPPED_LEDGER.read_text(encoding="utf-8").splitlines()[0]
    assert header == ",".join(FIELDS)


def test_every_shipped_row_has_a_source() -> None:
    for row in Ledger(SHIPPED_LEDGER).rows(include_removed=True):
        assert row["source"].strip(), row["id"]


def test_unchanged_rows_round_trip_byte_for_byte(ledger: Ledger) -> None:
    before = ledger.path.read_bytes()
    ledger.add([new_row()], today=TODAY)
    added_id = "inference_speed:test-model:openai-api:2024-03"
    after = ledger.path.read_text(encoding="utf-8").splitlines(keepends=True)
    # Removing the one new line gives back the original file exactly.
    kept = "".join(line for line in after if not line.startswith(added_id + ","))
    assert kept.encode("utf-8") == before


def test_add_fills_id_and_added(ledger: Ledger) -> None:
    (row,) = ledger.add([new_row()], today=TODAY)
    assert row["id"] == "inference_speed:test-model:openai-api:2024-03"
    assert row["added"] == "2027-01-01"
    assert ledger.get(row["id"]) == row
    assert ledger.problems(today=TODAY) == []


def test_fresh_ids_do_not_collide(ledger: Ledger) -> None:
    a, = ledger.add([new_row()], today=TODAY)
    b, = ledger.add([new_row(value="21")], today=TODAY)
    assert a["id"] != b["id"]
    assert b["id"] == a["id"] + "-2"


def test_add_is_all_or_nothing(ledger: Ledger) -> None:
    before = ledger.path.read_bytes()
    rows = [new_row(), new_row(value="25", date="2024-04"), new_row(value="abc", date="2024-05")]
    with pytest.raises(LedgerError, match=r"row 3: value"):
        ledger.add(rows, today=TODAY)
    assert ledger.path.read_bytes() == before
    assert stray_files(ledger.path.parent) == []


def test_duplicate_fact_and_duplicate_id_are_refused(ledger: Ledger) -> None:
    ledger.add([new_row()], today=TODAY)
    before = ledger.path.read_bytes()
    # The same fact, with another citation and another case of subject.
    with pytest.raises(LedgerError, match="duplicate"):
        ledger.add([new_row(subject="TEST-MODEL", source="another", value="20.0")], today=TODAY)
    with pytest.raises(LedgerError, match="already in the ledger"):
        ledger.add([new_row(id="inference_speed:test-model:openai-api:2024-03", value="30")],
                   today=TODAY)
    # Two copies of one fact within one batch.
    with pytest.raises(LedgerError, match="duplicate"):
        ledger.add([new_row(date="2024-07"), new_row(date="2024-07", source="b")], today=TODAY)
    assert ledger.path.read_bytes() == before


def test_rows_cannot_arrive_removed(ledger: Ledger) -> None:
    with pytest.raises(LedgerError, match="removed_on"):
        ledger.add([new_row(removed_on="2025-01-01", removed_reason="x")], today=TODAY)


def test_future_rows_are_refused(ledger: Ledger) -> None:
    with pytest.raises(LedgerError, match="date: 2027-03 is in the future"):
        ledger.add([new_row(date="2027-03")], today=TODAY)


def test_remove_keeps_the_row_with_date_and_reason(ledger: Ledger) -> None:
    (row,) = ledger.add([new_row()], today=TODAY)
    n = len(ledger.rows())
    removed = ledger.remove(row["id"], "  wrong model  ", today=date(2027, 2, 1))
    assert removed["removed_on"] == "2027-02-01"
    assert removed["removed_reason"] == "wrong model"
    assert len(ledger.rows()) == n - 1
    assert row["id"] not in {r["id"] for r in ledger.rows()}
    assert ledger.get(row["id"])["removed_reason"] == "wrong model"
    assert ledger.problems(today=date(2027, 2, 1)) == []
    with pytest.raises(LedgerError, match="already removed"):
        ledger.remove(row["id"], "again", today=date(2027, 2, 1))
    # A removed fact may be added again (a corrected reading, say), under a new id.
    (again,) = ledger.add([new_row()], today=date(2027, 2, 1))
    assert again["id"] != row["id"]


def test_remove_needs_a_reason_and_an_existing_id(ledger: Ledger) -> None:
    before = ledger.path.read_bytes()
    with pytest.raises(LedgerError, match="reason"):
        ledger.remove(ledger.rows()[0]["id"], "  ")
    with pytest.raises(LedgerError, match="no observation"):
        ledger.remove("no-such-id", "x")
    with pytest.raises(LedgerError, match="no observation"):
        ledger.get("no-such-id")
    assert ledger.path.read_bytes() == before


def test_problems_locate_file_and_line(tmp_path: Path) -> None:
    lines = SHIPPED_LEDGER.read_text(encoding="utf-8").splitlines(keepends=True)
    row = lines[5].split(",")
    row[6] = "abc"  # the value column of line 6
    lines[5] = ",".join(row)
    lines.append(lines[10])  # a duplicate id on the last line
    path = tmp_path / "ledger.csv"
    path.write_text("".join(lines), encoding="utf-8")
    found = Ledger(path).problems()
    located = {(p.line, p.problem.field) for p in found}
    assert (6, "value") in located
    assert (len(lines), "id") in located
    assert any(str(p).startswith(f"{path}:6:") for p in found)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("id,kind,colour\n", "unknown column"),
        (",".join(FIELDS) + "\n" + "a," * len(FIELDS) + "extra\n", "more cells"),
    ],
)
def test_read_rows_refuses_bad_files(tmp_path: Path, text: str, match: str) -> None:
    path = tmp_path / "x.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(LedgerError, match=match):
        read_rows(path)


def test_read_rows_missing_file(tmp_path: Path) -> None:
    with pytest.raises(LedgerError, match="no such file"):
        read_rows(tmp_path / "missing.csv")


def test_read_rows_accepts_a_subset_of_columns(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("kind,value\ninference_speed,3\n", encoding="utf-8")
    (row,) = read_rows(path)
    assert list(row) == list(FIELDS)
    assert row["kind"] == "inference_speed" and row["value"] == "3" and row["id"] == ""


def test_atomic_write_text(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "f.txt"
    atomic_write_text(path, "one\n")
    path.chmod(0o640)
    atomic_write_text(path, "two\n")
    assert path.read_text() == "two\n"
    assert (path.stat().st_mode & 0o777) == 0o640
    assert stray_files(path.parent) == []


def test_atomic_write_text_leaves_old_file_on_failure(tmp_path: Path) -> None:
    path = tmp_path / "f.txt"
    atomic_write_text(path, "old\n")
    with pytest.raises(UnicodeEncodeError):
        atomic_write_text(path, "bad \udcff surrogate")
    assert path.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["f.txt"]


def test_observation_frame() -> None:
    rows = Ledger(SHIPPED_LEDGER).rows()
    frame = observation_frame(rows)
    assert len(frame) == len(rows)
    assert list(frame.index) == [r["id"] for r in rows]
    for col in ("t", "t_target", "dimension", "value_base", "low_base", "high_base"):
        assert col in frame.columns
    assert np.isfinite(frame["value_base"].astype(float)).all()
    gpt4 = frame.loc["inference_speed:gpt-4:trackoai-essay:2023-06"]
    assert gpt4["value_base"] == pytest.approx(12.0)
    assert gpt4["dimension"] == "speed"
    assert gpt4["t"] == pytest.approx(2023 + (151 + 15) / 365)
    assert math.isnan(gpt4["t_target"])
    forecasts = frame[frame["status"] == "forecast"]
    assert len(forecasts) and forecasts["t_target"].notna().all()


def test_observation_frame_converts_words_with_tokens_per_word() -> None:
    row = {f: "" for f in FIELDS}
    row.update(id="x", kind="inference_speed", subject="gpt-4", date="2023-06", value="540",
               unit="words/min", status="measured", source="s", added="2025-01-01")
    assert validate_row(row) == []
    assert observation_frame([row])["value_base"].iloc[0] == pytest.approx(12.0)
    assert observation_frame([row], tokens_per_word=1.5)["value_base"].iloc[0] == pytest.approx(
        13.5)


def test_observation_hash_is_order_independent_and_sensitive() -> None:
    rows = Ledger(SHIPPED_LEDGER).rows()
    h = observation_hash(rows)
    assert len(h) == 16
    assert observation_hash(list(reversed(rows))) == h
    assert observation_hash(rows[1:]) != h
    changed = [dict(r) for r in rows]
    changed[0]["value"] = changed[0]["value"] + "1"
    assert observation_hash(changed) != h


def test_problem_lines_survive_multiline_fields(ledger: Ledger) -> None:
    ledger.add([new_row(kind="benchmark_score", metric="MATH", value="50", unit="%",
                        date="2023-01", note="line one\nline two")], today=TODAY)
    lines = ledger.path.read_text(encoding="utf-8").splitlines(keepends=True)
    last = len(lines)
    lines[-1] = lines[-1].replace(",official,", ",guessed,", 1).replace(
        ",estimate,", ",guessed,", 1).replace(",measured,", ",guessed,", 1)
    assert ",guessed," in lines[-1]
    ledger.path.write_text("".join(lines), encoding="utf-8")
    (problem,) = ledger.problems()
    assert problem.problem.field == "status"
    assert problem.line == last


TEXT = st.text(st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\x00")
               | st.sampled_from([",", '"', "\n", "\r", "'", ";"]), max_size=40)


@settings(derandomize=True, database=None, max_examples=60, deadline=None)
@given(note=TEXT, source=TEXT.filter(str.strip),
       subject=TEXT.filter(lambda t: t.strip() and not any(c in t for c in "\n\r")))
def test_any_text_round_trips_through_the_file(note: str, subject: str, source: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "ledger.csv"
        atomic_write_text(path, ",".join(FIELDS) + "\n")
        ledger = Ledger(path)
        (row,) = ledger.add([new_row(note=note, subject=subject, source=source)], today=TODAY)
        assert row["note"] == note.strip() and row["source"] == source.strip()
        again = Ledger(path).get(row["id"])
        assert again == row
        assert Ledger(path).problems(today=TODAY) == []
        # Re-serialising what was read gives the same bytes.
        before = path.read_bytes()
        ledger.remove(row["id"], "x", today=TODAY)
        assert Ledger(path).get(row["id"])["note"] == row["note"]
        assert path.read_bytes() != before
