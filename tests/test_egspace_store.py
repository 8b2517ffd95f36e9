"""Vector stores: SQLite (sqlite-vec through each driver, or NumPy) and pgvector."""

from __future__ import annotations

import importlib.util
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from egspace_helpers import pg_server, pg_url  # noqa: F401 - pytest fixtures
from vpm.egspace.pgstore import PgVectorStore, conninfo_from_url, is_postgres_url
from vpm.egspace.records import GoalLine, SpaceItem
from vpm.egspace.store import SqliteVectorStore, VectorStore, top_k
from vpm.errors import StoreError

DIM = 8


def make_item(number: int, content_hash: str = "h") -> SpaceItem:
    return SpaceItem(
        id=f"item-{number:03d}",
        kind="evidence",
        source=f"reports/r{number}.md",
        line=None,
        end_line=None,
        title=f"reports/r{number}.md",
        preview=f"report {number}",
        timestamp="2025-09-01T00:00:00+00:00",
        content_hash=content_hash,
    )


def unit_rows(count: int, seed: int = 7) -> np.ndarray:
    rows = np.random.default_rng(seed).normal(size=(count, DIM)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def has_module(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


SQLITE_DRIVERS = [
    pytest.param("apsw", id="apsw"),
    pytest.param("pysqlite3", id="pysqlite3"),
    pytest.param("sqlite3", id="stdlib"),
]


@pytest.fixture(params=[*SQLITE_DRIVERS, pytest.param("postgres", id="postgres")])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> VectorStore:
    if request.param == "postgres":
        opened: VectorStore = PgVectorStore(request.getfixturevalue("pg_url"))
    else:
        opened = SqliteVectorStore(tmp_path / "egspace.db", request.param)
    opened.reset(DIM)
    yield opened
    opened.close()


def test_store_round_trip(store: VectorStore) -> None:
    items = [make_item(i) for i in range(5)]
    vectors = unit_rows(5)

    store.write_items(items, vectors)
    loaded, matrix = store.load_items()

    assert loaded == items
    assert np.allclose(matrix, vectors, atol=1e-6)
    assert store.item_hashes() == {i.id: "h" for i in items}


def test_store_nearest_matches_numpy_scan(store: VectorStore) -> None:
    items = [make_item(i) for i in range(50)]
    vectors = unit_rows(50)
    store.write_items(items, vectors)
    query = unit_rows(1, seed=11)[0]

    found = store.nearest(query, 5)
    expected = top_k(vectors, query, 5)

    assert [item.id for item, _ in found] == [items[i].id for i, _ in expected]
    assert np.allclose([d for _, d in found], [d for _, d in expected], atol=1e-5)


def test_store_write_replaces_same_id(store: VectorStore) -> None:
    store.write_items([make_item(1)], unit_rows(1, seed=1))
    replacement = unit_rows(1, seed=2)

    store.write_items([make_item(1, content_hash="new")], replacement)

    assert store.item_hashes() == {"item-001": "new"}
    nearest, distance = store.nearest(replacement[0], 1)[0]
    assert nearest.id == "item-001"
    assert distance == pytest.approx(0.0, abs=1e-5)


def test_store_delete_removes_from_search(store: VectorStore) -> None:
    vectors = unit_rows(3)
    store.write_items([make_item(i) for i in range(3)], vectors)

    store.delete_items(["item-000"])

    assert "item-000" not in store.item_hashes()
    assert all(i.id != "item-000" for i, _ in store.nearest(vectors[0], 3))


def test_store_goals_round_trip(store: VectorStore) -> None:
    goal = GoalLine("g1", "current", None, "STATE/s.md", 4, "short_goal", "ship", "x")

    store.write_goals([goal], unit_rows(1))
    store.delete_goals([])

    goals, vectors = store.load_goals()
    assert goals == [goal]
    assert vectors.shape == (1, DIM)


def test_store_reset_keeps_dimension_only(store: VectorStore) -> None:
    store.write_items([make_item(1)], unit_rows(1))
    store.set_meta({"embedder": b"lexical"})

    store.reset(DIM)

    assert store.item_hashes() == {}
    assert store.get_meta() == {"dim": str(DIM).encode()}


def test_sqlite_detection_loads_sqlite_vec(tmp_path: Path) -> None:
    store = SqliteVectorStore(tmp_path / "egspace.db")

    assert store.has_vec
    assert "sqlite-vec" in store.backend
    store.close()


def test_stdlib_sqlite_falls_back_to_numpy(tmp_path: Path) -> None:
    store = SqliteVectorStore(tmp_path / "egspace.db", "sqlite3")

    expected = hasattr(sqlite3.Connection, "enable_load_extension")
    assert store.has_vec is expected
    store.close()


def test_sqlite_vec_mirror_rebuilt_after_numpy_writes(tmp_path: Path) -> None:
    path = tmp_path / "egspace.db"
    with SqliteVectorStore(path, "apsw") as first:
        first.reset(DIM)
    vectors = unit_rows(4)
    with SqliteVectorStore(path, "sqlite3") as fallback:
        fallback.write_items([make_item(i) for i in range(4)], vectors)

    with SqliteVectorStore(path, "apsw") as reopened:
        found = reopened.nearest(vectors[2], 1)

    assert found[0][0].id == "item-002"


def test_postgres_url_detection() -> None:
    assert is_postgres_url("postgresql://u@/db?host=/tmp")
    assert is_postgres_url("postgresql+psycopg://u@h/db")
    assert not is_postgres_url("sqlite:///x.db")
    assert not is_postgres_url(None)
    assert conninfo_from_url("postgresql+psycopg://u@h/db") == "postgresql://u@h/db"


def test_sqlite_store_in_missing_folder_fails(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="cannot open the EG-Space index"):
        SqliteVectorStore(tmp_path / "missing" / "egspace.db")
