"""Headline quantities of a run for a year: median, quantiles and unit.

The names are a contract (``gpt2030 forecast --format json``, the report, ``compare`` and
``export``): add new keys freely, never rename one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import xarray as xr


@dataclass(frozen=True)
class Quantity:
    """A headline quantity: its model variable and its unit."""

    variable: str
    unit: str
    label: str


#: Headline quantities, in the order reports show them.
HEADLINES: dict[str, Quantity] = {
    "training_compute_flop": Quantity("training_compute", "FLOP", "Frontier training compute"),
    "parameters": Quantity("parameters", "parameters",
                           "Active parameters of the frontier model (used per token)"),
    "training_tokens": Quantity("training_tokens", "tokens", "Training tokens"),
    "forward_passes": Quantity("forward_passes", "tokens",
                               "Forward passes the training compute buys"),
    "work_years": Quantity("work_years", "human-years",
                           "Human-speed years of work the training compute can run"),
    "serial_speed": Quantity("serial_speed", "tokens/s", "Serial speed"),
    "speed_vs_human": Quantity("speed_vs_human", "x human", "Speed relative to human thinking"),
    "parallel_copies": Quantity("parallel_copies", "copies",
                                "Copies at human speed over one training-run duration"),
    "learning_years_per_day": Quantity("learning_years_per_day", "human-years/day",
                                       "Learning in parallel"),
    "months_for_work": Quantity("months_for_work", "months",
                                "Months for a human-year of work at the forecast speed"),
    "overhang_growth_vs_gpt3": Quantity("overhang_growth_vs_gpt3", "x",
                                        "Overhang growth over a compute-optimal GPT-3"),
}
QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
#: The year the forecasts are about by default: the essay's "GPT-2030".
YEAR = 2030
#: The year the essay's own figures are for (``ESSAY_2030``).
ESSAY_YEAR = 2030


def safe_log10(x: np.ndarray | float) -> np.ndarray:
    """log10 where ``x`` is positive and finite, NaN elsewhere (no warning).

    Parameters
    ----------
    x : numpy.ndarray or float
        Values.

    Returns
    -------
    numpy.ndarray
        Same shape as ``x`` (0-d for a scalar).
    """
    x = np.asarray(x, dtype=float)
    out = np.full(x.shape, np.nan)
    ok = np.isfinite(x) & (x > 0)
    out[ok] = np.log10(x[ok])
    return out


def draws_group(dt: xr.DataTree) -> str:
    """``posterior`` where the run sampled one, else ``prior`` (prior-only runs).

    Parameters
    ----------
    dt : xarray.DataTree
        A run.

    Returns
    -------
    str
    """
    return "posterior" if "posterior" in dt.children else "prior"


def headline_draws(dt: xr.DataTree, key: str, year: int) -> np.ndarray:
    """All draws of a headline quantity in a year, flattened over chains.

    Parameters
    ----------
    dt : xarray.DataTree
        A run.
    key : str
        A key of :data:`HEADLINES`.
    year : int
        A year on the model's grid.

    Returns
    -------
    numpy.ndarray
        One value per draw.

    Raises
    ------
    ValueError
        ``year`` is off the model's grid.
    """
    var = dt[draws_group(dt)][HEADLINES[key].variable]
    if year not in var["year"].values:
        years = var["year"].values
        raise ValueError(f"year {year} is outside the model's grid {years[0]}-{years[-1]}")
    return np.asarray(var.sel(year=year).values, dtype=float).ravel()


def summarize(draws: np.ndarray) -> dict[str, float]:
    """Median and the 5/25/75/95% quantiles of draws.

    Parameters
    ----------
    draws : numpy.ndarray
        Draws of one quantity.

    Returns
    -------
    dict
        ``median, q05, q25, q75, q95``.
    """
    q = np.quantile(draws, QUANTILES)
    return {"median": float(q[2]), "q05": float(q[0]), "q25": float(q[1]),
            "q75": float(q[3]), "q95": float(q[4])}


def forecast_table(dt: xr.DataTree, year: int = YEAR,
                   quantities: list[str] | None = None) -> dict[str, dict[str, object]]:
    """``{key: {median, q05, q25, q75, q95, unit, label}}`` for a year.

    Parameters
    ----------
    dt : xarray.DataTree
        A run.
    year : int
        A year on the model's grid.
    quantities : list of str, optional
        Keys of :data:`HEADLINES` (all by default).

    Returns
    -------
    dict
        ``{key: {median, q05, q25, q75, q95, unit, label}}``.

    Raises
    ------
    KeyError
        An unknown quantity.
    """
    keys = quantities or list(HEADLINES)
    unknown = [k for k in keys if k not in HEADLINES]
    if unknown:
        raise KeyError(f"unknown quantity {unknown[0]!r}; one of {', '.join(HEADLINES)}")
    return {k: {**summarize(headline_draws(dt, k, year)), "unit": HEADLINES[k].unit,
                "label": HEADLINES[k].label} for k in keys}
