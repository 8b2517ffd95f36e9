"""Models of one cycle as the ledger records it.

These models depend on no other part of vpm. The archivist fills them in from
what the roles returned, and `record_cycle` turns them into PROV records.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from pathlib import Path
from typing import Annotated, Literal, Self

from pydantic import AwareDatetime, BaseModel, Field, StringConstraints, model_validator

from vpm.errors import PathOutsideProject

DecisionKind = Literal["finding", "next-move", "state-patch"]
Sha256Hex = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
NonEmpty = Annotated[str, StringConstraints(min_length=1)]


class FileDigest(BaseModel):
    """A file a cycle read or wrote, named by its path and content hash."""

    path: NonEmpty = Field(description="Project-relative path with / separators.")
    sha256: Sha256Hex = Field(description="Lower-case hex sha256 of the bytes.")
    role: str | None = Field(
        default=None,
        description="Role that read or wrote the file, or None for the whole cycle.",
    )


class RoleActivity(BaseModel):
    """One role's run inside a cycle."""

    role: NonEmpty = Field(description="Role name, e.g. 'planner'.")
    started_at: AwareDatetime = Field(description="Start time of the role's run.")
    finished_at: AwareDatetime = Field(description="End time of the role's run.")
    engine: str = Field(description="Engine that produced the output, e.g. 'offline'.")
    fallback: bool = Field(default=False, description="True if the LLM failed.")
    reason: str | None = Field(
        default=None, description="Short reason code for the fallback."
    )
    workload_id: str | None = Field(
        default=None,
        description="Workload identity of the process that ran the role, "
        "when it differs from the cycle's.",
    )

    @model_validator(mode="after")
    def _check_times(self) -> Self:
        _check_order(self.started_at, self.finished_at, f"role {self.role!r}")
        return self


class Decision(BaseModel):
    """A finding, next move or proposed state patch that a role decided."""

    kind: DecisionKind = Field(description="Kind of decision.")
    id: NonEmpty = Field(description="Id unique among the cycle's decisions.")
    role: NonEmpty = Field(description="Role whose activity made the decision.")
    summary: str = Field(description="The decision in one or two sentences.")
    inputs: list[FileDigest] = Field(
        default_factory=list, description="Files the decision rests on."
    )
    outputs: list[FileDigest] = Field(
        default_factory=list, description="Files written for it, e.g. a patch."
    )


class CycleProvenance(BaseModel):
    """Everything the ledger records about one cycle."""

    trace_id: NonEmpty = Field(description="Id shared by the cycle's records.")
    started_at: AwareDatetime = Field(description="Start time of the cycle.")
    finished_at: AwareDatetime = Field(description="End time of the cycle.")
    workload_id: str | None = Field(
        default=None,
        description="Workload identity (e.g. a SPIFFE ID) of the process, "
        "usually `Settings.workload_id`.",
    )
    inputs: list[FileDigest] = Field(
        default_factory=list, description="Files the cycle read."
    )
    activities: list[RoleActivity] = Field(
        default_factory=list, description="Role runs, in pipeline order."
    )
    decisions: list[Decision] = Field(
        default_factory=list, description="Decisions taken during the cycle."
    )
    outputs: list[FileDigest] = Field(
        default_factory=list, description="Files the cycle wrote."
    )

    @model_validator(mode="after")
    def _check_consistency(self) -> Self:
        _check_order(self.started_at, self.finished_at, "the cycle")
        roles = [activity.role for activity in self.activities]
        _check_unique(roles, "role activity")
        _check_unique([(d.kind, d.id) for d in self.decisions], "decision")
        for decision in self.decisions:
            _check_role(decision.role, roles, f"decision {decision.id!r}")
        for item in [*self.inputs, *self.outputs]:
            if item.role is not None:
                _check_role(item.role, roles, f"file {item.path!r}")
        return self


def digest_file(project: Path, path: Path, role: str | None = None) -> FileDigest:
    """Hash a file inside `project` into a `FileDigest`.

    Args:
        project: Project folder, which the digest's path is relative to.
        path: The file, absolute or relative to the current directory.
        role: Role that read or wrote the file, if one did.

    Raises:
        PathOutsideProject: `path` resolves to a place outside `project`.
        OSError: The file cannot be read.
    """
    root = project.resolve()
    resolved = path.resolve()
    if not resolved.is_relative_to(root):
        raise PathOutsideProject(
            f"{path} resolves to {resolved}, which is outside the project {root}."
        )

    digest = hashlib.sha256()
    with resolved.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 16), b""):
            digest.update(block)
    relative = resolved.relative_to(root).as_posix()
    return FileDigest(path=relative, sha256=digest.hexdigest(), role=role)


def _check_order(started: datetime, finished: datetime, subject: str) -> None:
    if finished < started:
        raise ValueError(f"{subject} finished ({finished}) before it started.")


def _check_role(role: str, roles: list[str], subject: str) -> None:
    if role not in roles:
        known = ", ".join(roles) or "none"
        raise ValueError(
            f"{subject} names role {role!r}, which has no activity in this "
            f"cycle. Add a RoleActivity for it (roles with one: {known})."
        )


def _check_unique(keys: list[object], subject: str) -> None:
    seen: set[object] = set()
    for key in keys:
        if key in seen:
            raise ValueError(f"duplicate {subject} {key!r}: each must be unique.")
        seen.add(key)
