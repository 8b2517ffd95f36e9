"""Shared services that every role receives besides its input message."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from vpm.settings import Settings

if TYPE_CHECKING:
    from vpm.engines.base import Engine
    from vpm.store import Store


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class RoleContext:
    """Shared services for one cycle.

    Attributes:
        project: Project folder (read only as far as vpm is concerned).
        data_dir: Folder for vpm's own state: database, watermark, memory.
        reports_dir: Folder for cycle reports and digests.
        store: The event, finding and cycle store.
        engine: Engine for summaries and wording.
        settings: Effective settings.
        trace_id: Id shared by every record this cycle writes.
        clock: Returns the current time; replaced in tests.
    """

    project: Path
    data_dir: Path
    reports_dir: Path
    store: Store
    engine: Engine
    settings: Settings
    trace_id: str
    clock: Callable[[], datetime] = field(default=utc_now)
