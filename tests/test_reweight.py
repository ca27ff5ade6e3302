"""The fast update: reweighting a stored posterior by added rows, and when it must refit.

Fast tier: the weights, the resampling and the decisions, on the stored fixture run (a real
fit of the shipped model) and a ledger rebuilt from the rows it was fitted to. Slow tier: a
later full refit agrees with the reweighted 2030 medians within Monte Carlo error.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import time
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from fixture_runs import SMALL, install

from gpt2030.inference.infer import InferRequest
from gpt2030.inference.progress import silent
from gpt2030.inference.reweight import (
    REWEIGHTED,
    Refit,
    path_line,
    plan,
    psis_weights,
    resample_indices,
    reweight,
    try_reweight,
)
from gpt2030.inference.runs import (
    GROUPS_RESAMPLED,
    RESAMPLED_FROM,
    BrokenRun,
    BrokenRunError,
    Run,
    RunError,
    check_run,
    load_run,
    remove_run,
)
from gpt2030.inference.sampling import SamplerConfig
from gpt2030.observations import FIELDS, Ledger

SOURCE = "https://example.org/test-row"

#: A model of ordinary size below the frontier: moves nothing much.
INNOCUOUS = {"kind": "training_compute", "subject": "Test model X", "metric": "",
             "date": "2024-06", "value": "3e24", "unit": "FLOP", "status": "estimate",
             "source": SOURCE}
#: A 2024 run a hundred times the record, stated tightly: the posterior must move far.
CONFLICTING = {"kind": "training_compute", "subject": "Giant test run", "metric": "",
               "date": "2024-01", "value": "1e29", "unit": "FLOP", "low": "9e28",
               "high": "1.1e29", "interval": "90%", "status": "official", "source": SOURCE}
#: A served model the stored run has never seen: a new alias, a new parameter.
NEW_ALIAS = {"kind": "inference_speed", "subject": "brand-new-test-alias",
             "metric": "OpenAI API", "date": "2024-11", "value": "60", "unit": "tokens/s",
             "status": "measured", "source": SOURCE}


def _row(**fields: str) -> dict[str, str]:
    return {f: fields.get(f, "") for f in FIELDS}


def test_equal_weights_are_all_kept() -> None:
    w = psis_weights(np.zeros((2, 200)))
    assert w.k_hat < 0.5
    assert w.ess == pytest.approx(400, rel=1e-6)
    assert np.exp(w.log_weights).sum() == pytest.approx(1.0)


def test_heavy_tailed_weights_have_a_large_k_hat(rng: np.random.Generator) -> None:
    # ratios with a Pareto tail of index 0.8 (infinite mean): k = 1 / 0.8, far above 0.7
    lr = np.log(rng.pareto(0.8, size=(4, 500)) + 1.0)
    w = psis_weights(lr, r_eff=1.0)
    assert w.k_hat > 0.7
    assert w.ess < 2000


def test_resampling_is_seeded_sorted_and_follows_the_weights() -> None:
    lw = np.full((2, 50), -np.inf)
    lw[1, 7] = 0.0  # all the weight on one draw
    idx = resample_indices(lw, seed=3)
    assert idx.shape == (2, 50) and np.all(idx == 57)
    flat = np.log(np.full((2, 50), 1 / 100))
    a, b = resample_indices(flat, seed=3), resample_indices(flat, seed=3)
    assert np.array_equal(a, b) and np.all(np.diff(a.ravel()) >= 0)
    assert not np.array_equal(a, resample_indices(flat, seed=4))


def test_path_line_names_parent_k_hat_and_ess() -> None:
    line = path_line({"path": REWEIGHTED, "parent": "r1-abc", "k_hat": 0.12,
                      "weight_ess": 3000.0, "parent_draws": 4000,
                      "new_observations": ["a"]})
    assert "reweighted from run r1-abc" in line and "0.12" in line and "3000" in line
    assert path_line({}) == "fitted by MCMC"


# -- on the fixture run ------------------------------------------------------------------


@pytest.fixture
def fixture_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A home holding the small fixture run and a ledger of exactly the rows it was fitted
    to; returns (home, run, request with the run's settings)."""
    runs = install(tmp_path, SMALL)
    run = load_run(runs, SMALL)
    obs = run.observations()
    (tmp_path / "observations").mkdir()
    with open(tmp_path / "observations" / "ledger.csv", "w", newline="",
              encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(FIELDS))
        writer.writeheader()
        for _, r in obs.iterrows():
            writer.writerow({f: ("" if str(r[f]) == "nan" else str(r[f])) for f in FIELDS})
    monkeypatch.setenv("GPT2030_HOME", str(tmp_path))
    s = run.manifest["sampler"]
    request = InferRequest(config="default", seed=run.manifest["seed"],
                           sampler=SamplerConfig.from_record(s))
    return tmp_path, run, request


