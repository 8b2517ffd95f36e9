"""`vpm trial start|status|close` and the `trial-overdue` finding."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from conftest import make_project
from evidence_helpers import commit, git, init_repo, invoke
from vpm.evidence.trials import find_overdue_trials, start_trial, trial_places
from vpm.roles.planner import PlanInput, plan

STATE = "---\nphase: P5\n---\n# State\n"
START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return make_project(tmp_path / "project", STATE)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = init_repo(tmp_path / "repo")
    commit(root, {"STATE/current_state.md": STATE, "app.py": "x = 1\n"}, "base")
    return root


def start(project: Path, name: str = "cache", *extra: str):
    return invoke(
        "trial", "start", "--days", "7", "--hypothesis", "warm cache halves p95",
        *extra, "--", name, str(project),
    )  # fmt: skip


def book(folder: Path) -> dict:
    return json.loads((folder / ".vpm" / "trials.json").read_text(encoding="utf-8"))


def test_trial_start_outside_git(project: Path) -> None:
    result = start(project)

    trial = book(project)["trials"][0]
    report = (project / "reports" / "trial_cache.md").read_text(encoding="utf-8")
    assert result.exit_code == 0
    assert "Started trial cache until" in result.stdout
    assert trial["name"] == "cache"
    assert trial["days"] == 7
    assert trial["status"] == "running"
    assert trial["branch"] is None
    assert "- Hypothesis: warm cache halves p95" in report


def test_trial_start_creates_branch_without_switching(repo: Path) -> None:
    (repo / "app.py").write_text("x = 2  # local edit\n", encoding="utf-8")

    result = start(repo)

    assert result.exit_code == 0
    assert "trial/cache (created, not checked out)" in result.stdout
    assert git(repo, "branch", "--show-current") == "main"
    assert git(repo, "rev-parse", "trial/cache") == git(repo, "rev-parse", "HEAD")
    assert (repo / "app.py").read_text(encoding="utf-8") == "x = 2  # local edit\n"


def test_trial_start_checkout_switches(repo: Path) -> None:
    result = start(repo, "cache", "--checkout")

    assert result.exit_code == 0
    assert git(repo, "branch", "--show-current") == "trial/cache"


def test_trial_start_existing_branch_is_rejected(repo: Path) -> None:
    git(repo, "branch", "trial/cache")

    result = start(repo)

    assert result.exit_code == 2
    assert "Branch trial/cache already exists" in result.stderr
    assert not (repo / ".vpm").exists()


@pytest.mark.parametrize(
    ("days", "extra", "code"),
    [("14", [], 0), ("15", [], 2), ("30", ["--allow-long"], 0), ("0", [], 2)],
)
def test_trial_time_box(project: Path, days: str, extra: list[str], code: int) -> None:
    result = invoke(
        "trial", "start", "t1", str(project), "--days", days, "--hypothesis", "h",
        *extra,
    )  # fmt: skip

    assert result.exit_code == code


def test_trial_over_14_days_message(project: Path) -> None:
    result = invoke(
        "trial", "start", "t1", str(project), "--days", "21", "--hypothesis", "h"
    )

    assert "at most 14 days" in result.stderr
    assert "--allow-long" in result.stderr


@pytest.mark.parametrize(
    "name",
    ["../escape", "a/b", "..", "a..b", ".hidden", "x.lock", "-rf", "sp ace", "名前"],
)
def test_trial_invalid_names_rejected(project: Path, tmp_path: Path, name: str) -> None:
    result = start(project, name)

    assert result.exit_code == 2
    assert "is not a valid trial name" in result.stderr
    assert not (project / ".vpm").exists()
    assert not (project / "reports").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["project"]


def test_trial_reports_link_outside_rejected(project: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    os.symlink(outside, project / "reports")

    result = start(project)

    assert result.exit_code == 2
    assert "outside the project" in result.stderr
    assert list(outside.iterdir()) == []


def test_trial_duplicate_name_rejected(project: Path) -> None:
    start(project)

    result = start(project)

    assert result.exit_code == 2
    assert "already exists" in result.stderr


def test_trial_close_updates_report_and_keeps_notes(project: Path) -> None:
    start(project)
    report = project / "reports" / "trial_cache.md"
    report.write_text(
        report.read_text(encoding="utf-8") + "Day 2: p95 1.8s -> 0.9s\n",
        encoding="utf-8",
    )

    result = invoke(
        "trial", "close", "cache", str(project), "--result", "confirmed: p95 halved"
    )

    text = report.read_text(encoding="utf-8")
    trial = book(project)["trials"][0]
    assert result.exit_code == 0
    assert trial["status"] == "closed"
    assert trial["result"] == "confirmed: p95 halved"
    assert "- Status: closed" in text
    assert "- Status: running" not in text
    assert "Day 2: p95 1.8s -> 0.9s" in text
    assert text.rstrip().endswith("confirmed: p95 halved")


def test_trial_close_twice_and_unknown(project: Path) -> None:
    start(project)
    invoke("trial", "close", "cache", str(project), "--result", "done")

    again = invoke("trial", "close", "cache", str(project), "--result", "done")
    unknown = invoke("trial", "close", "other", str(project), "--result", "done")
    escape = invoke("trial", "close", "../cache", str(project), "--result", "x")

    assert again.exit_code == 2
    assert "already closed" in again.stderr
    assert unknown.exit_code == 2
    assert "No trial named 'other'" in unknown.stderr
    assert "(trials: cache)" in unknown.stderr
    assert escape.exit_code == 2


def test_trial_status_lists_and_marks_overdue(project: Path) -> None:
    places = trial_places(project, None)
    start_trial(places, "old", 3, "h", now=datetime.now(UTC) - timedelta(days=10))
    start(project, "fresh")

    text = invoke("trial", "status", str(project))
    as_json = invoke("trial", "status", str(project), "--format", "json")

    rows = {row["name"]: row for row in json.loads(as_json.stdout)["trials"]}
    assert text.exit_code == 0
    assert "old: overdue since" in text.stdout
    assert "fresh: running, 7 days left" in text.stdout
    assert rows["old"]["overdue"] is True
    assert rows["fresh"]["overdue"] is False


@pytest.mark.parametrize(
    ("elapsed", "left"),
    [
        (timedelta(seconds=5), "3 days left"),
        (timedelta(hours=1, minutes=30), "2 days 23 hours left"),
        (timedelta(days=2, hours=12), "12 hours left"),
        (timedelta(days=2, hours=23, minutes=59), "1 hour left"),
        (timedelta(days=2), "1 day left"),
    ],
)
def test_trial_status_counts_partial_days(
    project: Path, elapsed: timedelta, left: str
) -> None:
    places = trial_places(project, None)
    start_trial(places, "short", 3, "h", now=datetime.now(UTC) - elapsed)

    result = invoke("trial", "status", str(project))

    assert result.exit_code == 0
    assert f"short: running, {left} (until" in result.stdout


def test_trial_one_day_wording(project: Path) -> None:
    places = trial_places(project, None)
    start_trial(places, "late", 1, "h", now=START)

    findings = find_overdue_trials(project, places.data_dir, START + timedelta(days=2))
    report = places.report("late").read_text(encoding="utf-8")

    assert "still running 1 day after its 1-day time box" in findings[0].message
    assert "- Time box: 1 day, " in report


def test_trial_status_empty(project: Path) -> None:
    result = invoke("trial", "status", str(project))

    assert result.exit_code == 0
    assert "No trials." in result.stdout


def test_trial_out_folder(project: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"

    result = start(project, "cache", "--out", str(out))

    assert result.exit_code == 0
    assert (out / ".vpm" / "trials.json").is_file()
    assert (out / "reports" / "trial_cache.md").is_file()
    assert not (project / ".vpm").exists()


def test_trial_invalid_book_is_usage_error(project: Path) -> None:
    (project / ".vpm").mkdir()
    (project / ".vpm" / "trials.json").write_text("{", encoding="utf-8")

    result = invoke("trial", "status", str(project))

    assert result.exit_code == 2
    assert "trials.json is not a valid trials file" in result.stderr


def test_trial_book_missing_fields_one_line(project: Path) -> None:
    (project / ".vpm").mkdir()
    (project / ".vpm" / "trials.json").write_text(
        '{"trials": [{"name": "x"}]}', encoding="utf-8"
    )

    result = invoke("trial", "status", str(project))

    lines = result.stderr.strip().splitlines()
    assert result.exit_code == 2
    assert len(lines) == 1
    assert "trials.0.hypothesis: Field required, and 4 more problems" in lines[0]


def test_find_overdue_trials(project: Path) -> None:
    places = trial_places(project, None)
    start_trial(places, "late", 7, "h", now=START)
    start_trial(places, "ontime", 14, "h", now=START)
    now = START + timedelta(days=9)

    findings = find_overdue_trials(project, places.data_dir, now)

    assert [f.subject for f in findings] == ["late"]
    assert findings[0].kind == "trial-overdue"
    assert findings[0].path == ".vpm/trials.json"
    assert findings[0].evidence == "reports/trial_late.md"
    assert "2 days after its 7-day time box" in findings[0].message


def test_find_overdue_skips_closed_and_bad_files(project: Path) -> None:
    places = trial_places(project, None)
    start_trial(places, "late", 1, "h", now=START)
    invoke("trial", "close", "late", str(project), "--result", "done")
    closed = find_overdue_trials(project, places.data_dir, START + timedelta(days=5))
    places.book.write_text("not json", encoding="utf-8")

    broken = find_overdue_trials(project, places.data_dir, START)

    assert closed == []
    assert broken == []


def test_planner_reports_trial_overdue(project: Path) -> None:
    places = trial_places(project, None)
    start_trial(places, "late", 2, "h", now=datetime.now(UTC) - timedelta(days=5))

    result = plan(PlanInput(project=str(project)))

    assert [f.subject for f in result.findings if f.kind == "trial-overdue"] == ["late"]


def test_trial_close_rejects_linked_report(project: Path, tmp_path: Path) -> None:
    start(project)
    outside = tmp_path / "outside.md"
    outside.write_text("SECRET\n", encoding="utf-8")
    report = project / "reports" / "trial_cache.md"
    report.unlink()
    os.symlink(outside, report)

    result = invoke("trial", "close", "cache", str(project), "--result", "done")

    assert result.exit_code == 2
    assert "is a symbolic link" in result.stderr
    assert outside.read_text(encoding="utf-8") == "SECRET\n"
    assert book(project)["trials"][0]["status"] == "running"
