"""Proper scores of a predictive distribution given by samples, against one observed value.

Pure NumPy/SciPy: no model, no files. Every function takes the predictive draws of one
quantity (any shape, flattened) and the value that was later observed.

* :func:`crps_samples`: the continuous ranked probability score in its energy form,
  ``E|X - y| - 0.5 E|X - X'|`` (Gneiting & Raftery 2007, eq. 21), computed exactly for the
  empirical distribution of the draws in ``O(n log n)`` by sorting. Lower is better; in the
  units of the draws (dex for log10 quantities, logits for benchmarks). For a point forecast
  (one draw) it reduces to the absolute error.
* :func:`log_score_normal`: the log predictive density of ``y`` under a **normal fitted to
  the draws** (their mean and standard deviation). Chosen over a KDE because it is stable in
  the tails with a few thousand draws (a KDE gives ``-inf``-like values for a value beyond the
  last draw) and the same rule applies to every forecaster; its cost is that it ignores skew
  (the frontier terms' predictive is skewed downwards). Higher is better.
* :func:`score_samples`: every score of one prediction, with whether ``y`` lies in the
  central 50% and 90% intervals of the draws.
* :func:`pit`: the probability integral transform, the predictive CDF at ``y`` (randomised
  between the ties' bounds so a discrete predictive still gives uniform PIT values).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats


def _draws(samples: np.ndarray) -> np.ndarray:
    x = np.asarray(samples, dtype=float).ravel()
    x = x[np.isfinite(x)]
    if x.size == 0:
        raise ValueError("no finite predictive draws")
    return x


def crps_samples(samples: np.ndarray, y: float) -> float:
    """CRPS of the empirical distribution of ``samples`` at ``y`` (energy form, exact).

    ``E|X - X'|`` over all ordered pairs of the sorted draws ``x_(1) <= ... <= x_(n)`` is
    ``2 / n^2 * sum_i (2i - n - 1) x_(i)``, so no ``n x n`` matrix is formed.

    Parameters
    ----------
    samples : numpy.ndarray
        Predictive draws (any shape; non-finite draws are dropped).
    y : float
        The observed value.

    Returns
    -------
    float
        The CRPS, in the units of the draws (lower is better).

    Raises
    ------
    ValueError
        No finite draw.
    """
    x = np.sort(_draws(samples))
    n = x.size
    term1 = float(np.mean(np.abs(x - y)))
    i = np.arange(1, n + 1)
    e_pair = 2.0 * float(np.sum((2 * i - n - 1) * x)) / (n * n)
    return term1 - 0.5 * e_pair


def log_score_normal(samples: np.ndarray, y: float, min_sd: float = 1e-6) -> float:
    """Log density at ``y`` of a normal with the draws' mean and standard deviation.

    Parameters
    ----------
    samples : numpy.ndarray
        Predictive draws.
    y : float
        The observed value.
    min_sd : float
        Floor on the fitted standard deviation (a point-like predictive).

    Returns
    -------
    float
        The log density (higher is better).
    """
    x = _draws(samples)
    sd = max(float(np.std(x, ddof=1)) if x.size > 1 else 0.0, min_sd)
    return float(stats.norm.logpdf(y, loc=float(np.mean(x)), scale=sd))


def pit(samples: np.ndarray, y: float, rng: np.random.Generator | None = None) -> float:
    """Predictive CDF at ``y``; ties between draws and ``y`` are randomised uniformly.

    Parameters
    ----------
    samples : numpy.ndarray
        Predictive draws.
    y : float
        The observed value.
    rng : numpy.random.Generator, optional
        Breaks ties (seeded with 0 when not given).

    Returns
    -------
    float
        The PIT value in [0, 1].
    """
    x = _draws(samples)
    below = float(np.mean(x < y))
    equal = float(np.mean(x == y))
    if equal == 0.0:
        return below
    u = (rng or np.random.default_rng(0)).uniform()
    return below + u * equal


def score_samples(samples: np.ndarray, y: float,
                  rng: np.random.Generator | None = None) -> dict[str, float]:
    """Every score of one prediction.

    Returns ``crps``, ``log_score``, ``covered50``, ``covered90``, ``pit``, and the
    predictive ``median``, ``q05``, ``q95`` (for tables).

    Parameters
    ----------
    samples : numpy.ndarray
        Predictive draws.
    y : float
        The observed value.
    rng : numpy.random.Generator, optional
        Breaks PIT ties.

    Returns
    -------
    dict
        The scores and the predictive quantiles, by name.
    """
    x = _draws(samples)
    q05, q25, q50, q75, q95 = np.quantile(x, [0.05, 0.25, 0.5, 0.75, 0.95])
    return {
        "crps": crps_samples(x, y),
        "log_score": log_score_normal(x, y),
        "covered50": float(q25 <= y <= q75),
        "covered90": float(q05 <= y <= q95),
        "pit": pit(x, y, rng),
        "median": float(q50),
        "q05": float(q05),
        "q95": float(q95),
    }


def score_point(point: float, y: float) -> dict[str, float]:
    """A point forecast's score: its CRPS is its absolute error (a one-draw distribution).

    It has no log score, interval or PIT (``nan``).

    Parameters
    ----------
    point : float
        The point forecast.
    y : float
        The observed value.

    Returns
    -------
    dict
        The keys of :func:`score_samples`, plus ``abs_error``.
    """
    err = abs(float(point) - float(y))
    return {"crps": err, "abs_error": err, "log_score": math.nan, "covered50": math.nan,
            "covered90": math.nan, "pit": math.nan, "median": float(point),
            "q05": math.nan, "q95": math.nan}


def aggregate(scores: list[dict[str, float]], weights: list[float] | None = None
              ) -> dict[str, float]:
    """Means over rows: ``coverage50``, ``coverage90``, ``crps``, ``log_score`` (NaN-aware).

    Parameters
    ----------
    scores : list of dict
        Scores of rows (:func:`score_samples` or :func:`score_point`).
    weights : list of float, optional
        One weight per row (e.g. 1 / the size of its series, so that every series counts
        the same); equal weights when not given.

    Returns
    -------
    dict
        ``coverage50, coverage90, crps, log_score, pit_mean``; ``None`` where no row has a
        finite value.
    """
    w_all = np.ones(len(scores)) if weights is None else np.asarray(weights, dtype=float)

    def mean(key: str) -> float | None:
        vals = np.array([s[key] for s in scores], dtype=float)
        ok = np.isfinite(vals)
        return float(np.average(vals[ok], weights=w_all[ok])) if ok.any() else None

    return {"coverage50": mean("covered50"), "coverage90": mean("covered90"),
            "crps": mean("crps"), "log_score": mean("log_score"), "pit_mean": mean("pit")}


def series_weights(keys: list[str]) -> list[float]:
    """Weights that make every series count the same: 1 / the number of its rows.

    A monthly tracker of one served model would otherwise outvote a dozen one-off facts.
    """
    counts: dict[str, int] = {}
    for k in keys:
        counts[k] = counts.get(k, 0) + 1
    return [1.0 / counts[k] for k in keys]


def paired_difference(a: list[float], b: list[float]) -> dict[str, float | None]:
    """Mean of ``a - b`` over paired rows and its standard error (``None`` with < 2 rows).

    For CRPS, a negative mean favours ``a``; a mean within about two standard errors of 0
    is within noise (rows are treated as independent, which flatters small differences
    when rows of one series are correlated).

    Parameters
    ----------
    a, b : list of float
        Scores of the same rows under two forecasters.

    Returns
    -------
    dict
        ``{"mean": ..., "se": ...}``.
    """
    d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    d = d[np.isfinite(d)]
    if d.size == 0:
        return {"mean": None, "se": None}
    se = float(np.std(d, ddof=1) / math.sqrt(d.size)) if d.size > 1 else None
    return {"mean": float(np.mean(d)), "se": se}


def pit_uniformity_pvalue(pits: list[float] | np.ndarray) -> float | None:
    """Kolmogorov-Smirnov p-value of PIT values against U(0, 1) (``None`` with < 2 values).

    Parameters
    ----------
    pits : array-like
        PIT values (non-finite ones are dropped).

    Returns
    -------
    float or None
    """
    p = np.asarray(pits, dtype=float)
    p = p[np.isfinite(p)]
    if p.size < 2:
        return None
    return float(stats.kstest(p, "uniform").pvalue)
