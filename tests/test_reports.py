"""The report: ten sections in HTML and Markdown, figures with units, escaping, the banner.

Fast tier: no sampling. Reports are rendered from the small stored runs in ``tests/data/runs``,
always copied first.
"""

from __future__ import annotations

import argparse
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from fixture_runs import BROKEN, FIXTURES, SMALL
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from gpt2030.inference.reporting import Manifest, evidence_points
from gpt2030.inference.runs import Run, list_runs, load_run
from gpt2030.reports import figures
from gpt2030.reports.numbers import fixed, fmt
from gpt2030.reports.render import (
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
PAYLOAD = "<script>alert(1)</script>"
FIGURES = ("fig-compute.png", "fig-scaling.png", "fig-speed.png", "fig-work.png",
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
def report(small_run: Run, small_dt: xr.DataTree,
           tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The small run's report folder, rendered once with a hostile observation injected."""
    dt = small_dt.copy()
    obs = dt["observations"].to_dataset()
    first = obs.isel(obs_id=[0])
    evil = first.assign_coords(obs_id=[f"evil-{PAYLOAD}"])
    for field in ("note", "source", "subject"):
        evil[field] = ("obs_id", np.array([f"{PAYLOAD} | pipe https://example.org/x?a=1&b=2"]))
    dt["observations"] = xr.concat([obs, evil], dim="obs_id")
    out = tmp_path_factory.mktemp("report") / small_run.id
    path = write_report(small_run, out, dt=dt)
    assert path == out / "report.html"
    return out


def test_every_section_in_order_in_html_and_markdown(report: Path) -> None:
    html = (report / "report.html").read_text()
    md = (report / "report.md").read_text()
    positions = []
    for _, title in SECTIONS:
        assert f"<h2>{title}</h2>" in html, title
        assert f"## {md_escape(title)}" in md, title
        positions.append(html.index(f"<h2>{title}</h2>"))
    assert positions == sorted(positions), "sections out of order"
    assert len(SECTIONS) == 10


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


def test_verdict_banner_for_the_broken_run(broken_run: Run, tmp_path: Path) -> None:
    path = write_report(broken_run, tmp_path / "broken")
    html = path.read_text()
    md = (tmp_path / "broken" / "report.md").read_text()
    banner = html.index('class="banner bad"')
    assert banner < html.index("<h2>2. Headline")
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
    figs = [figures.fig_compute(small_dt, points, 1e28),
            figures.fig_scaling(small_dt, points, points), figures.fig_speed(small_dt, points),
            figures.fig_work(small_dt, {"work_years": 1.8e6}),
            figures.fig_capabilities(ctx.thresholds, probs)]
    units = re.compile(r"\((FLOP|tokens/s|count|%)\)")
    for fig in figs:
        assert isinstance(fig, Figure) and isinstance(fig.canvas, FigureCanvasAgg)
        for ax in fig.axes:
            assert ax.get_xlabel() == "year"
            assert ax.get_ylabel() and units.search(ax.get_ylabel()), ax.get_ylabel()
    assert figs[0].axes[0].get_yscale() == "log"


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
    fields = SamplerConfig.__dataclass_fields__
    sampler = SamplerConfig(**{k: v for k, v in m["sampler"].items() if k in fields})
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
                                                                  "sampler")})
    if "target_accept" in fields and not hasattr(args, "target_accept"):
        args.target_accept = sampler.target_accept
    assert run_update(args) == 1
    out = capsys.readouterr().out
    assert f"reusing run {broken_run.id}" in out
    html = home / "reports" / broken_run.id / "report.html"
    assert str(html) in out and 'class="banner bad"' in html.read_text()


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

    def fake_infer(ledger, runs_dir, request, force=False, progressbar=False, today=None):
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
