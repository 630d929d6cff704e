"""Money as integer minor units of a supported ISO 4217 currency; decimal text only at the edges."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Context, Decimal

from bank_pipeline.domain.errors import MalformedAmount, NonPositiveAmount, UnsupportedCurrency

CURRENCY_EXPONENTS: dict[str, int] = {
    "EUR": 2,
    "USD": 2,
    "GBP": 2,
    "CHF": 2,
    "SEK": 2,
    "NOK": 2,
    "DKK": 2,
    "PLN": 2,
    "CZK": 2,
    "JPY": 0,
}

_DECIMAL_TEXT = re.compile(r"[0-9]+(\.[0-9]+)?")


def validate_currency(code: object) -> str:
    if isinstance(code, str) and code in CURRENCY_EXPONENTS:
        return code
    raise UnsupportedCurrency(f"unsupported currency {code!r}; supported: {', '.join(sorted(CURRENCY_EXPONENTS))}")


def _require_integer(amount: object) -> int:
    # bool is an int subclass, but True is never a sum of money.
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise MalformedAmount(
            f"amount must be an integer number of minor units, got {amount!r} ({type(amount).__name__})"
        )
    return amount


def validate_amount(amount: object) -> int:
    """A positive integer number of minor units."""
    amount = _require_integer(amount)
    if amount <= 0:
        raise NonPositiveAmount(f"amount must be positive, got {amount} minor units")
    return amount


def parse_amount(text: str, currency: str) -> int:
    """Positive decimal text ("12.34") in major units to minor units of `currency`."""
    exponent = CURRENCY_EXPONENTS[validate_currency(currency)]
    if not isinstance(text, str):
        raise MalformedAmount(f"amount text must be a string, got {text!r}")
    cleaned = text.strip()
    if cleaned.startswith("-") and _DECIMAL_TEXT.fullmatch(cleaned[1:]):
        raise NonPositiveAmount(f"amount must be positive, got {text!r}")
    if not _DECIMAL_TEXT.fullmatch(cleaned):
        raise MalformedAmount(f"malformed amount {text!r}: expected digits with an optional decimal point")
    value = Decimal(cleaned)
    decimal_places = -value.as_tuple().exponent
    if decimal_places > exponent:
        raise MalformedAmount(f"amount {text!r} has more than {exponent} decimal places for {currency}")
    # Enough precision for every digit of the text, so the shift is exact.
    minor_units = int(value.scaleb(exponent, context=Context(prec=len(cleaned))))
    if minor_units == 0:
        raise NonPositiveAmount(f"amount must be positive, got {text!r}")
    return minor_units


def format_amount(amount: int, currency: str) -> str:
    """Minor units to decimal text in major units: 1234 EUR -> "12.34", -5 EUR -> "-0.05"."""
    amount = _require_integer(amount)
    exponent = CURRENCY_EXPONENTS[validate_currency(currency)]
    sign = "-" if amount < 0 else ""
    whole, fraction = divmod(abs(amount), 10**exponent)
    if exponent == 0:
        return f"{sign}{whole}"
    return f"{sign}{whole}.{fraction:0{exponent}d}"


@dataclass(frozen=True)
class Money:
    """An amount of any sign (a balance, an overdraft) in a supported currency."""

    amount: int
    currency: str

    def __post_init__(self) -> None:
        _require_integer(self.amount)
        validate_currency(self.currency)

    def __str__(self) -> str:
        return f"{format_amount(self.amount, self.currency)} {self.currency}"
