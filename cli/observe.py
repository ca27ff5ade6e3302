"""``gpt2030 observe``: add, list, show, remove and validate observations in the ledger."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date
from pathlib import Path

from gpt2030.cli import CommandError
from gpt2030.observations import FIELDS, KINDS, STATUSES, Ledger, ledger_path
from gpt2030.observations.schema import parse_date, parse_day
from gpt2030.observations.store import read_numbered_rows
from gpt2030.observations.units import UNITS

# Flags of ``observe add`` and the ledger fields they fill.
_ADD_FLAGS = {
    "kind": "kind",
    "subject": "subject",
    "metric": "metric",
    "value": "value",
    "unit": "unit",
    "date": "date",
    "target_date": "target_date",
    "low": "low",
    "high": "high",
    "interval": "interval",
    "bound": "bound",
    "status": "status",
    "confidence": "confidence",
    "source": "source",
    "note": "note",
    "id": "id",
}

_EXAMPLE = (
    "example:\n  gpt2030 observe add --kind inference_speed --subject gpt-4 --value 20 "
    '--unit tokens/s --date 2024-03 --source "https://example.org/measurement"'
)


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``observe`` and its sub-commands to the top-level parser."""
    p = sub.add_parser("observe", help="add, list, show, remove or validate observations",
                       description="Work with the observation ledger "
                       "($GPT2030_HOME/observations/ledger.csv).")
    osub = p.add_subparsers(dest="action", required=True, metavar="ACTION")

    add = osub.add_parser(
        "add", help="add one observation (flags) or many (--file), validated, all or nothing",
        epilog=_EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter)
    add.add_argument("--file", type=Path, help="UTF-8 CSV with any subset of the ledger's "
                     "columns (empty fields take the flags' defaults); every bad row is "
                     "reported, and every row lands or none does")
    add.add_argument("--kind", choices=list(KINDS), help="what the observation measures")
    add.add_argument("--subject", help="the model, system, chip or benchmark it is about")
    add.add_argument("--metric", help="what exactly was measured (benchmark, setting, constant)")
    add.add_argument("--value", help="the number, in --unit")
    # argparse %-formats help texts: the unit "%" must be written "%%".
    add.add_argument("--unit", help="one of: " + ", ".join(UNITS).replace("%", "%%"))
    add.add_argument("--date", help="when the fact held: YYYY, YYYY-MM or YYYY-MM-DD")
    add.add_argument("--target-date", dest="target_date", help="for forecasts: the date forecast")
    add.add_argument("--low", help="lower end of the stated interval")
    add.add_argument("--high", help="upper end of the stated interval")
    add.add_argument("--interval", default=None,
                     help="what low/high are: 90%%, 95%%, 80%%, 50%%, 1sd or range "
                     "(default 90%% when --low/--high are given)")
    add.add_argument("--bound", choices=["lower", "upper"],
                     help="the value is only a bound: lower = 'at least', upper = 'at most'")
    add.add_argument("--status", choices=STATUSES, help="default: measured, or forecast "
                     "when --target-date is given")
    add.add_argument("--confidence", help="confident/likely/speculative (Epoch) or high/medium/low")
    add.add_argument("--source", help="citation or URL (required)")
    add.add_argument("--note", help="a short note (required with --force-implausible: why "
                     "the value is right)")
    add.add_argument("--force-implausible", action="store_true",
                     help="accept values outside the plausible range of their kind "
                     "(observations/schema.py PLAUSIBLE); the note is kept, marked")
    add.add_argument("--id", help="a stable id (default: made from kind, subject, metric, date)")
    add.add_argument("--update", action="store_true",
                     help="then run `gpt2030 update`: the latest run's posterior reweighted "
                     "by the added rows when that is reliable (seconds), else a full refit")
    add.add_argument("--refit", action="store_true",
                     help="with --update: always fit the model again (no reweighting)")
    add.set_defaults(func=cmd_add)

    lst = osub.add_parser("list", help="list observations, filtered")
    lst.add_argument("--kind", choices=list(KINDS))
    lst.add_argument("--subject", help="case-insensitive substring of the subject")
    lst.add_argument("--since", help="only dated on or after (YYYY[-MM[-DD]])")
    lst.add_argument("--until", help="only dated on or before (YYYY[-MM[-DD]])")
    lst.add_argument("--removed", action="store_true", help="list removed observations instead")
    lst.add_argument("--format", choices=["table", "csv", "json"], default="table")
    lst.set_defaults(func=cmd_list)

    show = osub.add_parser("show", help="print one observation, every field")
    show.add_argument("id")
    show.add_argument("--format", choices=["text", "json"], default="text")
    show.set_defaults(func=cmd_show)

    rm = osub.add_parser("remove", help="withdraw an observation (kept, marked, with the reason)")
    rm.add_argument("id")
    rm.add_argument("--reason", required=True, help="why it is withdrawn")
    rm.set_defaults(func=cmd_remove)

    imp = osub.add_parser(
        "import", help="add many observations from a dataset file (Epoch AI's notable models)",
        description="Read a dataset file downloaded by hand (no network) and add the facts "
        "the ledger lacks, all or none. --from epoch-notable-models: the CSV of "
        "https://epoch.ai/data/notable-ai-models; each language model published on or after "
        "--since gives its training compute, parameters and training dataset size, with the "
        "ids, statuses and confidence labels of the shipped rows. A figure whose value, date "
        "or confidence differs from the ledger's row of it is listed as a proposed update "
        "and recorded only with --apply-changes (the old row is kept, marked removed, with "
        "the reason). Values outside the plausible range of their kind are not imported, and "
        "listed; a malformed line refuses the whole file.")
    imp.add_argument("file", type=Path, metavar="FILE")
    imp.add_argument("--from", dest="source", required=True, choices=["epoch-notable-models"],
                     help="the file's format")
    imp.add_argument("--vintage", metavar="DATE",
                     help="when the file was downloaded, YYYY-MM-DD (named in each row's "
                     "source; default: today)")
    imp.add_argument("--since", metavar="DATE",
                     help="only models published on or after DATE (default: the first year "
                     "of the model's trajectory grid, 2018-01-01: earlier models are outside "
                     "the years the model describes)")
    imp.add_argument("--apply-changes", action="store_true",
                     help="also record the proposed updates")
    imp.add_argument("--dry-run", action="store_true",
                     help="say what would be added and changed; write nothing")
    imp.set_defaults(func=cmd_import)

    val = osub.add_parser("validate", help="check the whole ledger; report every problem")
    val.set_defaults(func=cmd_validate)


