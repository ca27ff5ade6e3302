"""``gpt2030 report`` and ``gpt2030 update``: a run's report, and ledger -> run -> report."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from gpt2030.cli import CommandError
from gpt2030.cli.predict import checked_registry
from gpt2030.cli.runs import add_sampler_args, load, open_ledger, sampler_config
from gpt2030.models.priors import CONFIGS
from gpt2030.observations import default_home

if TYPE_CHECKING:
    from gpt2030.reports.png import Renderer


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``report`` and ``update`` to the top-level parser."""
    p = sub.add_parser(
        "report", help="write a run's report (one self-contained HTML file, and Markdown)",
        description="Write $GPT2030_HOME/reports/<run-id>/report.html (self-contained: "
        "figures embedded, opens offline) and report.md with its PNG figures beside it; "
        "print the HTML path.")
    p.add_argument("run", nargs="?", default=None,
                   help="run id or unique prefix (default: the latest run)")
    p.add_argument("--out", type=Path, metavar="DIR",
                   help="write the report files into DIR (created if missing) instead of "
                   "reports/<run-id>/; only report.html, report.md, evidence.csv and the "
                   "figures are written, nothing else in DIR is touched; a file or a gpt2030 "
                   "home is refused")
    p.set_defaults(func=cmd_report)

    u = sub.add_parser(
        "update", help="validate the ledger, infer (or reuse the run), diagnose, report",
        description="Validate the ledger (exit 2 if invalid), fit the model or reuse the "
        "stored run for the same observations, config and seed, and write its report. "
        "Exit 1 if the run's diagnostics fail (the report is still written, marked failing).")
    u.add_argument("--config", default="default", choices=list(CONFIGS),
                   help="priors and model variant (default: %(default)s)")
    add_sampler_args(u)
    u.add_argument("--force", action="store_true", help="sample again even if a run exists")
    add_refit_arg(u)
    u.set_defaults(func=cmd_update)


def add_refit_arg(p: argparse.ArgumentParser) -> None:
    """``--refit``: never reweight the stored posterior, always sample again."""
    p.add_argument("--refit", action="store_true",
                   help="fit the model again instead of reweighting the latest run's "
                   "posterior by the added observations (the fast path, taken when the "
                   "ledger only gained rows and the reweighting is reliable)")


def cmd_report(args: argparse.Namespace) -> int:
    """Write a run's report (the default folder or ``--out``); print report.html's path."""
    from gpt2030.reports.render import OutputFolderError, is_home
    from gpt2030.reports.report import write_report

    if args.out is not None:
        # Checked before the (slow) report is built; write_document checks again.
        if args.out.exists() and not args.out.is_dir():
            raise CommandError(f"--out: {args.out} is a file, not a folder")
        if args.out.is_dir() and is_home(args.out):
            raise CommandError(f"--out: {args.out} is a gpt2030 home (it holds the ledger or "
                               "runs): give another folder")
    run = load(args.run)
    if args.out is None:
        from gpt2030.observations.store import ensure_writable

        ensure_writable(default_home() / "reports")  # before the report is built, not after
    out = args.out or default_home() / "reports" / run.id
    try:
        path = write_report(run, out)
    except OutputFolderError as err:
        raise CommandError(f"--out: {err}") from None
    print(path)
    return 0


