"""The offline engine: extractive summaries and cue-word extraction.

It needs no network and no model, so vpm works on a laptop out of the box,
and it is deterministic: the same text always gives the same output.

Summaries quote whole sentences of the input. Each sentence is scored by
the salience of its content words, its position, and cue words. Decision
and status sentences (決定, 合意, 完了, decided, done) score highest. The
best sentences that fit in the character limit are then printed in their
original order. A label that opens the text, such as ``定例:``, is left
out, as headings are.

Extraction sorts sentences into decisions, open questions, todos and risks.
Markdown headings such as ``## 決定事項`` or ``## Next steps`` claim the
sentences under them. Label prefixes (``TODO:``, ``リスク：``), task boxes
(``- [ ]``), question marks and cue words sort the rest.
"""

from __future__ import annotations

import math
import re
import time
import unicodedata
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from vpm.model import EngineRun, Extractions
from vpm.text.sentences import (
    CLOSING_MARKS,
    Sentence,
    ends_sentence,
    sentence_spans,
)
from vpm.text.tokens import is_cjk, tokenize

Category = Literal["decisions", "questions", "todos", "risks"]

ENGINE_NAME = "offline"
MAX_ITEMS = 10
ITEM_MAX_CHARS = 160
ELLIPSIS = "…"

# Checked in this order because one label can contain another, as 未決定
# contains 決定.
_HEADING_CUES: tuple[tuple[Category, re.Pattern[str]], ...] = (
    (
        "questions",
        re.compile(
            r"未決|未解決|質問|疑問|論点|要確認|open\s*questions?|questions?|"
            r"unresolved|\btbd\b",
            re.IGNORECASE,
        ),
    ),
    (
        "todos",
        re.compile(
            r"todo|to-do|次のステップ|次アクション|次の一手|次の作業|やること|タスク|"
            r"アクション|next\s*steps?|action\s*items?|follow[- ]?ups?|\btasks?\b",
            re.IGNORECASE,
        ),
    ),
    (
        "risks",
        re.compile(
            r"リスク|課題|懸念|ブロッカー|問題点|risks?|concerns?|blockers?",
            re.IGNORECASE,
        ),
    ),
    (
        "decisions",
        re.compile(
            r"決定|結論|合意|decisions?|decided|conclusions?|agreed", re.IGNORECASE
        ),
    ),
)

# A label such as "TODO:" or "決定事項：" at the start of a sentence.
_LABEL = re.compile(r"^\s*(?P<label>[^:：]{1,24}?)\s*[:：]\s*(?P<rest>.*)$")

# "決めた" and "ことにした" are past tense, but "決めたい" (want to decide)
# is not a decision, hence the look-ahead.
_SENTENCE_CUES: tuple[tuple[Category, re.Pattern[str]], ...] = (
    (
        "decisions",
        re.compile(
            r"決定し|決定する|決定です|決定。|決めた(?![いく])|決めました|決まった|決まりました|"
            r"合意し|結論|採用する|採用した|採用します|ことにした(?![いく])|ことにします|"
            r"ことになった|\bdecided\b|\bagreed\b|\bwe will go with\b|\bconclusion\b",
            re.IGNORECASE,
        ),
    ),
    (
        "risks",
        re.compile(
            r"リスク|懸念|ブロッカー|課題|問題が|障害|\brisks?\b|\bconcerns?\b|"
            r"\bblockers?\b|\bblocked\b",
            re.IGNORECASE,
        ),
    ),
    (
        "todos",
        re.compile(
            r"\btodo\b|\bfixme\b|要対応|対応が必要|必要があ|が必要|対応予定|"
            r"\bneed to\b|\bneeds to\b|\bfollow up\b|\baction item\b",
            re.IGNORECASE,
        ),
    ),
)

