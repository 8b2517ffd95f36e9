"""Archivist: write the cycle report, the memory and the store records."""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from vpm.fsio import write_json_atomic, write_text_atomic
from vpm.model import Event, Problem, SessionDigest
from vpm.roles.context import RoleContext
from vpm.roles.planner import PlanOutput
from vpm.roles.provenance import record_provenance
from vpm.roles.synthesizer import SynthesisOutput

log = logging.getLogger("vpm")

MEMORY_FILE = "memory.json"
MEMORY_LIMIT = 500


class ArchiveInput(BaseModel):
    """Everything one cycle produced."""

    started_at: str
    events: list[Event]
    watermarks: dict[str, dict[str, Any]]
    inputs: dict[str, str] = Field(description="Input path or id -> sha256.")
    digests: list[SessionDigest]
    plan: PlanOutput
    synthesis: SynthesisOutput
    problems: list[Problem]
    durations_ms: dict[str, float]
    role_times: dict[str, tuple[datetime, datetime]] = Field(
        default_factory=dict, description="Start and end of each role's run."
    )


class ArchiveOutput(BaseModel):
    """Output paths with their hashes, and the stored cycle id."""

    cycle_id: int
    outputs: dict[str, str] = Field(description="Output path -> sha256.")
    report_markdown: str
    report_json: str
    problems: list[Problem] = Field(default_factory=list)
    provenance_error: str | None = Field(
        default=None, description="Why the cycle is missing from the ledger."
    )


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def archive(inp: ArchiveInput, ctx: RoleContext) -> ArchiveOutput:
    """Write outputs atomically, then record the cycle in one transaction."""
    problems: list[Problem] = []
    outputs: dict[str, str] = {}
    reports = ctx.reports_dir
    files = {
        "digest.md": inp.synthesis.digest_markdown,
        "nav.mmd": inp.synthesis.mermaid,
        "state.patch": inp.synthesis.state_patch,
    }
    for name, text in files.items():
        write_text_atomic(reports / name, text)
        outputs[str(reports / name)] = sha256_text(text)
    memory_path = ctx.data_dir / MEMORY_FILE
    new_entries = _memory_entries(inp, ctx)
    memory_text = _memory_text(new_entries, _read_memory(memory_path, problems))
    outputs[str(memory_path)] = sha256_text(memory_text)
    finished_at = ctx.clock()
    finished = finished_at.isoformat()
    report = _report(inp, outputs, finished, problems, ctx)
    # The store commits first. A cycle killed before the commit leaves no
    # trace and is redone in full. One killed after it is completed by
    # `repair_outputs` on the next run, so memory gets no duplicates.
    cycle_id = ctx.store.record_cycle(
        trace_id=ctx.trace_id,
        started_at=inp.started_at,
        finished_at=finished,
        events=inp.events,
        findings=inp.plan.findings,
        result=json.loads(
            json.dumps(
                {**_stored_result(inp), "report": report, "memory": new_entries},
                default=str,
            )
        ),
        watermarks=inp.watermarks,
    )
    report["cycle_id"] = cycle_id
    write_text_atomic(memory_path, memory_text)
    problem = record_provenance(inp, ctx, outputs, finished_at)
    if problem is not None:
        problems.append(problem)
        report["problems"].append(problem.model_dump())
    json_path, md_path = _write_report(reports, report)
    log.info(
        "cycle %s recorded: %d events, %d findings",
        cycle_id,
        len(inp.events),
        len(inp.plan.findings),
    )
    return ArchiveOutput(
        cycle_id=cycle_id,
        outputs=outputs,
        report_markdown=str(md_path),
        report_json=str(json_path),
        problems=problems,
        provenance_error=problem.message if problem is not None else None,
    )


def _stored_result(inp: ArchiveInput) -> dict[str, Any]:
    return json.loads(
        json.dumps(
            {
                "plan": inp.plan.model_dump(),
                "summary": inp.synthesis.summary,
                "digests": [d.model_dump() for d in inp.digests],
                "patch_changes": inp.synthesis.patch_changes,
            },
            default=str,
        )
    )


def _memory_entries(inp: ArchiveInput, ctx: RoleContext) -> list[dict[str, Any]]:
    """Memory entries of this cycle: one per session, then the cycle's own."""
    stamp = ctx.clock().isoformat()
    entries = [
        {
            "summary": d.summary,
            "session_id": d.session_id,
            "source": d.source,
            "engine": d.run.engine,
            "created_at": stamp,
            "trace_id": ctx.trace_id,
        }
        for d in inp.digests
    ]
    entries.append(
        {
            "summary": inp.synthesis.cycle_summary,
            "session_id": None,
            "source": "cycle",
            "engine": "offline",
            "created_at": stamp,
            "trace_id": ctx.trace_id,
        }
    )
    return entries


