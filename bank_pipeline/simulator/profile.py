"""The shape of the synthetic bank: product mix, traffic mix, daily and weekly rhythms, amounts.

Money channels are small integers so whole days of traffic stay numeric until they are written out.
"""

import numpy as np

from bank_pipeline.domain.money import CURRENCY_EXPONENTS

CURRENCIES = ("EUR", "GBP", "USD", "CHF")  # an account's currency is an index into this
EUR = 0
PRODUCTS = ("current", "savings")
CURRENT, SAVINGS = 0, 1
# Every currency here has two decimals, so decimal text is minor units with a point before the last two digits.
assert all(CURRENCY_EXPONENTS[currency] == 2 for currency in CURRENCIES)

# -- channels: how money moves ------------------------------------------------------------------------------
SALARY, CARD, BILL, P2P, SEPA_OUT, SEPA_IN, RETURN = range(7)
#: the channels booked by core banking (transaction batches), with their v2 and legacy v1 type names.
TRANSACTION_TYPES = {SALARY: "salary", CARD: "card_payment", BILL: "bill_payment", P2P: "p2p_transfer"}
LEGACY_TYPES = {SALARY: "SALARY", CARD: "CARD", BILL: "BILL", P2P: "P2P"}

# -- population -----------------------------------------------------------------------------------------------
TRANSACTIONS_PER_CUSTOMER_DAY = 1.3
KYC_STATUSES = ("verified", "pending", "rejected")
KYC_SHARES = (0.97, 0.02, 0.01)
ONBOARDED_ON_FIRST_DAY = 0.85  # the rest are onboarded on later days, evenly
ACCOUNTS_PER_CUSTOMER_SHARES = (0.78, 0.18, 0.04)  # 1, 2 or 3 accounts
SECOND_ACCOUNT_SAVINGS = 0.6  # a second or third account is EUR savings, else a current account in:
FOREIGN_CURRENCY_SHARES = (0.0, 0.5, 0.3, 0.2)  # EUR, GBP, USD, CHF
SECOND_BANK_CODE_SHARE = 0.2  # accounts under our second bank code
BUSINESS_SHARE = 0.005  # a few large customers ...
BUSINESS_ACTIVITY = 40.0  # ... with this many times the activity, and income to match
ACTIVITY_SIGMA = 1.0  # lognormal spread of activity among the many small customers
MAX_DEBITS_PER_DAY = 500.0
MEDIAN_MONTHLY_INCOME = 2_400_00  # EUR cents
INCOME_SIGMA = 0.55
INCOME_PER_ACTIVITY = 0.7  # income grows with activity to this power: busy customers earn more
FOREIGN_ACTIVITY, FOREIGN_MONTHLY_INCOME = 0.3, 600_00
SAVINGS_ACTIVITY, MEDIAN_SAVINGS_DEPOSIT = 0.03, 8_000_00
SAVINGS_SPENT_PER_DAY = 0.003  # share of a savings account's deposit moved out a day, on average
OPENING_DEPOSIT_MONTHS = (3, 2)  # the opening deposit in months of income, as a fraction: one and a half
NO_OVERDRAFT_SHARE = 0.35
MAX_OVERDRAFT = 10_000_00
SALARY_DAY_OF_MONTH = 25  # or the business day before, when it is a weekend

# -- traffic ---------------------------------------------------------------------------------------------------
#: share of a current account's debits by count, and of its spending by amount (money out ≈ money in).
DEBIT_COUNT_SHARES = {CARD: 0.81, BILL: 0.07, P2P: 0.105, SEPA_OUT: 0.015}
DEBIT_SPEND_SHARES = {CARD: 0.40, BILL: 0.30, P2P: 0.15, SEPA_OUT: 0.15}
SPENT_SHARE_OF_INCOME = 0.8
INBOUND_PER_DEBIT = 0.015  # inbound SEPA credits per debit
INBOUND_MEAN_SHARE_OF_INCOME = 0.1
AMOUNT_SIGMA = {CARD: 0.9, BILL: 0.6, P2P: 0.8, SEPA_OUT: 0.9, SEPA_IN: 0.9}
REJECTED_OUTBOUND_SHARE = 0.03

#: weekly rhythm, Monday to Sunday, each averaging 1: few card payments on Sundays, bills on business days.
WEEKDAY_FACTORS = {
    CARD: (1.0, 1.0, 1.0, 1.05, 1.15, 1.2, 0.6),
    BILL: (1.4, 1.4, 1.4, 1.4, 1.4, 0.0, 0.0),
    P2P: (0.9, 0.9, 0.9, 1.0, 1.1, 1.2, 1.0),
    SEPA_OUT: (1.2, 1.1, 1.1, 1.1, 1.1, 0.7, 0.7),
    SEPA_IN: (1.2, 1.2, 1.2, 1.2, 1.2, 0.5, 0.5),
}


def _normalised(weights: tuple[float, ...]) -> np.ndarray:
    array = np.array(weights, dtype=np.float64)
    return array / array.sum()


#: daily rhythm: relative weight of each local hour 0..23.
HOURLY_WEIGHTS = {
    CARD: _normalised((0.2, 0.1, 0.05, 0.05, 0.05, 0.1, 0.4, 1.0, 1.6, 1.8, 2.0, 2.4,
                       3.0, 2.6, 2.2, 2.2, 2.6, 3.2, 3.4, 2.6, 1.8, 1.2, 0.7, 0.4)),
    BILL: _normalised((0, 0, 0, 0, 0, 1, 3, 4, 3, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)),
    P2P: _normalised((0.2, 0.1, 0.05, 0.05, 0.05, 0.1, 0.3, 0.6, 0.8, 1.0, 1.0, 1.2,
                      1.4, 1.2, 1.1, 1.1, 1.3, 1.6, 2.0, 2.4, 2.6, 2.2, 1.4, 0.6)),
    SALARY: _normalised((0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)),
    SEPA_IN: _normalised((0.1, 0.1, 0.1, 0.1, 0.1, 0.3, 1, 1, 1, 1, 1, 1,
                          1, 1, 1, 1, 1, 1, 1, 0.8, 0.6, 0.4, 0.2, 0.1)),
    RETURN: _normalised((0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)),
}  # fmt: skip

HOURLY_CUMULATIVE = {channel: np.cumsum(weights)[:-1] for channel, weights in HOURLY_WEIGHTS.items()}

# -- files ------------------------------------------------------------------------------------------------------
BATCHES_PER_DAY = 4  # core-banking transaction batches a day (more when a day has more than BATCH_ROWS rows)
BATCH_ROWS = 1_000_000
TIME_ZONE = "Europe/Berlin"  # the bank's local time: rhythms, business days, booked_at offsets
