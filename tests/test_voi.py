"""Value of information: preposterior analysis from stored draws.

Fast tier: the computation on a synthetic posterior whose answer is known in closed form
(a normal quantity observed with normal error), the stored result of the fixture run through
the command and the report. Slow tier: the whole computation on the stored fixture run (the
model's own predictive and likelihood), which must reproduce the stored result.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from common import SEED
from fixture_runs import FIXTURES, SMALL, install
from scipy.stats import norm

from gpt2030.cli.main import main
from gpt2030.inference import voi
from gpt2030.inference.runs import Run, load_run
from gpt2030.models.evidence import Hypothetical, prepare_evidence, with_hypothetical
from gpt2030.observations import FIELDS, observation_frame

CHAINS, DRAWS, OUTCOMES = 4, 500, 100


def _candidate(key: str) -> voi.Candidate:
    return voi.Candidate(key=key, term=key, kind="test", observation=key, date="2027-06",
                         error=0.0, error_unit="dex", template="")


def _synthetic(rng: np.random.Generator):
    """log10 q ~ N(6, 0.5) and an independent z ~ N(0, 1); three ways to observe them.

    ``direct`` observes log10 q with error 0.05 (decisive), ``noisy`` with error 0.5 (the
    posterior sd is then 0.5 / sqrt 2: the interval narrows by 1 - 1/sqrt 2 exactly),
    ``independent`` observes z with error 0.05 (sharp, but about something else).
    """
    log_q = rng.normal(6.0, 0.5, size=CHAINS * DRAWS)
    z = rng.normal(0.0, 1.0, size=CHAINS * DRAWS)
    picked = rng.integers(0, CHAINS * DRAWS, OUTCOMES)  # common random numbers
    log_lik = {}
    for key, latent, sigma in (("direct", log_q, 0.05), ("noisy", log_q, 0.5),
                               ("independent", z, 0.05)):
        y = latent[picked] + rng.normal(0.0, sigma, OUTCOMES)
        ll = norm.logpdf(y[:, None], latent[None, :], sigma)
        log_lik[_candidate(key)] = ll.reshape(OUTCOMES, CHAINS, DRAWS)
    return {"work_years": 10**log_q}, log_lik


@pytest.fixture(scope="module")
def synthetic() -> voi.ValueOfInformation:
    quantities, log_lik = _synthetic(np.random.default_rng(SEED))
    current, values = voi.evaluate(quantities, log_lik, r_eff=1.0, seed=1)
    return voi.ValueOfInformation("synthetic", 2030, "2027-06", OUTCOMES, 1, CHAINS * DRAWS,
                                  1.0, current, values)


def test_decisive_first_independent_last_with_about_zero_reduction(
        synthetic: voi.ValueOfInformation) -> None:
    result = synthetic
    current, values = result.current, result.values
    ranked = [v.candidate.key for v in result.ranked("work_years")]
    assert ranked == ["direct", "noisy", "independent"]
    width = current["work_years"].width
    assert width == pytest.approx(2 * norm.ppf(0.95) * 0.5, rel=0.05)
    by = {v.candidate.key: v for v in values}
    direct = by["direct"].effects["work_years"]
    # Posterior sd 0.5 * 0.05 / hypot(0.5, 0.05): the width shrinks to ~10% of today's.
    assert direct.share == pytest.approx(1 - 0.05 / math.hypot(0.5, 0.05), abs=0.03)
    noisy = by["noisy"].effects["work_years"]
    assert noisy.share == pytest.approx(1 - 1 / math.sqrt(2), abs=0.04)
    assert abs(noisy.share - (1 - 1 / math.sqrt(2))) < 3 * noisy.mc_se / width + 0.01
    independent = by["independent"].effects["work_years"]
    assert abs(independent.reduction) < 3 * independent.mc_se
    assert abs(independent.share) < 0.03
    assert not direct.tied_with_next and not noisy.tied_with_next
    assert not by["noisy"].flagged  # outcomes far in a tail make sharp weights unreliable


def test_result_survives_its_json_round_trip(synthetic: voi.ValueOfInformation) -> None:
    result = synthetic
    doc = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    assert voi.ValueOfInformation.from_dict(doc) == result
    out = result.quantity_dict("work_years")
    assert [c["key"] for c in out["candidates"]] == ["direct", "noisy", "independent"]
    assert [c["rank"] for c in out["candidates"]] == [1, 2, 3]


def _speed_row(subject: str, date: str, value: str) -> dict[str, str]:
    return {**dict.fromkeys(FIELDS, ""), "id": f"inference_speed:{subject}:{date}",
            "kind": "inference_speed", "subject": subject, "metric": "OpenAI API",
            "date": date, "value": value, "unit": "tokens/s", "status": "measured",
            "source": "test", "added": "2026-01-01"}


def test_hypothetical_rows_copy_a_real_row_and_follow_its_series() -> None:
    rows = [_speed_row("gpt-4", "2023-06", "12"), _speed_row("gpt-4", "2024-06", "20"),
            _speed_row("gpt-4o", "2024-08", "80")]
    ev = prepare_evidence(observation_frame(rows))
    speed = ev.term("speed")
    template = "inference_speed:gpt-4:2024-06"
    i = speed.ids.index(template)
    copies = [Hypothetical("speed", f"voi:test:{s}", template, 0.05, 1.0, 2027.5)
              for s in range(3)]
    new = with_hypothetical(ev, copies).term("speed")
    assert len(new) == len(speed) + 3 and len(speed.ids) == len(speed.arrays["y"])
    prev = new.array("prev", int)
    # Every copy follows its series' last real reading (the template); none follows a copy.
    assert list(prev[-3:]) == [i, i, i]
    assert np.array_equal(prev[: len(speed)], speed.array("prev", int))
    assert new.array("gap")[-1] == pytest.approx(2027.5 - speed.array("t")[i])
    assert new.arrays["alias"][-1] == speed.arrays["alias"][i]
    assert new.array("t")[-1] == 2027.5 and new.array("meas")[-1] == 0.05
    assert len(ev.term("speed")) == 3  # the original is left alone
    with pytest.raises(KeyError):
        with_hypothetical(ev, [Hypothetical("speed", "voi:x", "no-such-row", 0.1, 0.0)])


def test_command_reads_the_stored_result(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("GPT2030_HOME", str(tmp_path))
    install(tmp_path, SMALL)
    assert (tmp_path / "runs" / SMALL / voi.CACHE).is_file()  # shipped with the fixture
    before = (tmp_path / "runs" / SMALL / voi.CACHE).read_bytes()
    assert main(["value-of-information", "--run", SMALL, "--quantity",
                 "training_compute_flop", "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["quantity"] == "training_compute_flop" and doc["year"] == 2030
    keys = [c["key"] for c in doc["candidates"]]
    assert keys[0] == "compute"  # observing compute narrows the compute forecast most
    assert doc["current"]["width_dex"] > 0 and doc["n_outcomes"] == voi.OUTCOMES
    assert (tmp_path / "runs" / SMALL / voi.CACHE).read_bytes() == before
    assert main(["value-of-information", "--run", SMALL]) == 0
    table = capsys.readouterr().out
    assert "work_years in 2030" in table and "training compute of a new notable model" in table


def test_command_refuses_bad_input(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("GPT2030_HOME", str(tmp_path))
    install(tmp_path, SMALL)
    before = sorted(p.name for p in (tmp_path / "runs" / SMALL).iterdir())
    for args, message in ((["--year", "2050"], "outside the model's grid"),
                          (["--date", "2027-13"], "not a real date"),
                          (["--date", "1990"], "outside the model's years"),
                          (["--outcomes", "1"], "at least 2"),
                          (["--run", "r2099"], "no run")):
        assert main(["value-of-information", "--run", SMALL, *args]) == 2, args
        assert message in capsys.readouterr().err, args
    assert sorted(p.name for p in (tmp_path / "runs" / SMALL).iterdir()) == before


@pytest.mark.slow
def test_fixture_run_reproduces_its_stored_result(tmp_path: Path) -> None:
    """The model's own predictive and likelihood, on the stored fixture run."""
    shutil.copytree(FIXTURES / SMALL, tmp_path / SMALL)
    (tmp_path / SMALL / voi.CACHE).unlink()
    run = load_run(tmp_path, SMALL)
    result = voi.compute(run)
    stored = json.loads((FIXTURES / SMALL / voi.CACHE).read_text(encoding="utf-8"))
    assert _close(result.to_dict(), stored)
    ranked = result.ranked("training_compute_flop")
    assert ranked[0].candidate.key == "compute"
    bench = next(v for v in result.values if v.candidate.term == "benchmark")
    for key in ("training_compute_flop", "work_years"):
        e = bench.effects[key]  # benchmarks share no parameter with compute or work
        assert abs(e.reduction) < 3 * e.mc_se + 0.01 * result.current[key].width


