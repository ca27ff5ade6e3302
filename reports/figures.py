"""The report's figures: fan charts of a run's draws, with the observations overlaid.

Every function takes a run's DataTree (or only the draws it plots: what the report hands the
figure worker, :mod:`gpt2030.reports.png`) and what to overlay, already computed by
:mod:`gpt2030.inference.reporting` (observations in base units as ``t, value, low, high``
frames, the essay's figures, capability probabilities), and returns a
:class:`matplotlib.figure.Figure` built without pyplot on an Agg canvas, so nothing here
touches matplotlib's global backend or needs a display. Every axis carries a label with its
unit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import xarray as xr

from gpt2030.inference.forecast import ESSAY_YEAR, draws_group

if TYPE_CHECKING:
    from matplotlib.figure import Figure

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
    # Imported here, where a figure is made: a report's process that hands every figure to
    # the worker (reports.png) never imports matplotlib (~0.5 s).
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _draws(dt: xr.DataTree, name: str) -> tuple[np.ndarray, np.ndarray]:
    """A ``year`` variable's draws, (sample, year) in chain order, and its years."""
    return _by_year(dt[draws_group(dt)][name])


def _by_year(da: xr.DataArray) -> tuple[np.ndarray, np.ndarray]:
    # A reshape, not ``stack``: its MultiIndex over 10,000 draws took ~0.05 s a variable.
    da = da.transpose("chain", "draw", "year")
    return np.asarray(da.values, dtype=float).reshape(-1, da.sizes["year"]), da["year"].values


def _bands(values: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """Each band's (lower, upper) quantiles over the draws (axis 0), in one pass."""
    q = np.nanquantile(values, [p for band in BANDS for p in band[:2]], axis=0)
    return [(q[2 * i], q[2 * i + 1]) for i in range(len(BANDS))]


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
    values, years = _draws(dt, name)
    for (lo, hi, alpha), (low, high) in zip(BANDS, _bands(values), strict=True):
        ax.fill_between(years, low, high, color=color, alpha=alpha, lw=0,
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


#: Decades above which a log axis keeps only its major ticks. A trajectory panel spans 6-8
#: decades in ~3 inches: its minor ticks (2-9 x 10^k) sit a few pixels apart and carry no
#: label, and making and measuring them was a fifth of drawing the report's nine figures
#: (5.4 -> 4.2 s, 2026-11-29). The essay figure's narrow axes (4 decades) keep theirs.
MINOR_TICKS_MAX_DECADES = 5


def _finish(ax, ylabel: str, title: str, log: bool = True) -> None:
    if log:
        ax.set_yscale("log")
        low, high = ax.get_ylim()
        if low > 0 and np.log10(high / low) > MINOR_TICKS_MAX_DECADES:
            from matplotlib.ticker import NullLocator

            ax.yaxis.set_minor_locator(NullLocator())
    ax.set_xlabel(YEAR_LABEL)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=11, loc="left")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=7.5, loc="upper left", bbox_to_anchor=(1.01, 1.0), framealpha=0.9)


def observed_until(ax, until: float | None, label: str = "") -> None:
    """A vertical line at the latest observation: observed on its left, forecast on its right.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        Where to draw.
    until : float or None
        The decimal year of the run's latest observation (nothing drawn when ``None``).
    label : str
        The legend's label (``latest observation`` by default).
    """
    if until is None:
        return
    year = int(until)
    month = min(12, int((until - year) * 12) + 1)
    ax.axvline(until, color="black", lw=1.2, ls="-", alpha=0.7,
               label=label or f"latest observation ({year}-{month:02d})")
    ax.axvspan(until, ax.get_xlim()[1], color=GREY, alpha=0.06, lw=0)
    ax.text(until, 0.015, " forecast \u2192", transform=ax.get_xaxis_transform(),
            fontsize=7.5, ha="left", va="bottom", color=GREY)
    ax.text(until, 0.015, "\u2190 observed ", transform=ax.get_xaxis_transform(),
            fontsize=7.5, ha="right", va="bottom", color=GREY)


