"""A run's report: build the document; write ``report.html``, ``report.md``, figures, CSV."""

from __future__ import annotations

from pathlib import Path

import xarray as xr

from gpt2030.inference.reporting import Manifest
from gpt2030.inference.runs import Run
from gpt2030.reports.png import Renderer
from gpt2030.reports.render import Document, write_document
from gpt2030.reports.sections import YEAR, FigureSections, build_sections, evidence_file


def default_report_dir(run: Run, home: Path | None = None) -> Path:
    """``<home>/reports/<run-id>``; the home is the one holding the run's ``runs/`` folder.

    Parameters
    ----------
    run : Run
        A stored run.
    home : pathlib.Path, optional
        The home folder (by default, the one holding the run).

    Returns
    -------
    pathlib.Path
    """
    return (home or run.path.parent.parent) / "reports" / run.id


def build_document(run: Run, dt: xr.DataTree | None = None, year: int = YEAR,
                   renderer: Renderer | None = None,
                   started: FigureSections | None = None) -> Document:
    """The report of a stored run as a :class:`Document` (nothing written).

    Its attachment ``evidence.csv`` holds every observation of the run.

    Parameters
    ----------
    run : Run
        A stored run.
    dt : xarray.DataTree, optional
        Its DataTree, when already read.
    year : int
        The year of the headline forecast.
    renderer : Renderer, optional
        A figure worker already started (by default, one for this report).
    started : FigureSections, optional
        :func:`~gpt2030.reports.sections.figure_sections` of this run, year and renderer,
        when the caller started them earlier (``update``: before the run's diagnostics).

    Returns
    -------
    Document
    """
    dt = dt if dt is not None else run.datatree()
    m = Manifest.from_dict(run.manifest)
    n_obs = "?" if m.n_observations is None else m.n_observations
    subtitle = (f"Run {run.id} · created {m.created or '?'} · config {m.config_name} · "
                f"{n_obs} observations · diagnostics {m.verdict.upper()}. A Bayesian reading "
                "of Steinhardt (2023), \"What will GPT-2030 look like?\".")
    sections = build_sections(run, dt, year, renderer, started)
    return Document("GPT-2030 forecast report", subtitle, sections,
                    attachments=[evidence_file(dt)])


def write_report(run: Run, out_dir: Path | None = None, dt: xr.DataTree | None = None,
                 year: int = YEAR, renderer: Renderer | None = None,
                 started: FigureSections | None = None) -> Path:
    """Write the report of ``run`` into ``out_dir`` (atomically); return report.html's path.

    Parameters
    ----------
    run : Run
        A stored run.
    out_dir : pathlib.Path, optional
        The folder (``<home>/reports/<run-id>`` by default).
    dt : xarray.DataTree, optional
        Its DataTree, when already read.
    year : int
        The year of the headline forecast.
    renderer : Renderer, optional
        A figure worker already started (by default, one for this report).
    started : FigureSections, optional
        :func:`~gpt2030.reports.sections.figure_sections` of this run, year and renderer,
        when the caller started them earlier (``update``: before the run's diagnostics).

    Returns
    -------
    pathlib.Path
        ``report.html``.
    """
    doc = build_document(run, dt, year, renderer, started)
    return write_document(doc, Path(out_dir) if out_dir else default_report_dir(run))
