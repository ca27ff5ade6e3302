"""Backtests: the cutoff filter, the naive baseline, the posterior transplant, the report,
and (slow tier) one end-to-end ``gpt2030 backtest``."""

from __future__ import annotations

import json
import math
from types import SimpleNamespace

import numpy as np
import pymc as pm
import pytest
import xarray as xr
from common import SEED, SHIPPED_LEDGER

from gpt2030.inference import backtest as bt
from gpt2030.inference.results import BacktestResult, CutoffResult, json_safe
from gpt2030.models import build_model, get_config
from gpt2030.observations import Ledger, observation_frame
from gpt2030.observations.schema import parse_date
from gpt2030.reports.backtest import findings, write_report

CUTOFF = "2023-06-30"


@pytest.fixture(scope="module")
def rows():
    return Ledger(SHIPPED_LEDGER).rows()


def test_heldout_rows_respect_the_cutoff(rows):
    _, _, table, train_ids = bt.heldout_rows(rows, CUTOFF, "default")
    limit = parse_date(CUTOFF)[1]
    dates = {r["id"]: r["date"] for r in rows}
    # Nothing dated (by the end of its period) after the cutoff is trained on...
    assert all(parse_date(dates[i])[1] <= limit for i in train_ids)
    assert all(parse_date(dates[i])[1] <= limit for i in table.index[table["train"]])
    # ...every later conditioning row is held out, and none is both.
    later = table[[parse_date(dates[i])[1] > limit for i in table.index]]
    assert later["heldout"].all() and not later["train"].any()
    assert len(later) > 0
    assert not (table["train"] & table["heldout"]).any()
    # A year-precision row of the cutoff's year is not known by mid-year.
    year_rows = [i for i in table.index if dates[i] == "2023"]
    assert all(table.loc[i, "heldout"] for i in year_rows)


def test_fit_line_recovers_a_trend(rng):
    t = np.linspace(2018, 2023, 30)
    y = 20 + 0.5 * (t - 2020) + rng.normal(0, 0.1, t.size)
    fit = bt.fit_line(t, y, "term")
    assert fit.slope == pytest.approx(0.5, abs=0.05)
    mu, scale, df = fit.predictive(2025.0)
    assert mu == pytest.approx(22.5, abs=0.2)
    assert df == 28
    # Further from the data, wider.
    assert fit.predictive(2030.0)[1] > scale
    assert bt.fit_line(np.array([2020.0, 2021.0]), np.array([1.0, 2.0]), "s").level \
        == "s-constant"
    assert bt.fit_line(np.array([2020.0]), np.array([1.0]), "s") is None


def test_naive_falls_back_to_the_term(rows):
    _, _, table, _ = bt.heldout_rows(rows, CUTOFF, "default")
    held = table[table["heldout"]]
    draws, used = bt.naive_predictions(table, held, 200, SEED)
    speed = held[held["term"] == "speed"]
    assert set(speed.index) <= set(draws)
    # An alias first seen after the cutoff has no series of its own.
    new = speed[speed["new_level"]]
    assert all(used[i].startswith("term") for i in new.index)
    assert all(np.isfinite(draws[i]).all() for i in draws)


def test_essay_compute_line():
    # GPT-4's 2.1e25 FLOP (mid-March 2023) to the essay's 1e28 FLOP in 2030 (mid-year),
    # a straight line in log10: about 0.37 dex (x2.3) a year
    assert bt.essay_compute(2023 + 2.5 / 12) == pytest.approx(math.log10(2.1e25), abs=0.01)
    assert bt.essay_compute(2030.5) == pytest.approx(28.0, abs=0.01)
    slope = bt.essay_compute(2029.0) - bt.essay_compute(2028.0)
    assert slope == pytest.approx(0.367, abs=0.002)
    assert bt.essay_compute(2026.85) == pytest.approx(
        (bt.essay_compute(2023.2) + bt.essay_compute(2030.5)) / 2, abs=1e-3)