#: One panel of the report's trajectory grid (inches): two sit side by side at 1400 px.
PANEL = (6.4, 3.6)


def _panel() -> tuple[Figure, object]:
    fig = new_figure(*PANEL)
    return fig, fig.add_subplot()


def _legend_below(ax, ncol: int = 2) -> None:
    """The axis's legend under it, in columns (a panel of the grid has no room beside)."""
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.17), ncol=ncol,
              framealpha=0.9)


def _frontier_overlay(ax, frontier: pd.DataFrame, others: pd.DataFrame, what: str) -> None:
    overlay(ax, others, "#9aa3ad", f"{what}: other systems", marker=".")
    overlay(ax, frontier, ORANGE, f"{what}: frontier systems")


def fig_compute(dt: xr.DataTree, frontier: pd.DataFrame, others: pd.DataFrame,
                essay_median: float | None = None, until: float | None = None) -> Figure:
    """Frontier training compute (FLOP, log scale) with the compute observations.

    Parameters
    ----------
    dt : xarray.DataTree
        The run.
    frontier, others : pandas.DataFrame
        Observed training runs of frontier systems and of the rest, ``t, value, low, high``
        in FLOP.
    essay_median : float, optional
        The essay's 2030 compute, drawn as a star.
    until : float, optional
        The decimal year of the latest observation.

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, ax = _panel()
    fan(ax, dt, "training_compute", BLUE, "frontier compute")
    _frontier_overlay(ax, frontier, others, "training runs")
    if essay_median is not None:
        ax.plot([ESSAY_YEAR], [essay_median], marker="*", ms=13, color=PURPLE, mec="black",
                ls="none", label=f"essay: {ESSAY_YEAR} median")
    observed_until(ax, until)
    _finish(ax, "training compute (FLOP)", "Frontier training compute")
    _legend_below(ax)
    return fig


def fig_parameters(dt: xr.DataTree, parameters: pd.DataFrame,
                   until: float | None = None) -> Figure:
    """Active parameters of the frontier model.

    Parameters
    ----------
    dt : xarray.DataTree
        The run.
    parameters : pandas.DataFrame
        Observed parameters of the models paired for tokens per parameter
        (``t, value, low, high``).
    until : float, optional
        The decimal year of the latest observation.

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, ax = _panel()
    fan(ax, dt, "parameters", BLUE, "active parameters")
    overlay(ax, parameters, BLUE, "observed parameters", marker="s")
    observed_until(ax, until)
    _finish(ax, "active parameters (count)", "Active parameters of the frontier model")
    _legend_below(ax)
    return fig


