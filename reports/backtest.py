"""The backtest report page: score tables, coverage, PIT calibration and model variants.

:func:`write_report` turns a backtest document (``gpt2030 backtest``'s JSON, see
:mod:`gpt2030.inference.backtest`) into ``backtest.html`` (self-contained: the plot is
embedded, every text from the ledger or the run is escaped), ``backtest.md`` and
``calibration.png`` in one folder.
"""

from __future__ import annotations

import base64
import html
import io
import math
from pathlib import Path

from gpt2030.observations.store import atomic_write_text

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


def _fmt(x, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "-"
    if isinstance(x, float):
        return f"{x:.{digits}f}"
    return str(x)


def _diff_text(rec: dict) -> str:
    d = rec.get("crps_diff") or {}
    if d.get("mean") is None:
        return ""
    if d.get("se") is None:
        return f"; paired difference {d['mean']:+.3f}, one row: no error estimate"
    return f"; paired difference {d['mean']:+.3f} ± {d['se']:.3f} s.e."


def _within_noise(rec: dict) -> bool:
    d = rec.get("crps_diff") or {}
    return d.get("mean") is None or d.get("se") is None or abs(d["mean"]) < 2 * d["se"]


def findings(cut: dict) -> list[str]:
    """Plain sentences on where the model wins, loses and is miscalibrated."""
    out: list[str] = []
    overall = cut.get("overall") or {}
    g, n = overall.get("gpt2030") or {}, overall.get("naive") or {}
    if g.get("crps") is not None and n.get("crps") is not None:
        verdict = ("within noise of" if _within_noise(overall) else
                   "better than" if g["crps"] < n["crps"] else "worse than")
        out.append(f"Over {cut.get('n_scored', 0)} held-out rows after {cut['cutoff']}, "
                   f"gpt2030's mean CRPS is {g['crps']:.3f} against the naive baseline's "
                   f"{n['crps']:.3f}, {verdict} the baseline{_diff_text(overall)}"
                   .rstrip(".") + ".")
    if g.get("coverage90") is not None:
        c50, c90 = g.get("coverage50"), g["coverage90"]
        tail = ("too narrow (overconfident)" if c90 < 0.8 or (c50 is not None and c50 < 0.4)
                else "wider than needed (underconfident)" if c90 > 0.97 else "about right")
        out.append(f"gpt2030's 50% and 90% intervals hold {c50:.0%} and {c90:.0%} of the "
                   f"held-out values: {tail}.")
    pt = (cut.get("pit_test") or {}).get("gpt2030") or {}
    if pt.get("share_above_median") is not None:
        share = pt["share_above_median"]
        text = (f"{share:.0%} of the held-out values came in above gpt2030's predictive "
                f"median (PIT uniformity KS p = {_fmt(pt.get('ks_pvalue'), 3)})")
        high = [k for k, r in (cut.get("by_kind") or {}).items()
                if r["n"] >= 5 and (r["gpt2030"].get("pit_mean") or 0.5) > 0.6]
        low = [k for k, r in (cut.get("by_kind") or {}).items()
               if r["n"] >= 5 and (r["gpt2030"].get("pit_mean") or 0.5) < 0.4]
        if high:
            text += f"; the model under-predicted {', '.join(high)} (mean PIT > 0.6)"
        if low:
            text += f"; it over-predicted {', '.join(low)} (mean PIT < 0.4)"
        out.append(text + ".")
    for kind, rec in (cut.get("by_kind") or {}).items():
        gk, nk = rec.get("gpt2030") or {}, rec.get("naive") or {}
        if gk.get("crps") is None or nk.get("crps") is None:
            continue
        noise = _within_noise(rec)
        if gk["crps"] > nk["crps"]:
            why = []
            if rec.get("n_new_level"):
                why.append(f"{rec['n_new_level']} of its {rec['n']} rows are for a level (a "
                           "served alias, a benchmark or a setting) first seen after the "
                           "cutoff, which the model can only draw from its hierarchy or prior")
            if gk.get("coverage90") is not None and gk["coverage90"] < 0.8:
                why.append(f"the model's 90% intervals cover only {gk['coverage90']:.0%}")
            pm = gk.get("pit_mean")
            if pm is not None and pm > 0.6:
                why.append(f"the later values came in above the model's predictive (mean PIT "
                           f"{pm:.2f}): its trend for this term was too low")
            elif pm is not None and pm < 0.4:
                why.append(f"the later values came in below the model's predictive (mean PIT "
                           f"{pm:.2f}): its trend for this term was too high")
            if noise:
                why.append("the difference is within two standard errors (noise)")
            reason = ("; ".join(why) if why
                      else "the model's trend for this term misses the later values")
            out.append(f"gpt2030 loses to the naive baseline on {kind} (CRPS "
                       f"{gk['crps']:.3f} vs {nk['crps']:.3f}{_diff_text(rec)}, n={rec['n']})"
                       f": {reason}.")
        elif noise:
            out.append(f"On {kind} gpt2030 and the naive baseline are within noise (CRPS "
                       f"{gk['crps']:.3f} vs {nk['crps']:.3f}{_diff_text(rec)}, "
                       f"n={rec['n']}).")
        seen = rec.get("seen_levels_only")
        if seen and seen["gpt2030"].get("crps") is not None:
            out.append(f"On {kind} rows of levels seen before the cutoff ({seen['n']} of "
                       f"{rec['n']}), CRPS is {seen['gpt2030']['crps']:.3f} (gpt2030) vs "
                       f"{seen['naive']['crps']:.3f} (naive).")
    for key, rec in (cut.get("essay") or {}).items():
        ranked = sorted([("essay", rec["essay"]["crps"]), ("gpt2030", rec["gpt2030"]["crps"]),
                         ("naive", rec["naive"]["crps"])], key=lambda x: x[1])
        out.append(f"Essay point forecasts, {key} (n={rec['n']}): lowest CRPS {ranked[0][0]} "
                   f"({ranked[0][1]:.3f}), then {ranked[1][0]} ({ranked[1][1]:.3f}), "
                   f"{ranked[2][0]} ({ranked[2][1]:.3f})"
                   + (" — one row, an anecdote rather than evidence" if rec["n"] == 1 else "")
                   + ".")
    return out


def _score_rows(cut: dict) -> list[tuple[str, int, str, dict]]:
    rows = []
    overall = cut.get("overall") or {}
    for m in METHODS:
        if overall.get(m):
            rows.append(("all", cut.get("n_scored", 0), m, overall[m]))
    for kind, rec in (cut.get("by_kind") or {}).items():
        for m in METHODS:
            rows.append((kind, rec["n"], m, rec[m]))
    for kind, rec in ((cut.get("model_only") or {}).get("by_kind") or {}).items():
        rows.append((f"{kind} (no naive baseline)", rec["n"], "gpt2030", rec["gpt2030"]))
    return rows


def _essay_rows(cut: dict) -> list[tuple[str, int, str, str, str]]:
    rows = []
    for key, rec in (cut.get("essay") or {}).items():
        rows.append((key, rec["n"], _fmt(rec["essay"]["crps"]), _fmt(rec["gpt2030"]["crps"]),
                     _fmt(rec["naive"]["crps"])))
    return rows


VARIANT_COLS = ("variant", "rank", "elpd_loo", "se", "elpd_diff", "dse", "p_loo", "weight",
                "n_pareto_k_bad", "backtest_crps", "backtest_log_score", "backtest_coverage90")


def _variant_cells(r: dict) -> list[str]:
    bt = r.get("backtest") or {}
    vals = {**r, "backtest_crps": bt.get("crps"), "backtest_log_score": bt.get("log_score"),
            "backtest_coverage90": bt.get("coverage90")}
    return [_fmt(vals.get(c), 2 if c not in ("backtest_crps",) else 3) for c in VARIANT_COLS]


def calibration_png(doc: dict) -> bytes:
    """PIT histograms (model and naive) and nominal-vs-empirical coverage, one row per cutoff."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cuts = [c for c in doc.get("cutoffs", []) if c.get("pit")]
    nrow = max(len(cuts), 1)
    fig, axes = plt.subplots(nrow, 2, figsize=(10, 3.2 * nrow), squeeze=False)
    for i, cut in enumerate(cuts):
        ax = axes[i][0]
        ax.hist([cut["pit"], cut.get("pit_naive") or []], bins=10, range=(0, 1),
                label=["gpt2030", "naive"], color=["#1f77b4", "#bbbbbb"])
        ax.axhline(len(cut["pit"]) / 10, color="k", ls="--", lw=1, label="uniform")
        ax.set_title(f"PIT of held-out rows, cutoff {cut['cutoff']}")
        ax.set_xlabel("predictive CDF at the observed value")
        ax.legend(fontsize=8)
        ax = axes[i][1]
        ax.plot([0, 1], [0, 1], color="k", lw=1, ls="--")
        for m, color in zip(METHODS, ("#1f77b4", "#888888"), strict=True):
            o = cut["overall"][m]
            ax.plot([0.5, 0.9], [o["coverage50"], o["coverage90"]], "o-", color=color,
                    label=f"{m} (all)")
            for kind, rec in cut["by_kind"].items():
                if m == "gpt2030" and rec["n"] >= 5:
                    ax.plot([0.5, 0.9], [rec[m]["coverage50"], rec[m]["coverage90"]], ".:",
                            alpha=0.6, label=f"gpt2030: {kind}")
        ax.set_xlim(0.3, 1)
        ax.set_ylim(0, 1.02)
        ax.set_xlabel("nominal coverage")
        ax.set_ylabel("empirical coverage")
        ax.set_title("Interval coverage")
        ax.legend(fontsize=7)
    if not cuts:
        axes[0][0].text(0.5, 0.5, "no held-out rows", ha="center")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return buf.getvalue()


def render_markdown(doc: dict) -> str:
    lines = [f"# Backtest: {doc.get('name', '')}", "",
             f"Config `{doc.get('config')}`, created {doc.get('created')}.", "", UNITS, ""]
    for cut in doc.get("cutoffs", []):
        lines += [f"## Cutoff {cut['cutoff']}", "",
                  f"Run `{cut['run_id']}` (verdict {cut.get('verdict')}); {cut['n_train']} "
                  f"ledger rows on or before the cutoff, {cut['n_heldout']} later rows in "
                  f"a likelihood term, {cut.get('n_scored', 0)} scored by both forecasters.",
                  ""]
        lines += [f"- {s}" for s in findings(cut)] + [""]
        lines += ["| kind | n | forecaster | " + " | ".join(t for _, t in METRICS) + " |",
                  "|---|---:|---|" + "---:|" * len(METRICS)]
        for kind, n, m, s in _score_rows(cut):
            lines.append(f"| {kind} | {n} | {m} | "
                         + " | ".join(_fmt(s.get(k)) for k, _ in METRICS) + " |")
        if cut.get("essay"):
            lines += ["", "The essay's point forecasts (CRPS of a point = its absolute error "
                      "in log10):", "", "| rows | n | essay | gpt2030 | naive |",
                      "|---|---:|---:|---:|---:|"]
            lines += [f"| {a} | {b} | {c} | {d} | {e} |" for a, b, c, d, e in _essay_rows(cut)]
            for key, rec in cut["essay"].items():
                lines.append(f"\n*{key}*: {rec['what']}")
        mo = cut.get("model_only") or {}
        if mo.get("n"):
            lines += ["", f"{mo['n']} held-out row(s) have no naive baseline ({mo['why']}) "
                      "and are scored for gpt2030 only (the \"no naive baseline\" rows of "
                      "the table)."]
        lines.append("")
    lines += ["![calibration](calibration.png)", ""]
    var = doc.get("variants")
    if var:
        lines += ["## Model variants", "", var["conclusion"], "",
                  "| " + " | ".join(VARIANT_COLS) + " |",
                  "|" + "---|" * len(VARIANT_COLS)]
        lines += ["| " + " | ".join(_variant_cells(r)) + " |" for r in var["table"]]
        lines += ["", f"PSIS-LOO over {var['n_observations']} observations (each term's "
                  "pointwise log-likelihood, concatenated: every variant conditions on the "
                  "same rows). elpd_diff and dse are against the first-ranked variant."
                  + (f" Backtest columns: gpt2030's scores from the cutoff {var['cutoff']}."
                     if var.get("cutoff") else ""), ""]
    return "\n".join(lines)


def _table(head: list[str], rows: list[list[str]]) -> str:
    e = html.escape
    out = ["<table><thead><tr>" + "".join(f"<th>{e(h)}</th>" for h in head) + "</tr></thead>",
           "<tbody>"]
    for r in rows:
        out.append("<tr>" + "".join(f"<td>{e(str(c))}</td>" for c in r) + "</tr>")
    out.append("</tbody></table>")
    return "\n".join(out)


def render_html(doc: dict, png: bytes) -> str:
    e = html.escape
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>Backtest {e(str(doc.get('name', '')))}</title>",
        "<style>body{font-family:sans-serif;max-width:70em;margin:2em auto;padding:0 1em}"
        "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;"
        "padding:.25em .6em;text-align:right}td:first-child,th:first-child{text-align:left}"
        "img{max-width:100%}</style></head><body>",
        f"<h1>Backtest: {e(str(doc.get('name', '')))}</h1>",
        f"<p>Config <code>{e(str(doc.get('config')))}</code>, created "
        f"{e(str(doc.get('created')))}.</p>",
        f"<p>{e(UNITS)}</p>",
    ]
    for cut in doc.get("cutoffs", []):
        parts.append(f"<h2>Cutoff {e(cut['cutoff'])}</h2>")
        parts.append(f"<p>Run <code>{e(cut['run_id'])}</code> (verdict "
                     f"{e(str(cut.get('verdict')))}); {cut['n_train']} ledger rows on or "
                     f"before the cutoff, {cut['n_heldout']} later rows in a likelihood term, "
                     f"{cut.get('n_scored', 0)} scored by both forecasters.</p>")
        parts.append("<ul>" + "".join(f"<li>{e(s)}</li>" for s in findings(cut)) + "</ul>")
        parts.append(_table(["kind", "n", "forecaster", *[t for _, t in METRICS]],
                            [[k, n, m, *[_fmt(s.get(key)) for key, _ in METRICS]]
                             for k, n, m, s in _score_rows(cut)]))
        if cut.get("essay"):
            parts.append("<p>The essay's point forecasts (CRPS of a point = its absolute "
                         "error in log10):</p>")
            parts.append(_table(["rows", "n", "essay", "gpt2030", "naive"],
                                [list(r) for r in _essay_rows(cut)]))
            parts.append("<ul>" + "".join(f"<li><b>{e(k)}</b>: {e(r['what'])}</li>"
                                          for k, r in cut["essay"].items()) + "</ul>")
        mo = cut.get("model_only") or {}
        if mo.get("n"):
            parts.append(f"<p>{mo['n']} held-out row(s) have no naive baseline "
                         f"({e(mo['why'])}) and are scored for gpt2030 only (the "
                         "&ldquo;no naive baseline&rdquo; rows of the table).</p>")
    b64 = base64.b64encode(png).decode("ascii")
    parts.append("<h2>Calibration</h2>")
    parts.append(f"<img alt='PIT histograms and interval coverage' "
                 f"src='data:image/png;base64,{b64}'>")
    var = doc.get("variants")
    if var:
        parts.append("<h2>Model variants</h2>")
        parts.append(f"<p>{e(var['conclusion'])}</p>")
        parts.append(_table(list(VARIANT_COLS), [_variant_cells(r) for r in var["table"]]))
        parts.append(f"<p>PSIS-LOO over {var['n_observations']} observations (each term's "
                     "pointwise log-likelihood, concatenated: every variant conditions on the "
                     "same rows); elpd_diff and dse are against the first-ranked variant.</p>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(doc: dict, out_dir: Path) -> dict[str, Path]:
    """Write ``backtest.html``, ``backtest.md`` and ``calibration.png``; return their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    png = calibration_png(doc)
    png_path = out_dir / "calibration.png"
    tmp = out_dir / ".calibration.png.tmp"
    tmp.write_bytes(png)
    tmp.replace(png_path)
    html_path, md_path = out_dir / "backtest.html", out_dir / "backtest.md"
    atomic_write_text(html_path, render_html(doc, png))
    atomic_write_text(md_path, render_markdown(doc))
    return {"html": html_path, "md": md_path, "png": png_path}