# Cue words of sentences that report a status, which earn a summary slot.
_STATUS_CUE = re.compile(
    r"完了|達成|確認済|確認した|確認しました|合格|成功|失敗|中止|延期|導入済|"
    r"\bgreen\b|\bred\b|\bdone\b|\bcompleted?\b|\bready\b|\bpassed\b|\bfailed\b|"
    r"\bshipped\b|\bmerged\b|\breleased\b",
    re.IGNORECASE,
)

# Placeholder items, such as なし or N/A, that mean the list is empty.
_EMPTY_ITEM = re.compile(
    r"^(なし|特になし|無し|該当なし|none|n/a|nothing|tbd|-)[。.]?$", re.IGNORECASE
)

# Score bonuses for summary sentences, on the same 0..1 scale as salience.
_DECISION_BONUS = 1.2
_STATUS_BONUS = 0.7
_ACTION_BONUS = 0.3
# A candidate sharing more than this share of its tokens with a chosen
# sentence adds nothing to the summary.
_REDUNDANT_SHARE = 0.8
# Sentences with fewer prose tokens than this, such as labels and fragments,
# score half.
_SHORT_SENTENCE_TOKENS = 6
# A label that opens a note, such as "定例:" or "Standup:": up to 12
# characters without sentence marks, then a full-width colon, or an ASCII
# colon and a space, so that times (10:30) and URLs (https://) are not labels.
_TITLE_LABEL = re.compile(
    r"^(?P<label>[^\s:：。.!?！？\d][^:：。.!?！？]{0,11}?)\s*(?:：|:\s)\s*(?P<rest>\S.*)$"
)

_INLINE_MARKUP = (
    (re.compile(r"!?\[([^\]]*)\]\([^)]*\)"), r"\1"),  # links and images
    # Bold. Underscore bold is left alone, because __name__ is usually code.
    (re.compile(r"\*\*(.+?)\*\*"), r"\1"),
    (re.compile(r"`([^`]*)`"), r"\1"),  # inline code
    (re.compile(r"<[^>\n]+>"), ""),  # HTML tags
    (re.compile(r"\s+"), " "),
)

_STOPWORDS = frozenset(
    {
        *("a", "an", "the", "and", "or", "of", "to", "in", "on", "for", "with"),
        *("is", "are", "was", "were", "be", "been", "being", "it", "its", "this"),
        *("that", "these", "those", "as", "at", "by", "from", "we", "i", "you"),
        *("he", "she", "they", "our", "your", "their", "not", "no", "will"),
        *("would", "can", "could", "should", "do", "does", "did", "has", "have"),
        *("had", "so", "if", "but", "then", "there", "here", "what", "which"),
        *("who", "how", "all", "any", "some", "just", "also"),
    }
)

# Paths, file names and URLs, written in ASCII. They are frequent in project
# notes but carry no content, so salience ignores them.
_PATH_LIKE = re.compile(r"[!-~]*[/\\_][!-~]*|[!-~]+\.[A-Za-z]{1,5}(?![A-Za-z0-9])")


@dataclass(frozen=True, slots=True)
class _Unit:
    """A sentence with its cleaned text and the section that claims it."""

    sentence: Sentence
    text: str
    position: int
    section: Category | None


class OfflineEngine:
    """Deterministic summaries and extractions without a model.

    Args:
        max_items: Maximum number of items per extraction category.
        item_max_chars: Maximum length of one extracted item, in characters.
    """

    name = ENGINE_NAME

    def __init__(
        self, max_items: int = MAX_ITEMS, item_max_chars: int = ITEM_MAX_CHARS
    ) -> None:
        self.max_items = max_items
        self.item_max_chars = item_max_chars

    def summarize(self, text: str, max_chars: int = 400) -> tuple[str, EngineRun]:
        """Summarize `text` in at most `max_chars` characters."""
        started = time.perf_counter()
        summary = summarize_text(text, max_chars)
        return summary, _run(started)

    def extract(self, text: str) -> tuple[Extractions, EngineRun]:
        """Pull decisions, open questions, todos and risks out of `text`."""
        started = time.perf_counter()
        extractions = extract_items(text, self.max_items, self.item_max_chars)
        return extractions, _run(started)

    def word(self, instruction: str, draft: str) -> tuple[str, EngineRun]:
        """Return `draft` unchanged, because rewording needs a language model."""
        started = time.perf_counter()
        return draft, _run(started)


