"""Constants shared by the tests: the repository, the shipped ledger and the seed.

A plain module (``tests`` is on ``sys.path`` through the ``pythonpath`` setting in
pyproject.toml), so test files import it the same way under ``pytest`` and
``python -m pytest``.
"""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHIPPED_LEDGER = REPO / "observations" / "ledger.csv"
#: A readable fixed seed: sum(map(ord, "gpt2030")).
SEED = sum(map(ord, "gpt2030"))
#: Hostile user text: it must reach HTML and Markdown escaped, never as markup.
PAYLOAD = "<script>alert(1)</script>"
