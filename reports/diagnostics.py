"""Diagnostic plots of a run, drawn with arviz-plots: rank, predictive check, sensitivity.

:func:`write_plots` takes a run's DataTree and its :class:`~gpt2030.inference.diagnostics.
Diagnostics` (what :func:`~gpt2030.inference.diagnostics.check` computed) and writes
``rank.png``, ``predictive_check.png`` and ``sensitivity.png``; nothing here computes a
statistic the verdict depends on.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import arviz_plots as azp
import xarray as xr

from gpt2030.inference.diagnostics import (
    KEY_PARAMETERS,
    Diagnostics,
    observation_terms,
    quiet_arviz,
)
from gpt2030.inference.results import atomic_path

__all__ = ["KEY_PARAMETERS", "rank_parameters", "write_plots"]
#: Panels of the rank and sensitivity plots.
MAX_PANELS = 6
DPI = 110
#: Panels per row of arviz-plots' wrapped layouts (its default), and inches per panel.
COLUMNS = 4
PANEL = (3.4, 2.6)


def _figure(n_panels: int, columns: int = COLUMNS, height: float = PANEL[1]) -> dict:
    """arviz-plots ``figure_kwargs`` sizing a wrapped grid of ``n_panels`` panels."""
    rows = -(-n_panels // columns)
    return {"figsize": (PANEL[0] * min(n_panels, columns), height * rows),
            "layout": "constrained"}


def _element(ds: xr.Dataset, label: str) -> xr.DataArray:
    """The draws of one ``var[c1, c2]`` label of ``az.summary``'s index."""
    name, _, rest = label.partition("[")
    da = ds[name]
    if not rest:
        return da
    dims = [d for d in da.dims if d not in ("chain", "draw")]
    values = [rest[:-1]] if len(dims) == 1 else rest[:-1].split(", ")
    sel = {d: next(c for c in da[d].values if str(c) == v)
           for d, v in zip(dims, values, strict=True)}
    return da.sel(sel, drop=True)


def rank_parameters(dt: xr.DataTree, diagnostics: Diagnostics,
                    n: int = MAX_PANELS) -> list[str]:
    """The rank plot's parameters: the worst-converging, then the key scalar parameters.

    Parameters
    ----------
    dt : xarray.DataTree
        The run.
    diagnostics : Diagnostics
        Its diagnostics (``convergence`` is sorted worst first).
    n : int
        How many.

    Returns
    -------
    list of str
        ``az.summary`` labels.
    """
    post = dt["posterior"]
    worst = [str(row["parameter"]) for row in diagnostics.convergence]
    key = [p for p in KEY_PARAMETERS if p in post.data_vars and post[p].ndim == 2]
    return list(dict.fromkeys(worst[: n - len(key)] + key + worst))[:n]


def _save(pc: azp.PlotCollection, path: Path) -> Path:
    """Write a PlotCollection's figure atomically as PNG, and close it."""
    import matplotlib.pyplot as plt

    with atomic_path(path) as tmp:
        pc.savefig(tmp, format="png", dpi=DPI, bbox_inches="tight")
    plt.close(pc.get_viz("figure"))
    return path


def _nonempty(ds: xr.Dataset) -> xr.Dataset:
    return ds[[name for name, var in ds.data_vars.items() if var.size]]


def write_plots(dt: xr.DataTree, diagnostics: Diagnostics, outdir: Path) -> list[Path]:
    """Rank plots, a predictive check and a sensitivity plot as PNGs in ``outdir``.

    Parameters
    ----------
    dt : xarray.DataTree
        The run.
    diagnostics : Diagnostics
        Its diagnostics; ``plots`` is set to the written paths.
    outdir : pathlib.Path
        The folder (created if needed).

    Returns
    -------
    list of pathlib.Path
        ``rank.png`` (``azp.plot_rank``: uniform, overlapping ECDF differences when chains
        agree), ``predictive_check.png`` (``azp.plot_ppc_interval``: each observation
        against its 50% and 90% predictive intervals, per term) and ``sensitivity.png``
        (``azp.plot_psense_dist``: the most prior-sensitive scalar parameters under power
        scaling), each where the run has what it needs. Nothing for a prior-only run.
    """
    if diagnostics.prior_only or "posterior" not in dt.children:
        return []
    outdir.mkdir(parents=True, exist_ok=True)
    written = []
    post = dt["posterior"].to_dataset()
    names = rank_parameters(dt, diagnostics)
    if names:
        ranks = xr.DataTree.from_dict({"posterior": xr.Dataset(
            {name: _element(post, name) for name in names})})
        with quiet_arviz():
            pc = azp.plot_rank(ranks, backend="matplotlib", figure_kwargs=_figure(len(names)))
        written.append(_save(pc, outdir / "rank.png"))

    terms = observation_terms(dt)
    if terms:
        with quiet_arviz(), warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            pc = azp.plot_ppc_interval(dt, var_names=terms, backend="matplotlib",
                                       ci_probs=(0.5, 0.9), figure_kwargs=_figure(len(terms)))
        written.append(_save(pc, outdir / "predictive_check.png"))

    scalar = [s for s in sorted(diagnostics.sensitivity_all, key=lambda s: -s.prior)
              if s.parameter in post.data_vars and post[s.parameter].ndim == 2]
    if scalar and {"log_prior", "log_likelihood"} <= set(dt.children):
        names = [s.parameter for s in scalar[:MAX_PANELS]]
        # What power-scaling reads, without variables of no elements (a vector with no
        # levels, as a backtest's early cutoff has no benchmark variants: arviz-stats
        # cannot stack them over the draws).
        scaled = xr.DataTree.from_dict({group: _nonempty(dt[group].to_dataset()) for group in
                                        ("posterior", "log_prior", "log_likelihood")})
        with quiet_arviz():
            pc = azp.plot_psense_dist(scaled, var_names=names, backend="matplotlib",
                                      figure_kwargs=_figure(2 * len(names), columns=2,
                                                            height=2.0))
        written.append(_save(pc, outdir / "sensitivity.png"))
    diagnostics.plots = [str(p) for p in written]
    return written
