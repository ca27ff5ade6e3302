"""The backtest report page: score tables, coverage, PIT calibration and model variants.

:func:`write_report` turns a backtest result (:class:`~gpt2030.inference.results.
BacktestResult`, or ``gpt2030 backtest``'s JSON as a dict) into ``backtest.html``
(self-contained: the plot is embedded, every text from the ledger or the run is escaped),
``backtest.md`` and ``calibration.png`` in one folder. The page is a
:class:`~gpt2030.reports.render.Document`, rendered by the same code as the run report.
"""

from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure

from gpt2030.inference.results import (
    BacktestResult,
    Comparison,
    CutoffResult,
    PairedDifference,
    Pooled,
    Scores,
    VariantComparison,
    VariantRow,
    atomic_write,
)
from gpt2030.reports.figures import new_figure
from gpt2030.reports.numbers import fixed
from gpt2030.reports.png import png_bytes
from gpt2030.reports.render import (
    Bullets,
    Document,
    FigureBlock,
    Paragraph,
    Section,
    Table,
    to_html,
    to_markdown,
)

METHODS = ("gpt2030", "naive")
METRICS = (("crps", "CRPS (lower better)"), ("log_score", "log score (higher better)"),
           ("coverage50", "50% coverage"), ("coverage90", "90% coverage"))
UNITS = ("Scores are in the model's stored units: log10 for compute, speed, tokens per "
         "parameter, bandwidth and data stock, logit for benchmark scores. CRPS is the "
         "energy form from the predictive draws; the log score is the log density of a "
         "normal fitted to the predictive draws (the same rule for both forecasters); "
         "coverage is the share of held-out values inside the central 50%/90% predictive "
         "interval. The naive baseline is an ordinary least-squares line in time per series "
         "(per served alias for speed, per benchmark), with a Student-t predictive from its "
         "residuals, falling back to the whole term's line when a series has fewer than 3 "
         "rows before the cutoff.")
VARIANT_COLS = ("variant", "rank", "elpd_loo", "se", "elpd_diff", "dse", "p_loo", "weight",
                "n_pareto_k_bad", "backtest_crps", "backtest_log_score", "backtest_coverage90")
#: A kind needs this many scored rows for the findings to call its mean PIT a bias.
MIN_ROWS_FOR_BIAS = 5


def _result(doc: BacktestResult | dict) -> BacktestResult:
    return doc if isinstance(doc, BacktestResult) else BacktestResult.from_dict(doc)


def _cutoff(cut: CutoffResult | dict) -> CutoffResult:
    return cut if isinstance(cut, CutoffResult) else CutoffResult.from_dict(cut)


# -- findings ------------------------------------------------------------------------------


def _diff_text(d: PairedDifference) -> str:
    if d.mean is None:
        return ""
    if d.se is None:
        return f"; paired difference {d.mean:+.3f}, one row: no error estimate"
    return f"; paired difference {d.mean:+.3f} ± {d.se:.3f} s.e."


def _loses(kind: str, rec: Comparison, n_new_level: int) -> str:
    """Why gpt2030 loses to the naive baseline on one kind of rows."""
    g = rec.gpt2030
    why = []
    if n_new_level:
        why.append(f"{n_new_level} of its {rec.n} rows are for a level (a served alias, a "
                   "benchmark or a setting) first seen after the cutoff, which the model can "
                   "only draw from its hierarchy or prior")
    if g.coverage90 is not None and g.coverage90 < 0.8:
        why.append(f"the model's 90% intervals cover only {g.coverage90:.0%}")
    if g.pit_mean is not None and g.pit_mean > 0.6:
        why.append(f"the later values came in above the model's predictive (mean PIT "
                   f"{g.pit_mean:.2f}): its trend for this term was too low")
    elif g.pit_mean is not None and g.pit_mean < 0.4:
        why.append(f"the later values came in below the model's predictive (mean PIT "
                   f"{g.pit_mean:.2f}): its trend for this term was too high")
    if rec.crps_diff.within_noise:
        why.append("the difference is within two standard errors (noise)")
    reason = "; ".join(why) if why else "the model's trend for this term misses the later values"
    return (f"gpt2030 loses to the naive baseline on {kind} (CRPS {g.crps:.3f} vs "
            f"{rec.naive.crps:.3f}{_diff_text(rec.crps_diff)}, n={rec.n}): {reason}.")


