"""Bearer tokens: JWTs signed with HS256 and the configured key. `bank-pipeline token` mints them for local use;
an identity provider would in production (same claims: sub, role, customer_id, iat, exp)."""

from __future__ import annotations

import os
import re
import secrets
import time
from functools import lru_cache
from pathlib import Path

import jwt

from bank_pipeline.api.identity import ROLES, Identity
from bank_pipeline.domain.streams import ID_PATTERN
from bank_pipeline.settings import get_settings

ALGORITHM = "HS256"
ISSUER = "bank-pipeline"
KEY_FILE = "api_signing_key"
MINIMUM_KEY_BYTES = 32
_ID = re.compile(ID_PATTERN)  # subjects and customer ids go into events' metadata and SQL: the domain's id shape


class InvalidToken(ValueError):
    """The bearer token is missing, malformed, expired, or not signed with our key."""


def signing_key() -> str:
    """The configured key, or the one kept under BANK_PIPELINE_HOME (made on first use, readable by us only)."""
    settings = get_settings()
    global _last_key
    known_settings, key = _last_key  # one read: a concurrent rebind cannot mix two settings' values
    if known_settings is not settings:  # settings are made once per process (tests make new ones): look once each
        key = _key(settings.api_signing_key, os.path.abspath(os.path.join(settings.home, KEY_FILE)))
        _last_key = (settings, key)
    return key


_last_key: tuple = (None, None)  # (the settings object, its key): every request needs the key


@lru_cache(maxsize=8)
def _key(configured: str | None, key_file: str) -> str:
    """Read once per setting and path: every request verifies a token, and must not touch the disk for it."""
    path = Path(key_file)
    if configured:
        if len(configured.encode()) < MINIMUM_KEY_BYTES:
            raise ValueError(f"BANK_PIPELINE_API_SIGNING_KEY must be at least {MINIMUM_KEY_BYTES} bytes")
        return configured
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(descriptor, secrets.token_urlsafe(48).encode())
        except BaseException:
            os.close(descriptor)
            raise
        os.close(descriptor)
    return path.read_text().strip()


def mint_token(identity: Identity, *, ttl_seconds: int | None = None, key: str | None = None) -> str:
    if identity.role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}, not {identity.role!r}")
    if identity.role == "customer" and not identity.customer_id:
        raise ValueError("a customer token needs the customer id")
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "sub": identity.subject,
        "role": identity.role,
        "iat": now,
        "exp": now + (ttl_seconds if ttl_seconds is not None else get_settings().api_token_ttl_seconds),
    }
    if identity.customer_id:
        claims["customer_id"] = identity.customer_id
    return jwt.encode(claims, key or signing_key(), algorithm=ALGORITHM)


def verify_token(token: str, *, key: str | None = None) -> Identity:
    """The identity a valid token names, else InvalidToken. A token verified before is not verified again (its
    signature and claims cannot have changed) but its expiry is checked on every use."""
    identity, expires_at = _verified(token, key or signing_key())
    if time.time() >= expires_at:
        raise InvalidToken("the bearer token has expired: get a new one")
    return identity


# A client sends the same token with every request for its lifetime: verifying the HMAC and the claims once per
# token instead of per request took ~7 % of the API's CPU off its hottest reads. Refusals raise, so are never kept.
@lru_cache(maxsize=16_384)  # tokens of the clients active now; ~0.5 KB each
def _verified(token: str, key: str) -> tuple[Identity, float]:
    try:
        claims = jwt.decode(
            token, key, algorithms=[ALGORITHM], issuer=ISSUER,
            options={"require": ["exp", "iat", "sub", "iss"]},
        )  # fmt: skip
    except jwt.ExpiredSignatureError as error:
        raise InvalidToken("the bearer token has expired: get a new one") from error
    except jwt.PyJWTError as error:
        raise InvalidToken(f"the bearer token is not valid: {error}") from error
    role, subject, customer_id = claims.get("role"), claims.get("sub"), claims.get("customer_id")
    if role not in ROLES:
        raise InvalidToken("the bearer token names no known role")
    if not isinstance(subject, str) or not _ID.fullmatch(subject):
        raise InvalidToken("the bearer token's subject is not a valid id")
    if customer_id is not None and (not isinstance(customer_id, str) or not _ID.fullmatch(customer_id)):
        raise InvalidToken("the bearer token's customer id is not a valid id")
    if role == "customer" and (not isinstance(customer_id, str) or not customer_id):
        raise InvalidToken("a customer's bearer token must name the customer")
    return Identity(subject, role, customer_id if role == "customer" else None), float(claims["exp"])
