"""Token verification is cached per token (the API's hot path): the cache must never accept what a fresh check
refuses, and never outlive a token's expiry."""

from __future__ import annotations

import time

import pytest

from bank_pipeline.api.identity import Identity
from bank_pipeline.api.tokens import InvalidToken, mint_token, verify_token

KEY = "a-test-signing-key-0123456789abcdef-0123456789"
OTHER_KEY = "another-test-signing-key-0123456789abcdef-0123"
ALICE = Identity("alice", "customer", "alice")


def test_a_verified_token_still_expires_when_its_time_is_up():
    token = mint_token(ALICE, ttl_seconds=1, key=KEY)
    assert verify_token(token, key=KEY) == ALICE  # verified, and kept
    time.sleep(max(0.0, int(time.time()) + 1.05 - time.time()))  # past the whole second it expires at
    with pytest.raises(InvalidToken, match="expired"):
        verify_token(token, key=KEY)


def test_a_token_verified_under_one_key_is_refused_under_another():
    token = mint_token(ALICE, ttl_seconds=60, key=KEY)
    assert verify_token(token, key=KEY) == ALICE
    with pytest.raises(InvalidToken, match="not valid"):
        verify_token(token, key=OTHER_KEY)  # a rotated key: what was verified before counts for nothing


def test_an_altered_token_is_refused_every_time_even_after_the_original_was_accepted():
    token = mint_token(ALICE, ttl_seconds=60, key=KEY)
    assert verify_token(token, key=KEY) == ALICE
    header, claims, signature = token.split(".")
    altered = ".".join((header, claims, signature[:-2] + ("AA" if signature[-2:] != "AA" else "BB")))
    for _ in range(2):  # a refusal is not cached as anything else either
        with pytest.raises(InvalidToken):
            verify_token(altered, key=KEY)
