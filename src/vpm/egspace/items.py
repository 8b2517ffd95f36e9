"""Turn the watcher's events into EG-Space items and the state into goal lines.

One item per evidence or ops file, per section of the state document, per
commit and per chat session. Each item is dated so the current position C
can weight recent work more:

1. the event's own timestamp (commits, chat messages);
2. a date in the file name (`p2_1_bootstrap_20250903_045206.md`);
3. the newest commit that changed the file, when git history is known;
4. the newest date written in the text, if it is not later than the newest
   date found by the rules above (so a deadline in the future does not
   count as the time of the work);
5. otherwise the item is undated: it is searchable and scored, but it takes
   no part in C or in the time series.

A state section is dated by a date in its heading, else by rule 4 on its
text, else by the document's `updated_at`, else like the document itself.
"""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime

from vpm.egspace.records import GoalLine
from vpm.model import Event
from vpm.state import markers as m
from vpm.state.parse import StateDocument, parse_state

PREVIEW_CHARS = 160
_DATE = re.compile(r"(?<!\d)(20\d{2})[-_/.]?([01]\d)[-_/.]?([0-3]\d)(?!\d)")


@dataclass
class ItemText:
    """An item before embedding: its record fields and the text to embed."""

    id: str
    kind: str
    source: str
    line: int | None
    title: str
    text: str
    timestamp: str | None
    end_line: int | None = None
    fallback_timestamp: str | None = None

    @property
    def embed_text(self) -> str:
        """The text the embedder reads: the title, then the content."""
        return f"{self.title}\n{self.text}"

    @property
    def content_hash(self) -> str:
        return sha256_text(self.embed_text)

    @property
    def preview(self) -> str:
        flat = " ".join(self.text.split())
        return flat if len(flat) <= PREVIEW_CHARS else flat[: PREVIEW_CHARS - 1] + "…"


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def stable_id(*parts: str) -> str:
    """Return a short id that depends only on `parts`."""
    return sha256_text("\x00".join(parts))[:32]


def items_from_events(events: Iterable[Event], state_file: str) -> list[ItemText]:
    """Build items from watcher events; deleted and binary files are skipped."""
    events = [e for e in events if not e.data.get("deleted")]
    commit_dates = _commit_dates(events)
    items: list[ItemText] = []
    chat: dict[str, list[Event]] = defaultdict(list)
    for event in events:
        if event.kind == "chat":
            chat[event.data.get("session_id") or event.source].append(event)
        elif event.kind == "commit":
            items.append(_commit_item(event))
        elif event.data.get("binary") or not event.text.strip():
            continue
        elif event.kind == "state" and event.source == state_file:
            items.extend(_state_items(event, commit_dates.get(event.source)))
        else:
            items.append(_file_item(event, commit_dates.get(event.source)))
    items.extend(_chat_item(session, messages) for session, messages in chat.items())
    _date_from_text(items)
    return sorted(items, key=lambda i: i.id)


def goal_lines(doc: StateDocument, version: str, when: str | None) -> list[GoalLine]:
    """Return the lines that make up G in one version of the state document.

    G is the short goal, the exit criteria and the open objectives: items
    of the goal and priority sections that are not ticked or marked done.
    """
    found: list[tuple[str, int | None, str]] = []
    if doc.short_goal:
        found.append(("short_goal", doc.front.line_of("short_goal"), doc.short_goal))
    found += [("exit_criterion", line, text) for text, line in doc.exit_criteria]
    for role in ("goal", "priority"):
        for item in doc.section_items(role):
            if item.checked or m.DONE.search(item.text) or len(item.text) < 4:
                continue
            found.append((role, item.line, item.text))
    return [
        GoalLine(
            id=stable_id(version, role, str(line), text),
            version=version,
            date=when,
            source=doc.path,
            line=line,
            role=role,
            text=text,
            content_hash=sha256_text(text),
        )
        for role, line, text in found
    ]


