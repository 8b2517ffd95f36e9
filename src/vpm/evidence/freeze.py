"""The deploy freeze: `.ops/deploy_freeze.json`.

The file contains `{"freeze": bool, "reason", "by", "at"}` and, while the
freeze is on, an optional `until_condition` such as "until P5-4 is done".
Keys vpm does not know are kept when the file is rewritten, because CI
workflows of the project may read them.

Commands that deploy or apply must call `ensure_not_frozen` first.
"""

from __future__ import annotations

import getpass
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from vpm.errors import PathOutsideProject, ProjectNotFound, UserError
from vpm.evidence.errors import DeployFrozen, InvalidFreezeFile
from vpm.fsio import write_json_atomic
from vpm.model import Finding
from vpm.state import markers
from vpm.state.evidence import resolve_citation
from vpm.state.lint import FREEZE_FILE, done_index
from vpm.state.parse import StateDocument

CONDITION_KEYS = ("until_condition", "until")


class FreezeRecord(BaseModel):
    """The deploy freeze file's content."""

    freeze: bool = Field(description="True while deploys are frozen.")
    reason: str | None = Field(default=None, description="Why it was set.")
    by: str | None = Field(default=None, description="Who set it.")
    at: str | None = Field(default=None, description="ISO 8601 UTC time it was set.")
    until_condition: str | None = Field(
        default=None, description="What must happen before the freeze is lifted."
    )
    extra: dict[str, Any] = Field(
        default_factory=dict, description="Other keys of the file, kept as they are."
    )


def freeze_path(project: Path) -> Path:
    """Return the freeze file of `project`, rejecting a path that leaves it.

    A symbolic link whose target stays inside the project is followed, so
    the target file is read and rewritten and the link is kept.

    Raises:
        ProjectNotFound: `project` is not a folder.
        PathOutsideProject: `.ops` or the freeze file is a link to a place
            outside the project.
        InvalidFreezeFile: The links on the way form a loop.
    """
    if not project.is_dir():
        raise ProjectNotFound(f"Project folder {project} does not exist.")
    try:
        return resolve_citation(project, FREEZE_FILE)
    except PathOutsideProject as exc:
        target = os.path.realpath(project / FREEZE_FILE)
        raise PathOutsideProject(
            f"The deploy freeze file {FREEZE_FILE} resolves outside the project "
            f"through a symbolic link (to {target}), so vpm does not read or "
            "write it. Replace the link with a regular file inside the project."
        ) from exc
    except UserError as exc:
        raise InvalidFreezeFile(
            f"The deploy freeze file {FREEZE_FILE} cannot be opened because its "
            "symbolic links form a loop; replace the links with a regular file."
        ) from exc


def read_freeze_record(project: Path) -> FreezeRecord | None:
    """Read the freeze file; None when the project has none.

    Raises:
        InvalidFreezeFile: The file is not a JSON object with a boolean
            `freeze` key.
    """
    path = freeze_path(project)
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        line = getattr(exc, "lineno", 1)
        raise InvalidFreezeFile(
            f"{FREEZE_FILE}:{line} is not valid JSON ({exc}); fix or delete the file."
        ) from exc
    if not isinstance(data, dict):
        raise InvalidFreezeFile(
            f'{FREEZE_FILE} must hold a JSON object like {{"freeze": false}}.'
        )
    value = data.get("freeze", data.get("frozen"))
    if not isinstance(value, bool):
        raise InvalidFreezeFile(
            f'{FREEZE_FILE} has no boolean "freeze" key (found {value!r}); '
            'set "freeze": true or false.'
        )
    return _record_from(data, value)


def _record_from(data: dict[str, Any], value: bool) -> FreezeRecord:
    known = {"freeze", "frozen", "reason", "by", "at", *CONDITION_KEYS}
    condition = next((data[k] for k in CONDITION_KEYS if data.get(k)), None)
    return FreezeRecord(
        freeze=value,
        reason=_text(data.get("reason")),
        by=_text(data.get("by")),
        at=_text(data.get("at")),
        until_condition=_text(condition),
        extra={key: item for key, item in data.items() if key not in known},
    )


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def set_freeze(
    project: Path,
    frozen: bool,
    reason: str | None,
    by: str | None = None,
    until_condition: str | None = None,
    now: datetime | None = None,
) -> FreezeRecord:
    """Turn the freeze on or off and write the file atomically.

    Raises:
        InvalidFreezeFile: The existing file cannot be read; it is left as is.
        PathOutsideProject: `.ops` leads outside the project.
    """
    path = freeze_path(project)
    previous = read_freeze_record(project)
    record = FreezeRecord(
        freeze=frozen,
        reason=reason,
        by=by or _current_user(),
        at=(now or datetime.now(UTC)).isoformat(timespec="seconds"),
        until_condition=until_condition if frozen else None,
        extra=previous.extra if previous else {},
    )
    # write_json_atomic keeps the existing file's permission bits, because
    # CI jobs and other users read this file.
    write_json_atomic(path, to_json(record))
    return record


def to_json(record: FreezeRecord) -> dict[str, Any]:
    """Return the file content of a record, unknown keys after vpm's own."""
    data: dict[str, Any] = {
        "freeze": record.freeze,
        "reason": record.reason,
        "by": record.by,
        "at": record.at,
    }
    if record.until_condition:
        data["until_condition"] = record.until_condition
    return {**data, **record.extra}


def _current_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def ensure_not_frozen(project: Path, force: bool = False) -> None:
    """Raise unless deploying is allowed: no freeze, the freeze is off, or forced.

    A freeze file that cannot be read blocks too, because the freeze state
    is then unknown.

    Raises:
        DeployFrozen: The freeze is on (or unknown) and `force` is False.
    """
    if force:
        return
    try:
        record = read_freeze_record(project)
    except (InvalidFreezeFile, PathOutsideProject) as exc:
        raise DeployFrozen(
            f"The deploy freeze state is unknown: {exc} Fix {FREEZE_FILE}, or pass "
            "--force to deploy anyway."
        ) from exc
    if record is None or not record.freeze:
        return
    reason = record.reason or "no reason given"
    who = f" by {record.by}" if record.by else ""
    raise DeployFrozen(
        f"Deploys are frozen ({FREEZE_FILE}, set{who}): {reason}. Lift it with "
        "`vpm freeze off --reason ...`, or pass --force to deploy anyway."
    )


def find_stale_freeze(project: Path, doc: StateDocument) -> list[Finding]:
    """Report a freeze whose until-condition names milestones now done.

    The freeze has outlived its condition when every milestone id the
    condition names (`P5-4`) is recorded as done in the state document. A
    condition that names no milestone id is not judged. An unreadable file
    gives no finding here; `read_freeze` reports it as a problem.
    """
    try:
        record = read_freeze_record(project)
    except (InvalidFreezeFile, PathOutsideProject, ProjectNotFound):
        return []
    if record is None or not record.freeze or not record.until_condition:
        return []
    ids = markers.milestone_ids(record.until_condition)
    done = done_index(doc)
    if not ids or any(ident not in done for ident in ids):
        return []
    proof = done[ids[-1]][0]
    return [
        Finding(
            kind="freeze-outlived",
            severity="warning",
            message=(
                f"The deploy freeze is still on, but its condition "
                f"'{record.until_condition}' is met: {doc.path} line {proof.line} "
                f"records {', '.join(ids)} as done."
            ),
            path=FREEZE_FILE,
            line=1,
            subject=ids[-1],
            quote=record.until_condition[:200],
            suggestion="Lift the freeze with `vpm freeze off --reason ...`, or set "
            "a new condition.",
        )
    ]