def advice(checks: list[dict], sampler: dict | None) -> list[str]:
    """What to do about each failing diagnostic check of a run, one line each.

    Parameters
    ----------
    checks : list of dict
        The manifest's ``diagnostics["checks"]`` (``name``, ``value``, ``threshold``,
        ``passed``, ``detail``).
    sampler : dict, optional
        The run's sampler settings (``draws``, ``tune``), to name the next setting to try.

    Returns
    -------
    list of str
        One line per failing check: what failed, by how much, and the command to try.
    """
    sampler = sampler or {}
    draws = int(sampler.get("draws") or 2500)
    tune = int(sampler.get("tune") or 1000)
    lines = []
    for c in checks:
        if c.get("passed"):
            continue
        name, value = str(c.get("name", "?")), c.get("value")
        shown = f"{value:.4g}" if isinstance(value, int | float) else str(value)
        what = f"{name} {shown} (needs {c.get('threshold', '?')}; {c.get('detail', '')})"
        if name in ("r_hat", "ess_bulk", "ess_tail"):
            todo = (f"the chains have not mixed enough: re-run with more draws, `gpt2030 "
                    f"update --force --draws {2 * draws}`")
        elif name in ("divergences", "treedepth", "e_bfmi"):
            todo = (f"the sampler struggled with the posterior's geometry: re-run with more "
                    f"tuning, `gpt2030 update --force --tune {2 * tune}`; if it persists, "
                    "`gpt2030 diagnose` shows the parameters involved")
        elif name.startswith("ppc_coverage90:"):
            term = name.split(":", 1)[1]
            todo = (f"the model misfits the {term} observations (more draws will not help): "
                    "`gpt2030 diagnose` lists the worst-fitting ones; check their values and "
                    "errors in the ledger")
        elif name == "pareto_k":
            todo = "the reweighted posterior is unreliable: `gpt2030 update --refit`"
        else:
            todo = "`gpt2030 diagnose` explains it"
        lines.append(f"{what}: {todo}")
    return lines


def run_update(args: argparse.Namespace) -> int:
    """Validate, infer or reuse, diagnose and report; 1 if diagnostics fail, else 0.

    Also what ``observe add --update`` calls: its arguments carry no sampler flags, so
    every setting missing from ``args`` takes its default. When the ledger differs from
    the latest default run only by added rows (and no ``--refit``, ``--force`` or other
    settings are given), the stored posterior is reweighted by the new rows'
    likelihood instead of refitted (:mod:`gpt2030.inference.reweight`), unless that is
    unreliable or impossible, and then it refits.
    """
    from gpt2030.reports.png import Renderer

    # The report's figure worker starts now, beside the validation and the fit, so that it
    # has imported what the figures need when the first one comes (then it waits).
    with Renderer() as renderer:
        return _update(args, renderer)


def _update(args: argparse.Namespace, renderer: Renderer) -> int:
    from gpt2030.inference.infer import InferRequest, infer
    from gpt2030.inference.progress import Progress
    from gpt2030.inference.reweight import try_reweight
    from gpt2030.inference.runs import default_runs_dir
    from gpt2030.inference.sampling import SamplerConfig
    from gpt2030.observations.store import ensure_writable

    progress = Progress()
    with progress.stage("validate"):
        ledger = open_ledger()
        checked_registry(default_home())  # refused before minutes of sampling
    config = getattr(args, "config", None) or "default"
    if config not in CONFIGS:
        raise CommandError(f"unknown config {config!r}; one of {', '.join(CONFIGS)}")
    sampler = sampler_config(args) if hasattr(args, "draws") else SamplerConfig()
    seed = getattr(args, "seed", None)
    request = InferRequest(config=config, sampler=sampler,
                           seed=2030 if seed is None else seed)
    runs_dir = default_runs_dir()
    for folder in (runs_dir, default_home() / "reports"):
        ensure_writable(folder)  # before minutes of sampling, not after
    force = bool(getattr(args, "force", False))
    figures = FigureStart(renderer, progress)
    got = None if force else try_reweight(ledger, runs_dir, request,
                                          refit=bool(getattr(args, "refit", False)),
                                          progress=progress, on_posterior=figures)
    if got is not None:
        run, reused = got
    else:
        run, reused = infer(ledger, runs_dir, request, force=force,
                            progressbar=sys.stderr.isatty(), progress=progress,
                            on_posterior=figures)
    from gpt2030.cli.runs import header, note_refitted

    verdict = run.info.verdict
    print(f"{'reusing' if reused else 'stored'} run {run.id} (diagnostics: {verdict})")
    if not reused:
        note_refitted(runs_dir, run)
    print(header(run, default=False))
    from gpt2030.reports.report import write_report

    if figures.run_id != run.id:  # a reused run: not started yet
        figures(run.datatree(), run.manifest)
    keep_score(run, ledger, progress)
    with progress.stage("report"):
        path = write_report(run, default_home() / "reports" / run.id, renderer=renderer,
                            started=figures.started)
    print(path)
    if verdict != "pass":
        checks = (run.manifest.get("diagnostics") or {}).get("checks", [])
        failing = [c["name"] for c in checks if not c.get("passed")]
        print(f"gpt2030: diagnostics fail ({', '.join(failing) or verdict}): the report is "
              "marked failing", file=sys.stderr)
        for line in advice(checks, run.manifest.get("sampler")):
            print(f"gpt2030:   {line}", file=sys.stderr)
        return 1
    return 0


