"""Read commits from a project's git history."""

from __future__ import annotations

import logging
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger("vpm")

RECORD = "\x1e"
FIELD = "\x1f"
# The record mark starts each commit, so the name-status lines that git
# prints after a commit stay in that commit's record.
LOG_FORMAT = RECORD + FIELD.join(["%H", "%aI", "%an", "%s", "%b"])


@dataclass
class Commit:
    """One commit and the paths it changed."""

    sha: str
    date: str
    author: str
    subject: str
    body: str
    changes: list[tuple[str, str]] = field(default_factory=list)


def git_head(project: Path) -> str | None:
    """Return the HEAD commit of the repository at `project`, or None."""
    if not (project / ".git").exists():
        return None
    result = _git(project, "rev-parse", "--verify", "-q", "HEAD")
    return result.strip() or None if result is not None else None


def read_commits(project: Path, since: str | None, limit: int) -> list[Commit]:
    """Return commits after `since` (all, up to `limit`, when None), oldest first."""
    revision = f"{since}..HEAD" if since else "HEAD"
    output = _git(
        project,
        "log",
        f"--max-count={limit}",
        f"--format={LOG_FORMAT}",
        "--name-status",
        "--no-renames",
        revision,
    )
    if output is None:
        return []
    commits = [c for c in (_parse_record(r) for r in output.split(RECORD)) if c]
    commits.reverse()
    return commits


def _parse_record(record: str) -> Commit | None:
    fields = record.split(FIELD)
    if len(fields) < 5:
        return None
    sha, date, author, subject = (f.strip() for f in fields[:4])
    body, changes = _split_body(fields[4])
    return Commit(sha, date, author, subject, body, changes)


def _split_body(text: str) -> tuple[str, list[tuple[str, str]]]:
    changes = []
    body_lines = []
    for line in text.split("\n"):
        parts = line.split("\t")
        if len(parts) >= 2 and parts[0][:1] in "AMDRCTU" and len(parts[0]) <= 4:
            changes.append((parts[0][:1], parts[-1]))
        else:
            body_lines.append(line)
    return "\n".join(body_lines).strip(), changes


def _git(project: Path, *args: str) -> str | None:
    try:
        result = subprocess.run(
            ["git", "-C", str(project), *args],
            capture_output=True,
            text=True,
            encoding="utf-8",
            errors="replace",
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        log.warning("git %s failed in %s: %s", args[0], project, exc)
        return None
    if result.returncode != 0:
        log.debug("git %s failed: %s", args[0], result.stderr.strip())
        return None
    return result.stdout
