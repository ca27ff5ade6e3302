"""The report's twelve sections, each built from a stored run into blocks of plain text.

Order (a contract the tests check): verdict, the forecast in plain words (what 2030 looks
like, why it differs from the essay, how far to trust it), headline table, trajectories,
throughput for speed, capabilities, what changed, what drives the forecast, assumptions,
provenance, the track record of pre-registered predictions, and the evidence as a
collapsible appendix (also written as ``evidence.csv``). Every number in the prose comes
from the run, its influence, the latest stored backtest or the home's prediction registry;
the only constants are the essay's cited figures. Nothing here writes files or escapes
text: :mod:`gpt2030.reports.render` does.
"""

from __future__ import annotations

import itertools
import math
from contextlib import nullcontext
from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr

from gpt2030.inference.compare import compare
from gpt2030.inference.diagnostics import subjects
from gpt2030.inference.forecast import ESSAY_YEAR, YEAR, draws_group, forecast_table
from gpt2030.inference.influence import influence_table
from gpt2030.inference.predictions import OpenTarget, Prediction, TrackRecord, track_record
from gpt2030.inference.reporting import (
    ESSAY_TRADE_K,
    HEADLINE_KINDS,
    MIN_KIND_ROWS,
    PRIOR_DOMINATED_SD_RATIO,
    BacktestTrust,
    EssayDifference,
    KindScore,
    Manifest,
    Mover,
    ReportContext,
    api_speed_rows,
    best_scores,
    capability_probabilities,
    essay_differences,
    evidence_csv,
    evidence_points,
    frontier_compute_rows,
    frontier_speed_rows,
    keep_prior_dominance,
    latest_backtest,
    latest_observation_year,
    prior_dominance,
    report_context,
    scalar_parameters,
    stored_prior_dominance,
)
from gpt2030.inference.reweight import REWEIGHTED, path_line, run_path
from gpt2030.inference.runs import (
    BrokenRunError,
    Run,
    list_runs,
    observations_from_datatree,
    remedy,
)
from gpt2030.inference.targets import SCALE_UNIT, to_display
from gpt2030.inference.voi import ValueOfInformation, for_report
from gpt2030.reports import figures
from gpt2030.reports.numbers import DASH, check_value, fixed, fmt, interval, interval90
from gpt2030.reports.png import Render, Renderer, draw
from gpt2030.reports.render import (
    Banner,
    Bullets,
    Cell,
    Details,
    FigureBlock,
    Heading,
    Paragraph,
    Section,
    Table,
    linkify,
    with_figures_drawn,
)

#: Section titles, in order: (anchor, title).
SECTIONS: tuple[tuple[str, str], ...] = (
    ("verdict", "1. Verdict"),
    ("summary", "2. The forecast in plain words"),
    ("headline", "3. Headline forecast for 2030"),
    ("trajectories", "4. Trajectories 2018-2035"),
    ("speed-trade", "5. Trading throughput for speed in 2030"),
    ("capabilities", "6. Capabilities"),
    ("changes", "7. What changed since the previous run"),
    ("drivers", "8. What drives the forecast"),
    ("assumptions", "9. Assumptions"),
    ("provenance", "10. Provenance"),
    ("track-record", "11. Track record"),
    ("evidence", "Appendix: the evidence"),
)
#: Section index by anchor.
_AT = {anchor: i for i, (anchor, _) in enumerate(SECTIONS)}


def _section(anchor: str, blocks: list, cls: str = "") -> Section:
    return Section(*SECTIONS[_AT[anchor]], blocks, cls=cls)


def _stacked(da: xr.DataArray) -> np.ndarray:
    """The draws as (sample, ...) in chain order (a reshape: ``stack``'s MultiIndex is slow)."""
    values = np.asarray(da.transpose("chain", "draw", ...).values, float)
    return values.reshape(-1, *values.shape[2:])


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
    notes = [Bullets(list(diag.notes))] if diag.notes else []
    if checks:
        rows = [[c.name, check_value(c.value), c.threshold,
                 Cell("pass", "good") if c.passed else Cell("FAIL", "bad"), c.detail]
                for c in checks]
        n_failed = sum(not c.passed for c in checks)
        blocks.append(Details(
            f"Every check: {len(checks) - n_failed} passed, {n_failed} failed"
            + (f"; {len(diag.notes)} notes" if diag.notes else ""),
            [Table(["check", "value", "threshold", "result", "detail"], rows, numeric=(1,)),
             *notes]))
    else:
        blocks.extend(notes)
    return _section("verdict", blocks)


# -- 2. the forecast in plain words ------------------------------------------------------


def plain(x: float) -> str:
    """A number for prose: ``7.9M``, ``31``, ``2,500``, ``2.0e28``, ``0.61``.

    Parameters
    ----------
    x : float
        A positive number.

    Returns
    -------
    str
    """
    if x is None or not math.isfinite(x):
        return "?"
    a = abs(x)
    if a >= 1e15 or (0 < a < 0.01):
        mant, exp = f"{x:.1e}".split("e")
        return f"{mant}e{int(exp)}"
    for scale, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M")):
        if a >= scale:
            return f"{x / scale:.2g}{suffix}" if a < 10 * scale else f"{x / scale:.0f}{suffix}"
    if a >= 1000:
        return f"{float(f'{x:.3g}'):,.0f}"
    if a >= 100:
        return f"{x:,.0f}"
    if a >= 10:
        return f"{x:.0f}"
    return f"{x:.2g}"


def _dex(x: float) -> str:
    return f"{x:+.2f} dex"


def _times(dex: float) -> str:
    """A factor in words: ``3.2x higher`` / ``2.0x lower``."""
    f = 10 ** abs(dex)
    return f"{f:.2g}x {'higher' if dex >= 0 else 'lower'}" if f >= 1.05 else "about the same"


def _mover_text(m: Mover) -> str:
    rough = " (rough: Pareto k too high)" if not m.reliable else ""
    who = f" ({m.subject})" if m.subject and m.subject != "nan" else ""
    return f"{m.obs_id}{who} {_dex(-m.shift)}{rough}"


def _difference_item(d: EssayDifference, year: int) -> str:
    """One headline's difference from the essay, link by link, in one paragraph."""
    parts = [f"{d.label}: {plain(d.median)} {d.unit} in {year} (90% interval "
             f"{plain(d.q05)}{DASH}{plain(d.q95)}) against the essay's {plain(d.essay)}, "
             f"{_times(d.dex)} ({_dex(d.dex)})."]
    links = sorted(d.links, key=lambda link: -abs(link.dex))
    text = "; ".join(
        f"{link.label} {plain(link.model)} {link.unit} against the essay's "
        f"{plain(link.essay)} ({'divides' if link.sign < 0 else 'multiplies'}: "
        f"{_dex(link.dex)})" for link in links)
    if len(links) > 1:
        parts.append(f"By the chain's arithmetic the links contribute: {text}.")
        if abs(d.residual) >= 0.05:
            parts.append(f"The medians of the links do not multiply exactly: "
                         f"{_dex(d.residual)} remain.")
        parts.append(f"The largest link is {links[0].label}.")
    else:
        parts.append(f"The link: {text}.")
    if d.overtraining is not None and any(link.key == "parameters" for link in d.links):
        over = d.overtraining
        if 10 ** (0.5 * abs(over)) < 1.05:
            parts.append("The frontier model is trained at about the compute-optimal tokens "
                         "per parameter.")
        else:
            parts.append(f"The frontier model is trained on {10 ** over:.2g}x the "
                         "compute-optimal tokens per parameter ("
                         + ("overtrained" if over >= 0 else "undertrained")
                         + f"), which makes it {10 ** (0.5 * abs(over)):.2g}x "
                         + ("smaller" if over >= 0 else "larger")
                         + " than a compute-optimal model of the same compute.")
    sp = d.speed_parts
    if sp:
        parts.append(
            f"Serial speed goes from {plain(sp['speed_t0'])} tokens/s in {sp['t0']:.0f} to "
            f"{year} by {_dex(sp['growth'])}: the serving trend (software and memory "
            f"bandwidth) adds {_dex(sp['trend'])} and the larger frontier model costs "
            f"{_dex(sp['size'])}; the essay's 5x implies {_dex(sp['essay_growth'])} from "
            f"GPT-4's {plain(sp['essay_t0'])} tokens/s.")
    if d.movers:
        parts.append("Moved most by: " + "; ".join(_mover_text(m) for m in d.movers) + ".")
    return " ".join(parts)


