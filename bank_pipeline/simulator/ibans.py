"""IBANs: our bank's German ones computed in bulk, outside counterparties' from other banks and countries.

schwifty builds one IBAN in ~60 µs, too slow for hundreds of thousands of accounts, so German IBANs get their
ISO 7064 mod 97-10 check digits by vectorised integer arithmetic (the tests compare every one with schwifty);
schwifty generates the foreign ones, whose national BBAN check digits it knows.
"""

import numpy as np
import polars as pl
import schwifty

from bank_pipeline.statements.issuer import BANK

#: our bank: two bank codes (Bankleitzahlen) of the same institute, and its BIC for pain.001.
OUR_BANK_CODES = BANK.bank_codes
OUR_BIC = BANK.bic
OUR_BANK_NAME = BANK.name
#: other German banks, for outside counterparties.
OTHER_GERMAN_BANK_CODES = ("50010517", "10010010", "20041133", "70020270", "12030000", "43060967", "76026000")
#: (country, bank code) pairs for foreign counterparties; schwifty computes their national check digits.
FOREIGN_BANKS = (("FR", "30006"), ("NL", "ABNA"), ("NL", "RABO"), ("AT", "19043"), ("BE", "539"), ("ES", "21000418"))

#: account numbers (Kontonummern) of opened accounts start here; NEVER_OPENED_BASE and up are never opened.
OPENED_ACCOUNT_BASE = 1_000_000_000
NEVER_OPENED_BASE = 9_000_000_000

# "DE" as digits (D=13, E=14) followed by the placeholder check digits "00", the tail of the mod 97 number.
_DE_TAIL = 131400


def german_ibans(bank_codes: np.ndarray, account_numbers: np.ndarray) -> pl.Series:
    """DE IBANs for 8-digit bank codes and 10-digit account numbers (int64 arrays of equal length)."""
    bank_codes = np.asarray(bank_codes, dtype=np.int64)
    account_numbers = np.asarray(account_numbers, dtype=np.int64)
    # (bank_code · 10^10 + account) · 10^6 + 131400, reduced mod 97 piecewise so int64 never overflows.
    bban_mod = ((bank_codes % 97) * pow(10, 10, 97) + account_numbers % 97) % 97
    check = 98 - (bban_mod * pow(10, 6, 97) + _DE_TAIL) % 97
    frame = pl.DataFrame({"check": check, "bank": bank_codes, "account": account_numbers})
    return frame.select(
        pl.concat_str(
            pl.lit("DE"),
            pl.col("check").cast(pl.String).str.zfill(2),
            pl.col("bank").cast(pl.String).str.zfill(8),
            pl.col("account").cast(pl.String).str.zfill(10),
        ).alias("iban")
    ).to_series()


def foreign_iban(country: str, bank_code: str, account_number: int) -> str:
    return str(schwifty.IBAN.generate(country, bank_code=bank_code, account_code=str(account_number)))


def outside_ibans(count: int, rng: np.random.Generator, *, foreign_share: float = 0.3) -> pl.Series:
    """`count` distinct IBANs of other banks: German ones in bulk, a share of foreign ones (up to 100, as
    schwifty makes them one by one, at 0.5 ms each)."""
    foreign = min(int(count * foreign_share), 100)
    german = count - foreign
    # Distinct account numbers: a random start and a stride keep them unique without a set.
    start = int(rng.integers(1_000_000, 2_000_000))
    numbers = start + np.arange(german, dtype=np.int64) * 7919
    banks = np.array(OTHER_GERMAN_BANK_CODES, dtype=np.int64)[rng.integers(0, len(OTHER_GERMAN_BANK_CODES), german)]
    ibans = german_ibans(banks, numbers).to_list()
    which = rng.integers(0, len(FOREIGN_BANKS), foreign)
    for offset, bank in enumerate(which.tolist()):
        country, code = FOREIGN_BANKS[bank]
        ibans.append(foreign_iban(country, code, 1_000_000 + start % 7919 + offset * 7919))  # ≤ 7 digits (BE)
    return pl.Series("iban", ibans, dtype=pl.String)
