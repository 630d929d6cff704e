"""Customers and their accounts: who they are, when they join, and how much they earn and spend."""

from dataclasses import dataclass

import numpy as np
import polars as pl

from bank_pipeline.simulator import names, profile
from bank_pipeline.simulator.ibans import OPENED_ACCOUNT_BASE, OUR_BANK_CODES, german_ibans


@dataclass(frozen=True)
class Population:
    """Customers (one row each) and accounts; the per-account arrays are indexed by account number 0..n-1."""

    customers: pl.DataFrame  # CUSTOMER_COLUMNS + onboarding_day
    accounts: pl.DataFrame  # ACCOUNT_COLUMNS + opening_day
    iban: pl.Series
    holder_name: pl.Series
    currency: np.ndarray  # index into profile.CURRENCIES
    product: np.ndarray  # index into profile.PRODUCTS
    overdraft_limit: np.ndarray  # minor units
    opening_day: np.ndarray  # day number of the simulation
    opening_deposit: np.ndarray  # minor units
    monthly_income: np.ndarray  # minor units; 0 for savings
    debits_per_day: np.ndarray  # expected debits a day (activity)
    employer: np.ndarray  # index into names.EMPLOYERS

    @property
    def size(self) -> int:
        return len(self.currency)


def build_population(customers: int, days: int, rng: np.random.Generator) -> Population:
    people = _customers(customers, days, rng)
    verified = np.flatnonzero(people["kyc_status"].to_numpy() == "verified")
    per_customer = rng.choice(len(profile.ACCOUNTS_PER_CUSTOMER_SHARES), len(verified),
                              p=profile.ACCOUNTS_PER_CUSTOMER_SHARES) + 1  # fmt: skip
    owner = np.repeat(verified, per_customer)
    # Rank of each account among its owner's: 0 for the first (a EUR current account), then 1, 2.
    rank = np.arange(len(owner)) - np.repeat(np.cumsum(per_customer) - per_customer, per_customer)
    count = len(owner)

    secondary = rank > 0
    savings = secondary & (rng.random(count) < profile.SECOND_ACCOUNT_SAVINGS)
    foreign = secondary & ~savings
    currency = np.where(
        foreign, rng.choice(len(profile.CURRENCIES), count, p=profile.FOREIGN_CURRENCY_SHARES), profile.EUR
    ).astype(np.int8)
    product = np.where(savings, profile.SAVINGS, profile.CURRENT).astype(np.int8)

    bank = np.where(rng.random(count) < profile.SECOND_BANK_CODE_SHARE, OUR_BANK_CODES[1], OUR_BANK_CODES[0])
    iban = german_ibans(bank.astype(np.int64), OPENED_ACCOUNT_BASE + np.arange(count, dtype=np.int64))

    # Heavy-tailed activity: lognormal among the many, a few business customers far above; income follows.
    customer_activity = rng.lognormal(-(profile.ACTIVITY_SIGMA**2) / 2, profile.ACTIVITY_SIGMA, customers)
    customer_activity[rng.random(customers) < profile.BUSINESS_SHARE] *= profile.BUSINESS_ACTIVITY
    customer_activity /= customer_activity.mean()
    activity = customer_activity[owner]
    income_draw = rng.lognormal(0.0, profile.INCOME_SIGMA, count)
    primary = rank == 0
    debits_per_day = np.where(
        primary,
        np.minimum(activity * _primary_debits_per_day(), profile.MAX_DEBITS_PER_DAY),
        np.where(savings, profile.SAVINGS_ACTIVITY, profile.FOREIGN_ACTIVITY),
    )
    monthly_income = (
        np.where(
            primary,
            profile.MEDIAN_MONTHLY_INCOME * income_draw * activity**profile.INCOME_PER_ACTIVITY,
            np.where(savings, 0.0, profile.FOREIGN_MONTHLY_INCOME * income_draw),
        )
        .round()
        .astype(np.int64)
    )
    opening_deposit = np.where(
        savings,
        (profile.MEDIAN_SAVINGS_DEPOSIT * income_draw).round().astype(np.int64),
        monthly_income * profile.OPENING_DEPOSIT_MONTHS[0] // profile.OPENING_DEPOSIT_MONTHS[1],
    )
    overdraft_draw = rng.uniform(0.5, 1.5, count)
    overdraft_limit = np.where(
        primary & (rng.random(count) >= profile.NO_OVERDRAFT_SHARE),
        np.minimum((monthly_income * overdraft_draw).astype(np.int64) // 100_00 * 100_00, profile.MAX_OVERDRAFT),
        0,
    ).astype(np.int64)

    onboarding_day = people["onboarding_day"].to_numpy()
    customer_ids = people["customer_id"]
    accounts = pl.DataFrame(
        {
            "account_id": iban,
            "customer_id": customer_ids.gather(owner),
            "currency": pl.Series(profile.CURRENCIES).gather(currency.astype(np.int64)),
            "product": pl.Series(profile.PRODUCTS).gather(product.astype(np.int64)),
            "overdraft_limit": overdraft_limit,
            "opening_day": onboarding_day[owner],
        }
    )
    return Population(
        customers=people,
        accounts=accounts,
        iban=iban,
        holder_name=people["name"].gather(owner),
        currency=currency,
        product=product,
        overdraft_limit=overdraft_limit,
        opening_day=onboarding_day[owner].astype(np.int32),
        opening_deposit=opening_deposit,
        monthly_income=monthly_income,
        debits_per_day=debits_per_day,
        employer=rng.integers(0, len(names.EMPLOYERS), count).astype(np.int32),
    )


def _primary_debits_per_day() -> float:
    """Debits a day of an average primary account, so that all records average TRANSACTIONS_PER_CUSTOMER_DAY a
    customer: besides its debits, an account books inbound credits, outcomes of its outbound transfers, a
    salary a month; a customer's other accounts are far less active."""
    records_per_debit = 1 + profile.INBOUND_PER_DEBIT + profile.DEBIT_COUNT_SHARES[profile.SEPA_OUT]
    extra_accounts = sum(extra * share for extra, share in enumerate(profile.ACCOUNTS_PER_CUSTOMER_SHARES))
    savings = profile.SECOND_ACCOUNT_SAVINGS
    secondary = extra_accounts * ((1 - savings) * profile.FOREIGN_ACTIVITY + savings * profile.SAVINGS_ACTIVITY)
    verified = profile.KYC_SHARES[0]
    return (profile.TRANSACTIONS_PER_CUSTOMER_DAY / verified - 1 / 30 - secondary) / records_per_debit


def _customers(count: int, days: int, rng: np.random.Generator) -> pl.DataFrame:
    first = rng.integers(0, len(names.FIRST_NAMES), count)
    last = rng.integers(0, len(names.LAST_NAMES), count)
    later = (rng.random(count) >= profile.ONBOARDED_ON_FIRST_DAY) & (days > 1)
    onboarding_day = np.where(later, rng.integers(1, max(days, 2), count), 0).astype(np.int32)
    frame = pl.DataFrame(
        {
            "number": np.arange(1, count + 1, dtype=np.int64),
            "first": pl.Series(names.FIRST_NAMES).gather(first),
            "last": pl.Series(names.LAST_NAMES).gather(last),
            "first_lower": pl.Series([name.lower() for name in names.FIRST_NAMES]).gather(first),
            "last_lower": pl.Series([name.lower() for name in names.LAST_NAMES]).gather(last),
            "street": pl.Series(names.STREETS).gather(rng.integers(0, len(names.STREETS), count)),
            "house": rng.integers(1, 200, count),
            "city": pl.Series(names.CITIES).gather(rng.integers(0, len(names.CITIES), count)),
            "domain": pl.Series(names.EMAIL_DOMAINS).gather(rng.integers(0, len(names.EMAIL_DOMAINS), count)),
            "kyc_status": pl.Series(profile.KYC_STATUSES).gather(
                rng.choice(len(profile.KYC_STATUSES), count, p=profile.KYC_SHARES)
            ),
            "onboarding_day": onboarding_day,
        }
    )
    number = pl.col("number").cast(pl.String)
    return frame.select(
        pl.concat_str(pl.lit("C"), number.str.zfill(8)).alias("customer_id"),
        pl.concat_str(pl.col("first"), pl.lit(" "), pl.col("last")).alias("name"),
        pl.concat_str(
            pl.col("first_lower"),
            pl.lit("."),
            pl.col("last_lower"),
            number,
            pl.lit("@"),
            pl.col("domain"),
        ).alias("email"),  # fmt: skip
        pl.concat_str(
            pl.col("street"), pl.lit(" "), pl.col("house").cast(pl.String), pl.lit(", "), pl.col("city")
        ).alias("address"),
        pl.col("kyc_status"),
        pl.col("onboarding_day"),
    )
