"""Data flows one way: observations -> models -> inference -> reports (-> cli)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
ORDER = ["observations", "models", "inference", "reports", "cli"]


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("layer", ORDER)
def test_no_layer_imports_a_later_one(layer: str) -> None:
    later = ORDER[ORDER.index(layer) + 1:]
    for path in sorted((REPO / layer).glob("*.py")):
        for name in imported_modules(path):
            for other in later:
                assert not name.startswith(f"gpt2030.{other}"), f"{path.name} imports {name}"


def test_reports_render_only_what_inference_hands_them() -> None:
    """A report shows what the stored run holds: no reports/ module reaches past inference to
    today's model or ledger code (priors, units, configurations)."""
    offenders = [f"{path.name} imports {name}"
                 for path in sorted((REPO / "reports").glob("*.py"))
                 for name in imported_modules(path)
                 if name.startswith(("gpt2030.models", "gpt2030.observations"))]
    assert offenders == []


def test_the_model_does_no_io_plotting_or_sampling_libraries() -> None:
    for path in sorted((REPO / "models").glob("*.py")):
        for name in imported_modules(path):
            assert name.split(".")[0] not in {"matplotlib", "arviz", "arviz_plots", "nutpie",
                                              "filelock"}, f"{path.name} imports {name}"


def test_inference_draws_no_plots() -> None:
    """inference/ computes; the diagnostic plots are drawn in reports/ (reports.diagnostics)."""
    offenders = [f"{path.name} imports {name}"
                 for path in sorted((REPO / "inference").glob("*.py"))
                 for name in imported_modules(path)
                 if name.split(".")[0] in {"matplotlib", "arviz_plots", "seaborn", "plotly"}]
    assert offenders == []


def test_the_update_path_imports_no_plotting_library_it_does_not_draw_with() -> None:
    """``observe add --update`` and ``update`` diagnose and report without pyplot: importing
    the ``arviz`` umbrella would pull in arviz_plots and matplotlib.pyplot (~0.5 s a command).
    """
    import subprocess
    import sys

    code = ("import sys\n"
            "import gpt2030.cli.main, gpt2030.cli.report, gpt2030.inference.infer\n"
            "import gpt2030.inference.reweight, gpt2030.inference.predictions\n"
            "import gpt2030.reports.report, gpt2030.reports.sections\n"
            "print(sorted(m for m in ('arviz', 'arviz_plots', 'matplotlib.pyplot', 'nutpie')"
            " if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"
