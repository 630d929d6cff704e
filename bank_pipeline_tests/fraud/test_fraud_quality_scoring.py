"""Scoring the fast path's alerts against the simulator's labels (bench fraud-quality): small hand-made frames,
no database."""

import math

import polars as pl
import pytest

from bank_pipeline.bench.fraud_quality import (
    PRECISION_GOAL,
    RECALL_GOAL,
    PatternScore,
    RuleScore,
    Score,
    evidence_positions,
    instance_hits,
    labelled_transfers,
    score,
)
from bank_pipeline.ingest.commands import outbound_transfer_id

TAKEOVER_ACCOUNT = "DE00TAKEOVER"
CARD_ACCOUNT = "DE00CARD"
STRUCTURED_ACCOUNT = "DE00STRUCTURED"
HONEST_ACCOUNT = "DE00HONEST"


def labels(*rows: tuple[str, str, str, str]) -> pl.DataFrame:
    """(pattern, record_id, account_id, day) rows, as in fraud_labels.csv."""
    return pl.DataFrame(
        rows, schema=dict.fromkeys(["pattern", "record_id", "account_id", "day"], pl.String), orient="row"
    )


def alerts(*rows: tuple[int, str, str, int, list[int]]) -> pl.DataFrame:
    """(alert_id, rule, account_id, global_position, evidence_positions) rows."""
    return pl.DataFrame(
        rows,
        schema={"alert_id": pl.Int64, "rule": pl.String, "account_id": pl.String, "global_position": pl.Int64,
                "evidence_positions": pl.List(pl.Int64)},
        orient="row",
    )  # fmt: skip


def entries(*rows: tuple[int, str]) -> pl.DataFrame:
    """(global_position, transfer_id) rows: the entry events."""
    return pl.DataFrame(rows, schema={"global_position": pl.Int64, "transfer_id": pl.String}, orient="row")


def pattern(result: Score, name: str) -> PatternScore:
    return next(each for each in result.patterns if each.pattern == name)


def rule(result: Score, name: str) -> RuleScore:
    return next(each for each in result.rules if each.rule == name)


CARD_TESTS = labels(*[("card_testing", f"T-{n}", CARD_ACCOUNT, "2026-11-03") for n in range(3)])
CARD_ENTRIES = entries(*[(10 + n, f"T-{n}") for n in range(3)])


def test_evidence_positions_are_the_listed_ones_and_a_pass_through_credit():
    assert evidence_positions({"amount": 5, "positions": [3, 7]}) == [3, 7]
    assert evidence_positions({"credit": 900, "credit_position": 41}) == [41]
    assert evidence_positions({"amount": 5, "counterparty": "x"}) == []


def test_an_outbound_label_also_matches_the_transfer_id_of_its_settled_debit():
    transfers = labelled_transfers(labels(("account_takeover", "E2E-1", TAKEOVER_ACCOUNT, "2026-11-03")))
    assert set(transfers["transfer_id"]) == {"E2E-1", outbound_transfer_id(TAKEOVER_ACCOUNT, "E2E-1")}


def test_an_alert_set_off_by_a_labelled_entry_hits_its_instance():
    result = score(CARD_TESTS, alerts((1, "card_testing", CARD_ACCOUNT, 12, [])), CARD_ENTRIES)
    assert pattern(result, "card_testing") == PatternScore(
        "card_testing", instances=1, hit=1, not_fully_booked=0, hit_on_account=1, rules=("card_testing",)
    )
    assert rule(result, "card_testing") == RuleScore("card_testing", alerts=1, on_fraud=1)
    assert result.recall == 1.0 and result.precision == 1.0 and result.missed == ()


def test_an_alert_hits_through_the_positions_in_its_evidence():
    ordinary = entries((99, "T-ordinary"))
    found = alerts((1, "velocity", CARD_ACCOUNT, 99, [10, 11, 99]))
    hits = instance_hits(found, pl.concat([CARD_ENTRIES, ordinary]), CARD_TESTS)
    assert hits.rows() == [(1, "card_testing", CARD_ACCOUNT, "2026-11-03", "velocity", True)]


def test_a_settled_outbound_transfer_is_found_by_its_outbound_transfer_id():
    takeover = labels(("account_takeover", "E2E-1", TAKEOVER_ACCOUNT, "2026-11-03"))
    debit = entries((20, outbound_transfer_id(TAKEOVER_ACCOUNT, "E2E-1")))
    result = score(takeover, alerts((1, "new_counterparty_large", TAKEOVER_ACCOUNT, 20, [])), debit)
    assert pattern(result, "account_takeover").hit == 1
    assert result.precision == 1.0


