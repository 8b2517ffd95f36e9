"""Text tools that treat Japanese and English alike.

Sentences, tokens, token windows and ROUGE-L. Character limits and token
counts work the same for both languages.
"""

from vpm.text.rouge import RougeScore, lcs_length, rouge_l, rouge_l_tokens
from vpm.text.sentences import (
    Sentence,
    ends_sentence,
    sentence_spans,
    split_sentences,
)
from vpm.text.tokens import (
    Token,
    count_tokens,
    is_cjk,
    tokenize,
    tokenize_with_spans,
)
from vpm.text.windows import Window, split_windows, widen_to_sentences, window_ranges

__all__ = [
    "RougeScore",
    "Sentence",
    "Token",
    "Window",
    "count_tokens",
    "ends_sentence",
    "is_cjk",
    "lcs_length",
    "rouge_l",
    "rouge_l_tokens",
    "sentence_spans",
    "split_sentences",
    "split_windows",
    "tokenize",
    "tokenize_with_spans",
    "widen_to_sentences",
    "window_ranges",
]
