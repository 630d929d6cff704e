"""Monthly audit digests: published once a month is closed, recomputable from the events alone, chained month to
month, with inclusion proofs; `audit verify` names the month whose events changed after publication."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from typer.testing import CliRunner

from bank_pipeline.archive.months import add_months
from bank_pipeline.cli.main import app
from bank_pipeline.domain.merkle import EMPTY_ROOT, merkle_root, root_from_inclusion_proof
from bank_pipeline.settings import get_settings
from bank_pipeline.store import EventStore, NewEvent
from bank_pipeline.store.audit import verify
from bank_pipeline.store.month_digests import (
    CLOSING_GRACE,
    NO_ROOT,
    MonthNotClosed,
    month_bounds,
    month_of,
    months_due,
    prove_inclusion,
    publish_due_months,
    publish_month,
    published_months,
)
from bank_pipeline_tests.store.test_audit import position, tamper

THIS_MONTH = month_of(datetime.now(UTC))
AFTER_THIS_MONTH = month_bounds(THIS_MONTH)[1] + CLOSING_GRACE  # the first instant its digest may be published


def history(store: EventStore) -> None:
    store.append([NewEvent("acct-a", "Opened", {"n": 1}), NewEvent("acct-b", "Opened", {"n": 1})])
    for amount in (100, 30, 5):
        store.append([NewEvent("acct-a", "Credited", {"amount": amount})])
    store.append([NewEvent("acct-b", "Debited", {"amount": 7}), NewEvent("acct-c", "Opened", {"n": 1})])


def test_a_closed_month_publishes_the_merkle_root_of_its_event_hashes_in_delivery_order(fresh_store):
    history(fresh_store)
    with fresh_store.pool.connection() as conn:
        assert months_due(conn, AFTER_THIS_MONTH - timedelta(seconds=1)) == []
        assert months_due(conn, AFTER_THIS_MONTH) == [THIS_MONTH]
        [digest] = publish_due_months(conn, AFTER_THIS_MONTH)
        assert publish_month(conn, THIS_MONTH, AFTER_THIS_MONTH) == digest  # published once: the same row again
        assert months_due(conn, AFTER_THIS_MONTH) == []
    events = fresh_store.read_all(limit=100)  # delivery order, computed here independently of the publisher
    assert digest.event_count == len(events) == 7
    assert digest.merkle_root == merkle_root([event.hash for event in events])
    assert (digest.first, digest.last) == (events[0].checkpoint, events[-1].checkpoint)
    assert digest.previous_root == NO_ROOT and digest.published_at is not None


def test_a_month_is_not_published_before_it_is_closed_nor_out_of_order(fresh_store):
    history(fresh_store)
    with fresh_store.pool.connection() as conn:
        with pytest.raises(MonthNotClosed, match="ends"):
            publish_month(conn, THIS_MONTH, AFTER_THIS_MONTH - timedelta(minutes=1))
        publish_month(conn, THIS_MONTH, AFTER_THIS_MONTH)
        two_months_on = add_months(THIS_MONTH, 2)
        with pytest.raises(MonthNotClosed, match="in order"):
            publish_month(conn, two_months_on, month_bounds(two_months_on)[1] + CLOSING_GRACE)
        assert published_months(conn)[-1].month == THIS_MONTH


def test_months_chain_and_an_empty_month_has_the_empty_root(fresh_store):
    history(fresh_store)
    following = add_months(THIS_MONTH, 1)
    with fresh_store.pool.connection() as conn:
        first, second = publish_due_months(conn, month_bounds(following)[1] + CLOSING_GRACE)
    assert (first.month, second.month) == (THIS_MONTH, following)
    assert (second.event_count, second.merkle_root, second.first) == (0, EMPTY_ROOT, None)
    assert second.previous_root == first.merkle_root


def test_verify_passes_untouched_published_months(fresh_store):
    history(fresh_store)
    with fresh_store.pool.connection() as conn:
        publish_due_months(conn, month_bounds(add_months(THIS_MONTH, 1))[1] + CLOSING_GRACE)
        report = verify(conn)
    assert report.ok, report.findings
    assert report.months_checked == 2


def test_an_event_deleted_after_publication_is_named_by_its_month(fresh_store):
    history(fresh_store)
    with fresh_store.pool.connection() as conn:
        publish_due_months(conn, AFTER_THIS_MONTH)
    tamper(fresh_store, f"DELETE FROM event_store.events WHERE global_position = {position(fresh_store, 'acct-a', 4)}")
    with fresh_store.pool.connection() as conn:
        findings = [f for f in verify(conn).findings if f.kind == "month_digest_mismatch"]
    assert len(findings) == 1
    assert f"month {THIS_MONTH:%Y-%m}" in findings[0].message and "over 7 events" in findings[0].message


def test_an_event_recorded_into_a_published_month_afterwards_is_reported(fresh_store):
    """A late writer (a transaction open across the month's end for longer than the grace) is caught, not lost."""
    history(fresh_store)
    with fresh_store.pool.connection() as conn:
        publish_due_months(conn, AFTER_THIS_MONTH)
    fresh_store.append([NewEvent("acct-c", "Credited", {"amount": 1})])  # recorded now: in the published month
    with fresh_store.pool.connection() as conn:
        messages = [f.message for f in verify(conn).findings if f.kind == "month_digest_mismatch"]
    assert len(messages) == 1 and "recomputed over 8" in messages[0]


def test_a_replaced_published_digest_breaks_the_next_months_link(fresh_store):
    history(fresh_store)
    with fresh_store.pool.connection() as conn:
        publish_due_months(conn, month_bounds(add_months(THIS_MONTH, 1))[1] + CLOSING_GRACE)
    tamper(fresh_store, f"UPDATE event_store.month_digests SET merkle_root = '\\x{'ab' * 32}' "
                        f"WHERE month = '{THIS_MONTH}'")  # fmt: skip
    with fresh_store.pool.connection() as conn:
        messages = [f.message for f in verify(conn).findings if f.kind == "month_digest_mismatch"]
    assert len(messages) == 2
    assert messages[0].startswith(f"month {THIS_MONTH:%Y-%m}: the published root abababab")
    assert "does not chain to the month published before it" in messages[1]


def test_published_digests_cannot_be_changed(fresh_store):
    history(fresh_store)
    with fresh_store.pool.connection() as conn:
        publish_due_months(conn, AFTER_THIS_MONTH)
        with pytest.raises(psycopg.DatabaseError, match="append-only"):
            conn.execute("UPDATE event_store.month_digests SET event_count = 0")


def test_an_inclusion_proof_leads_from_one_event_to_the_published_root(fresh_store):
    history(fresh_store)
    with fresh_store.pool.connection() as conn:
        [digest] = publish_due_months(conn, AFTER_THIS_MONTH)
        for event in fresh_store.read_all(limit=100):
            proof = prove_inclusion(conn, event.global_position)
            assert proof.event_hash == event.hash and proof.tree_size == 7
            assert proof.merkle_root == digest.merkle_root
            assert root_from_inclusion_proof(proof.event_hash, proof.index, proof.tree_size, proof.path) == (
                digest.merkle_root
            )


@pytest.fixture
def runner(fresh_database_url, monkeypatch) -> Iterator[CliRunner]:
    """The CLI on the fresh database."""
    monkeypatch.setenv("BANK_PIPELINE_DATABASE_URL", fresh_database_url)
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


def test_the_cli_publishes_lists_and_proves(fresh_store, runner):
    history(fresh_store)
    too_early = runner.invoke(
        app, ["audit", "publish", "--now", f"{AFTER_THIS_MONTH - timedelta(days=40):%Y-%m-%dT%H:%M:%S}"]
    )
    assert too_early.exit_code == 0 and "published 0 month digest(s)" in too_early.output
    published = runner.invoke(app, ["audit", "publish", "--now", f"{AFTER_THIS_MONTH:%Y-%m-%dT%H:%M:%S%z}"])
    assert published.exit_code == 0, published.output
    assert f"{THIS_MONTH:%Y-%m}: 7 events, root " in published.output
    listed = runner.invoke(app, ["audit", "months"])
    assert listed.exit_code == 0 and f"{THIS_MONTH:%Y-%m}" in listed.output
    proof = runner.invoke(app, ["audit", "prove", str(position(fresh_store, "acct-a", 2))])
    assert proof.exit_code == 0 and '"tree_size": 7' in proof.output
    unknown = runner.invoke(app, ["audit", "prove", "999999"])
    assert unknown.exit_code == 1 and "no event at global position 999999" in unknown.output
    verified = runner.invoke(app, ["audit", "verify"])
    assert verified.exit_code == 0 and "1 published month digests" in verified.output


def test_a_month_is_not_published_while_a_transaction_that_could_write_into_it_is_open(fresh_store):
    history(fresh_store)
    with fresh_store.pool.connection() as writer, fresh_store.pool.connection() as publisher:
        writer.execute("BEGIN")
        writer.execute("SELECT 1")  # a transaction started before the month's end, open after it
        with pytest.raises(MonthNotClosed, match="still open"):
            publish_month(publisher, THIS_MONTH, AFTER_THIS_MONTH)
        writer.execute("COMMIT")
        assert publish_month(publisher, THIS_MONTH, AFTER_THIS_MONTH).event_count == 7