def fig_tokens(dt: xr.DataTree, tokens: pd.DataFrame, until: float | None = None) -> Figure:
    """Training tokens of the frontier model against the data available.

    Parameters
    ----------
    dt : xarray.DataTree
        The run.
    tokens : pandas.DataFrame
        Observed training tokens of the models paired for tokens per parameter
        (``t, value, low, high``).
    until : float, optional
        The decimal year of the latest observation.

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, ax = _panel()
    fan(ax, dt, "training_tokens", GREEN, "training tokens")
    fan(ax, dt, "data_available", GREY, "data available")
    overlay(ax, tokens, GREEN, "observed training tokens", marker="D")
    group = dt[draws_group(dt)]
    if "data_binding_year" in group:
        binding = np.asarray(group["data_binding_year"].values, float).ravel()
        years = group["year"].values
        med = float(np.nanmedian(binding))
        if years[0] <= med <= years[-1]:
            ax.axvline(med, color="black", ls="--", lw=1, label=f"data binds (median {med:.0f})")
        else:
            ax.plot([], [], color="black", ls="--", lw=1,
                    label=f"data binds: median {med:.0f} (off the chart)")
    observed_until(ax, until)
    _finish(ax, "tokens (count)", "Training tokens against the data available")
    _legend_below(ax, ncol=3)
    return fig


def fig_serial_speed(dt: xr.DataTree, frontier: pd.DataFrame, others: pd.DataFrame,
                     until: float | None = None) -> Figure:
    """Serial speed of served models in tokens/s, against human thinking speed.

    Parameters
    ----------
    dt : xarray.DataTree
        The run.
    frontier, others : pandas.DataFrame
        Measured speeds of served frontier systems and of other served models
        (``t, value, low, high`` in tokens/s).
    until : float, optional
        The decimal year of the latest observation.

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, ax = _panel()
    fan(ax, dt, "serial_speed", BLUE, "frontier model")
    group = dt[draws_group(dt)]
    if "human_tokens_per_minute" in group:
        human = np.asarray(group["human_tokens_per_minute"].values, float).ravel() / 60.0
        years = group["year"].values
        lo, med, hi = np.nanquantile(human, [0.05, 0.5, 0.95])
        ax.fill_between(years, lo, hi, color=PURPLE, alpha=0.15, lw=0,
                        label="human thinking: 5-95%")
        ax.axhline(med, color=PURPLE, lw=1.5, ls="--", label="human thinking: median")
    _frontier_overlay(ax, frontier, others, "API readings")
    observed_until(ax, until)
    _finish(ax, "serial speed (tokens/s)", "Serial speed of served models")
    _legend_below(ax, ncol=3)
    return fig


