"""Issue #2: ``gpt2030 observe`` end to end on a temporary copy of the shipped ledger."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from gpt2030.cli.main import main
from gpt2030.observations import FIELDS, Ledger, ledger_path

GPT4_ESSAY_ID = "inference_speed:gpt-4:trackoai-essay:2023-06"
ADD = ["observe", "add", "--kind", "inference_speed", "--subject", "gpt-4", "--value", "20",
       "--unit", "tokens/s", "--date", "2024-03", "--source", "example"]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def snapshot(home: Path) -> dict[str, bytes]:
    """Every file under the home's observations folder, by name, with its bytes."""
    return {p.name: p.read_bytes() for p in sorted((home / "observations").iterdir())
            if not p.name.endswith(".lock")}


def test_list_csv_has_the_essay_gpt4_row(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "observe", "list", "--kind", "inference_speed", "--format", "csv")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert rows and all(r["kind"] == "inference_speed" for r in rows)
    assert list(rows[0]) == list(FIELDS)
    gpt4 = [r for r in rows if r["subject"] == "gpt-4" and r["date"] == "2023-06"
            and float(r["value"]) == 12 and r["unit"] == "tokens/s"]
    assert len(gpt4) == 1
    assert gpt4[0]["id"] == GPT4_ESSAY_ID
    assert "Steinhardt (2023)" in gpt4[0]["source"]
    assert "bounded-regret" in gpt4[0]["source"]


def test_list_filters_and_formats(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "observe", "list", "--subject", "GPT-4", "--since", "2023-06",
                       "--until", "2023-06", "--format", "json")
    assert code == 0
    rows = json.loads(out)
    assert GPT4_ESSAY_ID in {r["id"] for r in rows}
    assert all("gpt-4" in r["subject"].casefold() and r["date"].startswith("2023-06")
               for r in rows)
    code, out, _ = run(capsys, "observe", "list", "--kind", "inference_speed")
    assert code == 0 and "observation(s)" in out
    code, _, err = run(capsys, "observe", "list", "--since", "2023-13")
    assert code == 2 and "--since" in err


def test_add_then_show_then_duplicate(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, *ADD)
    assert code == 0
    assert out.startswith("added ")
    obs_id = out.split()[1]
    assert obs_id == "inference_speed:gpt-4:2024-03"
    code, out, _ = run(capsys, "observe", "show", obs_id)
    assert code == 0
    assert obs_id in out and "20" in out and "tokens/s" in out and "example" in out
    assert "measured" in out  # the default status
    code, out, _ = run(capsys, "observe", "show", obs_id, "--format", "json")
    assert json.loads(out)["value"] == "20"

    before = snapshot(home)
    code, out, err = run(capsys, *ADD)
    assert code != 0
    assert "duplicate" in err and obs_id in err
    assert snapshot(home) == before
    # The same fact under another id is still a duplicate.
    code, _, err = run(capsys, *ADD, "--id", "another-id")
    assert code != 0 and "duplicate" in err
    assert snapshot(home) == before


def test_show_unknown_id(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "observe", "show", "no-such-id")
    assert code == 2 and "no-such-id" in err


def _with(flag: str, value: str | None) -> list[str]:
    args = list(ADD)
    i = args.index(flag)
    if value is None:
        del args[i:i + 2]
    else:
        args[i + 1] = value
    return args


BAD_ADDS = {
    "value abc": (_with("--value", "abc"), "value"),
    "unit furlongs": (_with("--unit", "furlongs"), "unit"),
    "date 2023-13-40": (_with("--date", "2023-13-40"), "date"),
    "negative FLOP": (["observe", "add", "--kind", "training_compute", "--subject", "gpt-x",
                       "--value", "-5", "--unit", "FLOP", "--date", "2024-03",
                       "--source", "example"], "value"),
    "missing source": (_with("--source", None), "source"),
    "low above value": ([*ADD, "--low", "25", "--high", "30"], "low"),
    "future date": (_with("--date", "2999-01"), "date"),
}


