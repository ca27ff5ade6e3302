"""Issue #9: every class of hostile input, against a temporary home, in the fast tier.

Each test checks the exit code, the one-line message, and that the ledger and the runs are
byte-identical afterwards (no MCMC: the stored fixture runs stand in for fitted runs, and the
one ``infer`` test replaces sampling by the fixture's draws).
"""

from __future__ import annotations

import argparse
import csv
import errno
import io
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import xarray as xr
from fixture_runs import BROKEN, FIXTURES, SMALL, install

from gpt2030.cli.main import build_parser, main
from gpt2030.inference.runs import MANIFEST, RUN_FILE
from gpt2030.observations import Ledger, ledger_path
from gpt2030.observations.schema import FORCED_MARK, PLAUSIBLE, implausible

# These tests are about commands, exit codes and files, not a report's pictures or a run's
# diagnostics: see the ``fast_pipeline`` fixture (conftest.py).
pytestmark = pytest.mark.usefixtures("fast_pipeline")

SPEED = ["observe", "add", "--kind", "inference_speed", "--subject", "probe-model",
         "--value", "10", "--unit", "tokens/s", "--date", "2024-03", "--source", "example"]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def tree(home: Path) -> dict[str, bytes]:
    """Every file of the home's ledger, runs and reports with its bytes; lock files aside."""
    return {str(p.relative_to(home)): p.read_bytes()
            for folder in ("observations", "runs", "reports")
            for p in sorted((home / folder).rglob("*"))
            if p.is_file() and not p.name.endswith(".lock")}


#: A finished stage's progress line (``gpt2030: validate   0.0 s  (total 0:00)``).
STAGE_LINE = re.compile(r"gpt2030: [a-z]+ +[0-9.]+ s +\(total [0-9:]+\)")


def one_line_error(err: str) -> str:
    """The refusal: one line, ``gpt2030: error: ...``, no traceback (after the header line
    of the run the command read, if it read one, and the stages that finished before it)."""
    assert "Traceback" not in err, err
    *before, last = err.strip().splitlines()
    stages = [line for line in before if STAGE_LINE.match(line)]
    headers = [line for line in before if line.startswith("run r")]
    assert len(stages) + len(headers) == len(before) and len(headers) <= 2, err
    assert last.startswith("gpt2030: error: "), err
    return last


def with_value(argv: list[str], flag: str, value: str) -> list[str]:
    args = list(argv)
    args[args.index(flag) + 1] = value
    return args


def make_run(runs: Path, run_id: str, created: str, **changes: object) -> Path:
    """A copy of the SMALL fixture run under another id, with manifest fields changed."""
    folder = runs / run_id
    shutil.copytree(FIXTURES / SMALL, folder)
    manifest = json.loads((folder / MANIFEST).read_text())
    config = dict(manifest["config"], name=changes.pop("config", manifest["config"]["name"]))
    manifest.update(run_id=run_id, created=created, config=config, **changes)
    (folder / MANIFEST).write_text(json.dumps(manifest))
    return folder


def truncate(path: Path, keep: float = 0.5) -> None:
    data = path.read_bytes()
    path.write_bytes(data[:int(len(data) * keep)])


# --- 1. data loss: report --out ----------------------------------------------------------


