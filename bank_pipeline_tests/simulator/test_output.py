"""What the simulator writes: reproducible, named by the contract, valid identifiers, realistic traffic."""

import hashlib
import re
from collections import Counter
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl
import pytest
import schwifty

from bank_pipeline.domain.money import CURRENCY_EXPONENTS
from bank_pipeline.domain.streams import validate_id
from bank_pipeline.ingest.landing import ACCOUNT_COLUMNS, CUSTOMER_COLUMNS, recognise
from bank_pipeline.simulator import SimulationError, simulate
from bank_pipeline_tests.simulator.conftest import ARGUMENTS
from bank_pipeline_tests.simulator.landing_zone import LandingZone, replay_balances

BERLIN = ZoneInfo("Europe/Berlin")


def digests(out: Path) -> dict[str, str]:
    return {
        str(path.relative_to(out)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(out.rglob("*"))
        if path.is_file()
    }


def test_the_same_arguments_write_the_same_bytes_and_another_seed_does_not(landing, tmp_path):
    twin = simulate(out=tmp_path / "twin", **ARGUMENTS)
    assert digests(twin.out) == digests(landing)
    other = simulate(out=tmp_path / "other", **{**ARGUMENTS, "seed": ARGUMENTS["seed"] + 1})
    theirs, ours = digests(other.out), digests(landing)
    differing = [name for name, digest in ours.items() if theirs.get(name) != digest]
    assert len(differing) > 0.9 * len(ours)


def test_every_file_is_a_landing_file_and_the_labels_stay_under_labels(landing):
    names = sorted(path.name for path in landing.iterdir())
    assert all(recognise(name) is not None for name in names if name != "_labels"), names
    assert sorted(path.name for path in (landing / "_labels").iterdir()) == [
        "bad_records.csv", "fraud_labels.csv", "manifest.json",
    ]  # fmt: skip
    kinds = Counter(recognise(name).kind for name in names if name != "_labels")
    assert set(kinds) == {"customers", "accounts", "transactions", "pain001", "camt054"}
    days = {recognise(name).day for name in names if name != "_labels"}
    assert len(days) == ARGUMENTS["days"]
    assert kinds["pain001"] == kinds["camt054"] == ARGUMENTS["days"]  # one of each a day
    transactions = [recognise(name) for name in names if name.startswith("transactions")]
    assert {(f.schema_version, f.extension) for f in transactions} == {(2, "csv"), (2, "parquet"), (1, "csv")}
    sequences = Counter((f.day, f.sequence) for f in transactions)
    assert max(sequences.values()) == 1  # a day's batches are numbered uniquely across formats


def test_customers_and_accounts_are_valid_for_the_domain(zone):
    customers, accounts = zone.table("customers"), zone.table("accounts")
    assert tuple(customers.columns) == CUSTOMER_COLUMNS and tuple(accounts.columns) == ACCOUNT_COLUMNS
    assert customers.height == ARGUMENTS["customers"] and customers["customer_id"].is_unique().all()
    for value in customers["customer_id"].to_list() + accounts["account_id"].to_list():
        validate_id(value, "id")
    assert customers.filter(pl.col("kyc_status") != "verified").height > 0  # some are not (yet) verified ...
    owners = accounts.join(customers, on="customer_id", how="left")
    assert (owners["kyc_status"] == "verified").all()  # ... and those have no accounts
    assert accounts["account_id"].is_unique().all()
    assert all(schwifty.IBAN(iban).country_code == "DE" for iban in accounts["account_id"])  # raises if invalid
    assert set(accounts["currency"]) <= set(CURRENCY_EXPONENTS) and "EUR" in set(accounts["currency"])
    assert set(accounts["product"]) == {"current", "savings"}
    assert accounts["overdraft_limit"].cast(pl.Int64).min() >= 0
    # An account is opened on the day its customer is onboarded, in the files of that day.
    opened = {}
    for kind in ("customers", "accounts"):
        for landing_file in zone.of_kind(kind):
            for row in pl.read_csv(zone.path(landing_file), infer_schema=False).iter_rows(named=True):
                opened[row["account_id" if kind == "accounts" else "customer_id"]] = landing_file.day
    assert all(opened[row[0]] == opened[row[1]] for row in accounts.select("account_id", "customer_id").iter_rows())
    first_day = min(opened.values())
    assert sum(day == first_day for day in customers["customer_id"].map_elements(opened.get, pl.Date)) > 0.8 * len(
        customers
    )


def test_every_counterparty_iban_is_valid(zone):
    counterparties = {record.counterparty for record in zone.records() if record.counterparty}
    assert len(counterparties) > 100
    for iban in counterparties:
        schwifty.IBAN(iban)  # raises when the checksum or format is wrong
    assert {iban[:2] for iban in counterparties} > {"DE"}  # outside parties in other countries too


def test_amounts_are_integer_minor_units_and_legacy_ones_decimal_text(zone):
    positive_decimal = r"^[1-9][0-9]*\.[0-9]{2}$|^0\.(0[1-9]|[1-9][0-9])$"
    for landing_file in zone.of_kind("transactions"):
        if landing_file.name in zone.defective_files:
            continue
        if landing_file.extension == "parquet":
            assert pl.read_parquet_schema(zone.path(landing_file))["amount"] == pl.Int64
            continue
        rows = pl.read_csv(zone.path(landing_file), infer_schema=False)
        bad_ids = {record_id for file, record_id, _ in zone.bad_rows if file == landing_file.name}
        id_column = "txn_ref" if landing_file.schema_version == 1 else "record_id"
        good = rows.filter(~pl.col(id_column).is_in(bad_ids))["amount"]
        assert good.str.contains(positive_decimal if landing_file.schema_version == 1 else r"^[1-9][0-9]*$").all()


def test_timestamps_are_zoned_in_v2_and_utc_without_a_zone_in_legacy_v1(zone):
    bad_ids = {record_id for _, record_id, _ in zone.bad_rows}
    for landing_file in zone.of_kind("transactions"):
        if landing_file.extension != "csv" or landing_file.name in zone.defective_files:
            continue
        rows = pl.read_csv(zone.path(landing_file), infer_schema=False)
        legacy = landing_file.schema_version == 1
        id_column, time_column = ("txn_ref", "booking_time") if legacy else ("record_id", "booked_at")
        times = rows.filter(~pl.col(id_column).is_in(bad_ids))[time_column].to_list()
        for text in times[:50]:
            parsed = datetime.fromisoformat(text)
            if landing_file.schema_version == 1:
                assert parsed.tzinfo is None and re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", text)
            else:
                assert parsed.utcoffset() is not None and text.endswith("+01:00")  # Berlin in November
                assert parsed.date() == landing_file.day  # a batch holds its business day's bookings
        assert times == sorted(times)  # rows in booking order


def test_traffic_has_daily_and_weekly_rhythms_and_a_salary_day(zone):
    cards = Counter()
    hours = Counter()
    salaries = Counter()
    for record in zone.good_records():
        if record.kind == "card_payment":
            booked = datetime.fromisoformat(record.booked_at)
            local = (booked if booked.tzinfo else booked.replace(tzinfo=UTC)).astimezone(BERLIN)  # v1: UTC
            cards[local.date()] += 1
            hours[local.hour] += 1
        if record.kind == "salary":
            salaries[record.file.split("_")[2]] += 1
    weekdays = [count for day, count in cards.items() if day.weekday() < 5]
    assert cards[date(2026, 11, 22)] < 0.75 * min(weekdays)  # few card payments on Sunday
    assert sum(hours[h] for h in range(1, 5)) < 0.1 * sum(hours[h] for h in range(11, 15))  # few at night
    ordinary_days = [count for day, count in salaries.items() if day not in ("20261119", "20261125")]
    assert salaries["20261125"] > 10 * max(ordinary_days + [1])  # salaries come on the 25th


def test_volume_is_about_1_3_transactions_per_customer_a_day(summary):
    per_customer_day = summary.transactions / (ARGUMENTS["customers"] * ARGUMENTS["days"])
    assert 1.0 <= per_customer_day <= 1.9, per_customer_day  # 1.3 + salary day + opening deposits, less late joiners


def test_activity_is_heavy_tailed(zone):
    per_account = Counter(record.account for record in zone.records() if record.kind == "card_payment")
    counts = sorted(per_account.values(), reverse=True)
    top = counts[: max(1, len(counts) // 100)]
    assert sum(top) > 5 * len(top) / len(counts) * sum(counts)  # the busiest 1 % do far more than their share


def test_balances_stay_above_the_overdraft_limit_apart_from_injected_records(zone):
    replay = replay_balances(zone)
    assert replay.debits > 1000
    assert replay.overdrawn < 0.01 * replay.debits, replay


def test_summary_and_manifest_agree_with_the_files(landing, summary):
    import json

    manifest = json.loads((landing / "_labels" / "manifest.json").read_text())
    assert manifest["arguments"] == {**ARGUMENTS, "start": ARGUMENTS["start"].isoformat(), "fraud": True}
    assert manifest["counts"]["transactions"] == summary.transactions
    names = [path.name for path in landing.iterdir() if path.name != "_labels"]
    assert sum(summary.files.values()) == len(names)
    for key, count in summary.files.items():
        kind, version, extension = key.rsplit("_", 2)
        assert sum(1 for name in names if name.startswith(f"{kind}_{version}_") and name.endswith(extension)) == count
    assert summary.bytes_written == sum((landing / name).stat().st_size for name in names)
    assert summary.customers == ARGUMENTS["customers"] and summary.accounts > summary.customers
    assert summary.seconds > 0 and sum(summary.fraud_labels.values()) > 0 and sum(summary.bad_records.values()) > 0


@pytest.mark.parametrize(
    "arguments, message",
    [
        (dict(customers=-1, days=3), "at least one customer"),
        (dict(customers=10, days=0), "at least one customer and one day"),
        (dict(customers=10, days=2, bad_share=1.0), "bad_share"),
        (dict(customers=10, days=2, legacy_share=-0.1), "legacy_share"),
    ],
)
def test_impossible_arguments_are_refused(tmp_path, arguments, message):
    with pytest.raises(SimulationError, match=message):
        simulate(seed=1, out=tmp_path, **arguments)


def test_an_out_path_that_is_a_file_or_holds_another_banks_files_is_refused(tmp_path):
    afile = tmp_path / "file"
    afile.write_text("x")
    with pytest.raises(SimulationError, match="not a directory"):
        simulate(10, 1, 1, afile)
    first = simulate(10, 2, 1, tmp_path / "zone")
    before = digests(first.out)
    assert simulate(10, 2, 1, tmp_path / "zone").transactions == first.transactions  # a re-run rewrites the same
    assert digests(first.out) == before
    with pytest.raises(SimulationError, match="other arguments"):
        simulate(10, 2, 2, tmp_path / "zone")
    (tmp_path / "unlabelled").mkdir()
    (tmp_path / "unlabelled" / "customers_v1_20261102_0001.csv").write_text("customer_id\n")
    with pytest.raises(SimulationError, match="already holds"):
        simulate(10, 2, 1, tmp_path / "unlabelled")


def test_a_tiny_bank_without_fraud_or_defects_still_writes_a_consistent_zone(tmp_path):
    summary = simulate(3, 2, 5, tmp_path, start=date(2027, 3, 27), bad_share=0, legacy_share=0, fraud=False)
    zone = LandingZone(tmp_path)
    assert zone.bad_records.height == 0 and zone.fraud_labels.height == 0
    assert sum(summary.bad_records.values()) == 0 and sum(summary.fraud_labels.values()) == 0
    assert replay_balances(zone).overdrawn == 0
    assert all(landing_file.schema_version == 2 for landing_file in zone.of_kind("transactions"))


@pytest.mark.parametrize("customers", [1, 2, 12])
def test_a_bank_too_small_for_every_fraud_pattern_labels_what_it_can(tmp_path, customers):
    simulate(customers, 3, 11, tmp_path)
    zone = LandingZone(tmp_path)
    labelled = set(zone.fraud_labels["record_id"])
    assert labelled <= {record.record_id for record in zone.good_records()}
    assert replay_balances(zone).overdrawn == 0
