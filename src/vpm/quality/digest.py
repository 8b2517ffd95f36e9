"""Run the curator on a text outside a cycle, recording every engine call."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from vpm.engines.base import Engine
from vpm.model import ChatMessage, EngineRun, Extractions, SessionDigest
from vpm.roles.context import RoleContext
from vpm.roles.curator import digest_session, merge_messages
from vpm.settings import Settings


@dataclass
class RecordingEngine:
    """An engine wrapper that keeps the `EngineRun` of every call by task.

    The curator folds the runs of one digest into one record, so a caller
    that needs to know how the extraction call went reads `runs` instead.
    """

    engine: Engine
    runs: list[tuple[str, EngineRun]] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.engine.name

    def summarize(self, text: str, max_chars: int = 400) -> tuple[str, EngineRun]:
        summary, run = self.engine.summarize(text, max_chars)
        self.runs.append(("summarize", run))
        return summary, run

    def extract(self, text: str) -> tuple[Extractions, EngineRun]:
        extractions, run = self.engine.extract(text)
        self.runs.append(("extract", run))
        return extractions, run

    def word(self, instruction: str, draft: str) -> tuple[str, EngineRun]:
        text, run = self.engine.word(instruction, draft)
        self.runs.append(("word", run))
        return text, run


def digest_turns(
    turns: tuple[str, ...] | list[str],
    settings: Settings,
    engine: Engine,
    session_id: str = "item",
) -> SessionDigest:
    """Summarize chat turns and extract items as the curator does in a cycle."""
    messages = [
        ChatMessage(
            session_id=session_id,
            message_id=f"{session_id}-{number}",
            text=turn,
            source=session_id,
            line=number,
        )
        for number, turn in enumerate(turns, start=1)
    ]
    return digest_messages(messages, settings, engine)


def digest_messages(
    messages: list[ChatMessage], settings: Settings, engine: Engine
) -> SessionDigest:
    """Run the curator's `digest_session` on `messages` as one session."""
    ordered = merge_messages([], messages)
    session_id = ordered[0].session_id if ordered else "empty"
    return digest_session(session_id, ordered, _curator_context(settings, engine))


def _curator_context(settings: Settings, engine: Engine) -> RoleContext:
    # digest_session reads only the settings and the engine of its context,
    # so no store or output folder is opened for a text outside a cycle.
    here = Path.cwd()
    return RoleContext(
        project=here,
        data_dir=here,
        reports_dir=here,
        store=None,  # type: ignore[arg-type]
        engine=engine,
        settings=settings,
        trace_id="",
    )
