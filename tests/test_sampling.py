"""Sampler settings and thinning (no sampling: made-up draws)."""

from __future__ import annotations

import numpy as np
import xarray as xr

from gpt2030.inference.diagnostics import sampler_checks
from gpt2030.inference.sampling import SamplerConfig, thinned


def _tree(n_draw: int = 10) -> xr.DataTree:
    draw = np.arange(n_draw)
    x = np.arange(2 * n_draw, dtype=float).reshape(2, n_draw)
    diverging = np.zeros((2, n_draw), dtype=bool)
    diverging[1, 4] = True  # a dropped draw (kept: 1, 3, 5, ...)
    depth = np.zeros((2, n_draw), dtype=bool)
    depth[0, 9] = True  # a kept one
    return xr.DataTree.from_dict({
        "posterior": xr.Dataset({"x": (("chain", "draw"), x)},
                                coords={"chain": [0, 1], "draw": draw}),
        "sample_stats": xr.Dataset({"diverging": (("chain", "draw"), diverging),
                                    "maxdepth_reached": (("chain", "draw"), depth),
                                    "energy": (("chain", "draw"), x)},
                                   coords={"chain": [0, 1], "draw": draw}),
        "observed_data": xr.Dataset({"y": ("y_id", [1.0, 2.0])}),
    })


def test_thinning_keeps_every_thin_th_draw_and_every_flag() -> None:
    out = thinned(_tree(), 2)
    np.testing.assert_array_equal(out["posterior"]["x"].values[0], [1, 3, 5, 7, 9])
    np.testing.assert_array_equal(out["posterior"]["draw"].values, np.arange(5))
    np.testing.assert_array_equal(out["sample_stats"]["energy"].values[1], [11, 13, 15, 17, 19])
    # The divergence at dropped draw 4 of chain 1 marks kept draw 2 (draws 4-5).
    assert out["sample_stats"]["diverging"].values.tolist() == [[False] * 5,
                                                               [False, False, True, False, False]]
    assert out["sample_stats"]["maxdepth_reached"].values[0, 4]
    assert out["observed_data"]["y"].values.tolist() == [1.0, 2.0]
    checks = {c.name: c for c in sampler_checks(out)}
    assert checks["divergences"].value == 1 and not checks["divergences"].passed


def test_e_bfmi_is_that_of_every_sampler_step_not_of_the_kept_draws() -> None:
    # Energy of an AR(1) chain with autocorrelation 0.9: E-BFMI is 2 (1 - 0.9) = 0.2 over
    # consecutive steps (a failure), but 2 (1 - 0.81) = 0.38 over draws two steps apart.
    rng = np.random.default_rng(12)
    energy = np.zeros((2, 4000))
    for i in range(1, 4000):
        energy[:, i] = 0.9 * energy[:, i - 1] + rng.normal(size=2)
    tree = _tree(4000)
    tree["sample_stats"] = tree["sample_stats"].to_dataset().assign(
        energy=(("chain", "draw"), energy))
    every_step = {c.name: c for c in sampler_checks(tree)}["e_bfmi"].value
    out = thinned(tree, 2)
    kept = {c.name: c for c in sampler_checks(out)}["e_bfmi"]
    assert 0.15 < every_step < 0.25
    assert kept.value == every_step and not kept.passed
    # What the kept chain alone would read: a pass.
    naive = sampler_checks(xr.DataTree.from_dict({
        "posterior": out["posterior"].to_dataset(),
        "sample_stats": out["sample_stats"].to_dataset().drop_vars("e_bfmi")}))
    assert {c.name: c for c in naive}["e_bfmi"].value > max(0.3, 1.5 * every_step)


def test_no_thinning_is_the_same_tree() -> None:
    tree = _tree()
    assert thinned(tree, 1) is tree


def test_a_trailing_partial_block_is_dropped() -> None:
    out = thinned(_tree(11), 2)
    assert out["posterior"].sizes["draw"] == 5


def test_runs_recorded_before_thinning_keep_their_settings_and_keys() -> None:
    old = {"draws": 5000, "tune": 1000, "chains": 4, "sampler": "nutpie",
           "target_accept": 0.99}
    recorded = SamplerConfig.from_record(old)
    assert recorded.thin == 1 and recorded.describe() == old
    assert recorded != SamplerConfig()  # today's default thins: a new run, not that one
    assert SamplerConfig().describe()["thin"] == SamplerConfig().thin > 1
    assert SamplerConfig.from_record(SamplerConfig().describe()) == SamplerConfig()
