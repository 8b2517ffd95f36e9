"""Index and report on the real corpus: incremental, both stores, real movers."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import CORPUS, make_project
from egspace_helpers import copy_project, pg_server, pg_url  # noqa: F401
from vpm.cli import app
from vpm.egspace.index import build_index, open_vector_store
from vpm.egspace.report import SpaceReport, build_report, load_space
from vpm.pipeline import run_cycle
from vpm.settings import load_settings

runner = CliRunner()

STATE = """---
phase: Phase 1
short_goal: "Knative autoscaling with scale-to-zero"
exit_criteria:
  - "P1-1 GREEN: autoscaling demonstrated"
---

## Goal (G)
- P1-1: show scale-to-zero under load
"""


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VPM_EMBEDDER", raising=False)
    monkeypatch.delenv("VPM_DATABASE_URL", raising=False)


@pytest.fixture(scope="module")
def indexed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The corpus project with a lexical SQLite index under OUT/.vpm."""
    root = tmp_path_factory.mktemp("egspace")
    project = copy_project(CORPUS, root / "tree")
    data_dir = root / "out" / ".vpm"
    build_index(project, data_dir, load_settings(project), embedder="lexical")
    return project, data_dir


@pytest.fixture(scope="module")
def report(indexed: tuple[Path, Path]) -> SpaceReport:
    _, data_dir = indexed
    with open_vector_store(data_dir, None) as store:
        return build_report(load_space(store))


def sources(movers) -> list[str]:
    return [m.source for m in movers]


def test_report_goal_comes_from_state(report: SpaceReport) -> None:
    roles = [g["role"] for g in report.goal]

    assert roles[0] == "short_goal"
    assert roles.count("exit_criterion") == 3
    assert report.delta is not None
    assert 0.0 < report.delta < 1.0


def test_report_closer_names_exit_criterion_work(report: SpaceReport) -> None:
    # Read by hand: these are the P5-1 autoscaling and P5-3 migration
    # reports, the work the exit criteria ask for.
    closer = sources(report.closer)

    assert "reports/p5_1_autoscale_20250913_055540.md" in closer
    assert "reports/p5_3_migration_watcher_20250913_062657.md" in closer


def test_report_farther_names_trial_housekeeping(report: SpaceReport) -> None:
    # Read by hand: smoke-test task records and trial tooling, neither of
    # which is autoscaling, SLOs or a Compose migration.
    farther = sources(report.farther)

    assert "reports/p5_trial_hardening_20250915_090554.md" in farther
    assert any(s.startswith("reports/trial_tasks/") for s in farther)
    assert all(m.score < 0 for m in report.farther)


def test_report_leaves_out_sections_holding_the_goal(report: SpaceReport) -> None:
    titles = [m.title for m in report.closer + report.farther]

    assert not any("ゴール（G）" in t for t in titles)


def test_report_has_daily_and_version_series(report: SpaceReport) -> None:
    assert len(report.versions) == 36
    assert report.versions[0].label == "aa5f9ac736ef"
    assert report.daily
    assert report.daily[-1].label == "2025-09-15"


def test_index_second_run_embeds_nothing(indexed: tuple[Path, Path]) -> None:
    project, data_dir = indexed

    result = build_index(project, data_dir, load_settings(project), embedder="lexical")

    assert result.embedded == 0
    assert result.goals_embedded == 0
    assert not result.reindexed


def test_index_embeds_only_changed_items(tmp_path: Path) -> None:
    project = copy_project(CORPUS, tmp_path / "tree")
    data_dir = tmp_path / "out" / ".vpm"
    settings = load_settings(project)
    first = build_index(project, data_dir, settings, embedder="lexical")
    (project / "reports" / "p5_1_autoscale_20250913_055540.md").write_text(
        "# P5-1 rerun\nscale-to-zero shown again\n", encoding="utf-8"
    )
    (project / "reports" / "snap_healthz.txt").unlink()

    second = build_index(project, data_dir, settings, embedder="lexical")

    assert second.embedded == 1
    assert second.deleted == 1
    assert second.items == first.items - 1


def test_index_changing_embedder_reindexes(tmp_path: Path) -> None:
    project = make_project(tmp_path / "p", STATE, {"reports/a.md": "# autoscale\n"})
    data_dir = tmp_path / "out"
    settings = load_settings(project)
    build_index(project, data_dir, settings, embedder="lexical")

    result = build_index(project, data_dir, settings, embedder="neural")

    assert result.reindexed
    assert result.embedded == result.items
    with open_vector_store(data_dir, None) as store:
        assert store.get_meta()["embedder"] == b"neural"
        assert store.load_items()[1].shape[1] == 384


