"""Split text into overlapping windows of a fixed number of tokens.

Windows keep long sessions within what one summarizer call can handle.
Neighbouring windows share `overlap` tokens, so a sentence cut by one
window boundary appears whole in the other window.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass

from vpm.text.sentences import sentence_spans
from vpm.text.tokens import token_spans


@dataclass(frozen=True, slots=True)
class Window:
    """A run of consecutive tokens and the text they cover.

    Attributes:
        index: 0-based position of the window in its sequence.
        token_start: Index of the window's first token.
        token_end: Index just past the window's last token.
        start: Offset of the first covered character in the source text.
        end: Offset just past the last covered character.
        text: ``source[start:end]``.
    """

    index: int
    token_start: int
    token_end: int
    start: int
    end: int
    text: str


# Characters an edge may always move, so ordinary sentences stay whole.
MIN_REACH = 400


def window_ranges(count: int, size: int, overlap: int) -> list[tuple[int, int]]:
    """Return (start, end) index pairs that cover `count` items in windows.

    Each window has `size` items except the last, which may be shorter.
    Consecutive windows share `overlap` items. No window lies inside the
    one before it, so ``count <= size`` gives exactly one window.

    Raises:
        ValueError: `size` is below 1, `overlap` is negative, or `overlap`
            is not smaller than `size`.
    """
    _check_window(size, overlap)
    if count <= 0:
        return []
    step = size - overlap
    ranges = []
    start = 0
    while True:
        end = min(start + size, count)
        ranges.append((start, end))
        if end == count:
            return ranges
        start += step


def split_windows(text: str, size: int, overlap: int) -> list[Window]:
    """Split `text` into windows of `size` tokens sharing `overlap` tokens.

    Tokens are those of `vpm.text.tokens.tokenize`. A window's text runs
    from its first token to its last, so the punctuation between tokens is
    kept. Text without tokens gives no windows.

    Raises:
        ValueError: The sizes are invalid; see `window_ranges`.
    """
    spans = token_spans(text)
    windows = []
    for index, (first, last) in enumerate(window_ranges(len(spans), size, overlap)):
        start = spans[first][0]
        end = spans[last - 1][1]
        windows.append(Window(index, first, last, start, end, text[start:end]))
    return windows


def widen_to_sentences(text: str, windows: list[Window]) -> list[Window]:
    """Widen each window so that it starts and ends on a sentence boundary.

    A window's edges usually fall inside a sentence. A summarizer that
    picks whole sentences would then quote a fragment, so the first and
    last sentence touched are taken whole. Token indices are unchanged.

    An edge moves by at most the window's own length (or MIN_REACH
    characters for short windows): in text with no
    sentence end for a long stretch, every window would otherwise grow to
    that whole stretch and the work would grow with the square of its size.
    """
    sentences = sentence_spans(text)
    starts = [sentence.start for sentence in sentences]
    widened = []
    for window in windows:
        start, end = window.start, window.end
        reach = max(end - start, MIN_REACH)
        first = bisect_right(starts, start) - 1
        if first >= 0 and start < sentences[first].end:
            start = max(sentences[first].start, start - reach)
        last = bisect_left(starts, end) - 1
        if last >= 0 and end < sentences[last].end:
            end = min(sentences[last].end, end + reach)
        widened.append(_with_span(text, window, start, end))
    return widened


def _with_span(text: str, window: Window, start: int, end: int) -> Window:
    return Window(
        window.index, window.token_start, window.token_end, start, end, text[start:end]
    )


def _check_window(size: int, overlap: int) -> None:
    if size < 1:
        raise ValueError(f"window size must be at least 1 token, got {size}")
    if overlap < 0:
        raise ValueError(f"window overlap must not be negative, got {overlap}")
    if overlap >= size:
        raise ValueError(
            f"window overlap ({overlap} tokens) must be smaller than the window "
            f"size ({size} tokens); lower the overlap or raise the size"
        )
