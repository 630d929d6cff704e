"""Global positions are handed out before commit, so events can commit out of position order.
A subscriber must still never skip one, never see one twice, and see every stream in version order."""

import random
import threading
import time
import uuid

from bank_pipeline.store import Checkpoint, EventStore, NewEvent


def read_ours(store: EventStore, after: Checkpoint, prefix: str):
    return [e for e in store.iter_all(after) if e.stream_id.startswith(prefix)]


def test_an_event_that_commits_late_is_not_skipped(store, unique):
    prefix = f"late{unique}"
    start = store.newest_checkpoint()
    with store.pool.connection() as slow:
        with slow.transaction():
            early = store.append([NewEvent(f"{prefix}-slow", "Noted", {"n": 1})], conn=slow)
            late = store.append([NewEvent(f"{prefix}-fast", "Noted", {"n": 2})])
            assert early.global_positions[0] < late.global_positions[0]

            # A naive reader that trusts positions sees the later position and moves past the earlier one.
            with store.pool.connection() as conn:
                naive_seen = [
                    row[0]
                    for row in conn.execute(
                        "SELECT global_position FROM event_store.events WHERE stream_id LIKE %s "
                        "ORDER BY global_position",
                        (prefix + "%",),
                    )
                ]
            assert naive_seen == [late.global_positions[0]]
            # The store's reader holds back everything behind the open transaction instead.
            assert read_ours(store, start, prefix) == []

    naive_checkpoint = naive_seen[-1]
    with store.pool.connection() as conn:
        naive_after_commit = conn.execute(
            "SELECT global_position FROM event_store.events WHERE stream_id LIKE %s AND global_position > %s",
            (prefix + "%", naive_checkpoint),
        ).fetchall()
    assert naive_after_commit == []  # the naive reader has skipped the slow event for good

    delivered = read_ours(store, start, prefix)
    assert [e.global_position for e in delivered] == [early.global_positions[0], late.global_positions[0]]


def test_concurrent_writers_with_delayed_commits_never_make_a_reader_skip(store, unique):
    prefix = f"race{unique}"
    streams = [f"{prefix}-{i}" for i in range(6)]
    start = store.newest_checkpoint()
    committed: list[uuid.UUID] = []
    committed_lock = threading.Lock()
    writers_done = threading.Event()
    delivered = []

    def writer(seed: int) -> None:
        rng = random.Random(seed)
        for attempt in range(25):
            chosen = rng.sample(streams, rng.randint(1, 3))
            events = [NewEvent(s, "Noted", {"writer": seed}) for s in chosen]
            roll_back = rng.random() < 0.15
            with store.pool.connection() as conn:
                try:
                    with conn.transaction():
                        store.append(events, conn=conn)
                        # Hold the positions while others commit (writer 0 once for long, to be sure).
                        time.sleep(0.2 if (seed, attempt) == (0, 0) else rng.uniform(0, 0.03))
                        if roll_back:
                            raise _Rollback
                except _Rollback:
                    continue
            with committed_lock:
                committed.extend(e.event_id for e in events)

    naive_seen: set[uuid.UUID] = set()

    def reader() -> None:
        checkpoint, naive_checkpoint = start, 0
        while True:
            finished = writers_done.is_set()
            batch = store.read_all(checkpoint, 50)
            delivered.extend(e for e in batch if e.stream_id.startswith(prefix))
            if batch:
                checkpoint = batch[-1].checkpoint
            # Alongside, a naive reader that trusts "the highest position seen so far".
            with store.pool.connection() as conn:
                rows = conn.execute(
                    "SELECT global_position, event_id FROM event_store.events "
                    "WHERE stream_id LIKE %s AND global_position > %s ORDER BY global_position",
                    (prefix + "%", naive_checkpoint),
                ).fetchall()
            naive_seen.update(event_id for _, event_id in rows)
            naive_checkpoint = max([naive_checkpoint] + [position for position, _ in rows])
            if not batch and finished:
                return
            if not batch:
                time.sleep(0.002)

    reader_thread = threading.Thread(target=reader)
    reader_thread.start()
    writers = [threading.Thread(target=writer, args=(seed,)) for seed in range(8)]
    for thread in writers:
        thread.start()
    for thread in writers:
        thread.join()
    writers_done.set()
    reader_thread.join(timeout=60)

    delivered_ids = [e.event_id for e in delivered]
    assert len(delivered_ids) == len(set(delivered_ids)), "an event was delivered twice"
    assert set(delivered_ids) == set(committed), "an event was skipped, or a rolled-back one delivered"
    for stream in streams:
        versions = [e.stream_version for e in delivered if e.stream_id == stream]
        assert versions == list(range(1, len(versions) + 1)), f"{stream} delivered out of order"
    # The scenario really produced late commits: the naive reader lost some events for good.
    assert set(committed) - naive_seen, "no event committed late: the test did not exercise the problem"


class _Rollback(Exception):
    pass
