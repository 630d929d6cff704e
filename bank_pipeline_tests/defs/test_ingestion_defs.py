"""The ingestion code location: the landing-zone sensor, the per-file asset with its checks, and the
quarantine report it blocks. Dagster's instance is stored in PostgreSQL, as in production."""

import dagster as dg

from bank_pipeline.definitions import defs
from bank_pipeline.defs.ingestion.assets import ingested_landing_file, quarantine_report
from bank_pipeline.defs.ingestion.partitions import landing_files
from bank_pipeline.defs.ingestion.sensors import landing_zone_sensor
from bank_pipeline.defs.resources import BankDatabase, LandingZone
from bank_pipeline_tests.ingest.landing_files import ADA, accounts, customers, transaction, transactions


def sense(instance, database_url: str, landing_dir) -> dg.SensorResult:
    resources = {"landing_zone": LandingZone(path=str(landing_dir)), "bank_db": BankDatabase(database_url=database_url)}
    return landing_zone_sensor(dg.build_sensor_context(instance=instance, resources=resources))


def materialize_file(name: str, database_url: str, landing_dir, instance, threshold: float = 0.2):
    return dg.materialize(
        [ingested_landing_file, quarantine_report],
        partition_key=name,
        resources={
            "bank_db": BankDatabase(database_url=database_url),
            "landing_zone": LandingZone(path=str(landing_dir), max_rejection_rate=threshold),
        },
        instance=instance,
        raise_on_error=False,
    )


def test_the_sensor_adds_a_partition_and_a_run_per_new_file_in_landing_order(
    fresh_database_url, tmp_path, dagster_instance
):
    transactions(tmp_path, [transaction("T1", "salary", ADA, "100")])
    accounts(tmp_path)
    customers(tmp_path)
    (tmp_path / "_labels").mkdir()
    (tmp_path / "Transactions_v2_20261102_0009.CSV").write_text("misnamed: reported, not ingested")

    result = sense(dagster_instance, fresh_database_url, tmp_path)
    expected = ["customers_v1_20261102_0001.csv", "accounts_v1_20261102_0001.csv", "transactions_v2_20261102_0001.csv"]
    assert [r.partition_key for r in result.run_requests] == expected
    assert [r.run_key for r in result.run_requests] == expected
    [add] = result.dynamic_partitions_requests
    assert list(add.partition_keys) == expected

    dagster_instance.add_dynamic_partitions(landing_files.name, expected)
    again = sense(dagster_instance, fresh_database_url, tmp_path)
    # Registered but not run yet: asked for again under the same run keys, which Dagster runs only once.
    assert [r.run_key for r in again.run_requests] == expected and not again.dynamic_partitions_requests


def test_a_file_whose_run_failed_before_finishing_gets_another_run(fresh_database_url, tmp_path, dagster_instance):
    name = customers(tmp_path).name
    dagster_instance.add_dynamic_partitions(landing_files.name, [name])
    broken = materialize_file(name, "postgresql://nobody@127.0.0.1:1/nowhere", tmp_path, dagster_instance)
    assert not broken.success  # the database was unreachable: the file is not finished

    [again] = sense(dagster_instance, fresh_database_url, tmp_path).run_requests
    assert again.partition_key == name and again.run_key == f"{name} after {broken.run_id}"

    assert materialize_file(name, fresh_database_url, tmp_path, dagster_instance).success
    assert not sense(dagster_instance, fresh_database_url, tmp_path).run_requests  # finished now


def test_a_registered_file_that_never_ran_gets_a_run(fresh_database_url, tmp_path, dagster_instance):
    """E.g. a demo interrupted after registering its files: the sensor starts what never ran."""
    name = customers(tmp_path).name
    dagster_instance.add_dynamic_partitions(landing_files.name, [name])
    [request] = sense(dagster_instance, fresh_database_url, tmp_path).run_requests
    assert (request.partition_key, request.run_key) == (name, name)


def test_each_file_materialises_with_its_counts_and_checks(fresh_database_url, tmp_path, dagster_instance):
    names = [customers(tmp_path).name, accounts(tmp_path).name]
    names.append(
        transactions(tmp_path, [transaction("T1", "salary", ADA, "100"), transaction("T2", "salary", ADA, "1x")]).name
    )
    dagster_instance.add_dynamic_partitions(landing_files.name, names)
    for name in names[:2]:
        assert materialize_file(name, fresh_database_url, tmp_path, dagster_instance).success

    result = materialize_file(names[2], fresh_database_url, tmp_path, dagster_instance, threshold=0.5)
    assert result.success
    metadata = result.asset_materializations_for_node("ingested_landing_file")[0].metadata
    assert (metadata["received"].value, metadata["accepted"].value, metadata["quarantined"].value) == (2, 1, 1)
    assert metadata["quarantined_by_reason"].value == {"invalid_amount": 1}
    checks = {c.check_name: c for c in result.get_asset_check_evaluations()}
    assert checks["rejection_rate_within_threshold"].passed
    assert not checks["great_expectations_suite"].passed  # the malformed amount
    report = result.asset_materializations_for_node("quarantine_report")[0].metadata
    assert report["quarantined"].value == 1

    # Materialised again: nothing changes, and the checks report what the file's run found.
    again = materialize_file(names[2], fresh_database_url, tmp_path, dagster_instance, threshold=0.5)
    checks = {c.check_name: c for c in again.get_asset_check_evaluations()}
    assert not checks["great_expectations_suite"].passed
    assert again.asset_materializations_for_node("ingested_landing_file")[0].metadata["accepted"].value == 1


def test_a_file_over_the_rejection_threshold_blocks_the_quarantine_report(
    fresh_database_url, tmp_path, dagster_instance
):
    names = [customers(tmp_path).name, accounts(tmp_path).name]
    names.append(transactions(tmp_path, [transaction("T1", "salary", ADA, "1x")]).name)
    dagster_instance.add_dynamic_partitions(landing_files.name, names)
    for name in names[:2]:
        assert materialize_file(name, fresh_database_url, tmp_path, dagster_instance).success

    result = materialize_file(names[2], fresh_database_url, tmp_path, dagster_instance)
    checks = {c.check_name: c for c in result.get_asset_check_evaluations()}
    assert not checks["rejection_rate_within_threshold"].passed
    assert "ingest.quarantine" in checks["rejection_rate_within_threshold"].metadata["what_to_do"].value
    assert not result.success
    assert not result.asset_materializations_for_node("quarantine_report")


def test_the_ingestion_job_resolves_with_the_sensor():
    job = defs.resolve_job_def("ingest_landing_file")
    assert {k.to_user_string() for k in job.asset_layer.executable_asset_keys} >= {
        "ingested_landing_file",
        "quarantine_report",
    }
    assert defs.resolve_sensor_def("landing_zone_sensor").job_name == "ingest_landing_file"


def test_no_resource_bakes_in_a_database_url(monkeypatch):
    """The definitions the UI shows must not carry the database password: resources read the environment
    when they are used."""
    from bank_pipeline.defs.resources import resources

    monkeypatch.setenv("BANK_PIPELINE_DATABASE_URL", "postgresql://bank:s3cret@db.example/bank")
    assert "s3cret" not in repr(resources())
