"""Influence of each observation on the headline forecasts, without refitting.

Leaving observation ``i`` out reweights the stored posterior draws by ``1 / p(y_i | theta)``
(importance sampling from the full posterior to the leave-one-out posterior), Pareto-smoothed
(PSIS, Vehtari et al. 2024). The weighted median of each headline quantity under those
weights, against the full-posterior median, is the row's influence (a log10 shift). The
Pareto k of the weights says whether the reweighting can be trusted: above
:data:`~gpt2030.inference.diagnostics.PARETO_K_MAX` the leave-one-out posterior is too far
from the full one, and only a refit without the row would tell.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import xarray as xr

from gpt2030.inference.diagnostics import (
    PARETO_K_MAX,
    degenerate_ok,
    loo_weights,
    normalised_weights,
    observation_terms,
    relative_ess,
)
from gpt2030.inference.forecast import HEADLINES, YEAR, headline_draws, safe_log10
from gpt2030.inference.runs import Run


def weighted_median(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Medians of ``values`` (S,) under each row of ``weights`` (N, S), rows summing to one.

    Midpoint interpolation of the weighted ECDF, so uniform weights give ``np.median``.

    Parameters
    ----------
    values : numpy.ndarray
        Draws of one quantity, shape ``(S,)``.
    weights : numpy.ndarray
        One weighting of the draws per row, shape ``(N, S)``.

    Returns
    -------
    numpy.ndarray
        One median per row of ``weights``.
    """
    return weighted_quantile(values, weights, 0.5)


#: Half-width (in sorted draws) of the window around each quantile's uniform-weights
#: position in which :func:`weighted_quantile` looks for a row's crossing first.
_WINDOW = 256


def weighted_quantile(values: np.ndarray, weights: np.ndarray,
                      q: float | Sequence[float]) -> np.ndarray:
    """Quantiles of ``values`` (S,) under each row of ``weights`` (N, S).

    Midpoint interpolation of the weighted ECDF (rows summing to one): uniform weights
    give ``np.quantile`` with its ``hazen`` method, and ``q = 0.5`` the median.

    Parameters
    ----------
    values : numpy.ndarray
        Draws of one quantity, shape ``(S,)``.
    weights : numpy.ndarray
        One weighting of the draws per row, shape ``(N, S)``.
    q : float or sequence of float
        Probabilities, in (0, 1).

    Returns
    -------
    numpy.ndarray
        Shape ``(N,)`` for one ``q``; ``(len(q), N)`` for several.
    """
    weights = np.asarray(weights, dtype=float)
    order = np.argsort(values, kind="stable")
    x = np.asarray(values, dtype=float)[order]
    out = []
    for p in np.atleast_1d(q):
        j, lo, hi = _crossing(weights, order, float(p))
        with np.errstate(divide="ignore", invalid="ignore"):
            frac = np.where(hi > lo, (p - lo) / (hi - lo), 0.5)
        frac = np.clip(frac, 0.0, 1.0)
        out.append(x[j - 1] + frac * (x[j] - x[j - 1]))
    return out[0] if np.ndim(q) == 0 else np.stack(out)


