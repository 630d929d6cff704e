"""The store's guarantees, checked on both append paths: one call of append_events (a command's few
events) and COPY (large batches, forced here for every append)."""

import psycopg
import pytest

from bank_pipeline.db.connection import pool as make_pool
from bank_pipeline.store import (
    AppendNotFirstWrite,
    ConcurrencyError,
    EventStore,
    IdempotencyConflict,
    NewEvent,
    TransactionIdsWentBackwards,
)


@pytest.fixture(params=["append_events", "copy"])
def store(request, database_url):
    with make_pool(database_url, max_size=4) as pool:
        yield EventStore(pool, copy_threshold=1 if request.param == "copy" else 1_000_000)


def event(stream: str, kind: str = "Noted", **payload) -> NewEvent:
    return NewEvent(stream, kind, payload or {"n": 1}, metadata={"actor": "test"})


def count_events(store: EventStore, *streams: str) -> int:
    with store.pool.connection() as conn:
        return conn.execute(
            "SELECT count(*) FROM event_store.events WHERE stream_id = ANY(%s)", (list(streams),)
        ).fetchone()[0]


def test_append_assigns_versions_positions_and_chains_hashes(store, unique):
    a, b = f"test-a{unique}", f"test-b{unique}"
    result = store.append([event(a), event(b), event(a)], {a: 0, b: 0})
    assert result.stream_versions == {a: 2, b: 1}
    assert len(result.global_positions) == 3
    assert list(result.global_positions) == sorted(result.global_positions)

    stream_a = store.read_stream(a)
    assert [e.stream_version for e in stream_a] == [1, 2]
    assert stream_a[0].previous_hash == bytes(32)
    assert stream_a[1].previous_hash == stream_a[0].hash
    assert {e.transaction_id for e in stream_a} == {result.transaction_id}
    assert stream_a[0].metadata == {"actor": "test"}
    assert stream_a[0].recorded_at >= stream_a[0].occurred_at.replace(microsecond=0)


def test_wrong_expected_version_raises_and_writes_nothing(store, unique):
    a, b = f"test-a{unique}", f"test-b{unique}"
    store.append([event(a)], {a: 0})
    with pytest.raises(ConcurrencyError) as raised:
        store.append([event(a), event(b)], {a: 0, b: 0})
    assert (raised.value.stream_id, raised.value.expected, raised.value.actual) == (a, 0, 1)
    assert count_events(store, a, b) == 1


def test_a_stream_read_but_not_written_is_also_checked(store, unique):
    read_only, written = f"test-r{unique}", f"test-w{unique}"
    store.append([event(read_only)])
    with pytest.raises(ConcurrencyError):
        store.append([event(written)], {read_only: 0, written: 0})
    assert count_events(store, written) == 0
    store.append([event(written)], {read_only: 1, written: 0})
    assert count_events(store, written) == 1


def test_same_idempotency_key_and_request_returns_the_original_result(store, unique):
    a = f"test-a{unique}"
    first = store.append([event(a)], idempotency_key=f"k{unique}", request_hash=b"request-1")
    again = store.append([event(a)], idempotency_key=f"k{unique}", request_hash=b"request-1")
    assert again.replayed and not first.replayed
    assert again.global_positions == first.global_positions
    assert again.stream_versions == first.stream_versions
    assert count_events(store, a) == 1


def test_same_idempotency_key_with_another_request_is_refused(store, unique):
    a = f"test-a{unique}"
    store.append([event(a)], idempotency_key=f"k{unique}", request_hash=b"request-1")
    with pytest.raises(IdempotencyConflict, match="different request"):
        store.append([event(a)], idempotency_key=f"k{unique}", request_hash=b"request-2")
    assert count_events(store, a) == 1


