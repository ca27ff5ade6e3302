"""The report: twelve sections in HTML and Markdown, figures with units, escaping, the banner.

Fast tier: no sampling. Reports are rendered from the small stored runs in ``tests/data/runs``,
always copied first.
"""

from __future__ import annotations

import argparse
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from common import PAYLOAD
from fixture_runs import BROKEN, FIXTURES, SMALL
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from gpt2030.inference.reporting import Manifest, evidence_points
from gpt2030.inference.runs import Run, list_runs, load_run
from gpt2030.reports import figures
from gpt2030.reports.numbers import fixed, fmt
from gpt2030.reports.render import (
    Details,
    Document,
    Section,
    Table,
    md_escape,
    to_html,
    write_document,
)
from gpt2030.reports.report import write_report
from gpt2030.reports.sections import (
    SECTIONS,
    changes_section,
    crossing_year,
    previous_run,
    verdict_section,
)

REPO = Path(__file__).resolve().parents[1]
FIGURES = ("fig-essay.png", "fig-compute.png", "fig-speed-vs-human.png", "fig-work-years.png",
           "fig-copies.png", "fig-serial-speed.png", "fig-parameters.png", "fig-tokens.png",
           "fig-capabilities.png")


@pytest.fixture(scope="module")
def runs_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private copy of the fixture runs (the originals are never touched)."""
    dest = tmp_path_factory.mktemp("home") / "runs"
    shutil.copytree(FIXTURES, dest)
    return dest


@pytest.fixture(scope="module")
def small_run(runs_copy: Path) -> Run:
    return load_run(runs_copy, SMALL)


@pytest.fixture(scope="module")
def broken_run(runs_copy: Path) -> Run:
    run = load_run(runs_copy, BROKEN)
    assert run.manifest["verdict"] == "fail"
    return run


@pytest.fixture(scope="module")
def small_dt(small_run: Run) -> xr.DataTree:
    return small_run.datatree()


@pytest.fixture(scope="module")
def report(small_report_dir: Path) -> Path:
    """The small run's report folder, with a hostile observation (conftest.py)."""
    return small_report_dir


def test_every_section_in_order_in_html_and_markdown(report: Path) -> None:
    html = (report / "report.html").read_text()
    md = (report / "report.md").read_text()
    positions = []
    for _, title in SECTIONS:
        assert f"<h2>{title}</h2>" in html, title
        assert f"## {md_escape(title)}" in md, title
        positions.append(html.index(f"<h2>{title}</h2>"))
    assert positions == sorted(positions), "sections out of order"
    assert len(SECTIONS) == 12
    assert SECTIONS[1][0] == "summary" and SECTIONS[-1][0] == "evidence"


def test_figures_written_beside_markdown_and_embedded_in_html(report: Path) -> None:
    html = (report / "report.html").read_text()
    md = (report / "report.md").read_text()
    for name in FIGURES:
        png = report / name
        assert png.is_file() and png.stat().st_size > 1000, name
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"]({name})" in md
    assert html.count('src="data:image/png;base64,') == len(FIGURES)


def test_html_is_self_contained(report: Path) -> None:
    html = (report / "report.html").read_text()
    assert "<script" not in html.lower()
    assert not re.search(r"<link\b", html, re.I), "no external stylesheets"
    assert not re.search(r"""src=["']https?:""", html, re.I), "no external images/scripts"
    assert "@import" not in html and "url(" not in html.replace("data:image", "")


def test_user_text_is_escaped(report: Path) -> None:
    html = (report / "report.html").read_text()
    md = (report / "report.md").read_text()
    assert "<script" not in html.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script" not in md.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in md
    # the URL inside the hostile source still became a (safe) link
    assert 'href="https://example.org/x?a=1&amp;b=2"' in html
    # pipes in Markdown table cells are escaped, so the table keeps its columns
    evil_lines = [line for line in md.splitlines() if "alert(1)" in line and
                  line.startswith("|")]
    assert evil_lines
    assert all("\\| pipe" in line for line in evil_lines)


def test_headline_table_has_essay_figures(report: Path) -> None:
    html = (report / "report.html").read_text()
    assert "Frontier training compute" in html
    assert "1.00e28" in html  # the essay's 2030 compute
    assert "median / essay" in html


@pytest.mark.usefixtures("fast_pipeline")
def test_verdict_banner_for_the_broken_run(broken_run: Run, tmp_path: Path) -> None:
    path = write_report(broken_run, tmp_path / "broken")
    html = path.read_text()
    md = (tmp_path / "broken" / "report.md").read_text()
    banner = html.index('class="banner bad"')
    assert banner < html.index("<h2>2. The forecast in plain words")
    assert "FAIL" in html[banner:banner + 400]
    failing = [c["name"] for c in broken_run.manifest["diagnostics"]["checks"]
               if not c["passed"]]
    for name in failing:
        assert name in html[banner:html.index("</div>", banner)]
    assert "> **FAIL" in md


def test_passing_banner_is_green(small_run: Run) -> None:
    diag = {**small_run.manifest["diagnostics"], "verdict": "pass",
            "checks": [{**c, "passed": True} for c in
                       small_run.manifest["diagnostics"]["checks"]]}
    manifest = Manifest.from_dict({**small_run.manifest, "verdict": "pass", "diagnostics": diag})
    html = to_html(Document("t", "s", [verdict_section(manifest)]))
    assert 'class="banner good"' in html and 'class="banner bad"' not in html
    assert "PASS" in html


