"""The report's ten sections, each built from a stored run into blocks of plain text.

Order (a contract the tests check): verdict, headline table, fan charts, throughput for
speed, capabilities, what changed, what drives the forecast, assumptions, evidence,
provenance. Nothing here writes files or escapes text: :mod:`gpt2030.reports.render` does.
"""

from __future__ import annotations

import ast
import contextlib
import inspect
import io
import itertools
import logging
import math
import warnings

import numpy as np
import pandas as pd
import xarray as xr

from gpt2030.inference.compare import compare_runs
from gpt2030.inference.forecast import HEADLINES, draws_group, forecast_table
from gpt2030.inference.influence import influence
from gpt2030.inference.runs import Run, list_runs, observations_from_datatree
from gpt2030.models import priors as priors_module
from gpt2030.models.essay import ESSAY_2030, THRESHOLDS
from gpt2030.models.priors import CONFIGS, DEFAULT_PRIORS, Prior
from gpt2030.reports import figures
from gpt2030.reports.render import (
    Banner,
    Bullets,
    Cell,
    FigureBlock,
    Heading,
    Paragraph,
    Rich,
    Section,
    Table,
    linkify,
)

#: Section titles, in order: (anchor, title).
SECTIONS: tuple[tuple[str, str], ...] = (
    ("verdict", "1. Verdict"),
    ("headline", "2. Headline forecast for 2030"),
    ("trajectories", "3. Trajectories 2018-2035"),
    ("speed-trade", "4. Trading throughput for speed in 2030"),
    ("capabilities", "5. Capabilities"),
    ("changes", "6. What changed since the previous run"),
    ("drivers", "7. What drives the forecast"),
    ("assumptions", "8. Assumptions"),
    ("evidence", "9. The evidence"),
    ("provenance", "10. Provenance"),
)
#: The fixed conversions of the essay's chain, shown with the comments that cite them.
CONSTANTS = ("MINUTES_PER_YEAR", "FLOP_PER_PARAM_TOKEN", "FORWARD_FLOP_PER_PARAM",
             "GPT3_COMPUTE", "CHINCHILLA_COMPUTE")
#: A parameter whose posterior sd is at least this share of its prior sd learned little.
PRIOR_DOMINATED_SD_RATIO = 0.7
YEAR = 2030
#: Between the ends of an interval: a spaced en dash.
DASH = " \u2013 "


def fmt(x: object) -> str:
    """A number for a reader: 3 significant figures, exponents for the very large or small."""
    try:
        v = float(x)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return str(x)
    if not math.isfinite(v):
        return ""
    a = abs(v)
    if a == 0:
        return "0"
    if a >= 1e4 or a < 1e-2:
        mant, exp = f"{v:.2e}".split("e")
        return f"{mant}e{int(exp)}"
    if a >= 100:
        return f"{v:.0f}"
    return f"{v:.3g}"


def interval(lo: float, hi: float) -> str:
    return f"{fmt(lo)}{DASH}{fmt(hi)}"


def _stacked(da: xr.DataArray) -> np.ndarray:
    return np.asarray(da.stack(sample=("chain", "draw")).transpose("sample", ...).values, float)


# -- 1. verdict ------------------------------------------------------------------------------


def _check_value(x: object) -> str:
    """A diagnostic's value with enough digits to see why it passed (r-hat 1.004)."""
    if x is None:
        return "n/a"
    try:
        v = float(x)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return str(x)
    return f"{v:.0f}" if v.is_integer() else f"{v:.4g}"


def verdict_section(run: Run) -> Section:
    diag = run.manifest.get("diagnostics") or {}
    verdict = diag.get("verdict") or run.manifest.get("verdict") or "unknown"
    checks = diag.get("checks") or []
    failing = [c for c in checks if not c.get("passed")]
    blocks: list = []
    if verdict == "pass":
        if diag.get("prior_only") or not checks:
            title = ("PASS — prior-only run: no sampler checks apply; the numbers are the "
                     "model's prior predictive, not fitted to the evidence.")
        else:
            title = f"PASS — all {len(checks)} sampler checks passed; the draws can be trusted."
        blocks.append(Banner(True, title))
    else:
        title = (f"FAIL — {len(failing)} of {len(checks)} diagnostic checks failed: treat every "
                 "number below with suspicion until the run is fixed.")
        items = [f"{c['name']} = {_check_value(c.get('value'))} (needs {c.get('threshold')})"
                 + (f"; {c['detail']}" if c.get("detail") else "") for c in failing]
        blocks.append(Banner(False, title, items or [f"verdict: {verdict}"]))
    notes = [str(n) for n in diag.get("notes") or []]
    if notes:
        blocks.append(Bullets(notes))
    if checks:
        rows = [[c["name"], _check_value(c.get("value")), str(c.get("threshold", "")),
                 Cell("pass", "good") if c.get("passed") else Cell("FAIL", "bad"),
                 str(c.get("detail", ""))] for c in checks]
        blocks.append(Table(["check", "value", "threshold", "result", "detail"], rows,
                            numeric=(1,)))
    return Section(*SECTIONS[0], blocks)