def _too_narrow(s: KindScore) -> bool:
    """Whether the 90% intervals held fewer rows than 90%, by more than 2 binomial s.e."""
    return s.coverage90 is not None and bool(s.n) and \
        s.coverage90 < 0.9 - 2 * math.sqrt(0.9 * 0.1 / s.n)


def _calibration_words(s: KindScore) -> str:
    """Coverage and PIT of one kind, with what they mean (2 binomial s.e. as the bar)."""
    words = []
    if s.coverage90 is not None:
        words.append(f"90% intervals held {s.coverage90:.0%} of the {s.n} later rows")
        if s.coverage50 is not None:
            words[-1] += f" (50% intervals: {s.coverage50:.0%})"
    if s.pit_mean is not None:
        words.append(f"mean PIT {s.pit_mean:.2f}")
    verdicts = []
    if _too_narrow(s):
        verdicts.append("the intervals are too narrow")
    if s.pit_mean is not None and s.n:
        bar = 2 * math.sqrt(1 / 12 / s.n)
        if s.pit_mean > 0.5 + bar:
            verdicts.append("the forecasts were too low (later values landed mostly above "
                            "the predictive median)")
        elif s.pit_mean < 0.5 - bar:
            verdicts.append("the forecasts were too high (later values landed mostly below "
                            "the predictive median)")
    text = ", ".join(words)
    return text + (": " + " and ".join(verdicts) if verdicts else
                   ": within two standard errors of calibrated")


KIND_WORDS = {"compute": "training compute", "speed": "served speed",
              "tokens_per_param": "tokens per parameter", "benchmark": "benchmarks",
              "bandwidth": "memory bandwidth", "data_stock": "data stock"}


def _kind(k: str) -> str:
    return KIND_WORDS.get(k, k.replace("_", " "))


def shipped_words(trust: BacktestTrust, manifest: Manifest | None) -> str:
    """What a report says before quoting the backtest shipped with gpt2030.

    Parameters
    ----------
    trust : BacktestTrust
        A shipped record (``trust.shipped``).
    manifest : Manifest or None
        The run's manifest (its model version and observations are compared).

    Returns
    -------
    str
        One or two sentences: that it is the shipped record, its date and model version, and
        whether this run's ledger is the one that backtest read.
    """
    version = trust.model_version or "not recorded"
    if manifest is not None and trust.model_version and manifest.model_version and \
            manifest.model_version != trust.model_version:
        version += f"; this run's is {manifest.model_version}"
    text = (f"This home holds no backtest of config '{trust.config}' yet, so quoted here is "
            f"the record shipped with gpt2030: '{trust.name}' of {trust.date}, made by model "
            f"version {version}, on the ledger shipped with it")
    if trust.observation_hash and manifest is not None and manifest.observation_hash:
        if manifest.observation_hash == trust.observation_hash:
            text += ", the very observations this run was fitted to."
        else:
            sizes = f"{text_or(trust.n_observations)} observations there, " \
                f"{text_or(manifest.n_observations)} here"
            text += (f", which differs from this run's ledger ({sizes}): rows added or changed "
                     "since were not scored.")
    else:
        text += " (whether this run's ledger is the same was not recorded)."
    return text


def text_or(value: object, missing: str = "?") -> str:
    """``str(value)``, or ``missing`` for ``None``.

    Parameters
    ----------
    value : object
        Anything.
    missing : str
        What ``None`` reads as.

    Returns
    -------
    str
    """
    return missing if value is None else str(value)


def trust_blocks(trust: BacktestTrust | None, diffs: list[EssayDifference],
                 verdict: str, config: str = "default",
                 manifest: Manifest | None = None) -> list:
    """How far to trust the forecast: the latest backtest's coverage and PIT, by input.

    Parameters
    ----------
    trust : BacktestTrust or None
        :func:`~gpt2030.inference.reporting.latest_backtest`: the home's latest backtest, or
        the record shipped with gpt2030.
    diffs : list of EssayDifference
        The explained headlines (their inputs' kinds are quoted).
    verdict : str
        The run's diagnostics verdict.
    config : str
        The run's configuration (only its own backtests are quoted).
    manifest : Manifest, optional
        The run's manifest: a shipped record says whether the run's ledger is the one it
        read.

    Returns
    -------
    list
        Blocks.
    """
    blocks: list = [Heading("How far to trust it")]
    lead = "" if verdict == "pass" else (
        "The sampler checks of this run failed (section 1): the draws themselves may be "
        "wrong, before any question of calibration. ")
    if trust is None or not trust.cutoffs:
        blocks.append(Paragraph(
            lead + f"No backtest yet of config '{config}': nothing measures yet how well "
            "this model forecasts rows that came after a cutoff. Run gpt2030 backtest "
            + ("" if config == "default" else f"--config {config} ")
            + "--cutoff 2023-06-30 (the essay's date) and re-run the report to quote its "
            "coverage here."))
        blocks.append(Paragraph("Where the model is known to miss: not measured (no "
                                "backtest yet).", "note"))
        return blocks
    main = max(trust.cutoffs, key=lambda c: c.overall.n if c.overall else 0)
    others = [c for c in trust.cutoffs if c is not main and c.overall]
    if trust.shipped:
        blocks.append(Paragraph(shipped_words(trust, manifest)))
    which = "shipped" if trust.shipped else "latest"
    text = (f"{lead}The {which} backtest, '{trust.name}' of {trust.date}, fitted the model on "
            f"the {main.n_train} rows known by {main.cutoff} and forecast the rows that came "
            f"later: {_calibration_words(main.overall)}.")
    blocks.append(Paragraph(text))
    # the other cutoffs and each input's scores: detail, in a closed group below
    others = [c for c in others
              if c.overall.coverage90 is not None and c.overall.pit_mean is not None]
    items = ["Other cutoffs of that backtest: " + "; ".join(
        f"{c.cutoff}: {c.overall.coverage90:.0%} in 90% intervals of {c.overall.n}, mean "
        f"PIT {c.overall.pit_mean:.2f}" for c in others) + "."] if others else []
    feeds: dict[str, list[str]] = {}
    for d in diffs:
        for k in HEADLINE_KINDS.get(d.key, ()):
            feeds.setdefault(k, []).append(d.label[:1].lower() + d.label[1:])
    for k, labels in feeds.items():
        if k in main.kinds:
            items.append(f"{_kind(k).capitalize()} (an input of {', '.join(labels)}): "
                         f"{_calibration_words(main.kinds[k])}.")
        else:
            items.append(f"{_kind(k).capitalize()} (an input of {', '.join(labels)}): the "
                         "backtest scored no rows of it.")
    if feeds:
        low = [k for k in feeds if k in main.kinds and _too_narrow(main.kinds[k])]
        blocks.append(Details(
            f"Each input of the explained headlines in that backtest ({len(feeds)} inputs; "
            f"intervals too narrow for {len(low)}"
            + (f": {', '.join(_kind(k) for k in low)}" if low else "") + ")"
            + (f" and {len(others)} other cutoffs" if others else ""),
            [Bullets(items)]))
    elif items:  # no explained difference: the other cutoffs still show
        blocks.append(Details(f"{len(others)} other cutoffs of that backtest",
                              [Bullets(items)]))
    worst = main.worst
    if worst is not None:
        blocks.append(Paragraph(
            f"Where the model is known to miss: {_kind(worst.kind)}, the worst kind by "
            f"coverage in that backtest (cutoff {main.cutoff}): {_calibration_words(worst)}.",
            "note"))
    else:
        blocks.append(Paragraph(
            f"Where the model is known to miss: no kind had {MIN_KIND_ROWS} or more scored "
            "rows in the latest backtest.", "note"))
    return blocks