def parse_date(value: str | None) -> datetime | None:
    """Read an ISO 8601 time or date; a time without zone counts as UTC."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def dates_in(text: str) -> list[date]:
    """Return every valid calendar date written in `text` (2025-09-03, 20250903)."""
    found = []
    for match in _DATE.finditer(text):
        try:
            found.append(date(*(int(g) for g in match.groups())))
        except ValueError:
            continue
    return found


# one builder per event kind


def _file_item(event: Event, commit_date: str | None) -> ItemText:
    named = dates_in(event.source.rsplit("/", 1)[-1])
    when = _midnight(max(named)) if named else commit_date
    return ItemText(
        id=stable_id("file", event.source),
        kind=event.kind,
        source=event.source,
        line=None,
        title=event.source,
        text=event.text,
        timestamp=event.timestamp or when,
    )


def _commit_item(event: Event) -> ItemText:
    return ItemText(
        id=stable_id("commit", event.key),
        kind="commit",
        source="git",
        line=None,
        title=f"{event.key[:7]} {event.title}",
        text=event.text or event.title,
        timestamp=_iso(event.timestamp),
    )


def _chat_item(session: str, messages: list[Event]) -> ItemText:
    messages = sorted(messages, key=lambda e: (e.timestamp or "", e.key))
    text = "\n".join(f"{_role(e)}: {e.text}" for e in messages)
    times = [t for t in (_iso(e.timestamp) for e in messages) if t]
    return ItemText(
        id=stable_id("chat", session),
        kind="chat",
        source=messages[0].source,
        line=None,
        title=f"chat session {session} ({len(messages)} messages)",
        text=text,
        timestamp=max(times) if times else None,
    )


def _state_items(event: Event, commit_date: str | None) -> list[ItemText]:
    doc = parse_state(event.text, event.source)
    updated = doc.front.values.get("updated_at")
    fallback = _iso(str(updated)) if updated else event.timestamp or commit_date
    items: list[ItemText] = []
    seen: dict[str, int] = defaultdict(int)
    for section in doc.sections:
        body = "\n".join(doc.lines[section.line - 1 : section.end]).strip()
        if len(body) <= len(section.heading) + 8:
            continue
        seen[section.heading] += 1
        in_heading = dates_in(section.heading)
        items.append(
            ItemText(
                id=stable_id(
                    "state", event.source, section.heading, str(seen[section.heading])
                ),
                kind="state",
                source=event.source,
                line=section.line,
                title=f"{event.source} § {section.heading}",
                text=body,
                timestamp=_midnight(max(in_heading)) if in_heading else None,
                end_line=section.end,
                fallback_timestamp=fallback,
            )
        )
    return items


def _date_from_text(items: list[ItemText]) -> None:
    """Date the remaining items by the newest date in their text (rule 4)."""
    known = [parse_date(i.timestamp) for i in items if i.timestamp]
    ceiling = max((d for d in known if d), default=None)
    for item in items:
        if item.timestamp:
            continue
        written = [
            d for d in dates_in(item.text) if not ceiling or _midnight_dt(d) <= ceiling
        ]
        if written:
            item.timestamp = _midnight(max(written))
        else:
            item.timestamp = item.fallback_timestamp


def _commit_dates(events: list[Event]) -> dict[str, str]:
    """Map each path to the date of the newest commit that changed it."""
    newest: dict[str, str] = {}
    for event in events:
        if event.kind != "commit" or not event.timestamp:
            continue
        when = _iso(event.timestamp)
        for change in event.data.get("changes") or []:
            path = change.get("path")
            if path and when and when > newest.get(path, ""):
                newest[path] = when
    return newest


def _role(event: Event) -> str:
    message = event.data.get("message") or {}
    return str(message.get("role") or "user")


def _iso(value: str | None) -> str | None:
    parsed = parse_date(value)
    return parsed.astimezone(UTC).isoformat() if parsed else None


def _midnight_dt(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _midnight(day: date) -> str:
    return _midnight_dt(day).isoformat()
