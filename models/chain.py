"""The essay's arithmetic, link by link: plain functions of numbers or tensors.

Each works on floats, NumPy arrays and PyTensor tensors alike (only ``*``, ``/``, ``**``),
so the model and the tests use the very same formulas. References are to Steinhardt (2023),
"What will GPT-2030 look like?".
"""

from __future__ import annotations

from gpt2030.models.priors import FORWARD_FLOP_PER_PARAM, MINUTES_PER_YEAR


def forward_passes(compute, parameters):
    """Tokens the training compute could generate: C / (2N) (Appendix B).

    GPT-3: 3.1e23 FLOP / 3.5e11 FLOP per forward pass = ~9e11 passes.
    """
    return compute / (FORWARD_FLOP_PER_PARAM * parameters)


def work_years(passes, human_tokens_per_minute):
    """Human-speed years of thinking those tokens amount to (365-day years, Appendix B).

    9e11 tokens at 500 tokens/min is ~3,400 years.
    """
    return passes / (human_tokens_per_minute * MINUTES_PER_YEAR)


def speed_traded(speed, k):
    """Serial speed bought by giving up a factor ``k`` of throughput: k^2 faster (section 2).

    5x human at k = 5 gives 125x.
    """
    return speed * k**2


def parallel_copies(years_of_work, training_duration_years):
    """Copies running at once if the work is spread over one training run's duration."""
    return years_of_work / training_duration_years


def learning_years_per_day(copies):
    """Human-equivalent years of learning per day by copies at human speed (section 4).

    One million copies learn 1e6 days a day, ~2,740 years; the essay rounds to 2,500.
    """
    return copies / 365.0


def months_for_work(speed_vs_human):
    """Months for copies at the given speed to do a year of human work each (section 3).

    At 5x human, 12 / 5 = 2.4 months.
    """
    return 12.0 / speed_vs_human
