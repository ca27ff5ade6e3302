"""``diagnose``, ``compare``, ``influence`` and ``export``: read what a stored run says."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from gpt2030.cli import CommandError
from gpt2030.inference.forecast import HEADLINES


def register(sub: argparse._SubParsersAction) -> None:
    """Add this stage's commands to the top-level parser."""
    d = sub.add_parser(
        "diagnose", help="can a run be trusted? sampler checks, predictive fit, sensitivity",
        description="Check a run: R-hat, ESS, divergences, tree depth and E-BFMI of the "
        "sampler; 50% and 90% posterior predictive coverage by observation term; the "
        "worst-fitting observations; prior sensitivity (informational). Plots go to "
        "runs/<id>/diagnostics/. Exit status 0 when the verdict is pass, 1 when it fails.")
    d.add_argument("run", nargs="?", help="run id or unique prefix (default: the latest)")
    d.add_argument("--format", choices=["text", "json"], default="text")
    d.add_argument("--no-plots", action="store_true", help="skip writing the PNG plots")
    d.set_defaults(func=cmd_diagnose)

    c = sub.add_parser(
        "compare", help="what changed between two runs: observations and forecasts",
        description="Observations added, removed and changed from RUN_A to RUN_B, and the "
        "shift of each headline quantity's median and 90% interval.")
    c.add_argument("run_a", metavar="RUN_A")
    c.add_argument("run_b", metavar="RUN_B")
    c.add_argument("--year", type=int, default=2030)
    c.add_argument("--format", choices=["table", "json"], default="table")
    c.set_defaults(func=cmd_compare)

    i = sub.add_parser(
        "influence", help="how far each observation moves the headline forecasts",
        description="Leave-one-out influence of each observation on the headline medians, by "
        "Pareto-smoothed importance reweighting of the stored draws (no refit). Rows with "
        "Pareto k > 0.7 are unreliable: refit without them to know.")
    i.add_argument("run", nargs="?", help="run id or unique prefix (default: the latest)")
    i.add_argument("--year", type=int, default=2030)
    i.add_argument("--top", type=int, default=15, help="rows to show (%(default)s; 0 for all)")
    i.add_argument("--format", choices=["table", "json"], default="table")
    i.set_defaults(func=cmd_influence)

    v = sub.add_parser(
        "value-of-information",
        help="which next observation would narrow a 2030 forecast most",
        description="For each kind of observation the model has a likelihood for (training "
        "compute of a new model, a served-speed reading, a benchmark score, a dataset, a "
        "training duration, ...), dated in the near future with the ledger's typical error "
        "for its kind: the expected reduction of the 90% interval of QUANTITY in YEAR, by "
        "preposterior analysis of the stored draws (outcomes simulated from the model, the "
        "draws reweighted by PSIS; no refit). Ranked, with the Monte Carlo error; a "
        "candidate whose weights have Pareto k > 0.7 for more than 5% of its outcomes is "
        "flagged. The result is stored beside the run and reused.")
    v.add_argument("--run", help="run id or unique prefix (default: the latest run)")
    v.add_argument("--quantity", default="work_years", choices=list(HEADLINES),
                   help="the headline quantity (default: %(default)s)")
    v.add_argument("--year", type=int, default=2030)
    v.add_argument("--date", help="date of the candidate observations, YYYY-MM (default: six "
                   "months after the run was made)")
    # Defaults None: the command reads them from gpt2030.inference.voi (importing it here
    # would load ArviZ for every command).
    v.add_argument("--outcomes", type=int, help="simulated outcomes per candidate (default: "
                   "200; the report uses 100): a result stored with as many or more is reused")
    v.add_argument("--seed", type=int, help="seed of the outcomes (default: 1)")
    v.add_argument("--format", choices=["table", "json"], default="table")
    v.set_defaults(func=cmd_value_of_information)

    e = sub.add_parser(
        "export", help="write a run's headline draws by year (CSV or netCDF)",
        description="Posterior draws of the headline quantities by year: a long CSV "
        "(chain, draw, year, quantity, value) or a netCDF Dataset. Prints the path.")
    e.add_argument("run", nargs="?", help="run id or unique prefix (default: the latest)")
    e.add_argument("--format", choices=["csv", "netcdf"], required=True)
    e.add_argument("--out", type=Path, help="output file (default: runs/<id>/export.csv|.nc)")
    e.set_defaults(func=cmd_export)


def _load(run_id: str | None, machine_output: bool = True):
    from gpt2030.cli.runs import load

    return load(run_id, machine_output)


def _fmt(x: object, spec: str = ".3g") -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "n/a"
    return format(x, spec) if isinstance(x, int | float) else str(x)


# --- diagnose -----------------------------------------------------------------------------