# -- 2. headline -----------------------------------------------------------------------------


def headline_section(dt: xr.DataTree, year: int = YEAR) -> Section:
    table = forecast_table(dt, year)
    rows = []
    for key, r in table.items():
        essay = ESSAY_2030.get(key) if year == 2030 else None
        ratio = r["median"] / essay.median if essay else math.nan
        ratio_cell = Cell(fmt(ratio) + "x", "good" if 1 / 3 <= ratio <= 3 else "far") \
            if essay else ""
        rows.append([
            str(r["label"]), str(r["unit"]), fmt(r["median"]),
            interval(r["q25"], r["q75"]), interval(r["q05"], r["q95"]),
            fmt(essay.median) if essay else "",
            interval(essay.low, essay.high) if essay and essay.low is not None else "",
            ratio_cell,
        ])
    what = "posterior" if draws_group(dt) == "posterior" else "prior (prior-only run)"
    return Section(*SECTIONS[1], [
        Paragraph(f"Each quantity in {year}, from the {what} draws: median, 50% interval "
                  "(25th-75th percentile) and 90% interval (5th-95th), beside the essay's "
                  "median and its 25th-75th percentile range. The last column is the "
                  "model's median over the essay's: green within a factor 3 of the essay, amber "
                  "further away."),
        Table(["quantity", "unit", "median", "50% interval", "90% interval", "essay median",
               "essay range (25-75%)", "median / essay"], rows, numeric=(2, 3, 4, 5, 6, 7),
              caption="Essay figures: Steinhardt (2023), see models/essay.py for where each "
              "is stated. Blank: the essay gives no figure."),
    ])


# -- 3. fan charts ---------------------------------------------------------------------------


def trajectories_section(dt: xr.DataTree, obs: pd.DataFrame) -> Section:
    group = dt[draws_group(dt)]
    blocks: list = [Paragraph(
        "Fan charts: the shaded bands hold 90% (5-95%) and 50% (25-75%) of the draws, the "
        "line is the median. Points are the observations the model was conditioned on, with "
        "their stated intervals as error bars.")]
    made = [
        ("fig-compute.png", figures.fig_compute(dt, obs), "Frontier training compute",
         "Frontier training compute (FLOP, log scale); points: training runs with role "
         "'compute'; star: the essay's 1e28 FLOP for 2030."),
        ("fig-scaling.png", figures.fig_scaling(dt, obs), "Parameters, tokens and data",
         "Parameters and training tokens of the frontier model against the data available; "
         "the dashed line is the median year the data binds. Points: models paired for "
         "tokens per parameter."),
        ("fig-speed.png", figures.fig_speed(dt, obs), "Serial speed",
         "Serial speed (tokens/s) against human thinking speed (human_tokens_per_minute / 60, "
         "5-95% band). Points: API speed measurements."),
        ("fig-work.png", figures.fig_work(dt), "Work-years and parallel copies",
         "Human-speed years of work the training compute can run, and the copies at human "
         "speed that work makes over one training run; stars: the essay's 2030 figures."),
    ]
    for filename, fig, alt, caption in made:
        blocks.append(FigureBlock(filename, figures.png_bytes(fig), alt, caption))
    if "data_binding_year" in group:
        b = np.asarray(group["data_binding_year"].values, float).ravel()
        last = int(group["year"].values[-1])

        def when(y: float) -> str:  # the grid ends at `last`: later means "not by then"
            return f"after {last}" if y > last else f"{y:.0f}"

        q = np.nanquantile(b, [0.05, 0.5, 0.95])
        share = float((b > last).mean())
        blocks.append(Paragraph(
            f"Data binds (training tokens wanted exceed the data available) in {when(q[1])} "
            f"at the median, 90% interval {when(q[0])}{DASH}{when(q[2])}; in {share:.0%} of the "
            f"draws it does not bind by {last}."))
    return Section(*SECTIONS[2], blocks)


