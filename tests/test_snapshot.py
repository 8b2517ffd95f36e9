"""`vpm snapshot TAG`: evidence report, provenance record and annotated tag."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from evidence_helpers import commit, git, init_repo, invoke
from vpm.prov import default_key_dir, ledger_path, read_records, verify_ledger

STATE = """\
---
phase: P5
---
# State

## Milestones
- P5-1 Autoscale ✅ — evidence `reports/p5_1.md`
- P5-2 SLO ✅ — evidence `reports/p5_2_*.json`
- P5-3 Migration (in progress)
"""

FILES = {
    "STATE/current_state.md": STATE,
    "reports/p5_1.md": "# Autoscale\n- result: 12/12 passed\n",
    "reports/p5_2_a.json": '{"p95_ms": 420}\n',
    "reports/p5_2_b.json": '{"p95_ms": 390}\n',
}


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = init_repo(tmp_path / "repo")
    commit(root, FILES, "state and evidence")
    return root


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def snapshots(folder: Path) -> list[dict]:
    data = (folder / ".vpm" / "snapshots.json").read_text(encoding="utf-8")
    return json.loads(data)["snapshots"]


def test_snapshot_writes_report_tag_and_records(repo: Path) -> None:
    result = invoke("snapshot", "v1", str(repo), "--message", "Phase 5 exit")

    report = (repo / "reports" / "snapshot_v1.md").read_text(encoding="utf-8")
    record = snapshots(repo)[0]
    assert result.exit_code == 0
    assert "Tagged v1 at" in result.stdout
    assert "2 milestones" in result.stdout
    assert f"| `reports/p5_1.md` | `{sha256(repo / 'reports/p5_1.md')}` |" in report
    assert "`reports/p5_2_a.json`" in report
    assert "`reports/p5_2_b.json`" in report
    assert "P5-3" not in report
    assert record["milestones"] == ["P5-1", "P5-2"]
    assert record["commit"] == git(repo, "rev-parse", "HEAD")


def test_snapshot_tag_is_annotated_with_report_hash(repo: Path) -> None:
    invoke("snapshot", "v1", str(repo), "-m", "Phase 5 exit")

    report_sha = sha256(repo / "reports" / "snapshot_v1.md")
    message = git(repo, "tag", "-l", "--format=%(contents)", "v1")
    assert git(repo, "cat-file", "-t", "v1") == "tag"
    assert message.startswith("Phase 5 exit")
    assert f"sha256 {report_sha}" in message
    assert snapshots(repo)[0]["report_sha256"] == report_sha


def test_snapshot_records_provenance(repo: Path) -> None:
    invoke("snapshot", "v1", str(repo))

    data_dir = repo / ".vpm"
    records = [record for _, record in read_records(ledger_path(data_dir))]
    report = verify_ledger(ledger_path(data_dir), default_key_dir(data_dir))
    assert [r.kind for r in records] == ["cycle", "state-patch"]
    assert records[1].id.endswith("/state-patch/snapshot-v1")
    assert report.is_valid


def test_snapshot_second_covers_only_new_milestones(repo: Path) -> None:
    invoke("snapshot", "v1", str(repo))
    state = STATE.replace(
        "P5-3 Migration (in progress)", "P5-3 Migration ✅ `reports/p5_3.md`"
    )
    commit(repo, {"STATE/current_state.md": state, "reports/p5_3.md": "ok\n"})

    result = invoke("snapshot", "v2", str(repo), "--format", "json")

    data = json.loads(result.stdout)
    report = (repo / "reports" / "snapshot_v2.md").read_text(encoding="utf-8")
    assert result.exit_code == 0
    assert data["milestones"] == ["P5-3"]
    assert data["covered"] == ["P5-1", "P5-2", "P5-3"]
    assert "Since: snapshot v1" in report
    assert "p5_1.md" not in report


def test_snapshot_includes_milestone_whose_evidence_changed(repo: Path) -> None:
    invoke("snapshot", "v1", str(repo))
    commit(repo, {"reports/p5_1.md": "# Autoscale\n- result: rerun 12/12\n"})

    result = invoke("snapshot", "v2", str(repo), "--format", "json")

    assert json.loads(result.stdout)["milestones"] == ["P5-1"]


def test_snapshot_with_nothing_new(repo: Path) -> None:
    invoke("snapshot", "v1", str(repo))

    result = invoke("snapshot", "v2", str(repo))

    report = (repo / "reports" / "snapshot_v2.md").read_text(encoding="utf-8")
    assert result.exit_code == 0
    assert "0 milestones" in result.stdout
    assert "No milestone was completed since the last snapshot." in report


def test_snapshot_existing_tag_rejected(repo: Path) -> None:
    git(repo, "tag", "v1")

    result = invoke("snapshot", "v1", str(repo))

    assert result.exit_code == 2
    assert "Tag 'v1' already exists" in result.stderr
    assert not (repo / "reports" / "snapshot_v1.md").exists()


@pytest.mark.parametrize(
    "tag", ["../v1", "a/b", "v1..2", "-d", ".v1", "v1.lock", "v 1", "v1^", "v1~1"]
)
def test_snapshot_invalid_tag_rejected(repo: Path, tmp_path: Path, tag: str) -> None:
    result = invoke("snapshot", "--", tag, str(repo))

    assert result.exit_code == 2
    assert "is not a valid tag name" in result.stderr
    assert git(repo, "tag", "-l") == ""
    assert sorted(p.name for p in (repo / "reports").iterdir()) == [
        "p5_1.md",
        "p5_2_a.json",
        "p5_2_b.json",
    ]


def test_snapshot_citation_outside_project_not_read(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("SECRET\n", encoding="utf-8")
    state = STATE + "- P5-9 Leak ✅ evidence `../secret.txt`\n"
    root = init_repo(tmp_path / "repo")
    commit(root, {**FILES, "STATE/current_state.md": state})

    result = invoke("snapshot", "v1", str(root))

    report = (root / "reports" / "snapshot_v1.md").read_text(encoding="utf-8")
    assert result.exit_code == 0
    assert "- Not usable: ../secret.txt:" in report
    assert sha256(secret) not in report
    assert "secret.txt" not in json.dumps(snapshots(root)[0]["evidence"])


def test_snapshot_outside_git_is_usage_error(tmp_path: Path) -> None:
    folder = tmp_path / "plain"
    folder.mkdir()

    result = invoke("snapshot", "v1", str(folder))

    assert result.exit_code == 2
    assert "not the top of a git repository" in result.stderr


def test_snapshot_without_identity_is_usage_error(
    repo: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    git(repo, "config", "--unset", "user.name")
    git(repo, "config", "--unset", "user.email")
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("EMAIL", "")
    for name in ("GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL"):
        monkeypatch.delenv(name, raising=False)
    git(repo, "config", "user.useConfigOnly", "true")

    result = invoke("snapshot", "v1", str(repo))

    assert result.exit_code == 2
    assert "committer identity" in result.stderr


def test_snapshot_out_folder(repo: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"

    result = invoke("snapshot", "v1", str(repo), "--out", str(out))

    assert result.exit_code == 0
    assert (out / "reports" / "snapshot_v1.md").is_file()
    assert (out / ".vpm" / "snapshots.json").is_file()
    assert not (repo / ".vpm").exists()
    assert git(repo, "cat-file", "-t", "v1") == "tag"


def test_snapshot_rejects_reports_link_outside(repo: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    git(repo, "rm", "-q", "-r", "--cached", "reports")
    (repo / "reports").rename(tmp_path / "moved")
    (repo / "reports").symlink_to(outside)

    result = invoke("snapshot", "v1", str(repo))

    assert result.exit_code == 2
    assert "outside the project" in result.stderr
    assert list(outside.iterdir()) == []
    assert git(repo, "tag", "-l") == ""
