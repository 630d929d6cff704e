"""Checks on command fields that are not ids or money."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from bank_pipeline.domain.errors import DomainError, InvalidCommand


def require_text(value: object, what: str) -> str:
    if isinstance(value, str) and value.strip():
        return value
    raise InvalidCommand(f"{what} must be non-empty text, got {value!r}")


def optional_text(value: object, what: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise InvalidCommand(f"{what} must be text or absent, got {value!r}")


def require_choice(value: object, choices: tuple[str, ...], what: str) -> str:
    if isinstance(value, str) and value in choices:
        return value
    raise InvalidCommand(f"{what} must be one of {', '.join(choices)}; got {value!r}")


def require_utc(value: object, what: str) -> datetime:
    """A timezone-aware datetime, converted to UTC."""
    if isinstance(value, datetime) and value.utcoffset() is not None:
        return value.astimezone(UTC)
    raise InvalidCommand(f"{what} must be a timezone-aware datetime, got {value!r}")


@contextmanager
def errors_about(subject: str) -> Iterator[None]:
    """Prefix the message of any DomainError raised inside with `subject`, e.g. "account A1"."""
    try:
        yield
    except DomainError as error:
        raise type(error)(f"{subject}: {error}") from None
