"""Tasks submitted through the HTTP API, in the store's `tasks` table.

The table joins the store's shared SQLAlchemy metadata, so it lives in the
same database as events and cycles. `ensure_tasks_table` creates it on a
store opened before this module was imported.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import JSON, Column, String, Table, Text, insert, select
from sqlalchemy.exc import SQLAlchemyError

from vpm.errors import StoreError
from vpm.store.core import Store, metadata

tasks_table = Table(
    "tasks",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("project", String(200), nullable=False, index=True),
    Column("title", Text, nullable=False),
    Column("detail", Text, nullable=False, default=""),
    Column("priority", String(8), nullable=False),
    Column("tags", JSON, nullable=False),
    Column("dedupe_key", String(64), nullable=False, index=True),
    Column("trace_id", String(64), nullable=False),
    Column("created_at", String(40), nullable=False),
    Column("evidence", Text),
)

# One lock for the check-then-insert of a task, so two requests in this
# process cannot both miss each other's row.
# NOTE: separate server processes sharing one database can each store the
# same task once, because this lock does not reach across processes.
_insert_lock = threading.Lock()


def ensure_tasks_table(store: Store) -> None:
    """Create the `tasks` table when the store does not have it yet.

    Raises:
        StoreError: The table cannot be created.
    """
    try:
        tasks_table.create(store.engine, checkfirst=True)
    except SQLAlchemyError as exc:
        raise StoreError(f"cannot create the tasks table: {exc}") from exc


def format_time(moment: datetime) -> str:
    """Format a time as stored in `created_at`, so strings sort as times."""
    return moment.isoformat(timespec="microseconds")


def dedupe_key(
    project: str, title: str, detail: str, priority: str, tags: list[str]
) -> str:
    """Return the sha256 that two submissions of the same task share."""
    fields = [project, title, detail, priority, sorted(tags)]
    text = json.dumps(fields, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def insert_task_once(
    store: Store,
    row: dict[str, Any],
    now: datetime,
    window_seconds: float,
    before_insert: Callable[[dict[str, Any]], None] | None = None,
) -> tuple[dict[str, Any], bool]:
    """Insert a task unless the same task was stored within the window.

    Args:
        store: The project's store.
        row: Column values of the new task, `created_at` from `format_time`.
        now: Current time, timezone-aware.
        window_seconds: How far back an identical task counts as a repeat.
        before_insert: Called with the row just before it is inserted, inside
            the transaction, so an exception it raises stores nothing.

    Returns:
        The stored row and True when it was inserted now, or the earlier
        identical row and False.

    Raises:
        StoreError: The database cannot be read or written.
    """
    since = format_time(now - timedelta(seconds=window_seconds))
    query = (
        select(tasks_table)
        .where(tasks_table.c.dedupe_key == row["dedupe_key"])
        .where(tasks_table.c.created_at >= since)
        .order_by(tasks_table.c.created_at)
        .limit(1)
    )
    try:
        with _insert_lock, store.engine.begin() as conn:
            earlier = conn.execute(query).mappings().first()
            if earlier is not None:
                return dict(earlier), False
            if before_insert is not None:
                before_insert(row)
            conn.execute(insert(tasks_table).values(row))
    except SQLAlchemyError as exc:
        raise StoreError(f"cannot store the task: {exc}") from exc
    return row, True


def list_tasks(store: Store, project: str, limit: int = 20) -> list[dict[str, Any]]:
    """Return the newest tasks of one project, newest first."""
    query = (
        select(tasks_table)
        .where(tasks_table.c.project == project)
        .order_by(tasks_table.c.created_at.desc())
        .limit(limit)
    )
    try:
        with store.engine.connect() as conn:
            return [dict(row) for row in conn.execute(query).mappings()]
    except SQLAlchemyError as exc:
        raise StoreError(f"cannot read tasks: {exc}") from exc