# -- 4. speed traded -------------------------------------------------------------------------


def speed_trade_section(dt: xr.DataTree, year: int = YEAR) -> Section:
    group = dt[draws_group(dt)]
    if "speed_traded" not in group:
        return Section(*SECTIONS[3], [Paragraph("This run has no speed_traded variable.")])
    da = group["speed_traded"].sel(year=year)
    values = _stacked(da)
    rows = []
    for i, k in enumerate(da["k"].values):
        q = np.nanquantile(values[:, i], [0.05, 0.5, 0.95])
        rows.append([str(int(k)), str(int(k) ** 2), str(int(k) ** 3), fmt(q[1]),
                     interval(q[0], q[2])])
    return Section(*SECTIONS[3], [
        Paragraph(f"The essay (section 2): giving up a factor k of throughput buys a model "
                  f"k² times faster (k³ parallel copies for one). Serial speed in {year} "
                  "relative to human thinking, when traded at each k."),
        Table(["k", "speed-up (k²)", "throughput given up (k³)", "median (x human)",
               "90% interval (x human)"], rows, numeric=(0, 1, 2, 3, 4),
              caption="The essay's example: 5x human at k = 5 gives 125x."),
    ])


# -- 5. capabilities -------------------------------------------------------------------------


def crossing_year(probs: dict[int, float], level: float = 0.5) -> str:
    """The year P first reaches ``level``, interpolated linearly between grid years."""
    years = sorted(probs)
    if not years:
        return ""
    if probs[years[0]] >= level:
        return f"by {years[0]}"
    for a, b in itertools.pairwise(years):
        pa, pb = probs[a], probs[b]
        if pa < level <= pb:
            return f"{a + (level - pa) / (pb - pa) * (b - a):.1f}"
    return f"after {years[-1]}"


def capabilities_section(dt: xr.DataTree) -> Section:
    group = dt[draws_group(dt)]
    if "benchmark_accuracy" not in group:
        return Section(*SECTIONS[4], [Paragraph("This run has no benchmark_accuracy variable.")])
    known = set(str(b) for b in group["benchmark"].values)
    rows = []
    years: list[int] = []
    for th in THRESHOLDS:
        if th.benchmark not in known:
            rows.append([th.name, fmt(th.cited_median_year), Rich((th.cited,)), "",
                         "benchmark not in this run"])
            continue
        probs = figures.capability_probabilities(dt, th.benchmark, th.accuracy)
        years = list(probs)
        rows.append([th.name, f"{th.cited_median_year:g}", th.cited, crossing_year(probs),
                     *[f"{100 * p:.0f}%" for p in probs.values()]])
    width = 4 + len(years)
    rows = [r + [""] * (width - len(r)) for r in rows]
    cols = ["threshold", "cited median year", "cited forecast", "P crosses 50%",
            *[str(y) for y in years]]
    return Section(*SECTIONS[4], [
        Paragraph("P(frontier accuracy on the benchmark >= the threshold) by year, from the "
                  "draws of benchmark_accuracy, beside the Metaculus median year the essay "
                  "cites. 'P crosses 50%' is the model's median year for the threshold."),
        Table(cols, rows, numeric=(1, 3, *range(4, width))),
        FigureBlock("fig-capabilities.png",
                    figures.png_bytes(figures.fig_capabilities(dt, THRESHOLDS)),
                    "Capability thresholds by year",
                    "Probability each threshold is reached by year; dotted lines: the cited "
                    "median years."),
    ])


# -- 6. what changed -------------------------------------------------------------------------


def _lineage(run: Run) -> tuple:
    """What makes two runs successive forecasts of the same kind: config name, model
    version (another version's variables may mean something else), cutoff (a backtest fit
    is not an earlier forecast) and whether it is prior-only."""
    m = run.manifest
    return (m.get("config", {}).get("name"), m.get("model_version"), m.get("cutoff"),
            bool(m.get("prior_only")))


def previous_run(run: Run) -> Run | None:
    """The latest stored run created before this one in the same lineage."""
    created = run.manifest.get("created", "")
    earlier = [r for r in list_runs(run.path.parent)
               if r.id != run.id and _lineage(r) == _lineage(run)
               and r.manifest.get("created", "") < created]
    return earlier[-1] if earlier else None


