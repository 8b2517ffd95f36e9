"""Storage of EG-Space vectors: one interface, SQLite or PostgreSQL behind it.

SQLite is the default (`DATA_DIR/egspace.db`). Vectors are float32 BLOBs in
`egspace_items`. When the `sqlite-vec` extension can be loaded, a `vec0`
virtual table mirrors them for k-nearest-neighbour queries. Otherwise a
query is an exact NumPy scan over the BLOBs. Python builds without
extension loading (many pyenv and macOS builds) can still load it through
`apsw` or `pysqlite3`, so every driver is tried before falling back.

With `VPM_DATABASE_URL=postgresql://...` the vectors go to PostgreSQL with
pgvector instead (see `vpm.egspace.pgstore`).
"""

from __future__ import annotations

import abc
import logging
from collections.abc import Iterable
from dataclasses import astuple
from pathlib import Path

import numpy as np

from vpm.egspace.records import GoalLine, SpaceItem
from vpm.errors import StoreError

log = logging.getLogger("vpm")

DATABASE_FILE = "egspace.db"
SQLITE_DRIVERS = ("apsw", "pysqlite3", "sqlite3")

ITEM_COLUMNS = (
    "id",
    "kind",
    "source",
    "line",
    "end_line",
    "title",
    "preview",
    "timestamp",
    "content_hash",
)
GOAL_COLUMNS = (
    "id",
    "version",
    "date",
    "source",
    "line",
    "role",
    "text",
    "content_hash",
)


class VectorStore(abc.ABC):
    """Items and goal lines with their vectors, and nearest-neighbour search."""

    #: Short description of the backend, such as `sqlite+sqlite-vec (apsw)`.
    backend: str

    @abc.abstractmethod
    def get_meta(self) -> dict[str, bytes]:
        """Return every stored meta value (embedder name, version, ...)."""

    @abc.abstractmethod
    def set_meta(self, values: dict[str, bytes]) -> None:
        """Store meta values, replacing those with the same keys."""

    @abc.abstractmethod
    def reset(self, dim: int) -> None:
        """Drop every item, goal and meta value; expect vectors of `dim`.

        The dimension is kept as the meta value `dim`.
        """

    @abc.abstractmethod
    def item_hashes(self) -> dict[str, str]:
        """Return the content hash of every stored item by id."""

    @abc.abstractmethod
    def write_items(self, items: list[SpaceItem], vectors: np.ndarray) -> None:
        """Insert or replace items with their vectors (one row each)."""

    @abc.abstractmethod
    def delete_items(self, ids: Iterable[str]) -> None:
        """Delete the items with these ids."""

    @abc.abstractmethod
    def load_items(self) -> tuple[list[SpaceItem], np.ndarray]:
        """Return every item, ordered by id, and its vectors as rows."""

    @abc.abstractmethod
    def goal_hashes(self) -> dict[str, str]:
        """Return the content hash of every stored goal line by id."""

    @abc.abstractmethod
    def write_goals(self, goals: list[GoalLine], vectors: np.ndarray) -> None:
        """Insert or replace goal lines with their vectors."""

    @abc.abstractmethod
    def delete_goals(self, ids: Iterable[str]) -> None:
        """Delete the goal lines with these ids."""

    @abc.abstractmethod
    def load_goals(self) -> tuple[list[GoalLine], np.ndarray]:
        """Return every goal line, ordered by version and line, with vectors."""

    @abc.abstractmethod
    def nearest(self, vector: np.ndarray, k: int) -> list[tuple[SpaceItem, float]]:
        """Return the `k` items nearest to `vector` with their cosine distance."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release the connection."""

    def __enter__(self) -> VectorStore:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def to_blob(vector: np.ndarray) -> bytes:
    """Serialize one vector as little-endian float32, the sqlite-vec format."""
    return np.ascontiguousarray(vector, dtype="<f4").tobytes()


def from_blobs(blobs: list[bytes], dim: int) -> np.ndarray:
    """Stack float32 BLOBs into a (rows, dim) array."""
    if not blobs:
        return np.zeros((0, dim), dtype=np.float32)
    return np.frombuffer(b"".join(blobs), dtype="<f4").reshape(len(blobs), -1).copy()


def top_k(matrix: np.ndarray, vector: np.ndarray, k: int) -> list[tuple[int, float]]:
    """Exact search: row indexes of the `k` largest cosines, with distances.

    Rows and `vector` are L2-normalized, so the dot product is the cosine.
    """
    if matrix.shape[0] == 0 or k <= 0:
        return []
    scores = matrix @ vector.astype(np.float32)
    k = min(k, scores.shape[0])
    candidates = np.argpartition(-scores, k - 1)[:k]
    ordered = candidates[np.lexsort((candidates, -scores[candidates]))]
    return [(int(i), float(1.0 - scores[i])) for i in ordered]


