"""Reading a simulated landing zone back, independently of the simulator's code: its files in ingestion order,
its records, its labels, and a replay of every account's balance."""

import functools
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from bank_pipeline.ingest.landing import LandingFile, recognise

PAIN = "{urn:iso:std:iso:20022:tech:xsd:pain.001.001.09}"
CAMT = "{urn:iso:std:iso:20022:tech:xsd:camt.054.001.08}"
FILE_DEFECTS = ("duplicate_file", "truncated_file")


@dataclass(frozen=True)
class Record:
    """One money record of any kind, normalised: amounts in minor units (None when unreadable)."""

    file: str
    kind: str  # salary | card_payment | bill_payment | p2p_transfer | pain001 | camt054_crdt | camt054_dbit
    record_id: str
    account: str
    counterparty: str | None
    amount: int | None
    currency: str
    booked_at: str | None
    end_to_end_id: str | None = None
    returned: bool = False


class LandingZone:
    def __init__(self, out: Path):
        self.out = out
        self.files: list[LandingFile] = sorted(found for found in map(recognise, out.iterdir()) if found is not None)
        labels = out / "_labels"
        self.fraud_labels = pl.read_csv(labels / "fraud_labels.csv", infer_schema=False)
        self.bad_records = pl.read_csv(labels / "bad_records.csv", infer_schema=False)

    def path(self, landing: LandingFile) -> Path:
        return self.out / landing.name

    def of_kind(self, kind: str) -> list[LandingFile]:
        return [landing for landing in self.files if landing.kind == kind]

    @functools.cached_property
    def defective_files(self) -> set[str]:
        return set(self.bad_records.filter(pl.col("defect").is_in(FILE_DEFECTS))["file"].to_list())

    @property
    def bad_rows(self) -> set[tuple[str, str, str]]:
        """(file, record_id, defect) of every row defect."""
        rows = self.bad_records.filter(~pl.col("defect").is_in(FILE_DEFECTS))
        return set(rows.iter_rows())

    def table(self, kind: str) -> pl.DataFrame:
        """All rows of the customers or accounts files."""
        return pl.concat([pl.read_csv(self.path(f), infer_schema=False) for f in self.of_kind(kind)])

    def transaction_rows(self, landing: LandingFile) -> pl.DataFrame:
        """A transaction file's rows as text in v2's column names (legacy v1 renamed, not converted)."""
        path = self.path(landing)
        if landing.extension == "parquet":
            frame = pl.read_parquet(path)
            return frame.with_columns(
                pl.col("booked_at").dt.strftime("%Y-%m-%dT%H:%M:%S%:z"), pl.col("amount").cast(pl.String)
            )
        frame = pl.read_csv(path, infer_schema=False)
        if landing.schema_version == 1:
            frame = frame.rename(
                {"txn_ref": "record_id", "booking_time": "booked_at", "txn_type": "type", "iban": "account_id",
                 "counter_iban": "counterparty_account", "counter_name": "counterparty_name", "ccy": "currency",
                 "remittance": "reference"}
            )  # fmt: skip
        return frame

    @functools.cached_property
    def _all_records(self) -> list[Record]:
        found = []
        for landing in self.files:
            if landing.name in self.defective_files:
                continue
            if landing.kind == "transactions":
                found.extend(self._transactions(landing))
            elif landing.kind == "pain001":
                found.extend(self._pain001(landing))
            elif landing.kind == "camt054":
                found.extend(self._camt054(landing))
        return found

    def records(self) -> list[Record]:
        """Every money record outside defective files, in ingestion order (files in LandingFile order, rows in
        file order)."""
        return self._all_records

    @functools.cached_property
    def _good_records(self) -> list[Record]:
        bad = {(file, record_id) for file, record_id, defect in self.bad_rows if defect != "duplicate_row"}
        seen: set[str] = set()
        good = []
        for record in self.records():
            if (record.file, record.record_id) not in bad and record.record_id not in seen:
                seen.add(record.record_id)
                good.append(record)
        return good

    def good_records(self) -> list[Record]:
        """The records ingestion should book: no labelled bad row, no defective file, each record id once (a
        duplicate_row shares its record id with the good row it repeats)."""
        return self._good_records

    def _transactions(self, landing: LandingFile) -> Iterator[Record]:
        legacy = landing.schema_version == 1
        kinds = {"SALARY": "salary", "CARD": "card_payment", "BILL": "bill_payment", "P2P": "p2p_transfer"}
        for row in self.transaction_rows(landing).iter_rows(named=True):
            yield Record(
                file=landing.name,
                kind=kinds.get(row["type"], row["type"]) if legacy else row["type"],
                record_id=row["record_id"],
                account=row["account_id"],
                counterparty=row["counterparty_account"] or None,
                amount=minor_units(row["amount"], decimal=legacy),
                currency=row["currency"],
                booked_at=row["booked_at"],
            )

    def _pain001(self, landing: LandingFile) -> Iterator[Record]:
        root = ET.parse(self.path(landing)).getroot()
        for payment in root.iter(f"{PAIN}PmtInf"):
            debtor = payment.findtext(f"{PAIN}DbtrAcct/{PAIN}Id/{PAIN}IBAN")
            for transfer in payment.iter(f"{PAIN}CdtTrfTxInf"):
                amount = transfer.find(f"{PAIN}Amt/{PAIN}InstdAmt")
                end_to_end = transfer.findtext(f"{PAIN}PmtId/{PAIN}EndToEndId")
                yield Record(
                    file=landing.name, kind="pain001", record_id=end_to_end, account=debtor,
                    counterparty=transfer.findtext(f"{PAIN}CdtrAcct/{PAIN}Id/{PAIN}IBAN"),
                    amount=minor_units(amount.text, decimal=True), currency=amount.get("Ccy"), booked_at=None,
                    end_to_end_id=end_to_end,
                )  # fmt: skip

    def _camt054(self, landing: LandingFile) -> Iterator[Record]:
        root = ET.parse(self.path(landing)).getroot()
        for notification in root.iter(f"{CAMT}Ntfctn"):
            account = notification.findtext(f"{CAMT}Acct/{CAMT}Id/{CAMT}IBAN")
            for entry in notification.iter(f"{CAMT}Ntry"):
                amount = entry.find(f"{CAMT}Amt")
                credit = entry.findtext(f"{CAMT}CdtDbtInd") == "CRDT"
                details = entry.find(f"{CAMT}NtryDtls/{CAMT}TxDtls")
                party = "Dbtr" if credit else "Cdtr"
                yield Record(
                    file=landing.name, kind="camt054_crdt" if credit else "camt054_dbit",
                    record_id=entry.findtext(f"{CAMT}AcctSvcrRef"), account=account,
                    counterparty=details.findtext(f"{CAMT}RltdPties/{CAMT}{party}Acct/{CAMT}Id/{CAMT}IBAN"),
                    amount=minor_units(amount.text, decimal=True), currency=amount.get("Ccy"),
                    booked_at=entry.findtext(f"{CAMT}BookgDt/{CAMT}DtTm"),
                    end_to_end_id=details.findtext(f"{CAMT}Refs/{CAMT}EndToEndId"),
                    returned=details.find(f"{CAMT}RtrInf/{CAMT}Rsn/{CAMT}Cd") is not None,
                )  # fmt: skip


