"""Parse a state document into sections, claims and criteria.

The parser never fails on content: a part it cannot read becomes a
`Problem` with file and line, and the rest of the document is still read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vpm.errors import StateNotFound
from vpm.model import Problem
from vpm.sources.files import decode_utf8
from vpm.state import markers as m
from vpm.state.citations import Citation, find_citations
from vpm.state.frontmatter import FrontMatter, read_front_matter


@dataclass
class Section:
    """A Markdown heading and the lines under it, up to the next heading."""

    heading: str
    level: int
    line: int
    end: int
    role: str
    parent_role: str = "other"

    @property
    def effective_role(self) -> str:
        if self.role != "other":
            return self.role
        # A document title such as "# この文書の役割" sits above every
        # section; its role does not apply to the sections under it.
        return (
            "other" if self.parent_role in ("purpose", "phases") else self.parent_role
        )


@dataclass
class Item:
    """A list item, checkbox or plain text line of the body."""

    text: str
    line: int
    section: Section | None
    checked: bool | None = None
    ids: list[str] = field(default_factory=list)

    @property
    def role(self) -> str:
        return self.section.effective_role if self.section else "other"


@dataclass
class Claim:
    """A statement that a milestone or item is done, started or planned.

    Attributes:
        subject: Milestone id (P2-1) when the claim names one.
        label: The claim's own words, shortened.
        line: Line of the claim (a heading or a list item).
        status: "done", "started" or "open".
        citations: Evidence the claim cites.
        says_evidence: The text claims that evidence exists ("証跡あり").
        form: "block" (heading with a Status line), "line" or "checkbox".
        status_line: Line of the Status entry of a block, if any.
    """

    subject: str | None
    label: str
    line: int
    status: str
    citations: list[Citation] = field(default_factory=list)
    says_evidence: bool = False
    form: str = "line"
    status_line: int | None = None


@dataclass
class PhaseMark:
    """A body line that names the current phase."""

    phase: str
    line: int
    text: str


@dataclass
class StateDocument:
    """A parsed state document."""

    path: str
    lines: list[str]
    front: FrontMatter
    sections: list[Section]
    items: list[Item]
    claims: list[Claim]
    phase_marks: list[PhaseMark]
    problems: list[Problem]
    newline: str = "\n"

    @property
    def ends_with_newline(self) -> bool:
        return bool(self.lines) and self.lines[-1] == ""

    @property
    def phase(self) -> str | None:
        value = self.front.values.get("phase")
        return str(value) if value not in (None, "") else None

    @property
    def short_goal(self) -> str | None:
        value = self.front.values.get("short_goal")
        return str(value) if value not in (None, "") else None

    @property
    def exit_criteria(self) -> list[tuple[str, int | None]]:
        """Exit criteria with their lines, from the front matter."""
        values = self.front.values.get("exit_criteria") or []
        if isinstance(values, str):
            values = [values]
        start = self.front.line_of("exit_criteria")
        result = []
        for offset, value in enumerate(values):
            line = start + offset + 1 if start else None
            result.append((str(value), line))
        return result

    def section_items(self, role: str) -> list[Item]:
        return [item for item in self.items if item.role == role]

    def sections_with_role(self, role: str) -> list[Section]:
        return [s for s in self.sections if s.role == role]

    def line_text(self, line: int) -> str:
        return self.lines[line - 1] if 0 < line <= len(self.lines) else ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "front_matter": self.front.values,
            "front_matter_form": self.front.form,
            "sections": [
                {"heading": s.heading, "line": s.line, "role": s.role}
                for s in self.sections
            ],
            "claims": [
                {
                    "subject": c.subject,
                    "label": c.label,
                    "line": c.line,
                    "status": c.status,
                    "citations": [x.path for x in c.citations],
                }
                for c in self.claims
            ],
        }


def read_state(path: Path, rel: str) -> StateDocument:
    """Read and parse the state document at `path`.

    Raises:
        StateNotFound: The file does not exist.
    """
    if not path.is_file():
        raise StateNotFound(
            f"no state document at {rel}; create it or pass the right project"
        )
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise StateNotFound(
            f"cannot read the state document {rel}: {exc.strerror}"
        ) from exc
    text, problem = decode_utf8(raw, rel)
    document = parse_state(text, rel)
    if problem is not None:
        document.problems.insert(0, problem)
    return document


def parse_state(text: str, rel: str) -> StateDocument:
    """Parse the text of a state document; `rel` names it in messages."""
    newline = "\r\n" if "\r\n" in text else "\n"
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    front = read_front_matter(lines, rel)
    problems = list(front.problems)
    if not text.strip():
        problems.append(
            Problem(path=rel, line=1, message="the state document is empty")
        )
    if front.form == "none":
        problems.append(
            Problem(
                path=rel,
                line=1,
                message="no front matter found; phase, short_goal and "
                "exit_criteria are unknown, the body was still read",
            )
        )
    sections = _sections(lines, front)
    items = _items(lines, sections, front)
    claims = _claims(lines, sections, front)
    phase_marks = _phase_marks(lines, front)
    return StateDocument(
        path=rel,
        lines=lines,
        front=front,
        sections=sections,
        items=items,
        claims=claims,
        phase_marks=phase_marks,
        problems=problems,
        newline=newline,
    )


def _body_lines(lines: list[str], front: FrontMatter, start: int = 1):
    """Yield (line number, text) of lines outside the front matter and fences."""
    in_fence = False
    for number in range(start, len(lines) + 1):
        text = lines[number - 1]
        if front.start <= number <= front.end:
            continue
        if text.lstrip().startswith("```"):
            in_fence = not in_fence
            continue
        if not in_fence:
            yield number, text


def _sections(lines: list[str], front: FrontMatter) -> list[Section]:
    sections: list[Section] = []
    stack: list[Section] = []
    for number, text in _body_lines(lines, front):
        match = m.HEADING.match(text)
        if not match:
            continue
        level = len(match.group("hashes"))
        heading = match.group("text").strip()
        while stack and stack[-1].level >= level:
            stack.pop()
        parent = stack[-1].effective_role if stack else "other"
        section = Section(heading, level, number, len(lines), m.section_role(heading))
        section.parent_role = parent
        if sections:
            sections[-1].end = number - 1
        sections.append(section)
        stack.append(section)
    return sections


def _section_at(sections: list[Section], line: int) -> Section | None:
    current = None
    for section in sections:
        if section.line <= line:
            current = section
        else:
            break
    return current


def _items(lines: list[str], sections: list[Section], front: FrontMatter) -> list[Item]:
    items = []
    for number, text in _body_lines(lines, front):
        stripped = text.strip()
        if not stripped or m.HEADING.match(text) or stripped in ("---", "***"):
            continue
        section = _section_at(sections, number)
        checkbox = m.CHECKBOX.match(text)
        if checkbox:
            checked = checkbox.group("mark") != " "
            body = checkbox.group("text")
        else:
            checked = None
            listed = m.LIST_ITEM.match(text)
            body = listed.group("text") if listed else stripped
        items.append(Item(body, number, section, checked, m.milestone_ids(body)))
    return items


NARRATIVE_ROLES = {"current", "goal", "delta", "priority", "phases", "purpose"}
STATUS_WINDOW = 3


def _claims(
    lines: list[str], sections: list[Section], front: FrontMatter
) -> list[Claim]:
    claims: list[Claim] = []
    taken: set[int] = set()
    outside_fences = {n for n, _ in _body_lines(lines, front)}
    for index in range(len(sections)):
        claim = _block_claim(lines, sections, index, outside_fences)
        if claim is not None:
            claims.append(claim)
            taken.add(claim.line)
            if claim.status_line:
                taken.add(claim.status_line)
            taken.update(c.line for c in claim.citations)
    pending: Claim | None = None
    for number, text in _body_lines(lines, front):
        if m.HEADING.match(text):
            pending = None
            continue
        if number in taken:
            continue
        section = _section_at(sections, number)
        if section is not None and section.effective_role in NARRATIVE_ROLES:
            continue
        inherited = _status_of(section.heading) if section else None
        claim = _line_claim(text, number, inherited)
        if claim is not None:
            claims.append(claim)
            pending = claim
        elif pending is not None and m.EVIDENCE_LINE.match(text):
            _extend_unique(pending.citations, find_citations(text, number))
        elif text.strip():
            pending = None
    claims.sort(key=lambda c: c.line)
    return claims


def _extend_unique(target: list[Citation], new: list[Citation]) -> None:
    known = {c.path for c in target}
    for citation in new:
        if citation.path not in known:
            known.add(citation.path)
            target.append(citation)


def _block_end(sections: list[Section], index: int) -> int:
    """Last line of a section including its sub-sections."""
    section = sections[index]
    for later in sections[index + 1 :]:
        if later.level <= section.level:
            return later.line - 1
    return section.end if index == len(sections) - 1 else sections[-1].end


def _block_claim(
    lines: list[str], sections: list[Section], index: int, outside_fences: set[int]
) -> Claim | None:
    """Read a claim from a heading with a Status entry or a status word and id.

    Evidence of a block is what its `Evidence:` lines cite, in the section
    and its sub-sections.
    """
    section = sections[index]
    status_value, status_line = _status_entry(lines, section)
    ids = m.milestone_ids(section.heading)
    # A heading such as "Completed P5 Milestones" introduces a list of
    # claims; only a sub-milestone id (P2-3) makes the heading a claim.
    has_sub_id = any("-" in ident or "." in ident for ident in ids)
    heading_status = _status_of(section.heading) if has_sub_id else None
    if status_value is None and heading_status is None:
        return None
    status = _status_of(status_value or "") or heading_status or "open"
    citations: list[Citation] = []
    says_evidence = False
    for number in range(section.line + 1, _block_end(sections, index) + 1):
        text = lines[number - 1]
        if number not in outside_fences:
            continue
        if m.EVIDENCE_LINE.match(text) or number == status_line:
            _extend_unique(citations, find_citations(text, number))
            says_evidence = says_evidence or bool(m.SAYS_EVIDENCE.search(text))
    return Claim(
        subject=ids[0] if ids else None,
        label=section.heading[:120],
        line=section.line,
        status=status,
        citations=citations,
        says_evidence=says_evidence,
        form="block",
        status_line=status_line,
    )


def _status_entry(lines: list[str], section: Section) -> tuple[str | None, int | None]:
    seen = 0
    for number in range(section.line + 1, section.end + 1):
        text = lines[number - 1]
        if not text.strip():
            continue
        match = m.STATUS_LINE.match(text)
        if match:
            return match.group("value"), number
        seen += 1
        if seen >= STATUS_WINDOW:
            break
    return None, None


def _line_claim(text: str, number: int, inherited: str | None) -> Claim | None:
    checkbox = m.CHECKBOX.match(text)
    if checkbox:
        body = checkbox.group("text")
        status: str | None = "done" if checkbox.group("mark") != " " else "open"
        form = "checkbox"
    else:
        listed = m.LIST_ITEM.match(text)
        body = listed.group("text") if listed else text.strip()
        status = _status_of(body) or (inherited if listed else None)
        form = "line"
        if status is None:
            return None
    status_entry = m.STATUS_LINE.match(text)
    if status_entry:
        body = status_entry.group("value")
    ids = m.milestone_ids(body)
    says_evidence = bool(m.SAYS_EVIDENCE.search(body))
    citations = find_citations(text, number)
    if form == "line" and not ids and not says_evidence and not citations:
        return None
    return Claim(
        subject=ids[0] if ids else None,
        label=body.strip()[:120],
        line=number,
        status=status,
        citations=citations,
        says_evidence=says_evidence,
        form=form,
    )


def _status_of(text: str) -> str | None:
    if m.NOT_DONE.search(text):
        return "open"
    if m.STARTED.search(text):
        return "started"
    if m.DONE.search(text):
        return "done"
    return None


def _phase_marks(lines: list[str], front: FrontMatter) -> list[PhaseMark]:
    marks = []
    for number, text in _body_lines(lines, front):
        if not m.CURRENT_PHASE_MARK.search(text):
            continue
        refs = m.phase_refs(text)
        if refs:
            marks.append(PhaseMark(refs[0], number, text.strip()))
    return marks
