"""The landing zone's contract: which files upstream systems deliver, how they are named, and their columns.

The simulator writes these files and ingestion reads them; both import this module, so the contract
lives in one place. Accounts are identified by their IBAN (account_id = IBAN) everywhere.

File names: `<kind>_v<schema version>_<YYYYMMDD business date>_<sequence>.<extension>`, for example
`transactions_v2_20260301_0001.parquet`. Ingestion orders files by (business date, kind, sequence):
customers before accounts before the money that moves through them. Names starting with `_` or `.`
(the simulator's `_labels/`, partial uploads) are never ingested.

Kinds and versions:
- customers v1 (CSV): onboarding from the core banking system; kyc_status verified|pending|rejected.
- accounts v1 (CSV): accounts opened; overdraft_limit in minor units.
- transactions v2 (CSV or Parquet): core-banking booking batches, amounts in minor units. CSV times are
  ISO 8601 with the local offset (e.g. +01:00); in Parquet booked_at is a UTC datetime and amount Int64.
- transactions v1 (CSV): the legacy core-banking export: amounts as decimal major units ("12.50"),
  timestamps without a zone (UTC), other column names. Ingestion maps it onto v2.
- pain001 v1 (XML, ISO 20022 pain.001.001.09, as sepaxml writes it): outbound SEPA credit transfers customers
  initiated; each transaction becomes RequestOutboundTransfer (funds held) then SubmitOutboundTransfer.
- camt054 v1 (XML, ISO 20022 camt.054.001.08): notifications from the clearing house, keyed by AcctSvcrRef
  (EndToEndId may be NOTPROVIDED on inbound credits): CRDT entries are inbound SEPA transfers
  (ReceiveInboundTransfer); DBIT entries (status BOOK) answer an earlier day's outbound transfer by its
  EndToEndId: settled, or rejected when the entry carries a return reason (RtrInf/Rsn/Cd). Outcomes arrive the
  next day, so an outbound transfer's hold must outlive a day (ingest/commands.py holds it a week).
"""

import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path

KINDS = ("customers", "accounts", "transactions", "pain001", "camt054")  # also the ingestion order in a day
EXTENSIONS = {"customers": ("csv",), "accounts": ("csv",), "transactions": ("csv", "parquet"),
              "pain001": ("xml",), "camt054": ("xml",)}  # fmt: skip
SCHEMA_VERSIONS = {"customers": (1,), "accounts": (1,), "transactions": (1, 2), "pain001": (1,), "camt054": (1,)}

_NAME = re.compile(r"(?P<kind>[a-z0-9]+)_v(?P<version>\d+)_(?P<day>\d{8})_(?P<sequence>\d{4})\.(?P<extension>[a-z]+)")

# -- columns of the tabular kinds, in file order ---------------------------------------------------------

CUSTOMER_COLUMNS = ("customer_id", "name", "email", "address", "kyc_status")
ACCOUNT_COLUMNS = ("account_id", "customer_id", "currency", "product", "overdraft_limit")

#: transactions v2. type: salary | card_payment | bill_payment | p2p_transfer.
#: salary credits account_id from an outside payer (counterparty_name); card_payment and bill_payment
#: debit account_id towards an outside payee; p2p_transfer moves amount from account_id to
#: counterparty_account (both ours). booked_at is ISO 8601 with a zone; amount > 0 in minor units.
TRANSACTION_COLUMNS = (
    "record_id", "booked_at", "type", "account_id", "counterparty_account", "counterparty_name", "amount",
    "currency", "reference",
)  # fmt: skip
TRANSACTION_TYPES = ("salary", "card_payment", "bill_payment", "p2p_transfer")

#: transactions v1 (legacy): the same records under the old export's names; amount as "123.45" in major
#: units, booking_time as "YYYY-MM-DD HH:MM:SS" in UTC, txn_type in upper case (SALARY, CARD, BILL, P2P).
LEGACY_TRANSACTION_COLUMNS = (
    "txn_ref", "booking_time", "txn_type", "iban", "counter_iban", "counter_name", "amount", "ccy", "remittance",
)  # fmt: skip
LEGACY_TRANSACTION_TYPES = {"SALARY": "salary", "CARD": "card_payment", "BILL": "bill_payment", "P2P": "p2p_transfer"}


@dataclass(frozen=True, order=True)
class LandingFile:
    """A file in the landing zone, recognised by its name. Sorts in ingestion order."""

    day: date
    kind_rank: int
    sequence: int
    kind: str
    schema_version: int
    extension: str
    name: str

    @property
    def partition_key(self) -> str:
        return self.name


def recognise(path: Path | str) -> LandingFile | None:
    """The landing file `path` names, or None when it is not one (wrong pattern, unknown kind or version,
    hidden or underscore names)."""
    name = Path(path).name
    match = _NAME.fullmatch(name)
    if match is None or name.startswith(("_", ".")):
        return None
    kind, version, extension = match["kind"], int(match["version"]), match["extension"]
    if kind not in KINDS or version not in SCHEMA_VERSIONS[kind] or extension not in EXTENSIONS[kind]:
        return None
    if kind == "transactions" and version == 1 and extension != "csv":
        return None
    try:
        day = date(int(match["day"][:4]), int(match["day"][4:6]), int(match["day"][6:]))
    except ValueError:
        return None
    return LandingFile(day, KINDS.index(kind), int(match["sequence"]), kind, version, extension, name)


def landing_files_in(directory: Path) -> list[LandingFile]:
    """The landing files in `directory` (not its subdirectories), in ingestion order."""
    if not directory.is_dir():
        return []
    found = (recognise(path) for path in directory.iterdir() if path.is_file())
    return sorted(f for f in found if f is not None)


def unrecognised_names(directory: Path) -> list[str]:
    """Files in `directory` that look delivered but are not landing files (misnamed): operators should hear
    of them. Names starting with `_` or `.` are private and ignored silently."""
    if not directory.is_dir():
        return []
    return sorted(
        path.name
        for path in directory.iterdir()
        if path.is_file() and not path.name.startswith(("_", ".")) and recognise(path) is None
    )


def file_name(kind: str, schema_version: int, day: date, sequence: int, extension: str) -> str:
    return f"{kind}_v{schema_version}_{day:%Y%m%d}_{sequence:04d}.{extension}"
