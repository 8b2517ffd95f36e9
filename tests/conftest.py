"""Shared fixtures: paths to the real corpus and copies of it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "corpus" / "vpm-mini"
EXAMPLE = REPO / "examples" / "demo"


@pytest.fixture
def corpus() -> Path:
    """The read-only corpus folder; copy before writing."""
    if not CORPUS.is_dir():
        pytest.fail(f"corpus not found at {CORPUS}; it must sit beside the repo")
    return CORPUS


@pytest.fixture
def corpus_tree(tmp_path: Path, corpus: Path) -> Path:
    """A writable copy of the corpus project tree."""
    target = tmp_path / "tree"
    shutil.copytree(corpus / "tree", target)
    return target


@pytest.fixture
def example(tmp_path: Path) -> Path:
    """A writable copy of the example project."""
    target = tmp_path / "demo"
    shutil.copytree(EXAMPLE, target)
    return target


def make_project(root: Path, state: str, files: dict[str, str] | None = None) -> Path:
    """Write a project with the given state document and extra files."""
    (root / "STATE").mkdir(parents=True, exist_ok=True)
    (root / "STATE" / "current_state.md").write_text(state, encoding="utf-8")
    for rel, text in (files or {}).items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root
