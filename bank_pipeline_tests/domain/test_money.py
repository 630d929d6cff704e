from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bank_pipeline.domain.errors import MalformedAmount, NonPositiveAmount, UnsupportedCurrency
from bank_pipeline.domain.money import (
    CURRENCY_EXPONENTS,
    Money,
    format_amount,
    parse_amount,
    validate_amount,
    validate_currency,
)
from bank_pipeline_tests.domain.harness import FAST


def test_supported_currencies_and_their_minor_unit_digits() -> None:
    assert CURRENCY_EXPONENTS == {
        "EUR": 2, "USD": 2, "GBP": 2, "CHF": 2, "SEK": 2, "NOK": 2, "DKK": 2, "PLN": 2, "CZK": 2, "JPY": 0,
    }  # fmt: skip


def test_validate_currency_returns_a_supported_code() -> None:
    assert validate_currency("EUR") == "EUR"


@pytest.mark.parametrize("code", ["XYZ", "eur", "", None, 978])
def test_validate_currency_rejects_anything_else(code: object) -> None:
    with pytest.raises(UnsupportedCurrency, match="unsupported currency"):
        validate_currency(code)


def test_validate_amount_returns_a_positive_int() -> None:
    assert validate_amount(1) == 1


@pytest.mark.parametrize("amount", [1.0, 1.5, True, "5", None])
def test_validate_amount_rejects_non_integers(amount: object) -> None:
    with pytest.raises(MalformedAmount):
        validate_amount(amount)


@pytest.mark.parametrize("amount", [0, -1])
def test_validate_amount_rejects_zero_and_negative(amount: int) -> None:
    with pytest.raises(NonPositiveAmount, match=str(amount)):
        validate_amount(amount)


@pytest.mark.parametrize(
    ("text", "currency", "minor_units"),
    [
        ("12.34", "EUR", 1234),
        ("12.3", "EUR", 1230),
        ("12", "EUR", 1200),
        (" 7.05 ", "USD", 705),
        ("0.01", "GBP", 1),
        ("007", "EUR", 700),
        ("100", "JPY", 100),
        ("123456789012345678901234567890.12", "EUR", 12345678901234567890123456789012),
    ],
)
def test_parse_amount(text: str, currency: str, minor_units: int) -> None:
    assert parse_amount(text, currency) == minor_units


@pytest.mark.parametrize(
    ("text", "currency"),
    [
        ("12.345", "EUR"),
        ("12.340", "EUR"),
        ("1.5", "JPY"),
        ("1.0", "JPY"),
        ("1,000.00", "EUR"),
        ("", "EUR"),
        ("abc", "EUR"),
        ("1.", "EUR"),
        (".5", "EUR"),
        ("1e3", "EUR"),
        ("+5", "EUR"),
        ("12.34.5", "EUR"),
        ("-abc", "EUR"),
        ("\u0661\u0662", "EUR"),  # Arabic-Indic digits
        ("NaN", "EUR"),
    ],
)
def test_parse_amount_rejects_malformed_text(text: str, currency: str) -> None:
    with pytest.raises(MalformedAmount):
        parse_amount(text, currency)


@pytest.mark.parametrize("text", ["0", "0.00", "00.0", "-5", "-0.01", " -1 "])
def test_parse_amount_rejects_zero_and_negative(text: str) -> None:
    with pytest.raises(NonPositiveAmount):
        parse_amount(text, "EUR")


def test_parse_amount_rejects_unsupported_currency() -> None:
    with pytest.raises(UnsupportedCurrency):
        parse_amount("1.00", "XYZ")


@pytest.mark.parametrize(
    ("amount", "currency", "text"),
    [
        (1234, "EUR", "12.34"),
        (-5, "EUR", "-0.05"),
        (0, "EUR", "0.00"),
        (100, "JPY", "100"),
        (-100, "JPY", "-100"),
    ],
)
def test_format_amount(amount: int, currency: str, text: str) -> None:
    assert format_amount(amount, currency) == text


def test_format_amount_rejects_floats() -> None:
    with pytest.raises(MalformedAmount):
        format_amount(12.5, "EUR")  # type: ignore[arg-type]


@FAST
@given(amount=st.integers(min_value=1, max_value=10**30), currency=st.sampled_from(sorted(CURRENCY_EXPONENTS)))
def test_format_then_parse_gives_the_amount_back(amount: int, currency: str) -> None:
    assert parse_amount(format_amount(amount, currency), currency) == amount


@FAST
@given(
    whole=st.integers(min_value=0, max_value=10**12),
    fraction=st.text(alphabet="0123456789", max_size=2),
    currency=st.sampled_from(["EUR", "USD", "CHF"]),
)
def test_parse_then_format_gives_the_canonical_text(whole: int, fraction: str, currency: str) -> None:
    text = f"{whole}.{fraction}" if fraction else str(whole)
    expected_minor_units = whole * 100 + int(fraction.ljust(2, "0"))
    if expected_minor_units == 0:
        return
    assert format_amount(parse_amount(text, currency), currency) == f"{whole}.{fraction.ljust(2, '0')}"


def test_money_prints_as_decimal_amount_and_currency() -> None:
    assert str(Money(1234, "EUR")) == "12.34 EUR"
    assert str(Money(-5, "EUR")) == "-0.05 EUR"
    assert str(Money(0, "JPY")) == "0 JPY"


@pytest.mark.parametrize("amount", [1.5, True, "12"])
def test_money_rejects_non_integer_amounts(amount: object) -> None:
    with pytest.raises(MalformedAmount):
        Money(amount, "EUR")  # type: ignore[arg-type]


def test_money_rejects_unsupported_currency() -> None:
    with pytest.raises(UnsupportedCurrency):
        Money(1, "XYZ")
