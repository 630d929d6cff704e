"""Ground truth: fraud labels name real records showing their pattern; every injected defect is really there."""

import io
import re
import xml.etree.ElementTree as ET
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from bank_pipeline.ingest.landing import TRANSACTION_COLUMNS, recognise
from bank_pipeline.simulator.fraud import PATTERNS
from bank_pipeline_tests.simulator.conftest import ARGUMENTS
from bank_pipeline_tests.simulator.landing_zone import CAMT, LandingZone, minor_units


@pytest.fixture(scope="module")
def labelled(zone) -> dict[str, list]:
    """The labelled records by pattern, as read from the landing files."""
    records = {record.record_id: record for record in zone.good_records()}
    by_pattern = defaultdict(list)
    for pattern, record_id, account_id, day in zone.fraud_labels.iter_rows():
        by_pattern[pattern].append((records.get(record_id), account_id, day))
    return by_pattern


def test_every_pattern_is_labelled_and_every_label_names_a_good_record(zone, labelled):
    assert set(labelled) == set(PATTERNS)
    for pattern, rows in labelled.items():
        for record, account_id, day in rows:
            assert record is not None, f"{pattern}: a label names no record of the landing zone"
            assert recognise(record.file).day.isoformat() == day
            assert account_id in (record.account, record.counterparty)


def test_nothing_outside_labels_gives_the_ground_truth_away(landing):
    defective = LandingZone(landing).defective_files
    for path in landing.iterdir():
        if path.name in defective:
            continue
        if path.suffix == ".parquet":
            assert tuple(pl.read_parquet_schema(path)) == TRANSACTION_COLUMNS
        elif path.is_file():
            text = path.read_text(errors="replace")
            assert not any(pattern in text for pattern in PATTERNS + ("duplicate_row", "truncated_file"))


def _instant(record) -> datetime:
    """booked_at as an aware datetime (legacy v1 times are UTC without a zone)."""
    booked = datetime.fromisoformat(record.booked_at)
    return booked if booked.tzinfo else booked.replace(tzinfo=UTC)


def test_account_takeover_is_a_burst_of_transfers_to_new_counterparties_within_an_hour(zone, labelled):
    bursts = defaultdict(list)
    for record, account_id, _ in labelled["account_takeover"]:
        assert record.kind in ("p2p_transfer", "pain001") and record.account == account_id
        bursts[account_id].append(record)
    burst_ids = {r.record_id for burst in bursts.values() for r in burst}
    earlier = defaultdict(set)  # whom each victim paid before its burst
    started = set()
    for record in zone.good_records():
        if record.record_id in burst_ids:
            started.add(record.account)
        elif record.account not in started:
            earlier[record.account].add(record.counterparty)
    for account_id, burst in bursts.items():
        assert len(burst) >= 3
        times = [_instant(r) for r in burst if r.kind == "p2p_transfer"]
        assert max(times) - min(times) <= timedelta(hours=1)
        assert not {r.counterparty for r in burst} & earlier[account_id]  # counterparties it never paid


def test_mule_accounts_receive_from_many_and_forward_most_of_it(labelled):
    by_mule = defaultdict(list)
    for record, account_id, _ in labelled["mule_fan_in_out"]:
        by_mule[account_id].append(record)
    for mule, records in by_mule.items():
        fan_in = [r for r in records if r.counterparty == mule]
        fan_out = [r for r in records if r.account == mule]
        assert len({r.account for r in fan_in}) >= 2 and 1 <= len(fan_out) <= 4
        received, forwarded = sum(r.amount for r in fan_in), sum(r.amount for r in fan_out)
        assert 0.85 * received <= forwarded <= received
        last_in = max(_instant(r) for r in fan_in)
        assert all(_instant(r) > last_in for r in fan_out if r.kind == "p2p_transfer")


def test_structuring_stays_just_under_the_threshold_within_days(labelled):
    by_account = defaultdict(list)
    for record, account_id, day in labelled["structuring"]:
        assert record.kind == "camt054_crdt" and record.account == account_id and record.currency == "EUR"
        assert 9_000_00 <= record.amount < 10_000_00
        by_account[account_id].append(datetime.fromisoformat(day))
    for days in by_account.values():
        assert len(days) >= 3 and max(days) - min(days) <= timedelta(days=3)


def test_card_testing_is_a_burst_of_tiny_card_payments_within_minutes(labelled):
    by_account = defaultdict(list)
    for record, account_id, _ in labelled["card_testing"]:
        assert record.kind == "card_payment" and record.account == account_id and 1 <= record.amount <= 199
        by_account[account_id].append(record)
    for records in by_account.values():
        assert len(records) >= 10
        times = [_instant(r) for r in records]
        assert max(times) - min(times) <= timedelta(minutes=15)


