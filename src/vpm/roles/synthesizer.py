"""Synthesizer: render the digest, the navigation diagram and a state patch.

It never edits the state document; the patch is a proposal in unified
diff form for a person (or a pull request) to apply.
"""

from __future__ import annotations

import difflib
import re
from datetime import datetime

from pydantic import BaseModel, Field

from vpm.egspace.findings import top_mover_lines
from vpm.model import Finding, SessionDigest
from vpm.roles.context import RoleContext
from vpm.roles.planner import PlanOutput
from vpm.state import markers as m
from vpm.state.citations import find_citations
from vpm.state.parse import StateDocument

CJK = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")
MARK = re.compile(
    r"\s*[（(]\s*←\s*(?:現在地|current)\s*[)）]|\s*\((?:current)\)", re.IGNORECASE
)


class SynthesisInput(BaseModel):
    """The plan and the session digests of one cycle."""

    plan: PlanOutput
    digests: list[SessionDigest] = Field(default_factory=list)


class SynthesisOutput(BaseModel):
    """Rendered outputs; the archivist writes them to files."""

    summary: str = Field(
        description="Summary of the cycle's sessions, or of the plan when there "
        "are none; at most the summary limit."
    )
    cycle_summary: str = Field(
        default="", description="Phase, δ and next move in at most the limit."
    )
    digest_markdown: str
    mermaid: str
    state_patch: str = Field(description="Unified diff against the state document.")
    patch_changes: list[str] = Field(
        default_factory=list, description="One line per proposed change."
    )


def synthesize(
    inp: SynthesisInput, ctx: RoleContext, doc: StateDocument | None
) -> SynthesisOutput:
    """Render the digest, the diagram and the proposed state patch."""
    summary = _summary(inp, ctx)
    patch, changes = (
        propose_patch(doc, inp.plan.findings, ctx.clock()) if doc else ("", [])
    )
    limit = ctx.settings.summary_max_chars
    return SynthesisOutput(
        summary=summary,
        cycle_summary=clip_text(_plan_head(inp.plan), limit),
        digest_markdown=render_digest(
            inp,
            summary,
            top_mover_lines(ctx.project, ctx.data_dir, settings=ctx.settings),
        ),
        mermaid=render_mermaid(inp.plan),
        state_patch=patch,
        patch_changes=changes,
    )


def _summary(inp: SynthesisInput, ctx: RoleContext) -> str:
    limit = ctx.settings.summary_max_chars
    if not inp.digests:
        return clip_text(_plan_head(inp.plan), limit)
    joined = "\n".join(d.summary for d in inp.digests)
    text, _run = ctx.engine.summarize(joined, max_chars=limit)
    return clip_text(text, limit)


def _plan_head(plan: PlanOutput) -> str:
    phase = plan.phase or "Phase unknown"
    return f"{phase}: {plan.delta} Next: {plan.next_move.action}"


