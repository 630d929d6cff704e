"""ISO 20022 messages: a day's outbound SEPA credit transfers (pain.001.001.09) and the clearing house's debit and
credit notifications (camt.054.001.08).

The pain.001 is element for element what sepaxml's SepaTransfer (batch mode, with a BIC) writes for one debtor,
with a payment information block (PmtInf) per debtor account in one message, and the group header's NbOfTxs and
CtrlSum over all of them; the tests compare it with sepaxml's own output and validate it against sepaxml's
bundled XSD. Both messages are rendered from string templates rather than built with sepaxml or ElementTree:
those cost 100-500 µs a transfer (sepaxml's random ids and clock, ElementTree's pure-Python serialiser), the
whole simulator's budget being about 5 µs a transaction. Names and remittance texts arrive XML-escaped
(`xml_escaped`, in bulk); ids, IBANs, codes and times never need escaping.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from itertools import groupby
from typing import NamedTuple
from xml.sax.saxutils import escape

import polars as pl

PAIN001_NAMESPACE = "urn:iso:std:iso:20022:tech:xsd:pain.001.001.09"
CAMT054_NAMESPACE = "urn:iso:std:iso:20022:tech:xsd:camt.054.001.08"
_XSI = "http://www.w3.org/2001/XMLSchema-instance"


def decimal_amount(minor_units: int) -> str:
    """Non-negative minor units as decimal major units with two decimals: 1250 -> "12.50"."""
    whole, cents = divmod(minor_units, 100)
    return f"{whole}.{cents:02d}"


def xml_escaped(text: pl.Expr) -> pl.Expr:
    """Text as XML character data: &, < and > escaped."""
    return (
        text.str.replace_all("&", "&amp;", literal=True)
        .str.replace_all("<", "&lt;", literal=True)
        .str.replace_all(">", "&gt;", literal=True)
    )


class OutboundTransfer(NamedTuple):
    debtor_iban: str
    debtor_name: str  # XML-escaped, as are the other names and texts
    end_to_end_id: str
    amount: int  # minor units
    currency: str
    creditor_name: str
    creditor_iban: str
    remittance: str


@dataclass(frozen=True)
class Pain001Header:
    message_id: str
    created_at: str  # ISO 8601 date-time
    initiating_party: str
    execution_date: str  # YYYY-MM-DD
    debtor_bic: str
    payment_id_prefix: str  # PmtInfId: prefix + a sequence number


def pain001(header: Pain001Header, transfers: Iterable[OutboundTransfer]) -> bytes:
    """One CstmrCdtTrfInitn with a PmtInf per run of consecutive transfers from the same debtor account."""
    blocks = []
    total_count = 0
    total_amount = 0
    for number, (debtor_iban, group) in enumerate(groupby(transfers, key=lambda t: t.debtor_iban), start=1):
        group = list(group)
        amount = sum(transfer.amount for transfer in group)
        total_count += len(group)
        total_amount += amount
        blocks.append(_payment_information(header, number, debtor_iban, group, amount))
    head = (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<Document xmlns="{PAIN001_NAMESPACE}" xmlns:xsi="{_XSI}">'
        f"<CstmrCdtTrfInitn><GrpHdr><MsgId>{escape(header.message_id)}</MsgId>"
        f"<CreDtTm>{header.created_at}</CreDtTm><NbOfTxs>{total_count}</NbOfTxs>"
        f"<CtrlSum>{decimal_amount(total_amount)}</CtrlSum>"
        f"<InitgPty><Nm>{escape(header.initiating_party)}</Nm></InitgPty></GrpHdr>\n"
    )
    return (head + "".join(blocks) + "</CstmrCdtTrfInitn></Document>\n").encode()


def _payment_information(
    header: Pain001Header, number: int, debtor_iban: str, group: list[OutboundTransfer], amount: int
) -> str:
    transactions = "".join(
        f"<CdtTrfTxInf><PmtId><EndToEndId>{t.end_to_end_id}</EndToEndId></PmtId>"
        f'<Amt><InstdAmt Ccy="{t.currency}">{decimal_amount(t.amount)}</InstdAmt></Amt>'
        f"<Cdtr><Nm>{t.creditor_name}</Nm></Cdtr><CdtrAcct><Id><IBAN>{t.creditor_iban}</IBAN></Id></CdtrAcct>"
        f"<RmtInf><Ustrd>{t.remittance}</Ustrd></RmtInf></CdtTrfTxInf>\n"
        for t in group
    )
    return (
        f"<PmtInf><PmtInfId>{header.payment_id_prefix}{number:06d}</PmtInfId><PmtMtd>TRF</PmtMtd>"
        f"<BtchBookg>true</BtchBookg><NbOfTxs>{len(group)}</NbOfTxs><CtrlSum>{decimal_amount(amount)}</CtrlSum>"
        f"<PmtTpInf><SvcLvl><Cd>SEPA</Cd></SvcLvl></PmtTpInf><ReqdExctnDt><Dt>{header.execution_date}</Dt>"
        f"</ReqdExctnDt><Dbtr><Nm>{group[0].debtor_name}</Nm></Dbtr>"
        f"<DbtrAcct><Id><IBAN>{debtor_iban}</IBAN></Id></DbtrAcct>"
        f"<DbtrAgt><FinInstnId><BICFI>{header.debtor_bic}</BICFI></FinInstnId></DbtrAgt><ChrgBr>SLEV</ChrgBr>\n"
        f"{transactions}</PmtInf>\n"
    )


class Notification(NamedTuple):
    """One camt.054 entry on one of our accounts."""

    account_iban: str
    account_currency: str
    servicer_reference: str  # AcctSvcrRef: unique, the entry's record id
    credit: bool  # CRDT (money in) or DBIT (the outcome of an outbound transfer)
    amount: int  # minor units
    currency: str
    booked_at: str  # ISO 8601 date-time with offset
    end_to_end_id: str
    party_name: str  # the debtor who paid us (CRDT) or the creditor we paid (DBIT); XML-escaped, as are the texts
    party_iban: str
    remittance: str
    return_reason: str | None = None  # DBIT only: the ISO reason code of a rejected transfer
    return_text: str | None = None


@dataclass(frozen=True)
class Camt054Header:
    message_id: str
    created_at: str
    notification_id_prefix: str


def camt054(header: Camt054Header, entries: Iterable[Notification]) -> bytes:
    """One BkToCstmrDbtCdtNtfctn with a Ntfctn per run of consecutive entries on the same account."""
    notifications = []
    for number, ((iban, currency), group) in enumerate(
        groupby(entries, key=lambda e: (e.account_iban, e.account_currency)), start=1
    ):
        notifications.append(
            f"<Ntfctn><Id>{header.notification_id_prefix}{number:06d}</Id><CreDtTm>{header.created_at}</CreDtTm>"
            f"<Acct><Id><IBAN>{iban}</IBAN></Id><Ccy>{currency}</Ccy></Acct>\n"
            + "".join(map(_entry, group))
            + "</Ntfctn>\n"
        )
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<Document xmlns="{CAMT054_NAMESPACE}" xmlns:xsi="{_XSI}">'
        f"<BkToCstmrDbtCdtNtfctn><GrpHdr><MsgId>{escape(header.message_id)}</MsgId>"
        f"<CreDtTm>{header.created_at}</CreDtTm></GrpHdr>\n"
        + "".join(notifications)
        + "</BkToCstmrDbtCdtNtfctn></Document>\n"
    ).encode()


def _entry(entry: Notification) -> str:
    direction = "CRDT" if entry.credit else "DBIT"
    amount = f'<Amt Ccy="{entry.currency}">{decimal_amount(entry.amount)}</Amt><CdtDbtInd>{direction}</CdtDbtInd>'
    family = "RCDT" if entry.credit else "ICDT"  # received / issued credit transfers
    party, account = ("Dbtr", "DbtrAcct") if entry.credit else ("Cdtr", "CdtrAcct")
    returned = (
        f"<RtrInf><Rsn><Cd>{entry.return_reason}</Cd></Rsn><AddtlInf>{entry.return_text or ''}</AddtlInf></RtrInf>"
        if entry.return_reason
        else ""
    )
    return (
        f"<Ntry>{amount}<Sts><Cd>BOOK</Cd></Sts><BookgDt><DtTm>{entry.booked_at}</DtTm></BookgDt>"
        f"<AcctSvcrRef>{entry.servicer_reference}</AcctSvcrRef>"
        f"<BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>{family}</Cd><SubFmlyCd>ESCT</SubFmlyCd></Fmly></Domn></BkTxCd>"
        f"<NtryDtls><TxDtls><Refs><EndToEndId>{entry.end_to_end_id}</EndToEndId></Refs>{amount}"
        f"<RltdPties><{party}><Pty><Nm>{entry.party_name}</Nm></Pty></{party}>"
        f"<{account}><Id><IBAN>{entry.party_iban}</IBAN></Id></{account}></RltdPties>"
        f"<RmtInf><Ustrd>{entry.remittance}</Ustrd></RmtInf>{returned}</TxDtls></NtryDtls></Ntry>\n"
    )
