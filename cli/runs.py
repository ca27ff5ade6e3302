"""``gpt2030 infer``, ``runs list`` and ``forecast``: fit the model, list runs, read forecasts."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date
from pathlib import Path

from gpt2030.cli import CommandError
from gpt2030.inference.forecast import HEADLINES, forecast_table
from gpt2030.inference.runs import (
    BrokenRun,
    BrokenRunError,
    Run,
    RunError,
    broken_runs_with_key,
    default_runs_dir,
    latest_run,
    load_run,
    remedy,
    remove_run,
    scan_runs,
)
from gpt2030.inference.sampling import SAMPLERS, SamplerConfig
from gpt2030.models.priors import CONFIGS
from gpt2030.observations import Ledger, ledger_path


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``infer``, ``runs`` and ``forecast`` to the top-level parser."""
    p = sub.add_parser("infer", help="fit the model to the ledger and store the run",
                       description="Build the model from the ledger, sample the prior "
                       "predictive, posterior and posterior predictive, and store the run under "
                       "runs/. The same observations, config and seed reuse the stored run.")
    p.add_argument("--config", default="default", choices=list(CONFIGS),
                   help="priors and model variant (default: %(default)s)")
    p.add_argument("--prior-only", action="store_true", help="sample the prior predictive only")
    p.add_argument("--cutoff", metavar="DATE",
                   help="use only observations dated on or before DATE (YYYY[-MM[-DD]])")
    add_sampler_args(p)
    p.add_argument("--force", action="store_true", help="sample again even if a run exists")
    p.set_defaults(func=cmd_infer)

    r = sub.add_parser("runs", help="list or remove stored runs")
    rsub = r.add_subparsers(dest="action", required=True, metavar="ACTION")
    rl = rsub.add_parser(
        "list", help="runs with config, cutoff, seed, observation count and verdict",
        description="Every stored run, oldest first, with what tells runs apart: config, "
        "cutoff, seed, observations, verdict. A run that fails its checks (manifest, run.nc) "
        "is listed as broken, with the reason. The latest run (used when a command names "
        "none) is the latest of the default config, all observations, no cutoff, with a "
        "posterior.")
    rl.add_argument("--format", choices=["table", "json"], default="table")
    rl.set_defaults(func=cmd_runs_list)
    rr = rsub.add_parser("remove", help="delete one stored run (its folder under runs/)",
                         description="Delete runs/RUN_ID: the run's own files only; a folder "
                         "holding anything else is refused, and so is a fitted run whose "
                         "draws reweighted runs read (remove those first).")
    rr.add_argument("run_id", metavar="RUN_ID", help="the whole run id")
    rr.set_defaults(func=cmd_runs_remove)

    f = sub.add_parser("forecast", help="headline quantities of a run for a year")
    f.add_argument("--run", help="run id or unique prefix (default: the latest run of the "
                   "default config with all observations)")
    f.add_argument("--year", type=int, default=2030)
    f.add_argument("--quantity", action="append", choices=list(HEADLINES),
                   help="only this quantity (repeatable)")
    f.add_argument("--format", choices=["table", "json"], default="table")
    f.set_defaults(func=cmd_forecast)


def add_sampler_args(p: argparse.ArgumentParser) -> None:
    """``--draws --thin --tune --chains --seed --sampler``: every command that samples."""
    d = SamplerConfig()
    p.add_argument("--draws", type=int, default=d.draws,
                   help="draws kept per chain (%(default)s)")
    p.add_argument("--thin", type=int, default=d.thin,
                   help="sampler steps per kept draw (%(default)s)")
    p.add_argument("--tune", type=int, default=d.tune, help="tuning steps (%(default)s)")
    p.add_argument("--chains", type=int, default=d.chains, help="chains (%(default)s)")
    p.add_argument("--seed", type=int, default=2030, help="random seed (%(default)s)")
    p.add_argument("--sampler", choices=SAMPLERS, default=d.sampler,
                   help="NUTS implementation (%(default)s)")