def test_append_inside_a_caller_transaction_commits_or_rolls_back_with_it(store, unique):
    a = f"test-a{unique}"
    with store.pool.connection() as conn:
        with pytest.raises(RuntimeError):
            with conn.transaction():
                store.append([event(a)], conn=conn)
                raise RuntimeError("caller fails after appending")
        assert count_events(store, a) == 0
        with conn.transaction():
            store.append([event(a)], conn=conn)
    assert count_events(store, a) == 1


def test_append_must_be_the_first_write_of_its_transaction(store, unique):
    """Otherwise the transaction id could be older than a concurrent writer's, breaking stream order."""
    a = f"test-a{unique}"
    with store.pool.connection() as conn:
        with pytest.raises(AppendNotFirstWrite):
            with conn.transaction():
                conn.execute("CREATE TEMP TABLE scratch (x int)")
                conn.execute("INSERT INTO scratch VALUES (1)")
                store.append([event(a)], conn=conn)
    assert count_events(store, a) == 0


def test_stream_heads_carry_version_and_snapshot(store, unique):
    a = f"test-a{unique}"
    store.append([event(a), event(a)], snapshots={a: {"kind": "x", "n": 2}}, snapshot_version=7)
    head = store.stream_heads([a, "test-missing"])[a]
    assert (head.version, head.snapshot, head.snapshot_version) == (2, {"kind": "x", "n": 2}, 7)
    assert "test-missing" not in store.stream_heads(["test-missing"])


def test_events_are_partitioned_by_month_with_partitions_ahead(store):
    partitions = store.partitions()
    with store.pool.connection() as conn:
        months = [
            row[0]
            for row in conn.execute(
                "SELECT 'events_' || to_char(date_trunc('month', now() AT TIME ZONE 'UTC') "
                "+ make_interval(months => m), 'YYYY_MM') FROM generate_series(0, 3) m"
            )
        ]
        assert set(months) <= set(partitions)
        # Re-running is a no-op that reports where the partitions end.
        first = conn.execute("SELECT event_store.ensure_partitions(3)").fetchone()[0]
        second = conn.execute("SELECT event_store.ensure_partitions(3)").fetchone()[0]
        assert first == second


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE event_store.events SET payload = '{}' WHERE stream_id = %(s)s",
        "DELETE FROM event_store.events WHERE stream_id = %(s)s",
        "TRUNCATE event_store.events",
        "TRUNCATE event_store.events_{month}",
        "UPDATE event_store.events_{month} SET event_type = 'x' WHERE stream_id = %(s)s",
    ],
)
def test_the_database_refuses_to_change_history(store, unique, statement):
    """Enforced by triggers, so it holds for superusers too (the embedded server's user is one)."""
    a = f"test-a{unique}"
    store.append([event(a)])
    with store.pool.connection() as conn:
        month = conn.execute("SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY_MM')").fetchone()[0]
        with pytest.raises(psycopg.Error) as raised:
            conn.execute(statement.replace("{month}", month), {"s": a})
    assert raised.value.sqlstate == "BP003"
    assert "append-only" in str(raised.value)
    assert count_events(store, a) == 1


def test_a_transaction_counter_behind_the_stored_events_is_refused(store, unique):
    """After a logical restore the cluster could hand out transaction ids below stored ones, and
    subscribers would skip the new events. The append refuses instead of corrupting the order."""
    a = f"test-a{unique}"
    store.append([event(a)])
    with store.pool.connection() as conn:
        conn.execute("UPDATE event_store.streams SET last_transaction_id = 9e15 WHERE stream_id = %s", (a,))
    with pytest.raises(TransactionIdsWentBackwards, match="logical restore"):
        store.append([event(a)])
    assert count_events(store, a) == 1


def test_appending_on_the_pools_only_connection_does_not_deadlock(database_url, unique):
    """The first append of a process also checks the monthly partitions, on a connection of its own."""
    with make_pool(database_url, max_size=1, timeout=5) as single:
        store = EventStore(single)
        with single.connection() as conn, conn.transaction():
            result = store.append([event(f"test-a{unique}")], conn=conn)
    assert result.stream_versions == {f"test-a{unique}": 1}
