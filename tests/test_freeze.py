"""`vpm freeze`, `ensure_not_frozen` and the `freeze-outlived` finding."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from conftest import make_project
from evidence_helpers import invoke
from vpm.evidence.errors import DeployFrozen
from vpm.evidence.freeze import ensure_not_frozen, find_stale_freeze, set_freeze
from vpm.roles.planner import PlanInput, plan
from vpm.state.parse import parse_state, read_state

STATE = """\
---
phase: P5
short_goal: finish P5
---
# State

## Milestones
- P5-3 Migration ✅ — evidence `reports/p5_3.md`
- P5-4 Secrets (in progress)
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return make_project(tmp_path / "project", STATE, {"reports/p5_3.md": "ok\n"})


def freeze_data(project: Path) -> dict:
    path = project / ".ops" / "deploy_freeze.json"
    return json.loads(path.read_text(encoding="utf-8"))


def test_freeze_on_writes_file(project: Path) -> None:
    result = invoke(
        "freeze", "on", str(project), "--reason", "release audit", "--by", "ops",
        "--until", "P5-4 done",
    )  # fmt: skip

    data = freeze_data(project)
    assert result.exit_code == 0
    assert "Deploy freeze is on" in result.stdout
    assert data["freeze"] is True
    assert data["reason"] == "release audit"
    assert data["by"] == "ops"
    assert data["until_condition"] == "P5-4 done"
    assert data["at"].endswith("+00:00")


def test_freeze_off_drops_condition(project: Path) -> None:
    invoke("freeze", "on", str(project), "--reason", "audit", "--until", "P5-4")

    result = invoke("freeze", "off", str(project), "--reason", "audit over")

    data = freeze_data(project)
    assert result.exit_code == 0
    assert data["freeze"] is False
    assert data["reason"] == "audit over"
    assert "until_condition" not in data


def test_freeze_on_requires_reason(project: Path) -> None:
    result = invoke("freeze", "on", str(project))

    assert result.exit_code == 2
    assert "--reason is required" in result.stderr
    assert not (project / ".ops").exists()


def test_freeze_status_without_file(project: Path) -> None:
    text = invoke("freeze", "status", str(project))
    as_json = invoke("freeze", "status", str(project), "--format", "json")

    assert text.exit_code == 0
    assert "No deploy freeze file" in text.stdout
    assert json.loads(as_json.stdout)["freeze"] is None


def test_freeze_status_json(project: Path) -> None:
    invoke("freeze", "on", str(project), "--reason", "audit", "--by", "ops")

    result = invoke("freeze", "status", str(project), "--format", "json")

    data = json.loads(result.stdout)
    assert result.exit_code == 0
    assert data["freeze"] is True
    assert data["by"] == "ops"


def test_freeze_keeps_unknown_keys(project: Path) -> None:
    (project / ".ops").mkdir()
    (project / ".ops" / "deploy_freeze.json").write_text(
        '{"freeze": false, "ticket": "OPS-12"}', encoding="utf-8"
    )

    invoke("freeze", "on", str(project), "--reason", "audit")

    assert freeze_data(project)["ticket"] == "OPS-12"


def test_freeze_refuses_to_overwrite_invalid_file(project: Path) -> None:
    path = project / ".ops" / "deploy_freeze.json"
    path.parent.mkdir()
    path.write_text('{"freeze": tru', encoding="utf-8")

    result = invoke("freeze", "on", str(project), "--reason", "audit")

    assert result.exit_code == 2
    assert ".ops/deploy_freeze.json:1 is not valid JSON" in result.stderr
    assert path.read_text(encoding="utf-8") == '{"freeze": tru'


def test_freeze_rejects_ops_link_outside(project: Path, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    os.symlink(outside, project / ".ops")

    result = invoke("freeze", "on", str(project), "--reason", "audit")
    status = invoke("freeze", "status", str(project))

    assert result.exit_code == 2
    assert "outside the project" in result.stderr
    assert list(outside.iterdir()) == []
    assert status.exit_code == 2


@pytest.mark.parametrize("mode", [0o644, 0o664, 0o640])
def test_freeze_on_keeps_file_mode(project: Path, mode: int) -> None:
    path = project / ".ops" / "deploy_freeze.json"
    path.parent.mkdir()
    path.write_text('{"freeze": false}', encoding="utf-8")
    path.chmod(mode)

    result = invoke("freeze", "on", str(project), "--reason", "audit")

    assert result.exit_code == 0
    assert stat.S_IMODE(path.stat().st_mode) == mode
    assert freeze_data(project)["freeze"] is True


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o077, 0o600)])
def test_freeze_new_file_mode_follows_umask(
    project: Path, umask: int, mode: int
) -> None:
    previous = os.umask(umask)
    try:
        set_freeze(project, True, "audit")
    finally:
        os.umask(previous)

    path = project / ".ops" / "deploy_freeze.json"
    assert stat.S_IMODE(path.stat().st_mode) == mode
    assert [p.name for p in path.parent.iterdir()] == ["deploy_freeze.json"]


