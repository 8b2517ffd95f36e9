"""EG-Space findings for the planner and top movers in the digest."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from conftest import CORPUS, make_project
from egspace_helpers import copy_project
from vpm.egspace.findings import egspace_findings, top_mover_lines, top_movers
from vpm.egspace.index import build_index
from vpm.egspace.records import GoalLine, SpaceItem
from vpm.egspace.space import DeltaPoint, is_growing
from vpm.egspace.store import SqliteVectorStore
from vpm.pipeline import run_cycle
from vpm.settings import load_settings

STATE = "---\nphase: Phase 1\nshort_goal: ship\n---\n"


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VPM_EMBEDDER", raising=False)
    monkeypatch.delenv("VPM_DATABASE_URL", raising=False)


@pytest.fixture(scope="module")
def corpus_index(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("egspace-findings")
    project = copy_project(CORPUS, root / "tree")
    data_dir = root / "out" / ".vpm"
    build_index(project, data_dir, load_settings(project), embedder="lexical")
    return project, data_dir


def test_findings_empty_without_index(tmp_path: Path) -> None:
    project = make_project(tmp_path / "p", STATE)

    assert egspace_findings(project, tmp_path / "data") == []
    assert top_mover_lines(project, tmp_path / "data") == []
    assert not (tmp_path / "data").exists()


def test_away_findings_cite_real_files(corpus_index: tuple[Path, Path]) -> None:
    project, data_dir = corpus_index

    findings = egspace_findings(project, data_dir)

    away = [f for f in findings if f.kind == "egspace-away"]
    assert 1 <= len(away) <= 5
    assert all(f.severity == "info" for f in away)
    assert all((project / f.path).is_file() for f in away)
    assert all("score -" in f.message for f in away)


def test_top_movers_lists_both_directions(corpus_index: tuple[Path, Path]) -> None:
    project, data_dir = corpus_index

    closer, farther = top_movers(project, data_dir, count=3)
    lines = top_mover_lines(project, data_dir, count=3)

    assert len(closer) == 3
    assert len(farther) == 3
    assert closer[0].pull > 0 > farther[0].pull
    assert lines[0].startswith("- closer: **+")
    assert lines[-1].startswith("- farther: **-")


def test_drift_finding_when_delta_grows(tmp_path: Path) -> None:
    project = make_project(tmp_path / "p", STATE)
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    write_drifting_index(data_dir / "egspace.db")

    findings = egspace_findings(project, data_dir)

    drift = [f for f in findings if f.kind == "egspace-drift"]
    assert len(drift) == 1
    assert drift[0].severity == "warning"
    assert drift[0].path == "STATE/current_state.md"
    assert "v1" in drift[0].message
    assert "v4" in drift[0].message


def test_is_growing_needs_every_step_to_rise() -> None:
    def points(*values: float) -> list[DeltaPoint]:
        return [DeltaPoint(str(i), "", v, 1) for i, v in enumerate(values)]

    assert is_growing(points(0.1, 0.2, 0.3, 0.4), 3, 0.02)
    assert not is_growing(points(0.1, 0.3, 0.2, 0.4), 3, 0.02)
    assert not is_growing(points(0.100, 0.101, 0.102, 0.103), 3, 0.02)
    assert not is_growing(points(0.1, 0.2), 3, 0.02)


def test_cycle_reports_egspace_findings_and_movers(tmp_path: Path) -> None:
    project = copy_project(CORPUS, tmp_path / "tree")
    out = tmp_path / "out"
    build_index(project, out / ".vpm", load_settings(project), embedder="lexical")

    result = run_cycle(project, out)

    kinds = {f.kind for f in result.plan.findings}
    assert "egspace-away" in kinds
    digest = (out / "reports" / "digest.md").read_text(encoding="utf-8")
    assert "## EG-Space: top movers" in digest
    assert "- closer: " in digest


def write_drifting_index(path: Path) -> None:
    """Write an index whose goal turns away from C at each of four versions."""
    store = SqliteVectorStore(path)
    store.reset(2)
    store.set_meta({"embedder": b"lexical", "embedder_version": b"test"})
    item = SpaceItem(
        "i1",
        "evidence",
        "reports/a.md",
        None,
        None,
        "a",
        "a",
        "2025-01-01T00:00:00+00:00",
        "h",
    )
    store.write_items([item], np.array([[1.0, 0.0]], dtype=np.float32))

    goals, vectors = [], []
    for number, angle in enumerate((0.1, 0.4, 0.7, 1.0), start=1):
        when = f"2025-01-0{number + 1}T00:00:00+00:00"
        goals.append(
            GoalLine(
                f"g{number}",
                f"v{number}",
                when,
                "STATE/s.md",
                3,
                "short_goal",
                f"goal {number}",
                "h",
            )
        )
        vectors.append([np.cos(angle), np.sin(angle)])
    goals.append(
        GoalLine(
            "g0",
            "current",
            None,
            "STATE/current_state.md",
            3,
            "short_goal",
            "ship",
            "h",
        )
    )
    vectors.append([1.0, 0.0])
    store.write_goals(goals, np.asarray(vectors, dtype=np.float32))
    store.close()
