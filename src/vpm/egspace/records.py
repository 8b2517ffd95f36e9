"""Records the EG-Space index stores next to each vector."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SpaceItem:
    """One thing the project did or wrote, as stored with its vector.

    Attributes:
        id: Stable id: the same file, section, commit or session keeps it.
        kind: `evidence`, `state`, `ops`, `commit` or `chat`.
        source: Project-relative path, or `git` for a commit.
        line: 1-based line where the item starts (state sections), or None.
        end_line: 1-based last line of a state section, or None.
        title: One-line label: a path, a section heading, a commit subject.
        preview: The first characters of the embedded text.
        timestamp: ISO 8601 time the item is dated at, or None if undated.
        content_hash: sha256 of the embedded text; a change re-embeds it.
    """

    id: str
    kind: str
    source: str
    line: int | None
    end_line: int | None
    title: str
    preview: str
    timestamp: str | None
    content_hash: str


@dataclass(frozen=True)
class GoalLine:
    """One line of the goal G in one version of the state document.

    Attributes:
        id: Stable id from version, line and text.
        version: `current`, or the label of a past version (commit or file).
        date: ISO 8601 time of that version, or None for `current`.
        source: Path of the state document (or of the past version's file).
        line: 1-based line of the goal text in that document, if known.
        role: `short_goal`, `exit_criterion`, `goal` or `priority`.
        text: The goal text itself.
        content_hash: sha256 of `text`.
    """

    id: str
    version: str
    date: str | None
    source: str
    line: int | None
    role: str
    text: str
    content_hash: str