def _obs_rows(items: list[dict]) -> list[list]:
    return [[str(o.get("id", "")), str(o.get("kind", "")), str(o.get("subject", "")),
             f"{o.get('value', '')} {o.get('unit', '')}".strip(),
             linkify(str(o.get("source", "")))] for o in items]


def changes_section(run: Run, year: int = YEAR) -> Section:
    prev = previous_run(run)
    config = run.manifest.get("config", {}).get("name", "?")
    if prev is None:
        return Section(*SECTIONS[5], [Paragraph(
            f"No previous run: this is the first stored run with config '{config}' (and "
            f"model version {run.manifest.get('model_version')}) in {run.path.parent}.")])
    result = compare_runs(prev, run, year=year)
    blocks: list = [Paragraph(f"Compared with {prev.id} (created {prev.manifest.get('created')}"
                              f", same config '{config}'), in {year}.")]
    other = [f"{k}: {prev.manifest.get(k)} → {run.manifest.get(k)}"
             for k in ("observation_hash", "sampler", "seed", "cutoff", "model_version")
             if prev.manifest.get(k) != run.manifest.get(k)]
    if prev.manifest.get("config") != run.manifest.get("config"):
        other.append("config settings or priors differ")
    if other:
        blocks.append(Paragraph("Also different between the runs:"))
        blocks.append(Bullets(other))
    for key, title in (("added", "Observations added"), ("removed", "Observations removed")):
        items = result.get(key) or []
        blocks.append(Heading(f"{title}: {len(items)}"))
        if items:
            blocks.append(Table(["id", "kind", "subject", "value", "source"], _obs_rows(items)))
    changed = result.get("changed") or []
    blocks.append(Heading(f"Observations changed: {len(changed)}"))
    if changed:
        rows = []
        for c in changed:
            before, after = c.get("before") or {}, c.get("after") or {}
            fields = c.get("changed_fields") or sorted(set(before) | set(after))
            what = "; ".join(f"{f}: {before.get(f, '')} → {after.get(f, '')}" for f in fields)
            rows.append([str(c.get("id", "")), str(c.get("kind", "")),
                         str(c.get("subject", "")), what])
        blocks.append(Table(["id", "kind", "subject", "change (before → now)"], rows))
    shifts = result.get("shifts") or []
    rows = []
    for s in shifts:
        shift = s.get("log10_shift")
        big = shift is not None and math.isfinite(float(shift)) and abs(float(shift)) >= 0.1
        rows.append([str(s.get("label") or s.get("quantity")), str(s.get("unit", "")),
                     fmt(s.get("median_a")), fmt(s.get("median_b")),
                     fmt(s.get("ratio")) + "x" if s.get("ratio") is not None else "",
                     Cell(f"{float(shift):+.2f}" if shift is not None else "",
                          "bad" if big else ""),
                     interval(s.get("q05_a", math.nan), s.get("q95_a", math.nan)),
                     interval(s.get("q05_b", math.nan), s.get("q95_b", math.nan))])
    blocks.append(Heading("Shift of each headline quantity, biggest first"))
    blocks.append(Table(["quantity", "unit", "median before", "median now", "ratio",
                         "log10 shift (dex)", "90% before", "90% now"], rows,
                        numeric=(2, 3, 4, 5, 6, 7),
                        caption="Red: moved by 0.1 dex (a factor 1.26) or more."))
    return Section(*SECTIONS[5], blocks)


# -- 7. drivers ------------------------------------------------------------------------------


def _quiet(fn, *args, **kwargs):
    """Call ``fn`` with its printed advice and warnings swallowed."""
    logger = logging.getLogger("arviz_stats")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            return fn(*args, **kwargs)
    finally:
        logger.setLevel(level)


def scalar_parameters(dt: xr.DataTree) -> list[str]:
    """Sampled scalar parameters present in the draws group."""
    group = dt[draws_group(dt)]
    return [name for name in DEFAULT_PRIORS if name in group
            and set(group[name].dims) == {"chain", "draw"}]


