"""The `replay_account` job against the real database: it catches the read model up, then shows the account as
of the configured instant in its log and its output's metadata."""

from datetime import UTC, datetime, timedelta

import dagster as dg

from bank_pipeline.application import CommandHandler
from bank_pipeline.defs.replay.jobs import replay_account
from bank_pipeline.defs.resources import BankDatabase
from bank_pipeline.domain import commands as c

NINE = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
OP = "account_as_of_instant"


def history(handler: CommandHandler) -> None:
    """Opened at 09:00, 100.00 credited at 10:00, a 25.00 hold at 11:00, 40.00 debited at 12:00 (business time)."""

    def at(hours: int, command) -> None:
        handler.execute(command, occurred_at=NINE + timedelta(hours=hours))

    at(-1, c.RegisterCustomer("cust-1", "Ada", "ada@example.org", "1 Test St"))
    at(-1, c.ChangeKycStatus("cust-1", "verified"))
    at(0, c.OpenAccount("acct-1", "cust-1", "EUR", "current", 0))
    at(1, c.CreditAccount("acct-1", 10_000, "EUR", "in-1", "Employer", "salary"))
    at(2, c.PlaceHold("acct-1", "hold-1", 2_500, "EUR", NINE + timedelta(days=30), "card"))
    at(3, c.DebitAccount("acct-1", 4_000, "EUR", "out-1", "Shop"))


def run(database_url: str, instance, **config):
    definitions = dg.Definitions(jobs=[replay_account], resources={"bank_db": BankDatabase(database_url=database_url)})
    return definitions.resolve_job_def("replay_account").execute_in_process(
        run_config={"ops": {OP: {"config": config}}}, instance=instance, raise_on_error=False
    )


def output_metadata(result) -> dict:
    [output] = [event for event in result.all_events if event.event_type_value == "STEP_OUTPUT"]
    return output.event_specific_data.metadata


def test_the_job_shows_the_account_as_of_the_instant(fresh_store, fresh_database_url, dagster_instance):
    history(CommandHandler(fresh_store))  # not projected yet: the job catches up first

    result = run(fresh_database_url, dagster_instance, account_id="acct-1", as_of="2026-11-02T11:30:00+00:00")

    assert result.success
    answer = result.output_for_node(OP)
    assert (answer["existed"], answer["status"], answer["ledger_balance"]) == (True, "open", 10_000)
    assert (answer["held_amount"], answer["available_balance"]) == (2_500, 7_500)
    assert [hold["hold_id"] for hold in answer["holds"]] == ["hold-1"]
    assert [(entry["direction"], entry["balance"]) for entry in answer["recent"]] == [("credit", 10_000)]
    metadata = output_metadata(result)
    assert metadata["ledger_balance"].value == 10_000 and metadata["available_balance"].value == 7_500
    assert metadata["read_model_caught_up"].value is True
    assert "ledger 100.00 EUR" in metadata["summary"].value
    assert metadata["answer"].value == answer
    logged = [event.message for event in dagster_instance.all_logs(result.run_id) if event.message]
    assert any("ledger 100.00 EUR" in message for message in logged)


def test_by_system_time_before_the_bank_knew_of_the_account_it_did_not_exist(
    fresh_store, fresh_database_url, dagster_instance
):
    history(CommandHandler(fresh_store))  # recorded now, long after the business times above

    result = run(fresh_database_url, dagster_instance, account_id="acct-1", as_of="2026-11-02", by="system", recent=3)

    assert result.success
    answer = result.output_for_node(OP)
    assert (answer["existed"], answer["status"], answer["ledger_balance"], answer["recent"]) == (False, None, 0, [])
    assert output_metadata(result)["existed"].value is False


def test_an_unknown_account_or_a_bad_instant_fails_the_run_with_a_clear_message(fresh_database_url, dagster_instance):
    for config, message in (
        ({"account_id": "no-such-account", "as_of": "2026-11-02T12:00Z"}, "not in the read model"),
        ({"account_id": "acct-1", "as_of": "2026-11-02T12:00"}, "has no offset"),
    ):
        result = run(fresh_database_url, dagster_instance, **config)
        assert not result.success
        [failure] = [event for event in result.all_events if event.event_type_value == "STEP_FAILURE"]
        assert message in failure.event_specific_data.error_display_string