def test_an_alert_on_a_helper_account_hits_but_not_on_the_labelled_account():
    """A pass-through's source pays the labelled account: that debit is on the source, with a labelled transfer id."""
    passed = labels(
        ("rapid_pass_through", "T-in", "DE00PASS", "2026-11-04"),
        ("rapid_pass_through", "T-out", "DE00PASS", "2026-11-04"),
    )
    booked = entries((60, "T-in"), (61, "T-in"), (62, "T-out"), (63, "T-out"))  # each p2p: a debit and a credit
    result = score(passed, alerts((1, "new_counterparty_large", "DE00SOURCE", 60, [])), booked)
    assert pattern(result, "rapid_pass_through") == PatternScore(
        "rapid_pass_through", 1, hit=1, not_fully_booked=0, hit_on_account=0, rules=("new_counterparty_large",)
    )
    assert result.recall == 1.0 and result.recall_on_account == 0.0


def test_alerts_on_unlabelled_entries_lower_precision_per_rule_and_overall():
    found = alerts(
        (1, "card_testing", CARD_ACCOUNT, 12, [10, 11, 12]),
        (2, "velocity", HONEST_ACCOUNT, 50, [48, 49, 50]),
        (3, "velocity", CARD_ACCOUNT, 51, []),  # the victim's account, but an ordinary payment
        (4, "amount_above_history", HONEST_ACCOUNT, 52, []),
    )
    ordinary = entries((48, "T-a"), (49, "T-b"), (50, "T-c"), (51, "T-d"), (52, "T-e"))
    result = score(CARD_TESTS, found, pl.concat([CARD_ENTRIES, ordinary]))
    assert rule(result, "velocity") == RuleScore("velocity", alerts=2, on_fraud=0)
    assert rule(result, "card_testing").precision == 1.0
    assert result.alerts == 4 and result.alerts_on_fraud == 1 and result.precision == 0.25
    assert result.recall == 1.0 and not result.met


def test_structuring_over_two_days_is_two_instances_and_one_alert_can_hit_both():
    structured = labels(
        ("structuring", "C-1", STRUCTURED_ACCOUNT, "2026-11-03"),
        ("structuring", "C-2", STRUCTURED_ACCOUNT, "2026-11-04"),
        ("structuring", "C-3", STRUCTURED_ACCOUNT, "2026-11-05"),
    )
    credits = entries((30, "C-1"), (31, "C-2"), (32, "C-3"))
    result = score(structured, alerts((1, "structuring", STRUCTURED_ACCOUNT, 31, [30, 31])), credits)
    assert (pattern(result, "structuring").instances, pattern(result, "structuring").hit) == (3, 2)
    assert [(m.day, m.records, m.booked) for m in result.missed] == [("2026-11-05", 1, 1)]
    assert rule(result, "structuring").on_fraud == 1  # one alert, counted once however many instances it hits


def test_a_missed_instance_tells_which_records_booked_and_which_rules_fired_on_its_account():
    takeover = labels(
        ("account_takeover", "T-p2p", TAKEOVER_ACCOUNT, "2026-11-06"),
        ("account_takeover", "E2E-unsettled", TAKEOVER_ACCOUNT, "2026-11-06"),
    )
    booked = entries((40, "T-p2p"), (41, "T-later"))
    result = score(takeover, alerts((1, "velocity", TAKEOVER_ACCOUNT, 41, [])), booked)
    (missed,) = result.missed
    assert (missed.pattern, missed.records, missed.booked, missed.rules_on_account) == (
        "account_takeover", 2, 1, ("velocity",),
    )  # fmt: skip
    assert pattern(result, "account_takeover") == PatternScore("account_takeover", 1, 0, not_fully_booked=1)


def test_patterns_without_instances_are_listed_and_nothing_to_score_is_not_a_number():
    result = score(labels(), alerts(), entries(), patterns=("card_testing", "structuring"))
    assert [each.pattern for each in result.patterns] == ["card_testing", "structuring"]
    assert math.isnan(pattern(result, "structuring").recall)
    assert math.isnan(result.recall) and math.isnan(result.precision) and not result.met


@pytest.mark.parametrize(
    ("recall_hits", "precision_hits", "met"),
    [(9, 8, True), (8, 8, False), (9, 7, False)],
)
def test_the_goal_is_recall_and_precision_together(recall_hits, precision_hits, met):
    result = Score(
        patterns=(PatternScore("card_testing", instances=10, hit=recall_hits, not_fully_booked=0),),
        rules=(RuleScore("card_testing", alerts=10, on_fraud=precision_hits),),
        missed=(),
    )
    assert (RECALL_GOAL, PRECISION_GOAL) == (0.9, 0.8)
    assert result.met is met