def test_transplant_keeps_known_levels_and_draws_new_ones(rows):
    from gpt2030.inference.infer import select_rows

    config = get_config("default")
    cut_model = build_model(observation_frame(select_rows(rows, CUTOFF)), config)
    with cut_model:
        prior = pm.sample_prior_predictive(draws=40, random_seed=SEED)["prior"].to_dataset()
    full_model = build_model(observation_frame(rows), config)
    post, new = bt.transplant_posterior(prior, full_model, SEED)
    vectors = {name: dims[0] for name, dims in bt._free_rv_dims(full_model).items()
               if len(dims) == 1 and name in prior}
    # the served models' levels: a vector over the aliases, some first seen after the cutoff
    (alias,) = [name for name, dim in vectors.items() if dim == "speed_alias"]
    old_aliases = [str(a) for a in prior[alias]["speed_alias"].values]
    full_aliases = [str(a) for a in full_model.coords["speed_alias"]]
    assert set(old_aliases) < set(full_aliases)
    assert set(new[alias]) == set(full_aliases) - set(old_aliases)
    got = post[alias]
    assert list(map(str, got["speed_alias"].values)) == full_aliases
    for a in old_aliases:
        np.testing.assert_array_equal(got.sel(speed_alias=a).values,
                                      prior[alias].sel(speed_alias=a).values)
    fresh = got.sel(speed_alias=new[alias][0]).values
    assert np.isfinite(fresh).all() and np.std(fresh) > 0
    for name, dim in vectors.items():  # every vector laid out on the full model's levels
        assert list(map(str, post[name][dim].values)) == \
            [str(x) for x in full_model.coords[dim]]


def test_transplant_draws_a_parameter_the_cutoff_run_lacked(rows):
    """A parameter missing from the cutoff's posterior (a term with no rows yet) gets draws.

    Every free parameter has draws afterwards (the vectorised predictive needs them all):
    the missing one from its prior given the others, a new value at each draw.
    """
    from gpt2030.inference.infer import select_rows

    config = get_config("default")
    cut_model = build_model(observation_frame(select_rows(rows, CUTOFF)), config)
    with cut_model:
        prior = pm.sample_prior_predictive(draws=40, random_seed=SEED)["prior"].to_dataset()
    full_model = build_model(observation_frame(rows), config)
    dims = bt._free_rv_dims(full_model)
    scalar = "bench_noise"
    vector = next(n for n, d in dims.items() if d == ("task",))
    post, _ = bt.transplant_posterior(prior.drop_vars([scalar, vector]), full_model, SEED)
    assert set(dims) <= set(post.data_vars)
    noise = post[scalar].values
    assert noise.shape == (1, 40) and (noise > 0).all() and np.unique(noise).size == 40
    levels = post[vector].transpose("chain", "draw", "task").values
    assert levels.shape == (1, 40, len(full_model.coords["task"]))
    assert np.isfinite(levels).all() and (levels.std(axis=1) > 0).all()
    # the kept parameters are copied as they were
    np.testing.assert_array_equal(post["compute_growth"].values, prior["compute_growth"].values)


CUTOFF_KEYS = ["cutoff", "run_id", "config", "run_reused", "verdict", "n_train",
               "n_train_conditioning", "n_heldout", "n_scored", "overall",
               "overall_series_weighted", "by_kind", "essay",
               "model_only", "pit_test", "pit", "pit_naive", "new_levels", "rows", "timings"]


def _stand_ins(monkeypatch) -> None:
    """No sampling: the fit and the model's predictive draws (centred 0.2 high) stand in."""
    run = SimpleNamespace(id="r-stand-in", manifest={"verdict": "pass"}, datatree=lambda: None)
    monkeypatch.setattr(bt, "infer", lambda *args, **kwargs: (run, True))

    def predictive(dt, frame, config_name, heldout, seed, **kwargs):
        rng = np.random.default_rng(seed)
        return ({i: r["y"] + rng.normal(0.2, 0.3, 300) for i, r in heldout.iterrows()},
                {"speed_alias_offset_z": ["new-alias"]})

    monkeypatch.setattr(bt, "model_predictive", predictive)