def test_figures_have_axis_labels_with_units(small_run: Run, small_dt: xr.DataTree) -> None:
    from gpt2030.inference.reporting import capability_probabilities, report_context
    from gpt2030.inference.runs import observations_from_datatree

    ctx = report_context(small_run)
    obs = observations_from_datatree(small_dt)
    points = evidence_points(obs, obs["role"] == "compute")
    probs = {th.name: capability_probabilities(small_dt, th.benchmark, th.accuracy)
             for th in ctx.thresholds}
    essay = {"speed": 5.0, "low": 0.5, "high": 20.0, "traded": 125.0, "k": 5}
    figs = [figures.fig_compute(small_dt, points, points, 1e28, 2024.5),
            figures.fig_parameters(small_dt, points, 2024.5),
            figures.fig_tokens(small_dt, points, 2024.5),
            figures.fig_serial_speed(small_dt, points, points, 2024.5),
            figures.fig_speed_vs_human(small_dt, 2024.5, essay),
            figures.fig_work(small_dt, "work_years", 1.8e6, 2024.5),
            figures.fig_work(small_dt, "parallel_copies", 1.5e6, 2024.5),
            figures.fig_capabilities(ctx.thresholds, probs, {}, 2024.5)]
    units = re.compile(r"\((FLOP|tokens/s|count|%|x human|human-years|copies)\)$")
    for fig in figs:
        assert isinstance(fig, Figure) and isinstance(fig.canvas, FigureCanvasAgg)
        for ax in fig.axes:
            assert ax.get_xlabel() == "year"
            # one quantity per axis: exactly one unit in the label
            assert ax.get_ylabel() and units.search(ax.get_ylabel()), ax.get_ylabel()
            assert ax.get_ylabel().count("(") == 1, ax.get_ylabel()
            # observed | forecast: a vertical line at the latest observation
            assert any(list(line.get_xdata()) == [2024.5, 2024.5] for line in ax.lines), \
                ax.get_title()
    assert figs[0].axes[0].get_yscale() == "log"
    assert all(len(f.axes) == 1 for f in figs)  # one quantity per figure: one axis




def test_each_trajectory_figure_needs_only_the_draws_it_declares(small_dt: xr.DataTree) -> None:
    """The report hands the figure worker ``plotted(dt, make)``, not the run: the same bytes
    as from the whole run, so PLOTS names every variable each figure reads."""
    from gpt2030.reports.png import draw

    args = {"fig_compute": [EMPTY, EMPTY, 1e28, 2024.5], "fig_parameters": [EMPTY, 2024.5],
            "fig_tokens": [EMPTY, 2024.5], "fig_serial_speed": [EMPTY, EMPTY, 2024.5],
            "fig_speed_vs_human": [2024.5, {"speed": 5.0, "low": 0.5, "high": 20.0,
                                            "traded": 125.0, "k": 5}]}
    assert set(args) | {"fig_work"} == set(figures.PLOTS)
    calls = [*args.items(),
             ("fig_work", ["work_years", 1.8e6, 2024.5]),
             ("fig_work", ["parallel_copies", None, None])]
    for name, rest in calls:
        make = getattr(figures, name)
        slim = figures.plotted(small_dt, make)
        assert set(slim["posterior"].data_vars) == set(figures.PLOTS[name])  # all in the run
        assert draw(make, slim, *rest) == draw(make, small_dt, *rest), name


#: No observations to overlay.
EMPTY = pd.DataFrame({"t": [], "value": [], "low": [], "high": []})


@pytest.mark.parametrize(("decades", "minor"), [(8, False), (3, True)])
def test_wide_log_axes_keep_major_ticks_only(decades: int, minor: bool) -> None:
    """Minor ticks of many decades are unreadable and a fifth of the drawing: dropped
    above MINOR_TICKS_MAX_DECADES, kept on a narrow axis."""
    fig, ax = figures._panel()
    ax.plot([2020, 2030], [1.0, 10.0 ** decades], label="a quantity")
    figures._finish(ax, "y (FLOP)", "t")
    fig.canvas.draw()
    assert ax.get_yscale() == "log"
    assert bool(len(ax.yaxis.get_minorticklocs())) is minor
    assert len(ax.yaxis.get_majorticklocs()) >= 3


def test_the_essay_figure_has_a_1_2_5_grid() -> None:
    """Its narrow log axes are read by their minor ticks: at 2 and 5 times each power of
    ten, not at every integer multiple (a quarter of drawing the figure)."""
    rows = [{"label": f"quantity {i}", "unit": "unit", "q05": 10.0 ** i, "q25": 2 * 10.0 ** i,
             "median": 3 * 10.0 ** i, "q75": 5 * 10.0 ** i, "q95": 10.0 ** (i + 2),
             "essay": 4 * 10.0 ** i, "essay_low": None, "essay_high": None}
            for i in range(4)]
    fig = figures.fig_essay_forest(rows)
    fig.canvas.draw()
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert len(axes) == len(rows)
    for ax in axes:
        minor = ax.xaxis.get_minorticklocs()
        low, high = ax.get_xlim()
        mantissas = {round(float(x / 10.0 ** np.floor(np.log10(x))), 6) for x in minor}
        assert mantissas == {2.0, 5.0}, mantissas
        assert len(minor) >= 2 * int(np.log10(high / low))


def test_observations_overlaid(small_dt: xr.DataTree) -> None:
    from gpt2030.inference.runs import observations_from_datatree

    obs = observations_from_datatree(small_dt)
    pts = evidence_points(obs, obs["role"] == "compute")
    assert len(pts) == int((obs["role"] == "compute").sum())
    assert (pts["value"] > 1e18).all()  # FLOP, converted to base units


def test_rewriting_replaces_only_the_reports_own_files(tmp_path: Path) -> None:
    # Issue #9: the folder is never removed or replaced; a user's file in it survives.
    doc = Document("t", "s", [Section("a", "A", [Table(["x"], [["1"]])])])
    out = tmp_path / "r"
    write_document(doc, out)
    (out / "mine.png").write_bytes(b"the user's")
    (out / "report.html").write_bytes(b"old")
    write_document(doc, out)
    assert (out / "mine.png").read_bytes() == b"the user's"
    assert (out / "report.html").read_bytes() != b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r"]  # no temp folders left
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")]


