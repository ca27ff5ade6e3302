"""``compare``, ``influence`` and ``export`` on stored fixture runs (no sampling)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from fixture_runs import FIXTURES, SMALL, install

from gpt2030.cli.main import main
from gpt2030.inference.compare import compare_runs
from gpt2030.inference.diagnostics import (
    PARETO_K_MAX,
    degenerate_ok,
    observation_terms,
    relative_ess,
)
from gpt2030.inference.export import CSV_COLUMNS, export_run, headline_dataset, headline_frame
from gpt2030.inference.forecast import HEADLINES, headline_draws
from gpt2030.inference.influence import (
    influence,
    influence_table,
    weighted_median,
    weighted_quantile,
)
from gpt2030.inference.runs import RUN_FILE, load_run, save_run

EDITED = "r20300101T000000-edited"


def edited_copy(runs: Path) -> dict[str, object]:
    """Store a copy of SMALL whose observations group lost two rows, gained one and changed
    one value, and whose 2030 training compute is 10x higher; return what was edited."""
    base = load_run(runs, SMALL)
    dt = base.datatree()
    obs = dt["observations"].to_dataset()
    ids = [str(i) for i in obs["obs_id"].values]
    removed, changed = ids[:2], ids[5]
    kept = obs.sel(obs_id=ids[2:])
    new = kept.isel(obs_id=[0]).assign_coords(obs_id=["compute:new-row-2025"])
    new["subject"] = ("obs_id", ["A new model"])
    edited = xr.concat([kept, new], dim="obs_id")
    old_value = str(edited["value"].sel(obs_id=changed).values)
    values = edited["value"].values.astype(object)
    values[list(edited["obs_id"].values).index(changed)] = "12345"
    edited["value"] = ("obs_id", values.astype(str))
    dt["observations"] = edited
    post = dt["posterior"].to_dataset()
    post["training_compute"] = post["training_compute"] * 10.0
    dt["posterior"] = post
    manifest = {**base.manifest, "run_id": EDITED, "created": "2030-01-01T00:00:00+00:00"}
    save_run(dt, manifest, runs)
    return {"removed": removed, "changed": changed, "old_value": old_value,
            "added": "compute:new-row-2025"}


# --- compare ------------------------------------------------------------------------------


def test_compare_run_with_itself_moves_nothing(home: Path) -> None:
    runs = install(home, SMALL)
    run = load_run(runs, SMALL)
    result = compare_runs(run, run)
    assert result["run_a"] == result["run_b"] == SMALL
    assert result["added"] == result["removed"] == result["changed"] == []
    # equal (zero) shifts keep the headline order: the sort is stable
    assert [s["quantity"] for s in result["shifts"]] == list(HEADLINES)
    for s in result["shifts"]:
        assert s["log10_shift"] == 0.0 and s["ratio"] == 1.0
        assert s["q05_a"] == s["q05_b"] < s["median_a"] < s["q95_a"] == s["q95_b"]


def test_compare_lists_observation_changes_and_sorts_shifts(home: Path) -> None:
    runs = install(home, SMALL)
    edit = edited_copy(runs)
    result = compare_runs(load_run(runs, SMALL), load_run(runs, EDITED), year=2030)
    assert [r["id"] for r in result["added"]] == [edit["added"]]
    assert result["added"][0]["subject"] == "A new model"
    assert set(result["added"][0]) == {"id", "kind", "subject", "value", "unit", "source"}
    assert sorted(r["id"] for r in result["removed"]) == sorted(edit["removed"])
    assert [r["id"] for r in result["changed"]] == [edit["changed"]]
    change = result["changed"][0]
    assert change["changed_fields"] == ["value"]
    assert change["before"]["value"] == edit["old_value"] and change["after"]["value"] == "12345"
    top = result["shifts"][0]
    assert top["quantity"] == "training_compute_flop"
    assert top["log10_shift"] == pytest.approx(1.0)
    assert top["ratio"] == pytest.approx(10.0)
    assert top["q95_b"] == pytest.approx(10 * top["q95_a"])
    assert all(s["log10_shift"] == pytest.approx(0.0) for s in result["shifts"][1:])
    magnitudes = [abs(s["log10_shift"]) for s in result["shifts"]]
    assert magnitudes == sorted(magnitudes, reverse=True)


# Slow tier: the command end to end (~4 s); compare's results are tested in the fast tier.
@pytest.mark.slow
def test_compare_cli(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    runs = install(home, SMALL)
    edited_copy(runs)
    assert main(["compare", SMALL, EDITED, "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert len(data["added"]) == 1 and len(data["removed"]) == 2 and len(data["changed"]) == 1
    assert main(["compare", SMALL, EDITED]) == 0
    out = capsys.readouterr().out
    assert "1 observation(s) added" in out and "2 observation(s) removed" in out
    assert "compute:new-row-2025" in out
    assert main(["compare", SMALL, EDITED, "--year", "1990"]) == 2  # off the model's grid
    assert main(["compare", SMALL, "r-nope"]) == 2


# --- influence ----------------------------------------------------------------------------


def test_weighted_median_matches_numpy_and_follows_weights(rng: np.random.Generator) -> None:
    x = rng.normal(size=401)
    uniform = np.full((1, x.size), 1 / x.size)
    assert weighted_median(x, uniform)[0] == pytest.approx(np.median(x))
    even = rng.normal(size=400)
    assert weighted_median(even, np.full((1, 400), 1 / 400))[0] == pytest.approx(np.median(even))
    point = np.zeros((1, x.size))
    point[0, 7] = 1.0
    assert weighted_median(x, point)[0] == pytest.approx(x[7])
    upper = np.where(x > 0, 1.0, 1e-9)[None, :]
    upper /= upper.sum()
    assert weighted_median(x, upper)[0] > np.median(x)


def test_weighted_quantile_window_agrees_with_the_whole_ecdf(rng: np.random.Generator
                                                           ) -> None:
    """Rows near uniform are solved in a window around ``q * S``; a row whose crossing is
    outside it (a point mass, a strong tilt) falls back to the whole ECDF: both agree with
    the midpoint rule written out directly."""
    s = 5000
    x = rng.lognormal(size=s)
    log_w = rng.normal(0.0, 0.05, (6, s))
    log_w[1] = rng.normal(0.0, 2.0, s)            # heavy: crossing far from q * S
    log_w[2] = np.where(x > np.median(x), 0.0, -30.0)  # almost all weight above the median
    log_w[3] = -np.inf
    log_w[3, 11] = 0.0                              # a point mass
    weights = np.exp(log_w - log_w.max(axis=1, keepdims=True))
    weights /= weights.sum(axis=1, keepdims=True)
    order = np.argsort(x, kind="stable")
    xs, ws = x[order], weights[:, order]
    mid = np.cumsum(ws, axis=1) - 0.5 * ws
    for q in (0.05, 0.5, 0.95):
        j = np.clip((mid < q).sum(axis=1), 1, s - 1)
        lo, hi = mid[np.arange(6), j - 1], mid[np.arange(6), j]
        frac = np.clip(np.where(hi > lo, (q - lo) / np.where(hi > lo, hi - lo, 1.0), 0.5), 0, 1)
        expected = xs[j - 1] + frac * (xs[j] - xs[j - 1])
        np.testing.assert_allclose(weighted_quantile(x, weights, q), expected, rtol=1e-10)
    assert weighted_quantile(x, weights, 0.5)[3] == pytest.approx(x[11])
    assert weighted_quantile(x, weights, 0.5)[2] > np.quantile(x, 0.7)


def test_influence_returns_finite_shifts_and_flags(home: Path) -> None:
    runs = install(home, SMALL)
    run = load_run(runs, SMALL)
    table = influence(run, year=2030)
    assert list(table.columns[:6]) == ["obs_id", "term", "pareto_k", "reliable",
                                       "max_abs_log10_shift", "quantity_most_moved"]
    assert list(table.columns[6:]) == list(HEADLINES)
    dt = run.datatree()
    n_obs = sum(dt["log_likelihood"][v].size // (dt["log_likelihood"][v].sizes["chain"]
                                                 * dt["log_likelihood"][v].sizes["draw"])
                for v in dt["log_likelihood"].data_vars)
    assert len(table) == n_obs and table["obs_id"].is_unique
    assert set(table["obs_id"]) <= set(dt["observations"]["obs_id"].values.astype(str))
    shifts = table[list(HEADLINES)].to_numpy()
    assert np.isfinite(shifts).all()
    assert np.isfinite(table["pareto_k"]).all()
    assert (table["reliable"] == (table["pareto_k"] <= PARETO_K_MAX)).all()
    assert table["reliable"].any() and not table["reliable"].all()
    np.testing.assert_allclose(table["max_abs_log10_shift"], np.abs(shifts).max(axis=1))
    assert table["max_abs_log10_shift"].is_monotonic_decreasing
    moved = [table.at[i, table.at[i, "quantity_most_moved"]] for i in range(len(table))]
    np.testing.assert_allclose(np.abs(moved), table["max_abs_log10_shift"])
    # leaving one of 330 observations out moves a median by far less than a factor of 10
    assert table["max_abs_log10_shift"].max() < 1.0
    top = influence(run, year=2030, top=5)
    pd.testing.assert_frame_equal(top, table.head(5))


def test_influence_cli(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    install(home, SMALL)
    assert main(["influence", SMALL, "--top", "4", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["run_id"] == SMALL and data["year"] == 2030
    assert len(data["observations"]) == 4
    assert main(["influence", SMALL, "--top", "6"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 2 + 6
    flagged = [line for line in out[2:] if "refit needed" in line]
    assert all("k>0.7" in line for line in flagged)


# --- export -------------------------------------------------------------------------------


def test_export_csv(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    runs = install(home, SMALL)
    assert main(["export", SMALL, "--format", "csv"]) == 0
    path = Path(capsys.readouterr().out.strip())
    assert path == runs / SMALL / "export.csv"
    frame = pd.read_csv(path)
    assert tuple(frame.columns) == CSV_COLUMNS
    post = xr.load_datatree(runs / SMALL / RUN_FILE)["posterior"]
    n = post.sizes["chain"] * post.sizes["draw"] * post.sizes["year"]
    assert len(frame) == n * len(HEADLINES)
    assert list(frame["quantity"].unique()) == list(HEADLINES)
    assert sorted(frame["year"].unique()) == list(post["year"].values)
    row = frame[(frame.chain == 1) & (frame.draw == 42) & (frame.year == 2030)
                & (frame.quantity == "serial_speed")]
    assert float(row["value"].iloc[0]) == pytest.approx(
        float(post["serial_speed"].sel(chain=1, draw=42, year=2030)))
    assert [p.name for p in path.parent.iterdir() if p.name.startswith(".")] == []


def test_export_netcdf_to_a_chosen_path(home: Path) -> None:
    runs = install(home, SMALL)
    out = home / "elsewhere" / "draws.nc"
    path = export_run(load_run(runs, SMALL), "netcdf", out)
    assert path == out
    ds = xr.load_dataset(out)
    assert set(ds.data_vars) == set(HEADLINES)
    assert ds.attrs["run_id"] == SMALL
    assert ds["training_compute_flop"].attrs["unit"] == "FLOP"
    assert ds["parameters"].dims == ("chain", "draw", "year")
    post = xr.load_datatree(runs / SMALL / RUN_FILE)["posterior"]
    np.testing.assert_array_equal(ds["work_years"].values, post["work_years"].values)
    assert main(["export", SMALL, "--format", "netcdf"]) == 0
    assert (runs / SMALL / "export.nc").is_file()


# --- ArviZ-native replacements give the old numbers (on every stored fixture run) ----------


FIXTURE_IDS = sorted(p.name for p in FIXTURES.iterdir() if (p / RUN_FILE).is_file())


def old_influence_weights(dt: xr.DataTree, var: str, r_eff: float) -> np.ndarray:
    """The hand-written PSIS weights influence used before ``az.loo``'s (normalised)."""
    log_lik = dt["log_likelihood"][var]
    obs_dim = [d for d in log_lik.dims if d not in ("chain", "draw")]
    log_lik = log_lik.transpose(*obs_dim, "chain", "draw")
    with degenerate_ok():
        log_w, _ = log_lik.azstats.psislw(r_eff=r_eff, dim=["chain", "draw"])
    lw = log_w.transpose(*obs_dim, "chain", "draw").values.reshape(log_lik.shape[0], -1)
    w = np.exp(lw - lw.max(axis=1, keepdims=True))
    return w / w.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("run_id", FIXTURE_IDS)
