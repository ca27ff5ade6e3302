"""The report's figures: fan charts of a run's draws, with the observations overlaid.

Every function takes a run's DataTree (and, where it overlays evidence, the run's
``observations`` group as a DataFrame) and returns a :class:`matplotlib.figure.Figure` built
without pyplot on an Agg canvas, so nothing here touches matplotlib's global backend or
needs a display.
Every axis carries a label with its unit.
"""

from __future__ import annotations

import io
import math

import numpy as np
import pandas as pd
import xarray as xr
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from gpt2030.inference.forecast import draws_group
from gpt2030.models.essay import ESSAY_2030
from gpt2030.models.evidence import speed_setting
from gpt2030.observations import decimal_year, to_base

#: Colours, one per series; readable in print and for common colour-vision deficiencies.
BLUE, ORANGE, GREEN, PURPLE, GREY = "#1f5fa8", "#d9730d", "#2e8540", "#7b3fa0", "#555555"
YEAR_LABEL = "year"
BANDS = ((0.05, 0.95, 0.18), (0.25, 0.75, 0.35))


def new_figure(width: float = 9.5, height: float = 4.6) -> Figure:
    """A figure on its own Agg canvas (no pyplot, no global backend switch)."""
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _draws(dt: xr.DataTree, name: str) -> xr.DataArray:
    """A variable's draws, stacked to a leading ``sample`` dimension."""
    da = dt[draws_group(dt)][name]
    return da.stack(sample=("chain", "draw")).transpose("sample", ...)


def fan(ax, dt: xr.DataTree, name: str, color: str, label: str) -> None:
    """A fan chart of a ``year`` variable: 5-95% and 25-75% bands and the median."""
    da = _draws(dt, name)
    years = da["year"].values
    values = np.asarray(da.values, dtype=float)
    for lo, hi, alpha in BANDS:
        ax.fill_between(years, np.nanquantile(values, lo, axis=0),
                        np.nanquantile(values, hi, axis=0), color=color, alpha=alpha, lw=0,
                        label=f"{label}: {round(lo * 100)}-{round(hi * 100)}%")
    ax.plot(years, np.nanmedian(values, axis=0), color=color, lw=2, label=f"{label}: median")
    ax.set_xlim(years[0], years[-1])


def _num(text: object) -> float:
    try:
        return float(str(text))
    except ValueError:
        return math.nan


def observed(obs: pd.DataFrame, mask: pd.Series, target_unit_scale: float = 1.0) -> pd.DataFrame:
    """Rows under ``mask`` as ``t, value, low, high`` in base units (divided by the scale).

    ``low``/``high`` are NaN where the row states no interval.
    """
    rows = []
    for _, r in obs[mask].iterrows():
        value = _num(r["value"])
        if not math.isfinite(value):
            continue
        try:
            t = decimal_year(str(r["date"]))
            base = to_base(value, str(r["unit"]))
        except (ValueError, KeyError):
            continue
        low, high = _num(r.get("low", "")), _num(r.get("high", ""))
        rows.append({
            "t": t,
            "value": base / target_unit_scale,
            "low": to_base(low, str(r["unit"])) / target_unit_scale if math.isfinite(low)
            else math.nan,
            "high": to_base(high, str(r["unit"])) / target_unit_scale if math.isfinite(high)
            else math.nan,
        })
    return pd.DataFrame(rows, columns=["t", "value", "low", "high"])


def overlay(ax, points: pd.DataFrame, color: str, label: str, marker: str = "o") -> None:
    """Observed points with error bars where the observation states an interval."""
    if points.empty:
        return
    has = points["low"].notna() & points["high"].notna()
    lower = np.where(has, points["value"] - points["low"], 0.0).clip(min=0)
    upper = np.where(has, points["high"] - points["value"], 0.0).clip(min=0)
    ax.errorbar(points["t"], points["value"], yerr=[lower, upper], fmt=marker, ms=4,
                color=color, mec="black", mew=0.4, ecolor=color, elinewidth=1, capsize=2,
                alpha=0.85, label=label, zorder=5)


def _role(obs: pd.DataFrame, role: str) -> pd.Series:
    return obs["role"].astype(str) == role