def _ledger(home: Path) -> Ledger:
    return Ledger(home / "observations" / "ledger.csv")


def test_unchanged_ledger_reuses_the_run(fixture_home) -> None:
    home, run, request = fixture_home
    decision = plan(_ledger(home), home / "runs", request)
    assert not isinstance(decision, Refit), decision
    assert decision[1] is not None and decision[1].id == run.id


def test_refit_flag_and_other_settings_refit(fixture_home) -> None:
    home, _, request = fixture_home
    assert isinstance(plan(_ledger(home), home / "runs", request, refit=True), Refit)
    other = InferRequest(config="default", seed=request.seed + 1, sampler=request.sampler)
    ledger = _ledger(home)
    ledger.add([_row(**INNOCUOUS)])
    assert isinstance(plan(ledger, home / "runs", other), Refit)


def test_removal_always_refits(fixture_home) -> None:
    home, run, request = fixture_home
    ledger = _ledger(home)
    first = str(run.observations().index[0])
    ledger.remove(first, "test")
    ledger.add([_row(**INNOCUOUS)])
    base, _ = plan(ledger, home / "runs", request)
    result = reweight(base, ledger, request)
    assert isinstance(result, Refit) and "removed" in result.reason and first in result.reason
    assert try_reweight(ledger, home / "runs", request) is None


def test_a_new_alias_refits(fixture_home) -> None:
    home, _, request = fixture_home
    ledger = _ledger(home)
    ledger.add([_row(**NEW_ALIAS)])
    base, _ = plan(ledger, home / "runs", request)
    result = reweight(base, ledger, request)
    assert isinstance(result, Refit)
    assert "brand-new-test-alias" in result.reason


def test_a_conflicting_row_refits_on_k_hat(fixture_home) -> None:
    home, _, request = fixture_home
    ledger = _ledger(home)
    ledger.add([_row(**CONFLICTING)], force_implausible=False)
    base, _ = plan(ledger, home / "runs", request)
    result = reweight(base, ledger, request)
    assert isinstance(result, Refit) and "k-hat" in result.reason