def test_cutoff_result_keeps_the_json_contract_and_round_trips(monkeypatch, tmp_path):
    """A whole cutoff without sampling: the fit and the model's draws are stand-ins."""
    _stand_ins(monkeypatch)
    doc = bt.backtest_cutoff(Ledger(SHIPPED_LEDGER), tmp_path, CUTOFF, seed=SEED)
    assert list(doc) == CUTOFF_KEYS
    assert doc["run_id"] == "r-stand-in" and doc["n_heldout"] == len(doc["rows"]) > 0
    assert doc["n_scored"] == len(doc["pit"]) == sum(k["n"] for k in doc["by_kind"].values())
    assert doc["n_scored"] + doc["model_only"]["n"] == doc["n_heldout"]
    assert set(doc["overall"]) == {"gpt2030", "naive", "crps_diff"}
    # predictive draws centred 0.2 above every observed value: PIT well below one half
    assert doc["overall"]["gpt2030"]["pit_mean"] < 0.4
    assert doc["pit_test"]["gpt2030"]["share_above_median"] < 0.4
    for kind in doc["by_kind"].values():
        assert {"n", "gpt2030", "naive", "crps_diff", "n_new_level"} <= set(kind)
    stored = json.loads(json.dumps(json_safe(doc)))
    assert CutoffResult.from_dict(stored).to_dict() == stored
    whole = {"name": "x", "config": "default", "created": "now", "sampler": {"draws": 1},
             "seed": SEED, "cutoffs": [stored], "pooled": None, "variants": None,
             "seconds": 1.0, "model_version": "2.0.0", "observation_hash": "0123456789abcdef",
             "n_observations": 486}  # the model and the ledger it was made with (#13)
    path = BacktestResult.from_dict(whole).save(tmp_path / "x.json")
    assert json.loads(path.read_text()) == whole
    assert BacktestResult.load(path).cutoffs[0].by_kind.keys() == doc["by_kind"].keys()


