"""The COPY path of EventStore.append (store/batch_append.py, sql/007): the client numbers and chains
events, so its hash must be PostgreSQL's, and the database must refuse a client that gets it wrong."""

import threading
import uuid
from datetime import UTC, datetime

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bank_pipeline.store import EventStore, NewEvent
from bank_pipeline.store.audit import verify
from bank_pipeline.store.errors import TransactionIdsWentBackwards
from bank_pipeline.store.hashing import NotCanonicalJson, event_hash, jsonb_text

# What PostgreSQL can store: no NUL, no lone surrogates (not UTF-8).
json_text = st.text(st.characters(exclude_characters="\x00", exclude_categories=("Cs",)))
json_scalars = st.none() | st.booleans() | st.integers(-(2**70), 2**70) | json_text
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(json_text, children, max_size=5),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=json_values)
def test_jsonb_text_is_what_postgresql_prints(database_url, value):
    with psycopg.connect(database_url, autocommit=True) as conn:
        printed = conn.execute("SELECT %s::jsonb::text", (jsonb_text(value).decode(),)).fetchone()[0]
    assert jsonb_text(value) == printed.encode()


def test_floats_are_left_to_postgresql():
    with pytest.raises(NotCanonicalJson):
        jsonb_text({"rate": 1.5})


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    payload=st.dictionaries(json_text, json_scalars, max_size=4),
    stream_id=json_text.filter(bool),
    occurred=st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)),
    position=st.integers(1, 2**62),
)
def test_event_hash_is_the_sql_event_hash(database_url, payload, stream_id, occurred, position):
    event_id, recorded = uuid.uuid4(), datetime.now(UTC)
    previous = bytes(range(32))
    metadata = {"actor": "test", "command_id": str(event_id)}
    with psycopg.connect(database_url, autocommit=True) as conn:
        (in_sql,) = conn.execute(
            "SELECT event_store.event_hash(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s::jsonb, %s::jsonb)",
            (previous, position, stream_id, 7, "Noted", 2, event_id, occurred, recorded,
             jsonb_text(payload).decode(), jsonb_text(metadata).decode()),
        ).fetchone()  # fmt: skip
    in_python = event_hash(
        previous, position, stream_id, 7, "Noted", 2, event_id, occurred, recorded, jsonb_text(payload),
        jsonb_text(metadata),
    )  # fmt: skip
    assert in_python == bytes(in_sql)


def batch(streams: list[str], per_stream: int, **payload) -> list[NewEvent]:
    return [
        NewEvent(stream, "Noted", {"n": n, "note": "a, b: c", **payload}, metadata={"actor": "test"})
        for n in range(per_stream)
        for stream in streams
    ]


def test_both_paths_continue_each_others_chains_and_audit_verifies(fresh_store):
    by_copy = EventStore(fresh_store.pool, copy_threshold=1)
    streams = ["acct-a", "acct-b", "acct-c"]
    fresh_store.append(batch(streams, 1))  # append_events
    by_copy.append(batch(streams, 3))  # COPY
    fresh_store.append(batch(streams[:1], 2))
    by_copy.append(batch(streams, 1), snapshots={"acct-b": {"n": 5}}, snapshot_version=3)
    assert [e.stream_version for e in fresh_store.read_stream("acct-a")] == list(range(1, 8))
    assert [e.stream_version for e in fresh_store.read_stream("acct-b")] == list(range(1, 6))
    assert fresh_store.stream_heads(["acct-b"])["acct-b"].snapshot == {"n": 5}
    fresh_store.seal_all_digests()
    with fresh_store.pool.connection() as conn:
        report = verify(conn)
    assert report.ok, report.findings


def test_a_batch_with_floats_falls_back_to_append_events(fresh_store):
    by_copy = EventStore(fresh_store.pool, copy_threshold=1)
    by_copy.append(batch(["acct-a"], 2, rate=0.25))
    assert [e.payload["rate"] for e in fresh_store.read_stream("acct-a")] == [0.25, 0.25]
    with fresh_store.pool.connection() as conn:
        assert verify(conn).ok


def test_the_database_refuses_copied_rows_that_do_not_continue_the_stream(fresh_store):
    """finish_batch_append checks the client's claims against the rows it wrote (BP007): a client that
    skipped a version commits nothing."""
    with fresh_store.pool.connection() as conn:
        with pytest.raises(psycopg.Error) as raised, conn.transaction():
            begun = conn.execute(
                "SELECT * FROM event_store.begin_batch_append(ARRAY['acct-a'], ARRAY[NULL::bigint], 2)"
            ).fetchone()
            transaction_id, recorded_at, positions = begun[1], begun[2], begun[3]
            for position, version in zip(positions, (1, 3), strict=True):  # version 2 is missing
                conn.execute(
                    "INSERT INTO event_store.events VALUES (%s, %s, 'acct-a', %s, 'Noted', 1, gen_random_uuid(), "
                    "'{}', '{}', now(), %s, '\\x00', '\\x00')",
                    (position, transaction_id, version, recorded_at),
                )
            conn.execute(
                "SELECT event_store.finish_batch_append(%s, ARRAY['acct-a'], ARRAY[0::bigint], ARRAY[3::bigint], "
                "ARRAY['\\x00'::bytea], ARRAY[NULL::jsonb], NULL, %s, NULL, NULL, NULL)",
                (transaction_id, positions[-1]),
            )
    assert raised.value.sqlstate == "BP007"
    assert fresh_store.read_stream("acct-a") == []


