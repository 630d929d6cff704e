"""The month digests' Merkle tree against RFC 6962's reference vectors (the tree RFC 9162 keeps), and inclusion
proofs for every leaf of many tree sizes."""

from __future__ import annotations

import random

import pytest

from bank_pipeline.domain.merkle import (
    EMPTY_ROOT,
    InvalidProof,
    inclusion_proof,
    leaf_hash,
    merkle_root,
    node_hash,
    root_from_inclusion_proof,
)

# The leaves and tree heads of the Certificate Transparency reference tests (RFC 6962's test vectors).
LEAVES = [
    bytes.fromhex(h)
    for h in ("", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f")
]
ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
PROOFS = [  # (leaf index, tree size, audit path)
    (0, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (5, 8, ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (1, 5, ["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
]  # fmt: skip


def test_the_roots_are_the_reference_tree_heads():
    assert EMPTY_ROOT.hex() == ROOTS[0]
    for size in range(len(LEAVES) + 1):
        assert merkle_root(LEAVES[:size]).hex() == ROOTS[size], size


@pytest.mark.parametrize(("index", "size", "path"), PROOFS)
def test_inclusion_proofs_are_the_reference_paths_and_lead_to_the_root(index, size, path):
    proof = inclusion_proof(LEAVES[:size], index)
    assert [step.hex() for step in proof] == path
    assert root_from_inclusion_proof(LEAVES[index], index, size, proof).hex() == ROOTS[size]


def _reference_root(leaves: list[bytes]) -> bytes:
    """RFC 9162's recursive definition, word for word: the level-by-level merkle_root must agree with it."""
    if not leaves:
        return EMPTY_ROOT
    if len(leaves) == 1:
        return leaf_hash(leaves[0])
    split = 1
    while split * 2 < len(leaves):
        split *= 2
    return node_hash(_reference_root(leaves[:split]), _reference_root(leaves[split:]))


def test_every_leaf_of_every_tree_size_proves_its_inclusion_and_a_changed_one_does_not():
    rng = random.Random(9162)
    for size in range(1, 70):
        leaves = [rng.randbytes(32) for _ in range(size)]
        root = merkle_root(leaves)
        assert root == _reference_root(leaves)
        for index in range(size):
            proof = inclusion_proof(leaves, index)
            assert root_from_inclusion_proof(leaves[index], index, size, proof) == root
            assert root_from_inclusion_proof(rng.randbytes(32), index, size, proof) != root
            if size > 1:
                other = (index + 1) % size
                with_other_index = _root_or_none(leaves[index], other, size, proof)
                assert with_other_index != root


def _root_or_none(leaf: bytes, index: int, size: int, proof: list[bytes]) -> bytes | None:
    try:
        return root_from_inclusion_proof(leaf, index, size, proof)
    except InvalidProof:
        return None


def test_a_proof_of_the_wrong_length_or_index_is_refused():
    proof = inclusion_proof(LEAVES, 3)
    with pytest.raises(InvalidProof):
        root_from_inclusion_proof(LEAVES[3], 3, 8, proof[:-1])
    with pytest.raises(InvalidProof):
        root_from_inclusion_proof(LEAVES[3], 3, 8, [*proof, proof[0]])
    with pytest.raises(InvalidProof):
        root_from_inclusion_proof(LEAVES[3], 8, 8, proof)
    with pytest.raises(IndexError):
        inclusion_proof(LEAVES, 8)