def test_backtest_record_names_the_model_and_the_ledger(home, monkeypatch, capsys):
    """#13: the stored record (and --format json) carries the model version and the hash and
    size of the ledger it read, so that a report quoting it says whether its run's ledger is
    the same."""
    from gpt2030.cli.main import main
    from gpt2030.models import MODEL_VERSION
    from gpt2030.observations import ledger_path, observation_hash

    _stand_ins(monkeypatch)
    assert main(["backtest", "--cutoff", CUTOFF, "--name", "rec", "--format", "json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    stored = json.loads((home / "runs" / "backtests" / "rec.json").read_text())
    rows = Ledger(ledger_path()).rows()
    expected = {"model_version": MODEL_VERSION, "observation_hash": observation_hash(rows),
                "n_observations": len(rows)}
    assert {k: stored[k] for k in expected} == expected
    assert {k: printed[k] for k in expected} == expected


def _scored(obs_id: str, series: str, kind: str, covered: bool, pit: float) -> dict:
    score = {"covered50": float(covered), "covered90": 1.0, "crps": 0.1, "log_score": -1.0,
             "pit": pit}
    return {"id": obs_id, "kind": kind, "fact_series": series, "new_level": False,
            "gpt2030": score, "naive": {**score, "crps": 0.2}}


def test_series_weighting_counts_every_series_once():
    """Ten monthly readings of one alias, all outside the 50% interval, and two one-off
    facts inside it: row-weighted 50% coverage is 2/12, series-weighted 2/3."""
    rows = [_scored(f"m{i}", "gpt-4 | tracker", "speed", False, 0.9) for i in range(10)]
    rows += [_scored("a", "GPT-4 | compute", "compute", True, 0.5),
             _scored("b", "PaLM | compute", "compute", True, 0.5)]
    cut = CutoffResult(cutoff=CUTOFF, run_id="r", rows=rows)
    pooled = bt.pool([cut, CutoffResult(cutoff="2024-06-30", run_id="s", rows=rows[:1])])
    assert pooled.n == 13 and pooled.n_series == 3
    assert pooled.rows.gpt2030.coverage50 == pytest.approx(2 / 13)
    assert pooled.series_weighted.gpt2030.coverage50 == pytest.approx(2 / 3)
    assert pooled.series_weighted.gpt2030.pit_mean == pytest.approx((0.9 + 0.5 + 0.5) / 3)
    assert pooled.by_kind["speed"].series_weighted.n == 11
    assert pooled.by_kind["compute"].gpt2030.coverage50 == 1.0
    # The JSON form round-trips.
    doc = BacktestResult("x", "default", "now", [cut], pooled=pooled).to_dict()
    assert BacktestResult.from_dict(doc).to_dict() == doc
    assert set(doc["pooled"]) == {"n", "n_series", "rows", "series_weighted", "by_kind"}


def test_an_empty_cutoff_keeps_its_shorter_key_set():
    doc = {"cutoff": CUTOFF, "run_id": "r", "config": "default", "run_reused": False,
           "verdict": "pass", "n_train": 3, "n_train_conditioning": 2, "n_heldout": 0,
           "overall": {}, "by_kind": {}, "essay": {}, "pit": [], "new_levels": {},
           "rows": [], "timings": {"fit": 1.0}}
    assert CutoffResult.from_dict(doc).to_dict() == doc


def test_pointwise_loglik_and_compare():
    import arviz as az

    rng = np.random.default_rng(SEED)
    trees = {}
    for name, shift in (("a", 0.0), ("b", -0.5)):
        ll = xr.Dataset({
            "x_obs": (("chain", "draw", "x_id"), rng.normal(-1 + shift, 0.1, (2, 100, 5))),
            "y_obs": (("chain", "draw", "y_id"), rng.normal(-1, 0.1, (2, 100, 3))),
        })
        post = xr.Dataset({"log_compute_2023": (("chain", "draw"), rng.normal(size=(2, 100)))})
        trees[name] = bt.loo_datatree(xr.DataTree.from_dict(
            {"posterior": post, "log_likelihood": ll}))
        assert trees[name]["log_likelihood"]["obs"].sizes["obs_id"] == 8
    table = az.compare(trees, var_name="obs")
    assert table.index[0] == "a"
    rows = [{"variant": str(n), "elpd_diff": float(r["elpd_diff"]), "dse": float(r["dse"])}
            for n, r in table.iterrows()]
    text = bt.variant_conclusion(rows, None)
    assert text.startswith("By PSIS-LOO over 2 variants, a ranks first")


def _doc(name="<b>x</b>"):
    agg = {"coverage50": 0.5, "coverage90": 0.9, "crps": 0.3, "log_score": -1.0,
           "pit_mean": 0.5}
    cut = {"cutoff": CUTOFF, "run_id": "r1<script>", "verdict": "pass", "n_train": 10,
           "n_heldout": 3, "n_scored": 3,
           "overall": {"gpt2030": agg, "naive": {**agg, "crps": 0.2},
                       "crps_diff": {"mean": 0.1, "se": 0.01}},
           "by_kind": {"speed<i>": {"n": 3, "gpt2030": agg, "naive": {**agg, "crps": 0.2},
                                    "crps_diff": {"mean": 0.1, "se": 0.01},
                                    "n_new_level": 2}},
           "essay": {}, "pit": [0.1, 0.5, 0.9], "pit_naive": [0.2, 0.4, 0.6],
           "pit_test": {"gpt2030": {"ks_pvalue": 0.5, "share_above_median": 0.33}},
           "model_only": {"n": 0}}
    return {"name": name, "config": "default", "created": "now", "cutoffs": [cut],
            "variants": None}


def test_report_escapes_and_says_when_the_model_loses(tmp_path):
    doc = _doc()
    paths = write_report(doc, tmp_path / "rep")
    text = paths["html"].read_text()
    assert "<script>" not in text and "&lt;script&gt;" in text
    assert "<b>x</b>" not in text and "speed<i>" not in text
    assert paths["png"].stat().st_size > 1000
    assert "data:image/png;base64," in text
    said = " ".join(findings(doc["cutoffs"][0]))
    assert "loses to the naive baseline" in said and "first seen after the cutoff" in said
    assert "| all | 3 | gpt2030 |" in paths["md"].read_text()


@pytest.mark.slow
def test_backtest_end_to_end(home, capsys):
    from gpt2030.cli.main import main
    from gpt2030.inference.runs import default_runs_dir, load_run

    assert main(["backtest", "--cutoff", CUTOFF, "--draws", "200", "--thin", "2",
                 "--tune", "300", "--chains", "2", "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    (cut,) = out["cutoffs"]
    for key in ("cutoff", "run_id", "n_train", "n_heldout", "overall", "by_kind", "essay"):
        assert key in cut
    assert cut["n_heldout"] > 0 and cut["n_scored"] > 0
    for m in ("gpt2030", "naive"):
        assert set(cut["overall"][m]) >= {"coverage50", "coverage90", "crps", "log_score"}
        for kind in cut["by_kind"].values():
            for c in ("coverage50", "coverage90"):
                assert 0.0 <= kind[m][c] <= 1.0
    assert sum(k["n"] for k in cut["by_kind"].values()) == cut["n_scored"]
    assert out["pooled"]["n"] == cut["n_scored"]
    assert 0.0 <= out["pooled"]["series_weighted"]["gpt2030"]["coverage90"] <= 1.0
    # The stored result: the naive baseline is scored on exactly the model's rows.
    stored = json.loads((home / "runs" / "backtests" / f"default-{CUTOFF}.json").read_text())
    rows = stored["cutoffs"][0]["rows"]
    both = [r for r in rows if "naive" in r]
    assert len(both) == cut["n_scored"] and all("gpt2030" in r for r in rows)
    assert len(rows) == cut["n_heldout"]
    # No row dated after the cutoff reached the fit.
    run = load_run(default_runs_dir(), cut["run_id"])
    obs = run.observations()
    limit = parse_date(CUTOFF)[1]
    assert all(parse_date(d)[1] <= limit for d in obs["date"])
    assert len(obs) == cut["n_train"]
    later_ids = {r["id"] for r in rows}
    assert not later_ids & set(obs["id"])
    for f in ("html", "md", "png"):
        assert (home / out["files"][f].split(str(home) + "/")[1]).is_file()


@pytest.mark.slow
def test_an_early_cutoff_run_is_stored_diagnosed_and_valued(home, capsys):
    """The 2021 cutoff's model has a vector with no levels (no benchmark variants yet): its
    run is saved, and diagnose and value-of-information read it (each failed on it once)."""
    from gpt2030.cli.main import main
    from gpt2030.inference.runs import default_runs_dir, load_run

    assert main(["backtest", "--cutoff", "2021-12-31", "--draws", "200", "--thin", "2",
                 "--tune", "300", "--chains", "2", "--format", "json"]) == 0
    (cut,) = json.loads(capsys.readouterr().out)["cutoffs"]
    assert cut["n_scored"] > 0
    run = load_run(default_runs_dir(), cut["run_id"])
    post = run.datatree()["posterior"]
    assert any(post[v].size == 0 for v in post.data_vars)  # the case this test is about
    assert main(["diagnose", run.id]) in (0, 1)  # a verdict, whichever it is
    out = capsys.readouterr().out
    assert "verdict:" in out
    assert sorted(p.name for p in (run.path / "diagnostics").iterdir()) == [
        "predictive_check.png", "rank.png", "sensitivity.png"]
    assert main(["value-of-information", "--run", run.id, "--outcomes", "20",
                 "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["candidates"] and all(math.isfinite(c["reduction_dex"]) for c in doc["candidates"])
