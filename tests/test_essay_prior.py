"""Issue #3: the essay's own assumptions reproduce its 2030 figures (prior predictive only)."""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytest
import xarray as xr
from conftest import SEED

from gpt2030.models import ESSAY, build_model
from gpt2030.models.essay import ESSAY_2030

#: Model variable -> key of :data:`ESSAY_2030`.
QUANTITIES = {
    "training_compute": "training_compute_flop",
    "work_years": "work_years",
    "speed_vs_human": "speed_vs_human",
    "overhang_growth_vs_gpt3": "overhang_growth_vs_gpt3",
}
#: Further headline figures (medians only) the chain should land near.
MEDIANS_ONLY = {
    "parallel_copies": "parallel_copies",
    "months_for_work": "months_for_work",
}

#: The essay's inputs, at the start of 2023 (model variable -> the essay's value).
INPUTS_2023 = {
    "serial_speed": 12.0,  # GPT-4 at 12 tokens/s (540 words/min), Appendix A
    "training_compute": 2e25,  # GPT-4 at ~2e25 FLOP
    "human_tokens_per_minute": 380 * 4 / 3,  # 380 words/min at 4/3 tokens per word
}


@pytest.fixture(scope="module")
def prior() -> xr.DataTree:
    model = build_model(None, ESSAY)
    with model:
        dt = pm.sample_prior_predictive(draws=4000, random_seed=SEED,
                                        var_names=[*QUANTITIES, *MEDIANS_ONLY, *INPUTS_2023])
    return dt.prior


def quartiles(prior: xr.DataTree, name: str) -> tuple[float, float, float]:
    x = prior[name].sel(year=2030).values.ravel()
    assert x.size == 4000 and np.isfinite(x).all()
    q25, q50, q75 = np.percentile(x, [25, 50, 75])
    return float(q25), float(q50), float(q75)


@pytest.mark.parametrize("name", sorted({**QUANTITIES, **MEDIANS_ONLY}))
def test_2030_median_within_a_factor_2_of_the_essay(prior: xr.DataTree, name: str) -> None:
    figure = ESSAY_2030[{**QUANTITIES, **MEDIANS_ONLY}[name]]
    _, median, _ = quartiles(prior, name)
    ratio = median / figure.median
    assert 0.5 <= ratio <= 2.0, f"{name}: median {median:.3g} vs essay {figure.median:.3g}"


@pytest.mark.parametrize("name", sorted(QUANTITIES))
def test_2030_interquartile_range_overlaps_the_essay(prior: xr.DataTree, name: str) -> None:
    figure = ESSAY_2030[QUANTITIES[name]]
    q25, _, q75 = quartiles(prior, name)
    low = figure.low if figure.low is not None else figure.median
    high = figure.high if figure.high is not None else figure.median
    assert q25 <= high and low <= q75, (
        f"{name}: model 25-75% [{q25:.3g}, {q75:.3g}] vs essay [{low:.3g}, {high:.3g}]")
    # The essay's median lies inside the model's central half where the essay gives none.
    if figure.low is None:
        assert q25 <= figure.median <= q75


def test_essay_model_is_the_prior_predictive_of_the_essay_config() -> None:
    model = build_model(None, ESSAY)
    assert model.observed_RVs == []
    assert ESSAY.use_observations is False
    assert not ESSAY.compute_slowdown


@pytest.mark.parametrize("name", sorted(INPUTS_2023))
def test_the_essays_inputs_anchor_the_chain(prior: xr.DataTree, name: str) -> None:
    x = prior[name]
    if "year" in x.dims:
        x = x.sel(year=2023)
    median = float(np.median(x.values))
    assert median == pytest.approx(INPUTS_2023[name], rel=0.15), median
