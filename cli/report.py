"""``gpt2030 report`` and ``gpt2030 update``: a run's report, and ledger -> run -> report."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gpt2030.cli import CommandError
from gpt2030.cli.runs import add_sampler_args, load, open_ledger, sampler_config
from gpt2030.models.priors import CONFIGS
from gpt2030.observations import default_home


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
                   "reports/<run-id>/; only report.html, report.md and the figures are "
                   "written, nothing else in DIR is touched; a file or a gpt2030 home is "
                   "refused")
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
    u.set_defaults(func=cmd_update)


def cmd_report(args: argparse.Namespace) -> int:
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
    out = args.out or default_home() / "reports" / run.id
    try:
        path = write_report(run, out)
    except OutputFolderError as err:
        raise CommandError(f"--out: {err}") from None
    print(path)
    return 0


def run_update(args: argparse.Namespace) -> int:
    """Validate, infer or reuse, diagnose and report; 1 if diagnostics fail, else 0.

    Also what ``observe add --update`` calls: its arguments carry no sampler flags, so
    every setting missing from ``args`` takes its default.
    """
    from gpt2030.inference.infer import InferRequest, infer
    from gpt2030.inference.runs import default_runs_dir
    from gpt2030.inference.sampling import SamplerConfig
    from gpt2030.reports.report import write_report

    ledger = open_ledger()
    config = getattr(args, "config", None) or "default"
    if config not in CONFIGS:
        raise CommandError(f"unknown config {config!r}; one of {', '.join(CONFIGS)}")
    sampler = sampler_config(args) if hasattr(args, "draws") else SamplerConfig()
    seed = getattr(args, "seed", None)
    request = InferRequest(config=config, sampler=sampler,
                           seed=2030 if seed is None else seed)
    from gpt2030.observations.store import ensure_writable

    for folder in (default_runs_dir(), default_home() / "reports"):
        ensure_writable(folder)  # before minutes of sampling, not after
    run, reused = infer(ledger, default_runs_dir(), request,
                        force=bool(getattr(args, "force", False)), progressbar=sys.stderr.isatty())
    from gpt2030.cli.runs import header, note_refitted

    verdict = run.info.verdict
    print(f"{'reusing' if reused else 'stored'} run {run.id} (diagnostics: {verdict})")
    if not reused:
        note_refitted(default_runs_dir(), run)
    print(header(run, default=False))
    path = write_report(run, default_home() / "reports" / run.id)
    print(path)
    if verdict != "pass":
        failing = [c["name"] for c in (run.manifest.get("diagnostics") or {}).get("checks", [])
                   if not c.get("passed")]
        print(f"gpt2030: diagnostics fail ({', '.join(failing) or verdict}): the report is "
              "marked failing", file=sys.stderr)
        return 1
    return 0


def cmd_update(args: argparse.Namespace) -> int:
    return run_update(args)
