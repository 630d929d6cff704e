"""Who issues the statements: the bank's name and BIC, as the camt.053 servicer and the MT940 sender."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Issuer:
    name: str
    bic: str


#: The simulated bank (the same identity its pain.001 files carry).
BANK = Issuer(name="Musterbank Online Banking", bic="COBADEFFXXX")
