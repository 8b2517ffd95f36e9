"""The vpm command: cycle, status and lint as a user runs them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from conftest import make_project
from vpm.cli import app

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


def test_status_on_project_never_cycled_writes_nothing(example: Path):
    before = sorted(p.relative_to(example) for p in example.rglob("*"))

    result = invoke("status", str(example))

    assert result.exit_code == 0
    assert "Phase 2: Checkout service" in result.output
    assert "freeze-mismatch" in result.output
    assert "STATE/current_state.md:20" in result.output
    assert "No cycle has run yet." in result.output
    assert sorted(p.relative_to(example) for p in example.rglob("*")) == before


def test_status_json_has_plan_fields(example: Path):
    result = invoke("status", str(example), "--format", "json")

    payload = json.loads(result.output)
    assert payload["phase"] == "Phase 2: Checkout service"
    assert payload["next_move"]["rule"]
    assert payload["last_cycle"] is None
    locations = {(f["kind"], f["line"]) for f in payload["findings"]}
    assert ("missing-evidence", 51) in locations


def test_cycle_then_status_shows_last_cycle(example: Path, tmp_path: Path):
    out = tmp_path / "out"

    first = invoke("cycle", str(example), "--out", str(out))
    second = invoke("cycle", str(example), "--out", str(out))
    status = invoke("status", str(example), "--out", str(out))

    assert first.exit_code == 0
    assert "Cycle 1:" in first.output
    assert f"Digest: {out / 'reports' / 'digest.md'}" in first.output
    assert "Nothing new since cycle 1" in second.output
    assert "Last cycle: 1" in status.output


def test_cycle_json_output(example: Path):
    result = invoke("cycle", str(example), "--format", "json")

    payload = json.loads(result.output)
    assert payload["cycle_id"] == 1
    assert payload["events"]["chat"] == 4
    assert len(payload["summary"]) <= 400


def test_missing_project_is_a_user_error(tmp_path: Path):
    result = runner.invoke(app, ["cycle", str(tmp_path / "nope")])

    assert result.exit_code == 2
    assert "Error: project folder not found" in result.output


def test_lint_document_only_exits_one_on_error(corpus: Path):
    result = invoke("lint", str(corpus / "seed_state.md"))

    assert result.exit_code == 1
    assert "phase-mismatch" in result.output
    assert "seed_state.md:24" in result.output


def test_lint_with_project_checks_evidence(example: Path):
    state = example / "STATE" / "current_state.md"

    result = invoke("lint", str(state), "--project", str(example), "--format", "json")

    kinds = {f["kind"] for f in json.loads(result.output)["findings"]}
    assert "missing-evidence" in kinds
    assert "freeze-mismatch" in kinds
    assert result.exit_code == 1


def test_lint_state_outside_project_is_rejected(tmp_path: Path):
    project = make_project(tmp_path / "p", "---\nphase: Phase 1\n---\n")
    outside = tmp_path / "other.md"
    outside.write_text("---\nphase: Phase 1\n---\n", "utf-8")

    result = runner.invoke(app, ["lint", str(outside), "--project", str(project)])

    assert result.exit_code == 2
    assert "not inside the project" in result.output


def test_python_dash_m_runs_the_command(example: Path):
    result = subprocess.run(
        [sys.executable, "-m", "vpm", "status", str(example), "--format", "json"],
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 0
    assert json.loads(result.stdout)["state_path"] == "STATE/current_state.md"


def test_cycle_exits_one_when_ledger_cannot_be_written(example: Path):
    ledger_dir = example / ".vpm" / "prov"
    ledger_dir.mkdir(parents=True)
    (ledger_dir / "ledger.jsonl").mkdir()

    result = runner.invoke(app, ["cycle", str(example)])

    assert result.exit_code == 1
    assert "not recorded in the provenance ledger" in result.output
    assert (example / "reports" / "vpm" / "digest.md").is_file()


def test_setting_outside_project_is_rejected(example: Path):
    (example / "vpm.toml").write_text('state_file = "../../etc/passwd"\n', "utf-8")

    result = runner.invoke(app, ["cycle", str(example)])

    assert result.exit_code == 2
    assert "state_file" in result.output
    assert "outside the project" in result.output
    assert not (example / ".vpm").exists()


def test_status_sees_cycle_while_store_is_open(example: Path):
    from vpm.store import open_store

    invoke("cycle", str(example))
    store = open_store(None, example / ".vpm")
    try:
        with store.engine.begin() as conn:
            conn.exec_driver_sql("UPDATE cycles SET finished_at = 'later'")
        result = invoke("status", str(example), "--format", "json")
    finally:
        store.close()

    assert json.loads(result.output)["last_cycle"]["finished_at"] == "later"
