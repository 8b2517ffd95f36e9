"""`vpm snapshot TAG`: evidence report, provenance record and annotated tag."""

from __future__ import annotations

import hashlib
import json
import subprocess
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


def assert_nothing_written(repo: Path, tag: str) -> None:
    assert git(repo, "tag", "-l") == ""
    assert not (repo / "reports" / f"snapshot_{tag}.md").exists()
    assert not (repo / ".vpm" / "snapshots.json").exists()


def test_snapshot_rejects_modified_evidence(repo: Path) -> None:
    (repo / "reports" / "p5_1.md").write_text("# Autoscale\n- edited\n", "utf-8")

    result = invoke("snapshot", "v1", str(repo))

    assert result.exit_code == 2
    assert "1 file the snapshot reads differs from HEAD" in result.stderr
    assert "reports/p5_1.md (modified since HEAD)" in result.stderr
    assert_nothing_written(repo, "v1")


def test_snapshot_rejects_staged_evidence(repo: Path) -> None:
    (repo / "reports" / "p5_1.md").write_text("# Autoscale\n- staged\n", "utf-8")
    git(repo, "add", "reports/p5_1.md")

    result = invoke("snapshot", "v1", str(repo))

    assert result.exit_code == 2
    assert "reports/p5_1.md (modified since HEAD)" in result.stderr
    assert_nothing_written(repo, "v1")


def test_snapshot_rejects_untracked_evidence(tmp_path: Path) -> None:
    state = STATE + "- P5-9 Cutover ✅ evidence `reports/p5_9.md`\n"
    root = init_repo(tmp_path / "repo")
    commit(root, {**FILES, "STATE/current_state.md": state})
    (root / "reports" / "p5_9.md").write_text("never committed\n", "utf-8")
    (root / "reports" / "p5_2_c.json").write_text("{}\n", "utf-8")

    result = invoke("snapshot", "v1", str(root))

    assert result.exit_code == 2
    assert "2 files the snapshot reads differ from HEAD" in result.stderr
    assert "reports/p5_2_c.json (not committed)" in result.stderr
    assert "reports/p5_9.md (not committed)" in result.stderr
    assert_nothing_written(root, "v1")


def test_snapshot_rejects_ignored_evidence(tmp_path: Path) -> None:
    state = STATE + "- P5-9 Cutover ✅ evidence `reports/p5_9.md`\n"
    root = init_repo(tmp_path / "repo")
    commit(root, {**FILES, "STATE/current_state.md": state, ".gitignore": "*.md\n"})
    (root / "reports" / "p5_9.md").write_text("ignored by git\n", "utf-8")

    result = invoke("snapshot", "v1", str(root))

    assert result.exit_code == 2
    assert "reports/p5_9.md (not committed)" in result.stderr


def test_snapshot_rejects_deleted_glob_match(repo: Path) -> None:
    (repo / "reports" / "p5_2_b.json").unlink()

    result = invoke("snapshot", "v1", str(repo))

    assert result.exit_code == 2
    assert "reports/p5_2_b.json (deleted since HEAD)" in result.stderr
    assert_nothing_written(repo, "v1")


def test_snapshot_rejects_modified_state(repo: Path) -> None:
    state = STATE.replace("P5-3 Migration (in progress)", "P5-3 Migration ✅")
    (repo / "STATE" / "current_state.md").write_text(state, "utf-8")

    result = invoke("snapshot", "v1", str(repo))

    assert result.exit_code == 2
    assert "STATE/current_state.md (modified since HEAD)" in result.stderr
    assert_nothing_written(repo, "v1")


def test_snapshot_ignores_unrelated_changes(repo: Path) -> None:
    (repo / "notes.txt").write_text("scratch\n", "utf-8")
    commit(repo, {"app.py": "x = 1\n"})
    (repo / "app.py").write_text("x = 2\n", "utf-8")

    result = invoke("snapshot", "v1", str(repo))

    assert result.exit_code == 0
    assert git(repo, "cat-file", "-t", "v1") == "tag"


def test_snapshot_hashes_match_tagged_commit(repo: Path) -> None:
    invoke("snapshot", "v1", str(repo), "--format", "json")

    evidence = snapshots(repo)[0]["evidence"]
    for path, digest in evidence.items():
        blob = subprocess.run(
            ["git", "-C", str(repo), "show", f"v1:{path}"],
            capture_output=True,
            check=True,
        ).stdout
        assert hashlib.sha256(blob).hexdigest() == digest, path


def test_snapshot_one_milestone_wording(tmp_path: Path) -> None:
    state = "---\nphase: P5\n---\n# State\n- P5-1 Autoscale ✅ `reports/p5_1.md`\n"
    root = init_repo(tmp_path / "repo")
    commit(root, {**FILES, "STATE/current_state.md": state})

    result = invoke("snapshot", "v1", str(root))

    message = git(root, "tag", "-l", "--format=%(contents)", "v1")
    assert result.exit_code == 0
    assert ": 1 milestone." in result.stdout
    assert message.startswith("Snapshot v1: 1 milestone\n")


def test_snapshot_invalid_book_one_line(repo: Path) -> None:
    (repo / ".vpm").mkdir()
    (repo / ".vpm" / "snapshots.json").write_text(
        '{"snapshots": [{"tag": "v0"}]}', encoding="utf-8"
    )

    result = invoke("snapshot", "v1", str(repo))

    lines = result.stderr.strip().splitlines()
    assert result.exit_code == 2
    assert len(lines) == 1
    assert "snapshots.0.at: Field required, and 6 more problems" in lines[0]


def test_snapshot_follows_committed_folder_link(tmp_path: Path) -> None:
    root = init_repo(tmp_path / "repo")
    files = {f"data/{path}": text for path, text in FILES.items() if "reports" in path}
    commit(root, {**files, "STATE/current_state.md": STATE})
    (root / "reports").symlink_to("data/reports")
    git(root, "add", "reports")
    git(root, "commit", "-q", "-m", "link reports")

    clean = invoke("snapshot", "v1", str(root))
    (root / "data" / "reports" / "p5_1.md").write_text("edited\n", "utf-8")
    dirty = invoke("snapshot", "v2", str(root))

    assert clean.exit_code == 0
    assert "2 milestones" in clean.stdout
    assert dirty.exit_code == 2
    assert "data/reports/p5_1.md (modified since HEAD)" in dirty.stderr


def test_snapshot_rejects_uncommitted_file_link(repo: Path) -> None:
    # The link's target is committed and clean, but HEAD has a regular file.
    (repo / "reports" / "p5_1.md").unlink()
    (repo / "reports" / "p5_1.md").symlink_to("p5_2_a.json")

    result = invoke("snapshot", "v1", str(repo))

    assert result.exit_code == 2
    assert "reports/p5_1.md (modified since HEAD)" in result.stderr
    assert "p5_2_a.json" not in result.stderr
