"""ISO 20022 XML landing files: pain.001 credit transfer initiations and camt.054 debit/credit notifications.

Elements are found by local name ("{*}") so the reader accepts the message whatever namespace version (or none)
the writer declared. The standard library's parser does not resolve external entities, and a document type
declaration (which ISO 20022 messages never have) is refused outright.
"""

import xml.etree.ElementTree as ET

import polars as pl

from bank_pipeline.ingest.reading_errors import RowProblems, UnreadableFile
from bank_pipeline.ingest.reading_values import minor_units

PAIN001_COLUMNS = (
    "record_id", "message_id", "account_id", "creditor_iban", "creditor_name", "amount", "currency", "reference",
    "requested_execution_date",
)  # fmt: skip
CAMT054_COLUMNS = (
    "record_id", "message_id", "account_id", "direction", "status", "end_to_end_id", "amount", "currency",
    "counterparty_iban", "counterparty_name", "reference", "return_reason", "booked_at",
)  # fmt: skip

#: the related party of a camt.054 entry: who paid us (CRDT) or whom we paid (DBIT).
_COUNTERPARTY = {"CRDT": ("Dbtr", "DbtrAcct"), "DBIT": ("Cdtr", "CdtrAcct")}


def read_pain001(data: bytes) -> tuple[pl.DataFrame, RowProblems]:
    """One record per CdtTrfTxInf, "line" its 1-based ordinal in the file; amounts in minor units."""
    message = _message(data, "CstmrCdtTrfInitn", "a pain.001 customer credit transfer initiation")
    message_id = _text(message, "GrpHdr/MsgId")
    records = []
    for payment in message.iterfind("{*}PmtInf"):
        debtor_iban = _text(payment, "DbtrAcct/Id/IBAN")
        # pain.001.001.09 nests the date (Dt) or a date-time (DtTm, kept as received: not a date); .03 has none.
        execution = (
            _text(payment, "ReqdExctnDt/Dt") or _text(payment, "ReqdExctnDt/DtTm") or _text(payment, "ReqdExctnDt")
        )
        for transaction in payment.iterfind("{*}CdtTrfTxInf"):
            amount = _find(transaction, "Amt/InstdAmt")
            records.append(
                {
                    "record_id": _text(transaction, "PmtId/EndToEndId"),
                    "message_id": message_id,
                    "account_id": debtor_iban,
                    "creditor_iban": _text(transaction, "CdtrAcct/Id/IBAN"),
                    "creditor_name": _text(transaction, "Cdtr/Nm"),
                    "amount": _element_text(amount),
                    "currency": _attribute(amount, "Ccy"),
                    "reference": _text(transaction, "RmtInf/Ustrd"),
                    "requested_execution_date": execution,
                }
            )
    return _frame(records, PAIN001_COLUMNS), {}


def read_camt054(data: bytes) -> tuple[pl.DataFrame, RowProblems]:
    """One record per Ntry, "line" its 1-based ordinal in the file; amounts in minor units."""
    message = _message(data, "BkToCstmrDbtCdtNtfctn", "a camt.054 debit/credit notification")
    message_id = _text(message, "GrpHdr/MsgId")
    records = []
    problems: RowProblems = {}
    for notification in message.iterfind("{*}Ntfctn"):
        account_id = _text(notification, "Acct/Id/IBAN")
        for entry in notification.iterfind("{*}Ntry"):
            details = entry.findall("{*}NtryDtls/{*}TxDtls")
            if len(details) > 1:
                problems[len(records)] = [
                    f"entry: holds {len(details)} transactions (TxDtls); only single-transaction entries are read"
                ]
            transaction = details[0] if details else ET.Element("TxDtls")
            direction = _text(entry, "CdtDbtInd")
            party, party_account = _COUNTERPARTY.get(direction or "", (None, None))
            amount = _find(entry, "Amt")
            records.append(
                {
                    "record_id": _text(entry, "AcctSvcrRef"),
                    "message_id": message_id,
                    "account_id": account_id,
                    "direction": direction,
                    "status": _text(entry, "Sts/Cd") or _text(entry, "Sts"),
                    "end_to_end_id": _text(transaction, "Refs/EndToEndId"),
                    "amount": _element_text(amount),
                    "currency": _attribute(amount, "Ccy"),
                    "counterparty_iban": _text(transaction, f"RltdPties/{party_account}/Id/IBAN") if party else None,
                    "counterparty_name": _party_name(transaction, party) if party else None,
                    "reference": _text(transaction, "RmtInf/Ustrd"),
                    "return_reason": _text(transaction, "RtrInf/Rsn/Cd") or _text(transaction, "RtrInf/Rsn/Prtry"),
                    "booked_at": _text(entry, "BookgDt/DtTm") or _text(entry, "BookgDt/Dt"),
                }
            )
    return _frame(records, CAMT054_COLUMNS), problems


def _message(data: bytes, message_element: str, what: str) -> ET.Element:
    if b"<!DOCTYPE" in data:
        raise UnreadableFile("the XML declares a document type (DOCTYPE), which ISO 20022 messages never do; refused")
    try:
        root = ET.fromstring(data)
    except ET.ParseError as error:
        raise UnreadableFile(f"not well-formed XML (truncated or damaged?): {error}") from None
    message = root.find(f"{{*}}{message_element}")
    if _local_name(root.tag) != "Document" or message is None:
        children = ", ".join(_local_name(child.tag) for child in root) or "nothing"
        raise UnreadableFile(
            f"not {what}: expected Document/{message_element}, found {_local_name(root.tag)} holding {children}"
        )
    return message


def _frame(records: list[dict[str, str | None]], columns: tuple[str, ...]) -> pl.DataFrame:
    frame = pl.DataFrame(records, schema=dict.fromkeys(columns, pl.String))
    frame = frame.with_columns(minor_units("amount", "currency").alias("amount"))
    return frame.with_row_index("line", offset=1).with_columns(pl.col("line").cast(pl.Int64))


def _find(element: ET.Element, path: str) -> ET.Element | None:
    return element.find("/".join(f"{{*}}{step}" for step in path.split("/")))


def _text(element: ET.Element, path: str) -> str | None:
    return _element_text(_find(element, path))


def _element_text(element: ET.Element | None) -> str | None:
    text = (element.text or "").strip() if element is not None else ""
    return text or None


def _attribute(element: ET.Element | None, name: str) -> str | None:
    value = element.get(name, "").strip() if element is not None else ""
    return value or None


def _party_name(transaction: ET.Element, party: str) -> str | None:
    # camt.054.001.08 wraps the party (Dbtr/Pty/Nm); older versions name it directly (Dbtr/Nm).
    return _text(transaction, f"RltdPties/{party}/Pty/Nm") or _text(transaction, f"RltdPties/{party}/Nm")


def _local_name(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]
