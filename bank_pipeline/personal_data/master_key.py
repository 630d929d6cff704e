"""The master key: it wraps every customer's data key, and is never stored in the database.

Production sets BANK_PIPELINE_PERSONAL_DATA_MASTER_KEY (32 bytes, base64; from a secrets manager). Unset, a
random key is kept in `home`/personal_data_master_key (mode 0600), made on first use, like the API signing key:
local runs work and no key is in the repository. Every process that reads or writes personal data (API, CLI,
Dagster, workers) must have the same master key; losing it makes every sealed value unreadable.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import secrets
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from bank_pipeline.settings import get_settings

KEY_FILE = "personal_data_master_key"
KEY_BYTES = 32


class MasterKeyError(RuntimeError):
    """The master key is missing, malformed, or not the one the data keys were wrapped with."""


@dataclass(frozen=True)
class MasterKey:
    key: bytes
    key_id: str  # the first 8 bytes of the key's SHA-256, hex: recorded with each wrapped data key

    @classmethod
    def of(cls, key: bytes) -> MasterKey:
        if len(key) != KEY_BYTES:
            raise MasterKeyError(f"the personal data master key must be {KEY_BYTES} bytes, not {len(key)}")
        return cls(key, hashlib.sha256(key).hexdigest()[:16])


def master_key() -> MasterKey:
    """The configured master key, or the one kept under BANK_PIPELINE_HOME (made on first use)."""
    settings = get_settings()
    return _master_key(settings.personal_data_master_key, str((settings.home / KEY_FILE).resolve()))


@lru_cache(maxsize=8)
def _master_key(configured: str | None, key_file: str) -> MasterKey:
    if configured:
        return MasterKey.of(_decode(configured, "BANK_PIPELINE_PERSONAL_DATA_MASTER_KEY"))
    path = Path(key_file)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it meanwhile: use theirs
            return MasterKey.of(_decode(path.read_text().strip(), str(path)))
        try:
            os.write(descriptor, base64.b64encode(secrets.token_bytes(KEY_BYTES)) + b"\n")
        finally:
            os.close(descriptor)
    return MasterKey.of(_decode(path.read_text().strip(), str(path)))


def _decode(text: str, where: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as error:
        raise MasterKeyError(f"{where} must hold {KEY_BYTES} bytes in base64") from error
