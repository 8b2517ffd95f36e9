"""Past versions of the state document, for δ per version.

Versions come from, in order of preference:

1. a folder given with `--history`, or `PROJECT/state_history/`, holding
   one file per version named `DATE_LABEL.md` (DATE as YYYY-MM-DD), with
   an optional `index.jsonl` whose lines name `file`, `commit`, `date`;
2. the git history of the state document, when the project is a git
   repository (at most MAX_VERSIONS, newest first).
"""

from __future__ import annotations

import json
import logging
import subprocess
from dataclasses import dataclass
from pathlib import Path

from vpm.egspace.items import dates_in, parse_date
from vpm.model import Problem

log = logging.getLogger("vpm")

HISTORY_FOLDER = "state_history"
MAX_VERSIONS = 200
GIT_TIMEOUT_S = 30


@dataclass
class StateVersion:
    """One past version of the state document."""

    label: str
    date: str
    source: str
    text: str


def read_history(
    project: Path, state_file: str, folder: Path | None = None
) -> tuple[list[StateVersion], list[Problem]]:
    """Return the state document's versions, oldest first, and read problems."""
    folder = folder or project / HISTORY_FOLDER
    if folder.is_dir():
        return _from_folder(folder)
    return _from_git(project, state_file), []


def _from_folder(folder: Path) -> tuple[list[StateVersion], list[Problem]]:
    problems: list[Problem] = []
    index = _read_index(folder / "index.jsonl", problems)
    versions = []
    for path in sorted(folder.glob("*.md")):
        entry = index.get(path.name, {})
        when = parse_date(entry.get("date"))
        if when is None:
            days = dates_in(path.stem)
            when = parse_date(days[0].isoformat()) if days else None
        if when is None:
            problems.append(
                Problem(
                    path=str(path),
                    message="no date in the file name or "
                    "index.jsonl; this version was skipped",
                )
            )
            continue
        label = str(entry.get("commit") or path.stem)[:12]
        text = path.read_text(encoding="utf-8-sig", errors="replace")
        versions.append(StateVersion(label, when.isoformat(), path.name, text))
    versions.sort(key=lambda v: (parse_date(v.date), v.label))
    return versions, problems


def _read_index(path: Path, problems: list[Problem]) -> dict[str, dict]:
    if not path.is_file():
        return {}
    entries: dict[str, dict] = {}
    lines = path.read_text(encoding="utf-8-sig", errors="replace").splitlines()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except json.JSONDecodeError as exc:
            problems.append(
                Problem(path=str(path), line=number, message=f"invalid JSON: {exc.msg}")
            )
            continue
        if isinstance(entry, dict) and entry.get("file"):
            entries[str(entry["file"])] = entry
    return entries


def _from_git(project: Path, state_file: str) -> list[StateVersion]:
    if not (project / ".git").exists():
        return []
    log_text = _git(
        project,
        "log",
        f"--max-count={MAX_VERSIONS}",
        "--format=%H%x1f%aI",
        "--",
        state_file,
    )
    versions = []
    for line in (log_text or "").splitlines():
        sha, _, when = line.partition("\x1f")
        text = _git(project, "show", f"{sha}:{state_file}")
        if text is not None and parse_date(when):
            versions.append(StateVersion(sha[:12], when, f"git:{sha[:12]}", text))
    versions.reverse()
    return versions


def _git(project: Path, *args: str) -> str | None:
    try:
        result = subprocess.run(
            ["git", "-C", str(project), *args],
            capture_output=True,
            timeout=GIT_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        log.warning("git %s failed in %s: %s", args[0], project, exc)
        return None
    if result.returncode != 0:
        return None
    return result.stdout.decode("utf-8", errors="replace")
