"""Builders shared by the provenance ledger tests."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from vpm.prov import (
    CycleProvenance,
    Decision,
    FileDigest,
    RoleActivity,
    Signer,
    default_key_dir,
    ledger_dir,
    ledger_path,
    record_cycle,
)
from vpm.prov.record import canonical_json

T0 = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)
ROLES = ["watcher", "curator", "planner", "synthesizer", "archivist"]
RECORDS_PER_CYCLE = 4


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def clock() -> datetime:
    return T0 + timedelta(minutes=5)


def make_cycle(trace_id: str = "t1", workload_id: str | None = None) -> CycleProvenance:
    """A cycle of five roles with one decision of each kind (4 records)."""
    state = FileDigest(path="STATE/current_state.md", sha256=sha("state"))
    chat = FileDigest(path="logs/チャット.jsonl", sha256=sha("chat"), role="watcher")
    patch = FileDigest(path="reports/state.patch", sha256=sha("patch"))
    activities = [
        RoleActivity(
            role=role,
            started_at=T0 + timedelta(seconds=index),
            finished_at=T0 + timedelta(seconds=index + 1),
            engine="offline",
        )
        for index, role in enumerate(ROLES)
    ]
    decisions = [
        Decision(
            kind="finding",
            id="F-1",
            role="planner",
            summary="M2 は証拠がない。",
            inputs=[state],
        ),
        Decision(
            kind="next-move",
            id="R3",
            role="planner",
            summary="Add evidence for M2.",
            inputs=[state, chat],
        ),
        Decision(
            kind="state-patch",
            id="P-1",
            role="synthesizer",
            summary="Mark M2 as blocked.",
            inputs=[state],
            outputs=[patch],
        ),
    ]
    return CycleProvenance(
        trace_id=trace_id,
        started_at=T0,
        finished_at=T0 + timedelta(seconds=10),
        workload_id=workload_id,
        inputs=[state, chat],
        activities=activities,
        decisions=decisions,
        outputs=[
            FileDigest(path="reports/digest.md", sha256=sha("digest"), role="archivist")
        ],
    )


def write_cycles(data_dir: Path, count: int, signer: Signer | None) -> Path:
    """Record `count` cycles under `data_dir` and return the ledger path."""
    for index in range(1, count + 1):
        record_cycle(ledger_dir(data_dir), make_cycle(f"t{index}"), signer, clock=clock)
    return ledger_path(data_dir)


def read_ledger_lines(path: Path) -> list[bytes]:
    """The ledger's lines without newlines; a missing final newline is kept."""
    return path.read_bytes().split(b"\n")[:-1]


def write_ledger_lines(path: Path, lines: list[bytes]) -> None:
    path.write_bytes(b"".join(line + b"\n" for line in lines))


def edit_line(line: bytes, **changes: object) -> bytes:
    data = json.loads(line)
    data.update(changes)
    return canonical_json(data)


def key_dir(data_dir: Path) -> Path:
    return default_key_dir(data_dir)
