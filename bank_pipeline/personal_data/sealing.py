"""AES-256-GCM for personal data: one field's value sealed with the customer's data key, and a data key
wrapped with the master key. No I/O.

A sealed value is text, so a payload stays plain JSON and the event's hash covers the ciphertext (a verifier
never needs a key):

    pii:v1:<base64url(nonce (12 bytes) || ciphertext || tag (16 bytes))>

The associated data binds it to its customer and field ("bank-pipeline/pii/v1|<customer id>|<field>"): a
value copied into another customer's event, or into another field, does not open.
"""

from __future__ import annotations

import base64
import binascii
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from bank_pipeline.domain.personal_data import SEALED_PREFIX

FORMAT = f"{SEALED_PREFIX}v1:"
NONCE_BYTES = 12
DATA_KEY_BYTES = 32


class UnreadableSealedValue(RuntimeError):
    """A sealed value does not open with its customer's key: it was altered, or belongs elsewhere."""


def new_data_key() -> bytes:
    return AESGCM.generate_key(bit_length=8 * DATA_KEY_BYTES)


def _field_context(customer_id: str, field: str) -> bytes:
    return f"bank-pipeline/pii/v1|{customer_id}|{field}".encode()


def _key_context(customer_id: str) -> bytes:
    return f"bank-pipeline/customer-key/v1|{customer_id}".encode()


def seal_value(data_key: bytes, customer_id: str, field: str, value: str) -> str:
    nonce = os.urandom(NONCE_BYTES)
    sealed = AESGCM(data_key).encrypt(nonce, value.encode(), _field_context(customer_id, field))
    return FORMAT + base64.urlsafe_b64encode(nonce + sealed).decode()


def open_value(data_key: bytes, customer_id: str, field: str, sealed: str) -> str:
    if not sealed.startswith(FORMAT):
        raise UnreadableSealedValue(f"{field} of customer {customer_id}: not a {FORMAT} value")
    try:
        blob = base64.urlsafe_b64decode(sealed[len(FORMAT) :].encode())
        plain = AESGCM(data_key).decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], _field_context(customer_id, field))
    except (InvalidTag, binascii.Error, ValueError) as error:
        raise UnreadableSealedValue(
            f"{field} of customer {customer_id} does not open with the customer's key: altered, or copied from "
            "another customer or field"
        ) from error
    return plain.decode()


def wrap_key(master: bytes, customer_id: str, data_key: bytes) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(master).encrypt(nonce, data_key, _key_context(customer_id))


def unwrap_key(master: bytes, customer_id: str, wrapped: bytes) -> bytes:
    try:
        return AESGCM(master).decrypt(wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], _key_context(customer_id))
    except InvalidTag as error:
        raise UnreadableSealedValue(
            f"the data key of customer {customer_id} does not unwrap: wrong master key?"
        ) from error