def _memory_text(new: list[dict[str, Any]], entries: list[Any]) -> str:
    memory = (new + entries)[:MEMORY_LIMIT]
    return json.dumps(memory, ensure_ascii=False, indent=2) + "\n"


def _write_report(reports: Path, report: dict[str, Any]) -> tuple[Path, Path]:
    json_path = reports / "cycle.json"
    md_path = reports / "cycle.md"
    write_json_atomic(json_path, report)
    write_text_atomic(md_path, render_report(report))
    return json_path, md_path


def repair_outputs(last: dict[str, Any], ctx: RoleContext) -> list[str]:
    """Finish the outputs of a stored cycle whose process died after its commit.

    Rewrites the cycle report when it is missing or names an older cycle,
    and adds the cycle's memory entries when memory.json lacks them.
    Returns the names of the files it rewrote.
    """
    result = last.get("result") or {}
    report = result.get("report")
    if not report:
        return []
    repaired = []
    current = _read_json(ctx.reports_dir / "cycle.json")
    if not isinstance(current, dict) or current.get("cycle_id") != last["id"]:
        _write_report(ctx.reports_dir, {**report, "cycle_id": last["id"]})
        repaired.append("cycle.json")
    memory_path = ctx.data_dir / MEMORY_FILE
    entries = _read_memory(memory_path, [])
    traces = {e.get("trace_id") for e in entries if isinstance(e, dict)}
    if last["trace_id"] not in traces and result.get("memory"):
        write_text_atomic(memory_path, _memory_text(result["memory"], entries))
        repaired.append(MEMORY_FILE)
    if repaired:
        log.warning("cycle %s was interrupted; rewrote %s", last["id"], repaired)
    return repaired


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _read_memory(path: Path, problems: list[Problem]) -> list[Any]:
    if not path.exists():
        return []
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(data, list):
            return data
        reason, line = "is not a JSON list", 1
    except json.JSONDecodeError as exc:
        reason, line = f"is not valid JSON ({exc.msg})", exc.lineno
    except UnicodeDecodeError:
        reason, line = "is not UTF-8 text", None
    backup = path.with_name(path.name + ".bak")
    path.replace(backup)
    problems.append(
        Problem(
            path=str(path),
            line=line,
            message=f"memory file {reason}; moved to {backup.name} and started anew",
        )
    )
    log.warning("memory file %s %s; moved to %s", path, reason, backup)
    return []


def _report(
    inp: ArchiveInput,
    outputs: dict[str, str],
    finished: str,
    problems: list[Problem],
    ctx: RoleContext,
) -> dict[str, Any]:
    plan = inp.plan
    return {
        "trace_id": ctx.trace_id,
        "project": str(ctx.project),
        "started_at": inp.started_at,
        "finished_at": finished,
        "durations_ms": inp.durations_ms,
        "events": _event_counts(inp.events),
        "phase": plan.phase,
        "short_goal": plan.short_goal,
        "delta": plan.delta,
        "next_move": plan.next_move.model_dump(),
        "criteria": [c.model_dump() for c in plan.criteria],
        "findings": [f.model_dump() for f in plan.findings],
        "summary": inp.synthesis.summary,
        "sessions": [d.model_dump() for d in inp.digests],
        "problems": [p.model_dump() for p in [*inp.problems, *problems]],
        "inputs": inp.inputs,
        "outputs": outputs,
    }


def _event_counts(events: list[Event]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for item in events:
        counts[item.kind] = counts.get(item.kind, 0) + 1
    return counts


def render_report(report: dict[str, Any]) -> str:
    """Render the cycle report as Markdown."""
    lines = [
        f"# vpm cycle {report.get('cycle_id', '')}",
        "",
        f"- Trace id: `{report['trace_id']}`",
        f"- Started: {report['started_at']}",
        f"- Finished: {report['finished_at']}",
        f"- Phase: {report['phase']}",
        f"- Events: {report['events']}",
        f"- δ: {report['delta']}",
        f"- Next move: {report['next_move']['action']} (rule "
        f"`{report['next_move']['rule']}`)",
        "",
        "## Findings",
        "",
    ]
    for finding in report["findings"]:
        where = (
            f"{finding['path']}:{finding['line']}"
            if finding["line"]
            else finding["path"]
        )
        lines.append(f"- {finding['kind']} `{where}`: {finding['message']}")
    if report["problems"]:
        lines += ["", "## Input problems", ""]
        for problem in report["problems"]:
            where = problem["path"] + (f":{problem['line']}" if problem["line"] else "")
            lines.append(f"- `{where}`: {problem['message']}")
    lines += ["", "## Inputs (sha256)", ""]
    lines += [
        f"- `{name}` {digest}" for name, digest in sorted(report["inputs"].items())
    ]
    lines += ["", "## Outputs (sha256)", ""]
    lines += [
        f"- `{name}` {digest}" for name, digest in sorted(report["outputs"].items())
    ]
    return "\n".join(lines) + "\n"
