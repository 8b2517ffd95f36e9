"""The curator: one digest per chat session touched by new events.

For each session it merges the messages already in the store with the new
ones and splits the joined text into token windows. The engine then writes
a summary within the character limit and extracts decisions, open
questions, todos and risks. A long session is summarized window by window,
and the window summaries are then summarized again.
"""

from __future__ import annotations

import logging
from collections import defaultdict

from pydantic import BaseModel, Field, ValidationError

from vpm.engines.offline import clip_text
from vpm.errors import UserError
from vpm.model import ChatMessage, EngineRun, Event, Extractions, Problem, SessionDigest
from vpm.roles.context import RoleContext
from vpm.text.sentences import sentence_spans
from vpm.text.windows import Window, split_windows, widen_to_sentences

log = logging.getLogger("vpm")

# Window summaries are summarized again, level by level, at most this many
# times. Whatever text remains then goes to one final engine call.
MAX_SUMMARY_LEVELS = 4
MAX_ITEMS_PER_KIND = 10
MESSAGE_SEPARATOR = "\n\n"


class CurationInput(BaseModel):
    """New events for the curator, which reads only the chat events among them."""

    events: list[Event] = Field(description="Events from the watcher, any kind.")


class CurationOutput(BaseModel):
    """Digests of the sessions the new events touched."""

    digests: list[SessionDigest] = Field(
        default_factory=list, description="One digest per session, by session id."
    )
    problems: list[Problem] = Field(
        default_factory=list, description="Chat events that could not be read."
    )


def curate(inp: CurationInput, ctx: RoleContext) -> CurationOutput:
    """Write a digest for every chat session that has new messages.

    Raises:
        UserError: The window settings are invalid (overlap not smaller
            than the window).
    """
    _check_window_settings(ctx)
    output = CurationOutput()
    new_messages = _new_messages(inp.events, output.problems)
    for session_id in sorted(new_messages):
        stored = ctx.store.load_chat_messages(session_id)
        messages = merge_messages(stored, new_messages[session_id])
        output.digests.append(digest_session(session_id, messages, ctx))
    log.debug("curated %d sessions", len(output.digests))
    return output


def _check_window_settings(ctx: RoleContext) -> None:
    size = ctx.settings.window_tokens
    overlap = ctx.settings.window_overlap
    if overlap >= size:
        raise UserError(
            f"window_overlap ({overlap}) must be smaller than window_tokens "
            f"({size}); lower VPM_WINDOW_OVERLAP or raise VPM_WINDOW_TOKENS"
        )


def _new_messages(
    events: list[Event], problems: list[Problem]
) -> dict[str, list[ChatMessage]]:
    """Group the chat messages carried by `events` by session id."""
    sessions: dict[str, list[ChatMessage]] = defaultdict(list)
    for event in events:
        if event.kind != "chat":
            continue
        try:
            message = ChatMessage.model_validate(event.data.get("message"))
        except ValidationError as exc:
            reason = exc.errors()[0]["msg"]
            text = f"chat event {event.key} has no valid message: {reason}"
            problems.append(Problem(path=event.source, message=text))
            continue
        session_id = event.data.get("session_id") or message.session_id
        sessions[session_id].append(message)
    return sessions


def merge_messages(
    stored: list[ChatMessage], new: list[ChatMessage]
) -> list[ChatMessage]:
    """Merge messages by file and message id, new over stored, in order.

    The key includes the file, so two logs that reuse an id for the same
    session both keep their message.

    Messages are ordered by timestamp, then file and line. A message
    without a timestamp sorts before timed ones, as in the store.
    """
    merged = {(m.source, m.message_id): m for m in stored}
    merged.update({(m.source, m.message_id): m for m in new})
    return sorted(merged.values(), key=_message_order)


def _message_order(message: ChatMessage) -> tuple[str, str, int, str]:
    return (message.timestamp or "", message.source, message.line, message.message_id)


