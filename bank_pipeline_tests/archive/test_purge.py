"""Purge after the retention period: ended streams become tombstones in the archive unless a legal hold keeps them;
live and held streams stay whole; every digest still verifies; the purge is an audited event; a re-run after a crash
finishes the job and purges nothing twice."""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta

import dagster as dg
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from bank_pipeline.application import CommandHandler
from bank_pipeline.archive import purge as purge_module
from bank_pipeline.archive.columns import file_format
from bank_pipeline.archive.months import add_months
from bank_pipeline.archive.parts import recorded_parts
from bank_pipeline.archive.purge import PURGE_STREAM, PurgeBlocked, purge_expired
from bank_pipeline.archive.reading import archived_table, read_archived_stream, stream_row_groups
from bank_pipeline.archive.retire import archive_month
from bank_pipeline.archive.store import ArchiveStore
from bank_pipeline.archive.verify import in_delivery_order
from bank_pipeline.cli.archive import app as archive_cli
from bank_pipeline.defs.archive.assets import held_streams_are_intact, retention_purge
from bank_pipeline.defs.resources import BankDatabase
from bank_pipeline.domain import commands as c
from bank_pipeline.projections.projector import Projector
from bank_pipeline.projections.reconciliation import check_balances
from bank_pipeline.settings import get_settings
from bank_pipeline.store import audit
from bank_pipeline.store.month_digests import month_of, publish_due_months, published_months
from bank_pipeline_tests.archive.test_across_the_archive import PROCEDURE

THIS_MONTH = month_of(datetime.now(UTC))
ARCHIVE_TIME = datetime.combine(add_months(THIS_MONTH, 15), datetime.min.time(), UTC) + timedelta(days=1)
PURGE_TIME = datetime.combine(add_months(THIS_MONTH, 12 * 8), datetime.min.time(), UTC) + timedelta(days=1)
EXPIRES = datetime(2099, 1, 1, tzinfo=UTC)


def customer_with_account(handler: CommandHandler, name: str, *, close: bool) -> None:
    handler.execute(c.RegisterCustomer(name, f"{name} Person", f"{name}@example.org", f"1 {name} Street"))
    handler.execute(c.ChangeKycStatus(name, "verified"))
    handler.execute(c.OpenAccount(f"{name}-acc", name, "EUR"))
    handler.execute(c.CreditAccount(f"{name}-acc", 5_000, "EUR", f"{name}-in"))
    handler.execute(
        c.RequestOutboundTransfer(
            f"{name}-out", f"{name}-acc", 5_000, "EUR", "DE89370400440532013000", "Payee", None, EXPIRES
        )  # fmt: skip
    )
    handler.execute(c.SubmitOutboundTransfer(f"{name}-out", f"{name}-submission"))
    handler.execute(c.SettleOutboundTransfer(f"{name}-out", f"{name}-acc"))
    if close:
        handler.execute(c.CloseAccount(f"{name}-acc", "moved away"))
        handler.execute(c.CloseCustomer(name, "moved away"))


@pytest.fixture
def retired_bank(fresh_store, tmp_path):
    """Four customers, each with an account and an outbound transfer, their month archived, its digest published:
    `gone` closed everything; `live` is still a customer; `held` closed but is under a legal hold; `released` closed
    and its hold was released."""
    handler = CommandHandler(fresh_store)
    for name, close in (("gone", True), ("live", False), ("held", True), ("released", True)):
        customer_with_account(handler, name, close=close)
    handler.execute(c.PlaceLegalHold("held", "case-1", "litigation", "LIT-2026-1"))
    handler.execute(c.PlaceLegalHold("released", "case-2", "inquiry", "INQ-2026-2", account_id="released-acc"))
    handler.execute(c.ReleaseLegalHold("released", "case-2", "inquiry closed"))
    Projector(fresh_store.pool).catch_up()
    kept = ("customer-live", "account-live-acc", "transfer-live-out", "customer-held", "account-held-acc",
            "transfer-held-out")  # fmt: skip
    states = {stream: handler.fold_stream(stream) for stream in kept}
    store = ArchiveStore(str(tmp_path / "archive"))
    with fresh_store.pool.connection() as conn:
        archive_month(conn, store, THIS_MONTH, now=ARCHIVE_TIME, hot_months=13)
        assert publish_due_months(conn, now=ARCHIVE_TIME)
        conn.execute("SELECT event_store.ensure_partitions()")  # the month goes on: the purge records its event
    return handler, store, states