def test_freeze_file_link_outside_message(project: Path, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere.json"
    outside.write_text('{"freeze": false}', encoding="utf-8")
    (project / ".ops").mkdir()
    os.symlink(outside, project / ".ops" / "deploy_freeze.json")

    result = invoke("freeze", "on", str(project), "--reason", "audit")

    assert result.exit_code == 2
    assert "deploy freeze file .ops/deploy_freeze.json" in result.stderr
    assert "outside the project" in result.stderr
    assert "Cited path" not in result.stderr
    assert "evidence" not in result.stderr
    assert outside.read_text(encoding="utf-8") == '{"freeze": false}'


def test_freeze_file_link_inside_writes_target(project: Path) -> None:
    target = project / "ops-shared" / "freeze.json"
    target.parent.mkdir()
    target.write_text('{"freeze": false}', encoding="utf-8")
    target.chmod(0o664)
    (project / ".ops").mkdir()
    link = project / ".ops" / "deploy_freeze.json"
    os.symlink(Path("..") / "ops-shared" / "freeze.json", link)

    result = invoke("freeze", "on", str(project), "--reason", "audit")

    assert result.exit_code == 0
    assert link.is_symlink()
    assert json.loads(target.read_text(encoding="utf-8"))["freeze"] is True
    assert stat.S_IMODE(target.stat().st_mode) == 0o664


def test_freeze_missing_project_is_usage_error(tmp_path: Path) -> None:
    result = invoke("freeze", "status", str(tmp_path / "none"))

    assert result.exit_code == 2
    assert "does not exist" in result.stderr


def test_ensure_not_frozen_raises_with_file_and_reason(project: Path) -> None:
    set_freeze(project, True, "release audit", by="ops")

    with pytest.raises(DeployFrozen, match=r"deploy_freeze\.json.*release audit"):
        ensure_not_frozen(project, force=False)


def test_ensure_not_frozen_allows_force_off_and_absent(project: Path) -> None:
    ensure_not_frozen(project, force=False)
    set_freeze(project, True, "audit")
    ensure_not_frozen(project, force=True)
    set_freeze(project, False, "done")
    ensure_not_frozen(project, force=False)


def test_ensure_not_frozen_blocks_unknown_state(project: Path) -> None:
    (project / ".ops").mkdir()
    (project / ".ops" / "deploy_freeze.json").write_text("[]", encoding="utf-8")

    with pytest.raises(DeployFrozen, match="state is unknown"):
        ensure_not_frozen(project, force=False)


def read_doc(project: Path):
    return read_state(project / "STATE" / "current_state.md", "STATE/current_state.md")


def test_stale_freeze_reported_when_condition_done(project: Path) -> None:
    set_freeze(project, True, "migration", until_condition="until P5-3 is done")

    findings = find_stale_freeze(project, read_doc(project))

    assert [f.kind for f in findings] == ["freeze-outlived"]
    assert findings[0].path == ".ops/deploy_freeze.json"
    assert findings[0].subject == "P5-3"
    assert "line 8 records P5-3 as done" in findings[0].message


@pytest.mark.parametrize(
    ("frozen", "condition"),
    [
        (True, "until P5-4 is done"),
        (True, "until P5-3 and P5-4 are done"),
        (True, "until the audit ends"),
        (True, None),
        (False, "until P5-3 is done"),
    ],
)
def test_stale_freeze_not_reported(
    project: Path, frozen: bool, condition: str | None
) -> None:
    set_freeze(project, frozen, "x", until_condition=condition)

    assert find_stale_freeze(project, read_doc(project)) == []


def test_stale_freeze_ignores_invalid_file(project: Path) -> None:
    (project / ".ops").mkdir()
    (project / ".ops" / "deploy_freeze.json").write_text("{", encoding="utf-8")

    assert find_stale_freeze(project, parse_state(STATE, "s.md")) == []


def test_planner_reports_freeze_outlived(project: Path) -> None:
    set_freeze(project, True, "migration", until_condition="P5-3 done")

    result = plan(PlanInput(project=str(project)))

    kinds = [finding.kind for finding in result.findings]
    assert "freeze-outlived" in kinds


def test_stale_freeze_on_real_state(corpus_tree: Path) -> None:
    # The corpus state records P5-3 as done and P5-4 as still open.
    doc = read_doc(corpus_tree)

    set_freeze(corpus_tree, True, "cutover", until_condition="P5-3 migration done")
    outlived = find_stale_freeze(corpus_tree, doc)
    set_freeze(corpus_tree, True, "secrets", until_condition="P5-4 secrets done")
    still_needed = find_stale_freeze(corpus_tree, doc)

    assert [f.subject for f in outlived] == ["P5-3"]
    assert still_needed == []
