"""EG-Space vectors in PostgreSQL with the pgvector extension (psycopg 3).

Used when `VPM_DATABASE_URL` names a PostgreSQL database. Vectors live in
`vector(dim)` columns. Nearest-neighbour queries order by the cosine
distance operator `<=>` without an approximate index, so they are exact
and return the same items as the SQLite and NumPy paths. Install with the
`postgres` extra: ``pip install 'vpm[postgres]'``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import astuple
from typing import Any

import numpy as np

from vpm.egspace.records import GoalLine, SpaceItem
from vpm.egspace.store import GOAL_COLUMNS, ITEM_COLUMNS, VectorStore
from vpm.errors import StoreError, UserError

log = logging.getLogger("vpm")


def is_postgres_url(url: str | None) -> bool:
    """Tell whether `url` names a PostgreSQL database."""
    return bool(url) and url.split(":", 1)[0].split("+", 1)[0] in (
        "postgres",
        "postgresql",
    )


def conninfo_from_url(url: str) -> str:
    """Turn a SQLAlchemy-style URL (`postgresql+psycopg://`) into a libpq URI."""
    scheme, rest = url.split("://", 1)
    return f"{scheme.split('+', 1)[0]}://{rest}"


class PgVectorStore(VectorStore):
    """Items and goal lines in PostgreSQL, searched with pgvector."""

    def __init__(self, url: str) -> None:
        try:
            import psycopg
            from pgvector.psycopg import register_vector
        except ImportError as exc:
            raise UserError(
                "a PostgreSQL database_url needs the 'postgres' extra: "
                "pip install 'vpm[postgres]'"
            ) from exc
        try:
            self._conn = psycopg.connect(conninfo_from_url(url), autocommit=True)
            self._conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
            register_vector(self._conn)
            self._create_tables()
        except psycopg.Error as exc:
            raise StoreError(
                f"cannot open the EG-Space tables in PostgreSQL: {exc}; check "
                "VPM_DATABASE_URL and that the pgvector extension is installed"
            ) from exc
        self.backend = "postgresql+pgvector"

    # meta

    def get_meta(self) -> dict[str, bytes]:
        rows = self._conn.execute("SELECT key, value FROM egspace_meta").fetchall()
        return {key: bytes(value) for key, value in rows}

    def set_meta(self, values: dict[str, bytes]) -> None:
        with self._conn.transaction():
            self._conn.cursor().executemany(
                "INSERT INTO egspace_meta(key, value) VALUES (%s, %s) "
                "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                list(values.items()),
            )

    def reset(self, dim: int) -> None:
        with self._conn.transaction():
            self._conn.execute("DROP TABLE IF EXISTS egspace_items, egspace_goals")
            self._conn.execute("DELETE FROM egspace_meta")
            self._create_vector_tables(dim)
            self._conn.execute(
                "INSERT INTO egspace_meta(key, value) VALUES ('dim', %s)",
                (str(int(dim)).encode(),),
            )

    # items

    def item_hashes(self) -> dict[str, str]:
        if not self._has_vector_tables():
            return {}
        return dict(self._conn.execute("SELECT id, content_hash FROM egspace_items"))

    def write_items(self, items: list[SpaceItem], vectors: np.ndarray) -> None:
        self._upsert(
            "egspace_items", ITEM_COLUMNS, [astuple(i) for i in items], vectors
        )

    def delete_items(self, ids: Iterable[str]) -> None:
        self._conn.execute("DELETE FROM egspace_items WHERE id = ANY(%s)", (list(ids),))

    def load_items(self) -> tuple[list[SpaceItem], np.ndarray]:
        rows = self._select("egspace_items", ITEM_COLUMNS, "id")
        return [SpaceItem(*row[:-1]) for row in rows], self._stack(rows)

    # goals

    def goal_hashes(self) -> dict[str, str]:
        if not self._has_vector_tables():
            return {}
        return dict(self._conn.execute("SELECT id, content_hash FROM egspace_goals"))

    def write_goals(self, goals: list[GoalLine], vectors: np.ndarray) -> None:
        self._upsert(
            "egspace_goals", GOAL_COLUMNS, [astuple(g) for g in goals], vectors
        )

    def delete_goals(self, ids: Iterable[str]) -> None:
        self._conn.execute("DELETE FROM egspace_goals WHERE id = ANY(%s)", (list(ids),))

    def load_goals(self) -> tuple[list[GoalLine], np.ndarray]:
        rows = self._select("egspace_goals", GOAL_COLUMNS, "version, line, id")
        return [GoalLine(*row[:-1]) for row in rows], self._stack(rows)

    # search

    def nearest(self, vector: np.ndarray, k: int) -> list[tuple[SpaceItem, float]]:
        if not self._has_vector_tables():
            return []
        query = np.asarray(vector, dtype=np.float32)
        rows = self._conn.execute(
            f"SELECT {', '.join(ITEM_COLUMNS)}, embedding <=> %s AS distance "
            "FROM egspace_items ORDER BY distance, id LIMIT %s",
            (query, int(k)),
        ).fetchall()
        return [(SpaceItem(*row[:-1]), float(row[-1])) for row in rows]

    def close(self) -> None:
        self._conn.close()

    # internals

    def _upsert(
        self, table: str, columns: tuple[str, ...], rows: list[tuple], vectors: Any
    ) -> None:
        names = ", ".join((*columns, "embedding"))
        placeholders = ", ".join(["%s"] * (len(columns) + 1))
        updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in (*columns[1:], "embedding"))
        values = [
            (*row, np.asarray(vector, dtype=np.float32))
            for row, vector in zip(rows, vectors, strict=True)
        ]
        with self._conn.transaction():
            self._conn.cursor().executemany(
                f"INSERT INTO {table}({names}) VALUES ({placeholders}) "
                f"ON CONFLICT (id) DO UPDATE SET {updates}",
                values,
            )

    def _select(self, table: str, columns: tuple[str, ...], order: str) -> list[tuple]:
        if not self._has_vector_tables():
            return []
        return self._conn.execute(
            f"SELECT {', '.join(columns)}, embedding FROM {table} ORDER BY {order}"
        ).fetchall()

    def _stack(self, rows: list[tuple]) -> np.ndarray:
        if not rows:
            value = self.get_meta().get("dim")
            return np.zeros((0, int(value) if value else 0), dtype=np.float32)
        return np.vstack([_as_array(r[-1]) for r in rows])

    def _has_vector_tables(self) -> bool:
        row = self._conn.execute("SELECT to_regclass('egspace_items')").fetchone()
        return row is not None and row[0] is not None

    def _create_tables(self) -> None:
        self._conn.execute(
            "CREATE TABLE IF NOT EXISTS egspace_meta "
            "(key text PRIMARY KEY, value bytea NOT NULL)"
        )

    def _create_vector_tables(self, dim: int) -> None:
        item_columns = ", ".join(f"{c} {_pg_type(c)}" for c in ITEM_COLUMNS[1:])
        goal_columns = ", ".join(f"{c} {_pg_type(c)}" for c in GOAL_COLUMNS[1:])
        self._conn.execute(
            f"CREATE TABLE egspace_items (id text PRIMARY KEY, {item_columns}, "
            f"embedding vector({int(dim)}) NOT NULL)"
        )
        self._conn.execute(
            f"CREATE TABLE egspace_goals (id text PRIMARY KEY, {goal_columns}, "
            f"embedding vector({int(dim)}) NOT NULL)"
        )


def _as_array(value: Any) -> np.ndarray:
    # pgvector 0.3 and newer return a Vector object; older ones an ndarray.
    if hasattr(value, "to_numpy"):
        value = value.to_numpy()
    return np.asarray(value, dtype=np.float32)


def _pg_type(column: str) -> str:
    return "integer" if column in ("line", "end_line") else "text"
