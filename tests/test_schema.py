"""Issue #2: the observation record and the checks on one row."""

from __future__ import annotations

from datetime import date

import pytest

from gpt2030.observations.schema import (
    FIELDS,
    KINDS,
    REQUIRED,
    decimal_year,
    parse_date,
    validate_row,
)
from gpt2030.observations.units import UNITS

TODAY = date(2026, 1, 1)


def good_row(**changes: str) -> dict[str, str]:
    row = dict.fromkeys(FIELDS, "")
    row.update(
        id="inference_speed:gpt-4:test:2023-06",
        kind="inference_speed",
        subject="gpt-4",
        metric="OpenAI API",
        date="2023-06",
        value="12",
        unit="tokens/s",
        status="measured",
        source="Steinhardt (2023)",
        added="2025-01-01",
    )
    row.update(changes)
    return row


def test_good_row_is_valid() -> None:
    assert validate_row(good_row(), today=TODAY) == []
    assert validate_row(good_row(low="10", high="14", interval="90%"), today=TODAY) == []
    forecast = good_row(kind="training_compute", unit="FLOP", value="1e28", status="forecast",
                        target_date="2030")
    assert validate_row(forecast, today=TODAY) == []


# Each bad-input class: the changes to a good row and the field the reason must name.
BAD = {
    "unknown kind": ({"kind": "vibes"}, "kind"),
    "unknown unit": ({"unit": "furlongs"}, "unit"),
    "unit of the wrong dimension": ({"unit": "FLOP"}, "unit"),
    "non-numeric value": ({"value": "abc"}, "value"),
    "infinite value": ({"value": "inf"}, "value"),
    "negative FLOP": ({"kind": "training_compute", "unit": "FLOP", "value": "-5"}, "value"),
    "zero speed": ({"value": "0"}, "value"),
    "impossible date": ({"date": "2023-13-40"}, "date"),
    "malformed date": ({"date": "June 2023"}, "date"),
    "impossible target date": ({"target_date": "2030-02-30", "status": "forecast"},
                               "target_date"),
    "missing source": ({"source": ""}, "source"),
    "blank source": ({"source": "   "}, "source"),
    "missing value": ({"value": ""}, "value"),
    "low above value": ({"low": "13", "high": "14", "interval": "90%"}, "low"),
    "high below value": ({"low": "10", "high": "11", "interval": "90%"}, "high"),
    "interval without low/high": ({"interval": "90%"}, "interval"),
    "low/high without interval": ({"low": "10", "high": "14"}, "interval"),
    "unknown interval": ({"low": "10", "high": "14", "interval": "68%"}, "interval"),
    "forecast without target_date": ({"status": "forecast"}, "target_date"),
    "future date": ({"date": "2027-01"}, "date"),
    "future added": ({"added": "2026-06-01"}, "added"),
    "unknown status": ({"status": "vibes"}, "status"),
    "bad id": ({"id": "Has Spaces"}, "id"),
    "bad bound": ({"bound": "sideways"}, "bound"),
    "bad confidence": ({"confidence": "sure"}, "confidence"),
    "share above one": ({"kind": "benchmark_score", "unit": "%", "value": "120"}, "value"),
    "removal without reason": ({"removed_on": "2025-02-01"}, "removed_reason"),
    # Issue #9: strict numbers, plausible values and dates, single-line fields.
    "underscore number": ({"value": "1_000"}, "value"),
    "padded number": ({"value": " 12"}, "value"),
    "hex number": ({"value": "0x1f"}, "value"),
    "implausible speed": ({"value": "1e308"}, "value"),
    "implausible low": ({"low": "1e-9", "high": "14", "interval": "90%"}, "low"),
    "implausible compute": ({"kind": "training_compute", "unit": "FLOP", "value": "1e40"},
                            "value"),
    "year 1899": ({"date": "1899"}, "date"),
    "target before date": ({"status": "forecast", "target_date": "2022"}, "target_date"),
    "multi-line subject": ({"subject": "gpt-4\nx"}, "subject"),
    "control character in metric": ({"metric": "a\x1bb"}, "metric"),
    "forced mark without a note": ({"value": "1e308", "note": "[implausible, accepted]"},
                                   "note"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_every_bad_input_gets_a_one_line_reason_naming_its_field(case: str) -> None:
    changes, field = BAD[case]
    problems = validate_row(good_row(**changes), today=TODAY)
    assert problems, f"{case}: accepted"
    fields = [p.field for p in problems]
    assert field in fields, f"{case}: problems name {fields}, not {field!r}"
    for p in problems:
        text = str(p)
        assert "\n" not in text
        assert text.startswith(f"{p.field}: ")
        assert len(p.message) > 5


def test_reasons_are_informative() -> None:
    def reason(field: str, **changes: str) -> str:
        return next(str(p) for p in validate_row(good_row(**changes), today=TODAY)
                    if p.field == field)

    assert "vibes" in reason("kind", kind="vibes") and "training_compute" in reason(
        "kind", kind="vibes")
    assert "furlongs" in reason("unit", unit="furlongs")
    assert "tokens/s" in reason("unit", unit="furlongs")  # the list of known units
    assert "abc" in reason("value", value="abc")
    negative = reason("value", kind="training_compute", unit="FLOP", value="-5")
    assert "-5" in negative and "positive" in negative
    assert "2023-13-40" in reason("date", date="2023-13-40")
    assert "future" in reason("date", date="2027-01")
    assert "required" in reason("source", source="")


def test_future_check_needs_today() -> None:
    assert validate_row(good_row(date="2099-01"), today=None) == []
    # The start of the period counts: a month that began today is not in the future.
    assert validate_row(good_row(date="2026-01"), today=TODAY) == []
    assert validate_row(good_row(date="2026"), today=TODAY) == []
    assert validate_row(good_row(date="2026-01-02"), today=TODAY) != []


def test_target_date_may_be_in_the_future() -> None:
    row = good_row(status="forecast", target_date="2030-06")
    assert validate_row(row, today=TODAY) == []


def test_unknown_column_is_reported() -> None:
    row = good_row()
    row["colour"] = "red"
    assert [p.field for p in validate_row(row, today=TODAY)] == ["colour"]


@pytest.mark.parametrize("field", REQUIRED)
def test_every_required_field_is_required(field: str) -> None:
    problems = validate_row(good_row(**{field: ""}), today=TODAY)
    assert field in [p.field for p in problems]


def test_every_kind_has_at_least_one_unit() -> None:
    for kind, dims in KINDS.items():
        assert any(u.dimension in dims for u in UNITS.values()), kind


@pytest.mark.parametrize(
    ("text", "first", "last"),
    [
        ("2023", date(2023, 1, 1), date(2023, 12, 31)),
        ("2023-06", date(2023, 6, 1), date(2023, 6, 30)),
        ("2023-12", date(2023, 12, 1), date(2023, 12, 31)),
        ("2024-02", date(2024, 2, 1), date(2024, 2, 29)),
        ("2023-02", date(2023, 2, 1), date(2023, 2, 28)),
        ("2023-06-14", date(2023, 6, 14), date(2023, 6, 14)),
    ],
)
def test_parse_date(text: str, first: date, last: date) -> None:
    assert parse_date(text) == (first, last)


@pytest.mark.parametrize("text", ["2023-13-40", "2023-13", "2023-02-30", "2023-00", "23",
                                  "2023/06", "June 2023", "", "2023-6"])
def test_parse_date_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="date"):
        parse_date(text)


def test_decimal_year_is_the_middle_of_the_period() -> None:
    assert decimal_year("2023") == pytest.approx(2023.5)
    assert decimal_year("2023-01") == pytest.approx(2023 + 15.5 / 365)
    assert decimal_year("2023-12") == pytest.approx(2023 + (334 + 15.5) / 365)
    assert decimal_year("2023-06-14") == pytest.approx(2023 + (151 + 13.5) / 365)
    assert decimal_year("2024-12-31") < 2025.0
    assert decimal_year("2024") == pytest.approx(2024.5)


def test_plausibility_is_in_base_units_and_can_be_forced() -> None:
    from gpt2030.observations.schema import FORCED_MARK, implausible

    assert implausible(6e6, "tokens/min", "inference_speed") is None  # 1e5 tokens/s
    assert "implausible" in implausible(6.1e6, "tokens/min", "inference_speed")
    forced = good_row(value="1e308", note=f"{FORCED_MARK} a stress test")
    assert validate_row(forced, today=TODAY) == []


def test_numbers_are_parsed_strictly() -> None:
    from gpt2030.observations.schema import parse_number

    for good, value in (("12", 12.0), ("-0.5", -0.5), (".5", 0.5), ("1.2e28", 1.2e28),
                        ("+3", 3.0), ("5.", 5.0)):
        assert parse_number(good) == value
    for bad in ("1_000", " 12", "12 ", "nan", "inf", "-Infinity", "0x10", "1e999", "", "1,5",
                "\uff11\uff12"):  # full-width digits
        with pytest.raises(ValueError):
            parse_number(bad)
