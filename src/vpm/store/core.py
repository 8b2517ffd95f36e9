"""SQLAlchemy Core implementation of the store."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Engine as SqlEngine
from sqlalchemy.exc import SQLAlchemyError

from vpm.errors import StoreError
from vpm.fsio import ensure_data_dir
from vpm.model import ChatMessage, Event, Finding

log = logging.getLogger("vpm")

SCHEMA_VERSION = 1

metadata = MetaData()

events_table = Table(
    "events",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("kind", String(16), nullable=False, index=True),
    Column("source", Text, nullable=False),
    Column("key", Text, nullable=False),
    Column("content_hash", String(64), nullable=False),
    Column("timestamp", String(40)),
    Column("title", Text),
    Column("text", Text),
    Column("data", JSON),
    Column("session_id", Text, index=True),
    Column("cycle_id", Integer, index=True),
)

cycles_table = Table(
    "cycles",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("trace_id", String(64), nullable=False),
    Column("started_at", String(40), nullable=False),
    Column("finished_at", String(40)),
    Column("event_count", Integer, nullable=False, default=0),
    Column("finding_count", Integer, nullable=False, default=0),
    Column("result", JSON),
)

findings_table = Table(
    "findings",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("cycle_id", Integer, nullable=False, index=True),
    Column("kind", String(40), nullable=False, index=True),
    Column("severity", String(10), nullable=False),
    Column("path", Text, nullable=False),
    Column("line", Integer),
    Column("message", Text, nullable=False),
    Column("data", JSON),
)

watermarks_table = Table(
    "watermarks",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", JSON, nullable=False),
)

meta_table = Table(
    "meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def open_store(url: str | None, data_dir: Path) -> Store:
    """Open the store at `url`, or the SQLite file `data_dir/vpm.db`.

    Raises:
        StoreError: The database cannot be opened or its schema created.
    """
    if url is None:
        ensure_data_dir(data_dir)
        url = f"sqlite:///{data_dir / 'vpm.db'}"
    try:
        engine = create_engine(url, future=True)
        if engine.dialect.name == "sqlite":
            event.listen(engine, "connect", _sqlite_pragmas)
        metadata.create_all(engine)
    except SQLAlchemyError as exc:
        raise StoreError(f"cannot open the store at {_redact(url)}: {exc}") from exc
    return Store(engine)


def _redact(url: str) -> str:
    """Hide a password in a database URL before it goes into a message."""
    if "@" not in url or "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    credentials, host = rest.rsplit("@", 1)
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}"


class Store:
    """Events, findings, cycles and watermarks of one project."""

    def __init__(self, engine: SqlEngine) -> None:
        self.engine = engine

    def close(self) -> None:
        self.engine.dispose()

    # events

    def known_hashes(self, ids: Iterable[str]) -> dict[str, str]:
        """Return the stored content hash of each id that is already known."""
        wanted = list(ids)
        found: dict[str, str] = {}
        with self.engine.connect() as conn:
            for start in range(0, len(wanted), 500):
                chunk = wanted[start : start + 500]
                rows = conn.execute(
                    select(events_table.c.id, events_table.c.content_hash).where(
                        events_table.c.id.in_(chunk)
                    )
                )
                found.update({row.id: row.content_hash for row in rows})
        return found

    def load_chat_messages(self, session_id: str) -> list[ChatMessage]:
        """Return the stored messages of one chat session, oldest first."""
        query = select(events_table.c.data).where(
            events_table.c.kind == "chat", events_table.c.session_id == session_id
        )
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        messages = []
        for (data,) in rows:
            message = (data or {}).get("message")
            if message:
                messages.append(ChatMessage.model_validate(message))
        messages.sort(key=lambda m: (m.timestamp or "", m.line))
        return messages

    def count(self, table: str) -> int:
        """Return the number of rows in one of the store's tables."""
        tables = {t.name: t for t in metadata.sorted_tables}
        with self.engine.connect() as conn:
            return conn.execute(
                select(func.count()).select_from(tables[table])
            ).scalar_one()

    def list_events(self, kind: str | None = None) -> list[Event]:
        query = select(events_table)
        if kind:
            query = query.where(events_table.c.kind == kind)
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(events_table.c.id)).mappings().all()
        return [
            Event.model_validate({k: row[k] for k in Event.model_fields})
            for row in rows
        ]

    # cycles

    def record_cycle(
        self,
        *,
        trace_id: str,
        started_at: str,
        finished_at: str,
        events: list[Event],
        findings: list[Finding],
        result: dict[str, Any],
        watermarks: dict[str, Any],
    ) -> int:
        """Store one finished cycle in a single transaction.

        Events, findings, the cycle row and the new watermarks are written
        together, so a cycle that fails half-way leaves the store as it was
        and its events are seen again by the next cycle.
        """
        try:
            with self.engine.begin() as conn:
                cycle_id = conn.execute(
                    insert(cycles_table).values(
                        trace_id=trace_id,
                        started_at=started_at,
                        finished_at=finished_at,
                        event_count=len(events),
                        finding_count=len(findings),
                        result=result,
                    )
                ).inserted_primary_key[0]
                self._upsert_events(conn, events, cycle_id)
                if findings:
                    conn.execute(
                        insert(findings_table),
                        [_finding_row(f, cycle_id) for f in findings],
                    )
                for name, value in watermarks.items():
                    self._put_watermark(conn, name, value)
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot record the cycle: {exc}") from exc
        return int(cycle_id)

    def _upsert_events(self, conn: Any, events: list[Event], cycle_id: int) -> None:
        known = set(self.known_hashes(e.id for e in events))
        for item in events:
            row = _event_row(item, cycle_id)
            if item.id in known:
                conn.execute(
                    update(events_table).where(events_table.c.id == item.id).values(row)
                )
            else:
                conn.execute(insert(events_table).values(row))

    def last_cycle(self) -> dict[str, Any] | None:
        """Return the newest cycle row as a dict, or None before the first."""
        query = select(cycles_table).order_by(cycles_table.c.id.desc()).limit(1)
        with self.engine.connect() as conn:
            row = conn.execute(query).mappings().first()
        return dict(row) if row else None

    # watermarks

    def get_watermark(self, name: str) -> dict[str, Any]:
        query = select(watermarks_table.c.value).where(watermarks_table.c.name == name)
        with self.engine.connect() as conn:
            value = conn.execute(query).scalar_one_or_none()
        return value or {}

    def _put_watermark(self, conn: Any, name: str, value: dict[str, Any]) -> None:
        exists = conn.execute(
            select(watermarks_table.c.name).where(watermarks_table.c.name == name)
        ).first()
        if exists:
            conn.execute(
                update(watermarks_table)
                .where(watermarks_table.c.name == name)
                .values(value=value)
            )
        else:
            conn.execute(insert(watermarks_table).values(name=name, value=value))


