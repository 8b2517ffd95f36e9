"""ROUGE-L over vpm's tokenizer, checked against hand-computed values."""

import random

import pytest

from vpm.text import lcs_length, rouge_l, rouge_l_tokens


def _lcs_by_table(first, second):
    """Return the LCS length by the textbook dynamic-programming table."""
    previous = [0] * (len(second) + 1)
    for item in first:
        current = [0]
        for column, other in enumerate(second):
            if item == other:
                current.append(previous[column] + 1)
            else:
                current.append(max(previous[column + 1], current[column]))
        previous = current
    return previous[-1]


def test_rouge_l_japanese_pair_hand_computed():
    # Reference: 今日は会議で方針を決めた (12 characters).
    # Candidate: 会議で方針を決定した (10 characters).
    # LCS: 会議で方針を決 + た = 8, so P = 8/10, R = 8/12, F1 = 16/22.
    score = rouge_l("今日は会議で方針を決めた", "会議で方針を決定した")

    assert score.precision == pytest.approx(0.8)
    assert score.recall == pytest.approx(2 / 3)
    assert score.f1 == pytest.approx(8 / 11)


def test_rouge_l_identical_japanese_texts_score_one():
    text = "要約は四百文字以内で生成する。"

    score = rouge_l(text, text)

    assert score.precision == 1.0
    assert score.recall == 1.0
    assert score.f1 == 1.0


def test_rouge_l_english_pair_hand_computed():
    # LCS of "the cat sat on the mat" and "the cat lay on a mat":
    # the cat on mat = 4, P = 4/6, R = 4/6.
    score = rouge_l("The cat sat on the mat.", "the cat lay on a mat")

    assert score.f1 == pytest.approx(4 / 6)


def test_rouge_l_punctuation_and_width_ignored():
    score = rouge_l("ＰＲ本文を確認。", "PR本文を確認")

    assert score.f1 == 1.0


def test_rouge_l_disjoint_texts_score_zero():
    score = rouge_l("猫が鳴く", "dogs bark")

    assert (score.precision, score.recall, score.f1) == (0.0, 0.0, 0.0)


@pytest.mark.parametrize(
    ("reference", "candidate"), [("", "テキスト"), ("テキスト", "")]
)
def test_rouge_l_empty_side_scores_zero(reference, candidate):
    assert rouge_l(reference, candidate).f1 == 0.0


def test_rouge_l_precision_uses_candidate_length():
    score = rouge_l("決定", "決定事項")

    assert score.precision == pytest.approx(0.5)
    assert score.recall == 1.0


def test_rouge_l_tokens_accepts_any_hashable_items():
    score = rouge_l_tokens([1, 2, 3, 4], [1, 3, 4])

    assert score.recall == pytest.approx(0.75)
    assert score.precision == 1.0


def test_lcs_length_known_pair():
    assert lcs_length("ABCBDAB", "BDCABA") == 4


def test_lcs_length_matches_table_on_random_sequences():
    rng = random.Random(7)
    for _ in range(500):
        first = [rng.choice("abcd") for _ in range(rng.randint(0, 40))]
        second = [rng.choice("abcde") for _ in range(rng.randint(0, 40))]

        assert lcs_length(first, second) == _lcs_by_table(first, second)


def test_lcs_length_long_sequences_beyond_machine_word():
    first = list(range(300))
    second = list(range(0, 300, 3))

    assert lcs_length(first, second) == 100
