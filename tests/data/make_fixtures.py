"""Rebuild the fixture runs in ``tests/data/runs/`` from full-size stored runs.

Usage: ``python tests/data/make_fixtures.py RUN_DIR [RUN_DIR ...]``

The fixtures are real runs of the shipped model (see each ``manifest.json`` for how they
were sampled), made small enough to ship: the ``prior`` and ``prior_predictive`` groups are
thinned to their first :data:`PRIOR_DRAWS` draws (nothing the fast tests read depends on the
other 900), and every numeric variable is stored zlib-compressed. The posterior, sample
stats, predictive, log-likelihood, log-prior and observations groups are kept whole.

Each fixture also carries its value-of-information result (``value_of_information.json``,
the command's default settings), so that reports and commands read it instead of
computing it; ``--voi-only`` recomputes only that file in existing fixtures (after a change
to gpt2030/inference/voi.py that bumps its ``VERSION``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import xarray as xr

HERE = Path(__file__).resolve().parent / "runs"
PRIOR_DRAWS = 100


def store_value_of_information(folder: Path) -> Path:
    """Compute and store a fixture run's value of information (default settings)."""
    from gpt2030.inference import voi
    from gpt2030.inference.runs import load_run

    path = folder / voi.CACHE
    path.unlink(missing_ok=True)
    voi.for_run(load_run(folder.parent, folder.name))
    return path


def shrink(src: Path, dest_root: Path = HERE) -> Path:
    """Copy a run folder into ``dest_root`` with thinned prior groups and compression."""
    dt = xr.load_datatree(src / "run.nc")
    for group in ("prior", "prior_predictive"):
        if group in dt.children:
            dt[group] = dt[group].to_dataset().isel(draw=slice(0, PRIOR_DRAWS))
    encoding = {}
    for node in dt.subtree:
        ds = node.to_dataset()
        encoding[node.path] = {v: {"zlib": True, "complevel": 9} for v in ds.data_vars
                               if ds[v].dtype.kind in "fiub"}
    dest = dest_root / src.name
    dest.mkdir(parents=True, exist_ok=True)
    dt.to_netcdf(dest / "run.nc", encoding=encoding)
    # The manifest records the size of run.nc at save (a listing checks it without opening
    # the file): the shrunk file's, not the full run's, or every fixture reads as broken.
    manifest = json.loads((src / "manifest.json").read_text())
    if "run_nc_bytes" in manifest:
        manifest["run_nc_bytes"] = (dest / "run.nc").stat().st_size
    (dest / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    store_value_of_information(dest)
    return dest


if __name__ == "__main__":
    if sys.argv[1:2] == ["--voi-only"]:
        for arg in sys.argv[2:] or [str(p) for p in sorted(HERE.iterdir()) if p.is_dir()]:
            print(store_value_of_information(Path(arg)))
    else:
        for arg in sys.argv[1:]:
            print(shrink(Path(arg)))
