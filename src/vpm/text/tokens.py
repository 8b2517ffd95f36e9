"""A tokenizer that works for Japanese and English alike.

Latin-script text is split into words, which are runs of letters and
digits, case folded. Punctuation separates words. Google's rouge-score
package tokenizes English the same way, so English scores stay comparable
with its scores.

Japanese has no spaces between words, and a morphological analyzer (MeCab,
Sudachi) needs a dictionary that vpm does not ship. So each Han, kana or
Hangul character is a token of its own. Character-level ROUGE is the usual
fallback for Japanese without an analyzer. It is deterministic, needs no
data, and makes a window of N tokens roughly N characters of Japanese.

Text is NFKC-normalized per token, so full-width ``Ａ１`` and half-width
``ｶﾅ`` compare equal to ``a1`` and ``カナ``. Spans always point into the
original text.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

# Code point ranges whose characters are tokens one by one.
_CJK_RANGES = (
    (0x3005, 0x3007),  # 々 〆 〇
    (0x3040, 0x309F),  # Hiragana
    (0x30A0, 0x30FF),  # Katakana, including the long vowel mark ー
    (0x31F0, 0x31FF),  # Katakana phonetic extensions
    (0x3400, 0x4DBF),  # CJK unified ideographs, extension A
    (0x4E00, 0x9FFF),  # CJK unified ideographs
    (0xAC00, 0xD7AF),  # Hangul syllables
    (0xF900, 0xFAFF),  # CJK compatibility ideographs
    (0xFF66, 0xFF9F),  # Half-width katakana and sound marks
    (0x20000, 0x2FA1F),  # CJK ideographs, supplementary planes
)
_CJK_CLASS = "".join(f"\\U{low:08x}-\\U{high:08x}" for low, high in _CJK_RANGES)
_CJK_CHAR = re.compile(f"[{_CJK_CLASS}]")
# A token is one CJK character, together with a half-width sound mark that
# belongs to it (ｶﾞ reads ガ), or a run of letters and digits. The class
# [^\W_] matches exactly the characters that str.isalnum() accepts.
_TOKEN = re.compile(f"[{_CJK_CLASS}][\uff9e\uff9f]?|(?:(?![{_CJK_CLASS}])[^\\W_])+")


@dataclass(frozen=True, slots=True)
class Token:
    """One token and where it sits in the text it came from.

    Attributes:
        text: Normalized token (NFKC, case folded), used for comparison.
        start: Offset of the token's first character in the original text.
        end: Offset just past the token's last character.
    """

    text: str
    start: int
    end: int


@lru_cache(maxsize=65536)
def is_cjk(char: str) -> bool:
    """Return True if `char` is a Han, kana or Hangul character."""
    return _CJK_CHAR.fullmatch(char) is not None


# A text repeats the same characters and words many times, so the cache
# skips most NFKC calls.
@lru_cache(maxsize=65536)
def _normalize(token: str) -> str:
    return unicodedata.normalize("NFKC", token).casefold()


def tokenize_with_spans(text: str) -> list[Token]:
    """Split `text` into tokens, keeping each token's span in `text`.

    Runs of letters and digits form one token, each CJK character forms
    one, and everything else (spaces, punctuation, symbols) separates.
    """
    return [
        Token(_normalize(match.group()), *match.span())
        for match in _TOKEN.finditer(text)
    ]


def token_spans(text: str) -> list[tuple[int, int]]:
    """Return the (start, end) offsets of each token of `text`, not normalized."""
    return [match.span() for match in _TOKEN.finditer(text)]


def tokenize(text: str) -> list[str]:
    """Split `text` into normalized tokens; see the module docstring."""
    return [_normalize(token) for token in _TOKEN.findall(text)]


def count_tokens(text: str) -> int:
    """Return the number of tokens in `text`."""
    return sum(1 for _match in _TOKEN.finditer(text))
