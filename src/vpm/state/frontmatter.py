"""Find and read the key-value declaration at the top of a state document.

Real state documents declare their keys in several ways, all seen in
practice:

- a YAML block between two `---` lines (the usual front matter);
- bare YAML lines before the first `---` line, often under a heading
  such as `# === State Declaration ===` (YAML reads that heading as a
  comment);
- a fenced ```yaml block, at the top or under a "state declaration"
  heading;
- bold Markdown keys, one per line: `**phase**: Phase 2`.

Every form records the 1-based line of each key so findings can cite it.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from vpm.model import Problem

KEY_LINE = re.compile(r"^([A-Za-z_][\w-]*)\s*:(\s|$)")
BOLD_KEY_LINE = re.compile(r"^\*\*([A-Za-z_][\w-]*)\*\*\s*[:：]\s*(.*?)\s*$")
FENCE_YAML = re.compile(r"^```\s*ya?ml\s*$", re.IGNORECASE)
DECLARATION_HEADING = re.compile(r"状態宣言|State Declaration|front ?matter", re.I)
SCAN_LINES = 60
# A front matter block may hold long exit-criteria lists; its closing
# `---` is looked for this far.
MAX_FRONT_MATTER_LINES = 5000


class _NoAliasLoader(yaml.SafeLoader):
    """SafeLoader that rejects aliases, which can expand without limit."""

    def compose_node(self, parent, index):  # type: ignore[no-untyped-def]
        if self.check_event(yaml.events.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(
                None, None, "aliases (*name) are not allowed", event.start_mark
            )
        return super().compose_node(parent, index)


@dataclass
class FrontMatter:
    """The declared keys of a state document and where they are."""

    values: dict[str, Any] = field(default_factory=dict)
    key_lines: dict[str, int] = field(default_factory=dict)
    start: int = 0
    end: int = 0
    form: str = "none"
    problems: list[Problem] = field(default_factory=list)

    def line_of(self, key: str) -> int | None:
        return self.key_lines.get(key)


def read_front_matter(lines: list[str], path: str) -> FrontMatter:
    """Find the declaration block in `lines` and parse it.

    Returns an empty `FrontMatter` (form "none") when the document has no
    declaration. Problems in a declaration are reported, and the keys that
    can still be read are kept.
    """
    for finder in (_dashed_block, _bare_block, _fenced_block, _bold_block):
        block = finder(lines)
        if block is not None:
            return _parse_block(lines, block, path)
    return FrontMatter()


@dataclass
class _Block:
    form: str
    start: int  # 1-based line of the first line of the block, delimiters included
    end: int  # 1-based line of the last line of the block, delimiters included
    body_start: int  # 1-based line of the first YAML line


def _first_content_line(lines: list[str]) -> int | None:
    for index, line in enumerate(lines):
        if line.strip():
            return index
    return None


def _dashed_block(lines: list[str]) -> _Block | None:
    first = _first_content_line(lines)
    if first is None or lines[first].strip() != "---":
        return None
    for index in range(first + 1, min(len(lines), first + 1 + MAX_FRONT_MATTER_LINES)):
        if lines[index].strip() in ("---", "..."):
            return _Block("yaml", first + 1, index + 1, first + 2)
    return _Block("yaml-unterminated", first + 1, first + 1, first + 2)


def _bare_block(lines: list[str]) -> _Block | None:
    """Key lines at the top of the document, ended by a `---` line."""
    key_count = 0
    for index, line in enumerate(lines[:SCAN_LINES]):
        stripped = line.strip()
        if stripped == "---":
            if key_count >= 2:
                return _Block("yaml-bare", 1, index + 1, 1)
            return None
        if line.startswith("```") or (stripped.startswith("## ") and key_count == 0):
            return None
        if KEY_LINE.match(line):
            key_count += 1
    return None


def _fenced_block(lines: list[str]) -> _Block | None:
    """Find a ```yaml fence at the top or under a declaration heading."""
    first = _first_content_line(lines)
    for index, line in enumerate(lines[:SCAN_LINES]):
        if not FENCE_YAML.match(line.strip()):
            continue
        is_top = index == first
        if not is_top and not _under_declaration_heading(lines, index):
            continue
        for end in range(index + 1, len(lines)):
            if lines[end].strip().startswith("```"):
                return _Block("yaml-fenced", index + 1, end + 1, index + 2)
        return _Block("yaml-unterminated", index + 1, index + 1, index + 2)
    return None