def cmd_diagnose(args: argparse.Namespace) -> int:
    """Check a run and print the checks (or JSON); write its plots; 1 when it fails."""
    from gpt2030.inference.diagnostics import check
    from gpt2030.inference.reweight import REWEIGHTED, reweighted_checks, run_path
    from gpt2030.reports.diagnostics import write_plots

    run = _load(args.run, machine_output=args.format == "json")
    dt = run.datatree()
    report = None
    if run_path(run.manifest) == REWEIGHTED:
        # As update checked it: the sampler's checks are those of the fitted parent.
        from gpt2030.inference.runs import RunError, load_run

        try:
            parent = load_run(run.path.parent, str(run.manifest.get("parent") or "?"))
        except RunError as err:
            print(f"gpt2030: the fitted run this one reweights cannot be read ({err}): "
                  "checking the resampled draws as they are", file=sys.stderr)
        else:
            report = reweighted_checks(dt, parent, run.manifest)
    if report is None:
        report = check(dt)
    if not report.prior_only and not args.no_plots:
        write_plots(dt, report, run.path / "diagnostics")
    if args.format == "json":
        print(json.dumps({"run_id": run.id, **report.to_dict()}, indent=1))
        return 0 if report.ok else 1
    print_report(run.id, report)
    return 0 if report.ok else 1


def print_report(run_id: str, report) -> None:
    """Print a run's diagnostics as ``diagnose`` shows them: checks first, verdict last.

    Parameters
    ----------
    run_id : str
        The run.
    report : Diagnostics
        Its :func:`~gpt2030.inference.diagnostics.check`.
    """
    from gpt2030.inference.diagnostics import PARETO_K_MAX, PPC_MIN_OBS, PSENSE_THRESHOLD

    if report.prior_only:
        print(f"run {run_id} is prior-only: there is no posterior to diagnose (exit 0)")
        return
    print(f"run {run_id}  verdict {report.verdict.upper()}")
    print("\nChecks (each one decides the verdict)")
    for c in report.checks:
        status = "ok" if c.passed else "FAIL"
        print(f"  {status:<5}{c.name:<34}{_fmt(c.value, '.4g'):>10}  {c.threshold:<8}  {c.detail}")

    print("\nConvergence of the free parameters (worst R-hat first; MCSE informational)")
    print(f"  {'parameter':<42}{'r_hat':>8}{'ess_bulk':>10}{'ess_tail':>10}{'mcse/sd':>9}")
    for row in report.convergence[:6]:
        print(f"  {str(row['parameter'])[:41]:<42}{_fmt(row['r_hat'], '.4f'):>8}"
              f"{_fmt(row['ess_bulk'], '.0f'):>10}{_fmt(row['ess_tail'], '.0f'):>10}"
              f"{_fmt(row['mcse_over_sd'], '.3f'):>9}")

    print(f"\nPosterior predictive coverage by term (verdict uses 90% for n >= {PPC_MIN_OBS})")
    print(f"  {'term':<20}{'n':>5}{'50%':>8}{'90%':>8}{'k>' + str(PARETO_K_MAX):>8}")
    for t in report.terms:
        mark = "" if t.checked else "  (informational)"
        print(f"  {t.term:<20}{t.n:>5}{t.coverage50:>8.2f}{t.coverage90:>8.2f}"
              f"{t.n_high_k:>8}{mark}")

    print("\nWorst-fitting observations (PSIS-LOO-PIT; tail = 2 min(pit, 1 - pit))")
    for o in report.worst_fit:
        reliable = "" if (o.pareto_k is not None and o.pareto_k <= PARETO_K_MAX) else \
            "  k>0.7: unreliable"
        print(f"  {o.obs_id}  [{o.term}] observed {o.observed:.3g}, predicted "
              f"{o.predicted_median:.3g} ({o.q05:.3g} to {o.q95:.3g}), pit {o.loo_pit:.4f}, "
              f"tail {o.tail_probability:.2g}, k {_fmt(o.pareto_k, '.2f')}{reliable}")

    print(f"\nPrior sensitivity (power-scaling, threshold {PSENSE_THRESHOLD}; informational, "
          "never fails a run)")
    if not report.sensitivity:
        print("  no parameter flagged" if report.sensitivity_all else "  not computed")
    for s in report.sensitivity:
        print(f"  {s.parameter:<42} prior {s.prior:.3f}  likelihood {s.likelihood:.3f}  "
              f"{s.diagnosis}")
    if report.plots:
        print("\nPlots")
        for p in report.plots:
            print(f"  {p}")
    if report.notes:
        print("\nNotes")
        for n in report.notes:
            print(f"  - {n}")
    failures = report.failures
    if failures:
        print(f"\nverdict: fail ({len(failures)} failing check(s): "
              + "; ".join(f"{c.name} = {_fmt(c.value, '.4g')} (needs {c.threshold})"
                          for c in failures) + ")")
    else:
        print("\nverdict: pass")


