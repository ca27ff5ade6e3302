"""``gpt2030 backtest``: fit at past cutoffs, score the forecasts of later observations."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from datetime import UTC, datetime

from gpt2030.cli import CommandError
from gpt2030.cli.runs import add_sampler_args, open_ledger, sampler_config
from gpt2030.models.priors import CONFIGS

DESCRIPTION = """\
For each --cutoff, fit the model (reusing a stored run with the same observations, config
and seed) to the ledger rows dated on or before the cutoff (a row counts from the end of its
date's period), then predict every later row that falls in a likelihood term of the model
(compute, speed, benchmark, tokens per parameter, bandwidth, data stock, scaling exponent)
from that posterior, and score it: CRPS, log score (normal fitted to the predictive draws),
50%/90% interval coverage and PIT. The same rows are scored under a naive baseline (a
least-squares trend per series with a Student-t predictive) and, where they apply, the
essay's point forecasts (compute 2.1e25 FLOP in 2023 to 1e28 in 2030; GPT-4 at 12 tokens/s
in 2023; a point's CRPS is its absolute error). Several cutoffs give a rolling-origin
backtest.

--compare-variants also fits the variants default, constant_growth, no_data_limit and
no_hardware_trend to the full ledger and compares them by PSIS-LOO (pointwise
log-likelihood of every term, concatenated) and, at the first cutoff, by backtest scores.

Results go to runs/backtests/<name>.json and the report page to
reports/backtest/<name>/backtest.html (+ backtest.md, calibration.png) under $GPT2030_HOME.
--format json prints {"name", "config", "model_version", "observation_hash" and
"n_observations" (of the ledger read), "cutoffs": [{"cutoff", "run_id", "n_train",
"n_heldout", "n_scored", "overall": {"gpt2030": {coverage50, coverage90, crps, log_score},
"naive": {...}}, "overall_series_weighted": {...}, "by_kind": {kind: {"n", "gpt2030",
"naive", "series_weighted"}}, "essay": {...}, ...}], "pooled": {"n", "n_series", "rows",
"series_weighted", "by_kind"} (every cutoff's rows together; series-weighted: every subject
and metric counts the same), "variants": {...} (with --compare-variants), "files": {...}};
per-row scores are in the stored JSON only.
"""

DEFAULT_CUTOFF = "2023-06-30"


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``backtest`` to the top-level parser."""
    p = sub.add_parser("backtest", help="score forecasts made at past cutoffs against later "
                       "observations; compare model variants",
                       description=DESCRIPTION,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cutoff", metavar="DATE", action="append",
                   help="fit on observations dated on or before DATE (YYYY[-MM[-DD]]); "
                   f"repeatable (default: {DEFAULT_CUTOFF})")
    p.add_argument("--config", default="default", choices=list(CONFIGS),
                   help="model configuration to backtest (default: %(default)s)")
    p.add_argument("--compare-variants", action="store_true",
                   help="also compare the variants default, constant_growth, no_data_limit "
                   "and no_hardware_trend by PSIS-LOO and by backtest at the first cutoff")
    p.add_argument("--name", help="name of the stored result and report "
                   "(default: <config>-<cutoffs>[-variants])")
    p.add_argument("--format", choices=["table", "json"], default="table")
    add_sampler_args(p)
    p.add_argument("--force", action="store_true", help="sample again even if runs exist")
    p.set_defaults(func=cmd_backtest)


def cmd_backtest(args: argparse.Namespace) -> int:
    """Fit at each cutoff, score the later rows, store the result and its report page."""
    from gpt2030.inference.backtest import VARIANTS, compare_variants, pool, run_cutoff
    from gpt2030.inference.results import BacktestResult, VariantComparison
    from gpt2030.inference.runs import default_runs_dir
    from gpt2030.models import MODEL_VERSION
    from gpt2030.observations import default_home, observation_hash
    from gpt2030.observations.schema import parse_date
    from gpt2030.reports.backtest import findings, write_report

    cutoffs = args.cutoff or [DEFAULT_CUTOFF]
    for c in cutoffs:
        try:
            parse_date(c)
        except ValueError as err:
            raise CommandError(f"--cutoff: {err}") from None
    if len(set(cutoffs)) != len(cutoffs):
        raise CommandError("--cutoff: the same cutoff twice")
    sampler = sampler_config(args)
    ledger = open_ledger()
    runs_dir = default_runs_dir()
    from gpt2030.observations.store import ensure_writable

    for folder in (runs_dir / "backtests", default_home() / "reports" / "backtest"):
        ensure_writable(folder)  # before minutes of sampling, not after
    start = time.perf_counter()
    results = []
    # With --format json, stdout carries the JSON only: progress output of the sampling
    # libraries goes to stderr.
    quiet = contextlib.redirect_stdout(sys.stderr) if args.format == "json" \
        else contextlib.nullcontext()
    with quiet:
        for c in cutoffs:
            results.append(run_cutoff(ledger, runs_dir, c, args.config, sampler,
                                      args.seed, args.force,
                                      progressbar=args.format == "table"))
        variants = None
        if args.compare_variants:
            done = {args.config: results[0]} if args.config in VARIANTS else {}
            variants = compare_variants(ledger, runs_dir, cutoffs[0], VARIANTS, sampler,
                                        args.seed, args.force, args.format == "table",
                                        backtests=done)
    name = args.name or "-".join([args.config, *cutoffs] + (["variants"] if variants else []))
    if "/" in name or name.startswith("."):
        raise CommandError("--name: a plain file name, without '/' or a leading '.'")
    rows = ledger.rows()
    result = BacktestResult(
        name, args.config, datetime.now(UTC).isoformat(timespec="seconds"), results,
        VariantComparison.from_dict(variants) if variants else None, sampler.describe(),
        args.seed, round(time.perf_counter() - start, 1), pool(results),
        model_version=MODEL_VERSION, observation_hash=observation_hash(rows),
        n_observations=len(rows))
    json_path = result.save(runs_dir / "backtests" / f"{name}.json")
    doc = result.to_dict()
    files = write_report(result, default_home() / "reports" / "backtest" / name)
    files = {"json": json_path, **files}
    if args.format == "json":
        summary = {**doc, "cutoffs": [{k: v for k, v in c.items()
                                       if k not in ("rows", "pit", "pit_naive")}
                                      for c in doc["cutoffs"]],
                   "files": {k: str(v) for k, v in files.items()}}
        print(json.dumps(summary, indent=1))
        return 0
    _print_table(doc, findings)
    for label, path in files.items():
        print(f"{label:>5}: {path}")
    return 0


def _f(x, d=3) -> str:
    return "-" if x is None else f"{x:.{d}f}"


def _print_table(doc: dict, findings) -> None:
    pooled = doc.get("pooled")
    if pooled:
        print(f"all cutoffs: {pooled['n']} rows from {pooled['n_series']} series "
              "(series-weighted: every subject and metric counts the same)")
        print(f"{'kind':<18}{'weighting':<10}{'n':>5}{'cov50':>7}{'cov90':>7}{'PIT':>6}"
              f"{'CRPS':>8}{'naive':>8}")
        blocks = [("all", pooled["rows"], pooled["series_weighted"])]
        blocks += [(k, r, r.get("series_weighted")) for k, r in pooled["by_kind"].items()]
        for kind, rows, weighted in blocks:
            for label, c in (("rows", rows), ("series", weighted)):
                if c:
                    g = c["gpt2030"]
                    print(f"{kind:<18}{label:<10}{c['n']:>5}{_f(g['coverage50'], 2):>7}"
                          f"{_f(g['coverage90'], 2):>7}{_f(g['pit_mean'], 2):>6}"
                          f"{_f(g['crps']):>8}{_f(c['naive']['crps']):>8}")
    for cut in doc["cutoffs"]:
        print(f"\ncutoff {cut['cutoff']}  run {cut['run_id']}  train rows {cut['n_train']}  "
              f"held out {cut['n_heldout']}  scored {cut.get('n_scored', 0)}")
        print(f"{'kind':<18}{'n':>5}  {'forecaster':<9}{'CRPS':>8}{'logS':>8}{'cov50':>7}"
              f"{'cov90':>7}")
        blocks = [("all", cut.get("n_scored", 0), cut.get("overall") or {})]
        blocks += [(k, r["n"], r) for k, r in (cut.get("by_kind") or {}).items()]
        for kind, n, rec in blocks:
            for m in ("gpt2030", "naive"):
                s = rec.get(m)
                if not s:
                    continue
                print(f"{kind:<18}{n:>5}  {m:<9}{_f(s['crps']):>8}{_f(s['log_score'], 2):>8}"
                      f"{_f(s['coverage50'], 2):>7}{_f(s['coverage90'], 2):>7}")
        for key, rec in (cut.get("essay") or {}).items():
            print(f"essay {key:<18} n={rec['n']:<3} CRPS essay {_f(rec['essay']['crps'])}  "
                  f"gpt2030 {_f(rec['gpt2030']['crps'])}  naive {_f(rec['naive']['crps'])}")
        for s in findings(cut):
            print(f"  * {s}")
    var = doc.get("variants")
    if var:
        print("\nvariants (PSIS-LOO, full ledger)")
        print(f"{'variant':<19}{'elpd':>10}{'se':>7}{'diff':>8}{'dse':>7}{'weight':>8}"
              f"{'bt CRPS':>9}")
        for r in var["table"]:
            bt = (r.get("backtest") or {}).get("crps")
            print(f"{r['variant']:<19}{r['elpd_loo']:>10.1f}{r['se']:>7.1f}"
                  f"{r['elpd_diff']:>8.1f}{r['dse']:>7.1f}{r['weight']:>8.2f}{_f(bt):>9}")
        print(var["conclusion"])
