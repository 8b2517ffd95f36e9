"""The projects one server serves, and their cached status."""

from __future__ import annotations

import json
import logging
import os
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vpm.engines.base import Engine
from vpm.pipeline import Layout, make_context
from vpm.roles.planner import PlanInput, plan
from vpm.settings import Settings, load_settings
from vpm.sources.files import SKIP_DIRS
from vpm.store import Store, open_store
from vpm.store.tasks import ensure_tasks_table

log = logging.getLogger("vpm")

_UNSAFE_ID_CHARS = re.compile(r"[^A-Za-z0-9._-]+")

Fingerprint = tuple[tuple[str, int, int], ...]

# The columns of the newest cycle that `vpm status --format json` shows.
LAST_CYCLE_KEYS = (
    "id",
    "trace_id",
    "started_at",
    "finished_at",
    "event_count",
    "finding_count",
)


@dataclass(frozen=True)
class StatusEntry:
    """A computed status and the fingerprint of the files it was computed from."""

    fingerprint: Fingerprint
    payload: dict[str, Any]
    body: bytes = field(repr=False)


@dataclass
class StatusCache:
    """The last status of a project.

    The entry is replaced as a whole, so a reader needs no lock. The lock
    only keeps two threads from computing the same status at once.
    """

    entry: StatusEntry | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass
class ServedProject:
    """One project behind the API: where it is, its store and its engine."""

    id: str
    layout: Layout
    settings: Settings
    store: Store
    engine: Engine
    cycle_lock: threading.Lock = field(default_factory=threading.Lock)
    status_cache: StatusCache = field(default_factory=StatusCache)

    def close(self) -> None:
        self.store.close()


def public_path(
    path: Path | str | None, project: ServedProject, expose: bool
) -> str | None:
    """Return how API responses show a server path.

    With `expose` (VPM_API_EXPOSE_PATHS) the path is shown as it is.
    Otherwise a path inside the project is shown relative to it, and a
    path outside it, as with `vpm serve --out`, as None, so responses do
    not reveal the server's folder layout.
    """
    if path is None:
        return None
    if expose:
        return str(path)
    if Path(path).is_relative_to(project.layout.project):
        return Path(path).relative_to(project.layout.project).as_posix()
    return None


def project_ids(folders: Iterable[Path]) -> list[str]:
    """Name each project by its folder, adding `-2`, `-3` ... to repeats."""
    used_ids: set[str] = set()
    ids = []
    for folder in folders:
        base = _UNSAFE_ID_CHARS.sub("-", folder.resolve().name).strip("-.") or "project"
        candidate, number = base, 1
        while candidate in used_ids:
            number += 1
            candidate = f"{base}-{number}"
        used_ids.add(candidate)
        ids.append(candidate)
    return ids


def open_projects(folders: list[Path], out: Path | None = None) -> list[ServedProject]:
    """Open the store and engine of every project folder.

    With `out`, each project writes under `out/ID` instead of into itself.

    Raises:
        ProjectNotFound: A folder does not exist.
        StoreError: A store cannot be opened.
    """
    served = []
    for project_id, folder in zip(project_ids(folders), folders, strict=True):
        layout = Layout.for_project(folder, out / project_id if out else None)
        settings = load_settings(layout.project)
        store = open_store(settings.database_url, layout.data_dir)
        ensure_tasks_table(store)
        engine = make_context(layout, settings, store).engine
        served.append(ServedProject(project_id, layout, settings, store, engine))
        log.info("serving project %s from %s", project_id, layout.project)
    return served


def fingerprint(project: ServedProject) -> Fingerprint:
    """Return mtime and size of every file the status depends on.

    Covers the state document, the evidence and watched folders, and the
    database with its write-ahead log, which carries the last cycle.
    """
    layout, settings = project.layout, project.settings
    entries: list[tuple[str, int, int]] = []
    files = [layout.project / settings.state_file, layout.database]
    files.append(layout.database.with_name(layout.database.name + "-wal"))
    for path in files:
        _add_stat(entries, path)
    for folder in [*settings.evidence_dirs, *settings.watch_dirs]:
        _add_tree(entries, layout.project / folder)
    return tuple(entries)


def _add_stat(entries: list[tuple[str, int, int]], path: Path | str) -> None:
    try:
        info = os.stat(path)
    except OSError:
        entries.append((str(path), -1, -1))
        return
    entries.append((str(path), info.st_mtime_ns, info.st_size))


def _add_tree(entries: list[tuple[str, int, int]], root: Path) -> None:
    """Add the folder and everything under it, in a stable order.

    Symlinked folders are not entered, as the watcher does not enter them.
    """
    _add_stat(entries, root)
    pending = [str(root)]
    while pending:
        try:
            with os.scandir(pending.pop()) as listing:
                children = sorted(listing, key=lambda entry: entry.name)
        except OSError:
            continue
        for child in children:
            if child.is_dir(follow_symlinks=False):
                if child.name in SKIP_DIRS:
                    continue
                pending.append(child.path)
            _add_stat(entries, child.path)


def compute_status(project: ServedProject) -> dict[str, Any]:
    """Return what `vpm status --format json` prints for the project."""
    layout = project.layout
    result = plan(
        PlanInput(project=str(layout.project), state_file=project.settings.state_file)
    )
    return {**result.model_dump(), "last_cycle": _last_cycle(project)}


def _last_cycle(project: ServedProject) -> dict[str, Any] | None:
    """Read the newest cycle through the server's open store.

    `read_last_cycle` opens the SQLite file as immutable, so it misses
    cycles that are still in the write-ahead log of the store this server
    keeps open, and it cannot read PostgreSQL stores.
    """
    row = project.store.last_cycle()
    if row is None:
        return None
    return {key: row[key] for key in LAST_CYCLE_KEYS}


def fresh_status(project: ServedProject) -> StatusEntry | None:
    """Return the cached status if no file it depends on changed, else None.

    Costs only `stat` calls, so the API calls it on the event loop and
    leaves planning, when the cache is stale, to a worker thread.
    """
    entry = project.status_cache.entry
    if entry is not None and entry.fingerprint == fingerprint(project):
        return entry
    return None


def cached_status(project: ServedProject) -> tuple[dict[str, Any], bytes]:
    """Return the status and its JSON body, computed again only after a change."""
    cache = project.status_cache
    with cache.lock:
        current = fingerprint(project)
        entry = cache.entry
        if entry is not None and entry.fingerprint == current:
            return entry.payload, entry.body
        payload = compute_status(project)
        body = json.dumps(payload, ensure_ascii=False, default=str).encode()
        cache.entry = StatusEntry(current, json.loads(body), body)
        return cache.entry.payload, body