def sampler_config(args: argparse.Namespace) -> SamplerConfig:
    """The sampler settings given on the command line, checked."""
    for name in ("draws", "chains", "thin"):
        if getattr(args, name) < 1:
            raise CommandError(f"--{name} must be at least 1")
    if args.tune < 0:
        raise CommandError("--tune must be 0 or more")
    if args.sampler == "nutpie" and args.tune < 1:
        # Checked here, for every command that samples: nutpie 0.16 panics without tuning.
        raise CommandError("nutpie needs --tune of at least 1; use --sampler pymc to sample "
                           "without tuning")
    return SamplerConfig(draws=args.draws, tune=args.tune, chains=args.chains,
                         sampler=args.sampler, thin=args.thin)


def open_ledger() -> Ledger:
    """The ledger under $GPT2030_HOME, validated: a broken ledger is never fitted.

    Every problem is printed to stderr, then the command is refused.
    """
    path = ledger_path()
    if not path.is_file():
        raise CommandError(f"no ledger at {path}: run from a gpt2030 checkout or set GPT2030_HOME")
    ledger = Ledger(path)
    problems = ledger.problems(today=date.today())
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        raise CommandError(f"the ledger has {len(problems)} problem(s) (listed above); fix them "
                           "first (`gpt2030 observe validate`)")
    return ledger


def cmd_infer(args: argparse.Namespace) -> int:
    """Fit the model to the ledger (or reuse the same run); print the run id last."""
    from gpt2030.inference.infer import InferRequest, infer, select_rows
    from gpt2030.observations.schema import parse_date
    from gpt2030.observations.store import ensure_writable

    if args.cutoff:
        try:
            parse_date(args.cutoff)
        except ValueError as err:
            raise CommandError(f"--cutoff: {err}") from None
    request = InferRequest(config=args.config, sampler=sampler_config(args), seed=args.seed,
                           cutoff=args.cutoff, prior_only=args.prior_only)
    if args.sampler == "numpyro":
        import importlib.util

        if importlib.util.find_spec("numpyro") is None:
            raise CommandError("--sampler numpyro needs numpyro: pip install numpyro")
    from gpt2030.inference.progress import Progress

    runs_dir = default_runs_dir()
    progress = Progress()
    with progress.stage("validate"):
        ledger = open_ledger()
    if args.cutoff and not select_rows(ledger.rows(), args.cutoff):
        raise CommandError(f"--cutoff {args.cutoff}: no observation is dated on or before it")
    ensure_writable(runs_dir)  # before minutes of sampling, not after
    run, reused = infer(ledger, runs_dir, request, force=args.force,
                        progressbar=sys.stderr.isatty(), progress=progress)
    if reused:
        print(f"reusing {run.id} (same observations, config and seed; --force to resample)")
    else:
        print(f"stored {run.path} (verdict: {run.manifest['verdict']}, "
              f"{run.manifest['timings']['total']:.1f} s wall clock)")
        note_refitted(runs_dir, run)
    print(header(run, default=False))
    print(run.id)
    return 0


def note_refitted(runs_dir: Path, run: Run) -> None:
    """Tell (on stderr) which broken runs of the same computation ``run`` replaces."""
    for broken in broken_runs_with_key(runs_dir, run.manifest["key"]):
        print(f"note: run {broken.id} ({broken.reason}) was the same computation and is "
              f"broken; fitted again as {run.id}. Remove it with `gpt2030 runs remove "
              f"{broken.id}`", file=sys.stderr)


def _list_row(r: Run | BrokenRun, latest_id: str | None) -> dict:
    if isinstance(r, Run):
        info = r.info
        return {"run_id": r.id, "created": info.created, "config": info.config
                + (" (prior only)" if info.prior_only else ""),
                "cutoff": info.cutoff or "", "seed": info.seed,
                "observations": info.n_observations, "verdict": info.verdict,
                "model_version": info.model_version, "latest": r.id == latest_id,
                "problem": None}
    config = r.field("config")
    return {"run_id": r.id, "created": r.created,
            "config": (config.get("name") if isinstance(config, dict) else None) or "?",
            "cutoff": r.field("cutoff") or "", "seed": r.field("seed"),
            "observations": r.field("n_observations"), "verdict": "broken",
            "model_version": r.field("model_version"), "latest": False, "problem": r.reason}