def findings(cut: CutoffResult | dict) -> list[str]:
    """Plain sentences on where the model wins, loses and is miscalibrated.

    Parameters
    ----------
    cut : CutoffResult or dict
        One cutoff of a backtest.

    Returns
    -------
    list of str
    """
    cut = _cutoff(cut)
    out: list[str] = []
    overall = cut.overall
    g = overall.gpt2030 if overall else Scores()
    n = overall.naive if overall else Scores()
    if overall and g.crps is not None and n.crps is not None:
        verdict = ("within noise of" if overall.crps_diff.within_noise else
                   "better than" if g.crps < n.crps else "worse than")
        out.append(f"Over {cut.n_scored or 0} held-out rows after {cut.cutoff}, "
                   f"gpt2030's mean CRPS is {g.crps:.3f} against the naive baseline's "
                   f"{n.crps:.3f}, {verdict} the baseline{_diff_text(overall.crps_diff)}"
                   .rstrip(".") + ".")
    if g.coverage90 is not None:
        c50, c90 = g.coverage50, g.coverage90
        tail = ("too narrow (overconfident)" if c90 < 0.8 or (c50 is not None and c50 < 0.4)
                else "wider than needed (underconfident)" if c90 > 0.97 else "about right")
        out.append(f"gpt2030's 50% and 90% intervals hold {c50:.0%} and {c90:.0%} of the "
                   f"held-out values: {tail}.")
    pt = (cut.pit_test or {}).get("gpt2030")
    if pt is not None and pt.share_above_median is not None:
        text = (f"{pt.share_above_median:.0%} of the held-out values came in above gpt2030's "
                f"predictive median (PIT uniformity KS p = {fixed(pt.ks_pvalue, 3)})")
        enough = {k: r.gpt2030.pit_mean or 0.5 for k, r in cut.by_kind.items()
                  if r.n >= MIN_ROWS_FOR_BIAS}
        high = [k for k, pit in enough.items() if pit > 0.6]
        low = [k for k, pit in enough.items() if pit < 0.4]
        if high:
            text += f"; the model under-predicted {', '.join(high)} (mean PIT > 0.6)"
        if low:
            text += f"; it over-predicted {', '.join(low)} (mean PIT < 0.4)"
        out.append(text + ".")
    for kind, rec in cut.by_kind.items():
        gk, nk = rec.gpt2030, rec.naive
        if gk.crps is None or nk.crps is None:
            continue
        if gk.crps > nk.crps:
            out.append(_loses(kind, rec, rec.n_new_level))
        elif rec.crps_diff.within_noise:
            out.append(f"On {kind} gpt2030 and the naive baseline are within noise (CRPS "
                       f"{gk.crps:.3f} vs {nk.crps:.3f}{_diff_text(rec.crps_diff)}, "
                       f"n={rec.n}).")
        seen = rec.seen_levels_only
        if seen is not None and seen.gpt2030.crps is not None:
            out.append(f"On {kind} rows of levels seen before the cutoff ({seen.n} of "
                       f"{rec.n}), CRPS is {seen.gpt2030.crps:.3f} (gpt2030) vs "
                       f"{fixed(seen.naive.crps)} (naive).")
    for key, rec in cut.essay.items():
        ranked = sorted([("essay", rec.essay_crps), ("gpt2030", rec.gpt2030.crps),
                         ("naive", rec.naive.crps)], key=lambda x: x[1])
        out.append(f"Essay point forecasts, {key} (n={rec.n}): lowest CRPS {ranked[0][0]} "
                   f"({ranked[0][1]:.3f}), then {ranked[1][0]} ({ranked[1][1]:.3f}), "
                   f"{ranked[2][0]} ({ranked[2][1]:.3f})"
                   + (" — one row, an anecdote rather than evidence" if rec.n == 1 else "")
                   + ".")
    return out


# -- tables --------------------------------------------------------------------------------


def _score_rows(cut: CutoffResult) -> list[list[str]]:
    rows: list[tuple[str, int, str, Scores]] = []
    if cut.overall:
        rows += [("all", cut.n_scored or 0, m, getattr(cut.overall, m)) for m in METHODS]
    for kind, rec in cut.by_kind.items():
        rows += [(kind, rec.n, m, getattr(rec, m)) for m in METHODS]
    if cut.model_only:
        rows += [(f"{kind} (no naive baseline)", n, "gpt2030", s)
                 for kind, (n, s) in cut.model_only.by_kind.items()]
    return [[kind, str(n), m, *[fixed(getattr(s, key)) for key, _ in METRICS]]
            for kind, n, m, s in rows]


