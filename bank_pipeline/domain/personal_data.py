"""What the domain knows about sealed personal data: which fields are personal, and how a sealed value looks.

Sealing and revealing (AES-256-GCM with a per-customer key) happen outside the domain, in
bank_pipeline/personal_data; the domain only tells sealed values from plain ones, so a customer whose history
holds plain personal data can be told apart (their erasure would be incomplete, and is refused).
"""

from __future__ import annotations

#: The fields of CustomerRegistered and CustomerDetailsUpdated that hold personal data.
PERSONAL_FIELDS = ("name", "email", "address")
#: Every sealed value starts with this (then the format version, e.g. "pii:v1:"); no plain value may.
SEALED_PREFIX = "pii:"
#: What a personal field reads as once the customer's key is destroyed.
ERASED_MARKER = "[erased]"


def is_sealed(value: object) -> bool:
    return isinstance(value, str) and value.startswith(SEALED_PREFIX)