def cmd_runs_list(args: argparse.Namespace) -> int:
    """Print every stored run, broken ones with the reason, and which is the latest."""
    runs_dir = default_runs_dir()
    scanned = scan_runs(runs_dir)
    latest_id: str | None = None
    latest_note = "no run of the default config with all observations yet: `gpt2030 infer`"
    try:
        latest_id = latest_run(runs_dir).id
        latest_note = "* the latest run, used when a command names none"
    except BrokenRunError as err:
        latest_note = (f"the latest default run, {err.run_id}, is broken: commands that name "
                       "no run refuse until it is fitted again or removed")
    except RunError:
        pass
    rows = [_list_row(r, latest_id) for r in scanned]
    if args.format == "json":
        print(json.dumps(rows, indent=1))
        return 0
    if not rows:
        print("no runs yet: run `gpt2030 infer`")
        return 0
    cols = ["run_id", "created", "config", "cutoff", "seed", "observations", "verdict",
            "model_version"]
    shown = [{**r, "run_id": ("* " if r["latest"] else "  ") + r["run_id"],
              **{c: "" if r[c] is None else r[c] for c in cols if c != "run_id"}}
             for r in rows]
    widths = {c: max(len(c) + (2 if c == "run_id" else 0), *(len(str(r[c])) for r in shown))
              for c in cols}
    print("  ".join(("  " + c if c == "run_id" else c).ljust(widths[c]) for c in cols))
    for r in shown:
        print("  ".join(str(r[c]).ljust(widths[c]) for c in cols).rstrip())
    for r in scanned:
        if isinstance(r, BrokenRun):
            print(f"broken {r.id}: {r.reason}; {remedy(r.id, r.manifest)}")
    print(latest_note)
    return 0


def cmd_runs_remove(args: argparse.Namespace) -> int:
    """Delete one run's folder (its own files only); print the path."""
    path = remove_run(default_runs_dir(), args.run_id)
    print(f"removed {path}")
    return 0


def header(run: Run, default: bool) -> str:
    """The one line naming a run: config, cutoff, seed, observations, verdict."""
    return run.info.header() + (" (the latest run)" if default else "")


def load(run_id: str | None, machine_output: bool = True) -> Run:
    """A stored run, checked, with its header line printed.

    The header goes to stderr when stdout carries machine-readable output (JSON, CSV, a
    path), else to stdout. Refusals (no such run, a broken run) raise :class:`RunError`,
    which the CLI reports in one line.
    """
    run = load_run(default_runs_dir(), run_id)
    print(header(run, default=run_id is None), file=sys.stderr if machine_output else sys.stdout)
    return run


def cmd_forecast(args: argparse.Namespace) -> int:
    """Print a run's headline quantities for a year, as a table or JSON."""
    run = load(args.run, machine_output=args.format == "json")
    try:
        table = forecast_table(run.datatree(), args.year, args.quantity)
    except (KeyError, ValueError) as err:
        raise CommandError(str(err)) from None
    if args.format == "json":
        print(json.dumps({"run_id": run.id, "year": args.year, "verdict": run.info.verdict,
                          "quantities": table}, indent=1))
        return 0
    print(f"year {args.year}")
    print(f"{'quantity':<26}{'median':>11}{'5%':>11}{'25%':>11}{'75%':>11}{'95%':>11}  unit")
    for key, row in table.items():
        cells = "".join(f"{row[c]:>11.3g}" for c in ("median", "q05", "q25", "q75", "q95"))
        print(f"{key:<26}{cells}  {row['unit']}")
    return 0