def _close(a: object, b: object) -> bool:
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(
            k == "seconds" or _close(a[k], b[k]) for k in a)  # type: ignore[index]
    if isinstance(a, list):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float):
        return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-9)  # type: ignore[arg-type]
    return a == b


PAYLOAD = "<script>alert(1)</script>"


def test_report_blocks_rank_and_escape() -> None:
    from gpt2030.reports.render import Document, Section, to_html, to_markdown
    from gpt2030.reports.sections import next_observation_blocks

    run = load_run(FIXTURES, SMALL)
    result = voi.stored(run, n_outcomes=voi.REPORT_OUTCOMES)
    assert result is not None  # shipped with the fixture
    first = result.values[0]
    evil = voi.CandidateValue(
        voi.Candidate(**{**first.candidate.__dict__, "observation": f"speed of {PAYLOAD}"}),
        first.effects, first.k_hat_median, first.k_hat_max, 0.5)  # and flagged
    result.values[0] = evil
    result.skipped.append(f"x: {PAYLOAD}")
    doc = Document("t", "s", [Section("drivers", "8", next_observation_blocks(result))])
    html, md = to_html(doc), to_markdown(doc)
    assert "What to measure next" in html and "What to measure next" in md
    assert "<script" not in html.lower() and "<script" not in md.lower()
    assert html.count("&lt;script&gt;") >= 2
    ranked = [v.candidate.observation for v in result.ranked("work_years")]
    assert html.index(ranked[0].replace("<", "&lt;").replace(">", "&gt;")) < \
        html.index(ranked[1].replace("<", "&lt;").replace(">", "&gt;"))
    assert "no: k\u0302 &gt; 0.7 in 50% of outcomes" in html


