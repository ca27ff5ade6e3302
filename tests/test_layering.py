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