def cannot_know_blocks(dt: xr.DataTree, ctx: ReportContext, until: str | None) -> list:
    """What the model cannot know, in plain words, with the run's own numbers.

    Parameters
    ----------
    dt : xarray.DataTree
        The run.
    ctx : ReportContext
        Its report context.
    until : str or None
        The date of its latest observation.

    Returns
    -------
    list
        Blocks.
    """
    group = dt[draws_group(dt)]
    human = float(np.nanmedian(np.asarray(group["human_tokens_per_minute"].values, float))) \
        if "human_tokens_per_minute" in group else math.nan
    when = until or "its latest observation"
    items = [
        "Tokens of a reasoning model are not words of human thought. An o1-style system "
        "writes a long hidden chain of thought before it answers, so its tokens per second "
        "say little about how fast it reaches an answer. The speed headline keeps the "
        "essay's definition: serial tokens per second of the frontier model against human "
        f"thinking speed (in this run {plain(human)} tokens per minute at the median).",
        (f"Everything after {when} is extrapolation." if draws_group(dt) == "posterior" else
         "This run conditions on no observation: every number is an assumption.")
        + " A new architecture, a halt to scaling or a regulation shows up only as the spread "
        "of the random walks, not as a foreseen event.",
        "Frontier labs do not publish the size of their frontier models: the model's "
        "active parameters come from the scaling link and from open models' tokens per "
        "parameter, not from a measurement of the frontier model itself.",
        "Work-years count the tokens the training compute could generate as if each were a "
        "token of human thought: they say how much text the compute buys, not that the "
        "work would be useful.",
    ]
    return [Details(f"What the model cannot know ({len(items)} limits: reasoning tokens, "
                    "events after the latest observation, unpublished frontier sizes, what "
                    "work-years mean)", [Bullets(items)])]


def summary_section(dt: xr.DataTree, ctx: ReportContext, diffs: list[EssayDifference],
                    trust: BacktestTrust | None, year: int = YEAR) -> Section:
    """2. What the forecast says, how and why it differs from the essay, how far to trust it.

    Parameters
    ----------
    dt : xarray.DataTree
        The run.
    ctx : ReportContext
        Its report context.
    diffs : list of EssayDifference
        :func:`~gpt2030.inference.reporting.essay_differences`, largest first.
    trust : BacktestTrust or None
        The latest backtest (``None``: no backtest yet).
    year : int
        The year.

    Returns
    -------
    Section
    """
    table = forecast_table(dt, year)
    blocks: list = [Heading(f"What {year} looks like")]

    def q(key: str) -> str:
        r = table[key]
        return (f"{plain(r['median'])} {r['unit']} (90% interval {plain(r['q05'])}"
                f"{DASH}{plain(r['q95'])})")

    what = "" if draws_group(dt) == "posterior" else \
        " This is a prior-only run: the numbers are the model's assumptions, not evidence."
    needed = ("training_compute_flop", "parameters", "training_tokens", "serial_speed",
              "speed_vs_human", "work_years", "parallel_copies", "learning_years_per_day")
    if all(k in table for k in needed):
        blocks.append(Paragraph(
            f"At the median, the largest training run of {year} uses {q('training_compute_flop')}"
            f", on a frontier model of {q('parameters')} (active) trained on "
            f"{q('training_tokens')}. Served, it writes {q('serial_speed')}: "
            f"{plain(table['speed_vs_human']['median'])} times human thinking speed (90% "
            f"interval {plain(table['speed_vs_human']['q05'])}{DASH}"
            f"{plain(table['speed_vs_human']['q95'])}). Its training compute could run "
            f"{q('work_years')} of human-speed work, which is {q('parallel_copies')} working "
            f"in parallel through one training run, learning {q('learning_years_per_day')}."
            + what))
    if diffs:
        blocks.append(Heading("How and why it differs from the essay"))
        top = diffs[:3]
        blocks.append(Paragraph(
            "The three largest differences from the essay's figures are in "
            + ", ".join(d.label[:1].lower() + d.label[1:] for d in top)
            + ". Each headline is a product of links (compute, active parameters, human "
            "thinking speed, serial speed, training duration); the essay's value of a link "
            "is its cited figure or what its other figures imply. In dex (powers of ten) "
            "the links add up to the headline's difference. 'Moved most by': PSIS "
            "leave-one-out, the median with the observation over the median without it."))
        blocks.append(Bullets([_difference_item(d, year) for d in top]))
        rest = diffs[3:]
        if rest:
            blocks.append(Paragraph(
                "The other headlines: " + "; ".join(
                    f"{d.label[:1].lower() + d.label[1:]} {plain(d.median)} {d.unit} "
                    f"against the essay's "
                    f"{plain(d.essay)} ({_dex(d.dex)}, largest link: "
                    f"{max(d.links, key=lambda link: abs(link.dex)).label})" for d in rest)
                + "."))
        rows = [[d.label, link.label, f"{fmt(link.model)} {link.unit}",
                 f"{fmt(link.essay)} {link.unit}", link.how,
                 Cell(f"{link.dex:+.2f}", "far" if abs(link.dex) >= 0.5 else "")]
                for d in diffs for link in d.links]
        blocks.append(Details(
            f"The links of each headline, model against essay ({len(rows)} rows)",
            [Table(["headline", "link", f"model median {year}", "essay", "essay's value",
                    "contribution (dex)"], rows, numeric=(2, 3, 5),
                   caption="Contribution: sign x log10(model / essay); a link that divides "
                   "(parameters, human speed, duration) counts with a minus sign. Influence: "
                   "gpt2030 influence.")]))
    blocks.extend(trust_blocks(trust, diffs, ctx.manifest.verdict, ctx.manifest.config_name,
                               ctx.manifest))
    blocks.extend(cannot_know_blocks(dt, ctx, ctx.manifest.latest_observation))
    return _section("summary", blocks, cls="summary")


# -- 2. headline -----------------------------------------------------------------------------


