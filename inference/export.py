"""Export a run's headline draws by year: a long CSV or a netCDF Dataset, written atomically."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import xarray as xr

from gpt2030.inference.forecast import HEADLINES, draws_group
from gpt2030.inference.results import atomic_path
from gpt2030.inference.runs import Run

FORMATS = {"csv": ".csv", "netcdf": ".nc"}
CSV_COLUMNS = ("chain", "draw", "year", "quantity", "value")


def headline_dataset(dt: xr.DataTree) -> xr.Dataset:
    """Every headline quantity over ``(chain, draw, year)``, named by its headline key.

    Parameters
    ----------
    dt : xarray.DataTree
        A run (its posterior, or its prior for a prior-only run).

    Returns
    -------
    xarray.Dataset
        Each variable carries ``unit``, ``label`` and ``variable`` attributes.
    """
    group = draws_group(dt)
    source = dt[group]
    data = {}
    for key, q in HEADLINES.items():
        da = source[q.variable].transpose("chain", "draw", "year")
        data[key] = da.copy().assign_attrs(unit=q.unit, label=q.label, variable=q.variable)
    ds = xr.Dataset(data)
    ds.attrs.update(group=group, run_id=str(dt.attrs.get("run_id", "")))
    return ds


def headline_frame(ds: xr.Dataset) -> pd.DataFrame:
    """The long table ``chain, draw, year, quantity, value`` (quantities in HEADLINES order).

    Parameters
    ----------
    ds : xarray.Dataset
        :func:`headline_dataset`.

    Returns
    -------
    pandas.DataFrame
        One row per quantity, chain, draw and year, in that order of nesting.
    """
    series = ds.to_dataarray(dim="quantity", name="value").to_series()
    return series.reset_index()[list(CSV_COLUMNS)]


def default_path(run: Run, fmt: str) -> Path:
    """``runs/<id>/export.csv`` or ``.nc``.

    Parameters
    ----------
    run : Run
        A stored run.
    fmt : str
        ``csv`` or ``netcdf``.

    Returns
    -------
    pathlib.Path
    """
    return run.path / f"export{FORMATS[fmt]}"


def export_run(run: Run, fmt: str = "csv", out: Path | None = None) -> Path:
    """Write the run's headline draws to ``out`` (default ``runs/<id>/export.csv|.nc``).

    The file is written to a temporary name in the same folder and renamed into place, so a
    reader never sees a half-written export.

    Parameters
    ----------
    run : Run
        A stored run.
    fmt : str
        ``csv`` (:func:`headline_frame`) or ``netcdf`` (:func:`headline_dataset`).
    out : pathlib.Path, optional
        The file to write.

    Returns
    -------
    pathlib.Path
        The file written.

    Raises
    ------
    ValueError
        An unknown format.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; one of {', '.join(FORMATS)}")
    path = Path(out) if out is not None else default_path(run, fmt)
    path.parent.mkdir(parents=True, exist_ok=True)
    ds = headline_dataset(run.datatree())
    ds.attrs["run_id"] = run.id
    with atomic_path(path) as tmp:
        if fmt == "csv":
            headline_frame(ds).to_csv(tmp, index=False)
        else:
            ds.to_netcdf(tmp)
    return path
