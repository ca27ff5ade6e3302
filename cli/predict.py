"""``gpt2030 predict``: register, score and list pre-registered predictions."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date, timedelta

from gpt2030.cli import CommandError

_TARGET_FLAGS = ("date", "start", "count", "benchmark", "kind", "subject", "metric", "unit",
                 "status", "confidence", "why")


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``predict`` and its sub-commands to the top-level parser."""
    p = sub.add_parser(
        "predict", help="pre-registered predictions: register a run's forecasts of future "
        "facts, score them when the facts arrive, list the track record",
        description="Keep score: a run's predictive distribution of named future facts is "
        "stored in $GPT2030_HOME/observations/predictions.jsonl before the facts are known, "
        "and scored (CRPS, log score, PIT, 50%/90% coverage) when ledger rows settle them.")
    psub = p.add_subparsers(dest="action", required=True, metavar="ACTION")

    r = psub.add_parser(
        "register", help="store a run's forecasts of future facts (the shipped targets, or "
        "one given with --target)",
        description="Register the predictions of a run (default: the latest run of the "
        "default config) for the shipped targets whose windows are still open, or for one "
        "target given with --target. A target is registered once per run. Target kinds: "
        "max_compute (the largest training compute reported for a model released in a "
        "window), median_speed (the median served speed of the API aliases read in a "
        "month), best_benchmark (the best score on a benchmark in a window), ledger (one "
        "ledger kind, subject and metric at a date).",
        epilog="examples:\n  gpt2030 predict register\n"
        "  gpt2030 predict register --target max_compute --date 2028 --count 10\n"
        "  gpt2030 predict register --target median_speed --date 2027-06\n"
        "  gpt2030 predict register --target best_benchmark --benchmark \"GPQA Diamond\" "
        "--date 2027-12-31\n"
        "  gpt2030 predict register --target ledger --kind inference_speed --subject gpt-4o "
        "--metric \"OpenAI API\" --unit tokens/s --date 2027-03",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    r.add_argument("--run", help="run id or unique prefix (default: the latest run)")
    r.add_argument("--target", metavar="KIND", help="register one target of this kind "
                   "instead of the shipped set: max_compute, median_speed, best_benchmark or "
                   "ledger")
    r.add_argument("--date", help="the window's end (max_compute, best_benchmark: YYYY, "
                   "YYYY-MM or YYYY-MM-DD, the period's last day), the month (median_speed: "
                   "YYYY-MM) or the target date (ledger: its period is the window)")
    r.add_argument("--start", help="max_compute, best_benchmark: the window's first day "
                   "(default: a year before the end)")
    r.add_argument("--count", type=int, help="max_compute, median_speed, best_benchmark: how "
                   "many models, aliases or systems the maximum or median is over (default "
                   "10, 9, 5: the shipped ledger's rates)")
    r.add_argument("--benchmark", help="best_benchmark: the benchmark (a ledger metric)")
    r.add_argument("--kind", help="ledger: the observation kind")
    r.add_argument("--subject", help="ledger: the subject")
    r.add_argument("--metric", default=None, help="ledger: the metric")
    r.add_argument("--unit", help="ledger: the unit of the row (default: the kind's base unit)")
    r.add_argument("--status", help="ledger: the row's status (default measured): sets the "
                   "measurement error the prediction includes")
    r.add_argument("--confidence", help="ledger: the row's confidence label")
    r.add_argument("--why", help="one line: what the forecast's argument takes from it")
    r.add_argument("--draws", type=int, default=1000, help="posterior draws a prediction is "
                   "made from at most, thinned evenly (%(default)s: enough for its 1st and "
                   "99th percentiles)")
    r.set_defaults(func=cmd_register)

    s = psub.add_parser(
        "score", help="resolve and score every open prediction the ledger now settles",
        description="For every registered prediction not yet resolved, look for ledger rows "
        "that settle it (added on or after its registration; an aggregate only 120 days "
        "after its window has closed, as facts arrive late), and append its resolution: "
        "the rows, the observed value, CRPS, log score, PIT, and whether it fell inside the "
        "50% and 90% intervals. A resolution is never redone.")
    s.set_defaults(func=cmd_score)

    lst = psub.add_parser("list", help="the registered predictions, open and resolved")
    which = lst.add_mutually_exclusive_group()
    which.add_argument("--resolved", action="store_true", help="only resolved predictions")
    which.add_argument("--open", action="store_true", help="only open predictions")
    lst.add_argument("--format", choices=["table", "csv", "json"], default="table")
    lst.set_defaults(func=cmd_list)


def _home():
    from gpt2030.observations import default_home

    return default_home()


def _refused(err: Exception) -> CommandError:
    return CommandError(str(err))


def checked_registry(home):
    """The home's prediction registry, read and checked: a malformed one is refused.

    What every command that reads or appends to the registry calls first, so that a bad
    line is refused before any work (minutes of sampling, for ``update``), not after.

    Parameters
    ----------
    home : pathlib.Path
        A gpt2030 home.

    Returns
    -------
    gpt2030.inference.predictions.Registry

    Raises
    ------
    CommandError
        The registry's first problem (the command exits with status 2).
    """
    from gpt2030.inference.predictions import RegistryError, read_registry, registry_path

    try:
        return read_registry(registry_path(home))
    except RegistryError as err:
        raise _refused(err) from None


def _year_before(end: date) -> date:
    try:
        start = end.replace(year=end.year - 1)
    except ValueError:  # 29 February
        start = end.replace(year=end.year - 1, day=28)
    return start + timedelta(days=1)


def target_from_args(args: argparse.Namespace):
    """The :class:`~gpt2030.inference.targets.Target` the flags describe (checked).

    Raises
    ------
    CommandError
        An unknown kind, a missing or malformed flag, a flag of another kind.
    """
    from gpt2030.inference.targets import DEFAULT_COUNT, TARGET_KINDS, Target, TargetError
    from gpt2030.observations.schema import parse_date

    kind = args.target
    if kind not in TARGET_KINDS:
        raise CommandError(f"unknown target kind {kind!r}; one of {', '.join(TARGET_KINDS)}")
    if not args.date:
        raise CommandError(f"--target {kind} needs --date")
    try:
        first, last = parse_date(args.date)
        start = parse_date(args.start)[0] if args.start else None
    except ValueError as err:
        raise CommandError(f"--date/--start: {err}") from None
    if start is not None and kind not in ("max_compute", "best_benchmark"):
        raise CommandError(f"--start is for max_compute and best_benchmark, not {kind}")
    if args.count is not None and kind == "ledger":
        raise CommandError("a ledger target is one row: drop --count")
    count = DEFAULT_COUNT[kind] if args.count is None else args.count
    if kind == "median_speed" and len(args.date) != 7:
        raise CommandError(f"--date {args.date}: a median_speed target is a month, YYYY-MM")
    if kind in ("max_compute", "best_benchmark"):
        first = start or _year_before(last)
    try:
        target = Target(kind, first.isoformat(), last.isoformat(), count,
                        benchmark=args.benchmark or "", obs_kind=args.kind or "",
                        subject=args.subject or "", metric=args.metric or "",
                        date=args.date if kind == "ledger" else "", unit=args.unit or "",
                        status=args.status or "", confidence=args.confidence or "",
                        why=args.why or "")
        target.check()
    except TargetError as err:
        raise _refused(err) from None
    return target


def cmd_register(args: argparse.Namespace) -> int:
    """Register a run's predictions of the shipped targets, or of the one --target."""
    from gpt2030.cli.runs import load
    from gpt2030.inference.predictions import RegistryError
    from gpt2030.inference.predictions import register as register_predictions
    from gpt2030.observations import ledger_path
    from gpt2030.reports.numbers import fmt, interval90

    if args.draws < 10:
        raise CommandError("--draws must be at least 10")
    targets = None
    if args.target is not None:
        targets = [target_from_args(args)]
    else:
        given = [f for f in _TARGET_FLAGS if getattr(args, f) is not None]
        if given:
            raise CommandError(f"--{given[0]} describes a target: give it with --target KIND "
                               "(without --target the shipped targets are registered)")
    home = _home()
    checked_registry(home)
    run = load(args.run, machine_output=False)
    from gpt2030.cli.runs import open_ledger

    path = ledger_path(home)
    rows = open_ledger().rows() if path.is_file() else []  # validated: bad rows refused
    try:
        result = register_predictions(run, home, targets, ledger_rows=rows,
                                      max_draws=args.draws)
    except RegistryError as err:
        raise _refused(err) from None
    for p in result.predictions:
        print(f"registered {p.target.id}: median {fmt(p.shown(0.5))} {p.unit}, 90% "
              f"{interval90(p, ' to ')} ({p.target.describe()})")
    for target_id, why in result.skipped:
        print(f"skipped {target_id}: {why}")
    print(f"{len(result.predictions)} prediction(s) of run {run.id} registered in "
          f"{result.path}")
    return 0


def cmd_score(args: argparse.Namespace) -> int:
    """Resolve and score the open predictions the ledger now settles; print each."""
    from gpt2030.cli.runs import open_ledger
    from gpt2030.inference.predictions import RegistryError, score
    from gpt2030.inference.targets import to_display
    from gpt2030.reports.numbers import fmt, interval90

    home = _home()
    checked_registry(home)
    ledger = open_ledger()
    try:
        result = score(home, ledger.rows())
    except RegistryError as err:
        raise _refused(err) from None
    for p, r in result.resolved:
        observed = fmt(to_display(r.observed, p.scale))
        print(f"resolved {p.id}: observed {observed} {p.unit} (rows {', '.join(r.rows)}); "
              f"predicted median {fmt(p.shown(0.5))}, 90% {interval90(p, ' to ')}; "
              f"PIT {r.pit:.3f}, CRPS {r.crps:.3f}, inside 50%: "
              f"{'yes' if r.covered50 else 'no'}, inside 90%: {'yes' if r.covered90 else 'no'}")
    for line in result.stale:
        print(f"note: {line}", file=sys.stderr)
    print(f"{len(result.resolved)} prediction(s) resolved, {result.still_open} still open")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    """Print the registered predictions (open, resolved or both) as a table, CSV or JSON."""
    import pandas as pd

    from gpt2030.inference.predictions import entries
    from gpt2030.reports.numbers import fmt

    registry = checked_registry(_home())
    path = registry.path
    rows = entries(registry)
    if args.resolved:
        rows = [e for e in rows if e.resolution is not None]
    elif args.open:
        rows = [e for e in rows if e.resolution is None]
    records = [e.to_dict() for e in rows]
    if not registry.exists:
        print(f"no predictions registered yet (no {path}): `gpt2030 predict register` or "
              "`gpt2030 update` registers the shipped targets", file=sys.stderr)
    if args.format == "json":
        print(json.dumps(records, indent=1))
        return 0
    if args.format == "csv":
        from gpt2030.inference.reporting import spreadsheet_safe

        # Registry text (a target's subject, its why) may come from anyone who shared the
        # file: never a formula in a spreadsheet (as evidence.csv).
        flat = [{k: spreadsheet_safe(v) if isinstance(v, str) else v
                 for k, v in {**r, "rows": ";".join(r["rows"] or [])}.items()}
                for r in records]
        pd.DataFrame(flat, columns=list(flat[0]) if flat else None).to_csv(sys.stdout,
                                                                         index=False)
        return 0
    if not records:
        print("no predictions match" if registry.exists else "no predictions")
        return 0
    table = pd.DataFrame([{
        "status": r["status"], "target": r["target"], "run": r["run_id"],
        "registered": r["registered"], "median": fmt(r["median"]),
        "90% interval": f"{fmt(r['q05'])}-{fmt(r['q95'])}", "unit": r["unit"],
        "observed": fmt(r["observed"]), "PIT": "" if r["pit"] is None else f"{r['pit']:.2f}",
        "CRPS": "" if r["crps"] is None else f"{r['crps']:.3f}"} for r in records])
    print(table.to_string(index=False))
    n_open = sum(r["status"] == "open" for r in records)
    print(f"{len(records)} prediction(s): {n_open} open, {len(records) - n_open} resolved")
    return 0
