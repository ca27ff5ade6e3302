"""The essay's published figures, for comparison with every forecast (not priors).

Source: Steinhardt (2023), "What will GPT-2030 look like?", restated with section references
in ``shared/docs/essay-figures.md``. Ranges are the essay's 25th-75th percentiles.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EssayFigure:
    """One of the essay's 2030 forecasts: median, 25-75% range (if given), and where."""

    median: float
    low: float | None
    high: float | None
    where: str


#: Keyed like the forecast quantities (``gpt2030 forecast --format json``).
ESSAY_2030: dict[str, EssayFigure] = {
    "training_compute_flop": EssayFigure(
        1.0e28, None, None,
        "Appendix B: geometric middle of Besiroglu et al. 2022 (4.7e28) and Metaculus (2.3e27)"),
    "work_years": EssayFigure(1.8e6, 0.4e6, 10e6, "Section 3 and Appendix B"),
    "speed_vs_human": EssayFigure(5.0, 0.5, 20.0, "Section 2 and Appendix A"),
    "overhang_growth_vs_gpt3": EssayFigure(
        100.0, 12.0, 200.0,
        "Appendix B: growth over a compute-optimal GPT-3 (the essay's extra factor 4 for "
        "GPT-3's undertraining is counted separately)"),
    "parallel_copies": EssayFigure(1.5e6, None, None, "Section 4: 1.8M years / <1.2 years"),
    "learning_years_per_day": EssayFigure(2500.0, None, None,
                                          "Section 4: 1M copies, '1M days = 2,500 years'"),
    "months_for_work": EssayFigure(2.4, None, None, "Section 3: 1.8M years of work at 5x"),
}


@dataclass(frozen=True)
class Threshold:
    """A capability threshold on a modelled benchmark, and the forecast the essay cites."""

    name: str
    benchmark: str  # the ``metric`` of the benchmark's ledger rows
    accuracy: float  # as a fraction
    cited_median_year: float
    cited: str


THRESHOLDS: tuple[Threshold, ...] = (
    Threshold("MATH >= 92%", "MATH", 0.92, 2025,
              "Metaculus, as cited by the essay (section 1): MATH 92% by 2025"),
    Threshold("IMO gold", "IMO", 29 / 42, 2028,
              "Metaculus, as cited by the essay (section 1): IMO gold by 2028; gold taken as "
              "29 of 42 points, the IMO 2024 gold cut-off"),
    Threshold("APPS >= 80%", "APPS (competition level)", 0.80, 2027,
              "Metaculus Q7398 (ledger, capability_forecast): 80% on APPS, median 2027"),
)
