"""Read chat logs (JSONL) and plain transcripts into `ChatMessage` records.

Chat tools write JSONL with different field names for the same thing, so
each field is looked up under its known aliases. A line that cannot be read
becomes a `Problem` naming the file and line, and the rest of the file is
still read.

Plain transcripts (``.txt``, ``.md``) are one session per file. Lines that
start with a speaker prefix (``User:``, ``Assistant:``, ``ユーザー：``,
``アシスタント：``) start a new turn. A transcript without any prefix is one
message.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from vpm.model import ChatMessage, Problem

log = logging.getLogger("vpm")

JSONL_SUFFIXES = frozenset({".jsonl", ".ndjson"})
UNKNOWN_ROLE = "unknown"

ROLE_KEYS = ("role", "speaker", "author", "sender", "from")
TEXT_KEYS = ("content", "text", "message", "body")
SESSION_KEYS = (
    "session_id",
    "sessionId",
    "conversation_id",
    "conversationId",
    "thread_id",
    "threadId",
)
MESSAGE_ID_KEYS = ("msg_id", "message_id", "messageId", "id", "uuid")
PARENT_KEYS = ("parent_id", "parentId", "parent", "parentUuid", "parent_message_id")
TIME_KEYS = ("timestamp", "ts", "created_at", "createdAt", "time", "create_time")

# Role names that mean the same as vpm's user / assistant / system.
ROLE_ALIASES = {
    "human": "user",
    "ユーザー": "user",
    "ユーザ": "user",
    "ai": "assistant",
    "bot": "assistant",
    "model": "assistant",
    "gpt": "assistant",
    "アシスタント": "assistant",
    "システム": "system",
}

_SPEAKER = re.compile(
    r"^\s*(?:\*\*)?(?P<speaker>user|assistant|system|human|ai|"
    r"ユーザー|ユーザ|アシスタント|システム)(?:\*\*)?\s*[:：]\s*(?:\*\*)?\s*",
    re.IGNORECASE,
)

# Epoch values above this are taken as milliseconds, because as seconds
# they would fall after the year 5000.
_EPOCH_MS_THRESHOLD = 100_000_000_000


def read_chat_file(path: Path, rel: str) -> tuple[list[ChatMessage], list[Problem]]:
    """Read one chat log or transcript.

    Args:
        path: File to read.
        rel: The file's project-relative path, used in messages and ids.

    Returns:
        The messages in file order, and a problem for each part of the
        file that could not be read. Reading never raises on content.
    """
    text, problem = _read_text(path, rel)
    if problem and not text:
        return [], [problem]
    if path.suffix.lower() in JSONL_SUFFIXES:
        messages, problems = _read_jsonl(text, rel)
        messages = _unique_ids(messages, rel)
    else:
        messages, problems = _read_transcript(text, rel), []
    if problem:
        problems.insert(0, problem)
    log.debug("read %d chat messages from %s", len(messages), rel)
    return messages, problems


def _unique_ids(messages: list[ChatMessage], rel: str) -> list[ChatMessage]:
    """Give repeated message ids in one file a line suffix so none is lost."""
    seen: set[str] = set()
    unique = []
    for message in messages:
        if message.message_id in seen:
            message = message.model_copy(
                update={"message_id": f"{message.message_id}@{rel}:{message.line}"}
            )
        seen.add(message.message_id)
        unique.append(message)
    return unique


def derive_session_id(rel: str) -> str:
    """Return the session id of a file whose messages name no session."""
    return "file-" + _short_hash(rel)


def derive_message_id(rel: str, line: int) -> str:
    """Return a stable id for the message that starts at `line` of `rel`."""
    return "line-" + _short_hash(f"{rel}:{line}")


def _short_hash(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()[:16]


def _read_text(path: Path, rel: str) -> tuple[str, Problem | None]:
    """Read `path` as UTF-8 (with or without a BOM), or explain why not."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        return "", Problem(
            path=rel, message=f"failed to read the file: {exc.strerror or exc}"
        )
    if b"\x00" in data:
        return "", Problem(
            path=rel, message="binary file (contains NUL bytes), expected UTF-8 text"
        )
    try:
        return data.decode("utf-8-sig"), None
    except UnicodeDecodeError as exc:
        # One bad byte should not cost the whole log: the rest is read with
        # the bad bytes replaced, and the first bad line is reported.
        line = data[: exc.start].count(b"\n") + 1
        message = (
            f"invalid UTF-8 at byte {exc.start}; undecodable bytes were replaced "
            "and the rest of the file was read"
        )
        text = data.decode("utf-8-sig", errors="replace")
        return text, Problem(path=rel, line=line, message=message)