def _under_declaration_heading(lines: list[str], index: int) -> bool:
    for back in range(index - 1, max(-1, index - 6), -1):
        text = lines[back].strip()
        if text.startswith("#"):
            return bool(DECLARATION_HEADING.search(text))
    return False


def _bold_block(lines: list[str]) -> _Block | None:
    rows = [i for i, line in enumerate(lines[:SCAN_LINES]) if BOLD_KEY_LINE.match(line)]
    if len(rows) < 2:
        return None
    return _Block("bold", rows[0] + 1, rows[-1] + 1, rows[0] + 1)


def _parse_block(lines: list[str], block: _Block, path: str) -> FrontMatter:
    result = FrontMatter(start=block.start, end=block.end, form=block.form)
    if block.form == "bold":
        _parse_bold(lines, block, result)
        return result
    if block.form == "yaml-unterminated":
        result.problems.append(
            Problem(
                path=path,
                line=block.start,
                message="front matter is never closed; add a closing '---' "
                "(or ``` for a fenced block). Keys were read line by line.",
            )
        )
        block.end = _salvage_end(lines, block.body_start)
        result.end = block.end
        _salvage(lines, block.body_start, block.end, result)
        return result
    last_yaml = block.end - 1 if block.form != "yaml-bare" else block.end - 1
    text = "\n".join(lines[block.body_start - 1 : last_yaml])
    try:
        data = yaml.load(text, Loader=_NoAliasLoader) if text.strip() else {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = block.body_start + mark.line if mark is not None else block.start
        reason = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        result.problems.append(
            Problem(
                path=path,
                line=line,
                message=f"invalid YAML in front matter ({reason}); keys were "
                "read line by line instead.",
            )
        )
        _salvage(lines, block.body_start, last_yaml, result)
        return result
    if not isinstance(data, dict):
        result.problems.append(
            Problem(
                path=path,
                line=block.start,
                message="front matter is not a mapping of keys to values; "
                "it was ignored.",
            )
        )
        return result
    result.values = {str(k): _plain(v) for k, v in data.items()}
    _record_key_lines(lines, block.body_start, last_yaml, result, path)
    return result


def _salvage_end(lines: list[str], start: int) -> int:
    end = start - 1
    for index in range(start - 1, min(len(lines), start - 1 + SCAN_LINES)):
        line = lines[index]
        if line.startswith("#") and not line.startswith("# ==="):
            break
        end = index + 1
    return max(end, start)


def _salvage(lines: list[str], start: int, end: int, result: FrontMatter) -> None:
    """Read `key: value` lines and `- item` lists one by one."""
    current_list: str | None = None
    for number in range(start, end + 1):
        if number - 1 >= len(lines):
            break
        line = lines[number - 1]
        match = KEY_LINE.match(line)
        if match:
            key = match.group(1)
            value = line[match.end(1) :].lstrip()[1:].strip()
            value = _strip_comment(value)
            result.key_lines.setdefault(key, number)
            if value:
                result.values.setdefault(key, value.strip("'\""))
                current_list = None
            else:
                result.values.setdefault(key, [])
                current_list = key
        elif current_list and line.strip().startswith("- "):
            item = _strip_comment(line.strip()[2:]).strip("'\"")
            values = result.values.get(current_list)
            if isinstance(values, list):
                values.append(item)


def _strip_comment(value: str) -> str:
    if value.startswith(("'", '"')):
        return value
    return re.split(r"\s+#", value, maxsplit=1)[0].strip()


def _parse_bold(lines: list[str], block: _Block, result: FrontMatter) -> None:
    for number in range(block.start, block.end + 1):
        match = BOLD_KEY_LINE.match(lines[number - 1])
        if match:
            key, value = match.group(1), _strip_comment(match.group(2))
            result.values.setdefault(key, value.strip("'\""))
            result.key_lines.setdefault(key, number)


def _record_key_lines(
    lines: list[str], start: int, end: int, result: FrontMatter, path: str
) -> None:
    """Remember each key's line; YAML keeps the last of repeated keys."""
    for number in range(start, end + 1):
        if number - 1 >= len(lines):
            break
        match = KEY_LINE.match(lines[number - 1])
        if not match:
            continue
        key = match.group(1)
        if key in result.key_lines:
            result.problems.append(
                Problem(
                    path=path,
                    line=number,
                    message=f"key '{key}' repeats line {result.key_lines[key]}; "
                    "the value on this line is used",
                )
            )
        result.key_lines[key] = number


def _plain(value: Any) -> Any:
    """Turn YAML dates into ISO strings so the values serialize to JSON."""
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value
