"""The report's figures: fan charts of a run's draws, with the observations overlaid.

Every function takes a run's DataTree and what to overlay, already computed by
:mod:`gpt2030.inference.reporting` (observations in base units as ``t, value, low, high``
frames, the essay's figures, capability probabilities), and returns a
:class:`matplotlib.figure.Figure` built without pyplot on an Agg canvas, so nothing here
touches matplotlib's global backend or needs a display. Every axis carries a label with its
unit.
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import xarray as xr
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from gpt2030.inference.forecast import ESSAY_YEAR, draws_group

#: Colours, one per series; readable in print and for common colour-vision deficiencies.
BLUE, ORANGE, GREEN, PURPLE, GREY = "#1f5fa8", "#d9730d", "#2e8540", "#7b3fa0", "#555555"
YEAR_LABEL = "year"
BANDS = ((0.05, 0.95, 0.18), (0.25, 0.75, 0.35))


def new_figure(width: float = 9.5, height: float = 4.6) -> Figure:
    """A figure on its own Agg canvas (no pyplot, no global backend switch).

    Parameters
    ----------
    width, height : float
        Inches.

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _draws(dt: xr.DataTree, name: str) -> xr.DataArray:
    """A variable's draws, stacked to a leading ``sample`` dimension."""
    da = dt[draws_group(dt)][name]
    return da.stack(sample=("chain", "draw")).transpose("sample", ...)


def fan(ax, dt: xr.DataTree, name: str, color: str, label: str) -> None:
    """A fan chart of a ``year`` variable: 5-95% and 25-75% bands and the median.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        Where to draw.
    dt : xarray.DataTree
        The run.
    name : str
        A variable over ``year``.
    color : str
        The bands' and the line's colour.
    label : str
        The legend's label.
    """
    da = _draws(dt, name)
    years = da["year"].values
    values = np.asarray(da.values, dtype=float)
    for lo, hi, alpha in BANDS:
        ax.fill_between(years, np.nanquantile(values, lo, axis=0),
                        np.nanquantile(values, hi, axis=0), color=color, alpha=alpha, lw=0,
                        label=f"{label}: {round(lo * 100)}-{round(hi * 100)}%")
    ax.plot(years, np.nanmedian(values, axis=0), color=color, lw=2, label=f"{label}: median")
    ax.set_xlim(years[0], years[-1])


def overlay(ax, points: pd.DataFrame, color: str, label: str, marker: str = "o") -> None:
    """Observed points with error bars where the observation states an interval.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        Where to draw.
    points : pandas.DataFrame
        ``t, value, low, high`` (:func:`gpt2030.inference.reporting.evidence_points`).
    color : str
        The points' colour.
    label : str
        The legend's label.
    marker : str
        The matplotlib marker.
    """
    if points.empty:
        return
    has = points["low"].notna() & points["high"].notna()
    lower = np.where(has, points["value"] - points["low"], 0.0).clip(min=0)
    upper = np.where(has, points["high"] - points["value"], 0.0).clip(min=0)
    ax.errorbar(points["t"], points["value"], yerr=[lower, upper], fmt=marker, ms=4,
                color=color, mec="black", mew=0.4, ecolor=color, elinewidth=1, capsize=2,
                alpha=0.85, label=label, zorder=5)


def _finish(ax, ylabel: str, title: str, log: bool = True) -> None:
    if log:
        ax.set_yscale("log")
    ax.set_xlabel(YEAR_LABEL)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=11, loc="left")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=7.5, loc="upper left", bbox_to_anchor=(1.01, 1.0), framealpha=0.9)


def fig_compute(dt: xr.DataTree, points: pd.DataFrame, essay_median: float | None = None
                ) -> Figure:
    """Frontier training compute (FLOP, log scale) with the compute observations.

    Parameters
    ----------
    dt : xarray.DataTree
        The run.
    points : pandas.DataFrame
        Observed training runs, ``t, value, low, high`` in FLOP.
    essay_median : float, optional
        The essay's 2030 compute, drawn as a star.

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig = new_figure()
    ax = fig.add_subplot()
    fan(ax, dt, "training_compute", BLUE, "frontier compute")
    overlay(ax, points, ORANGE, "observed training runs")
    if essay_median is not None:
        ax.plot([ESSAY_YEAR], [essay_median], marker="*", ms=12, color=PURPLE, ls="none",
                label="essay: 2030 median")
    _finish(ax, "training compute (FLOP)", "Frontier training compute")
    return fig


def fig_scaling(dt: xr.DataTree, parameters: pd.DataFrame, tokens: pd.DataFrame) -> Figure:
    """Parameters and training tokens of the frontier model, and the data available.

    Parameters
    ----------
    dt : xarray.DataTree
        The run.
    parameters, tokens : pandas.DataFrame
        Observed parameters and training tokens of the models paired for tokens per
        parameter (``t, value, low, high``).

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig = new_figure()
    ax = fig.add_subplot()
    fan(ax, dt, "parameters", BLUE, "parameters")
    fan(ax, dt, "training_tokens", GREEN, "training tokens")
    fan(ax, dt, "data_available", GREY, "data available")
    overlay(ax, parameters, BLUE, "observed parameters", marker="s")
    overlay(ax, tokens, GREEN, "observed training tokens", marker="D")
    if "data_binding_year" in dt[draws_group(dt)]:
        binding = np.asarray(dt[draws_group(dt)]["data_binding_year"].values, float).ravel()
        years = dt[draws_group(dt)]["year"].values
        med = float(np.nanmedian(binding))
        if years[0] <= med <= years[-1]:
            ax.axvline(med, color="black", ls="--", lw=1,
                       label=f"data binds (median {med:.0f})")
        else:
            ax.plot([], [], color="black", ls="--", lw=1,
                    label=f"data binds: median {med:.0f} (off the chart)")
    _finish(ax, "parameters, tokens (count)", "Parameters and tokens against the data available")
    return fig


