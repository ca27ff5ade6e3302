"""Issue #14 (1-3): pre-registered predictions, their resolution on arrival, the track record.

Fast tier, on the stored fixture run (a real fit of the shipped model): registering computes
the model's predictive of each target's synthetic rows, once in this module (the shipped
targets and the command-line round trip's own); everything else reads or appends to copies
of that registry. The simulation-based calibration test is in
``test_prediction_calibration.py`` (slow tier).
"""

from __future__ import annotations

import itertools
import json
import math
import shutil
from datetime import date
from pathlib import Path

import numpy as np
import pytest
from common import SHIPPED_LEDGER
from fixture_runs import SMALL, install

from gpt2030.cli.main import main
from gpt2030.inference import scoring
from gpt2030.inference.predictions import (
    RegistryError,
    read_registry,
    register,
    registry_path,
    score,
    track_record,
)
from gpt2030.inference.runs import load_run
from gpt2030.inference.targets import SHIPPED_TARGETS, Target, TargetError, shipped_open
from gpt2030.models import MODEL_VERSION
from gpt2030.observations import FIELDS, Ledger
from gpt2030.observations.schema import parse_date
from gpt2030.reports.render import Document, to_html, to_markdown
from gpt2030.reports.sections import track_record_section

#: The day the fixture's predictions are registered (every shipped window still open).
TODAY = date(2026, 11, 28)
SOURCE = "https://example.org/test-row"
SPEED_METRIC = "OpenAI API (Fabien Roger tracker, monthly median)"


def _row(**fields: str) -> dict[str, str]:
    row = dict.fromkeys(FIELDS, "")
    row.update({"source": SOURCE, "status": "measured", **fields})
    return row


def _ledger_rows() -> list[dict[str, str]]:
    return Ledger(SHIPPED_LEDGER).rows()


#: The month of :data:`TODAY`: a target of it is open on TODAY, and a row can settle it then.
MONTH = TODAY.strftime("%Y-%m")


def month_target() -> Target:
    """A served model's speed in :data:`MONTH`."""
    first, last = parse_date(MONTH)
    return Target("ledger", first.isoformat(), last.isoformat(), obs_kind="inference_speed",
                  subject="gpt-4o", metric=SPEED_METRIC, date=MONTH, why="round trip")


class _Today(date):
    """``date`` whose ``today()`` is :data:`TODAY`: the commands' calendar, frozen."""

    @classmethod
    def today(cls) -> date:
        return TODAY


@pytest.fixture
def frozen_today(monkeypatch: pytest.MonkeyPatch) -> None:
    """The commands read today as :data:`TODAY` (registration, the ledger's ``added`` day,
    its future-date check, scoring), so a test cannot flip with the calendar."""
    import gpt2030.cli.observe
    import gpt2030.cli.runs
    import gpt2030.inference.predictions
    import gpt2030.observations.store

    for module in (gpt2030.cli.observe, gpt2030.cli.runs, gpt2030.inference.predictions,
                   gpt2030.observations.store):
        monkeypatch.setattr(module, "date", _Today)


