"""Who issues the statements: the bank's name and BIC, as the camt.053 servicer and the MT940 sender."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Issuer:
    name: str
    bic: str


#: The bank: the simulator's pain.001 files carry the same identity (simulator/ibans.py reads it from here).
BANK = Issuer(name="Musterbank Online Banking", bic="COBADEFFXXX")