def _run(started: float) -> EngineRun:
    elapsed_ms = (time.perf_counter() - started) * 1000
    return EngineRun(engine=ENGINE_NAME, fallback=False, duration_ms=elapsed_ms)


# Reading: sentences, sections and cleaned text


def _read_units(text: str) -> list[_Unit]:
    """Return the sentences of `text` with the section category that claims them."""
    units = []
    for position, (sentence, section) in enumerate(_with_sections(text)):
        cleaned = clean_markup(sentence.text)
        # A line ending in a colon only introduces the lines after it, and a
        # "none" placeholder is empty, so neither is content.
        if _is_content(cleaned):
            units.append(_Unit(sentence, cleaned, position, section))
    return units


def _is_content(text: str) -> bool:
    return bool(text) and not text.endswith((":", "：")) and not _EMPTY_ITEM.match(text)


def _with_sections(text: str) -> Iterator[tuple[Sentence, Category | None]]:
    """Pair each sentence with the category of its heading or label line.

    A heading claims the sentences up to the next heading of any level.
    Sections are not inherited by subheadings, because state documents
    often put unrelated sections after a ``## 決定`` heading one level
    down. A label line such as ``Next steps:`` claims the list items right
    after it. When the label is itself a list item, it claims only the
    items nested under it.
    """
    section: Category | None = None
    label: tuple[int, Category] | None = None
    for sentence in sentence_spans(text):
        if sentence.kind == "heading":
            section = heading_category(sentence.text)
            label = None
            yield sentence, None
            continue
        if label and not _is_under_label(sentence, label[0]):
            label = None
        if label:
            yield sentence, label[1]
            continue
        opened = _label_line_category(sentence)
        if opened:
            level = sentence.level if sentence.kind == "item" else -1
            label = (level, opened)
        yield sentence, section


def _is_under_label(sentence: Sentence, label_level: int) -> bool:
    return sentence.kind == "item" and sentence.level > label_level


def _label_line_category(sentence: Sentence) -> Category | None:
    """Return the category of a bare label line such as ``決定事項：``."""
    match = _LABEL.match(sentence.text)
    if not match or match.group("rest"):
        return None
    return heading_category(match.group("label"))


def heading_category(text: str) -> Category | None:
    """Return the extraction category a heading or label names, if any."""
    for category, pattern in _HEADING_CUES:
        if pattern.search(text):
            return category
    return None


def clean_markup(text: str) -> str:
    """Remove inline Markdown (bold, code, links, HTML tags) from `text`."""
    for pattern, replacement in _INLINE_MARKUP:
        text = pattern.sub(replacement, text)
    return text.strip()


# Summaries


def summarize_text(text: str, max_chars: int) -> str:
    """Return an extractive summary of `text` of at most `max_chars` characters.

    Whole sentences are preferred. A sentence is cut only when not even
    the best one fits. The cut falls on a token boundary and ends in "…".
    """
    if max_chars < 1:
        return ""
    units = _read_units(text)
    candidates = [u for u in units if u.sentence.kind != "heading"] or units
    if not candidates:
        return ""
    ranked = _rank([_Candidate.of(unit) for unit in _without_title(candidates)])
    chosen = _select(ranked, max_chars)
    if chosen:
        return _join([_as_sentence(c.unit.text) for c in chosen])
    return clip_text(_as_sentence(ranked[0].unit.text), max_chars)


