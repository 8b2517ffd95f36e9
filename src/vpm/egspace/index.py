"""Build and update the EG-Space index of a project.

Items come from the store's `events` table when a cycle has run. Before
the first cycle the watcher scans the project against an empty in-memory
store instead, so `vpm egspace index` works on a fresh or read-only
project and writes nothing but the index itself.

Only items whose content hash changed are embedded again. Changing the
embedder (or, for the lexical one, its IDF table) re-embeds everything,
so vectors of two embedders are never mixed.
"""

from __future__ import annotations

import logging
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vpm.egspace.embedders import Embedder, make_embedder, resolve_embedder_name
from vpm.egspace.history import read_history
from vpm.egspace.items import ItemText, goal_lines, items_from_events
from vpm.egspace.lexical import BUCKETS, LexicalEmbedder
from vpm.egspace.pgstore import PgVectorStore, is_postgres_url
from vpm.egspace.records import GoalLine, SpaceItem
from vpm.egspace.store import DATABASE_FILE, SqliteVectorStore, VectorStore
from vpm.errors import StateNotFound, UserError
from vpm.model import Event, Problem
from vpm.settings import Settings
from vpm.state.parse import parse_state, read_state

log = logging.getLogger("vpm")

CURRENT = "current"
# The lexical IDF table is refitted (and every item re-embedded) when the
# number of items has grown or shrunk by more than this factor since the
# fit, so weights follow the corpus without re-embedding on every change.
REFIT_RATIO = 1.5


@dataclass
class IndexResult:
    """Counts and settings of one `vpm egspace index` run."""

    embedder: str
    embedder_version: str
    backend: str
    events_from: str = "store"
    items: int = 0
    embedded: int = 0
    unchanged: int = 0
    deleted: int = 0
    goal_lines: int = 0
    goals_embedded: int = 0
    versions: int = 0
    reindexed: bool = False
    seconds: float = 0.0
    problems: list[Problem] = field(default_factory=list)


def open_vector_store(data_dir: Path, database_url: str | None) -> VectorStore:
    """Open the EG-Space store: PostgreSQL for a postgresql URL, else SQLite."""
    if is_postgres_url(database_url):
        return PgVectorStore(str(database_url))
    data_dir.mkdir(parents=True, exist_ok=True)
    return SqliteVectorStore(data_dir / DATABASE_FILE)


def index_exists(data_dir: Path, database_url: str | None) -> bool:
    """Tell whether an index was built, without creating anything in SQLite."""
    if not is_postgres_url(database_url) and not (data_dir / DATABASE_FILE).is_file():
        return False
    with open_vector_store(data_dir, database_url) as store:
        return "embedder" in store.get_meta()


def build_index(
    project: Path,
    data_dir: Path,
    settings: Settings,
    *,
    embedder: str | None = None,
    history: Path | None = None,
    rebuild: bool = False,
) -> IndexResult:
    """Embed new and changed items and goal lines of `project` into the index."""
    started = time.perf_counter()
    events, events_from, problems = collect_events(project, data_dir, settings)
    items = items_from_events(events, settings.state_file)
    goals, history_problems, versions = _all_goal_lines(project, settings, history)
    with open_vector_store(data_dir, settings.database_url) as store:
        model, reindexed = _prepare(
            store, resolve_embedder_name(embedder), items, rebuild
        )
        result = IndexResult(
            model.name,
            model.version,
            store.backend,
            events_from,
            reindexed=reindexed,
            versions=versions,
        )
        _sync_items(store, model, items, result)
        _sync_goals(store, model, goals, result)
    result.problems = [*problems, *history_problems]
    result.seconds = round(time.perf_counter() - started, 3)
    log.info(
        "egspace index: %d items (%d embedded), %d goal lines, %s, %s",
        result.items,
        result.embedded,
        result.goal_lines,
        result.embedder,
        result.backend,
    )
    return result


def collect_events(
    project: Path, data_dir: Path, settings: Settings
) -> tuple[list[Event], str, list[Problem]]:
    """Return the watcher's events: stored ones after a cycle, else a scan.

    Returns:
        The events, `store` or `scan` for where they came from, and problems.
    """
    from vpm.store import open_store, read_last_cycle

    url = settings.database_url
    if is_postgres_url(url):
        store = open_store(_sqlalchemy_url(str(url)), data_dir)
        try:
            if store.last_cycle() is not None:
                return store.list_events(), "store", []
        finally:
            store.close()
    elif read_last_cycle(data_dir / "vpm.db") is not None:
        store = open_store(None, data_dir)
        try:
            return store.list_events(), "store", []
        finally:
            store.close()
    return _scan(project, data_dir, settings)


def _scan(project: Path, data_dir: Path, settings: Settings):
    """Run the watcher read-only: its store is an empty in-memory database."""
    from vpm.pipeline import Layout, make_context
    from vpm.roles.watcher import WatchInput, watch
    from vpm.store import open_store

    store = open_store("sqlite://", data_dir)
    try:
        layout = Layout(project, data_dir, data_dir)
        ctx = make_context(layout, settings, store)
        watched = watch(WatchInput(project=str(project)), ctx)
    finally:
        store.close()
    return watched.events, "scan", watched.problems


def _sqlalchemy_url(url: str) -> str:
    scheme, rest = url.split("://", 1)
    return f"postgresql+psycopg://{rest}" if "+" not in scheme else url