#: Past this many rows, ``observe add --file`` prints one summary line, not one per row.
LIST_ADDED_UP_TO = 20


def _ledger() -> Ledger:
    path = ledger_path()
    if not path.is_file():
        raise CommandError(f"no ledger at {path}: run `gpt2030 init`, run from a gpt2030 "
                           "home, or set GPT2030_HOME")
    return Ledger(path)


def cmd_add(args: argparse.Namespace) -> int:
    """Add one row (flags) or many (``--file``), all or none; then update if asked."""
    if args.refit and not args.update:
        raise CommandError("--refit goes with --update")
    ledger = _ledger()
    if args.file is not None:
        given = [f for f in _ADD_FLAGS if getattr(args, f) is not None]
        if given:
            flag = given[0].replace("_", "-")
            raise CommandError(f"--file takes every field from the file; drop --{flag}")
        numbered = read_numbered_rows(args.file)
        if not numbered:
            raise CommandError(f"{args.file}: no rows")
        added = ledger.add([row for _, row in numbered], origin=str(args.file),
                           lines=[line for line, _ in numbered],
                           force_implausible=args.force_implausible)
    else:
        row = {field: getattr(args, flag) or "" for flag, field in _ADD_FLAGS.items()}
        added = ledger.add([row], force_implausible=args.force_implausible)
    if len(added) > LIST_ADDED_UP_TO:
        print(f"added {len(added)} observations from {args.file} (ids {added[0]['id']} ... "
              f"{added[-1]['id']}; `gpt2030 observe list` shows them)")
    else:
        for row in added:
            print(f"added {row['id']}")
    if args.update:
        from gpt2030.cli.report import run_update

        return run_update(args)
    return 0


def _filtered(args: argparse.Namespace) -> list[dict[str, str]]:
    rows = _ledger().rows(include_removed=args.removed)
    if args.removed:
        rows = [r for r in rows if r["removed_on"]]
    if args.kind:
        rows = [r for r in rows if r["kind"] == args.kind]
    if args.subject:
        rows = [r for r in rows if args.subject.casefold() in r["subject"].casefold()]
    # A row's date is a period (a year, a month or a day): it matches when the period
    # overlaps the window, so --since 2023-06 --until 2023-06 lists every June 2023 row.
    for flag, keep in (("since", lambda row, lim: row[1] >= lim[0]),
                       ("until", lambda row, lim: row[0] <= lim[1])):
        text = getattr(args, flag)
        if text:
            try:
                limit = parse_date(text)
            except ValueError as err:
                raise CommandError(f"--{flag}: {err}") from None
            rows = [r for r in rows if keep(_row_period(r), limit)]
    return rows


def _row_period(row: dict[str, str]):
    try:
        return parse_date(row["date"])
    except ValueError as err:
        raise CommandError(f"observation {row['id']!r}: date: {err} (`gpt2030 observe "
                           "validate` lists every problem)") from None


def cmd_list(args: argparse.Namespace) -> int:
    """Print the rows that match the filters, as a table, CSV or JSON."""
    import pandas as pd  # only listing needs it: the other observe commands start faster

    rows = _filtered(args)
    if args.format == "json":
        json.dump(rows, sys.stdout, indent=1)
        print()
    elif args.format == "csv":
        pd.DataFrame(rows, columns=list(FIELDS)).to_csv(sys.stdout, index=False)
    else:
        cols = ["id", "date", "subject", "metric", "value", "unit", "status"]
        frame = pd.DataFrame(rows, columns=cols)
        frame["subject"] = frame["subject"].str.slice(0, 32)
        frame["metric"] = frame["metric"].str.slice(0, 24)
        print(frame.to_string(index=False) if rows else "no observations match")
        print(f"{len(rows)} observation(s)")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    """Print every non-empty field of one row (or the row as JSON)."""
    row = _ledger().get(args.id)
    if args.format == "json":
        print(json.dumps(row, indent=1))
    else:
        width = max(map(len, FIELDS))
        for field in FIELDS:
            if row[field]:
                print(f"{field:<{width}}  {row[field]}")
    return 0