# A transfer goes with its account: `live`'s stays while the account lives, `held`'s while the hold applies.
PURGED = {
    "customer-gone", "account-gone-acc", "transfer-gone-out",
    "customer-released", "account-released-acc", "transfer-released-out",
}  # fmt: skip


def test_ended_streams_become_tombstones_and_held_or_live_ones_stay_whole(fresh_store, retired_bank):
    handler, store, states = retired_bank
    with fresh_store.pool.connection() as conn:
        before = archived_table(conn, THIS_MONTH)
        purged_events = sum(pc.sum(pc.equal(before.column("stream_id"), s)).as_py() for s in PURGED)

    report = purge_expired(fresh_store, store, now=PURGE_TIME, allow_future_now=True)

    assert report.streams_purged == len(PURGED) and report.events_purged == purged_events
    with fresh_store.pool.connection() as conn:
        after = archived_table(conn, THIS_MONTH)
        for stream in PURGED:
            assert read_archived_stream(conn, stream) == []
        assert {row[0] for row in conn.execute("SELECT stream_id FROM event_store.streams")} & PURGED == set()
        assert conn.execute("SELECT count(*) FROM projections.account_balances WHERE account_id IN "
                            "('gone-acc', 'released-acc')").fetchone()[0] == 0  # fmt: skip
        assert conn.execute("SELECT count(*) FROM projections.customers WHERE customer_id IN "
                            "('gone', 'released')").fetchone()[0] == 0  # fmt: skip
        (recorded,) = conn.execute(
            "SELECT payload FROM event_store.events WHERE stream_id = %s", (PURGE_STREAM,)
        ).fetchone()
        [(recorded_at_position, new_file, new_uri)] = conn.execute(
            "SELECT event_position, parquet_sha256, parquet_uri FROM event_store.month_purges"
        ).fetchall()
        assert recorded_parts(conn, bytes(new_file)) is not None  # one stream's reads check only what they fetch
    # ... and never the row groups that hold only tombstones.
    metadata = pq.read_metadata(new_uri.removeprefix("file://"))
    stream_column = metadata.schema.to_arrow_schema().get_field_index("stream_id")
    only_tombstones = {
        i for i in range(metadata.num_row_groups)
        if metadata.row_group(i).column(stream_column).statistics.null_count == metadata.row_group(i).num_rows
    }  # fmt: skip
    assert only_tombstones
    for stream in states:
        groups = stream_row_groups(metadata, file_format(metadata.schema.to_arrow_schema()), stream)
        assert groups and not set(groups) & only_tombstones
    # Every event is still counted and hashed, in the same order; only the purged ones lost their content.
    assert after.num_rows == before.num_rows
    assert pc.sum(pc.is_null(after.column("stream_id"))).as_py() == purged_events
    assert in_delivery_order(after).column("hash").equals(in_delivery_order(before).column("hash"))
    assert recorded["streams_purged"] == len(PURGED) and recorded_at_position == report.event_position
    assert recorded["streams_sha256"] == hashlib.sha256("\n".join(sorted(PURGED)).encode()).hexdigest()
    # The streams that stay fold exactly as before, from the archive.
    for stream, state in states.items():
        assert handler.fold_stream(stream) == state
    assert check_balances(fresh_store.pool).passed