@pytest.fixture(scope="module")
def registered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A home holding the fixture run and its registered predictions of the shipped targets,
    and of :func:`month_target` (one predictive for all: it is the costly step)."""
    home = tmp_path_factory.mktemp("registered")
    (home / "observations").mkdir()
    shutil.copy(SHIPPED_LEDGER, home / "observations" / "ledger.csv")
    install(home, SMALL)
    shipped, closed = shipped_open(TODAY)
    assert closed == []
    # 50 of the fixture's 200 draws (2 chains x 25): the predictive costs ~4 ms a draw
    result = register(load_run(home / "runs", SMALL), home, [*shipped, month_target()],
                      ledger_rows=_ledger_rows(), today=TODAY, max_draws=50)
    assert result.skipped == [] and len(result.predictions) == len(SHIPPED_TARGETS) + 1
    return home


@pytest.fixture
def copy_home(registered: Path, tmp_path: Path) -> Path:
    """A private copy of the registered home (its registry and ledger; the run installed)."""
    shutil.copytree(registered / "observations", tmp_path / "observations")
    install(tmp_path, SMALL)
    return tmp_path


def test_shipped_targets_are_registered_with_their_predictive(registered: Path) -> None:
    registry = read_registry(registry_path(registered))
    preds = {p.target.id: p for p in registry.predictions}
    assert set(preds) == {t.id for t in SHIPPED_TARGETS} | {month_target().id}
    mine = preds.pop(month_target().id)
    assert (mine.term, mine.scale, mine.unit) == ("speed", "log10", "tokens/s")
    assert 10 <= len(SHIPPED_TARGETS) <= 20 and all(t.why for t in SHIPPED_TARGETS)
    for p in preds.values():
        assert (p.run_id, p.model_version, p.registered) == (SMALL, MODEL_VERSION,
                                                             "2026-11-28")
        assert len(p.quantiles) == 99 and np.all(np.diff(p.quantiles) >= 0)
        assert p.n_draws == 50 and len(p.draws) == 50
        # the kept draws are the predictive the percentiles summarise
        assert np.median(p.draws) == pytest.approx(p.quantile(0.5), abs=1e-4)
        assert (p.term, p.scale, p.unit) == {
            "max_compute": ("compute", "log10", "FLOP"),
            "median_speed": ("speed", "log10", "tokens/s"),
            "best_benchmark": ("benchmark", "logit", "%"),
            "ledger": ("data_stock", "log10", "tokens")}[p.target.kind]
    # The model's trends show through its observation model: later windows forecast more.
    compute = [preds[f"max_compute:{y}-01-01..{y}-12-31"].quantile(0.5)
               for y in (2027, 2028, 2029, 2030)]
    speed = [preds[f"median_speed:{m}"].quantile(0.5) for m in ("2026-12", "2028-12", "2030-06")]
    math_ = [preds[f"best_benchmark:frontiermath-tiers-1-3:{y}-01-01..{y}-12-31"].quantile(0.5)
             for y in (2027, 2029)]
    assert compute == sorted(compute) and speed == sorted(speed) and math_ == sorted(math_)
    # In FLOP, near the shipped ledger's 2024 record (~5e25) and the essay's 1e28 for 2030.
    assert 1e26 < preds["max_compute:2027-01-01..2027-12-31"].shown(0.5) < 1e28
    assert preds["max_compute:2030-01-01..2030-12-31"].shown(0.05) < 1e28 < \
        preds["max_compute:2030-01-01..2030-12-31"].shown(0.95)
    gpqa = preds["best_benchmark:gpqa-diamond:2027-01-01..2027-12-31"]
    assert 0 < gpqa.shown(0.05) < gpqa.shown(0.95) < 100


def test_a_target_is_registered_once_per_run(registered: Path) -> None:
    path = registry_path(registered)
    before = path.read_bytes()
    # without targets: the shipped ones still open, each skipped for this run
    again = register(load_run(registered / "runs", SMALL), registered, today=TODAY)
    assert again.predictions == []
    assert [t for t, _ in again.skipped] == [t.id for t in SHIPPED_TARGETS]
    assert all("already registered for run" in why for _, why in again.skipped)
    assert path.read_bytes() == before


def test_windows_and_kinds_are_checked() -> None:
    with pytest.raises(TargetError, match="unknown target kind 'nope'"):
        Target.from_dict({"kind": "nope", "start": "2027-01-01", "end": "2027-12-31"})
    with pytest.raises(TargetError, match="closed on 2025-12-31"):
        Target("max_compute", "2025-01-01", "2025-12-31", 10).check_open(TODAY)
    with pytest.raises(TargetError, match="began on 2026-01-01"):
        Target("max_compute", "2026-01-01", "2026-12-31", 10).check_open(TODAY)
    # a ledger target may be registered while its period runs (the row must come later)
    Target("ledger", "2026-11-01", "2026-11-30", obs_kind="inference_speed", subject="gpt-4o",
           metric=SPEED_METRIC, date="2026-11").check_open(TODAY)
    with pytest.raises(TargetError, match="id 'x' does not match"):
        Target.from_dict({**SHIPPED_TARGETS[0].to_dict(), "id": "x"})
    # As time passes, the shipped targets whose windows opened drop out; the rest remain.
    open_, closed = shipped_open(date(2027, 6, 1))
    ids = {t.id for t in open_}
    assert "median_speed:2026-12" not in ids and "max_compute:2027-01-01..2027-12-31" not in ids
    assert "ledger:data_stock:human-generated-public-text:effective-stock:2027" in ids
    assert "max_compute:2030-01-01..2030-12-31" in ids
    assert len(open_) + len(closed) == len(SHIPPED_TARGETS)


def test_refused_registrations_change_nothing(copy_home: Path) -> None:
    path = registry_path(copy_home)
    before = path.read_bytes()
    run = load_run(copy_home / "runs", SMALL)
    context = Target("ledger", "2027-01-01", "2027-12-31", obs_kind="capability_forecast",
                     subject="APPS >= 80%", metric="year", date="2027", unit="year")
    with pytest.raises(RegistryError, match="no likelihood term"):
        register(run, copy_home, [context], today=TODAY)
    with pytest.raises(RegistryError, match="closed on"):
        register(run, copy_home, [Target("median_speed", "2026-10-01", "2026-10-31", 9)],
                 today=TODAY)
    known = Target("ledger", "2026-11-01", "2026-11-30", obs_kind="inference_speed",
                   subject="gpt-4o-mini", metric=SPEED_METRIC, date="2026-11")
    reading = _row(id="speed-now", kind="inference_speed", subject="GPT-4o-mini ",
                   metric=SPEED_METRIC, date="2026-11-02", value="80", unit="tokens/s",
                   added="2026-11-03")
    with pytest.raises(RegistryError, match="already known: ledger row speed-now"):
        register(run, copy_home, [known], ledger_rows=[*_ledger_rows(), reading], today=TODAY)
    other = Target("max_compute", "2027-01-01", "2027-12-31", 3)  # same id, other count
    with pytest.raises(RegistryError, match="registered before with other fields"):
        register(run, copy_home, [other], today=TODAY)
    assert path.read_bytes() == before


def _settling_rows() -> list[dict[str, str]]:
    """December 2026 readings of three served aliases, and a 2027 model."""
    reading = {"kind": "inference_speed", "metric": SPEED_METRIC, "unit": "tokens/s",
               "added": "2026-12-20"}
    return [
        _row(id="a1", subject="alias-a", date="2026-12-03", value="100", **reading),
        _row(id="a2", subject="alias-a", date="2026-12-17", value="120", **reading),
        _row(id="b1", subject="alias-b", date="2026-12-10", value="300", **reading),
        _row(id="c1", subject="alias-c", date="2026-12", value="50", **reading),
        # known before the prediction was registered: never settles it
        _row(id="old", subject="alias-d", date="2026-12-01", value="9000",
             **{**reading, "added": "2026-11-01"}),
        _row(id="m1", kind="training_compute", subject="Test model 2027", date="2027-03-01",
             value="3e27", unit="FLOP", status="estimate", added="2027-04-01"),
    ]


def test_score_resolves_on_arrival_and_only_appends(copy_home: Path) -> None:
    path = registry_path(copy_home)
    before = path.read_bytes()
    rows = [*_ledger_rows(), *_settling_rows()]
    # facts arrive late: a closed window settles only SETTLE_AFTER_DAYS after it closed
    early = score(copy_home, rows, today=date(2027, 1, 5))
    assert early.resolved == [] and path.read_bytes() == before
    # the speed target's month has closed long enough; the 2027 compute window has not
    done = score(copy_home, rows, today=date(2027, 5, 5))
    assert [p.target.id for p, _ in done.resolved] == ["median_speed:2026-12"]
    p, r = done.resolved[0]
    # the median over aliases of each alias's median reading, on the model's scale
    alias_a = np.median(np.log10([100, 120]))
    expected = float(np.median([alias_a, math.log10(300), math.log10(50)]))
    assert r.observed == pytest.approx(expected, abs=1e-5)  # on the stored draws' grid
    assert set(r.rows) == {"a1", "a2", "b1", "c1"}
    draws = np.asarray(p.draws)
    assert r.pit == pytest.approx(float(np.mean(draws < r.observed)), abs=1e-5)
    assert r.crps == pytest.approx(scoring.crps_samples(draws, r.observed), abs=1e-5)
    # inside the intervals every listing prints (the stored percentiles)
    q05, q25, q75, q95 = (p.quantile(q) for q in (0.05, 0.25, 0.75, 0.95))
    assert (r.covered50, r.covered90) == (q25 <= r.observed <= q75,
                                          q05 <= r.observed <= q95)
    after = path.read_bytes()
    assert after.startswith(before) and after[len(before):].count(b"\n") == 1
    # nothing is rescored
    again = score(copy_home, rows, today=date(2027, 6, 1))
    assert again.resolved == [] and path.read_bytes() == after
    # once 2027 has closed, its largest reported model settles the compute target
    later = score(copy_home, rows, today=date(2028, 5, 2))
    settled = {p.target.id: r for p, r in later.resolved}
    assert settled["max_compute:2027-01-01..2027-12-31"].observed == pytest.approx(
        math.log10(3e27), abs=1e-5)
    assert settled["max_compute:2027-01-01..2027-12-31"].rows == ("m1",)
    final = path.read_bytes()
    assert final.startswith(after)
    assert len(read_registry(path).resolutions) == 2
    # a settling row later withdrawn is reported, and the resolution stands
    gone = [r for r in rows if r["id"] != "m1"]
    note = score(copy_home, gone, today=date(2028, 6, 1))
    assert note.resolved == [] and any("m1" in s for s in note.stale)
    assert path.read_bytes() == final


def _edit(line: str, **changes) -> str:
    rec = json.loads(line)
    for key, change in changes.items():
        rec[key] = change(rec[key])
    return json.dumps(rec)


#: Ways a registry line can be broken (each takes the file's lines, returns the new ones).
CORRUPTIONS = {
    "truncated line": lambda lines: [*lines[:-1], lines[-1][: len(lines[-1]) // 2]],
    "not an object": lambda lines: [*lines, "[1, 2]"],
    "decreasing quantiles": lambda lines: [_edit(lines[0], quantiles=lambda q: q[::-1]),
                                           *lines[1:]],
    "unknown target kind": lambda lines: [
        _edit(lines[0], target=lambda t: {**t, "kind": "nope"}), *lines[1:]],
    "resolution of nothing": lambda lines: [*lines, json.dumps({
        "record": "resolution", "format": 1, "prediction": "r0/none", "target": "none",
        "resolved": "2027-01-01", "rows": ["x"], "observed": 1.0, "crps": 0.1,
        "log_score": 0.0, "pit": 0.5, "covered50": True, "covered90": True})],
}


@pytest.mark.parametrize("corruption", list(CORRUPTIONS))
def test_a_malformed_registry_line_is_refused(copy_home: Path, corruption: str,
                                              monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    path = registry_path(copy_home)
    lines = path.read_text().splitlines()
    bad = CORRUPTIONS[corruption](lines)
    path.write_text("\n".join(bad) + "\n")
    line = next(i for i, (a, b) in enumerate(zip([*lines, ""], bad, strict=False), 1) if a != b)
    before = path.read_bytes()
    with pytest.raises(RegistryError, match=rf"predictions\.jsonl:{line}: malformed"):
        read_registry(path)
    monkeypatch.setenv("GPT2030_HOME", str(copy_home))
    for argv in (["predict", "list"], ["predict", "score"], ["predict", "register"],
                 ["update"]):  # update refuses before it samples
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert f"predictions.jsonl:{line}: malformed registry line" in err
        assert "nothing was changed" in err
    assert path.read_bytes() == before
    assert sorted(p.name for p in (copy_home / "runs").iterdir()) == [SMALL]
    # the report still renders, saying what is wrong in one line
    section = track_record_section(track_record(copy_home, SMALL))
    assert len(section.blocks) == 1 and "cannot be read" in section.blocks[0].text


def test_track_record_section(copy_home: Path) -> None:
    section = track_record_section(track_record(copy_home.parent / "nowhere", SMALL))
    assert len(section.blocks) == 1 and "No predictions registered yet" in section.blocks[0].text
    path = registry_path(copy_home)
    # a hostile "why" (free text in the registry) must reach the page escaped
    lines = path.read_text().splitlines()
    lines[1] = _edit(lines[1], target=lambda t: {**t, "why": "<script>alert(1)</script>"})
    path.write_text("\n".join(lines) + "\n")
    score(copy_home, [*_ledger_rows(), *_settling_rows()], today=date(2027, 5, 5))
    record = track_record(copy_home, SMALL)
    assert record.calibration is not None and record.calibration.n == 1
    assert sum(record.calibration.pit_counts) == 1
    assert len(record.open_targets) == len(SHIPPED_TARGETS)  # 12 + this month - 1 settled
    assert all(o.current is not None and o.shift == 0.0 for o in record.open_targets)
    doc = Document("t", "s", [track_record_section(record)])
    html, md = to_html(doc), to_markdown(doc)
    assert "<script>alert" not in html and "&lt;script&gt;alert(1)" in html
    for text in (html, md):
        assert "Calibration of resolved predictions" in text
        assert "median served speed of the API aliases read in 2026-12" in text
    assert doc.figures()[0].filename == "fig-track-record.png"


def test_update_registers_once_per_run_then_scores(copy_home: Path, frozen_today: None,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """What `update` does after its run: the shipped targets once per run, then scoring."""
    from gpt2030.cli.report import keep_score
    from gpt2030.inference.progress import Progress

    monkeypatch.setenv("GPT2030_HOME", str(copy_home))
    path = registry_path(copy_home)
    # A registry without the fixture run's lines: one other run's prediction stays.
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert [r["run_id"] for r in records] == [SMALL] * (len(SHIPPED_TARGETS) + 1)
    other_run = "r20260101T000000-000000000000"
    other = "".join(json.dumps({**r, "run_id": other_run,
                                "id": r["id"].replace(SMALL, other_run)}) + "\n"
                    for r in records if r["id"] == f"{SMALL}/{month_target().id}")
    path.write_text(other)
    assert len(read_registry(path).predictions) == 1
    ledger = Ledger(copy_home / "observations" / "ledger.csv")
    run = load_run(copy_home / "runs", SMALL)
    progress = Progress(quiet=True)
    keep_score(run, ledger, progress)
    # The fixture run fails its diagnostics (2 x 100 draws): it registers nothing.
    assert run.info.verdict == "fail" and set(progress.timings) == {"score"}
    assert path.read_text() == other
    passing = type(run)(run.path, {**run.manifest, "verdict": "pass"})
    progress = Progress(quiet=True)
    keep_score(passing, ledger, progress)
    assert {"register", "score"} <= set(progress.timings)
    first = path.read_text()
    assert first.startswith(other)
    added = [json.loads(line) for line in first[len(other):].splitlines()]
    # Every shipped target (all open on TODAY), once, for this run; none settled yet.
    assert len(added) == len(SHIPPED_TARGETS) == 12
    assert sorted(r["id"] for r in added) == sorted(f"{SMALL}/{t.id}" for t in SHIPPED_TARGETS)
    assert all(r["record"] == "prediction" and r["run_id"] == SMALL for r in added)
    progress = Progress(quiet=True)
    keep_score(passing, ledger, progress)
    assert {"register", "score"} <= set(progress.timings)
    assert path.read_text() == first  # registered already for this run: 0 new lines


def test_cli_round_trip(registered: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                        capsys: pytest.CaptureFixture[str], frozen_today: None) -> None:
    """Register, add a settling row with `observe add`, score, list: resolved and open."""
    shutil.copytree(registered / "observations", tmp_path / "observations")
    install(tmp_path, SMALL)
    monkeypatch.setenv("GPT2030_HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    path = registry_path(tmp_path)
    month = MONTH
    target = ["--target", "ledger", "--kind", "inference_speed", "--subject", "gpt-4o",
              "--metric", SPEED_METRIC, "--date", month, "--why", "round trip"]
    sizes = [path.read_bytes()]
    # The module's fixture registered this very target for the run (registering is the one
    # costly step); the command finds it, and registers it no second time.
    assert main(["predict", "register", *target]) == 0
    out = capsys.readouterr().out
    assert f"skipped {month_target().id}: already registered for run {SMALL}" in out
    assert path.read_bytes() == sizes[0]
    assert main(["predict", "register", "--target", "nope", "--date", month]) == 2
    assert "unknown target kind 'nope'" in capsys.readouterr().err
    assert main(["observe", "add", "--kind", "inference_speed", "--subject", "gpt-4o",
                 "--metric", SPEED_METRIC, "--value", "95", "--unit", "tokens/s", "--date",
                 month, "--source", SOURCE]) == 0
    assert main(["predict", "score"]) == 0
    out = capsys.readouterr().out
    assert "1 prediction(s) resolved" in out and "PIT" in out
    sizes.append(path.read_bytes())
    for a, b in itertools.pairwise(sizes):
        assert b.startswith(a) and b[len(a):].count(b"\n") == 1  # one line appended
    assert main(["predict", "list", "--format", "json"]) == 0
    entries = json.loads(capsys.readouterr().out)
    assert {e["status"] for e in entries} == {"open", "resolved"}
    (done,) = [e for e in entries if e["status"] == "resolved"]
    assert done["observed"] == pytest.approx(95, rel=1e-4) and done["why"] == "round trip"
    assert done["rows"] and 0 <= done["pit"] <= 1 and done["crps"] >= 0
    assert main(["predict", "list", "--open", "--format", "csv"]) == 0
    csv_out = capsys.readouterr().out
    assert csv_out.splitlines()[0].startswith("prediction,target,kind")
    assert len(csv_out.splitlines()) == len(SHIPPED_TARGETS) + 1
    assert main(["predict", "list", "--resolved"]) == 0
    assert "1 prediction(s): 0 open, 1 resolved" in capsys.readouterr().out