def sensitivity(dt: xr.DataTree, year: int = YEAR) -> pd.DataFrame:
    """Prior dominance of each scalar parameter and of the headline quantities in ``year``.

    Columns ``sd_ratio`` (posterior sd over prior sd; near 1: the data taught little),
    ``psense_prior``, ``psense_likelihood`` and ``diagnosis`` (ArviZ power-scaling
    sensitivity, where the run stored log_prior and log_likelihood).
    """
    import arviz as az

    post = dt["posterior"].to_dataset()
    prior = dt["prior"].to_dataset() if "prior" in dt.children else None
    names = scalar_parameters(dt)
    frame = pd.DataFrame(index=pd.Index(names + list(HEADLINES), name="quantity"),
                         columns=["kind", "sd_ratio", "psense_prior", "psense_likelihood",
                                  "diagnosis"], dtype=object)
    frame["kind"] = ["parameter"] * len(names) + ["headline"] * len(HEADLINES)
    values = {n: post[n] for n in names}
    for key, q in HEADLINES.items():
        if q.variable in post:
            values[key] = np.log10(post[q.variable].sel(year=year, drop=True))
    for name, da in values.items():
        src = name if name in names else HEADLINES[name].variable
        if prior is not None and src in prior:
            p = prior[src].sel(year=year, drop=True) if "year" in prior[src].dims else prior[src]
            if name not in names:
                p = np.log10(p)
            psd = float(np.nanstd(np.asarray(p.values, float)))
            frame.loc[name, "sd_ratio"] = float(np.nanstd(np.asarray(da.values, float))) / psd \
                if psd > 0 else math.nan
    if {"log_prior", "log_likelihood"} <= set(dt.children):
        sub = xr.DataTree.from_dict({
            "posterior": xr.Dataset(values),
            "log_prior": dt["log_prior"].to_dataset(),
            "log_likelihood": dt["log_likelihood"].to_dataset(),
        })
        try:
            summary = _quiet(az.psense_summary, sub)
        except Exception as err:
            frame["diagnosis"] = f"power-scaling failed: {type(err).__name__}"
        else:
            for name in values:
                if name in summary.index:
                    frame.loc[name, "psense_prior"] = float(summary.loc[name, "prior"])
                    frame.loc[name, "psense_likelihood"] = float(summary.loc[name,
                                                                             "likelihood"])
                    frame.loc[name, "diagnosis"] = str(summary.loc[name, "diagnosis"])
    return frame


def _prior_dominated(row: pd.Series) -> bool:
    ratio = row["sd_ratio"]
    by_sd = ratio is not None and not pd.isna(ratio) and ratio >= PRIOR_DOMINATED_SD_RATIO
    return by_sd or "strong prior" in str(row["diagnosis"] or "")


