"""Scores from predictive draws against their closed forms (fast)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from gpt2030.inference import scoring


def crps_normal(mu: float, sigma: float, y: float) -> float:
    """Closed-form CRPS of ``N(mu, sigma)`` at ``y`` (Gneiting & Raftery 2007, eq. 5)."""
    z = (y - mu) / sigma
    return float(sigma * (z * (2 * stats.norm.cdf(z) - 1) + 2 * stats.norm.pdf(z)
                          - 1 / math.sqrt(math.pi)))


@pytest.mark.parametrize(("mu", "sigma", "y"), [(0.0, 1.0, 0.0), (1.0, 0.5, 2.3),
                                                 (25.0, 0.3, 24.1), (-2.0, 2.0, 3.0)])
def test_crps_of_normal_draws_matches_closed_form(rng, mu, sigma, y):
    draws = rng.normal(mu, sigma, size=200_000)
    expected = crps_normal(mu, sigma, y)
    assert scoring.crps_samples(draws, y) == pytest.approx(expected, rel=0.01, abs=1e-3)


def test_crps_closed_form_at_the_mean():
    # CRPS(N(0, s), 0) = s * (2 phi(0) - 1/sqrt(pi)) = s (sqrt(2) - 1) / sqrt(pi)
    expected = 2 * (math.sqrt(2) - 1) / math.sqrt(math.pi)
    assert crps_normal(0, 2, 0) == pytest.approx(expected)


def test_crps_sorted_form_equals_the_pairwise_definition(rng):
    x = rng.standard_t(3, size=300)
    y = 0.7
    pairwise = np.mean(np.abs(x - y)) - 0.5 * np.mean(np.abs(x[:, None] - x[None, :]))
    assert scoring.crps_samples(x, y) == pytest.approx(pairwise, rel=1e-12)


def test_crps_of_a_point_is_the_absolute_error():
    assert scoring.crps_samples(np.array([3.0]), 1.5) == pytest.approx(1.5)
    assert scoring.score_point(3.0, 1.5)["crps"] == pytest.approx(1.5)


def test_log_score_normal_fit(rng):
    draws = rng.normal(1.0, 0.5, size=100_000)
    assert scoring.log_score_normal(draws, 1.3) == pytest.approx(
        stats.norm.logpdf(1.3, 1.0, 0.5), abs=0.01)


def test_coverage_of_a_known_distribution(rng):
    draws = rng.normal(0, 1, size=4_000)
    ys = rng.normal(0, 1, size=1_500)
    scores = [scoring.score_samples(draws, y) for y in ys]
    cov50 = np.mean([s["covered50"] for s in scores])
    cov90 = np.mean([s["covered90"] for s in scores])
    # binomial sd ~ 0.013 and 0.008 (seeded: the margins are about 3 sd)
    assert cov50 == pytest.approx(0.5, abs=0.04)
    assert cov90 == pytest.approx(0.9, abs=0.025)
    # An overconfident predictive (sd 0.5 for data of sd 1) under-covers: about 59%.
    narrow = rng.normal(0, 0.5, size=4_000)
    assert np.mean([scoring.score_samples(narrow, y)["covered90"] for y in ys]) < 0.7


def test_pit_is_uniform_for_a_calibrated_forecast(rng):
    draws = rng.normal(0, 1, size=5_000)
    pits = [scoring.pit(draws, y) for y in rng.normal(0, 1, size=2_000)]
    assert scoring.pit_uniformity_pvalue(pits) > 0.01
    assert scoring.pit_uniformity_pvalue(pits[:1]) is None
    biased = [scoring.pit(draws, y) for y in rng.normal(1, 1, size=2_000)]
    assert scoring.pit_uniformity_pvalue(biased) < 1e-6


def test_pit_randomises_ties():
    pits = [scoring.pit(np.zeros(10), 0.0, np.random.default_rng(i)) for i in range(200)]
    assert 0.3 < np.mean(pits) < 0.7


def test_score_samples_and_aggregate(rng):
    draws = rng.normal(0, 1, size=4_000)
    s = scoring.score_samples(draws, 0.1)
    assert set(s) >= {"crps", "log_score", "covered50", "covered90", "pit"}
    agg = scoring.aggregate([s, scoring.score_samples(draws, 5.0)])
    assert agg["coverage90"] == pytest.approx(0.5)
    assert 0 <= agg["coverage50"] <= 1
    point = scoring.aggregate([scoring.score_point(0.0, 1.0)])
    assert point["coverage90"] is None and point["crps"] == pytest.approx(1.0)


def test_no_finite_draws_is_refused():
    with pytest.raises(ValueError):
        scoring.crps_samples(np.array([np.nan]), 0.0)
