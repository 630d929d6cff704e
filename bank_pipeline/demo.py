"""A small scripted bank, run through the real command path, for `bank-pipeline demo`.

Every step carries a stable idempotency key, so running the demo again appends nothing new; the steps
meant to be refused stay refused (they never become valid later in the script).
(The workload simulator replaces this script once landing-file ingestion exists.)
"""

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from bank_pipeline.application import CommandHandler
from bank_pipeline.domain import commands as c
from bank_pipeline.domain.errors import DomainError
from bank_pipeline.domain.streams import customer_stream

DEMO_PREFIX = "demo1"


def script(now: datetime) -> list[tuple[str, object]]:
    """(step name, command) in order. Some commands are meant to be refused by the domain."""
    later = now.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=6)
    steps: list[tuple[str, object]] = [
        (
            "register Ada",
            c.RegisterCustomer("ada", "Ada Lovelace", "ada@example.org", "12 St James's Sq, London"),
        ),
        ("register Alan", c.RegisterCustomer("alan", "Alan Turing", "alan@example.org", "Bletchley Park")),
        ("register Grace", c.RegisterCustomer("grace", "Grace Hopper", "grace@example.org", "Arlington, VA")),
        ("verify Ada", c.ChangeKycStatus("ada", "verified")),
        ("verify Alan", c.ChangeKycStatus("alan", "verified")),
        ("open account for Grace before KYC", c.OpenAccount("grace-eur", "grace", "EUR")),
        ("open Ada EUR current", c.OpenAccount("ada-eur", "ada", "EUR", "current", overdraft_limit=50_00)),
        ("open Ada EUR savings", c.OpenAccount("ada-sav", "ada", "EUR", "savings")),
        ("open Alan EUR current", c.OpenAccount("alan-eur", "alan", "EUR")),
        ("open Alan GBP current", c.OpenAccount("alan-gbp", "alan", "GBP")),
        ("salary to Ada", c.CreditAccount("ada-eur", 3_200_00, "EUR", "sal-ada-1", "ACME Ltd", "Salary")),
        ("salary to Alan", c.CreditAccount("alan-eur", 2_900_00, "EUR", "sal-alan-1", "GCHQ", "Salary")),
        ("card payment by Ada", c.DebitAccount("ada-eur", 42_50, "EUR", "card-ada-1", "Bookshop", "Card")),
        ("Ada saves", c.TransferInternal("save-ada-1", "ada-eur", "ada-sav", 1_000_00, "EUR", "Savings")),
        (
            "Ada pays Alan",
            c.TransferInternal("p2p-ada-alan-1", "ada-eur", "alan-eur", 120_00, "EUR", "Dinner"),
        ),
        ("EUR into a GBP account", c.TransferInternal("p2p-bad-ccy", "ada-eur", "alan-gbp", 10_00, "EUR")),
        ("transfer to the same account", c.TransferInternal("p2p-self", "ada-eur", "ada-eur", 10_00, "EUR")),
        (
            "Alan overspends",
            c.DebitAccount("alan-eur", 10_000_00, "EUR", "card-alan-big", "Car dealer", "Card"),
        ),
        (
            "Ada requests SEPA rent",
            c.RequestOutboundTransfer(
                "sepa-rent-1",
                "ada-eur",
                950_00,
                "EUR",
                "DE89370400440532013000",
                "Landlord GmbH",
                "Rent",
                later,
            ),
        ),
        (
            "Alan requests SEPA",
            c.RequestOutboundTransfer(
                "sepa-alan-1",
                "alan-eur",
                300_00,
                "EUR",
                "FR1420041010050500013M02606",
                "Shop SARL",
                "Order 77",
                later,
            ),
        ),
        ("submit rent", c.SubmitOutboundTransfer("sepa-rent-1", "pain001-0001")),
        ("settle rent", c.SettleOutboundTransfer("sepa-rent-1", "ada-eur")),
        (
            "reject Alan's SEPA",
            c.RejectOutboundTransfer("sepa-alan-1", "alan-eur", "creditor account closed"),
        ),
        (
            "inbound SEPA for Alan",
            c.ReceiveInboundTransfer("camt-in-1", "alan-eur", 75_00, "EUR", "NL91ABNA0417164300", "J. Doe", "Refund"),
        ),
        (
            "inbound SEPA for unknown account",
            c.ReceiveInboundTransfer("camt-in-2", "nobody-eur", 20_00, "EUR", "NL91ABNA0417164300", "J. Doe", "Gift"),
        ),
        ("freeze Alan's EUR account", c.FreezeAccount("alan-eur", "suspicious login")),
        ("unfreeze Alan's EUR account", c.UnfreezeAccount("alan-eur", "customer confirmed")),
        ("freeze Alan's GBP account", c.FreezeAccount("alan-gbp", "card reported stolen")),
        ("debit the frozen account", c.DebitAccount("alan-gbp", 5_00, "GBP", "card-alan-2", "Kiosk", "Card")),
        ("close savings with money in it", c.CloseAccount("ada-sav", "customer request")),
        ("empty savings", c.TransferInternal("save-ada-back", "ada-sav", "ada-eur", 1_000_00, "EUR")),
        ("close savings", c.CloseAccount("ada-sav", "customer request")),
        ("update Ada's address", c.UpdateCustomerDetails("ada", address="Marylebone, London")),
    ]
    return steps


@dataclass
class DemoOutcome:
    applied: list[str] = field(default_factory=list)
    replayed: list[str] = field(default_factory=list)
    refused: list[tuple[str, str, str]] = field(default_factory=list)  # (step, code, message)
    events_appended: int = 0
    event_types: Counter = field(default_factory=Counter)


def run_demo(handler: CommandHandler, on_step=lambda name: None) -> DemoOutcome:
    outcome = DemoOutcome()
    now = _first_run_time(handler)
    for index, (name, command) in enumerate(script(now)):
        on_step(name)
        try:
            result = handler.execute(command, idempotency_key=f"{DEMO_PREFIX}-{index:03d}", actor="demo")
        except DomainError as refusal:
            outcome.refused.append((name, refusal.code, str(refusal)))
            continue
        if result.replayed:
            outcome.replayed.append(name)
        else:
            outcome.applied.append(name)
            outcome.events_appended += len(result.events)
            outcome.event_types.update(event.event_type for _, event in result.events)
    return outcome


def _first_run_time(handler: CommandHandler) -> datetime:
    """When the demo first ran, so a re-run issues identical commands (same idempotency request hashes)."""
    first_events = handler.store.read_stream(customer_stream("ada"))
    if first_events:
        return first_events[0].occurred_at
    return datetime.now(UTC)
