"""Split Japanese and English text, Markdown included, into sentences.

A sentence ends at 。！？ (and the full-width period ．), at ``.``, ``!`` or
``?`` followed by a space or the end of the line, and at ``!`` or ``?``
followed directly by Japanese text. Closing brackets and quotes after the
mark stay with the sentence.

Every line break is a boundary, because notes and chat messages put one
item per line. The one exception is a hard-wrapped English paragraph: a
plain line that starts with a lower-case letter continues the sentence
above it when that sentence has no end mark yet.

Markdown headings, list items (``-``, ``*``, ``+``, ``・``, ``1.``, ``1)``,
task boxes ``- [ ]``) and block quotes are boundaries too. Their markers are
removed from the sentence text and kept in `Sentence.marker`. YAML front
matter, fenced code blocks, horizontal rules and table separator rows
contain no sentences.

Lines end at ``\n`` only (``\r\n`` included), so line numbers match what
editors show.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Literal

from vpm.text.tokens import is_cjk

SentenceKind = Literal["heading", "item", "text"]

_FULL_STOPS = "。！？．｡"
_LATIN_STOPS = ".!?"
_STOP_MARK = re.compile(f"[{re.escape(_FULL_STOPS + _LATIN_STOPS)}]")
# Closing brackets and quotes that may follow an end mark inside a sentence.
CLOSING_MARKS = "\"')]}」』）】〕〉》”’"
# Abbreviations whose final period does not end a sentence, written in lower
# case and without that period.
_ABBREVIATIONS = frozenset(
    {"e.g", "i.e", "vs", "mr", "mrs", "ms", "dr", "prof", "fig", "cf", "approx"}
)

_LINE = re.compile(r"[^\n]*\n|[^\n]+$")
_FRONT_MATTER = re.compile(
    r"\A---[ \t]*\r?\n(?:.*\n)*?(?:---|\.\.\.)[ \t]*(?:\r?\n|\Z)"
)
_FENCE = re.compile(r"^\s*(```|~~~)")
_HEADING = re.compile(r"^ {0,3}(#{1,6})\s+(.*?)(?:\s+#+)?\s*$")
_ITEM = re.compile(
    r"^(?P<indent>\s*)"
    r"(?P<bullet>[-*+]\s+|[・•]\s*|\d{1,3}[.)．、]\s+)"
    r"(?P<box>\[[ xX]\]\s+)?"
)
_QUOTE = re.compile(r"^\s*(?:>\s?)+")
_RULE = re.compile(r"^\s*(?:[-*_=]\s*){3,}$|^\s*\|?(?:\s*:?-{3,}:?\s*\|)+\s*:?-*:?\s*$")


@dataclass(frozen=True, slots=True)
class Sentence:
    """One sentence and where it came from.

    Attributes:
        text: The sentence, without Markdown markers. A hard-wrapped line
            break inside it is replaced by one space.
        start: Offset of the sentence's first character in the source text.
        end: Offset just past its last character in the source text.
        line: 1-based line of the sentence's first character.
        kind: ``heading``, ``item`` (a list item) or ``text``.
        marker: The Markdown marker removed from the line, stripped, such as
            ``##``, ``-``, ``1.`` or ``- [ ]``; empty for plain text.
        level: Heading level (1-6) for headings, the indentation in spaces
            for list items, 0 for plain text.
    """

    text: str
    start: int
    end: int
    line: int
    kind: SentenceKind = "text"
    marker: str = ""
    level: int = 0


@dataclass
class _Block:
    """A logical line: Markdown markers removed, wrapped lines joined."""

    text: str
    line: int
    kind: SentenceKind
    marker: str
    level: int
    # One (offset in `text`, offset in the source) pair per joined line, at
    # the line's start.
    pieces: list[tuple[int, int]]

    def source_offset(self, offset: int) -> int:
        base_text, base_source = self.pieces[0]
        for text_offset, source_offset in self.pieces:
            if text_offset > offset:
                break
            base_text, base_source = text_offset, source_offset
        return base_source + offset - base_text


def split_sentences(text: str) -> list[str]:
    """Split `text` into sentence strings; see the module docstring."""
    return [sentence.text for sentence in sentence_spans(text)]


def sentence_spans(text: str) -> list[Sentence]:
    """Split `text` into sentences with their spans, kinds and markers."""
    sentences: list[Sentence] = []
    for block in _read_blocks(text):
        sentences.extend(_split_block(block))
    return sentences


def ends_sentence(text: str) -> bool:
    """Return True if `text` ends with a sentence end mark."""
    stripped = text.rstrip().rstrip(CLOSING_MARKS)
    return bool(stripped) and stripped[-1] in _FULL_STOPS + _LATIN_STOPS


def _read_blocks(text: str) -> list[_Block]:
    blocks: list[_Block] = []
    in_fence = False
    previous_blank = True
    offset = 0
    skipped = _front_matter_lines(text)
    for number, raw in enumerate(_LINE.findall(text), start=1):
        line_start = offset
        offset += len(raw)
        line = raw.rstrip("\r\n")
        if number <= skipped:
            continue
        if _FENCE.match(line):
            in_fence = not in_fence
            previous_blank = True
            continue
        if in_fence or not line.strip() or _RULE.match(line):
            previous_blank = True
            continue
        block = _parse_line(line, line_start, number)
        if not previous_blank and blocks and _continues(blocks[-1], block):
            _join(blocks[-1], block)
        else:
            blocks.append(block)
        previous_blank = False
    return blocks


def _front_matter_lines(text: str) -> int:
    """Return how many lines YAML front matter takes at the start of `text`."""
    match = _FRONT_MATTER.match(text)
    if not match:
        return 0
    block = match.group()
    return block.count("\n") + (0 if block.endswith("\n") else 1)


def _parse_line(line: str, line_start: int, number: int) -> _Block:
    heading = _HEADING.match(line)
    if heading:
        content_start = heading.start(2)
        content = heading.group(2)
        return _block(
            content,
            line_start + content_start,
            number,
            "heading",
            heading.group(1),
            len(heading.group(1)),
        )
    item = _ITEM.match(line)
    if item:
        marker = (
            item.group("bullet").strip() + " " + (item.group("box") or "")
        ).strip()
        indent = len(item.group("indent").expandtabs(4))
        return _block(
            line[item.end() :], line_start + item.end(), number, "item", marker, indent
        )
    quote = _QUOTE.match(line)
    if quote and quote.end() > 0:
        return _block(
            line[quote.end() :], line_start + quote.end(), number, "text", ">", 0
        )
    return _block(line, line_start, number, "text", "", 0)


def _block(
    content: str, start: int, number: int, kind: SentenceKind, marker: str, level: int
) -> _Block:
    stripped = content.lstrip()
    start += len(content) - len(stripped)
    return _Block(stripped.rstrip(), number, kind, marker, level, [(0, start)])


def _continues(previous: _Block, block: _Block) -> bool:
    """Tell whether `block` is a hard-wrapped continuation of `previous`."""
    if block.kind != "text" or block.marker or previous.kind == "heading":
        return False
    first = block.text[:1]
    return first.isascii() and first.islower() and not ends_sentence(previous.text)


def _join(previous: _Block, block: _Block) -> None:
    text_offset = len(previous.text) + 1
    previous.pieces.append((text_offset, block.pieces[0][1]))
    previous.text = f"{previous.text} {block.text}"


def _split_block(block: _Block) -> list[Sentence]:
    template = Sentence("", 0, 0, block.line, block.kind, block.marker, block.level)
    sentences = []
    for start, end in _sentence_bounds(block.text):
        piece = block.text[start:end]
        if not any(char.isalnum() for char in piece):
            continue
        source_start = block.source_offset(start)
        source_end = block.source_offset(end - 1) + 1
        line = block.line + _count_joins(block, start)
        sentences.append(
            replace(template, text=piece, start=source_start, end=source_end, line=line)
        )
    return sentences


def _count_joins(block: _Block, offset: int) -> int:
    return sum(1 for text_offset, _ in block.pieces[1:] if text_offset <= offset)


def _sentence_bounds(text: str) -> list[tuple[int, int]]:
    """Return (start, end) offsets of the sentences in one logical line."""
    bounds = []
    start = 0
    index = 0
    while index < len(text):
        # Only a stop mark can end a sentence, so the scan jumps to the next.
        mark = _STOP_MARK.search(text, index)
        if mark is None:
            break
        index = mark.start()
        end = _end_of_sentence(text, start, index)
        if end is None:
            index += 1
            continue
        bounds.append(_strip_bounds(text, start, end))
        start = index = end
    if start < len(text):
        bounds.append(_strip_bounds(text, start, len(text)))
    return [(s, e) for s, e in bounds if e > s]


def _end_of_sentence(text: str, start: int, index: int) -> int | None:
    """Return the end offset of a sentence whose end mark is at `index`.

    None means that the character at `index` does not end a sentence.
    """
    char = text[index]
    if char not in _FULL_STOPS and char not in _LATIN_STOPS:
        return None
    end = index + 1
    while end < len(text) and text[end] in _FULL_STOPS + _LATIN_STOPS + CLOSING_MARKS:
        end += 1
    if char in _FULL_STOPS:
        return end
    following = text[end] if end < len(text) else ""
    if char in "!?" and following and is_cjk(following):
        return end
    if following and not following.isspace():
        return None
    if char == "." and _is_abbreviation(text, start, index):
        return None
    return end


def _is_abbreviation(text: str, start: int, period: int) -> bool:
    word_start = period
    while word_start > start and not text[word_start - 1].isspace():
        word_start -= 1
    word = text[word_start:period].lower().strip("(\"'")
    return word in _ABBREVIATIONS


def _strip_bounds(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end