def _crossing(weights: np.ndarray, order: np.ndarray, p: float
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row: where the weighted ECDF's midpoints cross ``p``.

    Returns the first sorted position ``j`` whose midpoint reaches ``p`` (clipped to
    [1, S - 1]) and the midpoints at ``j - 1`` and ``j``. The midpoints, ``cumsum(w) - w / 2``
    over the sorted draws, rise with the position. Rows of leave-one-out weights are close
    to uniform, so a row's crossing lies near ``p * S``: the midpoints are computed in a
    window there, from the weight of the draws below it (one matrix-vector product), and
    only the rows whose crossing is outside the window get the whole cumulative sum (its
    (N, S) passes took ~0.07 s a quantity for a run's 500 rows x 10,000 draws; the window
    ~0.01 s).
    """
    n, s = weights.shape
    rows = np.arange(n)
    j = np.ones(n, dtype=int)
    lo = np.zeros(n)
    hi = np.zeros(n)
    todo = rows
    if s > 4 * _WINDOW:
        a = int(np.clip(round(p * s) - _WINDOW, 1, s - 2 * _WINDOW))
        window = order[a:a + 2 * _WINDOW]
        below = np.zeros(s)
        below[order[:a]] = 1.0
        w = weights[:, window]
        mid = (weights @ below)[:, None] + np.cumsum(w, axis=1) - 0.5 * w
        inside = (mid[:, 0] < p) & (mid[:, -1] >= p)
        k = np.count_nonzero(mid[inside] < p, axis=1)  # >= 1 and < the window's width
        j[inside] = a + k
        lo[inside] = mid[inside, k - 1]
        hi[inside] = mid[inside, k]
        todo = rows[~inside]
    if todo.size:
        w = weights[todo][:, order]
        mid = np.cumsum(w, axis=1) - 0.5 * w
        k = np.clip(np.count_nonzero(mid < p, axis=1), 1, s - 1)
        j[todo] = k
        lo[todo] = mid[np.arange(todo.size), k - 1]
        hi[todo] = mid[np.arange(todo.size), k]
    return j, lo, hi


def influence(run: Run, year: int = YEAR, top: int | None = None) -> pd.DataFrame:
    """How far each observation moves the headline medians of ``year`` when left out.

    Parameters
    ----------
    run : Run
        A stored run with a posterior and log-likelihood.
    year : int
        The year of the headline quantities.
    top : int, optional
        Keep the first rows only.

    Returns
    -------
    pandas.DataFrame
        One row per observation (each element of each ``<term>_obs`` in ``log_likelihood``):
        ``obs_id, term, pareto_k, reliable, max_abs_log10_shift, quantity_most_moved`` and one
        column per headline key with the log10 shift of its median (leave-one-out minus full),
        sorted by ``max_abs_log10_shift`` descending; ``reliable`` is ``pareto_k <=
        PARETO_K_MAX`` (else the shift is a rough guess and a refit is needed). ``top`` keeps
        the first rows only.

    Raises
    ------
    ValueError
        A prior-only run (no posterior or log-likelihood), or ``year`` off the model's grid.
    """
    return influence_table(run.datatree(), year, top)


def influence_table(dt: xr.DataTree, year: int = YEAR, top: int | None = None) -> pd.DataFrame:
    """:func:`influence` on an opened DataTree.

    Parameters
    ----------
    dt : xarray.DataTree
        The run's DataTree.
    year : int
        The year of the headline quantities.
    top : int, optional
        Keep the first rows only.

    Returns
    -------
    pandas.DataFrame
        See :func:`influence`.
    """
    if "posterior" not in dt.children or "log_likelihood" not in dt.children:
        raise ValueError("influence needs a posterior and log-likelihood: this run is prior-only")
    draws = {key: headline_draws(dt, key, year) for key in HEADLINES}  # chain-major, flattened
    full = {key: float(np.median(v)) for key, v in draws.items()}
    r_eff = relative_ess(dt)
    frames, rows = [], []
    for var in observation_terms(dt):
        if var not in dt["log_likelihood"].data_vars:
            continue
        ll = dt["log_likelihood"][var]
        obs_dim = next(d for d in ll.dims if d not in ("chain", "draw"))
        ids = np.asarray(ll[obs_dim].values).astype(str)
        psis = loo_weights(dt, var, r_eff)
        if psis is None:  # PSIS cannot smooth the term: no shift, and flagged unreliable
            weights = np.full((len(ids), ll.sizes["chain"] * ll.sizes["draw"]),
                              1.0 / (ll.sizes["chain"] * ll.sizes["draw"]))
            k = np.full(len(ids), np.inf)
        else:
            log_w, khat = psis
            weights = normalised_weights(log_w.sel({obs_dim: ll[obs_dim]}))
            k = np.asarray(khat.sel({obs_dim: ll[obs_dim]}).values, dtype=float)
        frames.append(pd.DataFrame({"obs_id": ids, "term": var.removesuffix("_obs"),
                                    "pareto_k": k}))
        rows.append(weights)
    if not frames:
        raise ValueError("the run has no observed variables in its log_likelihood group")
    table = pd.concat(frames, ignore_index=True)
    # Every term's rows in one weighted median per headline: one sort of its draws, not one
    # per term (each row's median is computed on its own, so the values are the same).
    weights = np.concatenate(rows)
    with degenerate_ok():
        for key, values in draws.items():
            table[key] = safe_log10(weighted_median(values, weights)) - safe_log10(full[key])
    keys = list(HEADLINES)
    shifts = table[keys].abs()
    table["reliable"] = table["pareto_k"] <= PARETO_K_MAX
    table["max_abs_log10_shift"] = shifts.max(axis=1, skipna=True)
    most = shifts.fillna(-1.0).to_numpy().argmax(axis=1)
    table["quantity_most_moved"] = [keys[i] for i in most]
    table = table[["obs_id", "term", "pareto_k", "reliable", "max_abs_log10_shift",
                   "quantity_most_moved", *keys]]
    table = table.sort_values("max_abs_log10_shift", ascending=False, kind="stable",
                              na_position="last").reset_index(drop=True)
    return table.head(top) if top is not None else table
