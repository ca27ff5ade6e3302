"""The run store and ``gpt2030 diagnose``, on stored fixture runs (no sampling).

Fixtures (``tests/data/runs``, built by ``tests/data/make_fixtures.py``): a small healthy-ish
run (2 chains x 100 draws) and a deliberately broken one (nutpie, ``--tune 10 --draws 20``).
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import arviz as az
import numpy as np
import pytest
import xarray as xr
from common import SEED
from fixture_runs import BROKEN, FIXTURES, SMALL, install, memoized

from gpt2030.cli.main import main
from gpt2030.inference.diagnostics import (
    PPC_COVERAGE90_MIN,
    PPC_MIN_OBS,
    PSENSE_THRESHOLD,
    Diagnostics,
    check,
    convergence_frame,
    convergence_table,
    degenerate_ok,
    free_parameters,
    loo_weights,
    normalised_weights,
    observation_terms,
    predictive_fit,
    relative_ess,
    sampler_checks,
)
from gpt2030.inference.runs import (
    MANIFEST,
    RUN_FILE,
    RunError,
    list_runs,
    load_run,
    save_run,
)
from gpt2030.models import MODEL_VERSION


def manifest_of(run_id: str) -> dict:
    return json.loads((FIXTURES / run_id / MANIFEST).read_text())


@pytest.fixture(scope="module")
def small_dt() -> xr.DataTree:
    return xr.load_datatree(FIXTURES / SMALL / RUN_FILE)


@pytest.fixture(scope="module")
def broken_dt() -> xr.DataTree:
    return xr.load_datatree(FIXTURES / BROKEN / RUN_FILE)


@pytest.fixture(scope="module")
def small_report(small_dt: xr.DataTree) -> Diagnostics:
    """``check`` of the small run, computed once a session (``diagnose`` below reuses it)."""
    return memoized(check)(small_dt)


@pytest.fixture(scope="module")
def broken_report(broken_dt: xr.DataTree) -> Diagnostics:
    return memoized(check)(broken_dt, sensitivity=False)


# --- the run store ------------------------------------------------------------------------


def test_store_round_trip(tmp_path: Path, small_dt: xr.DataTree) -> None:
    runs = tmp_path / "runs"
    manifest = {**manifest_of(SMALL), "run_id": "r20300101T000000-abc",
                "created": "2030-01-01T00:00:00+00:00"}
    run = save_run(small_dt.copy(), manifest, runs)
    assert run.path == runs / "r20300101T000000-abc"
    assert sorted(p.name for p in run.path.iterdir()) == [MANIFEST, RUN_FILE]
    loaded = load_run(runs, "r20300101")  # a unique prefix
    assert loaded.id == "r20300101T000000-abc"
    # save_run adds the size of run.nc, which lets a listing check it without opening it.
    assert run.manifest == {**manifest, "run_nc_bytes": (run.path / RUN_FILE).stat().st_size}
    assert loaded.manifest == json.loads(json.dumps(run.manifest))
    for key in ("key", "model_version", "n_observations", "sampler", "seed", "diagnostics",
                "verdict", "packages"):
        assert key in loaded.manifest
    dt = loaded.datatree()
    assert dt.attrs["run_id"] == "r20300101T000000-abc"
    assert dt.attrs["model_version"] == MODEL_VERSION
    np.testing.assert_array_equal(dt["posterior"]["compute_growth"].values,
                                  small_dt["posterior"]["compute_growth"].values)
    obs = loaded.observations()
    assert len(obs) == small_dt["observations"].sizes["obs_id"]
    assert {"id", "kind", "value", "role"} <= set(obs.columns)
    assert load_run(runs).id == loaded.id  # latest
    assert [r.id for r in list_runs(runs)] == [loaded.id]


def test_store_saves_a_vector_with_no_levels(tmp_path: Path, small_dt: xr.DataTree) -> None:
    """A backtest's early cutoff has vectors with no levels (no benchmark variants yet)."""
    dt = small_dt.copy()
    post = dt["posterior"].to_dataset()
    empty = np.zeros((post.sizes["chain"], post.sizes["draw"], 0))
    dt["posterior"] = xr.DataTree(post.assign(
        no_levels=(("chain", "draw", "no_level"), empty)))
    manifest = {**manifest_of(SMALL), "run_id": "r20300101T000000-abd",
                "created": "2030-01-01T00:00:00+00:00"}
    run = save_run(dt, manifest, tmp_path / "runs")
    got = load_run(tmp_path / "runs", run.id).datatree()["posterior"]
    assert got["no_levels"].shape == empty.shape
    np.testing.assert_array_equal(got["compute_growth"].values,
                                  small_dt["posterior"]["compute_growth"].values)


