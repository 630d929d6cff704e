"""Events stored under an older schema keep replaying: AccountOpened v1 had no product field."""

import json
from datetime import datetime
from pathlib import Path

from bank_pipeline.domain import commands as c
from bank_pipeline.domain.events import EVENT_TYPES
from bank_pipeline.domain.streams import account_stream
from bank_pipeline.store import NewEvent

FIXTURES = Path(__file__).parents[1] / "fixtures" / "account_opened_v1.json"


def store_fixtures(store) -> None:
    """Write the stored v1 events as they were written before products existed (no snapshots)."""
    for raw in json.loads(FIXTURES.read_text()):
        store.append(
            [
                NewEvent(
                    raw["stream_id"],
                    raw["event_type"],
                    raw["payload"],
                    raw["schema_version"],
                    occurred_at=datetime.fromisoformat(raw["occurred_at"]),
                )
            ]
        )


def test_v1_events_are_stored_as_v1_and_read_as_the_current_version(fresh_store, fresh_handler):
    store_fixtures(fresh_store)
    stored = fresh_store.read_stream(account_stream("legacy-1"))[0]
    assert stored.schema_version == 1 and "product" not in stored.payload
    assert EVENT_TYPES["AccountOpened"].schema_version == 2

    states, versions = fresh_handler.load([account_stream("legacy-1"), account_stream("legacy-2")])
    legacy = states[account_stream("legacy-1")]
    assert (legacy.product, legacy.currency, legacy.overdraft_limit, legacy.ledger_balance) == (
        "current",
        "EUR",
        10000,
        125000,
    )
    assert states[account_stream("legacy-2")].product == "current"
    assert versions == {account_stream("legacy-1"): 2, account_stream("legacy-2"): 1}


def test_commands_keep_working_on_accounts_opened_under_v1(fresh_store, fresh_handler):
    store_fixtures(fresh_store)
    fresh_handler.execute(c.DebitAccount("legacy-1", 1_300_00, "EUR", "card-1", "Shop", "Card"))  # uses the overdraft
    states, _ = fresh_handler.load([account_stream("legacy-1")])
    assert states[account_stream("legacy-1")].ledger_balance == -5000