def test_index_and_report_on_postgres(tmp_path: Path, pg_url: str, monkeypatch) -> None:  # noqa: F811
    monkeypatch.setenv("VPM_DATABASE_URL", pg_url)
    project = copy_project(CORPUS, tmp_path / "tree")
    settings = load_settings(project)

    result = build_index(project, tmp_path / "out", settings, embedder="lexical")
    with open_vector_store(tmp_path / "out", settings.database_url) as store:
        report = build_report(load_space(store))

    assert result.backend == "postgresql+pgvector"
    assert "reports/p5_1_autoscale_20250913_055540.md" in sources(report.closer)
    assert not (tmp_path / "out" / "egspace.db").exists()


def test_cli_index_report_search(tmp_path: Path) -> None:
    project = copy_project(CORPUS, tmp_path / "tree")
    out = tmp_path / "out"
    index = runner.invoke(
        app,
        ["egspace", "index", str(project), "--out", str(out), "--embedder", "lexical"],
    )

    reported = runner.invoke(
        app, ["egspace", "report", str(project), "--out", str(out), "--format", "json"]
    )
    found = runner.invoke(
        app,
        [
            "egspace",
            "search",
            "Knative autoscaling scale-to-zero",
            str(project),
            "--out",
            str(out),
            "-k",
            "5",
            "--format",
            "json",
        ],
    )

    assert index.exit_code == 0, index.output
    assert "253 embedded" in index.output
    assert reported.exit_code == 0, reported.output
    data = json.loads(reported.output)
    assert data["embedder"] == "lexical"
    assert (out / "reports" / "egspace.md").is_file()
    assert (
        json.loads((out / "reports" / "egspace.json").read_text())["delta"]
        == data["delta"]
    )
    assert found.exit_code == 0, found.output
    locations = [row["location"] for row in json.loads(found.output)]
    assert "reports/p5_1_autoscale_20250913_055540.md" in locations


def test_cli_report_without_index_fails(tmp_path: Path) -> None:
    project = make_project(tmp_path / "p", STATE)

    result = runner.invoke(
        app, ["egspace", "report", str(project), "--out", str(tmp_path / "out")]
    )

    assert result.exit_code == 2
    assert "no EG-Space index" in result.output
    assert not (tmp_path / "out" / ".vpm" / "egspace.db").exists()


def test_cli_report_rejects_bad_since(indexed: tuple[Path, Path]) -> None:
    project, data_dir = indexed

    result = runner.invoke(
        app,
        [
            "egspace",
            "report",
            str(project),
            "--out",
            str(data_dir.parent),
            "--since",
            "last week",
        ],
    )

    assert result.exit_code == 2
    assert "--since 'last week' is not a date" in result.output


def test_report_since_limits_movers(indexed: tuple[Path, Path]) -> None:
    _, data_dir = indexed
    since = datetime(2025, 9, 14, tzinfo=UTC)
    with open_vector_store(data_dir, None) as store:
        report = build_report(load_space(store), since)

    movers = report.closer + report.farther
    assert movers
    assert all(m.timestamp >= "2025-09-14" for m in movers)
    assert all(p.label >= "2025-09-14" for p in report.daily)


def test_scan_leaves_project_untouched(tmp_path: Path) -> None:
    project = make_project(tmp_path / "p", STATE, {"reports/a.md": "# a\n"})
    before = sorted(p.relative_to(project) for p in project.rglob("*"))

    build_index(project, tmp_path / "out", load_settings(project), embedder="lexical")

    assert sorted(p.relative_to(project) for p in project.rglob("*")) == before


def test_index_reads_events_after_cycle(tmp_path: Path) -> None:
    project = make_project(
        tmp_path / "p", STATE, {"reports/p1_1_autoscale_20250101.md": "# P1-1\n"}
    )
    out = tmp_path / "out"
    run_cycle(project, out)

    result = build_index(
        project, out / ".vpm", load_settings(project), embedder="lexical"
    )

    assert result.events_from == "store"
    with open_vector_store(out / ".vpm", None) as store:
        items, _ = store.load_items()
    assert "reports/p1_1_autoscale_20250101.md" in [i.source for i in items]
    assert any(i.kind == "state" for i in items)
