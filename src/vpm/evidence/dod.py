"""Check a definition-of-done checklist in a pull request body.

A policy file lists the items that must be present and ticked:

    section: DoD            # optional: only count boxes under this heading
    required:
      - CI required checks green
      - Evidence files updated

A bare YAML or JSON list of strings is a policy too. Items are compared
after Unicode NFKC normalization (full-width letters, digits, brackets and
spaces become their ASCII forms), case folding and removal of whitespace,
so `［ｘ］ ＣＩ 必須チェック` matches `[x] CI必須チェック`. A box counts as
ticked only when it contains `x`, `X`, `✓` or `✔`; anything else, including an
empty box, is unticked. Boxes and headings inside fenced code blocks do
not count.
"""

from __future__ import annotations

import json
import re
import unicodedata
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, Field

from vpm.evidence.errors import InvalidPolicy
from vpm.evidence.fences import scan_lines

# Matched after NFKC, which turns ［ｘ］ into [x] and － into -.
CHECKBOX = re.compile(
    r"^\s*(?:[-*+•・]|\d{1,3}[.)])\s*\[\s*(?P<mark>[^\]]?)\s*\]\s*(?P<text>.*?)\s*$"
)
HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(?P<title>.*?)\s*#*\s*$")
TICKS = {"x", "X", "✓", "✔"}

ItemStatus = Literal["ticked", "unticked", "missing"]


class Policy(BaseModel):
    """The required items of a definition of done."""

    required: list[str] = Field(description="Items that must be present and ticked.")
    section: str | None = Field(
        default=None,
        description="Heading text; when set, only boxes under a heading that "
        "contains it count.",
    )


class Checkbox(BaseModel):
    """A task-list item of the body."""

    text: str = Field(description="The item's text as written.")
    line: int = Field(description="1-based line in the body.")
    ticked: bool


class ItemResult(BaseModel):
    """A required item and what the body shows for it."""

    item: str = Field(description="The item as the policy writes it.")
    status: ItemStatus
    line: int | None = Field(default=None, description="Line of the matching box.")


class DodCheck(BaseModel):
    """The outcome of checking a body against a policy."""

    items: list[ItemResult]
    extra: list[Checkbox] = Field(
        default_factory=list, description="Boxes the policy does not require."
    )

    @property
    def passed(self) -> bool:
        return all(item.status == "ticked" for item in self.items)


def normalize_item(text: str) -> str:
    """Return the form two items are compared in: NFKC, case-folded, no spaces."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return "".join(folded.split())


def read_policy(path: Path) -> Policy:
    """Read a policy from a YAML or JSON file.

    Raises:
        InvalidPolicy: The file is missing, unparsable or lists no items.
    """
    if not path.is_file():
        raise InvalidPolicy(f"--policy {path}: file not found.")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise InvalidPolicy(
            f"--policy {path}:{line}: cannot be parsed: the file is not valid "
            "UTF-8; save it as UTF-8."
        ) from exc
    except json.JSONDecodeError as exc:
        raise InvalidPolicy(
            f"--policy {path}:{exc.lineno}: cannot be parsed as JSON: {exc.msg} "
            f"(column {exc.colno})."
        ) from exc
    except yaml.YAMLError as exc:
        raise InvalidPolicy(_yaml_error_message(path, exc)) from exc
    return _policy_from(data, path)


def _yaml_error_message(path: Path, exc: yaml.YAMLError) -> str:
    """Condense a PyYAML error, which spans several lines, into one line."""
    if not isinstance(exc, yaml.MarkedYAMLError):
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "unknown"
        return f"--policy {path}: cannot be parsed as YAML: {first}."
    mark = exc.problem_mark or exc.context_mark
    where = f":{mark.line + 1}" if mark else ""
    column = f" (column {mark.column + 1})" if mark else ""
    problem = " ".join((exc.problem or exc.context or "invalid YAML").split())
    return f"--policy {path}{where}: cannot be parsed as YAML: {problem}{column}."


def _policy_from(data: object, path: Path) -> Policy:
    if isinstance(data, list):
        data = {"required": data}
    if not isinstance(data, dict) or not isinstance(data.get("required"), list):
        raise InvalidPolicy(
            f"--policy {path}: expected a list of items, or a mapping with a "
            "`required` list."
        )
    items = data["required"]
    if not items:
        raise InvalidPolicy(f"--policy {path}: `required` lists no items.")
    bad = [item for item in items if not isinstance(item, str) or not item.strip()]
    if bad:
        raise InvalidPolicy(
            f"--policy {path}: every required item must be non-empty text; "
            f"found {bad[0]!r}."
        )
    section = data.get("section")
    if section is not None and not isinstance(section, str):
        raise InvalidPolicy(
            f"--policy {path}: `section` must be text, not {section!r}."
        )
    return Policy(required=[item.strip() for item in items], section=section)


def find_checkboxes(body: str, section: str | None = None) -> list[Checkbox]:
    """Return the task-list items of `body`, optionally under one heading.

    Lines inside fenced code blocks are neither boxes nor headings.
    """
    wanted = normalize_item(section) if section else None
    inside = wanted is None
    boxes = []
    for markdown in scan_lines(body):
        if markdown.kind != "text":
            continue
        number = markdown.number
        line = unicodedata.normalize("NFKC", markdown.text)
        heading = HEADING.match(line)
        if heading and wanted is not None:
            inside = wanted in normalize_item(heading.group("title"))
            continue
        box = CHECKBOX.match(line)
        if box and inside:
            ticked = box.group("mark") in TICKS
            boxes.append(Checkbox(text=box.group("text"), line=number, ticked=ticked))
    return boxes


def check_dod(body: str, policy: Policy) -> DodCheck:
    """Check that every required item is present and ticked in `body`.

    An item that appears more than once must be ticked every time, so a
    ticked copy cannot hide an unticked one.
    """
    boxes = find_checkboxes(body, policy.section)
    by_key: dict[str, list[Checkbox]] = {}
    for box in boxes:
        by_key.setdefault(normalize_item(box.text), []).append(box)

    results = []
    for item in policy.required:
        found = by_key.get(normalize_item(item), [])
        unticked = [box for box in found if not box.ticked]
        if not found:
            results.append(ItemResult(item=item, status="missing"))
        elif unticked:
            results.append(
                ItemResult(item=item, status="unticked", line=unticked[0].line)
            )
        else:
            results.append(ItemResult(item=item, status="ticked", line=found[0].line))
    required = {normalize_item(item) for item in policy.required}
    extra = [box for box in boxes if normalize_item(box.text) not in required]
    return DodCheck(items=results, extra=extra)
