"""Compare two runs: which observations changed, and how far each headline forecast moved."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from gpt2030.inference.forecast import HEADLINES, headline_draws, summarize
from gpt2030.inference.runs import Run, observations_from_datatree

#: Fields of a ledger row listed for an added or removed observation.
ROW_FIELDS = ("id", "kind", "subject", "value", "unit", "source")
#: Fields whose change makes a row count as changed between runs (what the model reads).
VALUE_FIELDS = ("value", "low", "high", "unit", "date", "target_date", "interval", "bound",
                "status", "role")


def _row(frame: pd.DataFrame, obs_id: str) -> dict[str, str]:
    row = frame.loc[obs_id]
    return {f: str(row[f]) if f in row.index else "" for f in ROW_FIELDS}


def observation_changes(a: pd.DataFrame, b: pd.DataFrame) -> dict[str, list[dict[str, object]]]:
    """Rows added in ``b``, removed from ``a``, and present in both with changed fields."""
    ids_a, ids_b = set(a.index.astype(str)), set(b.index.astype(str))
    added = [_row(b, i) for i in sorted(ids_b - ids_a)]
    removed = [_row(a, i) for i in sorted(ids_a - ids_b)]
    changed = []
    for i in sorted(ids_a & ids_b):
        fields = [f for f in VALUE_FIELDS if f in a.columns and f in b.columns
                  and str(a.at[i, f]) != str(b.at[i, f])]
        if fields:
            changed.append({**_row(b, i), "changed_fields": fields,
                            "before": {f: str(a.at[i, f]) for f in fields},
                            "after": {f: str(b.at[i, f]) for f in fields}})
    return {"added": added, "removed": removed, "changed": changed}


def _log10(x: float) -> float:
    return math.log10(x) if x > 0 and math.isfinite(x) else float("nan")


def _json_float(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def headline_shifts(dt_a, dt_b, year: int = 2030) -> list[dict[str, object]]:
    """Median ratio, log10 shift and both 90% intervals of every headline quantity,
    sorted by the size of the median's log10 shift (largest first; undefined last)."""
    rows = []
    for key, q in HEADLINES.items():
        sa = summarize(headline_draws(dt_a, key, year))
        sb = summarize(headline_draws(dt_b, key, year))
        shift = _log10(sb["median"]) - _log10(sa["median"])
        ratio = sb["median"] / sa["median"] if sa["median"] != 0 else float("nan")
        rows.append({"quantity": key, "label": q.label, "unit": q.unit,
                     "median_a": sa["median"], "median_b": sb["median"],
                     "ratio": _json_float(ratio), "log10_shift": _json_float(shift),
                     "q05_a": sa["q05"], "q95_a": sa["q95"],
                     "q05_b": sb["q05"], "q95_b": sb["q95"]})
    rows.sort(key=lambda r: -abs(r["log10_shift"]) if r["log10_shift"] is not None else np.inf)
    return rows


def compare_runs(run_a: Run, run_b: Run, year: int = 2030) -> dict:
    """What changed from ``run_a`` to ``run_b``: observations and headline forecasts.

    Returns
    -------
    dict
        ``{"run_a", "run_b", "year", "added", "removed", "changed", "shifts"}``: ``added`` and
        ``removed`` list ledger rows ``{id, kind, subject, value, unit, source}`` by the runs'
        ``observations`` groups; ``changed`` lists rows in both whose value fields (or model
        role) differ, with ``changed_fields``, ``before`` and ``after``; ``shifts`` gives for
        each headline quantity ``median_a, median_b, ratio, log10_shift`` and the 90%
        intervals ``q05_a, q95_a, q05_b, q95_b``, sorted by ``|log10_shift|`` descending.

    Raises
    ------
    ValueError
        ``year`` outside the model's grid.
    """
    dt_a, dt_b = run_a.datatree(), run_b.datatree()
    changes = observation_changes(observations_from_datatree(dt_a),
                                  observations_from_datatree(dt_b))
    return {"run_a": run_a.id, "run_b": run_b.id, "year": year, **changes,
            "shifts": headline_shifts(dt_a, dt_b, year)}