def fig_speed_vs_human(dt: xr.DataTree, until: float | None = None,
                       essay: dict[str, float] | None = None) -> Figure:
    """Serial speed relative to human thinking, with the essay's speed and its trade.

    Parameters
    ----------
    dt : xarray.DataTree
        The run.
    until : float, optional
        The decimal year of the latest observation.
    essay : dict, optional
        ``{"speed": 5, "low": 0.5, "high": 20, "traded": 125, "k": 5}``: the essay's 2030
        speed relative to human, its range, and the speed it trades throughput for.

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, ax = _panel()
    group = dt[draws_group(dt)]
    fan(ax, dt, "speed_vs_human", BLUE, "serial speed")
    if essay and "speed_traded" in group:
        k = int(essay["k"])
        traded = group["speed_traded"].sel(k=k)
        vals, yrs = _by_year(traded)
        low, high = np.nanquantile(vals, [0.05, 0.95], axis=0)
        ax.fill_between(yrs, low, high, color=ORANGE, alpha=0.12, lw=0,
                        label=f"traded at k={k}: 5-95%")
        ax.plot(yrs, np.nanmedian(vals, axis=0), color=ORANGE, lw=1.5, ls="-.",
                label=f"traded at k={k} (k\u00b2={k * k}x): median")
    if essay:
        e = essay["speed"]
        ax.errorbar([ESSAY_YEAR], [e], yerr=[[e - essay["low"]], [essay["high"] - e]],
                    fmt="*", ms=13, color=PURPLE, mec="black", capsize=3,
                    label=f"essay: {e:g}x (25-75%: {essay['low']:g}-{essay['high']:g}x)")
        ax.plot([ESSAY_YEAR], [essay["traded"]], marker="*", ms=13, color=ORANGE,
                mec="black", ls="none", label=f"essay: {essay['traded']:g}x traded")
    ax.axhline(1.0, color=PURPLE, lw=1, ls="--", label="human thinking (1x)")
    observed_until(ax, until)
    _finish(ax, "serial speed (x human)",
            "Serial speed relative to human thinking")
    _legend_below(ax, ncol=3)
    return fig


#: The two work panels: what each draws and how it is labelled.
WORK = {"work_years": (BLUE, "work-years", "human-years of work (human-years)",
                       "Work the training compute can run"),
        "parallel_copies": (GREEN, "parallel copies", "copies at human speed (copies)",
                            "Copies at human speed over one training run")}


def fig_work(dt: xr.DataTree, key: str = "work_years", essay_median: float | None = None,
             until: float | None = None) -> Figure:
    """Human-speed work-years of the training compute, or the parallel copies they make.

    Parameters
    ----------
    dt : xarray.DataTree
        The run.
    key : {"work_years", "parallel_copies"}
        Which quantity (one per axis: their units differ).
    essay_median : float, optional
        The essay's 2030 figure of that quantity, drawn as a star.
    until : float, optional
        The decimal year of the latest observation.

    Returns
    -------
    matplotlib.figure.Figure
    """
    color, label, ylabel, title = WORK[key]
    fig, ax = _panel()
    fan(ax, dt, key, color, label)
    if essay_median is not None:
        ax.plot([ESSAY_YEAR], [essay_median], marker="*", ms=13, color=PURPLE, mec="black",
                ls="none", label=f"essay: {ESSAY_YEAR} median")
    observed_until(ax, until)
    _finish(ax, ylabel, title)
    _legend_below(ax)
    return fig


#: The draws each figure of a run's trajectories reads (all its ``dt`` argument needs).
PLOTS = {"fig_compute": ("training_compute",), "fig_parameters": ("parameters",),
         "fig_tokens": ("training_tokens", "data_available", "data_binding_year"),
         "fig_serial_speed": ("serial_speed", "human_tokens_per_minute"),
         "fig_speed_vs_human": ("speed_vs_human", "speed_traded"),
         "fig_work": ("work_years", "parallel_copies")}


def plotted(dt: xr.DataTree, make) -> xr.DataTree:
    """The run's draws the figure function ``make`` reads, alone in a tree of their own.

    What the report hands the figure worker with ``make``: a few MB, not the run's ~140.

    Parameters
    ----------
    dt : xarray.DataTree
        The run.
    make : callable
        A figure function of :data:`PLOTS`.

    Returns
    -------
    xarray.DataTree
        The run's draws group (posterior, or prior) with those variables it has.
    """
    group = draws_group(dt)
    draws = dt[group].to_dataset()
    return xr.DataTree.from_dict(
        {group: draws[[n for n in PLOTS[make.__name__] if n in draws.data_vars]]})


def fig_essay_forest(rows: list[dict]) -> Figure:
    """The model against the essay: one row and one log axis per headline quantity.

    Parameters
    ----------
    rows : list of dict
        ``label, unit, q05, q25, median, q75, q95, essay, essay_low, essay_high`` (the
        essay's range may be ``None``).

    Returns
    -------
    matplotlib.figure.Figure
    """
    # two columns of rows: the page is wide, and a log axis reads as well at half its width
    ncol = 2 if len(rows) > 3 else 1
    nrow = -(-len(rows) // ncol)
    fig = new_figure(width=12.5, height=0.48 * nrow + 0.45)
    grid = fig.subplots(nrow, ncol, squeeze=False)
    cells = [grid[i % nrow, i // nrow] for i in range(nrow * ncol)]  # down, then across
    axes = cells[:len(rows)]
    for ax in cells[len(rows):]:
        ax.set_visible(False)
    from matplotlib.ticker import LogLocator

    for ax, r in zip(axes, rows, strict=True):
        ax.set_xscale("log")
        # Minor ticks at 2 and 5 times each power of ten (a 1-2-5 grid to read values by),
        # not at 2-9: making and measuring 32 minor ticks on each of seven axes was a quarter
        # of drawing this figure, the report's costliest (~1.1-1.5 -> ~0.85-1.1 s).
        ax.xaxis.set_minor_locator(LogLocator(subs=(2.0, 5.0)))
        ax.hlines(1, r["q05"], r["q95"], color=BLUE, lw=2, label="model: 90% interval")
        ax.hlines(1, r["q25"], r["q75"], color=BLUE, lw=7, alpha=0.6,
                  label="model: 50% interval")
        ax.plot([r["median"]], [1], "o", color="white", mec=BLUE, mew=2, ms=7,
                label="model: median")
        if r.get("essay_low") is not None:
            ax.hlines(0, r["essay_low"], r["essay_high"], color=PURPLE, lw=7, alpha=0.5,
                      label="essay: 25-75% range")
        ax.plot([r["essay"]], [0], "D", color=PURPLE, mec="black", ms=7,
                label="essay: median")
        values = [v for v in (r["q05"], r["q95"], r["essay"], r.get("essay_low"),
                              r.get("essay_high")) if v is not None and v > 0]
        lo, hi = min(values), max(values)
        ax.set_xlim(lo / 2.5, hi * 2.5)
        ax.set_ylim(-0.8, 1.8)
        ax.set_yticks([])
        ax.set_xlabel(f"{r['label']} ({r['unit']})", fontsize=8.5, labelpad=1)
        ax.tick_params(axis="x", labelsize=8)
        ax.grid(True, axis="x", which="major", alpha=0.3)
    seen: dict[str, object] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            seen.setdefault(label, handle)
    fig.legend(list(seen.values()), list(seen), loc="outside upper center", ncol=5,
               fontsize=8, frameon=False)
    return fig


def fig_capabilities(thresholds, probabilities: dict[str, dict[int, float]],
                     reached: dict[str, int] | None = None,
                     until: float | None = None) -> Figure:
    """P(threshold reached) by year from the latest observation on, one line per threshold.

    Parameters
    ----------
    thresholds : sequence of Threshold
        ``name`` and ``cited_median_year`` of each threshold.
    probabilities : dict
        ``{threshold name: {year: probability}}`` for the forecast years only; a threshold
        missing here is not drawn.
    reached : dict, optional
        ``{threshold name: year}``: the year an observed score reached the threshold.
    until : float, optional
        The decimal year of the latest observation.

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig = new_figure(width=8.5, height=2.2)
    ax = fig.add_subplot()
    colors = (BLUE, ORANGE, GREEN, PURPLE, GREY)
    for i, th in enumerate(thresholds):
        color = colors[i % len(colors)]
        probs = probabilities.get(th.name) or {}
        if probs:
            ax.plot(list(probs), [100 * p for p in probs.values()], marker="o", ms=3,
                    color=color, label=th.name)
        year = (reached or {}).get(th.name)
        if year is not None:
            ax.plot([year], [100], marker="*", ms=12, color=color, mec="black", ls="none",
                    label=f"{th.name}: reached (observed {year})")
        ax.axvline(th.cited_median_year, color=color, ls=":", lw=1.2,
                   label=f"{th.name}: cited median {th.cited_median_year:g}")
    ax.axhline(50, color="black", lw=0.8, alpha=0.5)
    ax.set_ylim(0, 105)
    observed_until(ax, until)
    ax.set_xlabel(YEAR_LABEL)
    ax.set_ylabel("probability reached (%)")
    ax.set_title("Capability thresholds", fontsize=11, loc="left")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), framealpha=0.9)
    return fig


def fig_pit(counts: tuple[int, ...]) -> Figure:
    """The PIT histogram of resolved predictions, with the count a calibrated model expects.

    Parameters
    ----------
    counts : tuple of int
        Predictions per PIT bin, equal bins over [0, 1].

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig = new_figure(6.0, 2.8)
    ax = fig.add_subplot()
    k = len(counts)
    edges = np.linspace(0.0, 1.0, k + 1)
    ax.bar(edges[:-1], counts, width=1.0 / k, align="edge", color=BLUE, alpha=0.75,
           edgecolor="white", label="resolved predictions")
    ax.axhline(sum(counts) / k, color="k", ls="--", lw=1, label="calibrated (uniform)")
    ax.set_xlim(0, 1)
    ax.set_xlabel("PIT: the predictive CDF at the observed value")
    ax.set_ylabel("predictions")
    ax.set_title("Calibration of pre-registered predictions", fontsize=11, loc="left")
    ax.legend(fontsize=7, loc="upper right", framealpha=0.9)
    return fig
