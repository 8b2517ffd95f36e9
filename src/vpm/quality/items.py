"""Read JSONL items: texts to summarize, with or without a reference digest.

One JSON object per line. The text to summarize comes from the first of
these fields that is present:

- ``text`` or ``raw``: a string;
- ``dialogue``: a string, or a list of turns;
- ``messages``: a list of turns.

A turn is a string or an object with ``content`` or ``text`` (and
optionally ``role``). Speaker prefixes such as ``User:`` or ``ユーザー：`` at
the start of a line are removed. The reference digest, when a set has one, is
``reference`` or ``digest_expected``. The item id is ``id`` when present,
otherwise the line number.

A line that cannot be read, invalid UTF-8 included, becomes a `Problem`
with its line number, and the other lines are still read.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from vpm.model import Problem

TEXT_FIELDS = ("text", "raw", "dialogue", "messages")

# A speaker prefix at the start of a line, as transcripts write turns. It
# names the speaker and is no part of the message, so summaries and scores
# leave it out.
_SPEAKER = re.compile(
    r"^[ \t]*(?:user|assistant|system|human|ai|ユーザー|ユーザ|アシスタント|システム)"
    r"[ \t]*[:：][ \t]*",
    re.IGNORECASE | re.MULTILINE,
)
REFERENCE_FIELDS = ("reference", "digest_expected")
_UTF8_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True, slots=True)
class Item:
    """One text to summarize.

    Attributes:
        id: The item's ``id`` field, or its line number as text.
        line: 1-based line in the JSONL input.
        turns: The text as chat turns, in order; one turn for plain text.
        reference: Hand-written reference digest; empty when there is none.
    """

    id: str
    line: int
    turns: tuple[str, ...]
    reference: str = ""

    @property
    def text(self) -> str:
        return "\n\n".join(self.turns)


def decode_lines(data: bytes, source: str) -> tuple[str, list[Problem]]:
    """Decode JSONL bytes line by line as UTF-8.

    A line that is not UTF-8 becomes a `Problem` and an empty line in the
    returned text, so the other lines keep their line numbers. A byte order
    mark at the start is dropped.
    """
    if data.startswith(_UTF8_BOM):
        data = data[len(_UTF8_BOM) :]
    lines: list[str] = []
    problems: list[Problem] = []
    for number, raw in enumerate(data.split(b"\n"), start=1):
        try:
            lines.append(raw.decode("utf-8"))
        except UnicodeDecodeError as exc:
            message = f"invalid UTF-8 at byte {exc.start} of the line; line skipped"
            problems.append(Problem(path=source, line=number, message=message))
            lines.append("")
    return "\n".join(lines), problems


def read_items(
    text: str, source: str, need_reference: bool = False
) -> tuple[list[Item], list[Problem]]:
    """Read every line of a JSONL document into items.

    Args:
        text: The JSONL document.
        source: File name used in problems, such as ``set.jsonl`` or ``-``.
        need_reference: Whether a line without a reference is a problem.
    """
    items: list[Item] = []
    problems: list[Problem] = []
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            items.append(parse_item(line, number, need_reference))
        except ValueError as exc:
            problems.append(Problem(path=source, line=number, message=str(exc)))
    return items, problems


def parse_item(line: str, number: int, need_reference: bool = False) -> Item:
    """Parse one JSONL line.

    Raises:
        ValueError: The line is not a JSON object with a text field, or has
            no reference when one is needed. The message names the cause.
    """
    try:
        record = json.loads(line)
    except (json.JSONDecodeError, RecursionError) as exc:
        detail = getattr(exc, "msg", "nested too deeply")
        raise ValueError(f"invalid JSON ({detail}); line skipped") from None
    if not isinstance(record, dict):
        kind = type(record).__name__
        raise ValueError(f"expected a JSON object, got {kind}; line skipped")
    turns = _turns(record)
    reference = _string_field(record, REFERENCE_FIELDS)
    if need_reference and not reference:
        fields = " or ".join(REFERENCE_FIELDS)
        raise ValueError(f"missing reference digest ({fields}); line skipped")
    item_id = record.get("id")
    return Item(
        id=str(item_id) if item_id is not None else str(number),
        line=number,
        turns=turns,
        reference=reference,
    )


def _turns(record: dict[str, Any]) -> tuple[str, ...]:
    for field in TEXT_FIELDS:
        if field not in record:
            continue
        turns = _turns_of(record[field])
        if turns:
            return turns
        raise ValueError(f"field {field!r} contains no text; line skipped")
    fields = ", ".join(TEXT_FIELDS)
    raise ValueError(f"missing text (none of: {fields}); line skipped")


def _turns_of(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        return ()
    turns = []
    for turn in value:
        if isinstance(turn, dict):
            turn = turn.get("content", turn.get("text"))
        if isinstance(turn, str) and turn.strip():
            turns.append(_SPEAKER.sub("", turn))
    return tuple(turns)


def _string_field(record: dict[str, Any], fields: tuple[str, ...]) -> str:
    for field in fields:
        value = record.get(field)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return ""
