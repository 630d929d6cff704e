"""Normalising received values to the record form: text or null, amounts in minor units, legacy v1 as v2."""

import polars as pl

from bank_pipeline.domain.money import CURRENCY_EXPONENTS
from bank_pipeline.ingest.landing import LEGACY_TRANSACTION_TYPES

_DECIMAL = r"^([0-9]+)(?:\.([0-9]+))?$"
_LEGACY_TIME = r"^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}$"


def empty_as_null(frame: pl.DataFrame) -> pl.DataFrame:
    """Every column as text, an empty value as null."""
    return frame.with_columns(
        pl.when(pl.col(name) != "").then(pl.col(name)).alias(name) for name in frame.columns if name != "line"
    )


def minor_units(amount: str, currency: str) -> pl.Expr:
    """Decimal major units ("12.50") as minor units ("1250") of the row's currency, by string arithmetic.

    Where the text is not a positive amount with at most the currency's decimals (or the currency is unknown),
    the text stays as received so that validation rejects it, quoting what the file said."""
    parts = pl.col(amount).str.extract_groups(_DECIMAL)
    whole = parts.struct.field("1")
    fraction = parts.struct.field("2").fill_null("")
    exponent = pl.col(currency).replace_strict(CURRENCY_EXPONENTS, default=None, return_dtype=pl.Int64)
    digits = pl.lit(None, pl.String)
    for places in sorted(set(CURRENCY_EXPONENTS.values())):
        fits = (exponent == places) & (fraction.str.len_chars() <= places)
        digits = pl.when(fits).then(pl.concat_str(whole, fraction.str.pad_end(places, "0"))).otherwise(digits)
    significant = digits.str.strip_chars_start("0")
    return pl.when(significant.str.len_chars() > 0).then(significant).otherwise(pl.col(amount))


def legacy_booking_time(column: str) -> pl.Expr:
    """ "YYYY-MM-DD HH:MM:SS" in UTC as ISO 8601 with its zone; anything else (not a real time) as received."""
    text = pl.col(column)
    real = text.str.contains(_LEGACY_TIME) & text.str.to_datetime("%Y-%m-%d %H:%M:%S", strict=False).is_not_null()
    return pl.when(real).then(pl.concat_str(text.str.replace(" ", "T", literal=True), pl.lit("+00:00"))).otherwise(text)


def legacy_transactions_as_v2(frame: pl.DataFrame) -> pl.DataFrame:
    """Transactions v1 (the legacy export) under v2's names and in v2's units; unknown type codes as received."""
    return frame.select(
        pl.col("line"),
        pl.col("txn_ref").alias("record_id"),
        legacy_booking_time("booking_time").alias("booked_at"),
        pl.col("txn_type").replace(LEGACY_TRANSACTION_TYPES).alias("type"),
        pl.col("iban").alias("account_id"),
        pl.col("counter_iban").alias("counterparty_account"),
        pl.col("counter_name").alias("counterparty_name"),
        minor_units("amount", "ccy").alias("amount"),
        pl.col("ccy").alias("currency"),
        pl.col("remittance").alias("reference"),
    )
