"""Read the evidence block of a pull request body.

The block is a fenced code block whose info string is `evidence`:

    ```evidence
    reports/p5_1_autoscale.md
    - `reports/slo_*.json`   the SLO probe outputs
    ```

Each line names one path or glob, optionally after a list bullet (`-`,
`*`, `+`, `1.`) and inside backticks. A path with spaces must be in
backticks. Text after a backticked path is a note and is kept with the
entry. Lines starting with `#` are comments and
blank lines are skipped. Any other line is reported as not a path, never
dropped. A body may hold several blocks; their entries are combined. A
block inside another fenced block (a ````markdown example) is not read.
"""

from __future__ import annotations

import posixpath
import re
import sys
from pathlib import Path

from pydantic import BaseModel, Field

from vpm.evidence.errors import InvalidBody
from vpm.evidence.fences import Fence, scan_lines

EVIDENCE_INFO = "evidence"
BULLET = re.compile(r"^(?:[-*+•・]|\d{1,3}[.)])\s+")
BACKTICKED = re.compile(r"^`([^`]+)`(?:\s+(.*))?$")
URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
FORBIDDEN = re.compile(r"[\x00-\x1f\x7f<>|\"]")
DRIVE = re.compile(r"^[A-Za-z]:/")


class EvidenceEntry(BaseModel):
    """One line of an evidence block."""

    line: int = Field(description="1-based line of the entry in the body.")
    text: str = Field(description="The line as written, trimmed.")
    path: str | None = Field(
        default=None, description="Normalized repository-relative path or glob."
    )
    note: str = Field(default="", description="Text after a backticked path.")
    error: str | None = Field(
        default=None, description="Why the line is not an acceptable path."
    )
    outside: bool = Field(
        default=False, description="The path points outside the repository."
    )


class EvidenceBlock(BaseModel):
    """The evidence entries of a body and where its blocks are."""

    entries: list[EvidenceEntry] = Field(default_factory=list)
    block_lines: list[int] = Field(
        default_factory=list, description="Opening line of each evidence block."
    )
    unclosed_line: int | None = Field(
        default=None, description="Opening line of a block that is never closed."
    )


def read_body(source: str) -> str:
    """Read a body from a file, or from standard input when `source` is `-`.

    Raises:
        InvalidBody: The file does not exist or is not UTF-8 text.
    """
    if source == "-":
        data = sys.stdin.buffer.read()
    else:
        path = Path(source)
        if not path.is_file():
            raise InvalidBody(f"--body {source}: file not found.")
        data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InvalidBody(
            f"--body {source}: line {line} is not valid UTF-8; save the body as UTF-8."
        ) from exc


def parse_evidence_block(body: str) -> EvidenceBlock:
    """Collect the entries of every evidence block in `body`.

    Fences are tracked as CommonMark tracks them (see `vpm.evidence.fences`),
    so an evidence block shown inside a longer outer fence is not read.
    """
    block = EvidenceBlock()
    open_evidence: int | None = None
    for line in scan_lines(body):
        is_evidence = line.fence is not None and _is_evidence(line.fence)
        if line.kind == "open" and is_evidence:
            block.block_lines.append(line.number)
            open_evidence = line.number
        elif line.kind == "close":
            open_evidence = None
        elif line.kind == "code" and is_evidence:
            entry = parse_entry(line.text, line.number)
            if entry is not None:
                block.entries.append(entry)
    block.unclosed_line = open_evidence
    return block


def _is_evidence(fence: Fence) -> bool:
    return fence.info.casefold() == EVIDENCE_INFO


def parse_entry(raw: str, number: int) -> EvidenceEntry | None:
    """Parse one line of a block; None for blank and comment lines."""
    text = raw.strip()
    if not text or text.startswith("#"):
        return None
    candidate = BULLET.sub("", text, count=1)
    note = ""
    quoted = BACKTICKED.match(candidate)
    if quoted:
        candidate, note = quoted.group(1).strip(), (quoted.group(2) or "").strip()
    entry = EvidenceEntry(line=number, text=text, note=note)
    error = _not_a_path(candidate, is_quoted=quoted is not None)
    if error:
        entry.error = error
        return entry
    path = normalize_path(candidate)
    if path is None:
        entry.outside = True
        entry.error = "it points outside the repository"
        return entry
    if path == ".":
        entry.error = "it names the repository root, not a file"
        return entry
    entry.path = path
    return entry


def _not_a_path(candidate: str, is_quoted: bool) -> str | None:
    if not candidate:
        return "it names no path"
    if URL.match(candidate):
        return "it is a URL, not a repository path"
    if not is_quoted and any(char.isspace() for char in candidate):
        return "it contains spaces; put the path in backticks to add a note after it"
    if FORBIDDEN.search(candidate):
        return "it contains characters a repository path cannot have"
    return None


def normalize_path(candidate: str) -> str | None:
    """Return the repository-relative form of a path, or None if it escapes.

    Backslashes become slashes and `./` and `a/../` are folded. An absolute
    path, a home-relative path, a drive letter or a `..` that climbs above
    the root returns None. The repository root itself (`.`) is returned as
    `.`.
    """
    path = candidate.replace("\\", "/")
    if path.startswith(("/", "~")) or DRIVE.match(path):
        return None
    trailing = "/" if path.endswith("/") else ""
    folded = posixpath.normpath(path)
    if folded == ".." or folded.startswith("../"):
        return None
    if folded == ".":
        return folded
    return folded + trailing