class SqliteVectorStore(VectorStore):
    """Vectors as BLOBs in SQLite, searched with sqlite-vec or NumPy."""

    def __init__(self, path: Path, driver: str = "auto") -> None:
        self.path = path
        try:
            self._conn, driver_name, self.has_vec = connect_sqlite(path, driver)
        except Exception as exc:  # apsw, pysqlite3 and sqlite3 differ in classes
            raise StoreError(
                f"cannot open the EG-Space index {path}: {exc}; check that the "
                "folder exists and is writable"
            ) from exc
        search = "sqlite-vec" if self.has_vec else "numpy"
        self.backend = f"sqlite+{search} ({driver_name})"
        self._cache: tuple[list[SpaceItem], np.ndarray] | None = None
        self._create_tables()
        self._sync_vec_table()

    # meta

    def get_meta(self) -> dict[str, bytes]:
        rows = self._conn.execute("SELECT key, value FROM egspace_meta").fetchall()
        return {key: bytes(value) for key, value in rows}

    def set_meta(self, values: dict[str, bytes]) -> None:
        with self._conn:
            self._conn.executemany(
                "INSERT OR REPLACE INTO egspace_meta(key, value) VALUES (?, ?)",
                list(values.items()),
            )

    def reset(self, dim: int) -> None:
        with self._conn:
            for table in ("egspace_items", "egspace_goals", "egspace_meta"):
                self._conn.execute(f"DELETE FROM {table}")
            self._conn.execute(
                "INSERT INTO egspace_meta(key, value) VALUES ('dim', ?)",
                (str(int(dim)).encode(),),
            )
            if self.has_vec:
                self._conn.execute("DROP TABLE IF EXISTS egspace_vec")
                self._create_vec_table(dim)
        self._cache = None

    # items

    def item_hashes(self) -> dict[str, str]:
        rows = self._conn.execute("SELECT id, content_hash FROM egspace_items")
        return dict(rows.fetchall())

    def write_items(self, items: list[SpaceItem], vectors: np.ndarray) -> None:
        placeholders = ", ".join("?" for _ in ITEM_COLUMNS)
        with self._conn:
            for item, vector in zip(items, vectors, strict=True):
                self._delete_item(item.id)
                self._conn.execute(
                    f"INSERT INTO egspace_items({', '.join(ITEM_COLUMNS)}, vector) "
                    f"VALUES ({placeholders}, ?)",
                    (*astuple(item), to_blob(vector)),
                )
                if self.has_vec:
                    self._conn.execute(
                        "INSERT INTO egspace_vec(rowid, embedding) "
                        "SELECT rowid, vector FROM egspace_items WHERE id = ?",
                        (item.id,),
                    )
        self._cache = None

    def delete_items(self, ids: Iterable[str]) -> None:
        with self._conn:
            for item_id in ids:
                self._delete_item(item_id)
        self._cache = None

    def load_items(self) -> tuple[list[SpaceItem], np.ndarray]:
        if self._cache is None:
            rows = self._conn.execute(
                f"SELECT {', '.join(ITEM_COLUMNS)}, vector FROM egspace_items "
                "ORDER BY id"
            ).fetchall()
            items = [SpaceItem(*row[:-1]) for row in rows]
            self._cache = (items, from_blobs([bytes(r[-1]) for r in rows], self._dim()))
        return self._cache

    # goals

    def goal_hashes(self) -> dict[str, str]:
        rows = self._conn.execute("SELECT id, content_hash FROM egspace_goals")
        return dict(rows.fetchall())

    def write_goals(self, goals: list[GoalLine], vectors: np.ndarray) -> None:
        placeholders = ", ".join("?" for _ in GOAL_COLUMNS)
        with self._conn:
            self._conn.executemany(
                f"INSERT OR REPLACE INTO egspace_goals({', '.join(GOAL_COLUMNS)}, "
                f"vector) VALUES ({placeholders}, ?)",
                [
                    (*astuple(g), to_blob(v))
                    for g, v in zip(goals, vectors, strict=True)
                ],
            )

    def delete_goals(self, ids: Iterable[str]) -> None:
        with self._conn:
            self._conn.executemany(
                "DELETE FROM egspace_goals WHERE id = ?", [(i,) for i in ids]
            )

    def load_goals(self) -> tuple[list[GoalLine], np.ndarray]:
        rows = self._conn.execute(
            f"SELECT {', '.join(GOAL_COLUMNS)}, vector FROM egspace_goals "
            "ORDER BY version, line, id"
        ).fetchall()
        goals = [GoalLine(*row[:-1]) for row in rows]
        return goals, from_blobs([bytes(r[-1]) for r in rows], self._dim())

    # search

    def nearest(self, vector: np.ndarray, k: int) -> list[tuple[SpaceItem, float]]:
        if not self.has_vec:
            items, matrix = self.load_items()
            return [(items[i], distance) for i, distance in top_k(matrix, vector, k)]
        rows = self._conn.execute(
            f"SELECT {', '.join('i.' + c for c in ITEM_COLUMNS)}, v.distance "
            "FROM (SELECT rowid, distance FROM egspace_vec "
            "      WHERE embedding MATCH ? AND k = ?) AS v "
            "JOIN egspace_items AS i ON i.rowid = v.rowid "
            "ORDER BY v.distance, i.id",
            (to_blob(vector), int(k)),
        ).fetchall()
        return [(SpaceItem(*row[:-1]), float(row[-1])) for row in rows]

    def close(self) -> None:
        self._conn.close()

    # internals

    def _dim(self) -> int:
        value = self.get_meta().get("dim")
        return int(value.decode()) if value else 0

    def _delete_item(self, item_id: str) -> None:
        row = self._conn.execute(
            "SELECT rowid FROM egspace_items WHERE id = ?", (item_id,)
        ).fetchone()
        if row is None:
            return
        if self.has_vec:
            self._conn.execute("DELETE FROM egspace_vec WHERE rowid = ?", (row[0],))
        self._conn.execute("DELETE FROM egspace_items WHERE rowid = ?", (row[0],))

    def _create_tables(self) -> None:
        item_columns = ", ".join(f"{c} {_sqlite_type(c)}" for c in ITEM_COLUMNS[1:])
        goal_columns = ", ".join(f"{c} {_sqlite_type(c)}" for c in GOAL_COLUMNS[1:])
        with self._conn:
            self._conn.execute(
                "CREATE TABLE IF NOT EXISTS egspace_meta "
                "(key TEXT PRIMARY KEY, value BLOB NOT NULL)"
            )
            self._conn.execute(
                "CREATE TABLE IF NOT EXISTS egspace_items (rowid INTEGER PRIMARY KEY, "
                f"id TEXT UNIQUE NOT NULL, {item_columns}, vector BLOB NOT NULL)"
            )
            self._conn.execute(
                "CREATE TABLE IF NOT EXISTS egspace_goals (id TEXT PRIMARY KEY, "
                f"{goal_columns}, vector BLOB NOT NULL)"
            )

    def _create_vec_table(self, dim: int) -> None:
        self._conn.execute(
            "CREATE VIRTUAL TABLE IF NOT EXISTS egspace_vec USING "
            f"vec0(embedding float[{int(dim)}] distance_metric=cosine)"
        )

    def _sync_vec_table(self) -> None:
        """Rebuild the vec0 mirror when a driver without sqlite-vec wrote items."""
        dim = self._dim()
        if not self.has_vec or dim == 0:
            return
        with self._conn:
            self._create_vec_table(dim)
            (mirrored,) = self._conn.execute(
                "SELECT count(*) FROM egspace_vec"
            ).fetchone()
            (stored,) = self._conn.execute(
                "SELECT count(*) FROM egspace_items"
            ).fetchone()
            if mirrored == stored:
                return
            log.info(
                "rebuilding the sqlite-vec table of %s (%d rows)", self.path, stored
            )
            self._conn.execute("DELETE FROM egspace_vec")
            self._conn.execute(
                "INSERT INTO egspace_vec(rowid, embedding) "
                "SELECT rowid, vector FROM egspace_items"
            )


