"""Customers, accounts and core-banking transaction batches as the landing contract lays them out.

Transactions are first made as one typed frame in v2's columns (booked_at a UTC datetime, amount an Int64 of
minor units); each batch is then written as v2 Parquet (typed as is), v2 CSV (booked_at in local time with its
offset, amount as integer text) or legacy v1 CSV (v1's names, booking_time in UTC without a zone, amount as
decimal major units).
"""

import numpy as np
import polars as pl

from bank_pipeline.ingest.landing import (
    ACCOUNT_COLUMNS,
    CUSTOMER_COLUMNS,
    LEGACY_TRANSACTION_COLUMNS,
    TRANSACTION_COLUMNS,
)
from bank_pipeline.simulator import names
from bank_pipeline.simulator.clock import LEGACY_UTC, DayClock, local_text
from bank_pipeline.simulator.population import Population
from bank_pipeline.simulator.profile import BILL, CARD, CURRENCIES, LEGACY_TYPES, P2P, SALARY, TRANSACTION_TYPES
from bank_pipeline.simulator.traffic import OPENING_MEMO


def customers_frame(population: Population, day_number: int) -> pl.DataFrame:
    return population.customers.filter(pl.col("onboarding_day") == day_number).select(CUSTOMER_COLUMNS)


def accounts_frame(population: Population, day_number: int) -> pl.DataFrame:
    return population.accounts.filter(pl.col("opening_day") == day_number).select(ACCOUNT_COLUMNS)


def record_ids(prefix: str, clock: DayClock, first: int, count: int, width: int) -> pl.Series:
    """`count` ids like T20261102-000123, numbered from `first`."""
    numbers = pl.int_range(first, first + count, eager=True).cast(pl.String).str.zfill(width)
    return (prefix + clock.compact + "-" + numbers).rename("record_id")


class TextPools:
    """Every counterparty name and reference text a transaction can carry, in two pools, so that a day's texts are
    gathers by index rather than string building: names are the payees (employers, shops, billers) then the
    account holders; references are the salary texts, the p2p memos, card numbers, then a contract number per
    account (for its bills)."""

    def __init__(self, population: Population):
        payees = names.EMPLOYERS + names.MERCHANTS + names.CARD_TEST_MERCHANTS + names.BILLERS
        self.names = pl.concat([pl.Series(payees), population.holder_name])
        self.holder_offset = len(payees)
        self.payee_offset = {
            SALARY: 0,
            CARD: len(names.EMPLOYERS),
            BILL: len(names.EMPLOYERS) + len(names.MERCHANTS) + len(names.CARD_TEST_MERCHANTS),
        }
        cards = pl.int_range(0, CARD_NUMBERS, eager=True).cast(pl.String).str.zfill(4)
        contracts = pl.Series(np.arange(population.size, dtype=np.int64) * 7_919 % 100_000_000).cast(pl.String)
        self._static_references = pl.concat(
            [pl.Series(names.P2P_MEMOS), "CARD *" + cards, "CONTRACT " + contracts.str.zfill(8)]
        )
        self.card_offset = len(names.P2P_MEMOS)
        self.contract_offset = self.card_offset + CARD_NUMBERS

    def references(self, clock: DayClock) -> pl.Series:
        """The reference pool for a day: the static texts, then the day's salary and opening deposit texts."""
        return pl.concat([self._static_references, pl.Series([f"SALARY {clock.day:%Y-%m}", "OPENING DEPOSIT"])])


CARD_NUMBERS = 10_000  # card references show the last four digits of a card number


def transactions_frame(
    rows: pl.DataFrame, population: Population, clock: DayClock, ids: pl.Series, pools: TextPools
) -> pl.DataFrame:
    """Transaction-channel movement rows (in booking order) as typed v2 records with the given record ids."""
    channel = rows["channel"].to_numpy()
    account = rows["account"].to_numpy().astype(np.int64)
    counter = rows["counter"].to_numpy().astype(np.int64)
    party = rows["party"].to_numpy().astype(np.int64)
    memo = rows["memo"].to_numpy().astype(np.int64)
    salary, card, bill, p2p = (channel == SALARY), (channel == CARD), (channel == BILL), (channel == P2P)
    payee_offset = np.select([salary, card, bill], [pools.payee_offset[c] for c in (SALARY, CARD, BILL)], 0)
    name_index = np.where(p2p, pools.holder_offset + counter, party + payee_offset)
    static = len(pools.references(clock)) - 2
    reference_index = np.select(
        [salary, card, bill],
        [static + (memo == OPENING_MEMO), pools.card_offset + account * 7 % CARD_NUMBERS,
         pools.contract_offset + account],
        memo,
    )  # fmt: skip
    counterparty = population.iban.gather(pl.Series(counter).scatter(np.flatnonzero(~p2p), None))  # null: not p2p
    types = pl.Series([TRANSACTION_TYPES.get(code, "") for code in range(max(TRANSACTION_TYPES) + 1)])
    return pl.DataFrame(
        {
            "record_id": ids,
            "booked_at": rows.select(clock.instants(pl.col("seconds"))).to_series(),
            "type": types.gather(channel.astype(np.int64)),
            "account_id": population.iban.gather(account),
            "counterparty_account": counterparty,
            "counterparty_name": pools.names.gather(name_index),
            "amount": rows["amount"],
            "currency": pl.Series(CURRENCIES).gather(population.currency[account].astype(np.int64)),
            "reference": pools.references(clock).gather(reference_index),
        }
    )


def decimal_text(minor_units: pl.Expr) -> pl.Expr:
    """Positive minor units as decimal major units: 1250 -> "12.50" (every currency here has two decimals)."""
    return pl.concat_str(
        (minor_units // 100).cast(pl.String), pl.lit("."), (minor_units % 100).cast(pl.String).str.zfill(2)
    )


def v2_text(typed: pl.DataFrame) -> pl.DataFrame:
    """The CSV form of v2: booked_at in local time with its offset, amount as integer text."""
    return typed.with_columns(
        local_text(pl.col("booked_at")).alias("booked_at"), pl.col("amount").cast(pl.String)
    ).select(TRANSACTION_COLUMNS)


def v1_text(typed: pl.DataFrame) -> pl.DataFrame:
    """The legacy export: v1's names, booking_time in UTC without a zone, upper-case types, decimal amounts."""
    legacy_type = {name: LEGACY_TYPES[channel] for channel, name in TRANSACTION_TYPES.items()}
    return typed.select(
        pl.col("record_id").alias("txn_ref"),
        pl.col("booked_at").dt.strftime(LEGACY_UTC).alias("booking_time"),
        pl.col("type").replace_strict(legacy_type, return_dtype=pl.String).alias("txn_type"),
        pl.col("account_id").alias("iban"),
        pl.col("counterparty_account").alias("counter_iban"),
        pl.col("counterparty_name").alias("counter_name"),
        decimal_text(pl.col("amount")).alias("amount"),
        pl.col("currency").alias("ccy"),
        pl.col("reference").alias("remittance"),
    ).select(LEGACY_TRANSACTION_COLUMNS)
