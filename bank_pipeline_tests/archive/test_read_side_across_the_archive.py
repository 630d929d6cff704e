"""Once a month is archived, the read side's checks still see its events, a stream without a current snapshot still
folds from version 1, and rebuilds that would read hot events only refuse instead of dropping archived entries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bank_pipeline.application import CommandHandler
from bank_pipeline.archive.months import add_months
from bank_pipeline.archive.retire import archive_month
from bank_pipeline.archive.store import ArchiveStore
from bank_pipeline.projections.day_rebuild import ArchivedDays, rebuild_business_days
from bank_pipeline.projections.projector import Projector
from bank_pipeline.projections.rebuild import rebuild
from bank_pipeline.projections.rebuild_schema import RebuildUnsupported
from bank_pipeline.projections.reconciliation import check_balances, check_double_entry
from bank_pipeline.store.month_digests import month_of
from bank_pipeline_tests.projections.random_bank import build_random_bank

THIS_MONTH = month_of(datetime.now(UTC))
LATER = datetime.combine(add_months(THIS_MONTH, 15), datetime.min.time(), UTC) + timedelta(days=1)


@pytest.fixture
def archived_bank(fresh_store, fresh_database_url, tmp_path):
    handler = CommandHandler(fresh_store)
    accounts = build_random_bank(handler, seed=31, accounts=6, operations=120)
    Projector(fresh_store.pool).catch_up()
    states_before = {account: handler.fold_stream(f"account-{account}") for account in accounts}
    with fresh_store.pool.connection() as conn:
        archive_month(conn, ArchiveStore(str(tmp_path / "archive")), THIS_MONTH, now=LATER, hot_months=13)
        assert conn.execute("SELECT count(*) FROM event_store.events").fetchone()[0] == 0
    return handler, accounts, states_before, fresh_database_url


def test_reconciliation_folds_the_archived_months_too(fresh_store, archived_bank):
    _, accounts, _, _ = archived_bank
    balances, double_entry = check_balances(fresh_store.pool), check_double_entry(fresh_store.pool)
    assert balances.passed, balances.differences
    assert balances.accounts_checked == len(accounts)
    assert double_entry.passed and {t.currency for t in double_entry.currencies} == {"EUR", "USD"}


def test_a_stream_whose_events_are_all_archived_folds_from_the_archive(archived_bank):
    handler, accounts, states_before, _ = archived_bank
    for account in accounts:
        assert handler.fold_stream(f"account-{account}") == states_before[account]


def test_rebuilds_refuse_to_drop_archived_entries(fresh_store, archived_bank):
    _, _, _, url = archived_bank
    with pytest.raises(RebuildUnsupported, match="archived"):
        rebuild(url)
    with fresh_store.pool.connection() as conn, pytest.raises(ArchivedDays, match="archived events"):
        rebuild_business_days(conn, THIS_MONTH, THIS_MONTH + timedelta(days=3))