def digest_session(
    session_id: str, messages: list[ChatMessage], ctx: RoleContext
) -> SessionDigest:
    """Summarize one session and pull out its decisions, questions, todos, risks."""
    text = MESSAGE_SEPARATOR.join(m.text.strip() for m in messages if m.text.strip())
    windows = _windows(text, ctx)
    runs: list[EngineRun] = []
    summary = _summarize(text, windows, ctx, runs)
    extractions = _extract(text, windows, ctx, runs)
    timestamps = sorted(m.timestamp for m in messages if m.timestamp)
    return SessionDigest(
        session_id=session_id,
        source=messages[0].source if messages else "",
        message_count=len(messages),
        window_count=len(windows),
        summary=summary,
        extractions=extractions,
        run=combine_runs(runs, ctx.engine.name),
        started_at=timestamps[0] if timestamps else None,
        ended_at=timestamps[-1] if timestamps else None,
    )


def _windows(text: str, ctx: RoleContext) -> list[Window]:
    size = ctx.settings.window_tokens
    overlap = ctx.settings.window_overlap
    return widen_to_sentences(text, split_windows(text, size, overlap))


def _summarize(
    text: str, windows: list[Window], ctx: RoleContext, runs: list[EngineRun]
) -> str:
    """Summarize `text`, reducing it window by window while it is too long."""
    max_chars = ctx.settings.summary_max_chars
    for _level in range(MAX_SUMMARY_LEVELS):
        if len(windows) <= 1:
            break
        parts = [_call_summarize(w.text, max_chars, ctx, runs) for w in windows]
        reduced = MESSAGE_SEPARATOR.join(part for part in parts if part)
        # Another level would not shrink a text that this level did not shrink.
        if len(reduced) >= len(text):
            break
        text = reduced
        windows = _windows(text, ctx)
    return _call_summarize(text, max_chars, ctx, runs)


def _call_summarize(
    text: str, max_chars: int, ctx: RoleContext, runs: list[EngineRun]
) -> str:
    summary, run = ctx.engine.summarize(text, max_chars)
    runs.append(run)
    if len(summary) > max_chars:
        # A digest promises the limit even when an engine ignores it.
        log.warning(
            "engine %s returned %d characters for a %d-character summary; clipped",
            run.engine,
            len(summary),
            max_chars,
        )
        summary = clip_text(summary, max_chars)
    return summary


def _extract(
    text: str, windows: list[Window], ctx: RoleContext, runs: list[EngineRun]
) -> Extractions:
    """Extract items window by window and merge them in order, without repeats."""
    pieces = [text] if len(windows) <= 1 else _with_headings(text, windows)
    merged = Extractions()
    for piece in pieces:
        found, run = ctx.engine.extract(piece)
        runs.append(run)
        _merge_extractions(merged, found)
    return merged


def _with_headings(text: str, windows: list[Window]) -> list[str]:
    """Return each window's text led by the Markdown heading it falls under.

    A window that starts inside a section such as ``## 決定事項`` would lose
    the heading that gives its list items their category.
    """
    headings = [s for s in sentence_spans(text) if s.kind == "heading"]
    pieces = []
    for window in windows:
        above = [h for h in headings if h.end <= window.start]
        if above:
            line_start = text.rfind("\n", 0, above[-1].start) + 1
            pieces.append(text[line_start : above[-1].end] + "\n" + window.text)
        else:
            pieces.append(window.text)
    return pieces


def _merge_extractions(merged: Extractions, found: Extractions) -> None:
    for kind in ("decisions", "questions", "todos", "risks"):
        items: list[str] = getattr(merged, kind)
        for item in getattr(found, kind):
            if item not in items and len(items) < MAX_ITEMS_PER_KIND:
                items.append(item)


def combine_runs(runs: list[EngineRun], engine_name: str) -> EngineRun:
    """Fold the runs of one digest into one record.

    The digest names the engine of the last call, falls back if any call
    fell back, gives the first fallback reason, and sums the durations.
    """
    if not runs:
        return EngineRun(engine=engine_name)
    fallbacks = [run for run in runs if run.fallback]
    return EngineRun(
        engine=runs[-1].engine,
        fallback=bool(fallbacks),
        reason=fallbacks[0].reason if fallbacks else None,
        duration_ms=sum(run.duration_ms for run in runs),
    )