def test_previous_run_same_config_created_before(runs_copy: Path) -> None:
    runs = list_runs(runs_copy)
    assert previous_run(runs[0]) is None
    if len(runs) > 1:
        prev = previous_run(runs[-1])
        same = [r for r in runs[:-1] if r.manifest["config"]["name"] ==
                runs[-1].manifest["config"]["name"]]
        assert (prev.id if prev else None) == (same[-1].id if same else None)


def test_first_run_says_there_is_no_previous_run(small_run: Run, tmp_path: Path) -> None:
    runs = tmp_path / "home" / "runs"
    shutil.copytree(small_run.path, runs / small_run.id)
    (run,) = list_runs(runs)
    html = to_html(Document("t", "s", [changes_section(run)]))
    assert "No previous run" in html


def test_helpers() -> None:
    assert fmt(1.0e28) == "1.00e28"
    assert fmt(2027.4) == "2027"
    assert fmt(float("nan")) == "" and fmt(None) == ""
    assert fixed(0.12345) == "0.123" and fixed(None) == "-" and fixed(3) == "3"
    assert fixed(float("inf"), 2) == "-" and fixed(0.5, 2) == "0.50"
    assert crossing_year({2024: 0.1, 2025: 0.3, 2026: 0.7}) == "2025.5"
    assert crossing_year({2024: 0.6}) == "by 2024"
    assert crossing_year({2024: 0.1, 2035: 0.2}) == "after 2035"
    assert md_escape("a|b\nc") == "a\\|b c"


@pytest.mark.usefixtures("fast_pipeline")
def test_cli_report(small_run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                    capsys: pytest.CaptureFixture[str]) -> None:
    from gpt2030.cli.main import main

    home = tmp_path / "home"
    shutil.copytree(small_run.path, home / "runs" / small_run.id)
    monkeypatch.setenv("GPT2030_HOME", str(home))
    assert main(["report", small_run.id[:12]]) == 0
    printed = capsys.readouterr().out.strip()
    assert printed == str(home / "reports" / small_run.id / "report.html")
    assert Path(printed).is_file()
    assert main(["report", "no-such-run"]) == 2