def test_report_out_keeps_the_users_files(home: Path, tmp_path_factory: pytest.TempPathFactory,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    install(home, SMALL)
    out = tmp_path_factory.mktemp("shared-folder")
    (out / "notes.txt").write_text("my own notes")
    (out / "sub").mkdir()
    (out / "sub" / "data.csv").write_text("a,b\n")
    before = tree(home)
    code, stdout, _ = run(capsys, "report", SMALL, "--out", str(out))
    assert code == 0
    assert stdout.strip() == str(out / "report.html")
    assert (out / "notes.txt").read_text() == "my own notes"
    assert (out / "sub" / "data.csv").read_text() == "a,b\n"
    assert (out / "report.html").is_file() and (out / "report.md").is_file()
    # Nothing of the home changes; the report may keep its own analyses of the run beside
    # it, in the run folder gpt2030 made (computed once: see inference/reporting.py).
    after = tree(home)
    assert {k: after[k] for k in before} == before
    assert set(after) - set(before) <= {f"runs/{SMALL}/prior_dominance.json",
                                        f"runs/{SMALL}/value_of_information.json"}
    # Again: the report's files are replaced, the user's are not.
    assert run(capsys, "report", SMALL, "--out", str(out))[0] == 0
    assert (out / "notes.txt").read_text() == "my own notes"
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temp files left


def test_report_out_refuses_a_file_and_a_home(home: Path, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    install(home, SMALL)
    notes = tmp_path / "notes.txt"
    notes.write_text("keep me")
    before = tree(home)
    code, out, err = run(capsys, "report", SMALL, "--out", str(notes))
    assert code == 2 and out == ""
    assert "is a file" in one_line_error(err) and str(notes) in err
    assert notes.read_text() == "keep me"
    for target in (home, Path(".")):  # the home, by its path and as "."
        code, out, err = run(capsys, "report", SMALL, "--out", str(target))
        assert code == 2 and out == ""
        assert "gpt2030 home" in one_line_error(err)
    assert tree(home) == before
    # A folder holding only runs/ is a home too.
    other = tmp_path / "other"
    (other / "runs").mkdir(parents=True)
    code, _, err = run(capsys, "report", SMALL, "--out", str(other))
    assert code == 2 and "gpt2030 home" in one_line_error(err)
    assert [p.name for p in other.iterdir()] == ["runs"]


# --- 2. the wrong run ----------------------------------------------------------------------


def test_forecast_reads_the_latest_default_run_not_a_backtest_or_variant(
        home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    runs = install(home, SMALL)
    # What `backtest --compare-variants` leaves behind, all newer than the default run.
    make_run(runs, "r20261128T010000-aaaaaaaaaaaa", "2026-11-28T01:00:00+00:00",
             config="no_hardware_trend")
    make_run(runs, "r20261128T020000-bbbbbbbbbbbb", "2026-11-28T02:00:00+00:00",
             cutoff="2023-06-30")
    make_run(runs, "r20261128T030000-cccccccccccc", "2026-11-28T03:00:00+00:00",
             prior_only=True)
    make_run(runs, "r20261128T040000-dddddddddddd", "2026-11-28T04:00:00+00:00",
             config="essay")
    code, out, err = run(capsys, "forecast", "--format", "json")
    assert code == 0
    assert json.loads(out)["run_id"] == SMALL  # stdout is the JSON alone
    header = err.strip()
    m = json.loads((FIXTURES / SMALL / MANIFEST).read_text())
    assert header == (f"run {SMALL}: config default, cutoff none, seed {m['seed']}, "
                      f"{m['n_observations']} observations, verdict {m['verdict']} "
                      "(the latest run)")
    code, out, _ = run(capsys, "forecast")
    assert code == 0 and out.splitlines()[0] == header
    # Every reading command uses the same run and says so.
    code, out, err = run(capsys, "export", "--format", "csv")
    assert code == 0 and out.strip() == str(runs / SMALL / "export.csv")
    assert err.strip() == header
    # --run says otherwise.
    code, out, err = run(capsys, "forecast", "--run", "r20261128T010000", "--format", "json")
    assert code == 0 and json.loads(out)["run_id"] == "r20261128T010000-aaaaaaaaaaaa"
    assert "config no_hardware_trend" in err and "(the latest run)" not in err
    code, out, _ = run(capsys, "runs", "list", "--format", "json")
    listed = {r["run_id"]: r for r in json.loads(out)}
    assert [k for k, r in listed.items() if r["latest"]] == [SMALL]
    assert listed["r20261128T020000-bbbbbbbbbbbb"]["cutoff"] == "2023-06-30"


def test_no_default_run_is_refused_not_replaced_by_another(
        home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    runs = home / "runs"
    runs.mkdir()
    make_run(runs, "r20261128T010000-aaaaaaaaaaaa", "2026-11-28T01:00:00+00:00",
             config="no_data_limit")
    code, out, err = run(capsys, "forecast")
    assert code == 2 and out == ""
    assert "no run of the default config" in one_line_error(err)


@pytest.mark.parametrize("flag", ["--thin", "--draws", "--chains"])
def test_sampler_counts_below_one_are_refused_before_anything_is_written(
        home: Path, flag: str, capsys: pytest.CaptureFixture[str]) -> None:
    before = tree(home)
    code, out, err = run(capsys, "infer", flag, "0")
    assert code == 2 and out == ""
    assert f"{flag} must be at least 1" in one_line_error(err)
    assert tree(home) == before and not (home / "runs").exists()


# --- 3. corrupt runs -----------------------------------------------------------------------


def test_truncated_run_nc_is_broken_everywhere(home: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    runs = install(home, SMALL, BROKEN)
    truncate(runs / BROKEN / RUN_FILE)
    before = tree(home)
    code, out, _ = run(capsys, "runs", "list")
    assert code == 0
    line = next(x for x in out.splitlines() if x.strip().startswith(BROKEN))
    assert "broken" in line.split()
    assert f"broken {BROKEN}: {RUN_FILE} does not open" in out
    code, out, _ = run(capsys, "runs", "list", "--format", "json")
    (entry,) = [r for r in json.loads(out) if r["run_id"] == BROKEN]
    assert entry["verdict"] == "broken" and "does not open" in entry["problem"]
    # The broken run is the newest default run: commands that name none refuse, naming it.
    for argv in (["forecast"], ["diagnose", "--no-plots"], ["report"], ["influence"],
                 ["export", "--format", "csv"], ["forecast", "--run", BROKEN],
                 ["compare", SMALL, BROKEN]):
        code, out, err = run(capsys, *argv)
        assert code == 2, argv
        message = one_line_error(err)
        assert f"run {BROKEN} is broken" in message, argv
        assert "gpt2030 infer --force" in message and f"gpt2030 runs remove {BROKEN}" in message
    assert tree(home) == before
    # Once removed, the older good run is the latest again.
    code, out, _ = run(capsys, "runs", "remove", BROKEN)
    assert code == 0 and BROKEN in out
    assert not (runs / BROKEN).exists()
    code, out, err = run(capsys, "forecast", "--format", "json")
    assert code == 0 and json.loads(out)["run_id"] == SMALL


@pytest.mark.parametrize("damage", ["no manifest", "truncated manifest", "manifest field",
                                    "no run.nc", "missing group"])
def test_a_damaged_run_is_listed_as_broken_not_hidden(
        damage: str, home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    runs = install(home, BROKEN)
    manifest = runs / BROKEN / MANIFEST
    if damage == "no manifest":
        manifest.unlink()
    elif damage == "truncated manifest":
        truncate(manifest)
    elif damage == "manifest field":
        data = json.loads(manifest.read_text())
        data["seed"] = "seven"
        manifest.write_text(json.dumps(data))
    elif damage == "no run.nc":
        (runs / BROKEN / RUN_FILE).unlink()
    else:
        dt = xr.load_datatree(FIXTURES / BROKEN / RUN_FILE)
        xr.DataTree.from_dict({g: dt[g].to_dataset() for g in dt.children
                               if g != "posterior"}).to_netcdf(runs / BROKEN / RUN_FILE)
    code, out, _ = run(capsys, "runs", "list")
    assert code == 0
    assert f"broken {BROKEN}:" in out and "no runs yet" not in out
    code, _, err = run(capsys, "forecast")
    assert code == 2 and f"run {BROKEN} is broken" in one_line_error(err)


def test_runs_remove_deletes_only_its_own_files(home: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    runs = install(home, SMALL)
    (runs / SMALL / "my-notes.txt").write_text("mine")
    before = tree(home)
    code, out, err = run(capsys, "runs", "remove", SMALL)
    assert code == 2 and out == ""
    assert "my-notes.txt" in one_line_error(err)
    assert tree(home) == before
    for bad in ("no-such-run", "../observations", ".", "", "backtests"):
        code, _, err = run(capsys, "runs", "remove", bad)
        assert code == 2 and "no run" in one_line_error(err)
    assert tree(home) == before


def fake_fit(model, sampler, seed, progressbar=False, prior_only=False, progress=None):
    """Sampling replaced by the SMALL fixture's draws; stage timings that overlap."""
    time.sleep(0.05)
    dt = xr.load_datatree(FIXTURES / SMALL / RUN_FILE)
    return dt, {"prior_predictive": 30.0, "posterior": 50.0, "compile": 40.0, "sampling": 10.0}


@pytest.mark.usefixtures("fast_pipeline")  # run files and messages, not the numbers
def test_infer_refits_a_broken_run_and_cleans_stale_temporaries(
        home: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr("gpt2030.inference.infer.fit", fake_fit)
    runs = home / "runs"
    runs.mkdir()
    stale = runs / ".tmp-r20261127T000000-0123456789ab-x1y2"
    fresh = runs / ".tmp-r20261128T000000-0123456789ab-z3w4"
    for folder in (stale, fresh):
        folder.mkdir()
        (folder / RUN_FILE).write_bytes(b"half")
    two_hours_ago = time.time() - 7200
    os.utime(stale, (two_hours_ago, two_hours_ago))
    argv = ["infer", "--seed", "7", "--draws", "20", "--tune", "10", "--chains", "2"]
    code, out, err = run(capsys, *argv)
    assert code == 0, err
    first = out.split()[-1]
    assert not stale.exists() and fresh.exists()  # only the hour-old one is removed
    manifest = json.loads((runs / first / MANIFEST).read_text())
    timings = manifest["timings"]
    # The total is measured wall clock, not the sum of overlapping stages (130 s here).
    assert 0 < timings["total"] < 30
    assert timings["posterior"] == 50.0 and timings["compile"] == 40.0
    assert f"{timings['total']:.1f} s wall clock" in out
    header = [x for x in out.splitlines() if x.startswith(f"run {first}:")]
    assert header and "config default, cutoff none, seed 7" in header[0]

    code, out, _ = run(capsys, *argv)
    assert code == 0 and "reusing" in out and out.split()[-1] == first
    truncate(runs / first / RUN_FILE)
    code, out, err = run(capsys, *argv)
    assert code == 0, err
    second = out.split()[-1]
    assert second != first and "reusing" not in out  # never reused: fitted again
    assert f"run {first}" in err and "broken" in err and f"runs remove {first}" in err
    code, out, _ = run(capsys, "runs", "list", "--format", "json")
    status = {r["run_id"]: r["verdict"] for r in json.loads(out)}
    assert status[first] == "broken" and status[second] != "broken"


# --- 4. crashes instead of messages --------------------------------------------------------


def _all_parsers(parser: argparse.ArgumentParser, name: str = "gpt2030"):
    yield name, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub_name, sub in action.choices.items():
                yield from _all_parsers(sub, f"{name} {sub_name}")


def test_every_help_text_renders(capsys: pytest.CaptureFixture[str]) -> None:
    parsers = list(_all_parsers(build_parser()))
    assert len(parsers) > 15
    for name, parser in parsers:
        text = parser.format_help()
        assert "%%" not in text, name
        assert "%(" not in text, name
        with pytest.raises(SystemExit) as info:
            main([*name.split()[1:], "--help"])
        assert info.value.code == 0, name
    assert "50% and 90%" in dict(parsers)["gpt2030 diagnose"].format_help()


def _write_file(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


FILE_HEADER = "kind,subject,date,value,unit,source\n"


def test_file_encodings(home: Path, tmp_path: Path,
                        capsys: pytest.CaptureFixture[str]) -> None:
    before = tree(home)
    latin = _write_file(tmp_path / "latin.csv", FILE_HEADER + "inference_speed,modèle-a,"
                        "2024-03,10,tokens/s,x\n", "latin-1")
    code, out, err = run(capsys, "observe", "add", "--file", str(latin))
    assert code == 2 and out == ""
    assert f"{latin}:2: not UTF-8 text (byte 0xe8)" in one_line_error(err)
    utf16 = _write_file(tmp_path / "utf16.csv", FILE_HEADER, "utf-16")
    code, _, err = run(capsys, "observe", "add", "--file", str(utf16))
    assert code == 2 and "UTF-16" in one_line_error(err)
    binary = tmp_path / "binary.csv"
    binary.write_bytes(FILE_HEADER.encode() + b"\x00\x01\x02\n")
    code, _, err = run(capsys, "observe", "add", "--file", str(binary))
    assert code == 2 and f"{binary}:2:" in one_line_error(err)
    code, _, err = run(capsys, "observe", "add", "--file", str(tmp_path))
    assert code == 2 and "not a file" in one_line_error(err)
    assert tree(home) == before
    # UTF-8 with a byte-order mark (what spreadsheet programs write) is read as UTF-8.
    bom = _write_file(tmp_path / "bom.csv", FILE_HEADER + "inference_speed,modèle-b,2024-03,"
                      "10,tokens/s,x\n", "utf-8-sig")
    assert bom.read_bytes().startswith(b"\xef\xbb\xbf")
    code, out, err = run(capsys, "observe", "add", "--file", str(bom))
    assert code == 0, err
    assert Ledger(ledger_path()).get(out.split()[1])["subject"] == "modèle-b"


# Outputs far larger than a pipe's buffer (64 KiB), so that the writer meets the closed end.
@pytest.mark.parametrize("argv", [["observe", "list", "--format", "json"],
                                  ["observe", "list", "--format", "csv"]])
def test_a_closed_pipe_exits_quietly(argv: list[str], home: Path) -> None:
    code = ("import sys; from gpt2030.cli.main import main; "
            "sys.exit(main(sys.argv[1:]))")
    proc = subprocess.Popen([sys.executable, "-c", code, *argv], cwd=home,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.readline()
    proc.stdout.close()  # what `| head -1` does
    err = proc.stderr.read().decode()
    proc.stderr.close()
    assert proc.wait(timeout=120) == 141, err
    assert err == ""


def test_missing_home_and_ledger_get_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nowhere"
    monkeypatch.setenv("GPT2030_HOME", str(missing))
    for argv in (["observe", "list"], ["forecast"], ["runs", "list"], ["update"],
                 [*SPEED]):
        code, out, err = run(capsys, *argv)
        assert code == 2 and out == ""
        message = one_line_error(err)
        assert f"GPT2030_HOME={missing}: no such folder" in message
        assert "gpt2030 init" in message
    assert not missing.exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("GPT2030_HOME", str(empty))
    code, _, err = run(capsys, *SPEED)
    assert code == 2 and f"no ledger at {empty}" in one_line_error(err)
    assert code == 2 and "gpt2030 init" in err


def test_read_only_home_gets_one_line(home: Path, monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    install(home, SMALL)
    before = tree(home)

    def refuse(*args: object, dir: str | None = None, **kwargs: object):
        raise PermissionError(errno.EROFS, "Read-only file system", dir)

    monkeypatch.setattr("tempfile.mkstemp", refuse)
    for argv in ([*SPEED], ["observe", "remove", Ledger(ledger_path()).rows()[0]["id"],
                            "--reason", "x"], ["report", SMALL], ["update"], ["infer"],
                 ["backtest"]):
        code, _, err = run(capsys, *argv)
        assert code == 2, argv
        message = one_line_error(err)
        assert "read-only" in message and str(home) in message, message
    assert tree(home) == before


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_home_for_real(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = tree(home)
    os.chmod(home / "observations", 0o555)
    try:
        code, _, err = run(capsys, *SPEED)
    finally:
        os.chmod(home / "observations", 0o755)
    assert code == 2 and str(home) in one_line_error(err)
    assert tree(home) == before


def test_a_file_where_a_folder_belongs_gets_one_line(
        home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    install(home, SMALL)
    (home / "reports").write_text("not a folder")
    code, _, err = run(capsys, "report", SMALL)
    assert code == 2 and "reports" in one_line_error(err)


def test_init_starts_a_home_with_the_shipped_ledger(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    from conftest import SHIPPED_LEDGER

    monkeypatch.delenv("GPT2030_HOME", raising=False)
    target = tmp_path / "new-home"
    code, out, _ = run(capsys, "init", str(target))
    assert code == 0 and str(target) in out
    assert (target / "observations" / "ledger.csv").read_bytes() == SHIPPED_LEDGER.read_bytes()
    # Never over an existing ledger.
    (target / "observations" / "ledger.csv").write_text("edited")
    code, _, err = run(capsys, "init", str(target))
    assert code == 2 and "exists already" in one_line_error(err)
    assert (target / "observations" / "ledger.csv").read_text() == "edited"
    a_file = tmp_path / "file"
    a_file.write_text("x")
    code, _, err = run(capsys, "init", str(a_file))
    assert code == 2 and "is a file" in one_line_error(err)
    # From inside the new home, or through GPT2030_HOME.
    monkeypatch.setenv("GPT2030_HOME", str(tmp_path / "second"))
    assert run(capsys, "init")[0] == 0
    assert (tmp_path / "second" / "observations" / "ledger.csv").is_file()
    assert run(capsys, "observe", "validate")[0] == 0


# --- 5. implausible input ------------------------------------------------------------------


REFUSED_ADDS = {
    "1e308 tokens/s": (with_value(SPEED, "--value", "1e308"), "value", "implausible"),
    "1e-9 tokens/s": (with_value(SPEED, "--value", "1e-9"), "value", "implausible"),
    "1e40 FLOP": (["observe", "add", "--kind", "training_compute", "--subject", "x",
                   "--value", "1e40", "--unit", "FLOP", "--date", "2024", "--source", "s"],
                  "value", "implausible"),
    "underscore number": (with_value(SPEED, "--value", "1_000"), "value", "not a number"),
    "padded number": (with_value(SPEED, "--value", " 12"), "value", "spaces"),
    "nan": (with_value(SPEED, "--value", "nan"), "value", "not a finite number"),
    "hex": (with_value(SPEED, "--value", "0x10"), "value", "not a number"),
    "year 1899": (with_value(SPEED, "--date", "1899"), "date", "before 1950"),
    "padded date": (with_value(SPEED, "--date", "2024-03 "), "date", "not a date"),
    "date 2024/05": (with_value(SPEED, "--date", "2024/05"), "date", "not a date"),
    "target before date": ([*SPEED, "--target-date", "2020", "--status", "forecast"],
                           "target_date", "before the date"),
    "subject with a newline": (with_value(SPEED, "--subject", "gpt-4\nfake,row"), "subject",
                               "single line"),
    "subject with a control character": (with_value(SPEED, "--subject", "gpt\x1b[2J"),
                                         "subject", "control character"),
    "metric with a newline": ([*SPEED, "--metric", "a\nb"], "metric", "single line"),
    "id with a newline": ([*SPEED, "--id", "a\nb"], "id", ""),
    "share above 100%": (["observe", "add", "--kind", "benchmark_score", "--subject", "x",
                          "--metric", "MATH", "--value", "101", "--unit", "%", "--date",
                          "2024", "--source", "s"], "value", "outside"),
    "mark without the flag": ([*SPEED, "--note", f"{FORCED_MARK} sneaky"], "note",
                              "--force-implausible"),
    # Classes the ledger already refused before issue #9, kept here so that one file runs all.
    "value abc": (with_value(SPEED, "--value", "abc"), "value", "not a number"),
    "infinite value": (with_value(SPEED, "--value", "1e999"), "value", "not a finite number"),
    "unknown unit": (with_value(SPEED, "--unit", "furlongs"), "unit", "furlongs"),
    "unit of another dimension": (with_value(SPEED, "--unit", "FLOP"), "unit", "does not"),
    "negative FLOP": (["observe", "add", "--kind", "training_compute", "--subject", "x",
                       "--value", "-5", "--unit", "FLOP", "--date", "2024", "--source", "s"],
                      "value", "positive"),
    "impossible date": (with_value(SPEED, "--date", "2023-02-30"), "date", "not a real date"),
    "future date": (with_value(SPEED, "--date", "2999-01"), "date", "future"),
    "missing source": (with_value(SPEED, "--source", " "), "source", "required"),
    "bad id": ([*SPEED, "--id", "Has Spaces"], "id", "lowercase"),
    "existing id": ([*SPEED, "--id", "inference_speed:gpt-4:trackoai-essay:2023-06"], "id",
                    "already in the ledger"),
    "low above value": ([*SPEED, "--low", "11", "--high", "12"], "low", "above the value"),
}


@pytest.mark.parametrize("case", sorted(REFUSED_ADDS))
def test_implausible_and_malformed_adds_are_refused(
        case: str, home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv, field, words = REFUSED_ADDS[case]
    before = tree(home)
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    message = one_line_error(err)
    assert f"{field}:" in message and words in message, message
    if case == "date 2024/05":
        assert "id:" not in message  # the date is the problem, not the id made from it
    assert tree(home) == before


def test_force_implausible_needs_a_note_and_keeps_it(
        home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    huge = with_value(SPEED, "--value", "1e6")
    before = tree(home)
    code, _, err = run(capsys, *huge, "--force-implausible")
    assert code == 2 and "note:" in one_line_error(err)
    assert tree(home) == before
    code, out, err = run(capsys, *huge, "--force-implausible", "--note", "a wafer-scale demo")
    assert code == 0, err
    row = Ledger(ledger_path()).get(out.split()[1])
    assert row["value"] == "1e6" and row["note"] == f"{FORCED_MARK} a wafer-scale demo"
    assert run(capsys, "observe", "validate")[0] == 0  # a forced row is not a problem
    # A plausible row is stored as given, even with the flag.
    code, out, _ = run(capsys, *with_value(SPEED, "--value", "11"), "--force-implausible")
    assert code == 0 and Ledger(ledger_path()).get(out.split()[1])["note"] == ""


def test_the_same_fact_in_another_unit_is_a_duplicate(
        home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, *SPEED)  # 10 tokens/s
    assert code == 0
    first = out.split()[1]
    before = tree(home)
    for value, unit in (("600", "tokens/min"), ("10.0", "tokens/s"), ("1e1", "tokens/s")):
        argv = with_value(with_value(SPEED, "--value", value), "--unit", unit)
        code, out, err = run(capsys, *argv, "--id", f"other-{value}")
        assert code == 2 and out == ""
        message = one_line_error(err)
        assert "duplicate" in message and first in message
    assert tree(home) == before
    # Words are not tokens: 450 words/min is another fact, however many tokens a word is.
    argv = with_value(with_value(SPEED, "--value", "450"), "--unit", "words/min")
    assert run(capsys, *argv)[0] == 0


def test_every_plausible_range_is_documented_and_holds_the_shipped_ledger() -> None:
    from gpt2030.observations.schema import KINDS

    for kind, dims in KINDS.items():
        for dim in dims:
            rule = PLAUSIBLE[(kind, dim)]
            assert rule.low < rule.high and len(rule.why) > 10, (kind, dim)
    for row in Ledger(ledger_path(Path(__file__).resolve().parents[1])).rows(True):
        for field in ("value", "low", "high"):
            if row[field]:
                assert implausible(float(row[field]), row["unit"], row["kind"]) is None, row["id"]


def test_a_write_to_a_broken_ledger_is_refused_listing_the_problems(
        home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = ledger_path()
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    rows = list(csv.DictReader(io.StringIO("".join(lines))))
    lines[3] = lines[3].replace(f",{rows[2]['date']},", ",2024/13,", 1)  # line 4
    assert ",2024/13," in lines[3]
    path.write_text("".join(lines), encoding="utf-8")  # a hand edit gone wrong
    before = tree(home)
    code, out, err = run(capsys, *SPEED)
    assert code == 2 and out == ""
    *problems, last = err.strip().splitlines()
    assert any(p.startswith(f"{path}:4:") and "date" in p for p in problems), err
    assert last.startswith("gpt2030: error: ") and "problem(s)" in last
    assert "nothing was added" in last
    code, _, err = run(capsys, "observe", "remove", rows[0]["id"], "--reason", "x")
    assert code == 2 and "nothing was removed" in err
    code, out, err = run(capsys, "observe", "list", "--since", "2020")
    assert code == 2 and out == "" and "2024/13" in one_line_error(err)
    code, out, err = run(capsys, "observe", "validate")
    assert code == 1 and f"{path}:4:" in out
    assert tree(home) == before


# --- 6. --file -----------------------------------------------------------------------------


def test_file_with_a_subset_of_columns_takes_the_flags_defaults(
        home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write_file(tmp_path / "rows.csv",
                       "kind,subject,date,value,unit,source,target_date,low,high\n"
                       "inference_speed,subset-a,2024-03,10,tokens/s,x,,,\n"
                       "training_compute,subset-b,2024,1e27,FLOP,x,2030,5e26,2e27\n")
    code, out, err = run(capsys, "observe", "add", "--file", str(path))
    assert code == 0, err
    a, b = (Ledger(ledger_path()).get(line.split()[1]) for line in out.splitlines())
    assert a["status"] == "measured" and a["interval"] == ""
    assert b["status"] == "forecast" and b["interval"] == "90%"


def test_file_reports_every_bad_row_before_refusing(
        home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write_file(tmp_path / "rows.csv", FILE_HEADER
                       + "inference_speed,good-1,2024-03,10,tokens/s,x\n"
                       + "inference_speed,bad-1,2024-03,abc,tokens/s,x\n"
                       + "inference_speed,good-2,2024-03,11,tokens/s,x\n"
                       + "inference_speed,bad-2,1899,12,tokens/s,x\n"
                       + "inference_speed,bad-3,2024-03,1e308,tokens/s,x\n"
                       + "inference_speed,good-1,2024-03,10,tokens/s,x\n")
    before = tree(home)
    code, out, err = run(capsys, "observe", "add", "--file", str(path))
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert lines[:-1] == [
        f"{path}:3: value: 'abc' is not a number (plain digits, '.', an optional exponent)",
        f"{path}:5: date: 1899 is before 1950: the ledger holds machine-learning facts from "
        "1950 on",
        *[x for x in lines if x.startswith(f"{path}:6: value: 1e+308 tokens/s is implausible")],
        f"{path}:7: duplicate: the same fact came earlier in this input as "
        "'inference_speed:good-1:2024-03'",
    ]
    assert len(lines) == 5
    assert lines[-1] == f"gpt2030: error: {path}: 4 of 6 row(s) refused (listed above); " \
        "nothing was added"
    assert tree(home) == before


def test_a_large_file_prints_one_summary_line(home: Path, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    n = 2000
    body = "".join(f"inference_speed,bulk-{i},2024-03,{10 + i % 50},tokens/s,x\n"
                   for i in range(n))
    path = _write_file(tmp_path / "big.csv", FILE_HEADER + body)
    n_before = len(Ledger(ledger_path()).rows())
    code, out, err = run(capsys, "observe", "add", "--file", str(path))
    assert code == 0, err
    assert len(out.strip().splitlines()) == 1
    assert out.startswith(f"added {n} observations from {path}")
    assert len(Ledger(ledger_path()).rows()) == n_before + n


# --- 7. runs list and influence -----------------------------------------------------------


def test_runs_list_tells_runs_apart(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    runs = install(home, SMALL)
    make_run(runs, "r20261128T010000-aaaaaaaaaaaa", "2026-11-28T01:00:00+00:00",
             config="constant_growth", cutoff="2023-06-30", seed=11)
    code, out, _ = run(capsys, "runs", "list")
    assert code == 0
    head, *rows = out.splitlines()
    assert head.split()[:7] == ["run_id", "created", "config", "cutoff", "seed",
                                "observations", "verdict"]
    variant = next(r for r in rows if "r20261128T010000" in r).split()
    n = json.loads((FIXTURES / SMALL / MANIFEST).read_text())["n_observations"]
    assert variant[2:6] == ["constant_growth", "2023-06-30", "11", str(n)]
    code, out, _ = run(capsys, "runs", "list", "--format", "json")
    listed = json.loads(out)
    assert {"config", "cutoff", "seed", "observations", "verdict"} <= set(listed[0])


def test_influence_never_cuts_ids(home: Path, monkeypatch: pytest.MonkeyPatch,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    import pandas as pd

    install(home, SMALL)
    code, out, _ = run(capsys, "influence", SMALL, "--top", "0", "--format", "json")
    assert code == 0
    ids = [r["obs_id"] for r in json.loads(out)["observations"]]
    code, out, _ = run(capsys, "influence", SMALL, "--top", "0")
    assert code == 0
    table = out.splitlines()
    assert table[0].startswith(f"run {SMALL}: config default")
    assert [line.split()[0] for line in table[2:]] == ids
    # An id far longer than the old 57-character cut, whatever the fixture's ids are.
    long_id = "data_stock:largest-language-training-datasets:dataset-size-growth:" + "x" * 40
    frame = pd.DataFrame([{"obs_id": long_id, "term": "data", "pareto_k": 0.2,
                           "reliable": True, "quantity_most_moved": "work_years",
                           "work_years": 0.01}])
    monkeypatch.setattr("gpt2030.inference.influence.influence", lambda *a, **k: frame)
    code, out, _ = run(capsys, "influence", SMALL)
    assert code == 0 and out.splitlines()[2].split()[0] == long_id


def test_export_out_never_replaces_a_folder_the_ledger_or_a_run(
        home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    runs = install(home, SMALL)
    mine = home / "observations" / "mine.csv"
    mine.write_text("a user's own file\n")
    pipe = home / "observations" / "pipe"
    os.mkfifo(pipe)
    link = home / "observations" / "link.csv"
    link.symlink_to(mine)
    before = tree(home)
    for out in (home / "observations", ledger_path(), runs / SMALL / RUN_FILE, mine, pipe,
                link):
        code, stdout, err = run(capsys, "export", SMALL, "--format", "csv", "--out", str(out))
        assert code == 2 and stdout == ""
        assert "--out" in one_line_error(err)
    assert tree(home) == before
    assert mine.read_text() == "a user's own file\n" and pipe.is_fifo() and link.is_symlink()
    # An earlier export at the same path is replaced.
    out = home / "reports" / "draws.csv"
    for _ in range(2):
        code, stdout, err = run(capsys, "export", SMALL, "--format", "csv", "--out", str(out))
        assert code == 0 and stdout.strip() == str(out), err


# Slow tier: update end to end, report included (~6 s); infer's refit of a broken run is
# tested in the fast tier above.
@pytest.mark.slow
@pytest.mark.usefixtures("fast_pipeline")  # run files and messages, not the numbers
def test_update_refits_a_broken_run_instead_of_dying(
        home: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr("gpt2030.inference.infer.fit", fake_fit)
    code, out, err = run(capsys, "update")
    assert code == 1 and "diagnostics fail" in err  # the fixture's draws fail diagnostics
    first = out.split()[2]
    assert (home / "reports" / first / "report.html").is_file()
    truncate(home / "runs" / first / RUN_FILE)
    code, out, err = run(capsys, "update")
    assert code == 1 and "Traceback" not in err, err
    second = out.split()[2]
    assert second != first and out.startswith(f"stored run {second}")
    assert f"run {first}" in err and f"runs remove {first}" in err
    assert out.strip().splitlines()[-1] == str(home / "reports" / second / "report.html")
