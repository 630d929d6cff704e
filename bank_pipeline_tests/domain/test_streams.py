from __future__ import annotations

import pytest

from bank_pipeline.domain.errors import InvalidCommand
from bank_pipeline.domain.streams import (
    account_stream,
    customer_stream,
    stream_category,
    transfer_stream,
    validate_id,
)


def test_stream_ids_are_category_dash_id() -> None:
    assert customer_stream("C1") == "customer-C1"
    assert account_stream("A-1") == "account-A-1"
    assert transfer_stream("T.1") == "transfer-T.1"


def test_category_is_the_text_before_the_first_dash() -> None:
    assert stream_category(account_stream("A-1-2")) == "account"


@pytest.mark.parametrize("value", ["A1", "a", "9", "acc_1.2:3-4", "X" * 64])
def test_validate_id_accepts_well_formed_ids(value: str) -> None:
    assert validate_id(value, "account_id") == value


@pytest.mark.parametrize("value", ["", "-A1", "_A1", "A 1", "A1\n", "Ä1", "A/1", "X" * 65, None, 12])
def test_validate_id_rejects_anything_else_naming_the_field(value: object) -> None:
    with pytest.raises(InvalidCommand, match="account_id"):
        validate_id(value, "account_id")