def test_update_refuses_an_invalid_ledger(home: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    from gpt2030.cli.main import main

    ledger = home / "observations" / "ledger.csv"
    lines = ledger.read_text().splitlines()
    header = lines[0].split(",")
    bad = dict.fromkeys(header, "")
    bad.update(id="bad-row", kind="training_compute", subject="x", metric="m", value="-1",
               unit="furlongs", date="2023", status="measured", source="s")
    ledger.write_text("\n".join([*lines, ",".join(bad[h] for h in header)]) + "\n")
    assert main(["update"]) == 2
    err = capsys.readouterr().err
    assert "bad-row" in err and "problem" in err


@pytest.mark.usefixtures("fast_pipeline")
def test_update_reuses_the_run_and_exits_1_when_diagnostics_fail(
        home: Path, broken_run: Run, capsys: pytest.CaptureFixture[str]) -> None:
    """``run_update`` with the run's own settings reuses it (no sampling) and reports it."""
    from gpt2030.cli.report import run_update
    from gpt2030.inference.infer import InferRequest, select_rows
    from gpt2030.inference.runs import find_run, run_key
    from gpt2030.inference.sampling import SamplerConfig
    from gpt2030.models import get_config
    from gpt2030.observations import FIELDS, Ledger, ledger_path, observation_hash

    shutil.copytree(broken_run.path, home / "runs" / broken_run.id)
    # the ledger the run was fitted to, rebuilt from its observations group
    rows = broken_run.observations().reset_index(drop=True)[list(FIELDS)]
    rows.to_csv(home / "observations" / "ledger.csv", index=False)
    m = broken_run.manifest
    sampler = SamplerConfig.from_record(m["sampler"])
    request = InferRequest(config=m["config"]["name"], sampler=sampler, seed=m["seed"])
    rows = select_rows(Ledger(ledger_path()).rows(), None)
    key = run_key(observation_hash(rows), get_config(request.config).describe(),
                  sampler.describe(), request.seed, None, False)
    # The fixture must be the run this ledger, config and seed make today; if the model or
    # the run key changed, rebuild it (tests/data/make_fixtures.py) rather than skip.
    assert find_run(home / "runs", key) is not None, (
        "the broken fixture run no longer matches its own ledger and settings "
        "(model or run key changed): rebuild it with tests/data/make_fixtures.py")
    args = argparse.Namespace(config=request.config, seed=request.seed, force=False,
                              **{k: getattr(sampler, k) for k in ("draws", "tune", "chains",
                                                                  "sampler", "thin")})
    args.target_accept = sampler.target_accept
    assert run_update(args) == 1
    out = capsys.readouterr().out
    assert f"reusing run {broken_run.id}" in out
    html = home / "reports" / broken_run.id / "report.html"
    assert str(html) in out and 'class="banner bad"' in html.read_text()


@pytest.mark.usefixtures("fast_pipeline")
def test_observe_add_update_uses_defaults(home: Path, broken_run: Run,
                                          monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    """``observe add --update`` passes no sampler flags: run_update uses the defaults."""
    import gpt2030.inference.infer as infer_module
    from gpt2030.cli.main import main
    from gpt2030.inference.sampling import SamplerConfig

    shutil.copytree(broken_run.path, home / "runs" / broken_run.id)
    (run,) = list_runs(home / "runs")
    seen = []

    def fake_infer(ledger, runs_dir, request, force=False, **options):  # progress, today
        seen.append(request)
        return run, True

    monkeypatch.setattr(infer_module, "infer", fake_infer)
    rc = main(["observe", "add", "--kind", "inference_speed", "--subject", "test-model",
               "--metric", "OpenAI API", "--value", "42", "--unit", "tokens/s",
               "--date", "2024-06", "--source", "https://example.org/m", "--update"])
    assert rc == 1  # the fixture run fails its diagnostics
    (request,) = seen
    assert request.config == "default" and request.sampler == SamplerConfig()
    assert request.seed == 2030
    out = capsys.readouterr().out
    assert str(home / "reports" / run.id / "report.html") in out


def test_previous_run_is_the_last_forecast_of_the_same_lineage(tmp_path: Path) -> None:
    """A backtest fit (with a cutoff) or a prior-only run is not 'the previous forecast'."""
    import json as _json

    from gpt2030.inference.runs import MANIFEST, RUN_FILE, list_runs
    from gpt2030.reports.sections import previous_run

    def make(run_id: str, created: str, **extra: object) -> None:
        folder = tmp_path / run_id
        folder.mkdir()
        (folder / RUN_FILE).write_bytes(b"")
        manifest = {"run_id": run_id, "created": created, "model_version": "1.0.0",
                    "config": {"name": "default"}, "cutoff": None, "prior_only": False,
                    **extra}
        (folder / MANIFEST).write_text(_json.dumps(manifest))

    make("r1", "2026-01-01T00:00:00")
    make("r2", "2026-01-02T00:00:00", cutoff="2023-06-30")
    make("r3", "2026-01-03T00:00:00", prior_only=True)
    make("r4", "2026-01-04T00:00:00", model_version="0.9.0")
    make("r5", "2026-01-05T00:00:00")
    runs = {r.id: r for r in list_runs(tmp_path)}
    assert previous_run(runs["r5"]).id == "r1"
    assert previous_run(runs["r1"]) is None


# -- issue #13: the reader's questions --------------------------------------------------------


def _section_html(html: str, anchor: str) -> str:
    start = html.index(f'<section id="{anchor}"')
    return html[start:html.index("</section>", start)]


def test_essay_links_reproduce_the_essays_own_arithmetic() -> None:
    """The essay's implied links give back its headline figures through the chain."""
    from gpt2030.inference.reporting import EssayLinks
    from gpt2030.models.essay import ESSAY_2030
    from gpt2030.models.priors import FORWARD_FLOP_PER_PARAM, MINUTES_PER_YEAR

    e = EssayLinks.from_essay()
    passes = e.training_compute / (FORWARD_FLOP_PER_PARAM * e.parameters)
    work = passes / (e.human_tokens_per_minute * MINUTES_PER_YEAR)
    assert work == pytest.approx(ESSAY_2030["work_years"].median)
    assert e.serial_speed * 60 / e.human_tokens_per_minute == pytest.approx(5.0)
    assert passes / e.gpt3_passes == pytest.approx(100.0)
    assert work / e.training_duration_years == pytest.approx(1.5e6)
    assert e.human_tokens_per_minute == pytest.approx(380 * 4 / 3)
    assert e.serial_speed_2023 == pytest.approx(12.0)


@pytest.fixture(scope="module")
def influence(small_dt: xr.DataTree):
    from gpt2030.inference.diagnostics import subjects
    from gpt2030.inference.influence import influence_table

    table = influence_table(small_dt, year=2030)
    table["subject"] = table["obs_id"].map(subjects(small_dt)).fillna("")
    return table


def test_essay_differences_add_up_and_match_forecast_and_influence(
        small_dt: xr.DataTree, influence) -> None:
    from gpt2030.inference.forecast import forecast_table
    from gpt2030.inference.reporting import essay_differences

    diffs = essay_differences(small_dt, 2030, influence)
    assert [abs(d.dex) for d in diffs] == sorted((abs(d.dex) for d in diffs), reverse=True)
    table = forecast_table(small_dt, 2030)
    for d in diffs:
        assert d.median == pytest.approx(table[d.key]["median"])  # the numbers of `forecast`
        # the links' medians explain the difference up to what medians cannot multiply
        assert abs(d.residual) < 0.5, (d.key, d.residual)
        shifts = influence[d.key].abs()
        for m in d.movers:
            row = influence[influence["obs_id"] == m.obs_id].iloc[0]
            assert m.shift == pytest.approx(float(row[d.key]))  # the numbers of `influence`
            if m.reliable:  # no reliable row moves it more than a reliable row named
                ok = influence["reliable"].astype(bool)
                named = {x.obs_id for x in d.movers}
                others = shifts[ok & ~influence["obs_id"].isin(named)]
                assert others.empty or others.max() <= abs(m.shift) + 1e-12
    speed = next(d for d in diffs if d.key == "speed_vs_human")
    p = speed.speed_parts
    assert p["growth"] == pytest.approx(p["trend"] + p["size"], abs=0.2)


def test_summary_section_names_the_largest_differences(report: Path, small_dt: xr.DataTree,
                                                       influence) -> None:
    from gpt2030.inference.reporting import essay_differences
    from gpt2030.reports.sections import plain

    html = (report / "report.html").read_text()
    part = _section_html(html, "summary")
    assert html.index('id="summary"') < html.index('id="headline"')
    for heading in ("What 2030 looks like", "How and why it differs from the essay",
                    "How far to trust it"):
        assert f"<h3>{heading}</h3>" in part
    # secondary: a closed group whose summary says what it holds
    assert "<details><summary>What the model cannot know (4 limits:" in part
    diffs = essay_differences(small_dt, 2030, influence)
    for d in diffs[:3]:
        item = next(li for li in re.findall(r"<li>(.*?)</li>", part, re.S)
                    if li.startswith(d.label))
        assert f"{plain(d.median)} {d.unit}" in item
        assert f"{d.dex:+.2f} dex" in item
        largest = max(d.links, key=lambda link: abs(link.dex))
        assert largest.label in item
    # no backtest stored beside the fixture: the shipped record, or said so plainly
    from gpt2030.inference.reporting import shipped_backtest

    if shipped_backtest("default") is None:
        assert "No backtest yet" in part
    else:
        assert "record shipped with gpt2030" in part
    assert "tokens per second" in part and "essay&#x27;s definition" in part


def _backtest_doc(created: str, coverage: dict[str, tuple[int, float, float]]) -> dict:
    def scores(n: int, c90: float, pit: float) -> dict:
        return {"n": n, "gpt2030": {"coverage50": c90 / 2, "coverage90": c90, "crps": 0.4,
                                    "log_score": -1.0, "pit_mean": pit},
                "naive": {}, "crps_diff": {}}

    total = sum(n for n, _, _ in coverage.values())
    return {"name": f"default-{created[:10]}", "config": "default", "created": created,
            "cutoffs": [{"cutoff": "2023-06-30", "run_id": "r-x", "n_train": 168,
                         "n_heldout": total, "n_scored": total,
                         "overall": scores(total, 0.83, 0.70),
                         "by_kind": {k: scores(*v) for k, v in coverage.items()}}]}


def test_trust_quotes_the_latest_backtest_and_where_it_misses(small_run: Run,
                                                              tmp_path: Path) -> None:
    import json as _json

    from gpt2030.inference.reporting import latest_backtest
    from gpt2030.reports.sections import trust_blocks

    runs = tmp_path / "runs"
    (runs / "backtests").mkdir(parents=True)
    old = _backtest_doc("2026-01-01T00:00:00+00:00", {"compute": (17, 0.20, 0.5)})
    new = _backtest_doc("2026-11-27T10:00:00+00:00",
                        {"compute": (17, 1.0, 0.55), "speed": (182, 0.82, 0.78),
                         "tokens_per_param": (9, 0.67, 0.6), "bandwidth": (2, 0.0, 0.9)})
    (runs / "backtests" / "a.json").write_text(_json.dumps(new))
    (runs / "backtests" / "b.json").write_text(_json.dumps(old))
    (runs / "backtests" / "broken.json").write_text("{not json")
    trust = latest_backtest(runs)
    assert trust is not None and trust.date == "2026-11-27"
    worst = trust.cutoffs[0].worst
    # bandwidth (0% of 2 rows) has fewer rows than needed to be named
    assert worst.kind == "tokens_per_param"
    html = to_html(Document("t", "s", [Section("x", "X", trust_blocks(trust, [], "pass"))]))
    assert "2026-11-27" in html and "2023-06-30" in html
    assert "83% of the 210 later rows" in html and "mean PIT 0.70" in html
    assert "the intervals are too narrow" in html and "too low" in html
    assert "Where the model is known to miss: tokens per parameter" in html
    assert "67% of the 9 later rows" in html
    # a home without a backtest quotes the shipped record, marked as such; another
    # config's record is never quoted
    fallback = latest_backtest(tmp_path / "nothing")
    assert fallback is not None and fallback.shipped
    assert latest_backtest(runs, "essay") is None


def test_the_shipped_backtest_record_is_the_rolling_origin_one() -> None:
    """The record shipped as package data is readable, of the default config, and is the
    README's rolling-origin backtest (four cutoffs, every cutoff scored)."""
    from gpt2030.inference.reporting import shipped_backtest

    shipped = shipped_backtest("default")
    assert shipped is not None and shipped.config == "default"
    assert [c.cutoff for c in shipped.cutoffs] == ["2021-12-31", "2022-12-31", "2023-06-30",
                                                   "2024-06-30"]
    assert all(c.n_scored > 0 for c in shipped.cutoffs)
    assert 0.85 <= shipped.pooled.rows.gpt2030.coverage90 <= 0.95


def test_trust_falls_back_to_the_shipped_backtest(small_run: Run, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """#13: a home without a backtest of the run's config quotes the record shipped with
    gpt2030 (package data), says so, its date and model version, and whether the run's
    ledger is the one it read; the home's own backtest always wins."""
    import json as _json

    from gpt2030.inference import reporting
    from gpt2030.inference.reporting import latest_backtest, shipped_backtest
    from gpt2030.reports.sections import trust_blocks

    monkeypatch.setattr(reporting, "SHIPPED_BACKTESTS", FIXTURES.parent)  # tests/data
    shipped = shipped_backtest("default")
    assert shipped is not None and shipped.model_version == "2.0.0"
    assert type(shipped).from_dict(shipped.to_dict()) == shipped  # the new keys round-trip
    assert shipped_backtest("essay") is None  # nothing shipped for another config
    runs = tmp_path / "runs"
    trust = latest_backtest(runs)
    assert trust is not None and trust.shipped and trust.date == "2026-11-27"
    assert latest_backtest(runs, "essay") is None

    manifest = Manifest.from_dict(small_run.manifest)

    def words(m: Manifest) -> str:
        blocks = trust_blocks(trust, [], "pass", "default", m)
        return to_html(Document("t", "s", [Section("x", "X", blocks)]))

    html = words(manifest)
    assert "record shipped with gpt2030" in html and "default-2023-06-30" in html
    assert "2026-11-27" in html and "model version 2.0.0" in html
    assert manifest.observation_hash != shipped.observation_hash
    assert (f"differs from this run&#x27;s ledger (480 observations there, "
            f"{manifest.n_observations} here)") in html
    assert "The shipped backtest" in html and "82% of the 208 later rows" in html
    same = Manifest.from_dict({**small_run.manifest,
                               "observation_hash": shipped.observation_hash})
    assert "the very observations this run was fitted to" in words(same)

    # A backtest of the home's own wins, however old.
    (runs / "backtests").mkdir(parents=True)
    own = _backtest_doc("2020-01-01T00:00:00+00:00", {"compute": (17, 0.5, 0.5)})
    (runs / "backtests" / "own.json").write_text(_json.dumps(own))
    trust = latest_backtest(runs)
    assert trust is not None and not trust.shipped and trust.date == "2020-01-01"
    html = to_html(Document("t", "s", [Section("x", "X", trust_blocks(trust, [], "pass"))]))
    assert "shipped" not in html and "The latest backtest" in html


def test_capabilities_show_observed_history_then_probabilities(
        small_run: Run, small_dt: xr.DataTree) -> None:
    """A MATH-500 score of 97.5% in 2024-12 makes MATH >= 92% reached: no probability after."""
    from gpt2030.inference.reporting import report_context
    from gpt2030.inference.runs import observations_from_datatree
    from gpt2030.reports.sections import capabilities_section

    ctx = report_context(small_run)
    obs = observations_from_datatree(small_dt)
    extra = obs.iloc[[0]].copy()
    extra.index = ["benchmark_score:math-500:test-o1:2024-12-17"]
    extra = extra.assign(id=extra.index, kind="benchmark_score", subject="test-o1",
                         metric="MATH-500", value="97.5", unit="%", date="2024-12-17",
                         role="benchmark", source="https://example.org/o1")
    obs = pd.concat([obs, extra])
    until = 2024.99
    section = capabilities_section(small_dt, obs, ctx, until)
    (table,) = [b for d in section.blocks if isinstance(d, Details) for b in d.blocks
                if isinstance(b, Table) and "P crosses 50%" in b.columns]
    header = table.columns
    math_row = next(r for r in table.rows if r[0] == "MATH >= 92%")
    cell = dict(zip(header, math_row, strict=True))
    assert cell["P crosses 50%"] == "reached 2024"
    assert cell["2024"].value == "98%" and cell["2024"].cls == "good"
    later = [c for h, c in cell.items() if h.isdigit() and int(h) > 2024]
    assert later and all(getattr(c, "value", c) == "reached" for c in later)
    # no year up to the latest observation carries a probability, for any threshold
    for row in table.rows:
        for h, c in zip(header, row, strict=True):
            if h.isdigit() and int(h) <= until:  # observed: a Cell, never a bare probability
                assert not isinstance(c, str) or c in ("", "-"), (row[0], h, c)
                assert not re.fullmatch(r"\d+%", str(c)), (row[0], h, c)
    (details,) = [d for d in section.blocks if isinstance(d, Details)
                  and d.summary.startswith("Observed history")]
    (history,) = details.blocks
    assert any(r[2] == "test-o1" and r[1] == "97.5%" for r in history.rows)
    n_reached = sum(getattr(r[5], "value", "") == "reached" for r in history.rows)
    assert n_reached >= 1
    assert details.summary.endswith(f"({n_reached} of {len(history.rows)} reached)")
    # the visible words name what was reached, with the system and its score
    assert "Reached up to" in section.blocks[0].text and "test-o1, 97.5%" in \
        section.blocks[0].text


def test_drivers_words_agree_with_the_table(small_run: Run, small_dt: xr.DataTree,
                                            influence) -> None:
    from gpt2030.inference.reporting import report_context
    from gpt2030.reports.sections import drivers_section

    section = drivers_section(small_run, small_dt, report_context(small_run), 2030, influence)
    html = to_html(Document("t", "s", [section]))
    counts = re.search(r"Of the (\d+) headline quantities in 2030, (.*?)\. The last", html)
    assert counts
    total = int(counts.group(1))
    said = {"prior": 0, "conflict": 0, "data": 0}
    for part in counts.group(2).split("; "):
        n = int(part.split(" ")[0])
        key = "prior" if "rest mostly on the priors" in part else \
            "conflict" if "conflict" in part else "data"
        said[key] = n
    tables = [b for d in section.blocks if isinstance(d, Details) for b in d.blocks]
    headline_table = next(b for b in tables if isinstance(b, Table)
                          and b.columns[-1] == "rests on" and b.rows[0][1] == "headline")
    cells = [r[-1].value for r in headline_table.rows]
    assert len(cells) == total == sum(said.values())
    assert said == {"prior": cells.count("prior"),
                    "conflict": cells.count("prior and data in conflict"),
                    "data": cells.count("data")}
    assert "No headline conclusion is mostly prior-driven" not in html


def test_a_reweighted_runs_drivers_show_its_parents_prior_dominance(
        small_run: Run, small_dt: xr.DataTree, influence, tmp_path: Path) -> None:
    from gpt2030.inference.reporting import (
        PRIOR_DOMINANCE_FILE,
        prior_dominance,
        report_context,
        scalar_parameters,
        stored_prior_dominance,
    )
    from gpt2030.reports.sections import drivers_section

    parent = tmp_path / SMALL
    parent.mkdir()
    shutil.copy(small_run.path / "manifest.json", parent)
    # The parent's table, as its report keeps it, with one parameter's cells changed so that
    # the child's report can only show them by reading the parent's file.
    ctx = report_context(small_run)
    frame = prior_dominance(small_dt, 2030, scalar_parameters(small_dt, list(ctx.manifest.priors)),
                            ctx.manifest.diagnostics.sensitivity)
    name = frame.index[0]
    frame.loc[name, "diagnosis"] = "parent's own diagnosis"
    from gpt2030.inference.reporting import keep_prior_dominance

    keep_prior_dominance(Run(parent, small_run.manifest), 2030, frame)
    assert (parent / PRIOR_DOMINANCE_FILE).is_file()
    child_id = "r20261128T150000-000000000000"
    (tmp_path / child_id).mkdir()
    child = Run(tmp_path / child_id, {**small_run.manifest, "run_id": child_id,
                                      "path": "reweighted", "parent": SMALL})
    html = to_html(Document("t", "s", [drivers_section(child, small_dt, report_context(child),
                                                       2030, influence)]))
    assert f"As power-scaled on run {SMALL}, the fitted posterior this run reweights" in html
    assert "parent&#x27;s own diagnosis" in html or "parent's own diagnosis" in html
    assert not (tmp_path / child_id / PRIOR_DOMINANCE_FILE).exists()
    # Without the parent's table the child computes on its own draws and says so.
    (parent / PRIOR_DOMINANCE_FILE).unlink()
    assert stored_prior_dominance(child, 2030) is None
    html = to_html(Document("t", "s", [drivers_section(child, small_dt, report_context(child),
                                                       2030, influence)]))
    assert "Power-scaled on this run&#x27;s resampled draws" in html or \
        "Power-scaled on this run's resampled draws" in html


def test_prior_dominance_power_scales_only_what_the_stored_rows_do_not_cover(
        small_run: Run, small_dt: xr.DataTree) -> None:
    from gpt2030.inference.diagnostics import Sensitivity
    from gpt2030.inference.reporting import (
        prior_dominance,
        report_context,
        scalar_parameters,
    )

    params = scalar_parameters(small_dt, list(report_context(small_run).manifest.priors))
    fresh = prior_dominance(small_dt, 2030, params)
    stored = [Sensitivity(p, 0.5, 0.25, "stored") for p in params[:3]]
    frame = prior_dominance(small_dt, 2030, params, stored)
    assert frame.loc[params[:3], "diagnosis"].tolist() == ["stored"] * 3
    assert frame.loc[params[:3], "psense_prior"].tolist() == [0.5] * 3
    rest = [n for n in frame.index if n not in params[:3]]
    assert fresh.loc[rest].equals(frame.loc[rest])  # the others exactly as power-scaled
    assert frame.loc[rest, "psense_prior"].notna().any()


def test_evidence_appendix_is_collapsible_and_written_as_csv(report: Path,
                                                             small_dt: xr.DataTree) -> None:
    import csv
    import io

    from gpt2030.inference.runs import observations_from_datatree

    html = (report / "report.html").read_text()
    part = _section_html(html, "evidence")
    obs = observations_from_datatree(small_dt)
    kinds = obs["kind"].value_counts()
    summaries = re.findall(r"<details><summary>(.*?)</summary>", part)
    assert len(summaries) == len(kinds)
    for kind, n in kinds.items():
        extra = 1 if kind == obs["kind"].iloc[0] else 0  # the hostile copy of row 0
        assert any(s.startswith(f"{kind}: {n + extra} observations (") for s in summaries)
    assert "<details open" not in part
    rows = list(csv.DictReader(io.StringIO((report / "evidence.csv").read_text("utf-8"))))
    assert len(rows) == len(obs) + 1
    assert {r["id"] for r in rows} >= set(obs["id"].astype(str))
    evil = next(r for r in rows if r["id"].startswith("evil-"))
    assert evil["note"].startswith(PAYLOAD)  # the CSV keeps the text as it is (not HTML)
    assert "@media print" in html and "@page" in html


@pytest.mark.usefixtures("fast_pipeline")
def test_report_out_owns_evidence_csv(small_run: Run, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "evidence.csv").write_text("old")
    (out / "mine.csv").write_text("the user's")
    write_report(small_run, out)
    assert (out / "evidence.csv").read_text().startswith("id,")
    assert (out / "mine.csv").read_text() == "the user's"


def test_evidence_csv_never_starts_a_cell_with_a_formula() -> None:
    """#13: text that a spreadsheet would run (= + - @ tab CR first) gets a leading
    apostrophe (OWASP); numbers in the numeric columns, negative ones too, stay numbers."""
    import csv
    import io

    from gpt2030.inference.reporting import evidence_csv

    hostile = {"=HYPERLINK(\"http://x\",\"y\")": "'=HYPERLINK(\"http://x\",\"y\")",
               "+1+2": "'+1+2", "-2+3": "'-2+3", "@SUM(A1)": "'@SUM(A1)",
               "\tindented": "'\tindented", "\rreturn": "'\rreturn", "a\nb\rc": "a\nb\rc",
               "plain = text": "plain = text", "-5": "'-5"}  # a text column: no exemption
    rows = [{"id": f"r{i}", "kind": "k", "date": "2024", "subject": text, "source": text,
             "value": "-3.5", "low": "-1e3", "high": "=1+1"}
            for i, text in enumerate(hostile)]
    fields = ("id", "kind", "date", "subject", "value", "low", "high", "source")
    parsed = list(csv.DictReader(io.StringIO(
        evidence_csv(pd.DataFrame(rows), fields).decode("utf-8"), newline="")))
    assert len(parsed) == len(hostile)
    got = {r["id"]: r for r in parsed}
    for i, (text, safe) in enumerate(hostile.items()):
        row = got[f"r{i}"]
        assert row["subject"] == safe and row["source"] == safe, text
        assert row["value"] == "-3.5" and float(row["value"]) == -3.5
        assert row["low"] == "-1e3"
        assert row["high"] == "'=1+1"  # not a number: a formula, even in a numeric column


def test_new_prose_is_escaped(small_dt: xr.DataTree, small_run: Run) -> None:
    """Subjects, ids and backtest names reach the new prose as text, never as markup."""
    from gpt2030.inference.reporting import (
        BacktestTrust,
        ChainLink,
        CutoffTrust,
        EssayDifference,
        KindScore,
        Mover,
        report_context,
    )
    from gpt2030.reports.render import to_markdown
    from gpt2030.reports.sections import summary_section

    link = ChainLink("compute", "frontier training compute", "FLOP", 2e28, 1e28, 1, "cited")
    diff = EssayDifference("training_compute_flop", f"Compute {PAYLOAD}", "FLOP", 2e28, 1e27,
                           1e29, 1e28, [link], [Mover(f"id-{PAYLOAD}", f"{PAYLOAD} | x",
                                                      -0.1, True)])
    kind = KindScore(f"kind{PAYLOAD}", 20, 0.2, 0.5, 0.9)
    trust = BacktestTrust(f"bt-{PAYLOAD}", "2026-11-27T00:00:00", "default",
                          [CutoffTrust("2023-06-30", 10, kind, {kind.kind: kind})])
    doc = Document("t", "s", [summary_section(small_dt, report_context(small_run), [diff],
                                              trust)])
    html, md = to_html(doc), to_markdown(doc)
    assert "<script" not in html.lower() and "<script" not in md.lower()
    assert html.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 4
    assert "\\| x" in md


@pytest.mark.usefixtures("fast_pipeline")  # asserts the words; the figures: above
def test_prior_only_report_says_so(small_run: Run, small_dt: xr.DataTree,
                                   tmp_path: Path) -> None:
    """A run without a posterior (prior only) still gets every section, in its own words."""
    from gpt2030.reports.report import build_document

    keep = {k: small_dt[k] for k in small_dt.children
            if k not in ("posterior", "log_likelihood", "posterior_predictive",
                         "sample_stats", "log_prior")}
    dt = xr.DataTree.from_dict({k: v.to_dataset() for k, v in keep.items()})
    doc = build_document(small_run, dt)
    assert [s.anchor for s in doc.sections] == [a for a, _ in SECTIONS]
    html = to_html(doc)
    assert "This is a prior-only run" in html
    assert "This run conditions on no observation" in html


def _rows_in(fragment: str) -> int:
    return len(re.findall(r"<tr>", fragment.split("<tbody>", 1)[-1]))


def test_secondary_detail_is_closed_and_its_summary_counts_it(report: Path) -> None:
    """#13: the main part fits in a few screens: per-parameter tables, influence rows,
    the capabilities table, the fixed conversions... are closed groups whose one-line
    summary gives the count of what they hold, and the key figures stay in the open."""
    html = (report / "report.html").read_text()
    main = html[:html.index('<section id="evidence"')]
    assert "<details open" not in main
    groups = dict(re.findall(r"<details><summary>(.*?)</summary>(.*?)</details>", main, re.S))
    assert len(groups) >= 10
    counted = {r"Every check: (\d+) passed, (\d+) failed": lambda m: int(m[0]) + int(m[1]),
               r"The (\d+) most influential observations": lambda m: int(m[0]),
               r"Every prior of config \S+ \((\d+)\)": lambda m: int(m[0]),
               r"The (\d+) fixed conversions": lambda m: int(m[0]),
               r"Each headline quantity: what it rests on \((\d+):": lambda m: int(m[0]),
               r"Every scalar parameter \((\d+);": lambda m: int(m[0]),
               r"The links of each headline, model against essay \((\d+) rows\)":
                   lambda m: int(m[0]),
               r"Each threshold by year, \d+-\d+ \((\d+) thresholds": lambda m: int(m[0])}
    for pattern, count in counted.items():
        (summary,) = [s for s in groups if re.match(pattern, s)]
        assert _rows_in(groups[summary]) == count(re.match(pattern, summary).groups()), summary
    more = next(s for s in groups if re.match(r"\d+ more trajectories", s))
    assert groups[more].count("<img") == int(more.split()[0])
    # what stays open: the verdict, the headline table, the forest plot, two trajectories
    for anchor in ("verdict", "headline", "trajectories", "capabilities"):
        part = re.sub(r"<details>.*?</details>", "", _section_html(html, anchor), flags=re.S)
        assert "<table" in part or "<img" in part or "banner" in part, anchor
    assert 'alt="The model against the essay' in re.sub(r"<details>.*?</details>", "", main,
                                                          flags=re.S)


def test_details_summaries_are_escaped_and_print_open() -> None:
    from gpt2030.reports.render import Details, FigureBlock, Paragraph, to_markdown

    png = b"\x89PNG\r\n\x1a\n"
    doc = Document("t", "s", [Section("a", "A", [
        Details(f"{PAYLOAD} (3 rows)", [Paragraph(PAYLOAD), FigureBlock("a.png", png, "a"),
                                        FigureBlock("b.png", png, "b")]),
        FigureBlock("c.png", png, "c")])])
    html, md = to_html(doc), to_markdown(doc)
    assert "<script" not in html.lower() and "<script" not in md.lower()
    assert "<summary>&lt;script&gt;alert(1)&lt;/script&gt; (3 rows)</summary>" in html
    # figures side by side share a grid; a lone figure does not
    assert html.count('<div class="figgrid">') == 1
    # the print stylesheet opens every closed group: a memo prints everything, no script
    printing = html[html.index("@media print"):]
    assert "details::details-content" in printing and "content-visibility: visible" in printing
    assert "### &lt;script&gt;" in md  # Markdown: the summary is a heading, nothing hidden


def test_figures_started_early_give_the_same_report(small_run: Run, small_dt: xr.DataTree,
                                                    tmp_path: Path) -> None:
    """``update`` hands the main figures to the worker before a reweighted run's diagnostics
    and save (figure_sections on the manifest as far as it is known then): the files written
    are those of a report built in one go."""
    from gpt2030.inference.reporting import manifest_context
    from gpt2030.reports.png import Renderer
    from gpt2030.reports.sections import figure_sections

    plain = write_report(small_run, tmp_path / "plain", dt=small_dt).parent
    preview = {k: v for k, v in small_run.manifest.items()
               if k not in ("diagnostics", "verdict", "timings")}
    with Renderer() as renderer:
        started = figure_sections(manifest_context(preview), small_dt, render=renderer)
        assert any(b.png.path is not None for s in (started.headline, started.trajectories)
                   for b in s.blocks if hasattr(b, "png"))  # handed to the worker
        early = write_report(small_run, tmp_path / "early", dt=small_dt, renderer=renderer,
                             started=started).parent
    names = sorted(p.name for p in plain.iterdir())
    assert names == sorted(p.name for p in early.iterdir()) and len(names) > 5
    for name in names:
        assert (early / name).read_bytes() == (plain / name).read_bytes(), name