def _variant_cells(r: VariantRow) -> list[str]:
    bt = r.backtest_scores
    values = {"backtest_crps": fixed(bt.crps), "backtest_log_score": fixed(bt.log_score, 2),
              "backtest_coverage90": fixed(bt.coverage90, 2)}
    return [values[c] if c in values else fixed(getattr(r, c), 2) for c in VARIANT_COLS]


def calibration_figure(doc: BacktestResult | dict) -> Figure:
    """PIT histograms (model and naive) and nominal-vs-empirical coverage, one row per cutoff.

    Parameters
    ----------
    doc : BacktestResult or dict

    Returns
    -------
    matplotlib.figure.Figure
    """
    cuts = [c for c in _result(doc).cutoffs if c.pit]
    nrow = max(len(cuts), 1)
    fig = new_figure(10, 3.2 * nrow)
    axes = fig.subplots(nrow, 2, squeeze=False)
    for i, cut in enumerate(cuts):
        ax = axes[i][0]
        ax.hist([cut.pit, cut.pit_naive or []], bins=10, range=(0, 1),
                label=["gpt2030", "naive"], color=["#1f77b4", "#bbbbbb"])
        ax.axhline(len(cut.pit) / 10, color="k", ls="--", lw=1, label="uniform")
        ax.set_title(f"PIT of held-out rows, cutoff {cut.cutoff}")
        ax.set_xlabel("predictive CDF at the observed value")
        ax.legend(fontsize=8)
        ax = axes[i][1]
        ax.plot([0, 1], [0, 1], color="k", lw=1, ls="--")
        for m, color in zip(METHODS, ("#1f77b4", "#888888"), strict=True):
            o: Scores = getattr(cut.overall, m) if cut.overall else Scores()
            ax.plot([0.5, 0.9], [o.coverage50, o.coverage90], "o-", color=color,
                    label=f"{m} (all)")
        for kind, rec in cut.by_kind.items():
            if rec.n >= MIN_ROWS_FOR_BIAS:
                ax.plot([0.5, 0.9], [rec.gpt2030.coverage50, rec.gpt2030.coverage90], ".:",
                        alpha=0.6, label=f"gpt2030: {kind}")
        ax.set_xlim(0.3, 1)
        ax.set_ylim(0, 1.02)
        ax.set_xlabel("nominal coverage")
        ax.set_ylabel("empirical coverage")
        ax.set_title("Interval coverage")
        ax.legend(fontsize=7)
    if not cuts:
        axes[0][0].text(0.5, 0.5, "no held-out rows", ha="center")
    return fig


# -- the document --------------------------------------------------------------------------


def _cutoff_section(cut: CutoffResult) -> Section:
    blocks: list = [
        Paragraph(f"Run {cut.run_id} (verdict {cut.verdict}); {cut.n_train} ledger rows on or "
                  f"before the cutoff, {cut.n_heldout} later rows in a likelihood term, "
                  f"{cut.n_scored or 0} scored by both forecasters."),
        Bullets(findings(cut)),
        Table(["kind", "n", "forecaster", *[t for _, t in METRICS]], _score_rows(cut),
              numeric=(1, 3, 4, 5, 6)),
    ]
    if cut.essay:
        blocks.append(Paragraph("The essay's point forecasts (CRPS of a point = its absolute "
                                "error in log10):"))
        blocks.append(Table(["rows", "n", "essay", "gpt2030", "naive"],
                            [[key, str(rec.n), fixed(rec.essay_crps), fixed(rec.gpt2030.crps),
                              fixed(rec.naive.crps)] for key, rec in cut.essay.items()],
                            numeric=(1, 2, 3, 4)))
        blocks.append(Bullets([f"{key}: {rec.what}" for key, rec in cut.essay.items()]))
    if cut.model_only and cut.model_only.n:
        blocks.append(Paragraph(
            f"{cut.model_only.n} held-out row(s) have no naive baseline ({cut.model_only.why}) "
            "and are scored for gpt2030 only (the \"no naive baseline\" rows of the table)."))
    return Section(f"cutoff-{cut.cutoff}", f"Cutoff {cut.cutoff}", blocks)