def test_concurrent_batches_on_shared_streams_stay_contiguous_and_verifiable(fresh_store):
    """Four threads append overlapping batches at once: every stream's versions stay 1..n with no gap
    or duplicate, and every hash links, whichever batch won each stream's lock first."""
    by_copy = EventStore(fresh_store.pool, copy_threshold=1)
    streams = [f"acct-{n}" for n in range(12)]
    failures: list[BaseException] = []

    def appender(offset: int) -> None:
        try:
            for round_ in range(5):
                chosen = streams[offset : offset + 6] + streams[: round_ + 1]
                by_copy.append(batch(list(dict.fromkeys(chosen)), 2))
        except BaseException as error:  # noqa: BLE001 - reported below
            failures.append(error)

    threads = [threading.Thread(target=appender, args=(offset,)) for offset in (0, 2, 4, 6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures
    total = 0
    for stream in streams:
        versions = [e.stream_version for e in fresh_store.read_stream(stream)]
        assert versions == list(range(1, len(versions) + 1))
        total += len(versions)
    chosen = [dict.fromkeys(streams[o : o + 6] + streams[: r + 1]) for o in (0, 2, 4, 6) for r in range(5)]
    expected = sum(2 * len(streams_of_batch) for streams_of_batch in chosen)
    assert total == expected
    with fresh_store.pool.connection() as conn:
        assert verify(conn).ok


def test_a_batch_with_floats_in_the_callers_transaction_falls_back_too(fresh_store):
    """Inside the caller's transaction a COPY that failed half-way could not fall back (its transaction id
    would already be taken), so the documents are checked before anything is sent."""
    by_copy = EventStore(fresh_store.pool, copy_threshold=1)
    with fresh_store.pool.connection() as conn, conn.transaction():
        by_copy.append(batch(["acct-a"], 2, rate=0.5), conn=conn)
    assert [e.payload["rate"] for e in fresh_store.read_stream("acct-a")] == [0.5, 0.5]


def test_append_batches_commits_each_batch_in_order_whatever_its_path(fresh_store):
    """append_batches encodes the next batch while the current one is on the server: the batches still
    commit one after another, in order, each through the path append() would choose for it (COPY; SQL
    for a small batch or one with floats), and the chains verify."""
    streams = ["acct-a", "acct-b", "acct-c"]
    by_copy = EventStore(fresh_store.pool, copy_threshold=4)
    batches = [
        batch(streams, 2, round=1),  # 6 events: COPY
        batch(streams[:1], 2, round=2),  # 2 events: SQL
        batch(streams, 2, round=3, rate=0.5),  # floats: SQL
        batch(streams, 3, round=4),  # COPY
    ]
    results = list(by_copy.append_batches(iter(batches)))

    assert [len(r.global_positions) for r in results] == [6, 2, 6, 9]
    assert [r.stream_versions for r in results] == [
        {"acct-a": 2, "acct-b": 2, "acct-c": 2},
        {"acct-a": 4},
        {"acct-a": 6, "acct-b": 4, "acct-c": 4},
        {"acct-a": 9, "acct-b": 7, "acct-c": 7},
    ]
    assert [r.transaction_id for r in results] == sorted({r.transaction_id for r in results})
    rounds = [e.payload["round"] for e in fresh_store.read_stream("acct-a")]
    assert rounds == [1, 1, 2, 2, 3, 3, 4, 4, 4]
    with fresh_store.pool.connection() as conn:
        assert verify(conn).ok


def test_append_batches_stops_at_a_refused_batch_and_keeps_the_earlier_ones(fresh_store):
    """A batch the database refuses raises where the caller iterates; the batches before it stay
    committed and nothing after it is appended."""
    by_copy = EventStore(fresh_store.pool, copy_threshold=1)
    with fresh_store.pool.connection() as conn:
        # A stream last written by a transaction id from the future: the store refuses to append to it.
        conn.execute("INSERT INTO event_store.streams (stream_id, category, version, last_hash, last_transaction_id) "
                     "VALUES ('acct-x', 'acct', 1, '\\x00', 1 << 62)")  # fmt: skip
    batches = iter([batch(["acct-a"], 2), batch(["acct-x"], 1), batch(["acct-b"], 2)])
    appended = by_copy.append_batches(batches)
    assert len(next(appended).global_positions) == 2
    with pytest.raises(TransactionIdsWentBackwards):
        next(appended)
    assert [e.stream_version for e in fresh_store.read_stream("acct-a")] == [1, 2]
    assert fresh_store.read_stream("acct-b") == []