@pytest.mark.usefixtures("fast_pipeline")
def test_an_innocuous_row_is_reweighted_and_the_report_names_the_path(fixture_home) -> None:
    home, run, request = fixture_home
    ledger = _ledger(home)
    (added,) = ledger.add([_row(**INNOCUOUS)])
    seen = []
    progress = silent()

    def on_posterior(tree: xr.DataTree, preview: dict) -> None:
        # before the predictive, the diagnostics and the save: update starts the report's
        # figures here, and they read only these groups
        seen.append((tree, preview, (home / "runs" / preview["run_id"]).exists(),
                     set(progress.timings)))
        with progress.stage("figures"):
            time.sleep(1.5)  # not the run's time, nor its stage

    began = time.perf_counter()
    got = try_reweight(ledger, home / "runs", request, progress=progress,
                       on_posterior=on_posterior)
    wall = time.perf_counter() - began
    assert got is not None
    new, reused = got
    assert not reused
    m = new.manifest
    ((tree, preview, saved_already, stages_before),) = seen
    assert not saved_already and "diagnostics" not in preview and "verdict" not in preview
    assert set(tree.children) == {"posterior", "observations"}
    assert stages_before == {"build", "log_likelihood", "resample"}  # not yet "predictive"
    assert "figures" not in m["timings"] and "predictive" in m["timings"]
    assert preview["run_id"] == new.id and preview["path"] == REWEIGHTED
    xr.testing.assert_identical(tree["posterior"], new.datatree()["posterior"])
    assert {k: v for k, v in m.items()
            if k not in ("diagnostics", "verdict", "timings", "run_nc_bytes")} \
        == {k: v for k, v in preview.items() if k != "timings"}
    assert m["timings"]["total"] <= wall - 1.5
    assert m["path"] == REWEIGHTED and m["parent"] == run.id
    assert m["k_hat"] <= 0.7 and 0 < m["weight_ess"] <= m["parent_draws"]  # k may be < 0
    assert m["new_observations"] == [added["id"]]
    assert json.loads((new.path / "manifest.json").read_text())["path"] == REWEIGHTED
    dt = new.datatree()
    # update registers and reports from the tree it saved, kept in memory: it must be the
    # tree a later command reads (its own part from run.nc, the parent's draws at the
    # stored indices), down to every variable's dtype and attributes.
    from gpt2030.inference import runs as runs_module

    runs_module._READ_TREES.clear()
    stored = check_run(new.path).datatree()
    assert stored is not dt and new.manifest[RESAMPLED_FROM] == run.id
    xr.testing.assert_identical(dt, stored)
    for node in stored.subtree:
        for name, var in node.variables.items():
            kept = dt[node.path].variables[name] if node.path != "/" else dt.variables[name]
            assert (kept.dtype, kept.attrs) == (var.dtype, var.attrs), (node.path, name)
    # run.nc holds the run's own part only: not the parent's draws
    own = xr.load_datatree(new.path / "run.nc")
    assert set(own.children) == set(GROUPS_RESAMPLED)
    assert (new.path / "run.nc").stat().st_size < (run.path / "run.nc").stat().st_size / 5
    old = run.datatree()
    idx = own["resample"]["parent_draw"].values
    np.testing.assert_array_equal(
        dt["posterior"]["compute_growth"].values,
        old["posterior"]["compute_growth"].values.ravel()[idx])
    assert dt["posterior"].sizes == old["posterior"].sizes
    assert added["id"] in set(dt["log_likelihood"]["compute_obs"]["compute_id"].values)
    assert added["id"] in set(dt["posterior_predictive"]["compute_obs"]["compute_id"].values)
    assert added["id"] in set(dt["observations"]["obs_id"].values)
    # every resampled draw is one of the parent's draws
    a = old["posterior"]["compute_growth"].values.ravel()
    b = dt["posterior"]["compute_growth"].values.ravel()
    assert np.isin(b, a).all()
    # the sampler's checks are the fitted parent's (resampled draws repeat), and diagnose
    # shows what update stored
    def checks(manifest: dict) -> dict:
        return {c["name"]: c["value"] for c in manifest["diagnostics"]["checks"]}

    for name in ("r_hat", "ess_bulk", "ess_tail", "divergences"):
        assert checks(m)[name] == checks(run.manifest)[name]
    assert checks(m)["pareto_k"] == m["k_hat"]
    from gpt2030.cli.main import main

    with contextlib.redirect_stdout(io.StringIO()) as out:
        status = main(["diagnose", new.id, "--format", "json", "--no-plots"])
    shown = json.loads(out.getvalue())
    assert status == (0 if shown["verdict"] == "pass" else 1)
    assert shown["sensitivity"] == run.manifest["diagnostics"]["sensitivity"]  # the parent's
    assert checks({"diagnostics": shown}) == checks(m)
    assert any(f"those of the fitted run {run.id}" in n for n in shown["notes"])
    # the same update again reuses the reweighted run
    again = try_reweight(ledger, home / "runs", request)
    assert again is not None and again[1] and again[0].id == new.id
    # the report's provenance names the path (the whole report of a reweighted run: the
    # update command's test below)
    from gpt2030.inference.runs import Manifest
    from gpt2030.reports.render import Document, to_html
    from gpt2030.reports.sections import provenance_section

    html = to_html(Document("t", "s", [provenance_section(new, Manifest.from_dict(m))]))
    assert f"reweighted from run {run.id}" in html