def test_every_digest_still_verifies_after_a_purge(fresh_store, retired_bank):
    _, store, _ = retired_bank
    purge_expired(fresh_store, store, now=PURGE_TIME, allow_future_now=True)
    with fresh_store.pool.connection() as conn:
        report = audit.verify(conn)
    assert report.ok, report.findings


def test_the_auditors_script_recomputes_the_published_root_from_the_purged_file(fresh_store, retired_bank):
    _, store, _ = retired_bank
    purge_expired(fresh_store, store, now=PURGE_TIME, allow_future_now=True)
    with fresh_store.pool.connection() as conn:
        [digest] = [d for d in published_months(conn) if d.month == THIS_MONTH]
        [(uri, sha256)] = conn.execute("SELECT parquet_uri, parquet_sha256 FROM event_store.month_purges").fetchall()
    script = re.search(r"```python\n(.*?)```", PROCEDURE.read_text(), re.DOTALL).group(1)
    checked = subprocess.run(
        [sys.executable, "-c", script, uri.removeprefix("file://"), bytes(sha256).hex(), digest.merkle_root.hex()],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert checked.stdout.strip().endswith(f"root {digest.merkle_root.hex()} MATCHES")


def test_a_second_purge_finds_nothing_more(fresh_store, retired_bank):
    _, store, _ = retired_bank
    purge_expired(fresh_store, store, now=PURGE_TIME, allow_future_now=True)
    again = purge_expired(fresh_store, store, now=PURGE_TIME, allow_future_now=True)
    assert again.streams_purged == 0 and again.months == [] and again.event_position is None
    with fresh_store.pool.connection() as conn:
        assert conn.execute("SELECT count(*) FROM event_store.events WHERE stream_id = %s",
                            (PURGE_STREAM,)).fetchone()[0] == 1  # fmt: skip


def test_a_crash_before_the_streams_are_forgotten_is_finished_by_a_rerun(fresh_store, retired_bank, monkeypatch):
    _, store, _ = retired_bank

    def crash(*args, **kwargs):
        raise RuntimeError("killed after the months were rewritten")

    with monkeypatch.context() as patch:
        patch.setattr(purge_module, "_forget_streams", crash)
        with pytest.raises(RuntimeError):
            purge_expired(fresh_store, store, now=PURGE_TIME, allow_future_now=True)
    finished = purge_expired(fresh_store, store, now=PURGE_TIME, allow_future_now=True)
    assert finished.streams_purged == len(PURGED) and finished.months == []  # the month was already rewritten
    with fresh_store.pool.connection() as conn:
        assert {row[0] for row in conn.execute("SELECT stream_id FROM event_store.streams")} & PURGED == set()
        positions = conn.execute(
            "SELECT global_position FROM event_store.events WHERE stream_id = %s ORDER BY 1", (PURGE_STREAM,)
        ).fetchall()
        [(started,), (again,)] = positions
        assert conn.execute("SELECT event_position FROM event_store.month_purges").fetchall() == [(started,)]
        assert again == finished.event_position
        assert audit.verify(conn).ok


def test_a_hold_placed_while_the_purge_plans_keeps_what_it_holds(fresh_store, retired_bank, monkeypatch):
    handler, store, _ = retired_bank
    plan_purge, plans = purge_module.plan_purge, []

    def plan_then_a_hold_arrives(*args):
        plans.append(plan_purge(*args))
        if len(plans) == 1:  # between the first plan and the stream locks
            handler.execute(c.PlaceLegalHold("gone", "late-case", "new litigation", "LIT-LATE"))
        return plans[-1]

    monkeypatch.setattr(purge_module, "plan_purge", plan_then_a_hold_arrives)
    report = purge_expired(fresh_store, store, now=PURGE_TIME, allow_future_now=True)
    late = {"customer-gone", "account-gone-acc", "transfer-gone-out"}
    assert "customer-gone" in plans[0].streams and report.streams_purged == len(PURGED - late)
    for stream in late:
        assert handler.fold_stream(stream) is not None
    with fresh_store.pool.connection() as conn:
        assert audit.verify(conn).ok


def test_an_append_to_a_stream_being_purged_waits_and_is_then_refused(fresh_store, retired_bank):
    handler, store, _ = retired_bank
    outcome = {}

    def hold_from_another_thread(month):
        def place():
            try:
                handler.execute(c.PlaceLegalHold("gone", "too-late", "new litigation", "LIT-LATE"))
                outcome["result"] = "placed"
            except Exception as error:  # noqa: BLE001 - the refusal is what is asserted
                outcome["result"] = type(error).__name__

        worker = threading.Thread(target=place)
        worker.start()
        worker.join(timeout=1.0)
        assert worker.is_alive(), "the append must wait for the purge"
        outcome["thread"] = worker

    purge_expired(fresh_store, store, now=PURGE_TIME, allow_future_now=True, on_month=hold_from_another_thread)
    outcome["thread"].join(timeout=30)
    assert outcome["result"] == "UnknownCustomer"
    with fresh_store.pool.connection() as conn:
        assert audit.verify(conn).ok


def test_a_purge_refuses_a_now_in_the_future(fresh_store, retired_bank):
    _, store, _ = retired_bank
    with pytest.raises(PurgeBlocked, match="in the future"):
        purge_expired(fresh_store, store, now=PURGE_TIME)


def test_nothing_is_purged_inside_the_retention_period(fresh_store, retired_bank):
    _, store, _ = retired_bank
    too_early = purge_expired(fresh_store, store, now=PURGE_TIME - timedelta(days=400), allow_future_now=True)
    assert too_early.streams_purged == 0 and too_early.months == []


def test_a_purge_refuses_while_old_events_are_still_in_postgresql(fresh_store, tmp_path):
    customer_with_account(CommandHandler(fresh_store), "gone", close=True)
    with pytest.raises(PurgeBlocked, match="archive run"):
        purge_expired(fresh_store, ArchiveStore(str(tmp_path / "archive")), now=PURGE_TIME, allow_future_now=True)


def test_the_cli_purges_and_says_what_it_did(fresh_store, fresh_database_url, retired_bank, monkeypatch):
    _, store, _ = retired_bank
    monkeypatch.setenv("BANK_PIPELINE_DATABASE_URL", fresh_database_url)
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        early = runner.invoke(archive_cli, ["purge", "--store", store.uri])
        assert early.exit_code == 0, early.output
        assert "0 streams purged" in early.output
        future = runner.invoke(archive_cli, ["purge", "--store", store.uri, "--now", PURGE_TIME.isoformat()])
        assert future.exit_code == 1 and "in the future" in future.output
        done = runner.invoke(
            archive_cli, ["purge", "--store", store.uri, "--now", PURGE_TIME.isoformat(), "--allow-future-now"]
        )
        assert done.exit_code == 0, done.output
        assert f"{THIS_MONTH:%Y-%m}: " in done.output and f"{len(PURGED)} streams purged" in done.output
        assert "kept by legal holds" in done.output
    finally:
        get_settings.cache_clear()


def test_the_asset_purges_and_its_check_finds_every_held_stream(
    fresh_store, fresh_database_url, retired_bank, dagster_instance
):
    _, store, _ = retired_bank
    config = {"store_uri": store.uri, "now": PURGE_TIME.isoformat(), "allow_future_now": True}
    result = dg.materialize(
        [retention_purge, held_streams_are_intact],
        resources={"bank_db": BankDatabase(database_url=fresh_database_url)},
        run_config={"ops": {"retention_purge": {"config": config}}},
        instance=dagster_instance,
    )
    assert result.success
    [event] = result.get_asset_materialization_events()
    metadata = {key: value.value for key, value in event.materialization.metadata.items()}
    assert metadata["streams_purged"] == len(PURGED) and metadata["months_rewritten"] == [f"{THIS_MONTH:%Y-%m}"]
    [check] = result.get_asset_check_evaluations()
    assert check.passed and check.metadata["held_streams"].value == 2  # the customer and the account