def _split_lines(text: str) -> list[str]:
    """Split `text` at line feeds only, dropping a carriage return before one.

    str.splitlines() also splits at U+2028 and other separators, which JSON
    strings may contain unescaped, so it would cut valid JSONL lines apart.
    """
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return [line.removesuffix("\r") for line in lines]


# JSONL


def _read_jsonl(text: str, rel: str) -> tuple[list[ChatMessage], list[Problem]]:
    messages: list[ChatMessage] = []
    problems: list[Problem] = []
    for number, line in enumerate(_split_lines(text), start=1):
        record, problem = _parse_line(line, rel, number)
        if record is not None:
            message, problem = _to_message_or_problem(record, rel, number)
            if message is not None:
                messages.append(message)
        if problem is not None:
            problems.append(problem)
    return messages, problems


def _parse_line(
    line: str, rel: str, number: int
) -> tuple[dict[str, Any] | None, Problem | None]:
    if not line.strip():
        return None, Problem(path=rel, line=number, message="blank line")
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        message = f"invalid JSON ({exc.msg} at column {exc.colno})"
        return None, Problem(path=rel, line=number, message=message)
    except RecursionError:
        message = "invalid JSON (nested too deeply to read)"
        return None, Problem(path=rel, line=number, message=message)
    if not isinstance(record, dict):
        kind = type(record).__name__
        message = f"expected a JSON object, got {kind}"
        return None, Problem(path=rel, line=number, message=message)
    return record, None


def _to_message_or_problem(
    record: dict[str, Any], rel: str, number: int
) -> tuple[ChatMessage | None, Problem | None]:
    try:
        return _to_message(record, rel, number)
    except RecursionError:
        message = "message content nested too deeply to read, line skipped"
        return None, Problem(path=rel, line=number, message=message)


def _to_message(
    record: dict[str, Any], rel: str, number: int
) -> tuple[ChatMessage | None, Problem | None]:
    """Normalize one JSON object into a message; see the module docstring."""
    # Some tools wrap the message in a "message" object that contains the
    # role and content, next to the envelope's ids.
    inner = record.get("message")
    body = inner if isinstance(inner, dict) else record
    text = _first_text(body)
    if text is None and body is not record:
        text = _first_text(record)
    if text is None:
        fields = ", ".join(TEXT_KEYS)
        message = f"missing message text (no text in any of: {fields}), line skipped"
        return None, Problem(path=rel, line=number, message=message)
    timestamp, problem = _timestamp(_first(record, TIME_KEYS), rel, number)
    message = ChatMessage(
        session_id=_string(_first(record, SESSION_KEYS)) or derive_session_id(rel),
        message_id=_message_id(record, body, rel, number),
        parent_id=_string(_first(record, PARENT_KEYS)),
        role=_role(_first(body, ROLE_KEYS) or _first(record, ROLE_KEYS)),
        text=_valid_unicode(text),
        timestamp=timestamp,
        source=rel,
        line=number,
    )
    return message, problem


def _first(record: dict[str, Any], keys: tuple[str, ...]) -> Any:
    for key in keys:
        value = record.get(key)
        if value is not None:
            return value
    return None


def _string(value: Any) -> str | None:
    if value is None or isinstance(value, dict | list):
        return None
    text = _valid_unicode(str(value).strip())
    return text or None


