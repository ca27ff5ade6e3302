"""The report's ten sections, each built from a stored run into blocks of plain text.

Order (a contract the tests check): verdict, headline table, fan charts, throughput for
speed, capabilities, what changed, what drives the forecast, assumptions, evidence,
provenance. Nothing here writes files or escapes text: :mod:`gpt2030.reports.render` does.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import xarray as xr

from gpt2030.inference.compare import compare
from gpt2030.inference.diagnostics import subjects
from gpt2030.inference.forecast import ESSAY_YEAR, YEAR, draws_group, forecast_table
from gpt2030.inference.influence import influence_table
from gpt2030.inference.reporting import (
    PRIOR_DOMINATED_SD_RATIO,
    Manifest,
    ReportContext,
    api_speed_rows,
    capability_probabilities,
    evidence_points,
    prior_dominance,
    report_context,
    scalar_parameters,
)
from gpt2030.inference.runs import (
    BrokenRunError,
    Run,
    list_runs,
    observations_from_datatree,
    remedy,
)
from gpt2030.reports import figures
from gpt2030.reports.numbers import DASH, check_value, fmt, interval
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


def _stacked(da: xr.DataArray) -> np.ndarray:
    return np.asarray(da.stack(sample=("chain", "draw")).transpose("sample", ...).values, float)


# -- 1. verdict ------------------------------------------------------------------------------


def verdict_section(manifest: Manifest) -> Section:
    """1. Whether the run's draws can be trusted: a banner, the notes, every check.

    Parameters
    ----------
    manifest : Manifest
        The run's manifest.

    Returns
    -------
    Section
    """
    diag = manifest.diagnostics
    checks = diag.checks
    verdict = manifest.verdict if not checks else diag.verdict
    failing = diag.failures
    blocks: list = []
    if verdict == "pass":
        if diag.prior_only or not checks:
            title = ("PASS — prior-only run: no sampler checks apply; the numbers are the "
                     "model's prior predictive, not fitted to the evidence.")
        else:
            title = f"PASS — all {len(checks)} sampler checks passed; the draws can be trusted."
        blocks.append(Banner(True, title))
    else:
        title = (f"FAIL — {len(failing)} of {len(checks)} diagnostic checks failed: treat every "
                 "number below with suspicion until the run is fixed.")
        items = [f"{c.name} = {check_value(c.value)} (needs {c.threshold})"
                 + (f"; {c.detail}" if c.detail else "") for c in failing]
        blocks.append(Banner(False, title, items or [f"verdict: {verdict}"]))
    if diag.notes:
        blocks.append(Bullets(list(diag.notes)))
    if checks:
        rows = [[c.name, check_value(c.value), c.threshold,
                 Cell("pass", "good") if c.passed else Cell("FAIL", "bad"), c.detail]
                for c in checks]
        blocks.append(Table(["check", "value", "threshold", "result", "detail"], rows,
                            numeric=(1,)))
    return Section(*SECTIONS[0], blocks)


# -- 2. headline -----------------------------------------------------------------------------


def headline_section(dt: xr.DataTree, ctx: ReportContext, year: int = YEAR) -> Section:
    """2. Each headline quantity in ``year`` beside the essay's figure.

    Parameters
    ----------
    dt : xarray.DataTree
        The run.
    ctx : ReportContext
        Its report context.
    year : int
        The year.

    Returns
    -------
    Section
    """
    table = forecast_table(dt, year)
    rows = []
    for key, r in table.items():
        essay = ctx.essay_2030.get(key) if year == ESSAY_YEAR else None
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


def trajectories_section(dt: xr.DataTree, obs: pd.DataFrame, ctx: ReportContext) -> Section:
    """3. Fan charts of the trajectories with the observations in base units.

    Parameters
    ----------
    dt : xarray.DataTree
        The run.
    obs : pandas.DataFrame
        Its observations.
    ctx : ReportContext
        Its report context.

    Returns
    -------
    Section
    """
    group = dt[draws_group(dt)]
    role = obs["role"].astype(str)
    pairs = role == "tokens_per_param"
    essay = {k: f.median for k, f in ctx.essay_2030.items()}
    blocks: list = [Paragraph(
        "Fan charts: the shaded bands hold 90% (5-95%) and 50% (25-75%) of the draws, the "
        "line is the median. Points are the observations the model was conditioned on, with "
        "their stated intervals as error bars.")]
    made = [
        ("fig-compute.png", figures.fig_compute(dt, evidence_points(obs, role == "compute"),
                                                essay.get("training_compute_flop")),
         "Frontier training compute",
         "Frontier training compute (FLOP, log scale); points: training runs with role "
         "'compute'; star: the essay's 1e28 FLOP for 2030."),
        ("fig-scaling.png", figures.fig_scaling(
            dt, evidence_points(obs, pairs & (obs["kind"] == "parameters")),
            evidence_points(obs, pairs & (obs["kind"] == "training_tokens"))),
         "Parameters, tokens and data",
         "Parameters and training tokens of the frontier model against the data available; "
         "the dashed line is the median year the data binds. Points: models paired for "
         "tokens per parameter."),
        ("fig-speed.png", figures.fig_speed(dt, evidence_points(obs, api_speed_rows(obs))),
         "Serial speed",
         "Serial speed (tokens/s) against human thinking speed (human_tokens_per_minute / 60, "
         "5-95% band). Points: API speed measurements."),
        ("fig-work.png", figures.fig_work(dt, essay), "Work-years and parallel copies",
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
    """4. Speed relative to human thinking when throughput is traded for speed.

    Parameters
    ----------
    dt : xarray.DataTree
        The run.
    year : int
        The year.

    Returns
    -------
    Section
    """
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
    """The year P first reaches ``level``, interpolated linearly between grid years.

    Parameters
    ----------
    probs : dict
        ``{year: probability}``.
    level : float
        The probability to reach.

    Returns
    -------
    str
        ``by <first year>``, a decimal year, ``after <last year>``, or ``""`` without years.
    """
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


def capabilities_section(dt: xr.DataTree, ctx: ReportContext) -> Section:
    """5. P(each capability threshold is reached) by year, beside the cited forecasts.

    Parameters
    ----------
    dt : xarray.DataTree
        The run.
    ctx : ReportContext
        Its report context.

    Returns
    -------
    Section
    """
    group = dt[draws_group(dt)]
    if "benchmark_accuracy" not in group:
        return Section(*SECTIONS[4], [Paragraph("This run has no benchmark_accuracy variable.")])
    known = set(str(b) for b in group["benchmark"].values)
    rows = []
    years: list[int] = []
    probabilities: dict[str, dict[int, float]] = {}
    for th in ctx.thresholds:
        if th.benchmark not in known:
            rows.append([th.name, fmt(th.cited_median_year), Rich((th.cited,)), "",
                         "benchmark not in this run"])
            continue
        probs = probabilities[th.name] = capability_probabilities(dt, th.benchmark, th.accuracy)
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
                    figures.png_bytes(figures.fig_capabilities(ctx.thresholds, probabilities)),
                    "Capability thresholds by year",
                    "Probability each threshold is reached by year; dotted lines: the cited "
                    "median years."),
    ])


# -- 6. what changed -------------------------------------------------------------------------


def previous_run(run: Run) -> Run | None:
    """The latest stored run created before this one in the same lineage.

    Parameters
    ----------
    run : Run
        A stored run.

    Returns
    -------
    Run or None
        Same configuration, model version, cutoff and prior-only flag
        (:attr:`Manifest.lineage`), created earlier; ``None`` if there is none.
    """
    this = Manifest.from_dict(run.manifest)
    earlier = [r for r in list_runs(run.path.parent) if r.id != run.id]
    earlier = [r for r in earlier if Manifest.from_dict(r.manifest).lineage == this.lineage
               and Manifest.from_dict(r.manifest).created < this.created]
    return earlier[-1] if earlier else None


def _obs_rows(items: list) -> list[list]:
    return [[o.id, o.kind, o.subject, f"{o.value} {o.unit}".strip(), linkify(o.source)]
            for o in items]


def changes_section(run: Run, year: int = YEAR, dt: xr.DataTree | None = None) -> Section:
    """6. What changed since the previous run of the same lineage.

    Parameters
    ----------
    run : Run
        The run.
    year : int
        The year.
    dt : xarray.DataTree, optional
        The run's DataTree, when already read.

    Returns
    -------
    Section
    """
    prev = previous_run(run)
    this = Manifest.from_dict(run.manifest)
    if prev is None:
        return Section(*SECTIONS[5], [Paragraph(
            f"No previous run: this is the first stored run with config '{this.config_name}' "
            f"(and model version {this.model_version}) in {run.path.parent}.")])
    before = Manifest.from_dict(prev.manifest)
    try:
        result = compare(prev, run, year=year, dt_b=dt)
    except BrokenRunError as err:  # issue #9: a damaged earlier run never blocks a report
        return Section(*SECTIONS[5], [Paragraph(
            f"The previous run of this lineage, {prev.id}, cannot be read ({err.reason}): "
            f"nothing to compare with. {remedy(prev.id, prev.manifest).capitalize()}.")])
    blocks: list = [Paragraph(f"Compared with {prev.id} (created {before.created}, same "
                              f"config '{this.config_name}'), in {year}.")]
    other = [f"{k}: {getattr(before, k)} → {getattr(this, k)}"
             for k in ("observation_hash", "sampler", "seed", "cutoff", "model_version")
             if getattr(before, k) != getattr(this, k)]
    if (before.config, before.priors) != (this.config, this.priors):
        other.append("config settings or priors differ")
    if other:
        blocks.append(Paragraph("Also different between the runs:"))
        blocks.append(Bullets(other))
    for items, title in ((result.added, "Observations added"),
                         (result.removed, "Observations removed")):
        blocks.append(Heading(f"{title}: {len(items)}"))
        if items:
            blocks.append(Table(["id", "kind", "subject", "value", "source"], _obs_rows(items)))
    blocks.append(Heading(f"Observations changed: {len(result.changed)}"))
    if result.changed:
        rows = []
        for c in result.changed:
            what = "; ".join(f"{f}: {(c.before or {})[f]} → {(c.after or {})[f]}"
                             for f in c.changed_fields)
            rows.append([c.id, c.kind, c.subject, what])
        blocks.append(Table(["id", "kind", "subject", "change (before → now)"], rows))
    rows = []
    for s in result.shifts:
        big = s.log10_shift is not None and abs(s.log10_shift) >= 0.1
        rows.append([s.label or s.quantity, s.unit, fmt(s.median_a), fmt(s.median_b),
                     fmt(s.ratio) + "x" if s.ratio is not None else "",
                     Cell(f"{s.log10_shift:+.2f}" if s.log10_shift is not None else "",
                          "bad" if big else ""),
                     interval(s.q05_a, s.q95_a), interval(s.q05_b, s.q95_b)])
    blocks.append(Heading("Shift of each headline quantity, biggest first"))
    blocks.append(Table(["quantity", "unit", "median before", "median now", "ratio",
                         "log10 shift (dex)", "90% before", "90% now"], rows,
                        numeric=(2, 3, 4, 5, 6, 7),
                        caption="Red: moved by 0.1 dex (a factor 1.26) or more."))
    return Section(*SECTIONS[5], blocks)


# -- 7. drivers ------------------------------------------------------------------------------


def drivers_section(run: Run, dt: xr.DataTree, ctx: ReportContext, year: int = YEAR
                    ) -> Section:
    """7. The most influential observations, and what rests on the priors.

    Parameters
    ----------
    run : Run
        The run.
    dt : xarray.DataTree
        Its DataTree.
    ctx : ReportContext
        Its report context.
    year : int
        The year.

    Returns
    -------
    Section
    """
    if draws_group(dt) != "posterior":
        return Section(*SECTIONS[6], [Paragraph(
            "A prior-only run: no observation conditions it, so everything rests on the "
            "priors (section 8).")])
    blocks: list = [Heading("Observations with the most influence")]
    table = influence_table(dt, year=year, top=10)
    by_id = subjects(dt)
    rows = []
    for _, r in table.iterrows():
        moved = str(r["quantity_most_moved"])
        signed = float(r[moved])
        signed_text = f"{signed:+.3f}" if math.isfinite(signed) \
            else fmt(r["max_abs_log10_shift"])
        rows.append([str(r["obs_id"]), by_id.get(str(r["obs_id"]), ""), str(r["term"]),
                     moved, signed_text, fmt(r["pareto_k"]),
                     Cell("yes", "good") if bool(r["reliable"]) else Cell("no", "bad")])
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
    frame = prior_dominance(dt, year, scalar_parameters(dt, list(ctx.manifest.priors)),
                            ctx.manifest.diagnostics.sensitivity)
    params = frame[frame["kind"] == "parameter"]
    heads = frame[frame["kind"] == "headline"]
    dominated = list(params.index[params["prior_dominated"]])
    leaning = list(heads.index[heads["prior_dominated"]])
    blocks.append(Paragraph(
        "Prior-dominated parameters (the data narrowed them little: posterior sd at least "
        f"{PRIOR_DOMINATED_SD_RATIO:.0%} of the prior's, or power-scaling diagnoses a strong "
        "prior / weak likelihood): "
        + (", ".join(dominated) if dominated else "none") + ". "
        + ("Headline conclusions that lean on priors: " + ", ".join(leaning) + "."
           if leaning else "No headline conclusion is mostly prior-driven by these measures.")))
    conflict = list(heads.index[heads["diagnosis"].fillna("").astype(str)
                                .str.contains("conflict")])
    if conflict:
        blocks.append(Paragraph(
            "Power-scaling flags a potential prior-data conflict for " + ", ".join(conflict)
            + ": both tempering the prior and tempering the likelihood move these forecasts, "
            "so the priors and the evidence pull in somewhat different directions; the "
            "assumptions in section 8 matter for them as well as the evidence."))
    rows = [[name, r["kind"], fmt(r["sd_ratio"]), fmt(r["psense_prior"]),
             fmt(r["psense_likelihood"]), str(r["diagnosis"] or "") if not pd.isna(
                 r["diagnosis"]) else "",
             Cell("prior", "bad") if r["prior_dominated"] else Cell("data", "good")]
            for name, r in frame.iterrows()]
    blocks.append(Table(["quantity", "kind", "posterior sd / prior sd", "psense prior",
                         "psense likelihood", "diagnosis", "rests on"], rows,
                        numeric=(2, 3, 4),
                        caption=f"Headline quantities on a log10 scale in {year}. Power-"
                        "scaling sensitivity (ArviZ psense_summary, threshold 0.05): how much "
                        "the posterior moves when the prior or likelihood is tempered."))
    return Section(*SECTIONS[6], blocks)


# -- 8. assumptions --------------------------------------------------------------------------


def assumptions_section(dt: xr.DataTree, ctx: ReportContext) -> Section:
    """8. Every prior of the run with its source, and the fixed conversions of the chain.

    Parameters
    ----------
    dt : xarray.DataTree
        The run.
    ctx : ReportContext
        Its report context.

    Returns
    -------
    Section
    """
    group = dt[draws_group(dt)]
    label = "posterior" if draws_group(dt) == "posterior" else "prior"
    rows = []
    for prior in ctx.priors:
        med = ci = ""
        if prior.name in group:
            da = group[prior.name]
            extra = [d for d in da.dims if d not in ("chain", "draw")]
            if not extra:
                q = np.nanquantile(np.asarray(da.values, float).ravel(), [0.05, 0.5, 0.95])
                med, ci = fmt(q[1]), interval(q[0], q[2])
            else:
                meds = np.nanmedian(_stacked(da), axis=0).ravel()
                med = f"{meds.size} values ({extra[0]})"
                ci = f"medians {fmt(meds.min())}{DASH}{fmt(meds.max())}"
        rows.append([prior.name, prior.description, med, ci, linkify(prior.source)])
    name = ctx.manifest.config_name
    blocks: list = [
        Paragraph(f"Every prior of config '{name}', with the {label} median and 90% interval "
                  "of each sampled parameter. Sources: models/priors.py."),
        Table(["parameter", "prior", f"{label} median", "90% interval", "source"], rows,
              numeric=(2, 3)),
        Heading("Fixed conversions"),
    ]
    crow = []
    for c in ctx.constants:
        note = c.note
        if c.name == "MINUTES_PER_YEAR":
            note = "Years of 365 days of continuous thinking. " + note
        crow.append([c.name, fmt(c.value) if c.value is not None else "", note])
    blocks.append(Table(["constant", "value", "source"], crow, numeric=(1,)))
    if ctx.from_today:
        blocks.append(Paragraph(
            f"This run did not store its {' and '.join(ctx.from_today)}: they are read from "
            "this installation's models/priors.py.", "note"))
    return Section(*SECTIONS[7], blocks)


# -- 9. evidence -----------------------------------------------------------------------------


def _value_text(r: dict[str, str]) -> str:
    text = f"{r['value']} {r['unit']}".strip()
    if r["low"] or r["high"]:
        text += f" [{r['low']}{DASH}{r['high']}]"
        if r["interval"]:
            text += f" {r['interval']}"
    if r["bound"]:
        text += f" ({r['bound']} bound)"
    return text


#: The observation fields the evidence tables show (missing columns read as blank).
EVIDENCE_FIELDS = ("id", "subject", "metric", "date", "value", "unit", "low", "high",
                   "interval", "bound", "status", "role", "source", "note")


def evidence_section(obs: pd.DataFrame) -> Section:
    """9. Every observation of the run, by kind, with its role in the model.

    Parameters
    ----------
    obs : pandas.DataFrame
        The run's observations.

    Returns
    -------
    Section
    """
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
    text_obs = obs.reindex(columns=list(EVIDENCE_FIELDS)).fillna("").astype(str)
    text_obs = text_obs.replace("nan", "")
    for kind, rows in text_obs.groupby(obs["kind"], sort=True):
        blocks.append(Heading(f"{kind} ({len(rows)})"))
        table = [[r["id"], r["subject"], r["metric"], r["date"], _value_text(r), r["status"],
                  r["role"] or "(none)", linkify(r["source"]), r["note"]]
                 for r in rows.to_dict("records")]
        blocks.append(Table(["id", "subject", "metric", "date", "value", "status", "role",
                             "source", "note"], table, cls="evidence"))
    return Section(*SECTIONS[8], blocks)


# -- 10. provenance --------------------------------------------------------------------------


def provenance_section(run: Run, m: Manifest) -> Section:
    """10. Everything needed to reproduce the run.

    Parameters
    ----------
    run : Run
        The run.
    m : Manifest
        Its manifest.

    Returns
    -------
    Section
    """

    def kv(d: dict) -> str:
        return ", ".join(f"{k}={v}" for k, v in d.items())

    def text(x: object) -> str:
        return "" if x is None else str(x)

    rows = [
        ["run id", m.run_id],
        ["created", m.created],
        ["observation hash", m.observation_hash],
        ["observations", f"{text(m.n_observations)} ("
                         f"{'?' if m.n_conditioning is None else m.n_conditioning} "
                         "conditioning)"],
        ["latest observation", text(m.latest_observation)],
        ["cutoff", m.cutoff or "none"],
        ["seed", text(m.seed)],
        ["config", kv(m.config)],
        ["sampler", kv(m.sampler)],
        ["prior only", m.prior_only],
        ["model version", m.model_version],
        ["packages", kv(m.packages)],
        ["timings (s)", kv(m.timings)],
        ["run folder", str(run.path)],
    ]
    return Section(*SECTIONS[9], [Table(["field", "value"], [[k, str(v)] for k, v in rows])])


# -- all ---------------------------------------------------------------------------------------


def build_sections(run: Run, dt: xr.DataTree | None = None,
                   year: int = YEAR) -> list[Section]:
    """The ten sections of a run's report, in order.

    Parameters
    ----------
    run : Run
        A stored run.
    dt : xarray.DataTree, optional
        Its DataTree, when already read.
    year : int
        The year of the headline forecast.

    Returns
    -------
    list of Section
    """
    dt = dt if dt is not None else run.datatree()
    ctx = report_context(run)
    obs = observations_from_datatree(dt) if "observations" in dt.children else \
        pd.DataFrame(columns=["id", "kind", "role", "value", "unit", "date", "metric"])
    return [
        verdict_section(ctx.manifest),
        headline_section(dt, ctx, year),
        trajectories_section(dt, obs, ctx),
        speed_trade_section(dt, year),
        capabilities_section(dt, ctx),
        changes_section(run, year, dt),
        drivers_section(run, dt, ctx, year),
        assumptions_section(dt, ctx),
        evidence_section(obs),
        provenance_section(run, ctx.manifest),
    ]