# --- compare ------------------------------------------------------------------------------


def cmd_compare(args: argparse.Namespace) -> int:
    """Print what changed from RUN_A to RUN_B: observations, then headline shifts."""
    from gpt2030.inference.compare import compare_runs

    machine = args.format == "json"
    run_a, run_b = _load(args.run_a, machine), _load(args.run_b, machine)
    try:
        result = compare_runs(run_a, run_b, args.year)
    except (KeyError, ValueError) as err:
        raise CommandError(str(err)) from None
    if args.format == "json":
        print(json.dumps(result, indent=1))
        return 0
    print(f"compare {result['run_a']} -> {result['run_b']}  year {result['year']}")
    for label, key in (("added", "added"), ("removed", "removed"), ("changed", "changed")):
        rows = result[key]
        print(f"\n{len(rows)} observation(s) {label}")
        for r in rows:
            extra = ""
            if key == "changed":
                extra = "  " + ", ".join(f"{f}: {r['before'][f]} -> {r['after'][f]}"
                                         for f in r["changed_fields"])
            print(f"  {r['id']}  {r['kind']}  {r['subject']}  {r['value']} {r['unit']}{extra}")
    print(f"\n{'quantity':<26}{'median A':>11}{'median B':>11}{'ratio':>9}{'log10':>8}"
          f"{'90% A':>23}{'90% B':>23}")
    for s in result["shifts"]:
        ia = f"{s['q05_a']:.3g}-{s['q95_a']:.3g}"
        ib = f"{s['q05_b']:.3g}-{s['q95_b']:.3g}"
        print(f"{s['quantity']:<26}{s['median_a']:>11.3g}{s['median_b']:>11.3g}"
              f"{_fmt(s['ratio']):>9}{_fmt(s['log10_shift'], '+.3f'):>8}{ia:>23}{ib:>23}")
    return 0


# --- influence ----------------------------------------------------------------------------


def cmd_influence(args: argparse.Namespace) -> int:
    """Print each observation's leave-one-out shift of the headline medians."""
    from gpt2030.inference.influence import influence

    if args.top < 0:
        raise CommandError("--top must be 0 (all) or more")
    from gpt2030.cli.runs import header
    from gpt2030.inference.runs import default_runs_dir, load_run

    run = load_run(default_runs_dir(), args.run)
    if args.format == "json":
        print(header(run, default=args.run is None), file=sys.stderr)
    try:
        table = influence(run, args.year, args.top or None)
    except (KeyError, ValueError) as err:
        raise CommandError(str(err)) from None
    if args.format == "json":
        rows = json.loads(table.to_json(orient="records"))
        print(json.dumps({"run_id": run.id, "year": args.year, "observations": rows}, indent=1))
        return 0
    print(f"{header(run, default=args.run is None)}; year {args.year}: leave-one-out shift "
          "of the headline medians (log10; PSIS reweighting, no refit)")
    ids = [str(i) for i in table["obs_id"]]
    width = max([len("obs_id"), *map(len, ids)]) + 2  # ids are never cut
    print(f"{'obs_id':<{width}}{'term':<18}{'k':>6}{'shift':>9}  quantity most moved")
    for obs_id, (_, r) in zip(ids, table.iterrows(), strict=True):
        flag = "" if r["reliable"] else "  k>0.7: unreliable, refit needed"
        shift = r[r["quantity_most_moved"]]
        print(f"{obs_id:<{width}}{r['term']:<18}{_fmt(r['pareto_k'], '.2f'):>6}"
              f"{_fmt(shift, '+.4f'):>9}  {r['quantity_most_moved']}{flag}")
    return 0


# --- value of information -------------------------------------------------------------


def cmd_value_of_information(args: argparse.Namespace) -> int:
    """Rank the candidate next observations by how much they narrow a 2030 interval."""
    from gpt2030.inference.progress import Progress
    from gpt2030.inference.voi import OUTCOMES, SEED, check_date, for_run
    from gpt2030.models import YEARS

    args.outcomes = OUTCOMES if args.outcomes is None else args.outcomes
    args.seed = SEED if args.seed is None else args.seed
    if args.outcomes < 2:
        raise CommandError("--outcomes must be at least 2 (the Monte Carlo error needs two)")
    # Checked before the run is read (runs of this model version share its year grid).
    if args.year not in YEARS:
        raise CommandError(f"year {args.year} is outside the model's grid "
                           f"{YEARS[0]}-{YEARS[-1]}")
    if args.date:
        try:
            check_date(args.date, YEARS)
        except ValueError as err:
            raise CommandError(f"--date: {err}") from None
    run = _load(args.run, machine_output=args.format == "json")
    try:
        result, stored = for_run(run, year=args.year, date=args.date,
                                 n_outcomes=args.outcomes, seed=args.seed,
                                 progress=Progress())
    except ValueError as err:
        raise CommandError(str(err)) from None
    doc = result.quantity_dict(args.quantity)
    if args.format == "json":
        print(json.dumps(doc, indent=1))
        return 0
    print_value_of_information(doc, stored)
    return 0