def clip_text(text: str, limit: int) -> str:
    """Cut `text` to at most `limit` characters at a sentence or word end."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    head = text[: limit - 1]
    for marks in ("。！？.!?", "、, "):
        cut = max(head.rfind(mark) for mark in marks)
        if cut >= limit // 2:
            return head[: cut + 1].rstrip() + "…"
    return head + "…"


def _bullets(items: list[str], empty: str = "- (none)") -> list[str]:
    return [f"- {item}" for item in items] or [empty]


def render_digest(
    inp: SynthesisInput, summary: str, movers: list[str] | None = None
) -> str:
    """Render the cycle digest as Markdown; `movers` are EG-Space list items."""
    plan = inp.plan
    decisions, questions, todos, risks = [], [], [], []
    for digest in inp.digests:
        decisions += digest.extractions.decisions
        questions += digest.extractions.questions
        todos += digest.extractions.todos
        risks += digest.extractions.risks
    lines = [
        "# Session digest",
        "",
        "## Summary",
        "",
        summary,
        "",
        f"({len(summary)} characters)",
    ]
    lines += ["", "## Current position (C)", ""]
    lines += _bullets([_cite(t.text, plan.state_path, t.line) for t in plan.current])
    lines += ["", "## Goal (G)", ""]
    lines += _bullets([_cite(t.text, plan.state_path, t.line) for t in plan.goal])
    lines += ["", "## Exit criteria", ""]
    lines += _bullets(
        [
            f"{'met' if c.met else 'not met'}: {c.text} ({c.basis})"
            for c in plan.criteria
        ]
    )
    lines += ["", "## Gap (δ)", "", plan.delta, ""]
    lines += _bullets([_finding_line(f) for f in plan.findings], "- No findings.")
    for title, items in (
        ("Decisions", decisions),
        ("Open questions", questions),
        ("Todos", todos),
        ("Risks", risks),
    ):
        lines += ["", f"## {title}", ""] + _bullets(_unique(items))
    move = plan.next_move
    lines += [
        "",
        "## Next move",
        "",
        f"**{move.action}**",
        "",
        f"Rule `{move.rule}`: {move.reason}",
    ]
    if move.cites:
        lines += ["", "Cites: " + ", ".join(f"`{c}`" for c in move.cites)]
    if inp.digests:
        lines += ["", "## Sessions", ""]
        for digest in inp.digests:
            run = digest.run
            fallback = f", fell back: {run.reason}" if run.fallback else ""
            lines.append(
                f"- `{digest.source}` session {digest.session_id}: "
                f"{digest.message_count} messages, engine {run.engine}{fallback}"
            )
            lines.append(f"  - {digest.summary}")
    if movers:
        lines += ["", "## EG-Space: top movers", "", *movers]
    return "\n".join(lines) + "\n"


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _cite(text: str, path: str, line: int | None) -> str:
    return f"{text} ({path}:{line})" if line else text


def _finding_line(finding: Finding) -> str:
    label = f"**{finding.kind}** ({finding.severity})"
    text = f"{label} `{finding.location}`: {finding.message}"
    if finding.evidence:
        where = (
            f"{finding.evidence}:{finding.evidence_line}"
            if finding.evidence_line
            else finding.evidence
        )
        text += f" Evidence `{where}`"
    if finding.quote:
        text += f" — “{finding.quote[:160]}”"
    return text


def _mermaid_label(text: str, limit: int = 60) -> str:
    text = text.replace('"', "'").replace("\n", " ")
    text = text.replace("<", "‹").replace(">", "›").replace("[", "(").replace("]", ")")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def render_mermaid(plan: PlanOutput) -> str:
    """Render C → δ → next move → G as a Mermaid flowchart."""
    counts: dict[str, int] = {}
    for finding in plan.findings:
        counts[finding.kind] = counts.get(finding.kind, 0) + 1
    met = sum(c.met for c in plan.criteria)
    lines = [
        "flowchart LR",
        f'  C["C: {_mermaid_label(plan.phase or "phase unknown")}"]',
        f'  D{{"δ: {len(plan.findings)} findings, {met}/{len(plan.criteria)} '
        'criteria met"}',
        f'  N["Next: {_mermaid_label(plan.next_move.action)}"]',
        f'  G["G: {_mermaid_label(plan.short_goal or "goal unknown")}"]',
        "  C --> D --> N --> G",
    ]
    for index, (kind, count) in enumerate(sorted(counts.items())):
        lines.append(f'  K{index}["{kind} × {count}"]')
        lines.append(f"  D -.- K{index}")
    return "\n".join(lines) + "\n"


# the proposed state patch


DISPUTED_KINDS = {
    "evidence-contradicts-claim",
    "metric-violates-target",
    "missing-evidence",
    "unverified-claim",
}


def propose_patch(
    doc: StateDocument, findings: list[Finding], now: datetime
) -> tuple[str, list[str]]:
    """Return a unified diff that resolves what can be resolved mechanically."""
    lines = list(doc.lines)
    changes: list[str] = []
    disputed = {f.subject for f in findings if f.kind in DISPUTED_KINDS and f.subject}
    # Bottom-up, so a fix that inserts a line leaves the line numbers of
    # the findings above it valid.
    for finding in sorted(findings, key=lambda f: -(f.line or 0)):
        if finding.path != doc.path or not finding.line:
            continue
        if finding.kind == "stale-section" and finding.subject in disputed:
            # Its "done" entry is itself contradicted, so the item may well
            # be the truth; leave it for a person.
            continue
        fix = _FIXES.get(finding.kind)
        if fix is not None:
            note = fix(lines, finding, doc)
            if note:
                changes.append(f"line {finding.line}: {note}")
    changes.reverse()
    if changes:
        _touch_updated_at(lines, doc, now)
    diff = difflib.unified_diff(
        _with_newlines(doc.lines, doc),
        _with_newlines(lines, doc),
        fromfile=f"a/{doc.path}",
        tofile=f"b/{doc.path}",
    )
    return "".join(diff), changes


def _with_newlines(lines: list[str], doc: StateDocument) -> list[str]:
    """Give lines back the document's own line ending, as `patch` expects.

    The parsed lines end with an empty string when the file ends with a
    newline; that entry is not a line of the file.
    """
    body = lines[:-1] if doc.ends_with_newline else lines
    ended = [line + doc.newline for line in body]
    if ended and not doc.ends_with_newline:
        ended[-1] = ended[-1][: -len(doc.newline)] + "\n\\ No newline at end of file\n"
    return ended


def _fix_freeze(lines: list[str], finding: Finding, _doc: StateDocument) -> str | None:
    """Swap the literal true/false the line states, and an English on/off."""
    index = finding.line - 1
    text = lines[index]
    if '"freeze": false' in finding.message and "true" in text:
        lines[index] = text.replace("true", "false", 1).replace(" is on ", " is off ")
        return "state the deploy freeze as false, as the freeze file records"
    if '"freeze": true' in finding.message and "false" in text:
        lines[index] = text.replace("false", "true", 1).replace(" is off ", " is on ")
        return "state the deploy freeze as true, as the freeze file records"
    return None


def _fix_missing(lines: list[str], finding: Finding, _doc: StateDocument) -> str | None:
    if not finding.evidence or not finding.suggestion:
        return None
    closest = find_citations(finding.suggestion, 0)
    index = finding.line - 1
    if not closest or finding.evidence not in lines[index]:
        return None
    lines[index] = lines[index].replace(finding.evidence, closest[0].path)
    return (
        f"cite {closest[0].path} instead of the missing {finding.evidence} "
        "(the closest existing name; check that it is the intended file)"
    )


def _fix_stale(lines: list[str], finding: Finding, _doc: StateDocument) -> str | None:
    index = finding.line - 1
    text = lines[index]
    listed = m.LIST_ITEM.match(text)
    if (
        not listed
        or "~~" in text
        or not finding.subject
        and "line" not in finding.message
    ):
        return None
    body = listed.group("text")
    prefix = text[: listed.start("text")]
    done_line = re.search(r"line (\d+)", finding.message)
    where = done_line.group(1) if done_line else "?"
    note = f"（完了: L{where}）" if CJK.search(body) else f" (done: line {where})"
    lines[index] = f"{prefix}~~{body.rstrip()}~~{note}"
    return "strike through an item recorded as done"


def _fix_phase(lines: list[str], finding: Finding, doc: StateDocument) -> str | None:
    index = finding.line - 1
    if not MARK.search(lines[index]):
        return None
    declared = m.phase_refs(doc.phase or "")
    lines[index] = MARK.sub("", lines[index], count=1)
    if declared:
        phase_number = declared[0].lstrip("P")
        for other in range(len(lines)):
            if (
                other != index
                and re.search(rf"Phase\s*{phase_number}\b", lines[other])
                and m.LIST_ITEM.match(lines[other])
                and abs(other - index) < 10
            ):
                lines[other] = lines[other].replace(
                    f"Phase {phase_number}", f"Phase {phase_number}（←現在地）", 1
                )
                return f"move the current-phase mark to Phase {phase_number}"
        lines.insert(index + 1, f"- **{doc.phase}（←現在地）**")
    return f"mark {doc.phase} as the current phase"


_FIXES = {
    "freeze-mismatch": _fix_freeze,
    "missing-evidence": _fix_missing,
    "stale-section": _fix_stale,
    "phase-mismatch": _fix_phase,
}


def _touch_updated_at(lines: list[str], doc: StateDocument, now: datetime) -> None:
    line = doc.front.line_of("updated_at")
    if not line:
        return
    stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    lines[line - 1] = re.sub(
        r"(updated_at\**\s*:\s*).*$", rf"\g<1>{stamp}", lines[line - 1]
    )
