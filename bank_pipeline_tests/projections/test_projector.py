"""The projector against real histories: every table equals a fold of the events, whatever the batch size,
and projecting events again changes nothing."""

import pytest

from bank_pipeline.application import CommandHandler
from bank_pipeline.projections.projector import Projector, read_checkpoint
from bank_pipeline.store import EventStore
from bank_pipeline_tests.projections.expectations import assert_read_model_matches_events
from bank_pipeline_tests.projections.random_bank import build_random_bank
from bank_pipeline_tests.projections.read_model import whole_read_model
from bank_pipeline_tests.projections.reference import all_events


@pytest.mark.parametrize("batch_size", [1, 7, 5000])
def test_the_read_model_equals_a_fold_of_the_events(fresh_store: EventStore, batch_size: int) -> None:
    build_random_bank(CommandHandler(fresh_store), seed=batch_size, operations=150)
    result = Projector(fresh_store.pool, batch_size=batch_size).catch_up()

    assert result.events == len(all_events(fresh_store))
    assert result.checkpoint == all_events(fresh_store)[-1].checkpoint
    assert_read_model_matches_events(fresh_store)


def test_projecting_in_steps_as_events_arrive_equals_projecting_at_the_end(fresh_store: EventStore) -> None:
    handler = CommandHandler(fresh_store)
    projector = Projector(fresh_store.pool, batch_size=13)
    for seed in (101, 102, 103):
        build_random_bank(handler, seed=seed, accounts=4, operations=60)
        projector.catch_up()
    assert_read_model_matches_events(fresh_store)


def test_events_seen_again_change_nothing(fresh_store: EventStore) -> None:
    build_random_bank(CommandHandler(fresh_store), seed=7, operations=120)
    projector = Projector(fresh_store.pool, batch_size=50)
    projector.catch_up()
    with fresh_store.pool.connection() as conn:
        before = whole_read_model(conn)
        # As if the checkpoint had been lost: every event is delivered a second time.
        conn.execute("UPDATE projections.checkpoints SET transaction_id = 0, global_position = 0, events_projected = 0")
    again = projector.catch_up()
    with fresh_store.pool.connection() as conn:
        after = whole_read_model(conn)
    assert again.events == len(all_events(fresh_store))
    assert after == before


def test_nothing_new_projects_nothing(fresh_store: EventStore) -> None:
    projector = Projector(fresh_store.pool)
    assert projector.project_batch() is None
    with fresh_store.pool.connection() as conn:
        assert tuple(read_checkpoint(conn)) == (0, 0)