def test_influence_with_arviz_weights_equals_the_hand_written_psis(run_id: str) -> None:
    """Influence reweights by ``az.loo``'s PSIS weights; the median under those weights stays
    :func:`weighted_median`: ``arviz_stats.loo_expectations(kind="median")`` uses another
    weighted-quantile rule (it moved shifts by up to 0.04 dex on the 200-draw fixture, about
    a tenth of the largest shift) and was ~20x slower (a Pareto k per quantity and row)."""
    dt = xr.load_datatree(FIXTURES / run_id / RUN_FILE)
    new = influence_table(dt, 2030).set_index("obs_id")
    r_eff = relative_ess(dt)
    full = {k: np.median(headline_draws(dt, k, 2030)) for k in HEADLINES}
    for var in observation_terms(dt):
        weights = old_influence_weights(dt, var, r_eff)
        ids = dt["log_likelihood"][var][var.replace("_obs", "_id")].values.astype(str)
        for key in HEADLINES:
            old = np.log10(weighted_median(headline_draws(dt, key, 2030), weights)) \
                - np.log10(full[key])
            np.testing.assert_allclose(new.loc[ids, key].to_numpy(dtype=float), old,
                                       rtol=1e-9, atol=1e-12, err_msg=f"{var} {key}")


@pytest.mark.parametrize("run_id", FIXTURE_IDS)
def test_export_frame_from_to_series_equals_the_old_loop(run_id: str) -> None:
    ds = headline_dataset(xr.load_datatree(FIXTURES / run_id / RUN_FILE))
    frames = []
    for key in ds.data_vars:  # the loop headline_frame used to run
        f = ds[key].to_dataframe(name="value").reset_index()
        f.insert(3, "quantity", key)
        frames.append(f[list(CSV_COLUMNS)])
    old = pd.concat(frames, ignore_index=True)
    pd.testing.assert_frame_equal(headline_frame(ds), old, check_dtype=False)
    assert list(headline_frame(ds).dtypes.index) == list(CSV_COLUMNS)


def test_atomic_write_replaces_whole_files_or_nothing(tmp_path: Path) -> None:
    from gpt2030.inference.results import atomic_path, atomic_write

    target = tmp_path / "deep" / "file.txt"
    assert atomic_write(target, "first") == target and target.read_text() == "first"
    atomic_write(target, b"second")
    assert target.read_bytes() == b"second"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half of a thi")
        raise RuntimeError("interrupted")
    assert target.read_bytes() == b"second"  # untouched
    assert [p.name for p in target.parent.iterdir()] == ["file.txt"]  # no temporary left