@pytest.mark.parametrize("case", sorted(BAD_ADDS))
def test_bad_add_is_refused_naming_the_field_and_leaves_the_ledger_alone(
        case: str, home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv, field = BAD_ADDS[case]
    before = snapshot(home)
    code, out, err = run(capsys, *argv)
    assert code != 0
    assert out == ""
    message = err.strip()
    assert "\n" not in message, message  # one line
    assert message.startswith("gpt2030: error:")
    assert f"{field}:" in message, message
    assert snapshot(home) == before  # byte-identical, and no stray temp files


def test_bad_add_messages_say_what_is_wrong(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert "'abc' is not a number" in run(capsys, *_with("--value", "abc"))[2]
    err = run(capsys, *_with("--unit", "furlongs"))[2]
    assert "furlongs" in err and "tokens/s" in err
    assert "2023-13-40" in run(capsys, *_with("--date", "2023-13-40"))[2]
    assert "required" in run(capsys, *_with("--source", None))[2]


def write_rows(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=sorted({k for r in rows for k in r}))
        writer.writeheader()
        writer.writerows(rows)
    return path


def file_rows(n: int) -> list[dict[str, str]]:
    return [{"kind": "inference_speed", "subject": f"file-model-{i}", "metric": "OpenAI API",
             "date": "2024-05", "value": str(10 + i), "unit": "tokens/s", "status": "measured",
             "source": "example file"} for i in range(n)]


def test_add_file_adds_every_row(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    n_before = len(Ledger(ledger_path()).rows())
    path = write_rows(home / "rows.csv", file_rows(3))
    code, out, _ = run(capsys, "observe", "add", "--file", str(path))
    assert code == 0
    assert out.count("added ") == 3
    assert len(Ledger(ledger_path()).rows()) == n_before + 3
    assert run(capsys, "observe", "validate")[0] == 0


def test_add_file_with_one_bad_row_adds_nothing(home: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    rows = file_rows(4)
    rows[2]["value"] = "abc"
    path = write_rows(home / "rows.csv", rows)
    before = snapshot(home)
    code, out, err = run(capsys, "observe", "add", "--file", str(path))
    assert code != 0 and out == ""
    assert f"{path}:4: value: 'abc' is not a number" in err  # file:line: field: reason
    assert snapshot(home) == before


def test_add_file_refuses_extra_flags(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_rows(home / "rows.csv", file_rows(1))
    before = snapshot(home)
    code, _, err = run(capsys, "observe", "add", "--file", str(path), "--kind", "parameters")
    assert code != 0 and "--kind" in err
    assert snapshot(home) == before


def test_remove_keeps_the_row_and_list_hides_it(home: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "observe", "remove", GPT4_ESSAY_ID, "--reason", "x")
    assert code == 0 and GPT4_ESSAY_ID in out
    row = Ledger(ledger_path()).get(GPT4_ESSAY_ID)
    assert row["removed_on"] and row["removed_reason"] == "x"
    assert GPT4_ESSAY_ID in ledger_path().read_text(encoding="utf-8")
    code, out, _ = run(capsys, "observe", "list", "--format", "csv")
    assert GPT4_ESSAY_ID not in out
    code, out, _ = run(capsys, "observe", "list", "--removed", "--format", "csv")
    assert GPT4_ESSAY_ID in out
    code, out, _ = run(capsys, "observe", "show", GPT4_ESSAY_ID)
    assert code == 0 and "removed_reason" in out
    assert run(capsys, "observe", "validate")[0] == 0
    before = snapshot(home)
    code, _, err = run(capsys, "observe", "remove", GPT4_ESSAY_ID, "--reason", "again")
    assert code != 0 and "already removed" in err
    assert snapshot(home) == before


def test_remove_needs_a_reason(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = snapshot(home)
    with pytest.raises(SystemExit) as info:
        main(["observe", "remove", GPT4_ESSAY_ID])
    assert info.value.code == 2
    assert "--reason" in capsys.readouterr().err
    code, _, err = run(capsys, "observe", "remove", GPT4_ESSAY_ID, "--reason", " ")
    assert code != 0 and "reason" in err
    assert snapshot(home) == before


def test_validate_passes_on_the_shipped_store(home: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "observe", "validate")
    assert code == 0
    assert out.startswith("ok:") and "no problems" in out


def test_validate_reports_file_and_line_on_a_corrupted_copy(
        home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = ledger_path()
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    bad_line = 8
    lines[bad_line - 1] = lines[bad_line - 1].replace(",measured,", ",guessed,", 1).replace(
        ",estimate,", ",guessed,", 1).replace(",official,", ",guessed,", 1)
    assert ",guessed," in lines[bad_line - 1]
    path.write_text("".join(lines), encoding="utf-8")
    code, out, err = run(capsys, "observe", "validate")
    assert code == 1
    assert f"{path}:{bad_line}:" in out
    assert "status" in out and "guessed" in out
    assert "1 problem(s)" in err


def test_no_ledger_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("GPT2030_HOME", str(tmp_path))
    code, _, err = run(capsys, "observe", "list")
    assert code == 2 and "no ledger" in err and "GPT2030_HOME" in err


WRITER = textwrap.dedent("""
    import sys
    import time
    from pathlib import Path

    from gpt2030.cli.main import main
    tag = sys.argv[1]
    # Start together: report ready (after the slow imports), then wait for the go.
    Path(f"ready-{tag}").touch()
    while not Path("go").exists():
        time.sleep(0.005)
    for i in range(10):
        code = main(["observe", "add", "--kind", "inference_speed",
                     "--subject", f"writer-{tag}-{i}", "--value", str(5 + i),
                     "--unit", "tokens/s", "--date", "2024-01", "--source", f"writer {tag}"])
        if code:
            sys.exit(code)
""")


def test_two_concurrent_writers_lose_nothing(home: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    n_before = len(Ledger(ledger_path()).rows())
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, tag], cwd=home,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for tag in ("a", "b")]
    deadline = time.monotonic() + 120
    while not all((home / f"ready-{t}").exists() for t in "ab"):
        assert time.monotonic() < deadline, "writers did not start"
        assert all(p.poll() is None for p in procs), "a writer died before the start"
        time.sleep(0.01)
    (home / "go").touch()
    results = [p.communicate(timeout=300) for p in procs]
    for p, (out, err) in zip(procs, results, strict=True):
        assert p.returncode == 0, err
        assert out.count("added ") == 10
    rows = Ledger(ledger_path()).rows()
    assert len(rows) == n_before + 20
    subjects = {r["subject"] for r in rows}
    assert {f"writer-{t}-{i}" for t in "ab" for i in range(10)} <= subjects
    code, _, _ = run(capsys, "observe", "validate")
    assert code == 0
    assert not [p.name for p in (home / "observations").iterdir() if p.name.endswith(".tmp")]


@pytest.mark.parametrize(("flag", "field"), [("--date", "date"), ("--subject", "subject"),
                                             ("--kind", "kind")])
def test_missing_identifying_field_is_named(flag: str, field: str, home: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    before = snapshot(home)
    code, _, err = run(capsys, *_with(flag, None))
    assert code != 0
    assert snapshot(home) == before
    assert f"{field}:" in err, err


def test_list_since_until_include_the_whole_period(home: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    for day, value in (("2023-06-01", "20"), ("2023-06-30", "21")):
        assert run(capsys, *_with("--date", day)[:-2], "--value", value, "--subject", "probe",
                   "--source", "x")[0] == 0
    code, out, _ = run(capsys, "observe", "list", "--subject", "probe", "--since", "2023-06",
                       "--until", "2023-06", "--format", "json")
    assert code == 0
    assert sorted(r["date"] for r in json.loads(out)) == ["2023-06-01", "2023-06-30"]


def test_validate_reports_a_future_date(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = ledger_path()
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    rows = list(csv.DictReader(io.StringIO("".join(lines))))
    old = rows[0]["date"]
    lines[1] = lines[1].replace(f",{old},", ",2999-01,", 1)
    path.write_text("".join(lines), encoding="utf-8")
    code, out, _ = run(capsys, "observe", "validate")
    assert code == 1
    assert f"{path}:2:" in out and "future" in out