def _without_title(units: list[_Unit]) -> list[_Unit]:
    """Drop the label that opens a note, as summaries drop headings.

    A note that starts ``定例: キャッシュの設計を議論した`` is titled by its
    label, and a digest leaves titles out. A label that names an extraction
    category (``決定:``, ``TODO:``) is content and stays.
    """
    # NOTE: the curator summarizes a long session window by window, so a
    # label that opens a later window, such as 原因:, is dropped as well.
    first = units[0]
    match = _TITLE_LABEL.match(first.text)
    if not match or heading_category(match.group("label")):
        return units
    untitled = _Unit(first.sentence, match.group("rest"), first.position, first.section)
    return [untitled, *units[1:]]


@dataclass(frozen=True, slots=True)
class _Candidate:
    """A summary candidate with the token sets its score needs."""

    unit: _Unit
    tokens: frozenset[str]
    words: frozenset[str]
    prose_token_count: int

    @classmethod
    def of(cls, unit: _Unit) -> _Candidate:
        prose = tokenize(_PATH_LIKE.sub(" ", unit.text))
        return cls(
            unit=unit,
            tokens=frozenset(tokenize(unit.text)),
            words=frozenset(_content_words(prose)),
            prose_token_count=len(prose),
        )


def _rank(candidates: list[_Candidate]) -> list[_Candidate]:
    """Order `candidates` best first. Ties keep document order."""
    weights: Counter[str] = Counter()
    for candidate in candidates:
        weights.update(candidate.words)
    salience = [_salience(candidate, weights) for candidate in candidates]
    top = max(salience) or 1.0
    count = len(candidates)
    scores = [
        _score(candidate, index, count, value / top)
        for index, (candidate, value) in enumerate(
            zip(candidates, salience, strict=True)
        )
    ]
    order = sorted(range(count), key=lambda i: (-scores[i], i))
    return [candidates[i] for i in order]


def _score(candidate: _Candidate, index: int, count: int, salience: float) -> float:
    """Combine salience (0..1), position and cue words into one score.

    The decision bonus exceeds the whole salience range, so a decision
    outranks every sentence that is not one. Status comes next, then the
    first sentence, which usually states the topic.
    """
    unit = candidate.unit
    score = salience + 0.3 * (1.0 - index / count)
    if index == 0:
        score += 0.3
    if unit.section == "decisions" or _cue_category(unit.text) == "decisions":
        score += _DECISION_BONUS
    elif _STATUS_CUE.search(unit.text):
        score += _STATUS_BONUS
    elif unit.section in ("todos", "risks"):
        score += _ACTION_BONUS
    if candidate.prose_token_count < _SHORT_SENTENCE_TOKENS:
        score *= 0.5
    return score


def _content_words(tokens: list[str]) -> list[str]:
    """Return the content words among `tokens`, used for salience.

    Latin words count unless they are stopwords. Japanese text has no word
    boundaries, so adjacent pairs of kanji or katakana stand in for words.
    Hiragana are skipped, because they mostly carry grammar.
    """
    words = [t for t in tokens if not is_cjk(t[0]) and t not in _STOPWORDS]
    for first, second in zip(tokens, tokens[1:], strict=False):
        if _is_content_char(first) and _is_content_char(second):
            words.append(first + second)
    return words


def _is_content_char(token: str) -> bool:
    return len(token) == 1 and is_cjk(token) and not "\u3040" <= token <= "\u309f"


def _salience(candidate: _Candidate, weights: Counter[str]) -> float:
    """Return how many sentences share the candidate's content words.

    The sum of the words' sentence counts is divided by the square root of
    the number of words, so a long sentence gains from its many words but
    less than in proportion.
    """
    if not candidate.words:
        return 0.0
    total = sum(weights[word] for word in candidate.words)
    return total / math.sqrt(len(candidate.words))


def _select(ranked: list[_Candidate], max_chars: int) -> list[_Candidate]:
    """Take the best candidates whose joined text fits, in document order."""
    chosen: list[_Candidate] = []
    for candidate in ranked:
        if len(candidate.unit.text) > max_chars or _is_redundant(candidate, chosen):
            continue
        trial = sorted([*chosen, candidate], key=lambda c: c.unit.position)
        if len(_join([_as_sentence(c.unit.text) for c in trial])) <= max_chars:
            chosen = trial
    return chosen


