"""``gpt2030 infer``, ``runs list`` and ``forecast``: fit the model, list runs, read forecasts."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date

from gpt2030.cli import CommandError
from gpt2030.inference.forecast import HEADLINES, forecast_table
from gpt2030.inference.runs import RunError, default_runs_dir, list_runs, load_run
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

    r = sub.add_parser("runs", help="list stored runs")
    rsub = r.add_subparsers(dest="action", required=True, metavar="ACTION")
    rl = rsub.add_parser("list", help="runs with date, observation count and verdict")
    rl.add_argument("--format", choices=["table", "json"], default="table")
    rl.set_defaults(func=cmd_runs_list)

    f = sub.add_parser("forecast", help="headline quantities of a run for a year")
    f.add_argument("--run", help="run id or unique prefix (default: the latest)")
    f.add_argument("--year", type=int, default=2030)
    f.add_argument("--quantity", action="append", choices=list(HEADLINES),
                   help="only this quantity (repeatable)")
    f.add_argument("--format", choices=["table", "json"], default="table")
    f.set_defaults(func=cmd_forecast)


def add_sampler_args(p: argparse.ArgumentParser) -> None:
    """``--draws --tune --chains --seed --sampler``, shared by every command that samples."""
    d = SamplerConfig()
    p.add_argument("--draws", type=int, default=d.draws, help="draws per chain (%(default)s)")
    p.add_argument("--tune", type=int, default=d.tune, help="tuning steps (%(default)s)")
    p.add_argument("--chains", type=int, default=d.chains, help="chains (%(default)s)")
    p.add_argument("--seed", type=int, default=2030, help="random seed (%(default)s)")
    p.add_argument("--sampler", choices=SAMPLERS, default=d.sampler,
                   help="NUTS implementation (%(default)s)")


def sampler_config(args: argparse.Namespace) -> SamplerConfig:
    """The sampler settings given on the command line, checked."""
    for name in ("draws", "chains"):
        if getattr(args, name) < 1:
            raise CommandError(f"--{name} must be at least 1")
    if args.tune < 0:
        raise CommandError("--tune must be 0 or more")
    if args.sampler == "nutpie" and args.tune < 1:
        # Checked here, for every command that samples: nutpie 0.16 panics without tuning.
        raise CommandError("nutpie needs --tune of at least 1; use --sampler pymc to sample "
                           "without tuning")
    return SamplerConfig(draws=args.draws, tune=args.tune, chains=args.chains,
                         sampler=args.sampler)


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
    from gpt2030.inference.infer import InferRequest, infer
    from gpt2030.observations.schema import parse_date

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
    run, reused = infer(open_ledger(), default_runs_dir(), request, force=args.force,
                        progressbar=True)
    if reused:
        print(f"reusing {run.id} (same observations, config and seed; --force to resample)")
    else:
        print(f"stored {run.path} (verdict: {run.manifest['verdict']}, "
              f"{run.manifest['timings']['total']:.1f} s)")
    print(run.id)
    return 0


def cmd_runs_list(args: argparse.Namespace) -> int:
    runs = list_runs(default_runs_dir())
    rows = [{"run_id": r.id, "created": r.manifest.get("created"),
             "config": r.manifest.get("config", {}).get("name"),
             "observations": r.manifest.get("n_observations"),
             "cutoff": r.manifest.get("cutoff") or "", "verdict": r.manifest.get("verdict"),
             "model_version": r.manifest.get("model_version")} for r in runs]
    if args.format == "json":
        print(json.dumps(rows, indent=1))
        return 0
    if not rows:
        print("no runs yet: run `gpt2030 infer`")
        return 0
    cols = list(rows[0])
    widths = {c: max(len(c), *(len(str(r[c])) for r in rows)) for c in cols}
    print("  ".join(c.ljust(widths[c]) for c in cols))
    for r in rows:
        print("  ".join(str(r[c]).ljust(widths[c]) for c in cols))
    return 0


def load(run_id: str | None):
    """A stored run, with a refusal the CLI reports in one line."""
    try:
        return load_run(default_runs_dir(), run_id)
    except RunError as err:
        raise CommandError(str(err)) from None


def cmd_forecast(args: argparse.Namespace) -> int:
    run = load(args.run)
    try:
        table = forecast_table(run.datatree(), args.year, args.quantity)
    except (KeyError, ValueError) as err:
        raise CommandError(str(err)) from None
    if args.format == "json":
        print(json.dumps({"run_id": run.id, "year": args.year, "verdict":
                          run.manifest.get("verdict"), "quantities": table}, indent=1))
        return 0
    print(f"run {run.id}  year {args.year}  verdict {run.manifest.get('verdict')}")
    print(f"{'quantity':<26}{'median':>11}{'5%':>11}{'25%':>11}{'75%':>11}{'95%':>11}  unit")
    for key, row in table.items():
        cells = "".join(f"{row[c]:>11.3g}" for c in ("median", "q05", "q25", "q75", "q95"))
        print(f"{key:<26}{cells}  {row['unit']}")
    return 0