def test_store_refuses_other_model_version_and_lists_only_complete_runs(home: Path) -> None:
    runs = install(home, SMALL)
    manifest = json.loads((runs / SMALL / MANIFEST).read_text())
    manifest["model_version"] = "0.0.1"
    (runs / SMALL / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(RunError, match=r"model version 0\.0\.1"):
        load_run(runs, SMALL)
    assert main(["diagnose", SMALL, "--no-plots"]) == 2  # a clean refusal, not a traceback

    # an interrupted save: a hidden temporary folder, even one holding both files
    tmp = runs / f".tmp-{BROKEN}-x1y2"
    shutil.copytree(FIXTURES / BROKEN, tmp)
    assert [r.id for r in list_runs(runs)] == [SMALL]
    with pytest.raises(RunError, match="no run"):
        load_run(runs, BROKEN)


def test_list_runs_sorted_by_creation(home: Path) -> None:
    runs = install(home, SMALL, BROKEN)
    created = [r.manifest["created"] for r in list_runs(runs)]
    assert created == sorted(created)
    assert load_run(runs).id == BROKEN  # the newest


# --- diagnose: the broken run -------------------------------------------------------------


def test_check_fails_broken_run_on_sampler_checks(broken_report: Diagnostics) -> None:
    report = broken_report
    assert report.verdict == "fail" and not report.ok
    failed = {c.name: c for c in report.failures}
    assert {"r_hat", "ess_bulk", "ess_tail"} <= set(failed)
    assert failed["r_hat"].value > 1.01
    assert failed["ess_bulk"].value < 400
    json.dumps(report.to_dict())  # the manifest stores it


@pytest.mark.usefixtures("fast_pipeline")
def test_diagnose_cli_broken_run_exits_1_and_names_failures(
        home: Path, broken_report: Diagnostics, capsys: pytest.CaptureFixture[str]) -> None:
    install(home, BROKEN)
    assert main(["diagnose", BROKEN, "--no-plots"]) == 1
    out = capsys.readouterr().out
    assert "verdict FAIL" in out
    last = out.strip().splitlines()[-1]
    assert last.startswith("verdict: fail")
    for c in broken_report.failures:  # every failing check, with its value
        assert c.name in last
        assert f"{c.value:.4g}" in last
    assert not (home / "runs" / BROKEN / "diagnostics").exists()  # --no-plots


# --- diagnose: the small run --------------------------------------------------------------


@pytest.mark.usefixtures("fast_pipeline")
# Slow tier: the command end to end with its real plots (arviz-plots, ~9 s); the checks' numbers
# are tested in the fast tier on small_report.
@pytest.mark.slow
def test_diagnose_json_structure_and_plots(home: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    install(home, SMALL)
    status = main(["diagnose", SMALL, "--format", "json"])
    data = json.loads(capsys.readouterr().out)
    assert status == (0 if data["verdict"] == "pass" else 1)
    assert data["run_id"] == SMALL and data["prior_only"] is False
    names = [c["name"] for c in data["checks"]]
    for name in ("r_hat", "ess_bulk", "ess_tail", "divergences", "treedepth", "e_bfmi"):
        assert name in names
    assert data["verdict"] == ("pass" if all(c["passed"] for c in data["checks"]) else "fail")
    terms = {t["term"]: t for t in data["terms"]}
    observed = xr.load_datatree(FIXTURES / SMALL / RUN_FILE)["observed_data"]
    assert terms["compute"]["n"] == observed["compute_obs"].size >= 30
    assert terms["speed"]["n"] == observed["speed_obs"].size >= 200
    for t in terms.values():
        assert 0 <= t["coverage50"] <= t["coverage90"] <= 1
        assert t["checked"] == (t["n"] >= PPC_MIN_OBS)
        assert (f"ppc_coverage90:{t['term']}" in names) == t["checked"]
    # the worst-fitting observations name ledger ids of the run, most extreme first
    ids = set(xr.load_datatree(FIXTURES / SMALL / RUN_FILE)["observations"]["obs_id"].values)
    tails = [o["tail_probability"] for o in data["worst_fit"]]
    assert len(tails) == 10 and tails == sorted(tails)
    assert all(o["obs_id"] in ids for o in data["worst_fit"])
    # sensitivity rows are the flagged ones only
    assert all(s["diagnosis"].startswith("potential") for s in data["sensitivity"])
    assert data["sensitivity_threshold"] == PSENSE_THRESHOLD
    # plots (arviz-plots, reports/diagnostics.py), beside the run, no temporary files left
    assert [Path(p).name for p in data["plots"]] == [
        "rank.png", "predictive_check.png", "sensitivity.png"]
    folder = home / "runs" / SMALL / "diagnostics"
    for p in data["plots"]:
        assert Path(p).parent == folder
        assert Path(p).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and Path(p).stat().st_size > 10_000
    assert sorted(q.name for q in folder.iterdir()) == sorted(Path(p).name for p in data["plots"])


def test_coverage_check_fails_when_a_term_is_misfit(small_dt: xr.DataTree,
                                                    small_report: Diagnostics) -> None:
    dt = small_dt.copy()
    assert next(c for c in small_report.checks if c.name == "ppc_coverage90:speed").passed
    observed = dt["observed_data"].to_dataset()
    observed["speed_obs"] = observed["speed_obs"] + 3.0  # 1000x faster than anything predicted
    dt["observed_data"] = observed
    report = check(dt, sensitivity=False)
    speed = next(c for c in report.checks if c.name == "ppc_coverage90:speed")
    assert speed.value == 0.0 and not speed.passed
    assert speed.value < PPC_COVERAGE90_MIN
    assert report.verdict == "fail"
    assert next(t for t in report.terms if t.term == "speed").coverage90 == 0.0
    # the speed rows are now far in the upper tail: they are the worst fits
    assert [f.term for f in report.worst_fit] == ["speed"] * len(report.worst_fit)
    assert all(f.loo_pit > 0.99 for f in report.worst_fit)


def test_diagnose_prior_only_run_exits_0(home: Path, small_dt: xr.DataTree,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    dt = xr.DataTree.from_dict({g: small_dt[g].to_dataset() for g in
                                ("prior", "prior_predictive", "observations")})
    manifest = {**manifest_of(SMALL), "run_id": "r20300101T000000-prior", "prior_only": True,
                "created": "2030-01-01T00:00:00+00:00"}
    save_run(dt, manifest, home / "runs")
    assert main(["diagnose", "r20300101T000000-prior"]) == 0
    out = capsys.readouterr().out
    assert "prior-only" in out
    assert main(["diagnose", "r20300101T000000-prior", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["prior_only"] is True and data["verdict"] == "pass" and data["checks"] == []
    assert not (home / "runs" / "r20300101T000000-prior" / "diagnostics").exists()


# --- ArviZ-native statistics give the numbers of the hand-written code they replaced ------
#
# Each ``old_*`` function below is the hand-written computation as it stood before the
# ArviZ call replaced it (commit b73c82b), kept here as the reference. The comparisons run on
# every stored fixture run, whatever the fixtures hold when they are rebuilt.

FIXTURE_IDS = sorted(p.name for p in FIXTURES.iterdir() if (p / RUN_FILE).is_file())


@pytest.fixture(scope="module", params=FIXTURE_IDS)
def fixture_dt(request: pytest.FixtureRequest) -> xr.DataTree:
    return xr.load_datatree(FIXTURES / request.param / RUN_FILE)


def old_elements(ds: xr.Dataset) -> dict[str, float]:
    out: dict[str, float] = {}
    for name, da in ds.data_vars.items():
        if da.ndim == 0:
            out[str(name)] = float(da.values)
            continue
        stacked = da.stack(_el=da.dims)
        for i in range(stacked.sizes["_el"]):
            el = stacked.isel(_el=i)
            label = ", ".join(str(el[d].values) for d in da.dims)
            out[f"{name}[{label}]"] = float(el.values)
    return out


def old_convergence(dt: xr.DataTree) -> dict[str, dict[str, float]]:
    post = dt["posterior"].to_dataset()[free_parameters(dt)]
    with degenerate_ok():
        return {"r_hat": old_elements(az.rhat(post)),
                "ess_bulk": old_elements(az.ess(post, method="bulk")),
                "ess_tail": old_elements(az.ess(post, method="tail")),
                "mcse_mean": old_elements(az.mcse(post, method="mean")),
                "sd": old_elements(post.std(("chain", "draw")))}


def old_ebfmi(dt: xr.DataTree) -> np.ndarray:
    energy = np.asarray(dt["sample_stats"]["energy"].values, dtype=float)
    return np.square(np.diff(energy, axis=1)).mean(axis=1) / energy.var(axis=1)


def old_psis_weights(dt: xr.DataTree, var: str, r_eff: float) -> tuple[np.ndarray, np.ndarray]:
    """Normalised weights (observation, sample) and k, as ``psis_weights`` computed them."""
    log_lik = dt["log_likelihood"][var]
    obs_dim = [d for d in log_lik.dims if d not in ("chain", "draw")]
    log_lik = log_lik.transpose(*obs_dim, "chain", "draw")
    with degenerate_ok():
        log_w, khat = log_lik.azstats.psislw(r_eff=r_eff, dim=["chain", "draw"])
    lw = log_w.transpose(*obs_dim, "chain", "draw").values
    lw = lw.reshape(lw.shape[0], -1)
    w = np.exp(lw - lw.max(axis=1, keepdims=True))
    return w / w.sum(axis=1, keepdims=True), np.asarray(khat.values, dtype=float)


def test_rhat_ess_mcse_from_az_summary_equal_the_hand_written_tables(
        fixture_dt: xr.DataTree) -> None:
    old = old_convergence(fixture_dt)
    new = convergence_frame(fixture_dt)
    checks = {c.name: c for c in sampler_checks(fixture_dt, new)}
    assert sorted(new.index) == sorted(old["r_hat"])
    for col in ("r_hat", "ess_bulk", "ess_tail", "mcse_mean"):
        np.testing.assert_allclose(new.loc[list(old[col]), col].to_numpy(dtype=float),
                                   list(old[col].values()), rtol=1e-12, err_msg=col)
    # az.summary's sd is the sample sd (ddof=1); the old table used ddof=0
    n = fixture_dt["posterior"].sizes["chain"] * fixture_dt["posterior"].sizes["draw"]
    np.testing.assert_allclose(new.loc[list(old["sd"]), "sd"].to_numpy(dtype=float),
                               np.array(list(old["sd"].values())) * np.sqrt(n / (n - 1)),
                               rtol=1e-10)
    assert checks["r_hat"].value == pytest.approx(max(old["r_hat"].values()), rel=1e-12)
    for method in ("bulk", "tail"):
        assert checks[f"ess_{method}"].value == pytest.approx(
            min(old[f"ess_{method}"].values()), rel=1e-12)
    rows = convergence_table(fixture_dt, n=5, table=new)
    assert [r["parameter"] for r in rows] == sorted(
        old["r_hat"], key=lambda k: -old["r_hat"][k])[:5]
    # E-BFMI: arviz_stats.bfmi divides the N-1 squared energy steps by N draws' variance
    # sum (Betancourt 2016); the old code took the mean over the N-1 steps: a factor (N-1)/N
    n_draw = fixture_dt["sample_stats"].sizes["draw"]
    assert checks["e_bfmi"].value == pytest.approx(
        old_ebfmi(fixture_dt).min() * (n_draw - 1) / n_draw, rel=1e-10)


def test_psis_weights_and_loo_pit_from_arviz_equal_the_hand_written_ones(
        fixture_dt: xr.DataTree) -> None:
    r_eff = relative_ess(fixture_dt)
    _, fits = predictive_fit(fixture_dt)
    pit = {(f.term, f.obs_id): f for f in fits}
    n_ties = 0
    for var in observation_terms(fixture_dt):
        w_old, k_old = old_psis_weights(fixture_dt, var, r_eff)
        log_w, k_new = loo_weights(fixture_dt, var, r_eff)
        np.testing.assert_allclose(normalised_weights(log_w), w_old, rtol=1e-9, atol=1e-15)
        np.testing.assert_allclose(k_new.values, k_old, rtol=1e-12)
        y = fixture_dt["observed_data"][var]
        obs_dim = y.dims[0]
        rep = fixture_dt["posterior_predictive"][var].transpose(obs_dim, "chain", "draw")
        rep = np.asarray(rep.values, dtype=float).reshape(y.size, -1)
        yv = np.asarray(y.values, dtype=float)[:, None]
        below, tied = (w_old * (rep < yv)).sum(axis=1), (w_old * (rep == yv)).sum(axis=1)
        for i, obs_id in enumerate(np.asarray(y[obs_dim].values).astype(str)):
            fit = pit[(var.removesuffix("_obs"), obs_id)]
            assert fit.pareto_k == pytest.approx(k_old[i], rel=1e-12)
            if tied[i] == 0:  # the old mid-rank PIT, exactly
                assert fit.loo_pit == pytest.approx(below[i], abs=1e-12), obs_id
            else:  # ties (a row at a censoring bound) are broken at random by ArviZ
                n_ties += 1
                assert below[i] - 1e-12 <= fit.loo_pit <= below[i] + tied[i] + 1e-12
    assert n_ties <= 0.05 * len(fits)


# --- the diagnostic plots (reports/, arviz-plots) -----------------------------------------


def test_report_plots_show_the_worst_and_the_key_parameters(
        small_dt: xr.DataTree, small_report: Diagnostics, tmp_path: Path) -> None:
    """Which parameters the rank plot shows; a prior-only run gets no plots. (The PNGs
    themselves: ``diagnose`` above writes and checks them, in the slow tier.)"""
    from gpt2030.reports.diagnostics import KEY_PARAMETERS, rank_parameters, write_plots

    report = dataclasses.replace(small_report)
    names = rank_parameters(small_dt, report)
    assert len(names) == 6 and names[0] == report.convergence[0]["parameter"]
    key = {p for p in KEY_PARAMETERS if p in small_dt["posterior"].data_vars}
    assert key and key <= set(names)  # the forecast's key parameters are always shown
    prior_only = check(xr.DataTree.from_dict({"prior": small_dt["prior"].to_dataset()}))
    assert write_plots(small_dt, prior_only, tmp_path / "none") == []
    assert not (tmp_path / "none").exists()


@pytest.mark.slow
def test_report_plots_of_a_run_with_a_vector_of_no_levels(
        small_dt: xr.DataTree, small_report: Diagnostics, tmp_path: Path) -> None:
    """A backtest's early cutoff has vectors with no levels: every plot is still drawn."""
    from gpt2030.reports.diagnostics import write_plots

    dt = small_dt.copy()
    for group in ("posterior", "log_prior"):
        ds = dt[group].to_dataset()
        empty = np.zeros((ds.sizes["chain"], ds.sizes["draw"], 0))
        dt[group] = xr.DataTree(ds.assign(no_levels=(("chain", "draw", "no_level"), empty)))
    written = write_plots(dt, dataclasses.replace(small_report), tmp_path / "plots")
    assert sorted(p.name for p in written) == ["predictive_check.png", "rank.png",
                                               "sensitivity.png"]
    assert all(p.stat().st_size > 10_000 for p in written)


def test_diagnostics_round_trip_through_json(small_report: Diagnostics) -> None:
    stored = json.loads(json.dumps(small_report.to_dict()))
    assert Diagnostics.from_dict(stored).to_dict() == stored  # key for key, value for value
    assert stored["worst_fit"] and stored["terms"] and stored["convergence"]


@pytest.mark.parametrize("run_id", FIXTURE_IDS)
def test_stored_diagnostics_and_manifest_read_back_as_typed_values(run_id: str) -> None:
    from gpt2030.inference.reporting import Manifest

    stored = manifest_of(run_id)
    diag = Diagnostics.from_dict(stored["diagnostics"])
    assert diag.to_dict()["checks"] == stored["diagnostics"]["checks"]
    assert diag.verdict == stored["verdict"]
    manifest = Manifest.from_dict(stored)
    assert manifest.run_id == run_id and manifest.diagnostics == diag
    assert manifest.config_name == stored["config"]["name"]
    assert manifest.priors == stored["config"]["priors"] and "priors" not in manifest.config
    assert manifest.lineage == (stored["config"]["name"], stored["model_version"],
                                stored["cutoff"], bool(stored["prior_only"]))


def test_loo_weights_are_smoothed_once_per_log_likelihood_content(
        small_dt: xr.DataTree, monkeypatch: pytest.MonkeyPatch) -> None:
    # update diagnoses a run, then reports it: the report's influence table reuses the
    # diagnostics' PSIS weights, but only for the very same log-likelihood values.
    import arviz_stats

    from gpt2030.inference import diagnostics

    var = observation_terms(small_dt)[0]
    r_eff = relative_ess(small_dt)
    first = loo_weights(small_dt, var, r_eff)
    assert first is not None
    with diagnostics.quiet_arviz():
        fresh = arviz_stats.loo(small_dt, var_name=var, pointwise=True, reff=r_eff)
    xr.testing.assert_identical(first[0], fresh.log_weights)
    xr.testing.assert_identical(first[1], fresh.pareto_k)
    calls = []
    real = diagnostics._psislw
    monkeypatch.setattr(diagnostics, "_psislw", lambda *a, **k: calls.append(1) or real(*a, **k))
    again = loo_weights(small_dt.copy(deep=True), var, r_eff)  # equal content, other arrays
    assert calls == [] and again is first
    changed = small_dt.copy(deep=True)
    ll = changed["log_likelihood"].to_dataset()
    ll[var] = ll[var] + xr.zeros_like(ll[var]).where(ll[var].draw != 0, -1.0)
    changed["log_likelihood"] = ll
    other = loo_weights(changed, var, r_eff)
    assert calls == [1]
    assert not np.array_equal(other[0].values, first[0].values)
    assert loo_weights(small_dt, var, r_eff * 0.9) is not first  # another r_eff: computed
    assert calls == [1, 1]


def test_relative_ess_is_estimated_once_per_draws_content(
        small_dt: xr.DataTree, monkeypatch: pytest.MonkeyPatch) -> None:
    # the diagnostics and the report's influence table ask for it on the same draws
    from gpt2030.inference import diagnostics

    first = relative_ess(small_dt)
    calls = []
    real = diagnostics.azs.ess
    monkeypatch.setattr(diagnostics.azs, "ess", lambda *a, **k: calls.append(1) or real(*a, **k))
    assert relative_ess(small_dt.copy(deep=True)) == first and calls == []
    changed = small_dt.copy(deep=True)
    post = changed["posterior"].to_dataset()
    name = free_parameters(small_dt)[0]
    # the first chain's draws of one parameter shuffled: the same values, other ESS
    values = post[name].values.copy()
    values[0] = np.random.default_rng(SEED).permutation(values[0])
    post[name] = post[name].copy(data=values)
    changed["posterior"] = post
    assert relative_ess(changed) != first and calls == [1]