def fig_speed(dt: xr.DataTree, points: pd.DataFrame) -> Figure:
    """Serial speed (tokens/s) against human thinking speed, with API speed measurements.

    Parameters
    ----------
    dt : xarray.DataTree
        The run.
    points : pandas.DataFrame
        Measured speeds of served models (``t, value, low, high`` in tokens/s).

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig = new_figure()
    ax = fig.add_subplot()
    fan(ax, dt, "serial_speed", BLUE, "serial speed")
    group = dt[draws_group(dt)]
    if "human_tokens_per_minute" in group:
        human = np.asarray(group["human_tokens_per_minute"].values, float).ravel() / 60.0
        years = group["year"].values
        lo, med, hi = np.nanquantile(human, [0.05, 0.5, 0.95])
        ax.fill_between(years, lo, hi, color=ORANGE, alpha=0.2, lw=0,
                        label="human thinking: 5-95%")
        ax.axhline(med, color=ORANGE, lw=1.5, ls="--", label="human thinking: median")
    overlay(ax, points, GREEN, "observed API speeds")
    _finish(ax, "serial speed (tokens/s)", "Serial speed against human thinking speed")
    return fig


def fig_work(dt: xr.DataTree, essay_medians: dict[str, float] | None = None) -> Figure:
    """Human-speed work-years the training compute can run, and parallel copies.

    Parameters
    ----------
    dt : xarray.DataTree
        The run.
    essay_medians : dict, optional
        The essay's 2030 ``work_years`` and ``parallel_copies``, drawn as stars.

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig = new_figure()
    ax = fig.add_subplot()
    fan(ax, dt, "work_years", BLUE, "work-years")
    fan(ax, dt, "parallel_copies", GREEN, "parallel copies")
    for key, color in (("work_years", BLUE), ("parallel_copies", GREEN)):
        median = (essay_medians or {}).get(key)
        if median is not None:
            ax.plot([ESSAY_YEAR], [median], marker="*", ms=12, color=color, mec="black",
                    ls="none", label=f"essay: {key.replace('_', ' ')} {ESSAY_YEAR}")
    _finish(ax, "human-years of work; copies (count)",
            "Work-years of the training compute, and parallel copies")
    return fig


def fig_capabilities(thresholds, probabilities: dict[str, dict[int, float]]) -> Figure:
    """P(threshold reached) by year, one line per threshold, with the cited median years.

    Parameters
    ----------
    thresholds : sequence of Threshold
        ``name`` and ``cited_median_year`` of each threshold.
    probabilities : dict
        ``{threshold name: {year: probability}}``; a threshold missing here is not drawn.

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig = new_figure(height=4.0)
    ax = fig.add_subplot()
    colors = (BLUE, ORANGE, GREEN, PURPLE, GREY)
    for i, th in enumerate(thresholds):
        if th.name not in probabilities:
            continue
        probs = probabilities[th.name]
        color = colors[i % len(colors)]
        ax.plot(list(probs), [100 * p for p in probs.values()], marker="o", ms=3,
                color=color, label=th.name)
        ax.axvline(th.cited_median_year, color=color, ls=":", lw=1.2,
                   label=f"{th.name}: cited median {th.cited_median_year:g}")
    ax.axhline(50, color="black", lw=0.8, alpha=0.5)
    ax.set_ylim(0, 100)
    ax.set_xlabel(YEAR_LABEL)
    ax.set_ylabel("probability threshold reached (%)")
    ax.set_title("Capability thresholds", fontsize=11, loc="left")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7.5, loc="upper left", bbox_to_anchor=(1.01, 1.0), framealpha=0.9)
    return fig


def png_bytes(fig: Figure, dpi: int = 125) -> bytes:
    """The figure as PNG bytes.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure.
    dpi : int
        Resolution.

    Returns
    -------
    bytes
    """
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()