def _is_redundant(candidate: _Candidate, chosen: list[_Candidate]) -> bool:
    """Tell whether most of the candidate's tokens are in one chosen already."""
    if not candidate.tokens:
        return True
    for other in chosen:
        shared = len(candidate.tokens & other.tokens)
        if shared / len(candidate.tokens) > _REDUNDANT_SHARE:
            return True
    return False


def _as_sentence(text: str) -> str:
    """End `text` with a sentence mark suited to its script."""
    if ends_sentence(text):
        return text
    is_japanese = any(is_cjk(char) for char in text)
    return text + ("。" if is_japanese else ".")


def _join(sentences: list[str]) -> str:
    """Join sentences, with a space only after a Latin end mark."""
    joined = ""
    for sentence in sentences:
        if joined and not _ends_full_width(joined):
            joined += " "
        joined += sentence
    return joined


def _ends_full_width(text: str) -> bool:
    stripped = text.rstrip(CLOSING_MARKS)
    return bool(stripped) and stripped[-1] in "。！？．"


def clip_text(text: str, max_chars: int) -> str:
    """Shorten `text` to at most `max_chars` characters on a token boundary.

    A clipped text ends in "…", which counts toward `max_chars`.
    """
    if len(text) <= max_chars:
        return text
    if max_chars <= len(ELLIPSIS):
        return text[:max_chars]
    limit = max_chars - len(ELLIPSIS)
    cut = _last_boundary(text, limit)
    return text[:cut].rstrip(" 、,;:：") + ELLIPSIS


def _last_boundary(text: str, limit: int) -> int:
    """Return the last offset at or before `limit` that splits no word."""
    for offset in range(limit, 0, -1):
        before, after = text[offset - 1], text[offset]
        if not (_is_word_char(before) and _is_word_char(after)):
            return offset
    return limit


def _is_word_char(char: str) -> bool:
    return char.isalnum() and not is_cjk(char)


# Extraction


def extract_items(text: str, max_items: int, item_max_chars: int) -> Extractions:
    """Sort the sentences of `text` into decisions, questions, todos and risks.

    Items keep document order, duplicates (compared without case, spaces
    and punctuation) are dropped, and each list contains at most `max_items`.
    """
    lists: dict[Category, list[str]] = {
        "decisions": [],
        "questions": [],
        "todos": [],
        "risks": [],
    }
    seen: set[str] = set()
    for unit in _read_units(text):
        if unit.sentence.kind == "heading":
            continue
        category, item = _classify(unit)
        if category is None or not item or _EMPTY_ITEM.match(item):
            continue
        key = _dedup_key(item)
        if key in seen or len(lists[category]) >= max_items:
            continue
        seen.add(key)
        lists[category].append(clip_text(item, item_max_chars))
    return Extractions(**lists)


def _classify(unit: _Unit) -> tuple[Category | None, str]:
    """Return the unit's category and its text without a label prefix."""
    label = _LABEL.match(unit.text)
    if label and label.group("rest"):
        category = heading_category(label.group("label"))
        if category:
            return category, label.group("rest").strip()
    marker = unit.sentence.marker
    if marker.endswith(("[x]", "[X]")):
        return None, ""
    if marker.endswith("[ ]"):
        return "todos", unit.text
    if unit.section:
        return unit.section, unit.text
    # NOTE: any sentence ending in a question mark counts as an open
    # question, even one that a later message answers.
    if unit.text.rstrip().endswith(("？", "?")):
        return "questions", unit.text
    return _cue_category(unit.text), unit.text


def _cue_category(text: str) -> Category | None:
    for category, pattern in _SENTENCE_CUES:
        if pattern.search(text):
            return category
    return None


def _dedup_key(text: str) -> str:
    normalized = unicodedata.normalize("NFKC", text).casefold()
    return "".join(char for char in normalized if char.isalnum())