def headline_section(dt: xr.DataTree, ctx: ReportContext, year: int = YEAR,
                     render: Render = draw) -> Section:
    """2. Each headline quantity in ``year`` beside the essay's figure.

    Parameters
    ----------
    dt : xarray.DataTree
        The run.
    ctx : ReportContext
        Its report context.
    year : int
        The year.
    render : callable, optional
        Makes a figure (a figure function and its arguments) and draws it to PNG:
        :func:`~gpt2030.reports.png.draw` (here, at once) or a
        :class:`~gpt2030.reports.png.Renderer` (in a worker).

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
    forest = []
    for key, r in table.items():
        essay = ctx.essay_2030.get(key) if year == ESSAY_YEAR else None
        if essay:
            forest.append({"label": str(r["label"]), "unit": str(r["unit"]),
                           **{k: float(r[k]) for k in ("q05", "q25", "median", "q75", "q95")},
                           "essay": essay.median, "essay_low": essay.low,
                           "essay_high": essay.high})
    figure = [FigureBlock(
        "fig-essay.png", render(figures.fig_essay_forest, forest),
        "The model against the essay, quantity by quantity",
        f"Each headline with an essay figure, on its own log axis: the model's {year} median "
        "(circle), 50% interval (thick) and 90% interval (thin) above the essay's median "
        "(diamond) and its 25-75% range where it gives one.")] if forest else []
    return _section("headline", [
        Paragraph(f"Each quantity in {year} from the {what} draws, beside the essay's "
                  "median and 25-75% range; the last column is the model's median over the "
                  "essay's (green: within a factor 3, amber: further). Essay figures: "
                  "Steinhardt (2023), see models/essay.py for where each is stated; blank: "
                  "the essay gives no figure."),
        Table(["quantity", "unit", "median", "50% interval", "90% interval", "essay median",
               "essay range (25-75%)", "median / essay"], rows, numeric=(2, 3, 4, 5, 6, 7)),
        *figure,
    ])


# -- 3. fan charts ---------------------------------------------------------------------------


def _band_turns_down(dt: xr.DataTree, name: str, q: float = 0.05) -> str:
    """A sentence when the ``q`` band of a trajectory falls after its peak, else ``""``."""
    group = dt[draws_group(dt)]
    if name not in group:
        return ""
    da = group[name]
    values = _stacked(da)
    years = [int(y) for y in da["year"].values]
    band = np.nanquantile(values, q, axis=0)
    peak = int(np.nanargmax(band))
    if peak >= len(years) - 1 or band[-1] >= band[peak] * 0.99:
        return ""
    i30 = years.index(YEAR) if YEAR in years else peak
    share = float((values[:, -1] < values[:, i30]).mean())
    return (f"The lower {q:.0%} band of {name.replace('_', ' ')} peaks in {years[peak]} and "
            f"falls by {years[-1]}: in {share:.0%} of the draws the {years[-1]} value is below "
            f"the {years[i30]} value.")


def trajectories_section(dt: xr.DataTree, obs: pd.DataFrame, ctx: ReportContext,
                         until: float | None = None, render: Render = draw) -> Section:
    """4. Fan charts: observed on the left of the latest observation, forecast on its right.

    Parameters
    ----------
    dt : xarray.DataTree
        The run.
    obs : pandas.DataFrame
        Its observations.
    ctx : ReportContext
        Its report context.
    until : float, optional
        The decimal year of the latest observation (a vertical line on every chart).
    render : callable, optional
        Makes a figure (a figure function and its arguments) and draws it to PNG:
        :func:`~gpt2030.reports.png.draw` (here, at once) or a
        :class:`~gpt2030.reports.png.Renderer` (in a worker).

    Returns
    -------
    Section
    """
    group = dt[draws_group(dt)]
    role = obs["role"].astype(str)
    pairs = role == "tokens_per_param"
    essay = {k: f.median for k, f in ctx.essay_2030.items()}
    frontier_c = frontier_compute_rows(obs)
    api = api_speed_rows(obs)
    frontier_s = frontier_speed_rows(obs)
    speed = ctx.essay_2030.get("speed_vs_human")
    essay_speed = {"speed": speed.median, "low": speed.low, "high": speed.high,
                   "traded": speed.median * ESSAY_TRADE_K ** 2, "k": ESSAY_TRADE_K} \
        if speed and speed.low is not None else None
    line = f"the vertical line is the latest observation ({ctx.manifest.latest_observation})" \
        if until is not None else "the run records no latest observation"
    blocks: list = [Paragraph(
        "Bands: 90% and 50% of the draws, line: the median; "
        f"{line}: observed on its left, forecast on its right. Points: the observations the "
        "model was conditioned on, with their intervals; orange: frontier systems (training "
        "compute within a factor 2 of the record at their date), grey: the rest.")]
    speed_words = (f"the essay's {essay_speed['speed']:g}x (25-75%: {essay_speed['low']:g}"
                   f"-{essay_speed['high']:g}x) and its {essay_speed['traded']:g}x when "
                   f"throughput is traded for speed (k = {ESSAY_TRADE_K}), beside the model's "
                   "trade at the same k" if essay_speed else "")

    def figure(filename: str, make, args: tuple, alt: str, caption: str) -> FigureBlock:
        # the figure function and the draws it reads, not the run: what the worker is handed
        return FigureBlock(filename, render(make, figures.plotted(dt, make), *args), alt,
                           caption)

    # the two links the essay argues most (compute, and speed with its trade) side by side;
    # the rest of the chain in a closed group below, so that the page stays a few screens
    shown = [
        figure("fig-compute.png", figures.fig_compute, (
            evidence_points(obs, frontier_c),
            evidence_points(obs, (role == "compute") & ~frontier_c),
            essay.get("training_compute_flop"), until), "Frontier training compute",
            "Frontier training compute (FLOP, log scale); star: the essay's 1e28 FLOP for "
            "2030."),
        figure("fig-speed-vs-human.png", figures.fig_speed_vs_human, (until, essay_speed),
               "Serial speed relative to human thinking",
               "Serial speed of the frontier model relative to human thinking"
               + (f", with {speed_words}." if essay_speed else ".")),
    ]
    more = [
        figure("fig-work-years.png", figures.fig_work, (
            "work_years", essay.get("work_years"), until),
            "Work-years the training compute can run",
            "Human-speed years of work the training compute can run; star: the essay's "
            "2030 figure."),
        figure("fig-copies.png", figures.fig_work, (
            "parallel_copies", essay.get("parallel_copies"), until),
            "Copies at human speed over one training run",
            "The copies at human speed that the work-years make over one training run; "
            "star: the essay's 2030 figure."),
        figure("fig-serial-speed.png", figures.fig_serial_speed, (
            evidence_points(obs, frontier_s), evidence_points(obs, api & ~frontier_s),
            until), "Serial speed of served models",
            "Serial speed (tokens/s) of served models against human thinking speed; "
            f"{int(frontier_s.sum())} of {int(api.sum())} API readings are of frontier "
            "systems (orange)."),
        figure("fig-parameters.png", figures.fig_parameters, (
            evidence_points(obs, pairs & (obs["kind"] == "parameters")), until),
            "Active parameters of the frontier model",
            "Active parameters of the frontier model; points: models paired for tokens per "
            "parameter."),
        figure("fig-tokens.png", figures.fig_tokens, (
            evidence_points(obs, pairs & (obs["kind"] == "training_tokens")), until),
            "Training tokens against the data available",
            "Training tokens of the frontier model against the data available; the dashed "
            "line is the median year the data binds."),
    ]
    binds = []
    if "data_binding_year" in group:
        b = np.asarray(group["data_binding_year"].values, float).ravel()
        last = int(group["year"].values[-1])

        def when(y: float) -> str:  # the grid ends at `last`: later means "not by then"
            return f"after {last}" if y > last else f"{y:.0f}"

        q = np.nanquantile(b, [0.05, 0.5, 0.95])
        share = float((b > last).mean())
        binds.append(Paragraph(
            f"Data binds (training tokens wanted exceed the data available) in {when(q[1])} "
            f"at the median, 90% interval {when(q[0])}{DASH}{when(q[2])}; in {share:.0%} of the "
            f"draws it does not bind by {last}."))
    blocks.extend(shown)
    blocks.append(Details(
        f"{len(more)} more trajectories: work-years, parallel copies, serial speed (tokens/s, "
        f"{int(frontier_s.sum())} of {int(api.sum())} API readings frontier), active "
        "parameters, training tokens against the data available"
        + (f" (data binds in {when(q[1])} at the median)" if binds else ""), more + binds))
    notes = [t for t in (_band_turns_down(dt, n) for n in ("training_compute", "parameters"))
             if t]
    if notes:
        blocks.append(Paragraph(
            " ".join(notes) + " A falling lower band means that in some draws the frontier "
            "gets smaller after a peak: for compute, the growth walk and the 2030 ceiling; for "
            "parameters, overtraining or costly synthetic data taking compute away from model "
            "size once data binds.", "note"))
    return _section("trajectories", blocks)


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
        return _section("speed-trade", [Paragraph("This run has no speed_traded variable.")])
    da = group["speed_traded"].sel(year=year)
    values = _stacked(da)
    rows = []
    for i, k in enumerate(da["k"].values):
        q = np.nanquantile(values[:, i], [0.05, 0.5, 0.95])
        rows.append([str(int(k)), str(int(k) ** 2), str(int(k) ** 3), fmt(q[1]),
                     interval(q[0], q[2])])
    k5 = next((r for r in rows if r[0] == str(ESSAY_TRADE_K)), None)
    at_k = (f" At the essay's k = {ESSAY_TRADE_K}: {k5[3]}x human at the median (90% "
            f"interval {k5[4]})." if k5 else "")
    return _section("speed-trade", [
        Paragraph(f"The essay (section 2): giving up a factor k of throughput buys a model "
                  f"k² times faster (k³ parallel copies for one). Serial speed in {year} "
                  "relative to human thinking, when traded at each k." + at_k),
        Details(f"The trade at every k from {rows[0][0]} to {rows[-1][0]}", [
            Table(["k", "speed-up (k²)", "throughput given up (k³)", "median (x human)",
                   "90% interval (x human)"], rows, numeric=(0, 1, 2, 3, 4),
                  caption="The essay's example: 5x human at k = 5 gives 125x.")]),
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


#: How many observed years the capabilities table shows before the forecast years.
OBSERVED_YEARS_SHOWN = 3


def capabilities_section(dt: xr.DataTree, obs: pd.DataFrame, ctx: ReportContext,
                         until: float | None = None, render: Render = draw) -> Section:
    """6. Observed best scores up to the latest observation, then P(threshold) by year.

    Parameters
    ----------
    dt : xarray.DataTree
        The run.
    obs : pandas.DataFrame
        Its observations (the observed history).
    ctx : ReportContext
        Its report context.
    until : float, optional
        The decimal year of the latest observation: years up to it show what was observed,
        later years the model's probability.
    render : callable, optional
        Makes a figure (a figure function and its arguments) and draws it to PNG:
        :func:`~gpt2030.reports.png.draw` (here, at once) or a
        :class:`~gpt2030.reports.png.Renderer` (in a worker).

    Returns
    -------
    Section
    """
    group = dt[draws_group(dt)]
    if "benchmark_accuracy" not in group:
        return _section("capabilities", [Paragraph(
            "This run has no benchmark_accuracy variable.")])
    known = set(str(b) for b in group["benchmark"].values)
    last_seen = int(until) if until is not None else None
    grid = [int(y) for y in group["year"].values]
    first = grid[0] if last_seen is None else last_seen - OBSERVED_YEARS_SHOWN + 1
    years = [y for y in grid if y >= first]
    rows, history = [], []
    probabilities: dict[str, dict[int, float]] = {}
    reached: dict[str, int] = {}
    for th in ctx.thresholds:
        best = best_scores(obs, th.benchmark)
        hit = [y for y, b in sorted(best.items()) if b.value >= th.accuracy]
        if hit:
            reached[th.name] = hit[0]
        if best:
            b = best[max(best)]
            history.append([th.name, f"{100 * b.value:.1f}%", b.subject, b.metric, b.date,
                            Cell("reached", "good") if b.value >= th.accuracy
                            else Cell("not yet", "muted"), linkify(b.source)])
        else:
            history.append([th.name, "", "", "", "", Cell("no score observed", "muted"), ""])
        future = [y for y in years if last_seen is None or y > last_seen]
        probs = capability_probabilities(dt, th.benchmark, th.accuracy, range(min(future),
                                         max(future) + 1)) \
            if th.benchmark in known and future and th.name not in reached else {}
        if probs:
            probabilities[th.name] = probs
        cells = []
        for y in years:
            if last_seen is not None and y <= last_seen:
                so_far = [k for k in best if k <= y]  # the best so far carries forward
                b = best[max(so_far)] if so_far else None
                cells.append(Cell(f"{100 * b.value:.0f}%", "good" if b.value >= th.accuracy
                                  else "muted") if b else Cell("-", "muted"))
            elif th.name in reached:
                cells.append(Cell("reached", "good"))
            elif y in probs:
                cells.append(f"{100 * probs[y]:.0f}%")
            else:
                cells.append("")
        when = f"reached {reached[th.name]}" if th.name in reached else \
            crossing_year(probs) if probs else "benchmark not in this run"
        rows.append([th.name, f"{th.cited_median_year:g}", when, *cells])
    boundary = f"up to {ctx.manifest.latest_observation}" if until is not None else ""
    done = [h for h in history if isinstance(h[5], Cell) and h[5].value == "reached"]
    ahead = [r for r in rows if r[0] not in reached]
    status = []
    if done:
        status.append("Reached " + (boundary or "so far") + ": " + "; ".join(
            f"{h[0]} ({h[2]}, {h[1]} on {h[3]}, {h[4]})" for h in done) + ".")
    if ahead:
        status.append("The model's median year for the others: " + "; ".join(
            f"{r[0]} {r[2]} (cited {r[1]})" for r in ahead) + ".")
    blocks: list = [
        Paragraph(
            "Up to the latest observation "
            f"({ctx.manifest.latest_observation or 'none recorded'}), the best score a system "
            "had reached on each threshold's task (any variant, such as MATH-500 for MATH); "
            "after it, the model's probability that frontier accuracy is at or above the "
            "threshold (benchmark_accuracy), unless an observed score already reached it. "
            + " ".join(status)),
        FigureBlock("fig-capabilities.png",
                    render(figures.fig_capabilities, ctx.thresholds, probabilities, reached,
                           until),
                    "Capability thresholds by year",
                    "Probability each threshold is reached, from the latest observation on; "
                    "stars: thresholds an observed score reached; dotted lines: the cited "
                    "median years."),
        Details(f"Each threshold by year, {years[0]}-{years[-1]} ({len(rows)} thresholds; "
                "observed up to the latest observation, then the model's probability)", [
            Table(["threshold", "cited median year", "P crosses 50%",
                   *[str(y) for y in years]],
                  rows, numeric=(1, 2, *range(3, 3 + len(years))),
                  caption=(f"Up to {last_seen}: the best observed score by the end of the "
                           "year (green: at or above the threshold). "
                           if last_seen is not None else "")
                  + "Later years: the model's probability, or 'reached' once an observed "
                  "score reached the threshold. 'P crosses 50%': the model's median year.")]),
        Details(f"Observed history{' ' + boundary if boundary else ''}: the best score on "
                f"each threshold's task, with its source ({len(done)} of {len(history)} "
                "reached)", [
            Table(["threshold", "best score", "system", "benchmark", "date", "threshold",
                   "source"], history, numeric=(1,),
                  caption="The best score so far on the threshold's task among the systems the "
                  "run was conditioned on (human baselines and forecasts are not systems' "
                  "scores).")]),
    ]
    return _section("capabilities", blocks)


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
        return _section("changes", [Paragraph(
            f"No previous run: this is the first stored run with config '{this.config_name}' "
            f"(and model version {this.model_version}) in {run.path.parent}.")])
    before = Manifest.from_dict(prev.manifest)
    try:
        result = compare(prev, run, year=year, dt_b=dt)
    except BrokenRunError as err:  # issue #9: a damaged earlier run never blocks a report
        return _section("changes", [Paragraph(
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
    blocks.append(Paragraph(
        f"Observations: {len(result.added)} added, {len(result.removed)} removed, "
        f"{len(result.changed)} changed."))
    for items, title in ((result.added, "Observations added"),
                         (result.removed, "Observations removed")):
        if items:
            blocks.append(Details(f"{title}: {len(items)}", [
                Table(["id", "kind", "subject", "value", "source"], _obs_rows(items))]))
    if result.changed:
        rows = []
        for c in result.changed:
            what = "; ".join(f"{f}: {(c.before or {})[f]} → {(c.after or {})[f]}"
                             for f in c.changed_fields)
            rows.append([c.id, c.kind, c.subject, what])
        blocks.append(Details(f"Observations changed: {len(result.changed)}", [
            Table(["id", "kind", "subject", "change (before → now)"], rows)]))
    rows = []
    for s in result.shifts:
        big = s.log10_shift is not None and abs(s.log10_shift) >= 0.1
        rows.append([s.label or s.quantity, s.unit, fmt(s.median_a), fmt(s.median_b),
                     fmt(s.ratio) + "x" if s.ratio is not None else "",
                     Cell(f"{s.log10_shift:+.2f}" if s.log10_shift is not None else "",
                          "bad" if big else ""),
                     interval(s.q05_a, s.q95_a), interval(s.q05_b, s.q95_b)])
    moved = [s for s in result.shifts if s.log10_shift is not None]
    top = f"; largest: {moved[0].label or moved[0].quantity}, {moved[0].log10_shift:+.2f} " \
        "dex" if moved else ""
    big = sum(abs(s.log10_shift) >= 0.1 for s in moved)
    blocks.append(Details(
        f"Shift of each headline quantity, biggest first ({big} of {len(rows)} moved by "
        f"0.1 dex or more{top})",
        [Table(["quantity", "unit", "median before", "median now", "ratio",
                "log10 shift (dex)", "90% before", "90% now"], rows,
               numeric=(2, 3, 4, 5, 6, 7),
               caption="Red: moved by 0.1 dex (a factor 1.26) or more.")]))
    return _section("changes", blocks)


# -- 7. drivers ------------------------------------------------------------------------------


#: What a quantity rests on, as the drivers table's last column says it.
RESTS_ON = {"prior": Cell("prior", "bad"), "conflict": Cell("prior and data in conflict", "far"),
            "data": Cell("data", "good")}


def rests_on(row: pd.Series) -> str:
    """``prior``, ``conflict`` or ``data``: one row of :func:`prior_dominance` in a word.

    Parameters
    ----------
    row : pandas.Series
        A row with ``prior_dominated`` and ``diagnosis``.

    Returns
    -------
    str
        A key of :data:`RESTS_ON`.
    """
    if bool(row["prior_dominated"]):
        return "prior"
    diagnosis = "" if pd.isna(row["diagnosis"]) else str(row["diagnosis"])
    return "conflict" if "conflict" in diagnosis else "data"


def drivers_section(run: Run, dt: xr.DataTree, ctx: ReportContext, year: int = YEAR,
                    influence: pd.DataFrame | None = None,
                    next_obs: ValueOfInformation | str | None = None) -> Section:
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
    influence : pandas.DataFrame, optional
        The run's influence table for ``year``, when already computed.
    next_obs : ValueOfInformation or str, optional
        The run's value of information (or why there is none): the subsection "What to
        measure next" when given.

    Returns
    -------
    Section
    """
    if draws_group(dt) != "posterior":
        return _section("drivers", [Paragraph(
            "A prior-only run: no observation conditions it, so everything rests on the "
            "priors (section 9).")])
    blocks: list = [Heading("Observations with the most influence")]
    table = (influence if influence is not None else influence_table(dt, year=year)).head(10)
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
    top = (f" The most influential is {rows[0][0]}"
           + (f" ({rows[0][1]})" if rows[0][1] else "")
           + f": leaving it out moves {rows[0][3]} by {rows[0][4]} dex." if rows else "")
    blocks.append(Paragraph(
        f"Leave-one-out (PSIS) shift of the {year} headline medians when each "
        "observation is dropped: the quantity it moves most, in dex (negative: lower without "
        "it); 'reliable' is no when Pareto k is too high to trust the estimate (refit to be "
        "sure)." + top))
    reliable = sum(r[-1].value == "yes" for r in rows)
    blocks.append(Details(
        f"The {len(rows)} most influential observations ({reliable} of {len(rows)} "
        "estimates reliable)",
        [Table(["observation", "subject", "term", "quantity most moved",
                "shift if left out (dex)", "Pareto k", "reliable"], rows, numeric=(4, 5))]))
    blocks.append(Heading("What rests on the priors"))
    found = stored_prior_dominance(run, year)
    frame, source = found if found is not None else (None, run.id)
    if frame is None:
        frame = prior_dominance(dt, year, scalar_parameters(dt, list(ctx.manifest.priors)),
                                ctx.manifest.diagnostics.sensitivity)
        keep_prior_dominance(run, year, frame)
    params = frame[frame["kind"] == "parameter"]
    heads = frame[frame["kind"] == "headline"]
    dominated = list(params.index[params["prior_dominated"]])
    rests = {name: rests_on(r) for name, r in frame.iterrows()}
    groups = {k: [n for n in heads.index if rests[n] == k] for k in RESTS_ON}
    dominated_words = Paragraph(
        "Prior-dominated parameters (the data narrowed them little: posterior sd at least "
        f"{PRIOR_DOMINATED_SD_RATIO:.0%} of the prior's, or power-scaling diagnoses a strong "
        "prior / weak likelihood): " + (", ".join(dominated) if dominated else "none") + ".")
    words = {"prior": "rest mostly on the priors",
             "conflict": "show a potential prior-data conflict (tempering the prior and "
                         "tempering the likelihood both move them, so the assumptions of "
                         "section 9 matter for them as well as the evidence)",
             "data": "rest on the data"}
    parts = [f"{len(names)} {words[k]}" + (
        "" if k == "data" else " (all of them)" if len(names) == len(heads) > 1
        else f" ({', '.join(names)})") for k, names in groups.items() if names]
    blocks.append(Paragraph(f"Of the {len(heads)} headline quantities in {year}, "
                            + "; ".join(parts) + ". The last column of the table below says "
                            "which for each row."
                            + (f" As power-scaled on run {source}, the fitted posterior "
                               "this run reweights (its resampled draws repeat)."
                               if source != run.id else
                               " Power-scaled on this run's resampled draws (its fitted "
                               "parent's table was not stored): repeated draws make it "
                               "rougher." if run_path(run.manifest) == REWEIGHTED else "")))
    rows = {name: [name, r["kind"], fmt(r["sd_ratio"]), fmt(r["psense_prior"]),
                   fmt(r["psense_likelihood"]), str(r["diagnosis"] or "") if not pd.isna(
                       r["diagnosis"]) else "", RESTS_ON[rests[name]]]
            for name, r in frame.iterrows()}
    columns = ["quantity", "kind", "posterior sd / prior sd", "psense prior",
               "psense likelihood", "diagnosis", "rests on"]
    caption = (f"Headline quantities on a log10 scale in {year}. Power-scaling sensitivity "
               "(ArviZ psense_summary, threshold 0.05): how much the posterior moves when "
               "the prior or likelihood is tempered.")
    blocks.append(Details(
        f"Each headline quantity: what it rests on ({len(heads)}: "
        + ", ".join(f"{len(groups[k])} {RESTS_ON[k].value}" for k in RESTS_ON) + ")",
        [Table(columns, [rows[n] for n in heads.index], numeric=(2, 3, 4), caption=caption)]))
    blocks.append(Details(
        f"Every scalar parameter ({len(params)}; {len(dominated)} prior-dominated)",
        [dominated_words, Table(columns, [rows[n] for n in params.index], numeric=(2, 3, 4))]))
    if next_obs is not None:
        blocks += next_observation_blocks(next_obs, run.id)
    return _section("drivers", blocks)