def drivers_section(run: Run, dt: xr.DataTree, year: int = YEAR) -> Section:
    blocks: list = []
    if draws_group(dt) != "posterior":
        return Section(*SECTIONS[6], [Paragraph(
            "A prior-only run: no observation conditions it, so everything rests on the "
            "priors (section 8).")])
    blocks.append(Heading("Observations with the most influence"))
    table = influence(run, year=year, top=10)
    obs = dt["observations"].to_dataset() if "observations" in dt.children else None
    rows = []
    for _, r in table.iterrows():
        oid = str(r.get("obs_id", ""))
        subject = str(obs["subject"].sel(obs_id=oid).values) \
            if obs is not None and oid in obs["obs_id"].values else ""
        k = r.get("pareto_k")
        reliable = r.get("reliable")
        moved = str(r.get("quantity_most_moved", ""))
        signed = r.get(moved) if moved in r.index else None
        signed_text = f"{float(signed):+.3f}" if signed is not None and \
            math.isfinite(float(signed)) else fmt(r.get("max_abs_log10_shift"))
        rows.append([oid, subject, str(r.get("term", "")), moved, signed_text, fmt(k),
                     Cell("yes", "good") if bool(reliable) else Cell("no", "bad")])
    blocks.append(Paragraph(
        f"Leave-one-out (PSIS) shift of the {year} headline medians when each "
        "observation is dropped, largest first: the quantity it moves most and by how "
        "much (dex; negative: the forecast would be lower without it). 'Reliable' is no "
        "when Pareto k is too high for the importance-sampling estimate to be trusted "
        "(refit to be sure)."))
    blocks.append(Table(["observation", "subject", "term", "quantity most moved",
                         "shift if left out (dex)", "Pareto k", "reliable"], rows,
                        numeric=(4, 5)))
    blocks.append(Heading("What rests on the priors"))
    frame = sensitivity(dt, year)
    stored = (run.manifest.get("diagnostics") or {}).get("sensitivity") or []
    for row in stored:  # the run's own diagnostics win where they cover a parameter
        if isinstance(row, dict) and row.get("parameter") in frame.index:
            name = row["parameter"]
            frame.loc[name, "psense_prior"] = row.get("prior")
            frame.loc[name, "psense_likelihood"] = row.get("likelihood")
            frame.loc[name, "diagnosis"] = row.get("diagnosis")
    dominated = [n for n, r in frame.iterrows() if r["kind"] == "parameter"
                 and _prior_dominated(r)]
    heads = [n for n, r in frame.iterrows() if r["kind"] == "headline" and _prior_dominated(r)]
    blocks.append(Paragraph(
        "Prior-dominated parameters (the data narrowed them little: posterior sd at least "
        f"{PRIOR_DOMINATED_SD_RATIO:.0%} of the prior's, or power-scaling diagnoses a strong "
        "prior / weak likelihood): "
        + (", ".join(dominated) if dominated else "none") + ". "
        + ("Headline conclusions that lean on priors: " + ", ".join(heads) + "."
           if heads else "No headline conclusion is mostly prior-driven by these measures.")))
    conflict = [n for n, r in frame.iterrows() if r["kind"] == "headline"
                and "conflict" in str(r["diagnosis"] or "")]
    if conflict:
        blocks.append(Paragraph(
            "Power-scaling flags a potential prior-data conflict for " + ", ".join(conflict)
            + ": both tempering the prior and tempering the likelihood move these forecasts, "
            "so the priors and the evidence pull in somewhat different directions; the "
            "assumptions in section 8 matter for them as well as the evidence."))
    rows = [[name, r["kind"], fmt(r["sd_ratio"]), fmt(r["psense_prior"]),
             fmt(r["psense_likelihood"]), str(r["diagnosis"] or ""),
             Cell("prior", "bad") if _prior_dominated(r) else Cell("data", "good")]
            for name, r in frame.iterrows()]
    blocks.append(Table(["quantity", "kind", "posterior sd / prior sd", "psense prior",
                         "psense likelihood", "diagnosis", "rests on"], rows,
                        numeric=(2, 3, 4),
                        caption=f"Headline quantities on a log10 scale in {year}. Power-"
                        "scaling sensitivity (ArviZ psense_summary, threshold 0.05): how much "
                        "the posterior moves when the prior or likelihood is tempered."))
    return Section(*SECTIONS[6], blocks)


# -- 8. assumptions --------------------------------------------------------------------------


def constant_comments() -> dict[str, str]:
    """The ``#:`` comments above each constant in models/priors.py, keyed by name."""
    source = inspect.getsource(priors_module)
    lines = source.splitlines()
    comments: dict[str, str] = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            name = node.targets[0].id
            text: list[str] = []
            i = node.lineno - 2
            while i >= 0 and lines[i].lstrip().startswith("#:"):
                text.insert(0, lines[i].lstrip()[2:].strip())
                i -= 1
            if text:
                comments[name] = " ".join(text)
    return comments


def assumptions_section(run: Run, dt: xr.DataTree) -> Section:
    config = run.manifest.get("config", {})
    name = config.get("name", "default")
    cfg = CONFIGS.get(name)
    group = dt[draws_group(dt)]
    label = "posterior" if draws_group(dt) == "posterior" else "prior"
    rows = []
    for pname, spec in (config.get("priors") or {}).items():
        source_prior = (cfg.priors.get(pname) if cfg else None) or DEFAULT_PRIORS.get(pname)
        prior = Prior(spec.get("dist", "?"), spec.get("params", {}),
                      source_prior.source if source_prior else "")
        med = ci = ""
        if pname in group:
            da = group[pname]
            extra = [d for d in da.dims if d not in ("chain", "draw")]
            if not extra:
                q = np.nanquantile(np.asarray(da.values, float).ravel(), [0.05, 0.5, 0.95])
                med, ci = fmt(q[1]), interval(q[0], q[2])
            else:
                meds = np.nanmedian(_stacked(da), axis=0).ravel()
                med = f"{meds.size} values ({extra[0]})"
                ci = f"medians {fmt(meds.min())}{DASH}{fmt(meds.max())}"
        rows.append([pname, prior.describe(), med, ci, linkify(prior.source)])
    blocks: list = [
        Paragraph(f"Every prior of config '{name}', with the {label} median and 90% interval "
                  "of each sampled parameter. Sources: models/priors.py."),
        Table(["parameter", "prior", f"{label} median", "90% interval", "source"], rows,
              numeric=(2, 3)),
        Heading("Fixed conversions"),
    ]
    comments = constant_comments()
    crow = []
    for cname in CONSTANTS:
        value = getattr(priors_module, cname, None)
        note = comments.get(cname, "")
        if cname == "MINUTES_PER_YEAR":
            note = "Years of 365 days of continuous thinking. " + note
        crow.append([cname, fmt(value) if value is not None else "", note])
    blocks.append(Table(["constant", "value", "source"], crow, numeric=(1,)))
    return Section(*SECTIONS[7], blocks)


