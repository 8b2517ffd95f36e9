"""ROUGE-L: how much of a reference text a candidate keeps, in order.

ROUGE-L compares two token sequences by their longest common subsequence
(LCS). With ``lcs`` the LCS length, recall is ``lcs / len(reference)``,
precision is ``lcs / len(candidate)`` and F1 is their harmonic mean.

Tokens come from `vpm.text.tokens.tokenize`, which makes each Japanese
character a token. Whitespace tokenizers give identical Japanese texts a
score of 0.0, because a Japanese sentence has no spaces to split on.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass

from vpm.text.tokens import tokenize


@dataclass(frozen=True, slots=True)
class RougeScore:
    """ROUGE-L precision, recall and F1, each between 0.0 and 1.0."""

    precision: float
    recall: float
    f1: float


def lcs_length(first: Sequence[Hashable], second: Sequence[Hashable]) -> int:
    """Return the length of the longest common subsequence of two sequences.

    Uses the bit-parallel form of the LCS dynamic program. Bit ``i`` of
    `row` is 0 where the LCS length grows at position ``i`` of `first`, so
    the zero bits count the LCS. Python integers hold any number of bits,
    so each token of `second` costs a few big-integer operations instead of
    a pass over `first` in Python code.
    """
    if not first or not second:
        return 0
    positions: dict[Hashable, int] = {}
    for index, item in enumerate(first):
        positions[item] = positions.get(item, 0) | (1 << index)
    all_ones = (1 << len(first)) - 1
    row = all_ones
    for item in second:
        matches = row & positions.get(item, 0)
        row = ((row + matches) | (row - matches)) & all_ones
    return len(first) - row.bit_count()


def rouge_l_tokens(
    reference: Sequence[Hashable], candidate: Sequence[Hashable]
) -> RougeScore:
    """Score two token sequences with ROUGE-L.

    An empty reference or candidate scores 0.0 on every measure, as in
    Google's rouge-score package.
    """
    common = lcs_length(reference, candidate)
    if common == 0:
        return RougeScore(0.0, 0.0, 0.0)
    precision = common / len(candidate)
    recall = common / len(reference)
    f1 = 2 * precision * recall / (precision + recall)
    return RougeScore(precision, recall, f1)


def rouge_l(reference: str, candidate: str) -> RougeScore:
    """Score `candidate` against `reference` with ROUGE-L over vpm's tokens."""
    return rouge_l_tokens(tokenize(reference), tokenize(candidate))