def minor_units(text: str | None, *, decimal: bool) -> int | None:
    """Integer minor units from "1250" (v2) or "12.50" (decimal), by string arithmetic; None when malformed."""
    if text is None:
        return None
    sign = -1 if text.startswith("-") else 1
    digits = text[1:] if sign < 0 else text
    if not decimal:
        return sign * int(digits) if digits.isdigit() else None
    whole, _, cents = digits.partition(".")
    if not (whole.isdigit() and cents.isdigit() and len(cents) == 2):
        return None
    return sign * (int(whole) * 100 + int(cents))


@dataclass
class Replay:
    debits: int = 0
    overdrawn: int = 0
    booked: int = 0


def replay_balances(zone: LandingZone) -> Replay:
    """Book every good record in ingestion order as the domain would (a record id only once), skipping the
    labelled bad rows and defective files, and count the debits that would take an account below
    -overdraft_limit."""
    accounts = zone.table("accounts")
    floor = {iban: -int(limit) for iban, limit in zip(accounts["account_id"], accounts["overdraft_limit"], strict=True)}
    balance = dict.fromkeys(floor, 0)
    result = Replay()

    def debit(account: str, amount: int) -> None:
        result.debits += 1
        balance[account] -= amount
        if balance[account] < floor[account]:
            result.overdrawn += 1

    for record in zone.good_records():
        result.booked += 1
        if record.kind in ("salary", "camt054_crdt"):
            balance[record.account] += record.amount
        elif record.kind in ("card_payment", "bill_payment", "pain001"):
            debit(record.account, record.amount)  # an outbound transfer holds the money at once
        elif record.kind == "p2p_transfer":
            debit(record.account, record.amount)
            balance[record.counterparty] += record.amount
        elif record.kind == "camt054_dbit" and record.returned:
            balance[record.account] += record.amount  # the hold is released
    return result
