"""How the reports write numbers: one function per style, used by every page.

* :func:`fmt`: 3 significant figures, exponents for the very large or small (forecasts);
* :func:`fixed`: a fixed number of decimals (scores, whose scale is known);
* :func:`check_value`: enough digits to see why a diagnostic passed (R-hat 1.004);
* :func:`interval`: two :func:`fmt` numbers joined by a spaced en dash;
* :func:`interval90`: a prediction's 90% interval in its display unit.

Missing values (``None``, NaN, infinity) are written as a blank or a dash, never as ``nan``.
"""

from __future__ import annotations

import math

#: Between the ends of an interval: a spaced en dash.
DASH = " \u2013 "


def _number(x: object) -> float | None:
    """``x`` as a finite float, else ``None`` (text that is not a number also gives None)."""
    if x is None or isinstance(x, bool):
        return None
    try:
        v = float(x)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def fmt(x: object) -> str:
    """A number for a reader: 3 significant figures, exponents for the very large or small.

    Parameters
    ----------
    x : object
        A number (or text, returned as it is).

    Returns
    -------
    str
        ``1.00e28``, ``2027``, ``0.123``; ``""`` for a missing or non-finite number.
    """
    try:
        v = float(x)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return "" if x is None else str(x)
    if not math.isfinite(v):
        return ""
    a = abs(v)
    if a == 0:
        return "0"
    if a >= 1e4 or a < 1e-2:
        mant, exp = f"{v:.2e}".split("e")
        return f"{mant}e{int(exp)}"
    if a >= 100:
        return f"{v:.0f}"
    return f"{v:.3g}"


def fixed(x: object, digits: int = 3, missing: str = "-") -> str:
    """A number with ``digits`` decimals; ``missing`` for ``None`` or a non-finite value.

    Parameters
    ----------
    x : object
        A number; anything else that is not ``None`` is returned as text.
    digits : int
        Decimals.
    missing : str
        What a missing value reads as.

    Returns
    -------
    str
    """
    if isinstance(x, int) and not isinstance(x, bool):
        return str(x)
    v = _number(x)
    if v is None:
        return missing if x is None or isinstance(x, float) else str(x)
    return f"{v:.{digits}f}"


def check_value(x: object) -> str:
    """A diagnostic's value with enough digits to see why it passed (R-hat 1.004).

    Parameters
    ----------
    x : object
        The measured value.

    Returns
    -------
    str
        An integer without decimals, else 4 significant figures; ``n/a`` when missing.
    """
    if x is None:
        return "n/a"
    try:
        v = float(x)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return str(x)
    if not math.isfinite(v):
        return "n/a" if math.isnan(v) else str(v)
    return f"{v:.0f}" if v.is_integer() else f"{v:.4g}"


def interval(lo: object, hi: object) -> str:
    """``lo`` and ``hi`` by :func:`fmt`, joined by :data:`DASH` (a spaced en dash).

    Parameters
    ----------
    lo, hi : object
        The ends.

    Returns
    -------
    str
    """
    return f"{fmt(lo)}{DASH}{fmt(hi)}"


def interval90(p, sep: str = DASH) -> str:
    """A prediction's 90% interval (5th to 95th percentile) in its display unit.

    Parameters
    ----------
    p : gpt2030.inference.predictions.Prediction
        The prediction (its ``shown(q)``: the ``q`` quantile in the display unit).
    sep : str
        Between the ends (:data:`DASH`; the terminal's lines say `` to ``).

    Returns
    -------
    str
    """
    return f"{fmt(p.shown(0.05))}{sep}{fmt(p.shown(0.95))}"