def test_report_computes_nothing_for_untrusted_or_prior_only_runs(tmp_path: Path) -> None:
    (tmp_path / SMALL).mkdir()
    shutil.copy(FIXTURES / SMALL / "manifest.json", tmp_path / SMALL)
    run = Run(tmp_path / SMALL, json.loads((FIXTURES / SMALL / "manifest.json").read_text()))
    assert run.manifest["verdict"] == "fail"
    said = voi.for_report(run, xr.DataTree.from_dict({"posterior": xr.Dataset()}))
    assert isinstance(said, str) and "fails its diagnostics" in said
    assert not (tmp_path / SMALL / voi.CACHE).exists()
    assert "prior-only" in voi.for_report(run, xr.DataTree.from_dict({"prior": xr.Dataset()}))


def test_reweighted_run_shows_its_parents_ranking_and_says_so(tmp_path: Path) -> None:
    from gpt2030.reports.render import Document, Section, to_html
    from gpt2030.reports.sections import next_observation_blocks

    parent = tmp_path / SMALL
    parent.mkdir()
    for name in ("manifest.json", voi.CACHE):
        shutil.copy(FIXTURES / SMALL / name, parent)
    base = json.loads((parent / "manifest.json").read_text())
    # A parent whose draws fail their diagnostics lends no ranking (as for the run itself).
    child_of_failing = Run(tmp_path / "r-child", {**base, "run_id": "r-child", "verdict": "pass",
                                                  "path": "reweighted", "parent": SMALL})
    assert base["verdict"] == "fail" and voi._parent_result(child_of_failing, voi.YEAR) is None
    base["verdict"] = "pass"
    (parent / "manifest.json").write_text(json.dumps(base))
    child_id = "r20261128T120000-000000000000"
    (tmp_path / child_id).mkdir()
    child = Run(tmp_path / child_id, {**base, "run_id": child_id, "verdict": "pass",
                                      "path": "reweighted", "parent": SMALL})
    posterior = xr.DataTree.from_dict({"posterior": xr.Dataset()})
    got = voi.for_report(child, posterior)
    assert isinstance(got, voi.ValueOfInformation)
    assert got.run_id == SMALL == voi.stored(load_run(FIXTURES, SMALL)).run_id
    assert not (tmp_path / child_id / voi.CACHE).exists()  # nothing computed for the child
    html = to_html(Document("t", "s", [Section("drivers", "8",
                                                next_observation_blocks(got, child_id))]))
    assert f"Ranked on run {SMALL}" in html and f"--run {child_id}" in html
    # Its own ranking names no other run; a fitted run never takes another's.
    assert "Ranked on run" not in to_html(Document("t", "s", [Section(
        "drivers", "8", next_observation_blocks(got, SMALL))]))
    fitted = Run(tmp_path / child_id, {**child.manifest, "path": "fitted"})
    assert voi._parent_result(fitted, voi.YEAR) is None