def _valid_unicode(text: str) -> str:
    """Replace lone surrogates, which JSON escapes allow but UTF-8 cannot encode."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace").decode("utf-8")
    return text


def _message_id(
    record: dict[str, Any], body: dict[str, Any], rel: str, line: int
) -> str:
    found = _string(_first(record, MESSAGE_ID_KEYS)) or _string(
        _first(body, MESSAGE_ID_KEYS)
    )
    return found or derive_message_id(rel, line)


def _first_text(body: dict[str, Any]) -> str | None:
    for key in TEXT_KEYS:
        if key in body:
            text = _text_of(body[key])
            if text is not None:
                return text
    return None


def _text_of(value: Any) -> str | None:
    """Return the text of a content value: a string, parts, or an object.

    Parts that carry no text (images, tool calls) are skipped. None means
    the value contains no text at all.
    """
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        texts = [text for part in value if (text := _text_of(part)) is not None]
        return "\n".join(texts) if texts else None
    if isinstance(value, dict):
        for key in ("text", "content", "parts"):
            if key in value:
                return _text_of(value[key])
    return None


def _role(value: Any) -> str:
    if isinstance(value, dict):
        value = value.get("role") or value.get("name")
    name = _string(value)
    if name is None:
        return UNKNOWN_ROLE
    lowered = name.lower()
    return ROLE_ALIASES.get(lowered, lowered)


def _timestamp(value: Any, rel: str, line: int) -> tuple[str | None, Problem | None]:
    """Normalize a timestamp to ISO 8601 UTC ending in ``Z``.

    The store orders messages by this string, so every message gets the
    same format. Epoch numbers may be seconds or milliseconds. A time
    without a zone is taken as UTC. An invalid string is kept as given and
    any other invalid value is dropped, each with a problem.
    """
    if value is None:
        return None, None
    moment = _parse_time(value)
    if moment is not None:
        text = moment.isoformat(timespec="milliseconds")
        return text.replace("+00:00", "Z"), None
    kept = value if isinstance(value, str) else None
    outcome = "kept as given" if kept else "ignored"
    message = (
        f"invalid timestamp {value!r}, expected ISO 8601 or epoch seconds "
        f"or milliseconds; {outcome}"
    )
    return kept, Problem(path=rel, line=line, message=message)


def _parse_time(value: Any) -> datetime | None:
    """Return `value` as an aware UTC datetime, or None if it is not a time."""
    if isinstance(value, str) and re.fullmatch(r"\d+(\.\d+)?", value.strip()):
        value = float(value)
    try:
        if isinstance(value, int | float) and not isinstance(value, bool):
            seconds = value / 1000 if value > _EPOCH_MS_THRESHOLD else value
            return datetime.fromtimestamp(seconds, UTC)
        if isinstance(value, str):
            moment = datetime.fromisoformat(value.strip())
            zoned = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
            return zoned.astimezone(UTC)
    except (OverflowError, OSError, ValueError):
        return None
    return None


# Plain transcripts


def _read_transcript(text: str, rel: str) -> list[ChatMessage]:
    """Split a transcript into turns at speaker prefixes; see the module docstring."""
    session_id = derive_session_id(rel)
    turns = _split_turns(text)
    messages = []
    for role, line, body in turns:
        body = body.strip()
        if not body:
            continue
        messages.append(
            ChatMessage(
                session_id=session_id,
                message_id=derive_message_id(rel, line),
                role=role,
                text=body,
                source=rel,
                line=line,
            )
        )
    return messages


def _split_turns(text: str) -> list[tuple[str, int, str]]:
    """Return (role, first line, text) for each turn of a transcript.

    Text before the first speaker prefix is a turn of unknown role.
    """
    turns: list[tuple[str, int, list[str]]] = [(UNKNOWN_ROLE, 1, [])]
    for number, line in enumerate(_split_lines(text), start=1):
        match = _SPEAKER.match(line)
        if match:
            role = _role(match.group("speaker"))
            turns.append((role, number, [line[match.end() :]]))
        else:
            turns[-1][2].append(line)
    return [
        (role, _first_content_line(line, lines), "\n".join(lines))
        for role, line, lines in turns
    ]


def _first_content_line(line: int, lines: list[str]) -> int:
    """Return the number of the turn's first non-blank line."""
    for offset, content in enumerate(lines):
        if content.strip():
            return line + offset
    return line