# -- 9. evidence -----------------------------------------------------------------------------


def _value_text(r: pd.Series) -> str:
    text = f"{r.get('value', '')} {r.get('unit', '')}".strip()
    low, high = str(r.get("low", "") or ""), str(r.get("high", "") or "")
    if low or high:
        text += f" [{low}{DASH}{high}]"
        if r.get("interval"):
            text += f" {r.get('interval')}"
    if r.get("bound"):
        text += f" ({r.get('bound')} bound)"
    return text


def evidence_section(obs: pd.DataFrame) -> Section:
    if obs.empty:
        return Section(*SECTIONS[8], [Paragraph("This run used no observations.")])
    role = obs["role"].astype(str).replace("nan", "")
    context = role.str.startswith("context")
    none = role == ""
    used = ~context & ~none
    text = (f"{len(obs)} observations: {int(used.sum())} feed a likelihood term (the role "
            f"names it), {int(context.sum())} are context the model does not condition on "
            "(the role says why)")
    text += f", {int(none.sum())} have no role recorded." if none.any() else "."
    blocks: list = [Paragraph(text + " Grouped by kind; sources link where they give a URL.")]
    for kind, rows in obs.groupby("kind", sort=True):
        blocks.append(Heading(f"{kind} ({len(rows)})"))
        table = [[str(r["id"]), str(r.get("subject", "")), str(r.get("metric", "")),
                  str(r.get("date", "")), _value_text(r), str(r.get("status", "")),
                  str(r.get("role", "")) or "(none)", linkify(str(r.get("source", ""))),
                  str(r.get("note", ""))] for _, r in rows.iterrows()]
        blocks.append(Table(["id", "subject", "metric", "date", "value", "status", "role",
                             "source", "note"], table, cls="evidence"))
    return Section(*SECTIONS[8], blocks)


# -- 10. provenance --------------------------------------------------------------------------


def provenance_section(run: Run) -> Section:
    m = run.manifest
    config = {k: v for k, v in (m.get("config") or {}).items() if k != "priors"}

    def kv(d: dict) -> str:
        return ", ".join(f"{k}={v}" for k, v in d.items())

    rows = [
        ["run id", m.get("run_id", run.id)],
        ["created", m.get("created", "")],
        ["observation hash", m.get("observation_hash", "")],
        ["observations", f"{m.get('n_observations', '')} ({m.get('n_conditioning', '?')} "
                         "conditioning)"],
        ["latest observation", m.get("latest_observation") or ""],
        ["cutoff", m.get("cutoff") or "none"],
        ["seed", m.get("seed", "")],
        ["config", kv(config)],
        ["sampler", kv(m.get("sampler") or {})],
        ["prior only", m.get("prior_only", "")],
        ["model version", m.get("model_version", "")],
        ["packages", kv(m.get("packages") or {})],
        ["timings (s)", kv(m.get("timings") or {})],
        ["run folder", str(run.path)],
    ]
    return Section(*SECTIONS[9], [Table(["field", "value"], [[k, str(v)] for k, v in rows])])


# -- all ---------------------------------------------------------------------------------------


def build_sections(run: Run, dt: xr.DataTree | None = None,
                   year: int = YEAR) -> list[Section]:
    """The ten sections of a run's report, in order."""
    dt = dt if dt is not None else run.datatree()
    obs = observations_from_datatree(dt) if "observations" in dt.children else \
        pd.DataFrame(columns=["id", "kind", "role", "value", "unit", "date", "metric"])
    return [
        verdict_section(run),
        headline_section(dt, year),
        trajectories_section(dt, obs),
        speed_trade_section(dt, year),
        capabilities_section(dt),
        changes_section(run, year),
        drivers_section(run, dt, year),
        assumptions_section(run, dt),
        evidence_section(obs),
        provenance_section(run),
    ]

