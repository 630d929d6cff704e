from datetime import UTC, datetime, timedelta

import dagster as dg

from bank_pipeline.definitions import defs
from bank_pipeline.defs.audit.assets import audit_digest, event_store_digests
from bank_pipeline.defs.audit.checks import event_store_history_is_intact
from bank_pipeline.defs.audit.schedules import monthly_audit_digest
from bank_pipeline.defs.event_store.assets import event_store_partitions
from bank_pipeline.defs.resources import BankDatabase
from bank_pipeline.store import NewEvent
from bank_pipeline.store.month_digests import CLOSING_GRACE, month_bounds, month_of, published_months


def test_definitions_load_and_every_job_resolves():
    repository = defs.get_repository_def()
    job_names = {job.name for job in repository.get_all_jobs()}
    assert {"event_store_maintenance", "seal_audit_digests", "ingest_landing_file"} <= job_names
    # op jobs that answer a question, write an ad-hoc document or finish maintenance, and materialise no asset
    queries = {"replay_account", "statements_for_a_range", "finish_erasures"}
    assert queries <= job_names
    for name in job_names:
        job = defs.resolve_job_def(name)
        assert job.name == name
        if name not in queries:
            assert job.asset_layer.executable_asset_keys, name  # every other job materialises something


def test_every_asset_has_a_description_group_and_owner():
    graph = defs.resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        spec = graph.get(key)
        assert spec.description, key
        assert spec.group_name and spec.group_name != "default", key
        assert spec.owners, key
        assert spec.metadata, key  # what it is stored in, shown in the UI before any run


def test_digests_asset_seals_and_its_check_verifies_history(fresh_store, fresh_database_url, dagster_instance):
    fresh_store.append([NewEvent("acct-1", "Opened", {"n": 1}), NewEvent("acct-2", "Opened", {"n": 2})])
    result = dg.materialize(
        [event_store_partitions, event_store_digests, event_store_history_is_intact],
        resources={"bank_db": BankDatabase(database_url=fresh_database_url)},
        instance=dagster_instance,
    )
    assert result.success
    materialization = result.asset_materializations_for_node("event_store_digests")[0]
    assert materialization.metadata["events_sealed_now"].value == 2
    assert materialization.metadata["digests_total"].value == 1
    partitions = result.asset_materializations_for_node("event_store_partitions")[0]
    assert partitions.metadata["partition_count"].value >= 4
    [check] = result.get_asset_check_evaluations()
    assert check.passed and check.metadata["events_checked"].value == 2


def test_the_check_fails_and_blocks_when_history_was_tampered_with(fresh_store, fresh_database_url, dagster_instance):
    fresh_store.append([NewEvent("acct-1", "Opened", {"n": 1})])
    with fresh_store.pool.connection() as conn, conn.transaction():
        conn.execute("SET LOCAL session_replication_role = replica")
        conn.execute("UPDATE event_store.events SET payload = '{\"n\": 9}'")
    result = dg.materialize(
        [event_store_digests, event_store_history_is_intact],
        resources={"bank_db": BankDatabase(database_url=fresh_database_url)},
        instance=dagster_instance,
        raise_on_error=False,
    )
    [check] = result.get_asset_check_evaluations()
    assert not check.passed
    assert "[modified]" in check.metadata["first_problem"].value
    assert not result.success  # a blocking check failure fails the run, so downstream assets do not run


def test_the_audit_digest_asset_publishes_a_closed_month_and_only_then(
    fresh_store, fresh_database_url, dagster_instance
):
    fresh_store.append([NewEvent("acct-1", "Opened", {"n": 1}), NewEvent("acct-2", "Opened", {"n": 2})])
    this_month = month_of(datetime.now(UTC))
    closed = month_bounds(this_month)[1] + CLOSING_GRACE

    def materialize(now: datetime):
        return dg.materialize(
            [audit_digest],
            partition_key=f"{this_month:%Y-%m-%d}",
            run_config={"ops": {"audit_digest": {"config": {"now": now.isoformat()}}}},
            resources={"bank_db": BankDatabase(database_url=fresh_database_url)},
            instance=dagster_instance,
        )

    assert materialize(closed - timedelta(minutes=1)).asset_materializations_for_node("audit_digest") == []
    [published] = materialize(closed).asset_materializations_for_node("audit_digest")
    with fresh_store.pool.connection() as conn:
        [digest] = published_months(conn)
    assert published.metadata["merkle_root"].value == digest.merkle_root.hex()
    assert published.metadata["events"].value == 2


def test_the_monthly_schedule_asks_for_the_month_that_just_ended():
    context = dg.build_schedule_context(scheduled_execution_time=datetime(2027, 1, 1, 2, 0, tzinfo=UTC))
    request = monthly_audit_digest(context)
    assert (request.partition_key, request.run_key) == ("2026-12-01", "2026-12")
