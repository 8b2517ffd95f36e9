"""Planner: verify claims against evidence, lint the state, decide the move.

The next move is chosen by `decide_next_move`, a fixed ordered list of
rules (see docs/next-move.md). The engine may reword the chosen action but
never chooses it, so the same inputs always give the same decision.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, Field

from vpm.egspace.findings import egspace_findings
from vpm.errors import StateNotFound
from vpm.evidence import find_overdue_trials, find_stale_freeze
from vpm.model import Criterion, Finding, NextMove, Problem
from vpm.roles.context import RoleContext
from vpm.settings import load_settings
from vpm.state import markers as m
from vpm.state.evidence import EvidenceCheck, check_citation, findings_for_claim
from vpm.state.lint import done_index, lint_document, read_freeze
from vpm.state.metrics import (
    extract_measurements,
    extract_targets,
    find_metric_violations,
)
from vpm.state.parse import Claim, StateDocument, read_state

log = logging.getLogger("vpm")

SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2}


class TextLine(BaseModel):
    """A line of the state document quoted in C or G."""

    text: str
    line: int | None = None


class PlanInput(BaseModel):
    """Request to plan: which project and state document."""

    project: str
    state_file: str = "STATE/current_state.md"
    data_dir: str | None = Field(
        default=None,
        description="vpm's data folder of the project; default PROJECT/.vpm.",
    )


class PlanOutput(BaseModel):
    """C, G, δ and the next move, each finding citing file and line."""

    state_path: str
    phase: str | None = None
    short_goal: str | None = None
    current: list[TextLine] = Field(default_factory=list)
    goal: list[TextLine] = Field(default_factory=list)
    criteria: list[Criterion] = Field(default_factory=list)
    findings: list[Finding] = Field(default_factory=list)
    delta: str = Field(default="", description="One-sentence summary of the gap.")
    next_move: NextMove
    problems: list[Problem] = Field(default_factory=list)
    evidence_checked: list[str] = Field(
        default_factory=list, description="Cited evidence paths that were checked."
    )


def plan(inp: PlanInput, ctx: RoleContext | None = None) -> PlanOutput:
    """Plan from the files as they are now; reads, never writes."""
    project = Path(inp.project)
    try:
        doc = read_state(project / inp.state_file, inp.state_file)
    except StateNotFound as exc:
        return _plan_without_state(inp, str(exc))
    if not any(line.strip() for line in doc.lines):
        return _plan_without_state(inp, f"the state document {inp.state_file} is empty")
    freeze = read_freeze(project)
    problems = list(doc.problems)
    if freeze is not None and freeze.problem is not None:
        problems.append(freeze.problem)
    max_bytes = ctx.settings.max_evidence_bytes if ctx else 2_000_000
    verified = _verify_claims(doc, project, max_bytes)
    metric_findings = _metric_findings(doc, project, verified.checks, max_bytes)
    for index, finding in enumerate(metric_findings):
        subject = verified.taint(finding.evidence or finding.path)
        if subject:
            metric_findings[index] = finding.model_copy(update={"subject": subject})
    criteria = _criteria(doc, verified.clean)
    for check in verified.checks.values():
        problems.extend(check.problems)
    findings = [
        *lint_document(doc, freeze),
        *verified.findings,
        *metric_findings,
        *_goal_findings(doc, criteria),
        *find_stale_freeze(project, doc),
        *find_overdue_trials(project, _data_dir(inp, ctx, project)),
        *egspace_findings(
            project,
            _data_dir(inp, ctx, project),
            ctx.settings if ctx else load_settings(project),
        ),
    ]
    findings = _dedupe(findings)
    move = decide_next_move(findings, criteria, doc)
    if ctx is not None:
        move = _word_move(move, ctx)
    return PlanOutput(
        state_path=doc.path,
        phase=doc.phase,
        short_goal=doc.short_goal,
        current=_current(doc),
        goal=_goal(doc),
        criteria=criteria,
        findings=findings,
        delta=_delta_summary(findings, criteria),
        next_move=move,
        problems=problems,
        evidence_checked=sorted(verified.checks),
    )


def _data_dir(inp: PlanInput, ctx: RoleContext | None, project: Path) -> Path:
    if ctx is not None:
        return ctx.data_dir
    return Path(inp.data_dir) if inp.data_dir else project / ".vpm"


def _plan_without_state(inp: PlanInput, message: str) -> PlanOutput:
    problem = Problem(path=inp.state_file, message=message)
    move = NextMove(
        rule="write-state",
        action=f"Write the state document {inp.state_file}.",
        reason="There is no state document, so C, G and δ are unknown.",
    )
    return PlanOutput(state_path=inp.state_file, next_move=move, problems=[problem])


# claims and evidence


@dataclass
class _Verification:
    """Results of checking every claim against its evidence."""

    findings: list[Finding] = field(default_factory=list)
    checks: dict[str, EvidenceCheck] = field(default_factory=dict)
    clean: dict[int, bool] = field(default_factory=dict)
    claims_by_evidence: dict[str, list[Claim]] = field(default_factory=dict)

    def taint(self, evidence: str) -> str | None:
        """Mark every claim citing `evidence` as not shown; return a subject."""
        subject = None
        for path, claims in self.claims_by_evidence.items():
            check = self.checks.get(path)
            if path != evidence and (check is None or evidence not in check.files):
                continue
            for claim in claims:
                self.clean[claim.line] = False
                subject = subject or claim.subject
        return subject


def _verify_claims(doc: StateDocument, project: Path, max_bytes: int) -> _Verification:
    result = _Verification()
    cited_subjects = {c.subject for c in doc.claims if c.citations and c.subject}
    for claim in doc.claims:
        if claim.status != "done":
            # Only a claim of success is checked: a planned or started item
            # may name a report or branch pattern that does not exist yet.
            continue
        if not claim.citations:
            finding = _unverified(doc, claim, cited_subjects)
            if finding is not None:
                result.findings.append(finding)
            continue
        is_clean = True
        for citation in claim.citations:
            if citation.path not in result.checks:
                result.checks[citation.path] = check_citation(
                    project, citation.path, max_bytes=max_bytes
                )
            result.claims_by_evidence.setdefault(citation.path, []).append(claim)
            found = findings_for_claim(
                result.checks[citation.path],
                claim_path=doc.path,
                claim_line=citation.line,
                subject=claim.subject,
                claims_success=True,
            )
            is_clean = is_clean and not found
            result.findings.extend(found)
        result.clean[claim.line] = is_clean
    return result


def _unverified(
    doc: StateDocument, claim: Claim, cited_subjects: set[str | None]
) -> Finding | None:
    if claim.subject in cited_subjects:
        return None
    if claim.says_evidence:
        message = "The claim states that evidence exists but cites no file."
    elif claim.subject and claim.form in ("block", "line"):
        message = f"{claim.subject} is marked done but cites no evidence."
    else:
        return None
    return Finding(
        kind="unverified-claim",
        severity="warning",
        message=message,
        path=doc.path,
        line=claim.status_line or claim.line,
        subject=claim.subject,
        quote=claim.label,
        suggestion="Cite the report that shows it, e.g. `Evidence: reports/...`.",
    )


def _criteria(doc: StateDocument, clean: dict[int, bool]) -> list[Criterion]:
    done = done_index(doc)
    criteria = []
    for text, line in doc.exit_criteria:
        ids = m.milestone_ids(text)
        subject = ids[0] if ids else None
        claims = done.get(subject, []) if subject else []
        verified = [c for c in claims if clean.get(c.line)]
        if not subject:
            basis, met = "names no milestone id, so no entry can be matched", False
        elif verified:
            basis, met = f"line {verified[0].line} cites evidence that checks out", True
        elif claims:
            lines = ", ".join(str(c.line) for c in claims)
            basis, met = f"claimed done at line {lines}, not shown by evidence", False
        else:
            basis, met = "no entry records it as done", False
        criteria.append(
            Criterion(text=text, line=line, subject=subject, met=met, basis=basis)
        )
    return criteria


def _metric_findings(
    doc: StateDocument, project: Path, checks: dict[str, EvidenceCheck], max_bytes: int
) -> list[Finding]:
    targets = list(extract_targets("\n".join(doc.lines), doc.path))
    measurements = []
    for check in checks.values():
        for rel in check.files:
            text = _read_text(project / rel, max_bytes)
            if text is None:
                continue
            targets.extend(extract_targets(text, rel))
            measurements.extend(extract_measurements(text, rel))
    return find_metric_violations(targets, measurements)


def _read_text(path: Path, max_bytes: int) -> str | None:
    try:
        if path.stat().st_size > max_bytes:
            return None
        return path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError):
        return None


def _goal_findings(doc: StateDocument, criteria: list[Criterion]) -> list[Finding]:
    if not criteria or not all(c.met for c in criteria):
        return []
    return [
        Finding(
            kind="goal-reached",
            severity="warning",
            message=(
                f"All {len(criteria)} exit criteria are met by evidence, but the "
                f"goal has not been advanced (short_goal: "
                f"'{doc.short_goal or '-'}')."
            ),
            path=doc.path,
            line=doc.front.line_of("exit_criteria") or doc.front.line_of("short_goal"),
            suggestion="Set the next phase's short_goal and exit_criteria.",
        )
    ]


def _dedupe(findings: list[Finding]) -> list[Finding]:
    seen = set()
    unique = []
    for item in findings:
        key = (item.kind, item.path, item.line, item.evidence, item.subject)
        if key not in seen:
            seen.add(key)
            unique.append(item)
    return sorted(
        unique, key=lambda f: (f.path, f.line or 0, SEVERITY_ORDER[f.severity], f.kind)
    )


# C, G, δ


def _current(doc: StateDocument) -> list[TextLine]:
    lines = [TextLine(text=f"phase: {doc.phase}", line=doc.front.line_of("phase"))]
    if doc.phase is None:
        lines = []
    lines += [TextLine(text=i.text, line=i.line) for i in doc.section_items("current")]
    return lines


def _goal(doc: StateDocument) -> list[TextLine]:
    lines = []
    if doc.short_goal:
        lines.append(
            TextLine(text=doc.short_goal, line=doc.front.line_of("short_goal"))
        )
    lines += [TextLine(text=text, line=line) for text, line in doc.exit_criteria]
    if not doc.exit_criteria:
        lines += [TextLine(text=i.text, line=i.line) for i in doc.section_items("goal")]
    return lines


def _delta_summary(findings: list[Finding], criteria: list[Criterion]) -> str:
    counts: dict[str, int] = {}
    for item in findings:
        counts[item.kind] = counts.get(item.kind, 0) + 1
    kinds = ", ".join(f"{n} {k}" for k, n in sorted(counts.items())) or "no findings"
    met = sum(c.met for c in criteria)
    return f"{met} of {len(criteria)} exit criteria met by evidence; {kinds}."


# the next move

RULES: list[tuple[str, tuple[str, ...], str]] = [
    (
        "re-verify-contradicted",
        ("evidence-contradicts-claim", "metric-violates-target"),
        "Re-run the check behind {subject} and record new evidence; the cited "
        "evidence shows the claim is not met ({where}).",
    ),
    (
        "supply-evidence",
        ("missing-evidence", "invalid-citation", "unverified-claim"),
        "Cite existing evidence for {subject}, or withdraw the claim ({where}).",
    ),
    (
        "reconcile-freeze",
        ("freeze-mismatch", "freeze-outlived"),
        "Make the state document and .ops/deploy_freeze.json agree ({where}).",
    ),
    (
        "close-overdue-trial",
        ("trial-overdue",),
        "Close the trial past its time box with its result, or extend it on "
        "purpose ({where}).",
    ),
    (
        "reconcile-state",
        ("phase-mismatch", "stale-section"),
        "Update the state document where it contradicts itself ({where}).",
    ),
    (
        "refocus-drift",
        ("egspace-drift",),
        "Refocus the next work on the goal: the distance δ to it has grown "
        "over the last state versions ({where}).",
    ),
    (
        "advance-goal",
        ("goal-reached",),
        "Advance the goal: set the next short_goal and exit criteria ({where}).",
    ),
]


def decide_next_move(
    findings: list[Finding], criteria: list[Criterion], doc: StateDocument | None
) -> NextMove:
    """Choose the next move by the first rule that applies.

    The rules are checked in this order: contradicted claims, claims
    without evidence, the deploy freeze, trials past their time box and
    self-contradictions of the state document. Then come a growing distance
    to the goal in EG-Space, a reached goal, the first unmet exit criterion,
    the first started item and the first priority task. Within a rule the finding
    with the lowest line wins; errors come before warnings.
    """
    for rule, kinds, template in RULES:
        matching = [f for f in findings if f.kind in kinds]
        if matching:
            first = min(
                matching, key=lambda f: (SEVERITY_ORDER[f.severity], f.line or 0)
            )
            subject = first.subject or first.evidence or "the claim"
            return NextMove(
                rule=rule,
                action=template.format(subject=subject, where=first.location),
                reason=first.message,
                subject=first.subject,
                cites=[f.location for f in matching[:10]],
            )
    unmet = [c for c in criteria if not c.met]
    if unmet:
        first = unmet[0]
        return NextMove(
            rule="meet-criterion",
            action=f"Work toward the exit criterion: {first.text}",
            reason=f"It is not met yet: {first.basis}.",
            subject=first.subject,
            cites=[f"{doc.path}:{first.line}"] if doc and first.line else [],
        )
    return _fallback_move(findings, doc)


def _fallback_move(findings: list[Finding], doc: StateDocument | None) -> NextMove:
    started = [f for f in findings if f.kind == "open-item"]
    if started:
        first = started[0]
        return NextMove(
            rule="finish-open-item",
            action=f"Finish or drop the started item: {first.quote or first.subject}",
            reason=first.message,
            subject=first.subject,
            cites=[first.location],
        )
    tasks = doc.section_items("priority") if doc else []
    if tasks:
        return NextMove(
            rule="next-priority-task",
            action=f"Do the first priority task: {tasks[0].text}",
            reason="Nothing blocks it: no findings and no unmet exit criteria.",
            cites=[f"{doc.path}:{tasks[0].line}"],
        )
    return NextMove(
        rule="hold",
        action="Nothing to do: every claim checks out and no task is listed.",
        reason="No findings, no unmet exit criteria, no priority tasks.",
    )


def _word_move(move: NextMove, ctx: RoleContext) -> NextMove:
    text, run = ctx.engine.word(
        "Reword this next move for the project's team, keeping every path and id.",
        move.action,
    )
    return move.model_copy(update={"action": text.strip() or move.action, "run": run})
