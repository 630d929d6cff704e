"""Stream ids ("<category>-<id>") and the shape of the ids inside them."""

from __future__ import annotations

import re

from bank_pipeline.domain.errors import InvalidCommand

#: The shape of every id inside a stream id (customer, account, transfer): the API refuses anything else as input.
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"
_ID = re.compile(ID_PATTERN)


def validate_id(value: object, what: str) -> str:
    if isinstance(value, str) and _ID.fullmatch(value):
        return value
    raise InvalidCommand(
        f"{what} must be 1 to 64 letters, digits, '_', '.', ':' or '-', starting with a letter or digit; got {value!r}"
    )


def customer_stream(customer_id: str) -> str:
    return f"customer-{customer_id}"


def account_stream(account_id: str) -> str:
    return f"account-{account_id}"


def transfer_stream(transfer_id: str) -> str:
    return f"transfer-{transfer_id}"


def stream_category(stream_id: str) -> str:
    return stream_id.split("-", 1)[0]
