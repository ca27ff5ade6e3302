"""Issue #3: the essay's arithmetic, link by link, pinned to the essay's numbers."""

from __future__ import annotations

import numpy as np
import pytensor.tensor as pt
import pytest

from gpt2030.models import chain
from gpt2030.models.essay import ESSAY_2030
from gpt2030.models.priors import FORWARD_FLOP_PER_PARAM, GPT3_PARAMETERS, MINUTES_PER_YEAR


def test_constants() -> None:
    assert FORWARD_FLOP_PER_PARAM == 2.0
    assert MINUTES_PER_YEAR == 525_600
    assert GPT3_PARAMETERS == 1.75e11


def test_gpt3_forward_passes() -> None:
    # Appendix B: 3.1e23 FLOP / 3.5e11 FLOP per forward pass ~ 9e11 passes.
    passes = chain.forward_passes(3.1e23, 1.75e11)
    assert passes == pytest.approx(3.1e23 / 3.5e11)
    assert passes == pytest.approx(9e11, rel=0.02)


def test_gpt3_work_years() -> None:
    # ~3,400 years of thinking at 500 tokens/min.
    years = chain.work_years(chain.forward_passes(3.1e23, 1.75e11), 500)
    assert years == pytest.approx(3400, rel=0.03)
    assert chain.work_years(500 * MINUTES_PER_YEAR, 500) == pytest.approx(1.0)


def test_speed_traded() -> None:
    assert chain.speed_traded(5, 5) == pytest.approx(125)
    assert chain.speed_traded(5, 1) == pytest.approx(5)
    np.testing.assert_allclose(chain.speed_traded(2.0, np.arange(1, 4)), [2, 8, 18])


def test_learning_years_per_day() -> None:
    per_day = chain.learning_years_per_day(1e6)
    assert per_day == 1e6 / 365
    assert per_day == pytest.approx(2740, rel=0.001)
    # The essay rounds 1M days to 2,500 years.
    assert per_day == pytest.approx(ESSAY_2030["learning_years_per_day"].median, rel=0.10)


def test_months_for_work() -> None:
    assert chain.months_for_work(5) == 2.4
    assert chain.months_for_work(5) == pytest.approx(ESSAY_2030["months_for_work"].median)
    assert chain.months_for_work(1) == 12.0


def test_parallel_copies() -> None:
    # Section 4: 1.8M years of work spread over a run of < 1.2 years: ~1.5M copies.
    assert chain.parallel_copies(1.8e6, 1.2) == pytest.approx(1.5e6)
    assert chain.parallel_copies(1.8e6, 1.2) == pytest.approx(
        ESSAY_2030["parallel_copies"].median)


def test_essay_headline_chain_is_self_consistent() -> None:
    # 1.8M years at 5x human: each copy does a year's work in 2.4 months.
    figures = ESSAY_2030
    assert chain.months_for_work(figures["speed_vs_human"].median) == pytest.approx(
        figures["months_for_work"].median)
    assert figures["work_years"].low < figures["work_years"].median < figures["work_years"].high


def test_formulas_work_on_arrays_and_tensors() -> None:
    compute = np.array([3.1e23, 3.1e24])
    params = np.array([1.75e11, 1.75e11])
    np.testing.assert_allclose(chain.forward_passes(compute, params), compute / 3.5e11)
    c, n = pt.dscalar("c"), pt.dscalar("n")
    f = chain.work_years(chain.forward_passes(c, n), 500.0)
    value = f.eval({c: 3.1e23, n: 1.75e11})
    assert float(value) == pytest.approx(chain.work_years(chain.forward_passes(3.1e23, 1.75e11),
                                                          500))
    k = pt.dvector("k")
    np.testing.assert_allclose(chain.speed_traded(pt.as_tensor(5.0), k).eval({k: [1.0, 5.0]}),
                               [5.0, 125.0])