def _finish(ax, ylabel: str, title: str, log: bool = True) -> None:
    if log:
        ax.set_yscale("log")
    ax.set_xlabel(YEAR_LABEL)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=11, loc="left")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=7.5, loc="upper left", bbox_to_anchor=(1.01, 1.0), framealpha=0.9)


def fig_compute(dt: xr.DataTree, obs: pd.DataFrame) -> Figure:
    """Frontier training compute (FLOP, log scale) with the compute observations."""
    fig = new_figure()
    ax = fig.add_subplot()
    fan(ax, dt, "training_compute", BLUE, "frontier compute")
    overlay(ax, observed(obs, _role(obs, "compute")), ORANGE, "observed training runs")
    essay = ESSAY_2030.get("training_compute_flop")
    if essay is not None:
        ax.plot([2030], [essay.median], marker="*", ms=12, color=PURPLE, ls="none",
                label="essay: 2030 median")
    _finish(ax, "training compute (FLOP)", "Frontier training compute")
    return fig


def fig_scaling(dt: xr.DataTree, obs: pd.DataFrame) -> Figure:
    """Parameters and training tokens of the frontier model, and the data available."""
    fig = new_figure()
    ax = fig.add_subplot()
    fan(ax, dt, "parameters", BLUE, "parameters")
    fan(ax, dt, "training_tokens", GREEN, "training tokens")
    fan(ax, dt, "data_available", GREY, "data available")
    role = _role(obs, "tokens_per_param")
    overlay(ax, observed(obs, role & (obs["kind"] == "parameters")), BLUE,
            "observed parameters", marker="s")
    overlay(ax, observed(obs, role & (obs["kind"] == "training_tokens")), GREEN,
            "observed training tokens", marker="D")
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


def fig_speed(dt: xr.DataTree, obs: pd.DataFrame) -> Figure:
    """Serial speed (tokens/s) against human thinking speed, with API speed measurements."""
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
    speed = _role(obs, "speed") & obs["metric"].astype(str).map(
        lambda m: speed_setting(m) == "api")
    overlay(ax, observed(obs, speed), GREEN, "observed API speeds")
    _finish(ax, "serial speed (tokens/s)", "Serial speed against human thinking speed")
    return fig


def fig_work(dt: xr.DataTree) -> Figure:
    """Human-speed work-years the training compute can run, and parallel copies."""
    fig = new_figure()
    ax = fig.add_subplot()
    fan(ax, dt, "work_years", BLUE, "work-years")
    fan(ax, dt, "parallel_copies", GREEN, "parallel copies")
    for key, color in (("work_years", BLUE), ("parallel_copies", GREEN)):
        essay = ESSAY_2030.get(key)
        if essay is not None:
            ax.plot([2030], [essay.median], marker="*", ms=12, color=color, mec="black",
                    ls="none", label=f"essay: {key.replace('_', ' ')} 2030")
    _finish(ax, "human-years of work; copies (count)",
            "Work-years of the training compute, and parallel copies")
    return fig


def capability_probabilities(dt: xr.DataTree, benchmark: str, accuracy: float,
                             years: range = range(2024, 2036)) -> dict[int, float]:
    """P(benchmark accuracy >= threshold) per year, from the run's draws."""
    da = dt[draws_group(dt)]["benchmark_accuracy"].sel(benchmark=benchmark)
    grid = set(int(y) for y in da["year"].values)
    return {y: float((np.asarray(da.sel(year=y).values) >= accuracy).mean())
            for y in years if y in grid}


def fig_capabilities(dt: xr.DataTree, thresholds) -> Figure:
    """P(threshold reached) by year, one line per threshold, with the cited median years."""
    fig = new_figure(height=4.0)
    ax = fig.add_subplot()
    colors = (BLUE, ORANGE, GREEN, PURPLE, GREY)
    available = set(dt[draws_group(dt)]["benchmark"].values) if "benchmark_accuracy" in \
        dt[draws_group(dt)] else set()
    for i, th in enumerate(thresholds):
        if th.benchmark not in available:
            continue
        probs = capability_probabilities(dt, th.benchmark, th.accuracy)
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
    """The figure as PNG bytes."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()