def print_value_of_information(doc: dict, stored: bool = False) -> None:
    """The ranking as a table (``value-of-information --format table``)."""
    cur = doc["current"]
    print(f"{doc['quantity']} in {doc['year']}: 90% interval {cur['q05']:.3g} to "
          f"{cur['q95']:.3g} {doc['unit']}, {_fmt(cur['width_dex'], '.2f')} dex wide now")
    print(f"candidates dated {doc['date']}; {doc['n_outcomes']} simulated outcomes each "
          f"(seed {doc['seed']}), {doc['n_draws']} stored draws reweighted by PSIS"
          + ("; read from the stored result" if stored else ""))
    rows = doc["candidates"]
    width = max([len("observation"), *(len(r["observation"]) for r in rows)]) + 2
    print(f"\n{'rank':<5}{'observation':<{width}}{'error':>11}{'width after':>13}"
          f"{'reduction (dex)':>22}{'k>0.7':>8}")
    for r in rows:
        err = f"{_fmt(r['error'], '.2g')} {r['error_unit']}".strip()
        share = r["reduction_share"]
        red = (f"{_fmt(r['reduction_dex'], '+.3f')} \u00b1{_fmt(r['mc_se_dex'], '.3f')} "
               f"({_fmt(None if share is None else 100 * share, '+.0f')}%)")
        flag = "  unreliable: refit to know" if r["flagged"] else ""
        tie = "  (tied with the next)" if r["tied_with_next"] else ""
        print(f"{r['rank']:<5}{r['observation']:<{width}}{err:>11}"
              f"{_fmt(r['expected_width_dex'], '.3f'):>13}{red:>22}"
              f"{_fmt(100 * r['share_k_above_0.7'], '.0f') + '%':>8}{flag}{tie}")
    if doc["skipped"]:
        print("\nnot candidates: " + "; ".join(doc["skipped"]))
    print("\nreduction: the expected narrowing of the 90% interval once the observation is "
          "made (log10 of its upper over its lower end), \u00b1 its Monte Carlo error; "
          "'tied': not distinguishable from the next row within two paired standard errors; "
          "k>0.7: share of outcomes whose importance weights are unreliable")


# --- export -------------------------------------------------------------------------------


def _is_export(path: Path) -> bool:
    """Whether a file is one ``export`` wrote (CSV header, or netCDF with a run id)."""
    from gpt2030.inference.export import CSV_COLUMNS

    try:
        with path.open("rb") as fh:
            head = fh.read(512)
        if head.startswith(b"\x89HDF\r\n\x1a\n"):
            import xarray as xr

            with xr.open_dataset(path) as ds:
                return "run_id" in ds.attrs
        return head.split(b"\n", 1)[0].strip() == ",".join(CSV_COLUMNS).encode()
    except (OSError, ValueError):
        return False


def _check_export_path(out: Path) -> None:
    """Refuse an --out that would replace a folder, the ledger or a stored run's files."""
    from gpt2030.inference.runs import default_runs_dir
    from gpt2030.observations import ledger_path

    if out.is_symlink():
        raise CommandError(f"--out: {out} is a link: give a file name")
    if out.is_dir():
        raise CommandError(f"--out: {out} is a folder: give a file name")
    if out.exists() and not out.is_file():
        raise CommandError(f"--out: {out} is not a regular file (a device or a pipe)")
    if out.is_file() and not _is_export(out):
        raise CommandError(f"--out: {out} exists and is not a gpt2030 export: give a new file "
                           "name (an earlier export is replaced, nothing else)")
    target = out.resolve()
    if target == ledger_path().resolve():
        raise CommandError(f"--out: {out} is the ledger")
    runs = default_runs_dir().resolve()
    if target.is_relative_to(runs) and not target.name.startswith("export"):
        raise CommandError(f"--out: {out} is inside the runs folder {runs}: give a file "
                           "outside it")


def cmd_export(args: argparse.Namespace) -> int:
    """Write a run's headline draws by year (CSV or netCDF); print the path."""
    from gpt2030.inference.export import export_run

    if args.out is not None:
        _check_export_path(args.out)
    run = _load(args.run)
    try:
        path = export_run(run, args.format, args.out)
    except (KeyError, ValueError, OSError) as err:
        raise CommandError(str(err)) from None
    print(path)
    return 0
