"""Fixtures shared by the EG-Space tests: a real PostgreSQL with pgvector."""

from __future__ import annotations

import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """A PostgreSQL server with pgvector from the pgserver wheel, on a socket."""
    with warnings.catch_warnings():
        # platformdirs warns that XDG_RUNTIME_DIR is unset and uses /tmp.
        warnings.simplefilter("ignore")
        import pgserver

    data = tmp_path_factory.mktemp("pg") / "data"
    server = pgserver.get_server(data, cleanup_mode="delete")
    yield server
    server.cleanup()


@pytest.fixture
def pg_url(pg_server) -> str:
    """A fresh, empty database on the test server, as a postgresql:// URL."""
    import psycopg

    name = f"egspace_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_server.get_uri(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return pg_server.get_uri(name)


def copy_project(corpus: Path, target: Path) -> Path:
    """Copy the corpus tree with its state history folder inside it."""
    import shutil

    shutil.copytree(corpus / "tree", target)
    shutil.copytree(corpus / "state_history", target / "state_history")
    return target
