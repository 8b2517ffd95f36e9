"""Typed messages and records shared by the roles.

Every message is a pydantic model that serializes to JSON, so the same
roles can run in one process or as separate services exchanging events.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

EventKind = Literal["chat", "commit", "evidence", "state", "ops"]
Severity = Literal["error", "warning", "info"]


class Problem(BaseModel):
    """A piece of input that could not be read as expected; work went on."""

    path: str = Field(description="Project-relative path of the bad file.")
    line: int | None = Field(
        default=None, description="1-based line number, when one applies."
    )
    message: str = Field(description="What is wrong, as a sentence.")

    def render(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        return f"{where}: {self.message}"


class Event(BaseModel):
    """One thing that happened in the project, as the watcher saw it."""

    id: str = Field(description="Stable id: a hash of kind, source and key.")
    kind: EventKind = Field(description="Which source produced the event.")
    source: str = Field(description="Project-relative path, or 'git'.")
    key: str = Field(description="Id inside the source: message id, path, sha.")
    content_hash: str = Field(description="sha256 of the content, for dedup.")
    timestamp: str | None = Field(
        default=None, description="ISO 8601 time the event happened, if known."
    )
    title: str = Field(default="", description="One-line label for listings.")
    text: str = Field(default="", description="Text content, possibly shortened.")
    data: dict[str, Any] = Field(
        default_factory=dict, description="Source-specific fields."
    )


class ChatMessage(BaseModel):
    """One message of a chat log or transcript, normalized."""

    session_id: str = Field(description="Session the message belongs to.")
    message_id: str = Field(description="Message id, or a derived stable id.")
    parent_id: str | None = Field(default=None, description="Parent message id.")
    role: str = Field(default="user", description="user, assistant, system ...")
    text: str = Field(description="Message text.")
    timestamp: str | None = Field(default=None, description="ISO 8601 time.")
    source: str = Field(description="Project-relative path of the log file.")
    line: int = Field(description="1-based line (JSONL) or first line of turn.")


class Extractions(BaseModel):
    """Items the curator pulled out of a text, each a short sentence."""

    decisions: list[str] = Field(default_factory=list)
    questions: list[str] = Field(default_factory=list)
    todos: list[str] = Field(default_factory=list)
    risks: list[str] = Field(default_factory=list)


class EngineRun(BaseModel):
    """Record of the engine that produced an output and whether it fell back."""

    engine: str = Field(description="Engine name, e.g. 'offline' or 'llm:MODEL'.")
    fallback: bool = Field(default=False, description="True if the LLM failed.")
    reason: str | None = Field(
        default=None, description="Short reason code for the fallback."
    )
    duration_ms: float = Field(default=0.0, description="Wall time of the call.")


class SessionDigest(BaseModel):
    """The curator's output for one chat session or transcript."""

    session_id: str
    source: str = Field(description="Project-relative path of the log.")
    message_count: int
    window_count: int = Field(description="Token windows the text was split into.")
    summary: str = Field(description="At most 400 characters.")
    extractions: Extractions
    run: EngineRun
    started_at: str | None = None
    ended_at: str | None = None


class Finding(BaseModel):
    """One verified gap or contradiction, citing where it was seen."""

    kind: str = Field(description="Finding kind; see docs/findings.md.")
    severity: Severity = "warning"
    message: str = Field(description="What is wrong, as a sentence.")
    path: str = Field(description="Project-relative file the finding cites.")
    line: int | None = Field(default=None, description="1-based line in `path`.")
    subject: str | None = Field(
        default=None, description="Milestone, criterion or item concerned."
    )
    evidence: str | None = Field(
        default=None, description="Cited evidence path, when one is involved."
    )
    evidence_line: int | None = Field(
        default=None, description="Line in the evidence file that shows it."
    )
    quote: str | None = Field(
        default=None, description="The line of text that shows the problem."
    )
    suggestion: str | None = Field(
        default=None, description="What would fix it, e.g. the closest file."
    )

    @property
    def location(self) -> str:
        return f"{self.path}:{self.line}" if self.line else self.path


class NextMove(BaseModel):
    """The planner's decision for what to do next."""

    rule: str = Field(description="Id of the decision rule that fired.")
    action: str = Field(description="The move, as an imperative sentence.")
    reason: str = Field(description="Why this rule fired.")
    subject: str | None = Field(default=None, description="Item it concerns.")
    cites: list[str] = Field(
        default_factory=list, description="Locations (path:line) it rests on."
    )
    run: EngineRun | None = Field(
        default=None, description="Engine that worded the action, if any."
    )


class Criterion(BaseModel):
    """An exit criterion and whether evidence shows it is met."""

    text: str
    line: int | None = None
    subject: str | None = Field(default=None, description="Milestone id, if named.")
    met: bool = False
    basis: str = Field(default="", description="Why it counts as met or not.")
