"""Fenced code blocks of a Markdown body, following CommonMark's fence rules.

A fence opens with at least three backticks or tildes, indented by at most
three spaces, and closes only with a line of the same character, at least
as long, followed by nothing but spaces and tabs. Fences do not nest: inside
a fence every line is code until the closing fence, so a ```evidence line
inside a ````markdown example is example text. An unclosed fence runs to
the end of the body.

NOTE: a fence inside a block quote, or indented four or more spaces under
a list item, is not recognized, so its lines are read as text.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

OPENING = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})(?P<info>.*)$")

LineKind = Literal["text", "open", "code", "close"]


@dataclass(frozen=True)
class Fence:
    """An opening fence line."""

    char: str
    length: int
    info: str = ""
    line: int = 0


@dataclass(frozen=True)
class MarkdownLine:
    """One line of a body and its place relative to fenced code blocks."""

    number: int
    text: str
    kind: LineKind
    fence: Fence | None = None


def opening_fence(line: str, number: int = 0) -> Fence | None:
    """Return the fence that `line` opens, or None when it opens none.

    The info string of a backtick fence may not contain a backtick, because
    such a line is inline code, not a fence.
    """
    match = OPENING.match(line)
    if match is None:
        return None
    fence = match.group("fence")
    info = match.group("info")
    if fence[0] == "`" and "`" in info:
        return None
    return Fence(char=fence[0], length=len(fence), info=info.strip(), line=number)


def closes(line: str, fence: Fence) -> bool:
    """Return True when `line` closes `fence`: same character, at least as long."""
    indent = len(line) - len(line.lstrip(" "))
    if indent > 3:
        return False
    stripped = line[indent:].rstrip(" \t")
    run = len(stripped) - len(stripped.lstrip(fence.char))
    return run >= fence.length and run == len(stripped)


def scan_lines(body: str) -> Iterator[MarkdownLine]:
    """Yield every line of `body` marked as text, a fence line or code."""
    current: Fence | None = None
    for number, raw in enumerate(body.splitlines(), start=1):
        if current is None:
            current = opening_fence(raw, number)
            kind: LineKind = "text" if current is None else "open"
            yield MarkdownLine(number, raw, kind, current)
        elif closes(raw, current):
            yield MarkdownLine(number, raw, "close", current)
            current = None
        else:
            yield MarkdownLine(number, raw, "code", current)
