"""Turn one cycle's outputs into a provenance record for the ledger."""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from vpm.errors import VpmError
from vpm.model import Finding, Problem
from vpm.prov import (
    CycleProvenance,
    Decision,
    FileDigest,
    RoleActivity,
    default_key_dir,
    ledger_dir,
    load_signer,
    record_cycle,
)
from vpm.roles.context import RoleContext

if TYPE_CHECKING:
    from vpm.roles.archivist import ArchiveInput

log = logging.getLogger("vpm")

ROLES = ("watcher", "curator", "planner", "synthesizer", "archivist")


def record_provenance(
    inp: ArchiveInput,
    ctx: RoleContext,
    outputs: dict[str, str],
    finished: datetime,
) -> Problem | None:
    """Append the cycle and its decisions to the signed ledger.

    Returns a problem instead of raising when the ledger cannot be written,
    because the cycle's other outputs are already stored and stay valid.
    """
    try:
        cycle = build_cycle_provenance(inp, ctx, outputs, finished)
        key_dir = ctx.settings.signing_key_dir
        signer = load_signer(
            Path(key_dir).expanduser() if key_dir else default_key_dir(ctx.data_dir)
        )
        records = record_cycle(ledger_dir(ctx.data_dir), cycle, signer)
    except (VpmError, ValueError, OSError) as exc:
        log.error("provenance for trace %s was not recorded: %s", ctx.trace_id, exc)
        return Problem(
            path="prov/ledger.jsonl", message=f"provenance not recorded: {exc}"
        )
    log.info("provenance: %d records appended", len(records))
    return None


def build_cycle_provenance(
    inp: ArchiveInput,
    ctx: RoleContext,
    outputs: dict[str, str],
    finished: datetime,
) -> CycleProvenance:
    """Describe what the cycle read, which roles ran, what they decided and wrote."""
    root = ctx.data_dir.parent
    inputs = [
        FileDigest(path=path, sha256=digest, role="watcher")
        for path, digest in inp.inputs.items()
        if len(digest) == 64
    ]
    by_path = {item.path: item for item in inputs}
    written = [
        FileDigest(path=_relative(root, path), sha256=digest, role=_writer(path))
        for path, digest in outputs.items()
    ]
    activities = _activities(inp, finished)
    return CycleProvenance(
        trace_id=ctx.trace_id,
        started_at=datetime.fromisoformat(inp.started_at),
        finished_at=finished,
        workload_id=getattr(ctx.settings, "workload_id", None),
        inputs=inputs,
        activities=activities,
        decisions=_decisions(inp, by_path, written),
        outputs=written,
    )


def _activities(inp: ArchiveInput, finished: datetime) -> list[RoleActivity]:
    engine, fallback, reason = "offline", False, None
    for digest in inp.digests:
        engine = digest.run.engine
        if digest.run.fallback:
            fallback, reason = True, digest.run.reason
    activities = []
    for role in ROLES:
        span = inp.role_times.get(role)
        started, ended = span if span else (finished, finished)
        activities.append(
            RoleActivity(
                role=role,
                started_at=started,
                finished_at=ended,
                engine=engine if role == "curator" else "offline",
                fallback=fallback if role == "curator" else False,
                reason=reason if role == "curator" else None,
            )
        )
    return activities


def _decisions(
    inp: ArchiveInput, inputs: dict[str, FileDigest], written: list[FileDigest]
) -> list[Decision]:
    state = inputs.get(inp.plan.state_path)
    decisions = [
        Decision(
            kind="finding",
            id=f"finding-{index}-{_short_hash(item)}",
            role="planner",
            summary=f"{item.kind} at {item.location}: {item.message}",
            inputs=[d for d in (state, inputs.get(item.evidence or "")) if d],
        )
        for index, item in enumerate(inp.plan.findings, start=1)
    ]
    move = inp.plan.next_move
    decisions.append(
        Decision(
            kind="next-move",
            id="next-move",
            role="planner",
            summary=f"{move.rule}: {move.action}",
            inputs=[state] if state else [],
        )
    )
    patch = [d for d in written if d.path.endswith("state.patch")]
    if inp.synthesis.patch_changes:
        decisions.append(
            Decision(
                kind="state-patch",
                id="state-patch",
                role="synthesizer",
                summary="; ".join(inp.synthesis.patch_changes)[:1000],
                inputs=[state] if state else [],
                outputs=patch,
            )
        )
    return decisions


def _short_hash(finding: Finding) -> str:
    key = f"{finding.kind}|{finding.path}|{finding.line}|{finding.evidence}"
    return hashlib.sha256(key.encode()).hexdigest()[:12]


def _relative(root: Path, path: str) -> str:
    candidate = Path(path)
    try:
        return candidate.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return candidate.name


def _writer(path: str) -> str:
    return "archivist" if path.endswith("memory.json") else "synthesizer"
