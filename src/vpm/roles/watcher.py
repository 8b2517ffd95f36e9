"""Watcher: collect what changed in the project since the last watermark.

The watermark remembers size, mtime and sha256 of every watched file and
the last git commit seen. A file whose size and mtime are unchanged is not
read again, so a cycle with nothing new reads no file contents.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from vpm.model import ChatMessage, Event, EventKind, Problem
from vpm.roles.context import RoleContext
from vpm.sources import git
from vpm.sources.chat import read_chat_file
from vpm.sources.files import (
    FileStat,
    decode_utf8,
    iter_files,
    iter_globs,
    sha256_bytes,
    stat_changed,
)

log = logging.getLogger("vpm")

FILES_WATERMARK = "files"
# Files the synthesizer, archivist and quality run write into the reports folder.
OUTPUT_FILES = (
    "digest.md",
    "nav.mmd",
    "state.patch",
    "cycle.md",
    "cycle.json",
    "quality.json",
    "quality.md",
    "egspace.md",
    "egspace.json",
    "tasks",
)
GIT_WATERMARK = "git"


class WatchInput(BaseModel):
    """Request to scan a project."""

    project: str = Field(description="Project folder path.")
    rescan: bool = Field(
        default=False,
        description="Hash every file even when its size and mtime are unchanged.",
    )


class WatchOutput(BaseModel):
    """New and changed events, and the watermark to store with them."""

    events: list[Event] = Field(default_factory=list)
    problems: list[Problem] = Field(default_factory=list)
    scanned: int = Field(default=0, description="Files looked at.")
    read: int = Field(default=0, description="Files whose contents were read.")
    watermarks: dict[str, dict[str, Any]] = Field(default_factory=dict)


def event_id(kind: str, source: str, key: str) -> str:
    """Stable id of an event: the same thing gets the same id every cycle."""
    return hashlib.sha256(f"{kind}\x00{source}\x00{key}".encode()).hexdigest()[:32]


def watch(inp: WatchInput, ctx: RoleContext) -> WatchOutput:
    """Scan the project and return events not yet in the store."""
    project = Path(inp.project)
    out = WatchOutput()
    previous = ctx.store.get_watermark(FILES_WATERMARK)
    files = _watched_files(project, ctx)
    chat_files = set(iter_globs(project, ctx.settings.chat_globs))
    new_marks: dict[str, list[int | str]] = {}
    candidates: list[Event] = []
    for rel, kind in files.items():
        kind = "chat" if rel in chat_files else kind
        out.scanned += 1
        old = FileStat.from_list(previous[rel]) if rel in previous else None
        try:
            changed, info = stat_changed(project / rel, None if inp.rescan else old)
            if not changed and old is not None:
                new_marks[rel] = old.to_list()
                continue
            data = (project / rel).read_bytes()
        except OSError as exc:
            out.problems.append(
                Problem(path=rel, message=f"cannot read the file: {exc.strerror}")
            )
            if old is not None:
                # Keep the old mark so an unreadable file is not taken as deleted.
                new_marks[rel] = old.to_list()
            continue
        out.read += 1
        digest = sha256_bytes(data)
        new_marks[rel] = FileStat(info.st_mtime_ns, info.st_size, digest).to_list()
        if old is not None and old.sha256 == digest:
            continue
        if kind == "chat":
            candidates.extend(_chat_events(project, rel, out.problems))
        else:
            candidates.append(_file_event(kind, rel, data, digest, ctx, out.problems))
    for rel in sorted(set(previous) - set(new_marks)):
        candidates.append(_deleted_event(files.get(rel, "evidence"), rel))
    out.events = _only_new(candidates, ctx)
    out.events.extend(_git_events(project, ctx, out))
    out.watermarks[FILES_WATERMARK] = new_marks
    log.debug(
        "watcher: %d files, %d read, %d events", out.scanned, out.read, len(out.events)
    )
    return out


def _watched_files(project: Path, ctx: RoleContext) -> dict[str, EventKind]:
    files = _candidate_files(project, ctx)
    own = _own_output_prefixes(project, ctx)
    return {
        rel: kind
        for rel, kind in files.items()
        if not any(rel == p or rel.startswith(p + "/") for p in own)
    }


def _own_output_prefixes(project: Path, ctx: RoleContext) -> list[str]:
    """Project-relative folders where vpm itself writes, when inside the project.

    Without this, `--out` pointing into the project would make every cycle
    read its own reports back as new evidence.
    """
    prefixes = []
    for folder in (ctx.data_dir, ctx.reports_dir):
        try:
            relative = folder.resolve().relative_to(project.resolve()).as_posix()
        except ValueError:
            continue
        if relative == "." or relative in ctx.settings.evidence_dirs:
            # The outputs share a folder with the project's own evidence, so
            # only the files vpm writes there are left out.
            base = "" if relative == "." else relative + "/"
            prefixes.extend(base + name for name in OUTPUT_FILES)
        else:
            prefixes.append(relative)
    return prefixes


def _candidate_files(project: Path, ctx: RoleContext) -> dict[str, EventKind]:
    files: dict[str, EventKind] = {}
    state = ctx.settings.state_file
    if (project / state).is_file():
        files[state] = "state"
    for folder in ctx.settings.watch_dirs:
        for rel in iter_files(project, folder):
            files.setdefault(rel, "state" if rel.startswith("STATE/") else "ops")
    for folder in ctx.settings.evidence_dirs:
        for rel in iter_files(project, folder):
            files.setdefault(rel, "evidence")
    for rel in iter_globs(project, ctx.settings.chat_globs):
        files[rel] = "chat"
    return dict(sorted(files.items()))


def _file_event(
    kind: EventKind,
    rel: str,
    data: bytes,
    digest: str,
    ctx: RoleContext,
    problems: list[Problem],
) -> Event:
    is_text = b"\x00" not in data[:8192]
    text = ""
    if is_text:
        text, problem = decode_utf8(data, rel)
        if problem is not None:
            problems.append(problem)
    else:
        problems.append(
            Problem(path=rel, message="binary file; its contents were not read")
        )
    limit = ctx.settings.max_event_text_chars
    return Event(
        id=event_id(kind, rel, rel),
        kind=kind,
        source=rel,
        key=rel,
        content_hash=digest,
        title=rel,
        text=text[:limit],
        data={"size": len(data), "binary": not is_text, "truncated": len(text) > limit},
    )


def _deleted_event(kind: EventKind, rel: str) -> Event:
    return Event(
        id=event_id(kind, rel, rel),
        kind=kind,
        source=rel,
        key=rel,
        content_hash=sha256_bytes(b"deleted:" + rel.encode()),
        title=f"{rel} (deleted)",
        data={"deleted": True},
    )


def _chat_events(project: Path, rel: str, problems: list[Problem]) -> list[Event]:
    messages, found = read_chat_file(project / rel, rel)
    problems.extend(found)
    return [_chat_event(message) for message in messages]


def _chat_event(message: ChatMessage) -> Event:
    body = f"{message.role}\x00{message.text}".encode()
    return Event(
        id=event_id(
            "chat", message.source, f"{message.session_id}/{message.message_id}"
        ),
        kind="chat",
        source=message.source,
        key=message.message_id,
        content_hash=sha256_bytes(body),
        timestamp=message.timestamp,
        title=f"{message.role}: {message.text[:60]}",
        text=message.text,
        data={"session_id": message.session_id, "message": message.model_dump()},
    )


def _only_new(candidates: list[Event], ctx: RoleContext) -> list[Event]:
    """Drop events whose id and content hash the store already holds."""
    known = ctx.store.known_hashes(e.id for e in candidates)
    unique: dict[str, Event] = {}
    for item in candidates:
        if known.get(item.id) != item.content_hash:
            unique[item.id] = item
    return list(unique.values())


def _git_events(project: Path, ctx: RoleContext, out: WatchOutput) -> list[Event]:
    head = git.git_head(project)
    if head is None:
        return []
    seen = ctx.store.get_watermark(GIT_WATERMARK).get("head")
    out.watermarks[GIT_WATERMARK] = {"head": head}
    if seen == head:
        return []
    commits = git.read_commits(project, seen, ctx.settings.git_max_commits)
    if seen and not commits:
        # The old head is gone (history rewritten): read the recent history.
        commits = git.read_commits(project, None, ctx.settings.git_max_commits)
    events = [_commit_event(commit) for commit in commits]
    return _only_new(events, ctx)


def _commit_event(commit: git.Commit) -> Event:
    text = f"{commit.subject}\n\n{commit.body}".strip()
    return Event(
        id=event_id("commit", "git", commit.sha),
        kind="commit",
        source="git",
        key=commit.sha,
        content_hash=sha256_bytes(commit.sha.encode()),
        timestamp=commit.date,
        title=commit.subject[:120],
        text=text,
        data={
            "author": commit.author,
            "changes": [{"status": s, "path": p} for s, p in commit.changes],
        },
    )
