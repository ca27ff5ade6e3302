"""The report opens in a real browser: headless Chromium renders a non-blank page, offline.

Skipped when ``/usr/bin/chromium`` is absent (the CI script installs it).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
from fixture_runs import SMALL, install

from gpt2030.inference.runs import load_run
from gpt2030.reports.report import write_report

CHROMIUM = Path("/usr/bin/chromium")
REPO = Path(__file__).resolve().parents[1]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.mark.skipif(not CHROMIUM.exists(),
                    reason="/usr/bin/chromium not installed (apt-get install chromium)")
def test_report_renders_in_headless_chromium(tmp_path: Path) -> None:
    run = load_run(install(tmp_path / "home", SMALL), SMALL)
    html = write_report(run, tmp_path / "report")
    png = tmp_path / "shot.png"
    cmd = [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
           "--no-first-run", "--disable-background-networking", "--disable-component-update",
           "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}",
           "--window-size=1400,2400", f"--screenshot={png}", html.as_uri()]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    assert png.is_file(), f"no screenshot; chromium said: {result.stderr[-2000:]}"
    data = png.read_bytes()
    assert data[:8] == PNG_MAGIC
    assert len(data) > 50_000, f"screenshot only {len(data)} bytes: blank page?"

    import matplotlib.image as mpimg

    pixels = np.asarray(mpimg.imread(png), dtype=float)[..., :3]
    assert pixels.shape[0] >= 2000 and pixels.shape[1] >= 1300
    assert pixels.std() > 0.05, "the page is a single colour"
    # more than a handful of distinct colours: text, tables, banner and figures rendered
    distinct = np.unique((pixels[::4, ::4] * 255).astype(np.uint8).reshape(-1, 3), axis=0)
    assert len(distinct) > 50
