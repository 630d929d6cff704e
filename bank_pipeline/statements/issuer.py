"""Who the bank is: its name and BIC (the camt.053 servicer, the MT940 sender) and its German bank codes (the
IBANs of its accounts, whether the simulator or the API opens them)."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Issuer:
    name: str
    bic: str
    bank_codes: tuple[str, ...]  # Bankleitzahlen of the same institute; the first is the main one


#: The bank: the simulator's pain.001 files carry the same identity (simulator/ibans.py reads it from here).
BANK = Issuer(name="Musterbank Online Banking", bic="COBADEFFXXX", bank_codes=("37040044", "10040000"))