def _variants_section(var: VariantComparison) -> Section:
    return Section("variants", "Model variants", [
        Paragraph(var.conclusion),
        Table(list(VARIANT_COLS), [_variant_cells(r) for r in var.table],
              numeric=tuple(range(1, len(VARIANT_COLS)))),
        Paragraph(f"PSIS-LOO over {var.n_observations} observations (each term's pointwise "
                  "log-likelihood, concatenated: every variant conditions on the same rows); "
                  "elpd_diff and dse are against the first-ranked variant."
                  + (f" Backtest columns: gpt2030's scores from the cutoff {var.cutoff}."
                     if var.cutoff else "")),
    ])


POOLED_COLS = ("rows", "weighting", "n", "50% coverage", "90% coverage", "mean PIT",
               "CRPS gpt2030", "CRPS naive")


def _pooled_rows(pooled: Pooled) -> list[list[str]]:
    blocks = [("all", pooled.rows, pooled.series_weighted)]
    blocks += [(k, r, r.series_weighted) for k, r in pooled.by_kind.items()]
    out = []
    for kind, rows, weighted in blocks:
        for label, c in (("rows", rows), ("series", weighted)):
            if c is None:
                continue
            g = c.gpt2030
            out.append([kind, label, str(c.n), fixed(g.coverage50, 2), fixed(g.coverage90, 2),
                        fixed(g.pit_mean, 2), fixed(g.crps), fixed(c.naive.crps)])
    return out


def _pooled_section(result: BacktestResult) -> Section:
    pooled = result.pooled
    assert pooled is not None
    g, w = pooled.rows.gpt2030, pooled.series_weighted.gpt2030
    return Section("pooled", "All cutoffs together", [
        Paragraph(f"Over {len(result.cutoffs)} cutoff(s), {pooled.n} held-out rows scored by "
                  f"both forecasters, from {pooled.n_series} series (a series is one subject "
                  f"and metric). With every row counted: 50% and 90% coverage "
                  f"{fixed(g.coverage50, 2)} and {fixed(g.coverage90, 2)}, mean PIT "
                  f"{fixed(g.pit_mean, 2)}. With every series weighted equally (a monthly "
                  f"tracker counts as one series): {fixed(w.coverage50, 2)}, "
                  f"{fixed(w.coverage90, 2)}, mean PIT {fixed(w.pit_mean, 2)}. A calibrated "
                  "forecast covers 50% and 90% with a mean PIT of 0.5."),
        Table(list(POOLED_COLS), _pooled_rows(pooled), numeric=(2, 3, 4, 5, 6, 7)),
    ])


def build_document(doc: BacktestResult | dict, png: bytes) -> Document:
    """The backtest page as a :class:`~gpt2030.reports.render.Document`.

    Parameters
    ----------
    doc : BacktestResult or dict
        The backtest.
    png : bytes
        The calibration figure (:func:`calibration_figure`) as PNG.

    Returns
    -------
    Document
        All cutoffs pooled, a section per cutoff, the calibration figure and, when compared,
        the model variants.
    """
    result = _result(doc)
    sections = [_pooled_section(result)] if result.pooled else []
    sections += [_cutoff_section(cut) for cut in result.cutoffs]
    sections.append(Section("calibration", "Calibration", [
        FigureBlock("calibration.png", png, "PIT histograms and interval coverage")]))
    if result.variants:
        sections.append(_variants_section(result.variants))
    return Document(f"Backtest: {result.name}",
                    f"Config {result.config}, created {result.created}. {UNITS}", sections)


def write_report(doc: BacktestResult | dict, out_dir: Path) -> dict[str, Path]:
    """Write ``backtest.html``, ``backtest.md`` and ``calibration.png``; return their paths.

    Parameters
    ----------
    doc : BacktestResult or dict
        The backtest (a dict is read with :meth:`BacktestResult.from_dict`).
    out_dir : pathlib.Path
        The folder (created if needed); each file is replaced atomically.

    Returns
    -------
    dict
        ``{"html": path, "md": path, "png": path}``.
    """
    png = png_bytes(calibration_figure(doc), dpi=100)
    page = build_document(doc, png)
    out_dir = Path(out_dir)
    paths = {"png": out_dir / "calibration.png", "md": out_dir / "backtest.md",
             "html": out_dir / "backtest.html"}
    atomic_write(paths["png"], png)
    atomic_write(paths["md"], to_markdown(page))
    atomic_write(paths["html"], to_html(page))
    return {"html": paths["html"], "md": paths["md"], "png": paths["png"]}
