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