def _all_goal_lines(
    project: Path, settings: Settings, history: Path | None
) -> tuple[list[GoalLine], list[Problem], int]:
    goals: list[GoalLine] = []
    try:
        doc = read_state(project / settings.state_file, settings.state_file)
        goals += goal_lines(doc, CURRENT, None)
    except StateNotFound:
        log.info("no state document; the goal G is empty")
    versions, problems = read_history(project, settings.state_file, history)
    for version in versions:
        doc = parse_state(version.text, version.source)
        goals += goal_lines(doc, version.label, version.date)
    return goals, problems, len(versions)


# embedder and store


def _prepare(
    store: VectorStore, name: str, items: list[ItemText], rebuild: bool
) -> tuple[Embedder, bool]:
    """Build the embedder; reset the store when it differs from the stored one."""
    meta = store.get_meta()
    model = make_embedder(name)
    if isinstance(model, LexicalEmbedder):
        model = _lexical_with_idf(meta, items, rebuild)
    same = (
        meta.get("embedder") == model.name.encode()
        and meta.get("embedder_version") == model.version.encode()
    )
    if same and not rebuild:
        return model, False
    if meta.get("embedder"):
        log.info(
            "embedder changed from %s %s to %s %s; re-embedding every item",
            meta["embedder"].decode(),
            meta.get("embedder_version", b"").decode(),
            model.name,
            model.version,
        )
    store.reset(model.dim)
    store.set_meta(_embedder_meta(model))
    return model, True


def _lexical_with_idf(
    meta: dict[str, bytes], items: list[ItemText], rebuild: bool
) -> LexicalEmbedder:
    """Reuse the stored IDF table unless the corpus size drifted too far."""
    stored = meta.get("idf") if meta.get("embedder") == b"lexical" else None
    fitted_on = int(meta.get("idf_documents", b"0").decode() or 0)
    count = len(items)
    if (
        stored
        and not rebuild
        and fitted_on / REFIT_RATIO <= count <= fitted_on * REFIT_RATIO
    ):
        return lexical_from_meta(meta)
    model = LexicalEmbedder()
    model.fit([item.embed_text for item in items])
    return model


def lexical_from_meta(meta: dict[str, bytes]) -> LexicalEmbedder:
    """Rebuild the lexical embedder, IDF table included, from stored meta."""
    stored = meta.get("idf")
    if not stored:
        return LexicalEmbedder(dim=int(meta.get("dim", b"512").decode()))
    counts = np.frombuffer(zlib.decompress(stored), dtype="<u4")
    if counts.shape != (BUCKETS,):
        raise UserError(
            "the stored IDF table is damaged; run `vpm egspace index --rebuild`"
        )
    return LexicalEmbedder(
        dim=int(meta["dim"].decode()),
        document_frequencies=counts.copy(),
        document_count=int(meta.get("idf_documents", b"0").decode()),
    )


def _embedder_meta(model: Embedder) -> dict[str, bytes]:
    meta = {
        "embedder": model.name.encode(),
        "embedder_version": model.version.encode(),
        "dim": str(model.dim).encode(),
    }
    if isinstance(model, LexicalEmbedder) and model.document_frequencies is not None:
        frequencies = model.document_frequencies.astype("<u4").tobytes()
        meta["idf"] = zlib.compress(frequencies, 6)
        meta["idf_documents"] = str(model.document_count).encode()
    return meta


def _sync_items(
    store: VectorStore, model: Embedder, items: list[ItemText], result: IndexResult
) -> None:
    known = store.item_hashes()
    changed = [i for i in items if known.get(i.id) != i.content_hash]
    stale = set(known) - {i.id for i in items}
    for start in range(0, len(changed), 64):
        batch = changed[start : start + 64]
        vectors = model.embed([i.embed_text for i in batch])
        store.write_items([_record(i) for i in batch], vectors)
    if stale:
        store.delete_items(sorted(stale))
    result.items = len(items)
    result.embedded = len(changed)
    result.unchanged = len(items) - len(changed)
    result.deleted = len(stale)


def _sync_goals(
    store: VectorStore, model: Embedder, goals: list[GoalLine], result: IndexResult
) -> None:
    known = store.goal_hashes()
    unique = {g.id: g for g in goals}
    changed = [g for g in unique.values() if known.get(g.id) != g.content_hash]
    if changed:
        store.write_goals(changed, model.embed([g.text for g in changed]))
    stale = set(known) - set(unique)
    if stale:
        store.delete_goals(sorted(stale))
    result.goal_lines = len(unique)
    result.goals_embedded = len(changed)


def _record(item: ItemText) -> SpaceItem:
    return SpaceItem(
        id=item.id,
        kind=item.kind,
        source=item.source,
        line=item.line,
        end_line=item.end_line,
        title=item.title,
        preview=item.preview,
        timestamp=item.timestamp,
        content_hash=item.content_hash,
    )


def embedder_for_index(store: VectorStore) -> Embedder:
    """Return the embedder that built the index in `store`, for queries.

    Raises:
        UserError: No index exists, or the installed embedder is another
            version than the one that built it.
    """
    meta = store.get_meta()
    name = meta.get("embedder", b"").decode()
    if not name:
        raise UserError("no EG-Space index yet; run `vpm egspace index` first")
    model = lexical_from_meta(meta) if name == "lexical" else make_embedder(name)
    stored = meta.get("embedder_version", b"").decode()
    if model.version != stored:
        raise UserError(
            f"the index was built with {name} {stored}, but {model.version} is "
            "installed; run `vpm egspace index` to re-embed"
        )
    return model