def _event_row(item: Event, cycle_id: int) -> dict[str, Any]:
    row = item.model_dump()
    row["session_id"] = item.data.get("session_id")
    row["cycle_id"] = cycle_id
    row["data"] = json.loads(json.dumps(row["data"], default=str))
    return row


def _finding_row(item: Finding, cycle_id: int) -> dict[str, Any]:
    return {
        "cycle_id": cycle_id,
        "kind": item.kind,
        "severity": item.severity,
        "path": item.path,
        "line": item.line,
        "message": item.message,
        "data": item.model_dump(),
    }


def read_last_cycle(database: Path) -> dict[str, Any] | None:
    """Read the newest cycle from a SQLite file without writing to it.

    Returns None when the file does not exist or contains no cycle yet.
    """
    import sqlite3

    if not database.is_file():
        return None
    # With no -wal file every commit is in the database file, and
    # immutable=1 reads it without creating the -shm and -wal files, so
    # status leaves nothing behind and works on a read-only project. A -wal
    # file means a process (such as `vpm serve`) has commits there, which
    # only a normal read-only open reads.
    wal = database.with_name(database.name + "-wal")
    uri = f"file:{database}?mode=ro" + ("" if wal.exists() else "&immutable=1")
    try:
        with sqlite3.connect(uri, uri=True) as conn:
            row = conn.execute(
                "SELECT id, trace_id, started_at, finished_at, event_count, "
                "finding_count FROM cycles ORDER BY id DESC LIMIT 1"
            ).fetchone()
    except sqlite3.Error as exc:
        raise StoreError(f"cannot read {database}: {exc}") from exc
    if row is None:
        return None
    keys = (
        "id",
        "trace_id",
        "started_at",
        "finished_at",
        "event_count",
        "finding_count",
    )
    return dict(zip(keys, row, strict=True))