def test_dormant_accounts_do_nothing_until_they_send_most_of_their_money_away(zone, labelled):
    dormant = {account_id: record for record, account_id, _ in labelled["dormant_reactivation"]}
    assert dormant
    for account_id in dormant:
        history = [r for r in zone.good_records() if account_id in (r.account, r.counterparty)]
        opening, *rest = history
        assert opening.kind == "salary"  # the opening deposit, then nothing ordinary
        outflows = [r for r in rest if r.account == account_id and r.kind in ("p2p_transfer", "pain001")]
        assert outflows and all(r.record_id in set(zone.fraud_labels["record_id"]) for r in outflows)
        first_day = recognise(opening.file).day
        assert all(recognise(r.file).day >= first_day + timedelta(days=ARGUMENTS["days"] * 0.6) for r in outflows)
        assert sum(r.amount for r in outflows) >= 0.8 * opening.amount


def test_rapid_pass_through_moves_money_in_and_out_within_minutes(labelled):
    by_account = defaultdict(list)
    for record, account_id, _ in labelled["rapid_pass_through"]:
        by_account[account_id].append(record)
    for account_id, (money_in, money_out) in by_account.items():
        assert money_in.counterparty == account_id and money_out.account == account_id
        assert money_out.amount >= 0.95 * money_in.amount
        assert timedelta(0) < _instant(money_out) - _instant(money_in) <= timedelta(minutes=10)


# -- defects -----------------------------------------------------------------------------------------------------


def test_bad_rows_are_the_requested_share_and_legacy_batches_the_requested_share(zone, summary):
    row_defects = zone.bad_records.filter(~pl.col("defect").is_in(["duplicate_file", "truncated_file"]))
    rows = sum(summary.records[kind] for kind in ("transactions", "pain001"))
    crdt = sum(1 for r in zone.records() if r.kind == "camt054_crdt")
    share = row_defects.height / (rows + crdt)
    assert ARGUMENTS["bad_share"] * 0.8 <= share <= ARGUMENTS["bad_share"] * 1.2, share
    legacy = good = 0
    for landing_file in zone.of_kind("transactions"):
        if landing_file.name not in zone.defective_files:
            height = zone.transaction_rows(landing_file).height
            good += height
            legacy += height if landing_file.schema_version == 1 else 0
    assert abs(legacy / good - ARGUMENTS["legacy_share"]) < 0.08, legacy / good


def test_every_defect_family_is_present(summary):
    assert all(count > 0 for count in summary.bad_records.values()), summary.bad_records


def _bad_rows(zone, defect: str) -> list[tuple[str, str]]:
    rows = zone.bad_records.filter(pl.col("defect") == defect).select("file", "record_id").rows()
    assert rows, defect
    return rows


def _row(zone, file: str, record_id: str) -> dict:
    (row,) = zone.transaction_rows(recognise(file)).filter(pl.col("record_id") == record_id).iter_rows(named=True)
    return row


def _valid_time(text: str | None, legacy: bool) -> bool:
    """v2: ISO 8601 with a zone; legacy v1: "YYYY-MM-DD HH:MM:SS" without one."""
    try:
        parsed = datetime.fromisoformat(text or "")
    except ValueError:
        return False
    if legacy:
        return re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", text) is not None
    return "T" in text and parsed.tzinfo is not None


def test_malformed_amounts_and_times_do_not_parse(zone):
    for file, record_id in _bad_rows(zone, "malformed_amount"):
        legacy = recognise(file).schema_version == 1
        assert minor_units(_row(zone, file, record_id)["amount"], decimal=legacy) is None
    for file, record_id in _bad_rows(zone, "malformed_booked_at"):
        legacy = recognise(file).schema_version == 1
        assert not _valid_time(_row(zone, file, record_id)["booked_at"], legacy)


def test_unknown_accounts_were_never_opened_and_wrong_currencies_differ_from_the_account(zone):
    accounts = dict(zone.table("accounts").select("account_id", "currency").iter_rows())
    bad = {(r.file, r.record_id): r for r in zone.records()}
    for key in _bad_rows(zone, "unknown_account"):
        assert bad[key].account not in accounts
    for key in _bad_rows(zone, "wrong_currency"):
        assert bad[key].currency != accounts[bad[key].account]
    for key in _bad_rows(zone, "non_positive_amount"):
        assert bad[key].amount <= 0
    in_xml = zone.bad_records.filter(pl.col("file").str.ends_with(".xml"))
    assert set(in_xml["defect"]) == {"unknown_account", "wrong_currency", "non_positive_amount", "duplicate_row"}
    assert {file.split("_")[0] for file in in_xml["file"]} == {"pain001", "camt054"}