class FigureStart:
    """The report's main figures, handed to the drawing worker as early as possible.

    A new run, reweighted or fitted, calls it before its diagnostics and save
    (``on_posterior`` of ``try_reweight`` and ``infer``; a reweighted run as soon as its
    draws are known, with only the groups the figures read), a reused one right away: the
    worker builds and draws them (~4-5 s) while the run is checked and saved and the
    predictions are registered.
    """

    def __init__(self, renderer: Renderer, progress) -> None:
        self.renderer = renderer
        self.progress = progress
        self.started = None
        self.run_id: str | None = None

    def __call__(self, dt, manifest: dict) -> None:
        """Build the sections of the run ``manifest`` names and hand their figures over."""
        from gpt2030.inference.reporting import manifest_context
        from gpt2030.reports.sections import figure_sections

        with self.progress.stage("figures", detail="drawn by a second process meanwhile"
                                 if self.renderer.has_worker else "drawn with the report"):
            self.started = figure_sections(manifest_context(manifest), dt,
                                           render=self.renderer)
        self.run_id = str(manifest["run_id"])


def keep_score(run, ledger, progress) -> None:
    """Register the shipped targets for a default run (once per run), then score.

    Parameters
    ----------
    run : Run
        The run ``update`` made or reused: its predictions are registered when it is of the
        default config, fitted to all observations, and passes its diagnostics (a failing
        run's draws are not to be trusted; ``predict register --run ID`` registers them
        anyway).
    ledger : Ledger
        The ledger whose rows may settle open predictions.
    progress : Progress
        Prints one line per stage.
    """
    from gpt2030.inference.predictions import RegistryError, register, score

    home = default_home()
    info = run.info
    default = info.config == "default" and info.cutoff is None and not info.prior_only
    if default and info.verdict != "pass":
        progress.note(f"predictions not registered: run {run.id} fails its diagnostics "
                      f"(`gpt2030 predict register --run {run.id}` registers them anyway)")
    if default and info.verdict == "pass":
        try:
            with progress.stage("register") as stage:
                done = register(run, home, ledger_rows=ledger.rows())
                stage["detail"] = (f"{len(done.predictions)} prediction(s) of the shipped "
                                   f"targets for run {run.id}"
                                   + (f"; {len(done.skipped)} skipped (registered "
                                      "already, window opened, or already known)"
                                      if done.skipped else ""))
        except Exception as err:
            # A malformed registry was refused before sampling (checked_registry); anything
            # failing here is this run's predictive, which the report does not need.
            first = (str(err).strip().splitlines() or [type(err).__name__])[0]
            progress.note(f"predictions not registered: {first} (`gpt2030 predict register "
                          f"--run {run.id}` tries again)")
    try:
        with progress.stage("score") as stage:
            scored = score(home, ledger.rows())
            stage["detail"] = (f"{len(scored.resolved)} prediction(s) resolved, "
                               f"{scored.still_open} open (`gpt2030 predict list`)")
    except RegistryError as err:
        raise CommandError(str(err)) from None
    for line in scored.stale:
        progress.note(f"note: {line}")


def cmd_update(args: argparse.Namespace) -> int:
    """Validate, infer or reuse, report: :func:`run_update` on the parsed flags."""
    return run_update(args)