def cmd_remove(args: argparse.Namespace) -> int:
    """Withdraw a row: it stays in the ledger, marked removed, with the reason."""
    row = _ledger().remove(args.id, args.reason)
    print(f"removed {row['id']} ({row['removed_reason']})")
    return 0


def _date_arg(flag: str, text: str | None, default: date) -> date:
    if not text:
        return default
    try:
        return parse_day(text)
    except ValueError as err:
        raise CommandError(f"--{flag}: {err}") from None


def cmd_import(args: argparse.Namespace) -> int:
    """Import Epoch AI's notable-models CSV: new facts added, changed values proposed."""
    from gpt2030.models import FIRST_YEAR
    from gpt2030.observations import epoch

    today = date.today()
    vintage = _date_arg("vintage", args.vintage, today)
    if vintage > today:
        raise CommandError(f"--vintage: {vintage} is in the future")
    since = _date_arg("since", args.since, date(FIRST_YEAR, 1, 1))
    if args.dry_run and args.apply_changes:
        raise CommandError("--dry-run writes nothing: drop --apply-changes")
    ledger = _ledger()
    got = epoch.read_file(args.file, vintage, since, today)
    plan = epoch.plan_import(ledger.rows(include_removed=True), got.facts)
    name = args.file
    print(f"{name}: {got.in_scope} language model(s) published from {since} on, "
          f"{got.out_of_scope} line(s) out of scope")
    for remark in got.remarks:
        print(remark)
    rows = [f.row for f in plan.new]
    lines = [f.line for f in plan.new]
    supersede: dict[str, str] = {}
    successors: list[tuple[epoch.Change, str]] = []
    if args.apply_changes:
        taken = {r["id"] for r in ledger.rows(include_removed=True)} | {r["id"] for r in rows}
        for change in plan.changes:
            new_id = epoch.successor_id(change.old["id"], vintage, taken)
            taken.add(new_id)
            supersede[change.old["id"]] = (f"superseded by {new_id}: {epoch.DATASET}, "
                                           f"downloaded {vintage}, gives {change.describe()}")
            rows.append({**change.new.row, "id": new_id})
            lines.append(change.new.line)
            successors.append((change, new_id))
    if rows and not args.dry_run:
        ledger.add(rows, today=today, origin=str(name), lines=lines, supersede=supersede)
    verb = "would add" if args.dry_run else "added"
    n_new = len(plan.new)
    if n_new > LIST_ADDED_UP_TO:
        print(f"{verb} {n_new} observations (ids {plan.new[0].row['id']} ... "
              f"{plan.new[-1].row['id']}; `gpt2030 observe list` shows them)")
    else:
        for fact in plan.new:
            print(f"{verb} {fact.row['id']}")
    kept = [f"{len(plan.unchanged)} already in the ledger, unchanged"]
    if plan.elsewhere:
        kept.append(f"{len(plan.elsewhere)} held from another source, left alone ("
                    + ", ".join(old for _, old in plan.elsewhere[:5])
                    + (", ..." if len(plan.elsewhere) > 5 else "") + ")")
    if plan.withdrawn:
        kept.append(f"{len(plan.withdrawn)} withdrawn from the ledger earlier, not added "
                    "again (" + ", ".join(f.row["id"] for f, _ in plan.withdrawn[:5])
                    + (", ..." if len(plan.withdrawn) > 5 else "") + ")")
    print("; ".join(kept))
    if got.skipped:
        print(f"{len(got.skipped)} value(s) not imported (outside the plausible range of "
              "their kind, observations/schema.py PLAUSIBLE):")
        for line in got.skipped:
            print(f"  {line}")
    if successors:
        print(f"{'would record' if args.dry_run else 'recorded'} {len(successors)} "
              "update(s); each old row is kept, marked removed, with the reason:")
        for change, new_id in successors:
            print(f"  {change.old['id']} -> {new_id}: {change.describe()} "
                  f"({name}:{change.new.line})")
    elif plan.changes:
        print(f"{len(plan.changes)} proposed update(s), not recorded (`--apply-changes` "
              "records them, keeping each old row marked removed):")
        for change in plan.changes:
            print(f"  {change.old['id']}: {change.describe()} ({name}:{change.new.line})")
    if not rows:
        print(f"nothing new in {name}")
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    """Print every problem of the ledger; 1 when there is any, else 0."""
    ledger = _ledger()
    problems = ledger.problems(today=date.today())
    for p in problems:
        print(p)
    n = len(ledger.rows(include_removed=True))
    if problems:
        print(f"{len(problems)} problem(s) in {n} rows", file=sys.stderr)
        return 1
    print(f"ok: {n} rows, no problems")
    return 0