@pytest.mark.usefixtures("fast_pipeline")
def test_a_reweighted_run_needs_its_parent_and_the_parent_is_kept_for_it(fixture_home) -> None:
    """Its run.nc indexes the parent's draws: removing the parent is refused while it
    exists, and a parent gone by other means makes it broken, naming the parent."""
    home, run, request = fixture_home
    ledger = _ledger(home)
    ledger.add([_row(**INNOCUOUS)])
    new, _ = try_reweight(ledger, home / "runs", request)
    runs = home / "runs"
    with pytest.raises(RunError, match=f"holds the draws of the reweighted run.*{new.id}"):
        remove_run(runs, run.id)
    assert (run.path / "run.nc").is_file()  # nothing removed
    # moved away (not through gpt2030): the reweighted run is listed broken, not read
    aside = home / "aside"
    run.path.rename(aside)
    from gpt2030.inference import runs as runs_module

    runs_module._READ_TREES.clear()
    found = check_run(new.path)
    assert isinstance(found, BrokenRun)
    assert found.reason == f"its draws are those of run {run.id}, and it is missing"
    with pytest.raises(BrokenRunError, match=f"its draws are those of run {run.id}"):
        load_run(runs, new.id)
    with pytest.raises(BrokenRunError, match=f"its draws are those of run {run.id}"):
        Run(new.path, new.manifest).datatree()
    aside.rename(run.path)
    assert isinstance(check_run(new.path), Run)
    # a manifest naming something else (edited by hand): broken, never followed further
    text = (new.path / "manifest.json").read_text()
    for source, why in ((new.id, "it is stored as indices into another run itself"),
                        ("../aside", "that is not a run id")):
        (new.path / "manifest.json").write_text(json.dumps(
            {**json.loads(text), RESAMPLED_FROM: source}))
        found = check_run(new.path)
        assert isinstance(found, BrokenRun) and found.reason.endswith(why), found.reason
    (new.path / "manifest.json").write_text(text)
    assert isinstance(check_run(new.path), Run)
    # the reweighted run first, then its parent: both go
    remove_run(runs, new.id)
    remove_run(runs, run.id)
    assert not new.path.exists() and not run.path.exists()


@pytest.mark.slow
@pytest.mark.usefixtures("fast_pipeline")
def test_a_second_row_reweights_the_fitted_parent_not_the_reweighted_run(fixture_home) -> None:
    """Weights never compound: a second added row reweights the last *fitted* run by both
    rows. (Slow tier: two reweights, each compiling the touched terms.)"""
    home, run, request = fixture_home
    ledger = _ledger(home)
    ledger.add([_row(**INNOCUOUS)])
    first, _ = try_reweight(ledger, home / "runs", request)
    assert first.manifest["parent"] == run.id
    ledger.add([_row(**{**INNOCUOUS, "subject": "Test model Y", "value": "2e24"})])
    second, _ = try_reweight(ledger, home / "runs", request)
    assert second.manifest["parent"] == run.id and len(second.manifest["new_observations"]) == 2


# Slow tier: the command end to end (~7 s); the path itself is tested in the fast tier above.
@pytest.mark.slow
@pytest.mark.usefixtures("fast_pipeline")
def test_update_cli_takes_the_reweight_path_and_says_so(fixture_home, capsys) -> None:
    from gpt2030.cli.main import main

    home, run, request = fixture_home
    s = request.sampler
    if s.target_accept != SamplerConfig().target_accept:
        # The command line has no --target-accept: align the copied run's record with the
        # default, so that only the added row tells the run and the ledger apart.
        m = json.loads((run.path / "manifest.json").read_text())
        m["sampler"]["target_accept"] = SamplerConfig().target_accept
        (run.path / "manifest.json").write_text(json.dumps(m))
    args = ["--seed", str(request.seed), "--draws", str(s.draws), "--tune", str(s.tune),
            "--chains", str(s.chains), "--thin", str(s.thin)]
    assert main(["observe", "add", *[f"--{k}={v}" for k, v in INNOCUOUS.items() if v]]) == 0
    capsys.readouterr()
    status = main(["update", *args])
    err = capsys.readouterr().err
    assert status in (0, 1)
    assert home.is_dir()
    assert "reweighted from run" in err and "resample" in err
    assert "Sampling: [" not in err


