"""Merkle tree hashes and inclusion proofs, exactly as RFC 9162 (Certificate Transparency 2.0, §2.1) defines them.

A month's audit digest is the Merkle tree hash of its events' hashes in delivery order. Anyone holding the month's
events (from the database or from the archive) recomputes it with any RFC 9162 implementation; anyone holding one
event, its index and the published root checks that the event belongs to the month with an inclusion proof of
log2(n) hashes, without the other events. The procedure is written out in docs/audit-digests.md.

    MTH({})       = SHA-256()                      (the empty tree)
    MTH({d0})     = SHA-256(0x00 || d0)            (a leaf)
    MTH(D[0:n])   = SHA-256(0x01 || MTH(D[0:k]) || MTH(D[k:n]))   k: the largest power of two smaller than n
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

LEAF_PREFIX, NODE_PREFIX = b"\x00", b"\x01"
EMPTY_ROOT = hashlib.sha256(b"").digest()


class InvalidProof(ValueError):
    """An inclusion proof that does not fit the tree size or the index it names."""


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


def merkle_root(leaves: Iterable[bytes]) -> bytes:
    """MTH over `leaves` (the raw leaf data)."""
    tree = MerkleAccumulator()
    for leaf in leaves:
        tree.add(leaf)
    return tree.root()


class MerkleAccumulator:
    """MTH of a stream of leaves in O(log n) memory: a month of events need not fit in memory.

    It keeps the roots of the complete subtrees so far, largest first (their sizes are the binary digits of the
    count); adding a leaf merges equal-sized neighbours. The root folds them right to left, which is RFC 9162's
    split at the largest power of two smaller than n."""

    def __init__(self) -> None:
        self.count = 0
        self._subtrees: list[tuple[int, bytes]] = []  # (size, root)

    def add(self, leaf: bytes) -> None:
        size, node = 1, leaf_hash(leaf)
        while self._subtrees and self._subtrees[-1][0] == size:
            left_size, left = self._subtrees.pop()
            size, node = left_size + size, node_hash(left, node)
        self._subtrees.append((size, node))
        self.count += 1

    def root(self) -> bytes:
        if not self._subtrees:
            return EMPTY_ROOT
        node = self._subtrees[-1][1]
        for _, left in reversed(self._subtrees[:-1]):
            node = node_hash(left, node)
        return node


def inclusion_proof(leaves: Sequence[bytes], index: int) -> list[bytes]:
    """PATH(index, D[0:n]) of RFC 9162 §2.1.3.1: the sibling hashes from the leaf up to the root."""
    if not 0 <= index < len(leaves):
        raise IndexError(f"leaf {index} is not in a tree of {len(leaves)}")
    return _path(index, leaves)


def _path(index: int, leaves: Sequence[bytes]) -> list[bytes]:
    if len(leaves) == 1:
        return []
    split = _largest_power_of_two_below(len(leaves))
    if index < split:
        return [*_path(index, leaves[:split]), merkle_root(leaves[split:])]
    return [*_path(index - split, leaves[split:]), merkle_root(leaves[:split])]


def root_from_inclusion_proof(leaf: bytes, index: int, tree_size: int, proof: Sequence[bytes]) -> bytes:
    """The root a proof leads to (RFC 9162 §2.1.3.2): equal to the published root iff the leaf is in the tree at
    `index`."""
    if not 0 <= index < tree_size:
        raise InvalidProof(f"leaf {index} is not in a tree of {tree_size}")
    fn, sn = index, tree_size - 1
    running = leaf_hash(leaf)
    for sibling in proof:
        if sn == 0:
            raise InvalidProof("the proof is longer than the tree is deep")
        if fn & 1 or fn == sn:
            running = node_hash(sibling, running)
            if not fn & 1:
                while fn and not fn & 1:
                    fn, sn = fn >> 1, sn >> 1
        else:
            running = node_hash(running, sibling)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise InvalidProof("the proof is shorter than the tree is deep")
    return running


def _largest_power_of_two_below(n: int) -> int:
    return 1 << ((n - 1).bit_length() - 1)