def test_duplicate_rows_repeat_a_record_of_the_same_file(zone):
    for file, record_id in _bad_rows(zone, "duplicate_row"):
        if file.startswith("transactions"):
            rows = zone.transaction_rows(recognise(file)).filter(pl.col("record_id") == record_id)
            assert rows.height == 2 and rows.n_unique() == 1
        else:
            assert (zone.out / file).read_text().count(f">{record_id}<") == 2


def test_duplicate_files_repeat_the_previous_file_byte_for_byte(zone):
    copies = set(zone.bad_records.filter(pl.col("defect") == "duplicate_file")["file"])
    assert copies
    for copy in copies:
        found = recognise(copy)
        original = copy.replace(f"_{found.sequence:04d}.", f"_{found.sequence - 1:04d}.")
        assert (zone.out / copy).read_bytes() == (zone.out / original).read_bytes()


def test_truncated_files_are_cut_short(zone):
    cut = set(zone.bad_records.filter(pl.col("defect") == "truncated_file")["file"])
    assert {name.rsplit(".", 1)[1] for name in cut} == {"csv", "parquet"}
    for name in cut:
        data = (zone.out / name).read_bytes()
        if name.endswith(".parquet"):
            with pytest.raises(Exception):  # noqa: B017 - polars raises several types for a damaged file
                pl.read_parquet(io.BytesIO(data))
        else:
            assert not data.endswith(b"\n")  # cut in the middle of a row
            last_row = data.rsplit(b"\n", 1)[1].decode()
            labelled = zone.bad_records.filter(pl.col("file") == name)["record_id"].to_list()
            assert last_row.split(",")[0] == labelled[-1]  # the cut row's id is whole and labelled


# -- SEPA files ---------------------------------------------------------------------------------------------------


def test_camt054_debits_answer_outbound_transfers_of_earlier_days(zone):
    requested: dict[str, object] = {}  # EndToEndId -> the day its pain.001 was delivered
    outcomes = rejected = 0
    for record in zone.records():
        day = recognise(record.file).day
        if record.kind == "pain001":
            requested.setdefault(record.end_to_end_id, day)
        elif record.kind == "camt054_dbit":
            outcomes += 1
            rejected += record.returned
            assert requested[record.end_to_end_id] < day
    assert outcomes > 50 and 0 < rejected < 0.1 * outcomes


def test_camt054_entries_carry_what_ingestion_reads(zone):
    references = []
    for landing_file in zone.of_kind("camt054"):
        root = ET.parse(zone.path(landing_file)).getroot()
        notified = [n.findtext(f"{CAMT}Acct/{CAMT}Id/{CAMT}IBAN") for n in root.iter(f"{CAMT}Ntfctn")]
        assert len(notified) == len(set(notified))  # one notification per account
        for entry in root.iter(f"{CAMT}Ntry"):
            credit = entry.findtext(f"{CAMT}CdtDbtInd")
            assert credit in ("CRDT", "DBIT") and entry.findtext(f"{CAMT}Sts/{CAMT}Cd") == "BOOK"
            party = "Dbtr" if credit == "CRDT" else "Cdtr"
            details = entry.find(f"{CAMT}NtryDtls/{CAMT}TxDtls")
            assert details.findtext(f"{CAMT}RltdPties/{CAMT}{party}/{CAMT}Pty/{CAMT}Nm")
            assert details.findtext(f"{CAMT}RltdPties/{CAMT}{party}Acct/{CAMT}Id/{CAMT}IBAN")
            assert details.findtext(f"{CAMT}Refs/{CAMT}EndToEndId") and details.findtext(f"{CAMT}RmtInf/{CAMT}Ustrd")
            assert datetime.fromisoformat(entry.findtext(f"{CAMT}BookgDt/{CAMT}DtTm")).tzinfo is not None
            references.append(entry.findtext(f"{CAMT}AcctSvcrRef"))
    repeated = {reference for reference, count in Counter(references).items() if count > 1}
    duplicates = zone.bad_records.filter(pl.col("file").str.starts_with("camt054"), pl.col("defect") == "duplicate_row")
    assert len(references) > 100 and repeated == set(duplicates["record_id"])  # unique but for those


def test_pain001_validates_against_sepaxmls_schema(zone):
    import os

    import sepaxml
    import xmlschema

    schema = xmlschema.XMLSchema(os.path.join(os.path.dirname(sepaxml.__file__), "schemas", "pain.001.001.09.xsd"))
    files = zone.of_kind("pain001")
    assert len(files) == ARGUMENTS["days"]
    for landing_file in files:
        schema.validate(str(zone.path(landing_file)))
