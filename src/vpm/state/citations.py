"""Find the file paths a line of a state document cites."""

from __future__ import annotations

import re
from dataclasses import dataclass

BACKTICK = re.compile(r"`([^`\n]+)`")
BARE_PATH = re.compile(
    r"(?<![\w/.:@-])((?:\.{1,2}/)*(?:\.?[A-Za-z0-9_-]+/)+[A-Za-z0-9_.*\-]*"
    r"(?:\.[A-Za-z0-9]+|\*))"
)
TRAVERSAL = re.compile(r"(?<![\w/.])((?:\.\./)+[^\s`'\"）)、,]+)")
EXTENSION = re.compile(r"\.[A-Za-z0-9]{1,8}$")


@dataclass(frozen=True)
class Citation:
    """A path cited on one line of the state document."""

    path: str
    line: int
    column: int


def find_citations(text: str, line: int) -> list[Citation]:
    """Return the paths cited in `text` (one line), each once, in order."""
    found: list[Citation] = []
    seen: set[str] = set()
    for match in BACKTICK.finditer(text):
        candidate = match.group(1).strip()
        if _looks_like_path(candidate):
            _add(found, seen, candidate, line, match.start(1))
    masked = BACKTICK.sub(lambda m: " " * len(m.group(0)), text)
    for pattern in (TRAVERSAL, BARE_PATH):
        for match in pattern.finditer(masked):
            _add(found, seen, match.group(1), line, match.start(1))
    return found


def _add(found: list[Citation], seen: set[str], path: str, line: int, col: int) -> None:
    path = path.rstrip(".,;:、。）)")
    if path and path not in seen:
        seen.add(path)
        found.append(Citation(path=path, line=line, column=col))


def _looks_like_path(text: str) -> bool:
    if " " in text or "\t" in text or "=" in text or "://" in text:
        return False
    if text.startswith("/") or text.startswith("../"):
        return True
    if "/" not in text:
        return False
    first = text.split("/", 1)[0]
    if ":" in text:
        return False
    if "." in first and not first.startswith("."):
        # ko.local/hello-ai or ghcr.io/owner/app: an image reference.
        return False
    last = text.rstrip("/").rsplit("/", 1)[-1]
    return bool(EXTENSION.search(last)) or "*" in last or text.endswith("/")
