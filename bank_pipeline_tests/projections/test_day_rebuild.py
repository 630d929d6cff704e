"""Rebuilding a range of business days (a Dagster backfill) puts back exactly what the events say."""

from datetime import date

from bank_pipeline.application import CommandHandler
from bank_pipeline.projections.day_rebuild import rebuild_business_days
from bank_pipeline.projections.projector import Projector
from bank_pipeline.store import EventStore
from bank_pipeline_tests.projections.expectations import assert_read_model_matches_events
from bank_pipeline_tests.projections.random_bank import build_random_bank
from bank_pipeline_tests.projections.read_model import whole_read_model


def _busiest_day(conn) -> date:
    return conn.execute(
        "SELECT business_day FROM projections.daily_balances GROUP BY 1 ORDER BY sum(entry_count) DESC LIMIT 1"
    ).fetchone()[0]


def test_a_damaged_day_is_rebuilt_exactly(fresh_store: EventStore) -> None:
    build_random_bank(CommandHandler(fresh_store), seed=41, operations=150)
    Projector(fresh_store.pool).catch_up()
    with fresh_store.pool.connection() as conn:
        good = whole_read_model(conn)
        day = _busiest_day(conn)
        # Damage the day: a wrong amount, a lost entry, a made-up entry, a wrong daily total.
        conn.execute(
            "UPDATE projections.account_entries SET amount = amount + 1, business_balance = 0 "
            "WHERE ctid = (SELECT ctid FROM projections.account_entries WHERE occurred_at::date = %s LIMIT 1)",
            (day,),
        )
        conn.execute(
            "DELETE FROM projections.account_entries "
            "WHERE ctid = (SELECT ctid FROM projections.account_entries WHERE occurred_at::date = %s "
            "ORDER BY stream_version DESC LIMIT 1)",
            (day,),
        )
        conn.execute(
            "INSERT INTO projections.account_entries (account_id, stream_version, global_position, transaction_id, "
            "direction, amount, currency, balance_after, business_balance, known_balance, transfer_id, flow, "
            "occurred_at, recorded_at) SELECT account_id, 999999, 0, 0, 'credit', 1, currency, 0, 0, 0, 'bogus', "
            "'external', %s::date + time '12:00', now() FROM projections.account_balances LIMIT 1",
            (day,),
        )
        conn.execute(
            "UPDATE projections.daily_balances SET credits = credits + 7, closing_balance = closing_balance + 7 "
            "WHERE business_day = %s",
            (day,),
        )
        assert whole_read_model(conn) != good

        rebuilt = rebuild_business_days(conn, day, day)

        assert whole_read_model(conn) == good
    assert rebuilt.entries_rebuilt > 0 and rebuilt.accounts > 0
    assert_read_model_matches_events(fresh_store)


def test_rebuilding_an_intact_range_changes_nothing(fresh_store: EventStore) -> None:
    build_random_bank(CommandHandler(fresh_store), seed=42, operations=100)
    Projector(fresh_store.pool).catch_up()
    with fresh_store.pool.connection() as conn:
        before = whole_read_model(conn)
        rebuild_business_days(conn, date(2026, 11, 1), date(2026, 11, 30))
        assert whole_read_model(conn) == before


def test_a_range_rebuild_stops_at_the_checkpoint(fresh_store: EventStore) -> None:
    handler = CommandHandler(fresh_store)
    build_random_bank(handler, seed=43, accounts=4, operations=60)
    Projector(fresh_store.pool).catch_up()
    build_random_bank(handler, seed=44, accounts=4, operations=60)  # not projected yet
    with fresh_store.pool.connection() as conn:
        before = whole_read_model(conn)
        rebuild_business_days(conn, date(2026, 11, 1), date(2026, 11, 30))
        assert whole_read_model(conn) == before
    Projector(fresh_store.pool).catch_up()
    assert_read_model_matches_events(fresh_store)
