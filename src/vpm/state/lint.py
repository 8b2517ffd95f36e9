"""Contradictions inside a state document, and between it and `.ops/`.

These checks need only the document (and the deploy freeze file); the
checks of cited evidence live in `vpm.state.evidence`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from vpm.model import Finding, Problem
from vpm.state import markers as m
from vpm.state.parse import Claim, Item, StateDocument

FREEZE_FILE = ".ops/deploy_freeze.json"
PART_SPLIT = re.compile(r"\s*(?:／|/|\+|＋|、|,)\s*")
WORD = re.compile(r"[a-z][a-z0-9-]{2,}|[\u30a0-\u30ff]{2,}|[\u4e00-\u9fff]{2,}")
STOP_WORDS = {
    "phase", "evidence", "the", "and", "with", "for", "step", "証跡", "実行",
    "完了", "未充足", "欠落", "ready", "green", "done",
}  # fmt: skip
NARRATIVE_ROLES = ("current", "delta", "priority", "goal")


@dataclass
class FreezeState:
    """The deploy freeze as `.ops/deploy_freeze.json` records it."""

    frozen: bool | None
    problem: Problem | None = None


def read_freeze(project: Path) -> FreezeState | None:
    """Read the freeze flag; None when the project has no freeze file."""
    path = project / FREEZE_FILE
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        line = getattr(exc, "lineno", None)
        problem = Problem(path=FREEZE_FILE, line=line, message=f"invalid JSON: {exc}")
        return FreezeState(None, problem)
    value = data.get("freeze", data.get("frozen")) if isinstance(data, dict) else None
    if not isinstance(value, bool):
        problem = Problem(
            path=FREEZE_FILE,
            line=1,
            message='expected {"freeze": true|false}; the freeze state is unknown',
        )
        return FreezeState(None, problem)
    return FreezeState(value)


def lint_document(
    doc: StateDocument, freeze: FreezeState | None, *, check_freeze: bool = True
) -> list[Finding]:
    """Run every document-only check and return the findings in line order.

    `freeze` None means the project has no freeze file; pass
    `check_freeze=False` when the project folder is unknown.
    """
    done = done_index(doc)
    findings = [
        *find_phase_mismatch(doc),
        *find_stale_items(doc, done),
        *find_stale_goal_heading(doc),
        *find_open_items(doc, done),
    ]
    if check_freeze:
        findings.extend(find_freeze_mismatch(doc, freeze))
    return sorted(findings, key=lambda f: (f.line or 0, f.kind))


def done_index(doc: StateDocument) -> dict[str, list[Claim]]:
    """Map each milestone id to the claims that record it as done."""
    index: dict[str, list[Claim]] = {}
    for claim in doc.claims:
        if claim.status == "done" and claim.subject:
            for ident in m.milestone_ids(claim.label) or [claim.subject]:
                index.setdefault(ident, []).append(claim)
    return index


def _phase_key(value: str | None) -> str | None:
    refs = m.phase_refs(value or "")
    return refs[0] if refs else None


def find_phase_mismatch(doc: StateDocument) -> list[Finding]:
    declared = _phase_key(doc.phase)
    if declared is None:
        return []
    front_line = doc.front.line_of("phase")
    findings = []
    for mark in doc.phase_marks:
        if mark.phase != declared:
            findings.append(
                Finding(
                    kind="phase-mismatch",
                    severity="error",
                    message=(
                        f"The front matter declares phase '{doc.phase}' (line "
                        f"{front_line}), but the body marks {mark.phase} as the "
                        "current phase."
                    ),
                    path=doc.path,
                    line=mark.line,
                    quote=mark.text[:200],
                    suggestion=f"Move the current-phase mark to {declared}, "
                    "or correct the front matter.",
                )
            )
    header = str(doc.front.values.get("context_header") or "")
    match = re.search(r"phase=([^/\"]+)", header)
    if match and _phase_key(match.group(1)) not in (None, declared):
        findings.append(
            Finding(
                kind="phase-mismatch",
                severity="error",
                message=(
                    f"context_header says phase={match.group(1).strip()}, but "
                    f"phase is '{doc.phase}'."
                ),
                path=doc.path,
                line=doc.front.line_of("context_header"),
                quote=header[:200],
            )
        )
    return findings


def find_stale_items(doc: StateDocument, done: dict[str, list[Claim]]) -> list[Finding]:
    """Items listed as missing, next or goal that later entries record as done."""
    findings = []
    for item in doc.items:
        if item.role not in NARRATIVE_ROLES:
            continue
        if item.role in ("current", "delta") and not m.NOT_DONE.search(item.text):
            continue
        proof = _recorded_done(item, done)
        if proof is None:
            continue
        section = item.section.heading if item.section else "body"
        findings.append(
            Finding(
                kind="stale-section",
                severity="warning",
                message=(
                    f"Section '{section}' still lists this as "
                    f"{_listed_as(item)}, but line {proof.line} records it as "
                    f"done ({proof.label[:60]})."
                ),
                path=doc.path,
                line=item.line,
                subject=proof.subject,
                quote=item.text[:200],
                suggestion="Update or remove the item; it is recorded as done.",
            )
        )
    return findings


def _listed_as(item: Item) -> str:
    return {
        "current": "missing",
        "delta": "a remaining gap",
        "priority": "a next task",
        "goal": "a goal",
    }[item.role]


def _recorded_done(item: Item, done: dict[str, list[Claim]]) -> Claim | None:
    """Return a done claim that covers every thing the item names."""
    if item.ids:
        proofs = [done[i][0] for i in item.ids if i in done]
        if len(proofs) == len(item.ids):
            return proofs[0]
        return None
    for part in PART_SPLIT.split(item.text):
        phase = _phase_key(part)
        if phase is None or not phase.startswith("P"):
            continue
        words = _words(part)
        for ident, claims in done.items():
            if ident != phase and not ident.startswith(phase + "-"):
                continue
            for claim in claims:
                if words & _words(claim.label):
                    return claim
    return None


def _words(text: str) -> set[str]:
    words = set()
    for word in WORD.findall(text.lower()):
        word = m.GLOSSARY.get(word, word)
        if word not in STOP_WORDS:
            words.add(word)
    for japanese, english in m.GLOSSARY.items():
        if japanese in text and english not in STOP_WORDS:
            words.add(english)
    return words


def find_stale_goal_heading(doc: StateDocument) -> list[Finding]:
    """Find goal headings that name an earlier phase than the declared one."""
    declared = _phase_key(doc.phase)
    if declared is None or not declared.startswith("P"):
        return []
    findings = []
    for section in doc.sections_with_role("goal"):
        named = _phase_key(section.heading)
        if named and named.startswith("P") and int(named[1:]) < int(declared[1:]):
            findings.append(
                Finding(
                    kind="stale-section",
                    severity="warning",
                    message=(
                        f"The goal section names {named} ('{section.heading}'), "
                        f"but the front matter declares '{doc.phase}' with "
                        f"short_goal '{doc.short_goal or '-'}'."
                    ),
                    path=doc.path,
                    line=section.line,
                    quote=section.heading,
                    suggestion="Rewrite the goal section for the current phase.",
                )
            )
    return findings


def find_open_items(doc: StateDocument, done: dict[str, list[Claim]]) -> list[Finding]:
    """Items started and never finished, and unticked boxes of WIP lists."""
    declared = _phase_key(doc.phase)
    findings = []
    for claim in doc.claims:
        if claim.status == "started":
            findings.extend(_open_started(doc, claim, done, declared))
        elif claim.form == "checkbox" and claim.status == "open":
            findings.append(_open_checkbox(doc, claim))
    return [f for f in findings if f is not None]


def _open_started(
    doc: StateDocument, claim: Claim, done: dict[str, list[Claim]], declared: str | None
) -> list[Finding]:
    found = []
    for ident in m.milestone_ids(claim.label) or (
        [claim.subject] if claim.subject else []
    ):
        if ident in done:
            continue
        earlier = declared is not None and not ident.startswith(declared)
        found.append(
            Finding(
                kind="open-item",
                severity="warning" if earlier else "info",
                message=(
                    f"{ident} is marked as started but no entry records it as done"
                    + (
                        f"; the project has since moved to {declared}."
                        if earlier
                        else "."
                    )
                ),
                path=doc.path,
                line=claim.line,
                subject=ident,
                quote=claim.label,
            )
        )
    return found


def _open_checkbox(doc: StateDocument, claim: Claim) -> Finding | None:
    section = next((s for s in reversed(doc.sections) if s.line <= claim.line), None)
    if section is None or section.effective_role not in ("wip", "criteria"):
        return None
    return Finding(
        kind="open-item",
        severity="info",
        message=f"Unticked item in '{section.heading}': {claim.label[:80]}",
        path=doc.path,
        line=claim.line,
        quote=claim.label,
    )


def find_freeze_mismatch(
    doc: StateDocument, freeze: FreezeState | None
) -> list[Finding]:
    """State text about the deploy freeze that disagrees with the freeze file."""
    findings = []
    for item in doc.items:
        text = item.text
        if not m.FREEZE_WORD.search(text):
            continue
        says_on = bool(m.FREEZE_ON.search(text))
        says_off = bool(m.FREEZE_OFF.search(text))
        if says_on == says_off:
            continue
        if freeze is None:
            findings.append(
                Finding(
                    kind="freeze-mismatch",
                    severity="warning",
                    message=(
                        f"The state document says the deploy freeze is "
                        f"{'on' if says_on else 'off'}, but {FREEZE_FILE} does "
                        "not exist."
                    ),
                    path=doc.path,
                    line=item.line,
                    quote=text[:200],
                )
            )
        elif freeze.frozen is not None and freeze.frozen != says_on:
            actual = "true" if freeze.frozen else "false"
            findings.append(
                Finding(
                    kind="freeze-mismatch",
                    severity="error",
                    message=(
                        f"The state document says the deploy freeze is "
                        f"{'on' if says_on else 'off'}, but {FREEZE_FILE} has "
                        f'"freeze": {actual}.'
                    ),
                    path=doc.path,
                    line=item.line,
                    evidence=FREEZE_FILE,
                    evidence_line=1,
                    quote=text[:200],
                    suggestion=f"State the freeze as {actual}, or change the file.",
                )
            )
    return findings
