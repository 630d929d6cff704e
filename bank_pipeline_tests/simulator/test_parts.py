"""The simulator's parts: IBANs, business days, the ledger, defects, the ISO 20022 renderers."""

import xml.etree.ElementTree as ET
from datetime import date

import numpy as np
import polars as pl
import pytest
import schwifty

from bank_pipeline.simulator.clock import DayClock, local_text
from bank_pipeline.simulator.defects import Defects, truncated
from bank_pipeline.simulator.ibans import OUR_BANK_CODES, OUR_BIC, german_ibans, outside_ibans
from bank_pipeline.simulator.ledger import Ledger
from bank_pipeline.simulator.movements import Rows, combine, in_booking_order, movements
from bank_pipeline.simulator.profile import CARD, P2P, SALARY, SEPA_IN, SEPA_OUT
from bank_pipeline.simulator.sepa_xml import (
    Camt054Header,
    Notification,
    OutboundTransfer,
    Pain001Header,
    camt054,
    pain001,
    xml_escaped,
)
from bank_pipeline.simulator.traffic import salary_day

PAIN = "{urn:iso:std:iso:20022:tech:xsd:pain.001.001.09}"


def test_german_ibans_match_schwifty():
    rng = np.random.default_rng(3)
    banks = rng.choice([int(code) for code in OUR_BANK_CODES] + [50010517, 10010010], 300)
    accounts = rng.integers(0, 10**10, 300)
    ours = german_ibans(banks, accounts).to_list()
    expected = [
        str(schwifty.IBAN.generate("DE", bank_code=str(bank), account_code=f"{account:010d}"))
        for bank, account in zip(banks, accounts, strict=True)
    ]
    assert ours == expected


def test_outside_ibans_are_valid_distinct_and_partly_foreign():
    ibans = outside_ibans(500, np.random.default_rng(1)).to_list()
    assert len(set(ibans)) == 500
    assert all(schwifty.IBAN(iban) for iban in ibans)
    assert {iban[:2] for iban in ibans} >= {"DE", "FR", "NL"}


def test_business_days_follow_the_clock_changes():
    spring, autumn, november = (
        DayClock.of(date(2027, 3, 28)),
        DayClock.of(date(2026, 10, 25)),
        DayClock.of(date(2026, 11, 2)),
    )
    assert (spring.seconds_in_day, autumn.seconds_in_day, november.seconds_in_day) == (82_800, 90_000, 86_400)
    seconds = pl.DataFrame({"s": [0, 4 * 3600, 90_000]})
    texts = seconds.select(local_text(spring.instants(pl.col("s")))).to_series().to_list()
    assert texts == ["2027-03-28T00:00:00+01:00", "2027-03-28T05:00:00+02:00", "2027-03-28T23:59:59+02:00"]
    assert november.local_text(22) == "2026-11-02T22:00:00+01:00"


@pytest.mark.parametrize(
    "day, paid", [(date(2026, 11, 25), True), (date(2026, 11, 24), False), (date(2026, 10, 23), True),
                  (date(2026, 10, 25), False), (date(2026, 10, 26), False)],
)  # fmt: skip
def test_salaries_come_on_the_25th_or_the_friday_before(day, paid):
    assert salary_day(day) is paid


def _day(*rows) -> Rows:
    """Rows of (channel, account, amount, counter) in booking order."""
    parts = [
        movements(channel, np.array([account]), np.array([second]), np.array([amount]), counter=np.array([counter]))
        for second, (channel, account, amount, counter) in enumerate(rows)
    ]
    return in_booking_order(combine(parts))


def test_the_ledger_declines_only_the_debits_that_would_overdraw():
    ledger = Ledger(np.array([100, 0, 0]), np.array([0, 0, 0]))
    kept = ledger.book(_day((CARD, 0, 80, -1), (CARD, 0, 30, -1), (CARD, 0, 10, -1)))
    assert kept["amount"].tolist() == [80, 10]  # the 30 would overdraw; the 10 after it still fits
    assert ledger.balances.tolist() == [10, 0, 0]


def test_a_declined_transfer_also_declines_what_its_recipient_could_only_pay_with_it():
    ledger = Ledger(np.array([40, 0, 0]), np.array([0, 0, 0]))
    kept = ledger.book(_day((P2P, 0, 50, 1), (P2P, 1, 30, 2), (SALARY, 2, 5, -1)))
    assert kept["channel"].tolist() == [SALARY]
    assert ledger.balances.tolist() == [40, 0, 5]


def test_the_ledger_allows_the_overdraft_books_credits_in_order_and_holds_outbound_transfers():
    ledger = Ledger(np.array([0, 0]), np.array([1_000, 0]))
    kept = ledger.book(
        _day((CARD, 0, 900, -1), (CARD, 1, 10, -1), (SALARY, 1, 50, -1), (CARD, 1, 40, -1), (SEPA_OUT, 0, 100, -1),
             (SEPA_OUT, 0, 1, -1), (SEPA_IN, 0, 500, -1))
    )  # fmt: skip
    # The salary comes after the 10 it could have paid; the outbound transfers come after all card payments,
    # the inbound transfer after them.
    assert sorted(kept["amount"].tolist()) == [40, 50, 100, 500, 900]
    assert ledger.balances.tolist() == [-500, 10]


