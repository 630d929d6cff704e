"""The daily `finish_erasures` job against the real database: an erasure recorded while its key survived (a crash
between the two on the group-commit path) is finished by the job."""

import dagster as dg

from bank_pipeline.application import CommandHandler
from bank_pipeline.defs.personal_data.jobs import finish_erasures
from bank_pipeline.defs.resources import BankDatabase
from bank_pipeline.domain import commands as c
from bank_pipeline.store import NewEvent


def test_the_job_destroys_the_key_an_interrupted_erasure_left(fresh_store, fresh_database_url, dagster_instance):
    CommandHandler(fresh_store).execute(c.RegisterCustomer("cust-1", "Ada Lovelace", "ada@example.org", "1 Test St"))
    # The erasure's event made it, its key destruction did not.
    fresh_store.append([NewEvent("customer-cust-1", "CustomerErased", {"customer_id": "cust-1", "reason": "GDPR"})])
    definitions = dg.Definitions(
        jobs=[finish_erasures], resources={"bank_db": BankDatabase(database_url=fresh_database_url)}
    )
    result = definitions.resolve_job_def("finish_erasures").execute_in_process(instance=dagster_instance)
    assert result.success and result.output_for_node("sweep_erasures")["keys_destroyed"] == 1
    with fresh_store.pool.connection() as conn:
        assert conn.execute(
            "SELECT wrapped_key IS NULL FROM personal_data.customer_keys WHERE customer_id = 'cust-1'"
        ).fetchone() == (True,)
    again = definitions.resolve_job_def("finish_erasures").execute_in_process(instance=dagster_instance)
    assert again.output_for_node("sweep_erasures")["keys_destroyed"] == 0