#: The quantities of the report's next-observation table, with short names.
NEXT_QUANTITIES = {"work_years": "work-years", "speed_vs_human": "speed vs human",
                   "training_compute_flop": "training compute"}


def next_observation_blocks(result: ValueOfInformation | str, run_id: str | None = None
                            ) -> list:
    """"What to measure next": the candidate observations ranked by what they would narrow.

    Parameters
    ----------
    result : ValueOfInformation or str
        The run's value of information (:func:`gpt2030.inference.voi.for_report`), or why
        there is none.
    run_id : str, optional
        The report's run: a ranking of another run (a reweighted run's fitted parent) says
        so.

    Returns
    -------
    list of blocks
    """
    blocks: list = [Heading("What to measure next")]
    if isinstance(result, str):
        return [*blocks, Paragraph(result)]
    if run_id is not None and result.run_id != run_id:
        blocks.append(Paragraph(
            f"Ranked on run {result.run_id}, the fitted posterior this run reweights (the "
            "added rows barely move it; ranking again costs as much as the update), so "
            "today's intervals below are that run's. "
            f"`gpt2030 value-of-information --run {run_id}` ranks on this run.", cls="note"))
    keys = [k for k in NEXT_QUANTITIES if k in result.current]
    first = keys[0]
    ranked = result.ranked(first)
    best = ranked[0]
    e = best.effects[first]
    now = result.current[first]
    blocks.append(Paragraph(
        f"Which one new observation, dated {result.date} with the typical error of the "
        f"ledger's rows of its kind, would narrow the {result.year} forecasts most. "
        f"Measuring the {best.candidate.observation} would narrow the 90% interval of "
        f"{NEXT_QUANTITIES[first]} by {e.share:.0%} on average (from {fmt(now.q05)}"
        f"{DASH}{fmt(now.q95)} today). Each cell is the expected "
        f"reduction of the interval's width in dex (log10 of its upper over its lower end; "
        f"the share of today's width in brackets) \u00b1 its Monte Carlo error, from "
        f"{result.n_outcomes} outcomes simulated from the model and the stored draws "
        "reweighted by PSIS (no refit); rows within two paired errors of the next are not "
        "really ordered. `gpt2030 value-of-information --quantity KEY` ranks for any "
        "headline quantity."))
    rows = []
    for v in ranked:
        c = v.candidate
        cells: list = [c.observation, f"{fixed(c.error, 2)} {c.error_unit}".strip()]
        for key in keys:
            x = v.effects[key]
            cells.append(f"{x.reduction:+.3f} \u00b1 {x.mc_se:.3f} ({x.share:+.0%})")
        cells.append(Cell("no: k\u0302 > 0.7 in " f"{v.share_k_high:.0%} of outcomes", "bad")
                     if v.flagged else Cell("yes", "good"))
        rows.append(cells)
    columns = ["observation", "its error",
               *[f"{NEXT_QUANTITIES[k]} ({result.current[k].width:.2f} dex now)"
                 for k in keys], "reliable"]
    blocks.append(Details(
        f"The {len(rows)} candidate observations, ranked by {NEXT_QUANTITIES[first]} (best: "
        f"{best.candidate.observation}, {e.share:.0%} narrower)",
        [Table(columns, rows, numeric=tuple(range(1, len(keys) + 2)),
               caption=f"Ranked by {NEXT_QUANTITIES[first]}. 'Reliable' is no when the "
               "importance weights of more than 5% of the outcomes have Pareto k above 0.7: "
               "the observation would move the posterior further than reweighting can "
               "follow (only a refit with it would tell by how much).")]))
    if result.skipped:
        blocks.append(Paragraph("Not candidates: " + "; ".join(result.skipped) + ".",
                                cls="note"))
    return blocks



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
            if da.size == 0:  # a dimension with no levels in this run (no served models)
                med = f"no values ({extra[0] if extra else 'empty'})"
            elif not extra:
                q = np.nanquantile(np.asarray(da.values, float).ravel(), [0.05, 0.5, 0.95])
                med, ci = fmt(q[1]), interval(q[0], q[2])
            else:
                meds = np.nanmedian(_stacked(da), axis=0).ravel()
                med = f"{meds.size} values ({extra[0]})"
                ci = f"medians {fmt(meds.min())}{DASH}{fmt(meds.max())}"
        rows.append([prior.name, prior.description, med, ci, linkify(prior.source)])
    name = ctx.manifest.config_name
    blocks: list = [
        Details(f"Every prior of config '{name}' ({len(rows)}), each with its source and the "
                f"{label} median and 90% interval of the parameter (models/priors.py)",
                [Table(["parameter", "prior", f"{label} median", "90% interval", "source"],
                       rows, numeric=(2, 3))]),
    ]
    crow = []
    for c in ctx.constants:
        note = c.note
        if c.name == "MINUTES_PER_YEAR":
            note = "Years of 365 days of continuous thinking. " + note
        crow.append([c.name, fmt(c.value) if c.value is not None else "", note])
    blocks.append(Details(
        f"The {len(crow)} fixed conversions of the chain, each with its source "
        f"({', '.join(c.name for c in ctx.constants)})",
        [Table(["constant", "value", "source"], crow, numeric=(1,))]))
    if ctx.from_today:
        blocks.append(Paragraph(
            f"This run did not store its {' and '.join(ctx.from_today)}: they are read from "
            "this installation's models/priors.py.", "note"))
    return _section("assumptions", blocks)


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
    """The appendix: every observation of the run, one collapsible group per kind.

    Parameters
    ----------
    obs : pandas.DataFrame
        The run's observations.

    Returns
    -------
    Section
    """
    if obs.empty:
        return _section("evidence", [Paragraph("This run used no observations.")],
                        cls="appendix")
    role = obs["role"].astype(str).replace("nan", "")
    context = role.str.startswith("context")
    none = role == ""
    used = ~context & ~none
    text = (f"{len(obs)} observations: {int(used.sum())} feed a likelihood term (the role "
            f"names it), {int(context.sum())} are context the model does not condition on "
            "(the role says why)")
    text += f", {int(none.sum())} have no role recorded." if none.any() else "."
    blocks: list = [Paragraph(text + " Grouped by kind (click a kind to open it); sources "
                              "link where they give a URL. All of them are also in "
                              "evidence.csv beside this report.")]
    text_obs = obs.reindex(columns=list(EVIDENCE_FIELDS)).fillna("").astype(str)
    text_obs = text_obs.replace("nan", "")
    for kind, rows in text_obs.groupby(obs["kind"], sort=True):
        n_used = int(used[rows.index].sum())
        table = [[r["id"], r["subject"], r["metric"], r["date"], _value_text(r), r["status"],
                  r["role"] or "(none)", linkify(r["source"]), r["note"]]
                 for r in rows.to_dict("records")]
        blocks.append(Details(
            f"{kind}: {len(rows)} observations ({n_used} conditioning, "
            f"{len(rows) - n_used} context)",
            [Table(["id", "subject", "metric", "date", "value", "status", "role", "source",
                    "note"], table, cls="evidence")]))
    return _section("evidence", blocks, cls="appendix")


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
        return text_or(x, "")

    rows = [
        ["run id", m.run_id],
        ["posterior", path_line(run.manifest)],
        ["created", m.created],
        ["observation hash", m.observation_hash],
        ["observations", f"{text(m.n_observations)} ("
                         f"{text_or(m.n_conditioning)} "
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
    return _section("provenance", [
        Details(f"Run {m.run_id}, config {m.config_name}, seed {text(m.seed)}, "
                f"{text(m.n_observations)} observations to {text(m.latest_observation)}, "
                f"model version {m.model_version}: everything needed to reproduce it",
                [Table(["field", "value"], [[k, str(v)] for k, v in rows])])])


# -- 11. track record ------------------------------------------------------------------------


def _forecast(p: Prediction) -> str:
    """``median [q05 to q95] unit``, the ends joined by :data:`DASH`."""
    unit = f" {p.unit}" if p.unit else ""
    return f"{fmt(p.shown(0.5))} [{interval90(p)}]{unit}"


def _moved(o: OpenTarget) -> str:
    if len(o.history) == 1:
        return "first registered by this run" if o.current is not None else "registered once"
    if o.latest is o.first:
        return "this run made the first registration"
    unit = SCALE_UNIT.get(o.first.scale, "")
    return f"{o.shift:+.2f} {unit}".rstrip()


def track_record_section(record: TrackRecord, render: Render = draw) -> Section:
    """11. What runs forecast before the facts were known, and how it went.

    Parameters
    ----------
    record : TrackRecord
        The home's prediction registry (:func:`~gpt2030.inference.predictions.track_record`).
    render : callable, optional
        Makes a figure (a figure function and its arguments) and draws it to PNG:
        :func:`~gpt2030.reports.png.draw` (here, at once) or a
        :class:`~gpt2030.reports.png.Renderer` (in a worker).

    Returns
    -------
    Section
    """
    if record.problem:
        return _section("track-record", [Paragraph(
            f"The prediction registry cannot be read: {record.problem}")])
    if not record.exists:
        return _section("track-record", [Paragraph(
            f"No predictions registered yet in this home ({record.path} does not exist): "
            "`gpt2030 update` registers the shipped targets for each run of the default "
            "config, `gpt2030 predict register` for any run.")])
    entries = record.entries
    resolved = record.resolved
    n_targets = len({e.prediction.target.id for e in entries})
    blocks: list = [Paragraph(
        f"Forecasts of named future facts that runs registered before the facts were known "
        f"({record.path.name}), scored when ledger rows settled them: {len(entries)} "
        f"prediction(s) of {n_targets} target(s), {len(resolved)} resolved. Scores are on the "
        "model's scale (dex for compute and speed, logits for benchmark scores).")]
    blocks.append(Heading("Calibration of resolved predictions"))
    cal = record.calibration
    if cal is None:
        first = record.open_targets[0] if record.open_targets else None
        blocks.append(Paragraph(
            "No registered prediction has resolved yet"
            + (f": the first window to close is {first.target.id}'s, on {first.target.end}."
               if first else ".")))
    else:
        rows = []
        for label, n, agg in (("every prediction", cal.n, cal.by_row),
                              ("every target once", cal.n_targets, cal.by_target)):
            rows.append([label, str(n), fixed(agg["coverage50"], 2),
                         fixed(agg["coverage90"], 2), fixed(agg["pit_mean"], 2),
                         fixed(agg["crps"]), fixed(agg["log_score"])])
        blocks.append(Table(["weighting", "n", "inside 50%", "inside 90%", "mean PIT",
                             "mean CRPS", "mean log score"], rows, numeric=(1, 2, 3, 4, 5, 6),
                            caption="A calibrated forecaster puts about half of the facts "
                            "inside its 50% intervals, nine in ten inside its 90% intervals, "
                            "and has a mean PIT near 0.5. A target registered by many runs "
                            "is one fact: the second row counts it once."))
        ks = ("" if cal.ks_pvalue is None else
              f" Uniformity of the PIT (Kolmogorov-Smirnov): p = {fixed(cal.ks_pvalue, 3)}"
              + (" (few resolutions: weak evidence either way)." if cal.n < 20 else "."))
        blocks.append(Paragraph(f"{cal.n} resolved prediction(s) of {cal.n_targets} "
                                f"target(s).{ks}"))
        blocks.append(FigureBlock("fig-track-record.png",
                                  render(figures.fig_pit, cal.pit_counts),
                                  "PIT histogram of the resolved predictions",
                                  "Where each observed value fell in its pre-registered "
                                  "predictive distribution (flat: calibrated)."))
        table = []
        for e in resolved:
            p, r = e.prediction, e.resolution
            if r is None:
                continue
            table.append([p.target.describe(), p.run_id, p.registered, r.resolved,
                          ", ".join(r.rows), fmt(float(to_display(r.observed, p.scale))),
                          _forecast(p), fixed(r.pit, 2), fixed(r.crps),
                          Cell("yes", "good") if r.covered90 else Cell("no", "bad")])
        blocks.append(Details(f"Every resolved prediction ({len(table)})", [Table(
            ["target", "run", "registered", "resolved", "settled by", "observed",
             "predicted median [90%]", "PIT", "CRPS", "inside 90%"], table,
            numeric=(5, 7, 8))]))
    if not record.open_targets:
        blocks.append(Paragraph("Open targets: none, every registered target has resolved."))
        return _section("track-record", blocks)
    rows = []
    history = []
    for o in record.open_targets:
        now = (_forecast(o.current) if o.current is not None else
               f"{_forecast(o.latest)} (run {o.latest.run_id}; this run registered none)")
        rows.append([o.target.describe(), o.target.why, f"{o.first.registered}",
                     _forecast(o.first), now, _moved(o), str(len(o.history))])
        for p in o.history:
            history.append([o.target.id, p.registered, p.run_id, _forecast(p)])
    blocks.append(Details(
        f"Open targets: {len(rows)}, as first registered and now (first window closes: "
        f"{min(str(o.target.end) for o in record.open_targets)})",
        [Table(["target", "why it matters", "first registered", "then: median [90%]",
                "now (this run)", "median moved", "registrations"], rows,
               caption="'Now' is this run's registration of the target; 'moved' is the "
               "shift of the median since the first registration, on the model's scale.")]))
    blocks.append(Details(
        f"How each open target's forecast moved since registration ({len(history)} "
        "registrations)",
        [Table(["target", "registered", "run", "median [90%]"], history)]))
    return _section("track-record", blocks)


# -- all ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FigureSections:
    """The report's sections with the most figures, built before the rest.

    None of them reads the run's diagnostics, its folder or the prediction registry, so
    ``update`` builds them (and hands their figures to the worker) as soon as a new
    posterior exists: the worker draws while the run is checked, saved and registered.
    """

    headline: Section
    trajectories: Section
    capabilities: Section


def figure_sections(ctx: ReportContext, dt: xr.DataTree, year: int = YEAR,
                    render: Render = draw) -> FigureSections:
    """The headline, trajectories and capabilities sections of a run's report.

    They read the run's tree and manifest, not its diagnostics or its folder: ``update``
    starts them before a reweighted run's diagnostics and save.

    Parameters
    ----------
    ctx : ReportContext
        The run's report context (:func:`~gpt2030.inference.reporting.report_context`, or
        :func:`~gpt2030.inference.reporting.manifest_context` of a run not saved yet).
    dt : xarray.DataTree
        Its DataTree.
    year : int
        The year of the headline forecast.
    render : Render
        What draws the figures (a :class:`Renderer` returns at once, drawing meanwhile).

    Returns
    -------
    FigureSections
    """
    obs = report_observations(dt)
    until = latest_observation_year(ctx.manifest, obs)
    return FigureSections(headline=headline_section(dt, ctx, year, render),
                          trajectories=trajectories_section(dt, obs, ctx, until, render),
                          capabilities=capabilities_section(dt, obs, ctx, until, render))


def build_sections(run: Run, dt: xr.DataTree | None = None, year: int = YEAR,
                   renderer: Renderer | None = None,
                   started: FigureSections | None = None) -> list[Section]:
    """The twelve sections of a run's report, in order.

    Parameters
    ----------
    run : Run
        A stored run.
    dt : xarray.DataTree, optional
        Its DataTree, when already read.
    year : int
        The year of the headline forecast.
    renderer : Renderer, optional
        A figure worker already started (``update`` starts one with the command, so it is
        ready when the report begins); by default one for this report.
    started : FigureSections, optional
        :func:`figure_sections` of this run and year, when the caller started them earlier.

    Returns
    -------
    list of Section
    """
    dt = dt if dt is not None else run.datatree()
    ctx = report_context(run)
    with nullcontext(renderer) if renderer is not None else Renderer() as render:
        # The sections with most figures first: a worker draws them while the influence
        # table and the other sections are computed here.
        started = started or figure_sections(ctx, dt, year, render)
        record = track_record_section(track_record(run.path.parent.parent, run.id), render)
        influence = None
        if draws_group(dt) == "posterior" and "log_likelihood" in dt.children:
            influence = influence_table(dt, year=year)
            by_id = subjects(dt)
            influence["subject"] = influence["obs_id"].astype(str).map(by_id).fillna("")
        diffs = essay_differences(dt, year, influence) if year == ESSAY_YEAR else []
        trust = latest_backtest(run.path.parent, ctx.manifest.config_name)
        sections = [
            verdict_section(ctx.manifest),
            summary_section(dt, ctx, diffs, trust, year),
            started.headline,
            started.trajectories,
            speed_trade_section(dt, year),
            started.capabilities,
            changes_section(run, year, dt),
            drivers_section(run, dt, ctx, year, influence, for_report(run, dt, year)),
            assumptions_section(dt, ctx),
            provenance_section(run, ctx.manifest),
            record,
            evidence_section(report_observations(dt)),
        ]
        return with_figures_drawn(sections)


def report_observations(dt: xr.DataTree) -> pd.DataFrame:
    """A run's observations (an empty frame with the needed columns when it has none).

    Parameters
    ----------
    dt : xarray.DataTree
        The run.

    Returns
    -------
    pandas.DataFrame
    """
    if "observations" in dt.children:
        return observations_from_datatree(dt)
    return pd.DataFrame(columns=["id", "kind", "role", "value", "unit", "date", "metric",
                                 "subject"])


def evidence_file(dt: xr.DataTree) -> tuple[str, bytes]:
    """``("evidence.csv", bytes)``: the run's observations, every field, as CSV.

    Parameters
    ----------
    dt : xarray.DataTree
        The run.

    Returns
    -------
    tuple
        The file name and its content.
    """
    obs = report_observations(dt)
    fields = tuple(dict.fromkeys(["id", "kind", *EVIDENCE_FIELDS, *obs.columns]))
    return "evidence.csv", evidence_csv(obs, fields)