def test_fraud_rows_are_never_declined():
    ledger = Ledger(np.array([10]), np.array([0]))
    day = {**_day((CARD, 0, 50, -1)), "pattern": np.array([3], dtype=np.int8)}
    assert ledger.book(day)["amount"].tolist() == [50] and ledger.balances.tolist() == [-40]


def test_bad_rows_keep_the_run_share_however_small_the_files():
    defects = Defects(0.03, np.random.default_rng(1))
    files = np.random.default_rng(2).integers(0, 40, 500)
    bad = sum(defects.bad_count(int(rows), "transactions") for rows in files)
    assert abs(bad - 0.03 * (files.sum() + bad)) <= 1


def test_a_truncated_csv_ends_inside_a_row_whose_id_is_whole():
    data = b"record_id,amount\nT1,100\nT2,250\nT3,999\n"
    for seed in range(20):
        cut, rows = truncated(data, True, np.random.default_rng(seed))
        assert data.startswith(cut) and not cut.endswith(b"\n")
        last = cut.decode().split("\n")[-1]
        assert last.startswith(f"T{rows},") and len(cut.decode().split("\n")) == rows + 1


def _transfer(debtor: str, amount: int, name: str = "Ada Lovelace", remittance: str = "Invoice 1") -> OutboundTransfer:
    iban = "DE89370400440532013000" if debtor == "ada" else "DE02370400440532013001"
    creditor = "FR7630006000000000500000053"
    return OutboundTransfer(iban, debtor.title(), f"E2E-{debtor}-{amount}", amount, "EUR", name, creditor, remittance)


def test_pain001_is_what_sepaxml_writes_for_each_debtor():
    from sepaxml import SepaTransfer

    transfers = [_transfer("ada", 12_345), _transfer("ada", 5), _transfer("bob", 100_000)]
    header = Pain001Header("MSG-1", "2026-11-02T22:00:00+01:00", "Musterbank", "2026-11-03", OUR_BIC, "PMT-")
    ours = ET.fromstring(pain001(header, transfers))
    blocks = ours.findall(f"{PAIN}CstmrCdtTrfInitn/{PAIN}PmtInf")
    assert len(blocks) == 2
    assert ours.findtext(f"{PAIN}CstmrCdtTrfInitn/{PAIN}GrpHdr/{PAIN}NbOfTxs") == "3"
    assert ours.findtext(f"{PAIN}CstmrCdtTrfInitn/{PAIN}GrpHdr/{PAIN}CtrlSum") == "1123.50"
    for block, debtor in zip(blocks, ("ada", "bob"), strict=True):
        mine = [t for t in transfers if t.debtor_name == debtor.title()]
        sepa = SepaTransfer(
            {"name": debtor.title(), "IBAN": mine[0].debtor_iban, "BIC": OUR_BIC, "batch": True, "currency": "EUR"},
            schema="pain.001.001.09",
        )
        for transfer in mine:
            sepa.add_payment({"name": transfer.creditor_name, "IBAN": transfer.creditor_iban,
                              "amount": transfer.amount, "description": transfer.remittance,
                              "execution_date": date(2026, 11, 3), "endtoend_id": transfer.end_to_end_id})  # fmt: skip
        (theirs,) = ET.fromstring(sepa.export(validate=True)).findall(f"{PAIN}CstmrCdtTrfInitn/{PAIN}PmtInf")
        for element in (block, theirs):
            element.find(f"{PAIN}PmtInfId").text = "ID"  # sepaxml's is random
            for each in element.iter():  # we break lines between blocks, sepaxml does not
                each.tail = None
        assert ET.tostring(block) == ET.tostring(theirs)


def test_names_and_texts_are_escaped():
    escaped = pl.select(xml_escaped(pl.lit("Smith & Sons <GmbH>"))).item()
    transfer = _transfer("ada", 1, name=escaped, remittance=escaped)
    header = Pain001Header("MSG-1", "2026-11-02T22:00:00+01:00", "A & B", "2026-11-03", OUR_BIC, "PMT-")
    root = ET.fromstring(pain001(header, [transfer]))
    assert root.findtext(f".//{PAIN}Cdtr/{PAIN}Nm") == "Smith & Sons <GmbH>"
    assert root.findtext(f".//{PAIN}InitgPty/{PAIN}Nm") == "A & B"
    entry = Notification("DE89370400440532013000", "EUR", "ASR1", False, 1250, "EUR", "2026-11-02T08:00:00+01:00",
                         "E2E1", escaped, "FR7630006000000000500000053", escaped, "AC04", "Closed &amp;")  # fmt: skip
    camt = ET.fromstring(camt054(Camt054Header("C1", "2026-11-02T23:30:00+01:00", "N-"), [entry]))
    namespace = "{urn:iso:std:iso:20022:tech:xsd:camt.054.001.08}"
    assert camt.findtext(f".//{namespace}Cdtr/{namespace}Pty/{namespace}Nm") == "Smith & Sons <GmbH>"
    assert camt.findtext(f".//{namespace}RtrInf/{namespace}Rsn/{namespace}Cd") == "AC04"
    assert camt.findtext(f".//{namespace}Ntry/{namespace}Amt") == "12.50"