def _sqlite_type(column: str) -> str:
    return "INTEGER" if column in ("line", "end_line") else "TEXT"


def connect_sqlite(path: Path, driver: str = "auto"):
    """Open `path` with the first driver that can load sqlite-vec.

    Tries apsw, then pysqlite3, then the standard library's sqlite3. When
    none of them can load the extension, the standard library's driver is
    used without it and searches fall back to NumPy.

    Returns:
        The connection, the driver's name and whether sqlite-vec is loaded.
    """
    candidates = SQLITE_DRIVERS if driver == "auto" else (driver,)
    for name in candidates:
        conn = _open_with(name, path)
        if conn is None:
            continue
        if _load_sqlite_vec(conn, name):
            return _prepare(conn), name, True
        if driver != "auto":
            return _prepare(conn), name, False
        conn.close()
    import sqlite3

    return _prepare(sqlite3.connect(path)), "sqlite3", False


def _open_with(name: str, path: Path):
    try:
        if name == "apsw":
            import apsw

            return apsw.Connection(str(path))
        if name == "pysqlite3":
            from pysqlite3 import dbapi2

            return dbapi2.connect(str(path))
        if name == "sqlite3":
            import sqlite3

            return sqlite3.connect(path)
    except ImportError:
        return None
    raise ValueError(f"unknown SQLite driver {name!r}; use one of {SQLITE_DRIVERS}")


def _load_sqlite_vec(conn, driver: str) -> bool:
    try:
        import sqlite_vec
    except ImportError:
        return False
    enable = getattr(conn, "enable_load_extension", None)
    if enable is None:
        # The standard library was built without extension loading.
        return False
    try:
        enable(True)
        conn.load_extension(sqlite_vec.loadable_path())
        enable(False)
    except Exception as exc:  # each driver raises its own error class
        log.debug("sqlite-vec did not load through %s: %s", driver, exc)
        return False
    return True


def _prepare(conn):
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA busy_timeout=10000")
    return conn