def test_refit_needs_update(home: Path, capsys) -> None:
    from gpt2030.cli.main import main

    assert main(["observe", "add", *[f"--{k}={v}" for k, v in INNOCUOUS.items() if v],
                 "--refit"]) == 2
    assert "--refit goes with --update" in capsys.readouterr().err


# -- slow: a full refit agrees ----------------------------------------------------------


@pytest.mark.slow
def test_full_refit_agrees_with_the_reweighted_medians(fixture_home) -> None:
    from gpt2030.inference.forecast import forecast_table
    from gpt2030.inference.infer import infer

    home, _run, request = fixture_home
    ledger = _ledger(home)
    ledger.add([_row(**INNOCUOUS)])
    new, _ = try_reweight(ledger, home / "runs", request)
    refit, reused = infer(ledger, home / "runs", request, force=True)
    assert not reused and refit.manifest["path"] == "fitted"
    a = forecast_table(new.datatree(), 2030)
    b = forecast_table(refit.datatree(), 2030)
    post_a = new.datatree()["posterior"]
    post_b = refit.datatree()["posterior"]
    for key in ("training_compute_flop", "serial_speed", "work_years"):
        var = {"training_compute_flop": "training_compute", "serial_speed": "serial_speed",
               "work_years": "work_years"}[key]
        xa = np.log10(post_a[var].sel(year=2030).values.ravel())
        xb = np.log10(post_b[var].sel(year=2030).values.ravel())
        # Monte Carlo error of a median: ~1.25 sd / sqrt(ESS); the ESS of both runs is at
        # least a tenth of their draws here (a small fixture fit), and 4 standard errors.
        se = 1.2533 * np.hypot(np.std(xa) / np.sqrt(xa.size / 10),
                               np.std(xb) / np.sqrt(xb.size / 10))
        assert abs(np.log10(a[key]["median"]) - np.log10(b[key]["median"])) <= 4 * se, key


def test_prior_dominance_is_kept_beside_a_fitted_run_for_it_and_its_reweighted_runs(
        tmp_path: Path) -> None:
    import pandas as pd

    from gpt2030.inference.reporting import (
        PRIOR_DOMINANCE_FILE,
        keep_prior_dominance,
        stored_prior_dominance,
    )
    from gpt2030.inference.runs import Run

    frame = pd.DataFrame(
        {"kind": ["parameter", "headline"], "sd_ratio": [0.9, float("nan")],
         "psense_prior": [0.08, 0.01], "psense_likelihood": [0.01, 0.2],
         "diagnosis": ["potential strong prior / weak likelihood", None],
         "prior_dominated": [True, False]},
        index=pd.Index(["compute_growth", "work_years"], name="quantity"))
    parent = Run(tmp_path / "rA", {"run_id": "rA", "path": "fitted"})
    child = Run(tmp_path / "rB", {"run_id": "rB", "path": REWEIGHTED, "parent": "rA"})
    for run in (parent, child):
        run.path.mkdir()
        (run.path / "manifest.json").write_text(json.dumps(run.manifest))
    assert stored_prior_dominance(child, 2030) is None  # the parent's report has not run
    assert stored_prior_dominance(parent, 2030) is None
    keep_prior_dominance(parent, 2030, frame)
    keep_prior_dominance(child, 2030, frame)  # a reweighted run's own table is not kept
    assert not (child.path / PRIOR_DOMINANCE_FILE).exists()
    for run in (parent, child):
        got, source = stored_prior_dominance(run, 2030)
        assert source == "rA"
        pd.testing.assert_frame_equal(got[frame.columns], frame, check_dtype=False)
        assert got["prior_dominated"].dtype == bool
        assert stored_prior_dominance(run, 2031) is None  # another year: computed anew
    # A table of another version of the computation is computed anew.
    doc = json.loads((parent.path / PRIOR_DOMINANCE_FILE).read_text())
    (parent.path / PRIOR_DOMINANCE_FILE).write_text(json.dumps({**doc, "version": 0}))
    assert stored_prior_dominance(parent, 2030) is None
