"""A full cycle over real and small projects: outputs, no-op, bad input."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import make_project
from vpm.cli import app
from vpm.pipeline import cycle_lock, run_cycle
from vpm.store import open_store

STATE = """---
phase: Phase 1
short_goal: "First release"
exit_criteria:
  - "P1-1 GREEN: build passes"
---

## Current position (C)
- building

### P1-1 Build
- Status: **GREEN**
- Evidence: `reports/build.md`
"""


def store_counts(data_dir: Path) -> dict[str, int]:
    store = open_store(None, data_dir)
    try:
        return {t: store.count(t) for t in ("events", "cycles", "findings")}
    finally:
        store.close()


def finding_kinds(result) -> dict[str, list[int | None]]:
    kinds: dict[str, list[int | None]] = {}
    for finding in result.plan.findings:
        kinds.setdefault(finding.kind, []).append(finding.line)
    return kinds


def test_cycle_writes_digest_report_patch_and_memory(example: Path):
    result = run_cycle(example)

    reports = example / "reports" / "vpm"
    assert result.cycle_id == 1
    for name in ("digest.md", "nav.mmd", "state.patch", "cycle.md", "cycle.json"):
        assert (reports / name).is_file(), name
    report = json.loads((reports / "cycle.json").read_text("utf-8"))
    assert "STATE/current_state.md" in report["inputs"]
    assert len(report["inputs"]["STATE/current_state.md"]) == 64
    assert str(reports / "digest.md") in report["outputs"]
    memory = json.loads((example / ".vpm" / "memory.json").read_text("utf-8"))
    assert memory[0]["session_id"] == "s-1119"
    assert len(memory[0]["summary"]) <= 400


def test_cycle_on_example_finds_the_planted_problems(example: Path):
    result = run_cycle(example)

    kinds = finding_kinds(result)
    assert kinds["freeze-mismatch"] == [20]
    assert kinds["missing-evidence"] == [51]
    assert kinds["unverified-claim"] == [50]
    assert 21 in kinds["stale-section"]
    assert kinds["open-item"] == [45]
    missing = next(f for f in result.plan.findings if f.kind == "missing-evidence")
    assert "p1_3_catalog_cache_20261111.md" in missing.suggestion
    metric = next(f for f in result.plan.findings if f.kind == "metric-violates-target")
    assert metric.evidence == "reports/p2_2_load_test.json"
    assert metric.subject == "P2-2"
    assert [c.met for c in result.plan.criteria] == [True, False, False]
    assert result.plan.next_move.rule == "re-verify-contradicted"


def test_cycle_does_not_edit_state_document(example: Path):
    state = example / "STATE" / "current_state.md"
    before = state.read_bytes()

    run_cycle(example)

    assert state.read_bytes() == before
    patch = (example / "reports" / "vpm" / "state.patch").read_text("utf-8")
    assert patch.startswith("--- a/STATE/current_state.md")


def test_second_cycle_with_nothing_new_is_noop(example: Path):
    run_cycle(example)
    counts = store_counts(example / ".vpm")
    digest = example / "reports" / "vpm" / "digest.md"
    stamp = digest.stat().st_mtime_ns

    second = run_cycle(example)

    assert second.noop is True
    assert store_counts(example / ".vpm") == counts
    assert digest.stat().st_mtime_ns == stamp


def test_second_cycle_sees_only_the_new_file(example: Path):
    run_cycle(example)
    (example / "reports" / "extra.md").write_text("# extra\nall good\n", "utf-8")

    second = run_cycle(example)

    assert second.noop is False
    assert second.event_counts == {"evidence": 1}
    assert store_counts(example / ".vpm")["cycles"] == 2


def test_changed_chat_log_adds_only_new_messages(example: Path):
    run_cycle(example)
    log = example / "logs" / "chat" / "2026-11-19.jsonl"
    line = {
        "role": "user",
        "content": "再試験は明日実施する。",
        "session_id": "s-1119",
        "msg_id": "m5",
        "timestamp": "2026-11-19T11:00:00Z",
    }
    with log.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(line, ensure_ascii=False) + "\n")

    second = run_cycle(example)

    assert second.event_counts == {"chat": 1}


def test_read_only_project_works_with_out(example: Path, tmp_path: Path):
    out = tmp_path / "out"
    for path in [example, *example.rglob("*")]:
        if path.is_dir():
            path.chmod(0o555)
    try:
        result = run_cycle(example, out=out)
    finally:
        for path in [example, *example.rglob("*")]:
            if path.is_dir():
                path.chmod(0o755)

    assert result.cycle_id == 1
    assert (out / "reports" / "digest.md").is_file()
    assert (out / ".vpm" / "vpm.db").is_file()
    assert not (example / ".vpm").exists()


def test_corrupt_memory_is_moved_to_bak(example: Path):
    (example / ".vpm").mkdir()
    (example / ".vpm" / "memory.json").write_text('["ok", {broken', "utf-8")

    result = run_cycle(example)

    backup = example / ".vpm" / "memory.json.bak"
    assert backup.read_text("utf-8") == '["ok", {broken'
    assert any("memory.json.bak" in p.message for p in result.problems)
    assert json.loads((example / ".vpm" / "memory.json").read_text("utf-8"))


def test_truncated_jsonl_line_is_reported_and_rest_read(example: Path):
    log = example / "logs" / "chat" / "2026-11-19.jsonl"
    with log.open("a", encoding="utf-8") as handle:
        handle.write('{"role": "user", "content": "途中で切れ')

    result = run_cycle(example)

    problem = next(p for p in result.problems if p.path.endswith(".jsonl"))
    assert problem.line == 5
    assert result.event_counts["chat"] == 4


def test_binary_file_in_reports_is_reported(example: Path):
    (example / "reports" / "capture.bin").write_bytes(b"\x00\x01\x02\xff" * 100)

    result = run_cycle(example)

    assert any(p.path == "reports/capture.bin" for p in result.problems)
    assert result.cycle_id == 1


def test_broken_front_matter_names_line_and_plans(tmp_path: Path):
    broken = STATE.replace('short_goal: "First release"', 'short_goal: "unclosed')
    project = make_project(tmp_path / "p", broken, {"reports/build.md": "ok\n"})

    result = run_cycle(project)

    problem = next(p for p in result.problems if p.path == "STATE/current_state.md")
    assert problem.line in (3, 4, 5, 6)
    assert result.plan.criteria[0].met is True


def test_missing_front_matter_still_plans(tmp_path: Path):
    body = STATE.split("---\n", 2)[2]
    project = make_project(tmp_path / "p", body, {"reports/build.md": "ok\n"})

    result = run_cycle(project)

    assert any("no front matter" in p.message for p in result.problems)
    assert result.plan.phase is None
    assert result.cycle_id == 1


def test_cited_path_outside_project_is_never_read(tmp_path: Path):
    secret = tmp_path / "secret.md"
    secret.write_text("TOP-SECRET-CONTENT", "utf-8")
    state = STATE.replace("`reports/build.md`", "`../secret.md` / `../../etc/passwd`")
    project = make_project(tmp_path / "p", state)

    result = run_cycle(project)

    kinds = finding_kinds(result)
    assert len(kinds["invalid-citation"]) == 2
    dumped = (project / "reports" / "vpm" / "cycle.json").read_text("utf-8")
    assert "TOP-SECRET-CONTENT" not in dumped
    assert "root:" not in dumped


def test_project_without_state_document_still_cycles(tmp_path: Path):
    project = tmp_path / "p"
    (project / "reports").mkdir(parents=True)
    (project / "reports" / "a.md").write_text("x\n", "utf-8")

    result = run_cycle(project)

    assert result.plan.next_move.rule == "write-state"
    assert result.cycle_id == 1


def git(project: Path, *args: str) -> None:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.invalid",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.invalid",
    }
    subprocess.run(
        ["git", "-C", str(project), *args], check=True, env=env, capture_output=True
    )


def test_git_commits_become_events_once(tmp_path: Path):
    project = make_project(tmp_path / "p", STATE, {"reports/build.md": "ok\n"})
    git(project, "init", "-q")
    git(project, "add", "-A")
    git(project, "commit", "-qm", "first: add state")

    first = run_cycle(project)
    (project / "notes.txt").write_text("n\n", "utf-8")
    git(project, "add", "notes.txt")
    git(project, "commit", "-qm", "second: add notes")
    second = run_cycle(project)
    third = run_cycle(project)

    assert first.event_counts["commit"] == 1
    assert second.event_counts == {"commit": 1}
    assert third.noop is True


def test_cycle_on_corpus_tree_finds_what_a_reviewer_finds(corpus_tree: Path):
    result = run_cycle(corpus_tree)

    kinds = finding_kinds(result)
    findings = result.plan.findings
    assert kinds["freeze-mismatch"] == [30]
    assert 31 in kinds["stale-section"]
    assert 44 in kinds["stale-section"]
    assert 66 in kinds["open-item"]
    assert 97 in kinds["unverified-claim"]
    missing = next(
        f for f in findings if f.kind == "missing-evidence" and f.line == 161
    )
    assert "p5_2_slo_runbook_20250913_060853.md" in missing.suggestion
    autoscale = [
        f
        for f in findings
        if f.kind == "evidence-contradicts-claim"
        and f.evidence == "reports/p5_1_autoscale_20250913_055540.md"
    ]
    assert autoscale and "404" in autoscale[0].quote
    proof = [
        f
        for f in findings
        if f.kind == "evidence-contradicts-claim"
        and f.evidence == "reports/p2_2_openai_proof_20250903_125848.json"
    ]
    assert proof
    assert not any(c.met for c in result.plan.criteria)
    assert result.plan.next_move.rule == "re-verify-contradicted"


def test_seed_state_in_corpus_tree_reports_phase_mismatch(
    corpus_tree: Path, corpus: Path
):
    shutil.copy(corpus / "seed_state.md", corpus_tree / "STATE" / "current_state.md")

    result = run_cycle(corpus_tree)

    kinds = finding_kinds(result)
    assert kinds["phase-mismatch"] == [24]
    assert kinds["freeze-mismatch"] == [30]


@pytest.mark.parametrize(
    "version",
    sorted(
        p.name
        for p in (
            Path(__file__).resolve().parents[2]
            / "shared"
            / "corpus"
            / "vpm-mini"
            / "state_history"
        ).glob("*.md")
    ),
)
def test_cycle_and_plan_on_every_state_version(
    tmp_path: Path, corpus: Path, version: str
):
    project = tmp_path / "p"
    (project / "STATE").mkdir(parents=True)
    shutil.copy(
        corpus / "state_history" / version, project / "STATE" / "current_state.md"
    )

    result = run_cycle(project)
    status = CliRunner().invoke(app, ["status", str(project), "--format", "json"])

    assert result.cycle_id == 1
    assert result.plan.next_move.rule
    assert (project / "reports" / "vpm" / "digest.md").is_file()
    assert status.exit_code == 0
    assert json.loads(status.output)["last_cycle"]["id"] == 1


def test_second_cycle_waits_for_running_one(example: Path):
    command = [sys.executable, "-m", "vpm", "cycle", str(example), "--format", "json"]
    run_cycle(example)
    (example / "reports" / "late.md").write_text("# late\n", "utf-8")

    with cycle_lock(example / ".vpm"):
        waiting = subprocess.Popen(command, stdout=subprocess.PIPE)
        time.sleep(1.5)
        still_running = waiting.poll() is None
    output = json.loads(waiting.communicate(timeout=120)[0])

    assert still_running
    assert output["events"] == {"evidence": 1}


def test_concurrent_cycles_record_events_once(example: Path):
    command = [sys.executable, "-m", "vpm", "cycle", str(example), "--format", "json"]

    processes = [subprocess.Popen(command, stdout=subprocess.PIPE) for _ in range(2)]
    outputs = [json.loads(p.communicate(timeout=120)[0]) for p in processes]

    assert all(p.returncode == 0 for p in processes)
    assert sorted(o["noop"] for o in outputs) == [False, True]
    assert store_counts(example / ".vpm")["cycles"] == 1


def test_data_folder_is_ignored_by_git(example: Path):
    git(example, "init", "-q")

    run_cycle(example)
    git(example, "add", "-A")
    staged = subprocess.run(
        ["git", "-C", str(example), "diff", "--cached", "--name-only"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()

    assert "STATE/current_state.md" in staged
    assert not [name for name in staged if name.startswith(".vpm/")]


def test_out_inside_project_settles(example: Path):
    run_cycle(example, out=example)
    second = run_cycle(example, out=example)

    assert second.noop is True


def test_unreadable_report_is_a_problem_not_a_crash(example: Path, monkeypatch):
    locked = example / "reports" / "locked.md"
    locked.write_text("x\n", "utf-8")
    real_read_bytes = Path.read_bytes

    def read_bytes(path: Path) -> bytes:
        # Tests run as root, which reads any file, so the denial is simulated.
        if path == locked:
            raise PermissionError(13, "Permission denied", str(path))
        return real_read_bytes(path)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)

    result = run_cycle(example)

    problem = next(p for p in result.problems if p.path == "reports/locked.md")
    assert "Permission denied" in problem.message
    assert result.event_counts["evidence"] == 5


def test_cycle_killed_after_commit_is_completed_next_run(example: Path, monkeypatch):
    def die(*_args, **_kwargs):
        raise KeyboardInterrupt  # simulates a kill right after the commit

    monkeypatch.setattr("vpm.roles.archivist.record_provenance", die)
    with pytest.raises(KeyboardInterrupt):
        run_cycle(example)
    monkeypatch.undo()

    second = run_cycle(example)

    report = json.loads((example / "reports" / "vpm" / "cycle.json").read_text("utf-8"))
    memory = json.loads((example / ".vpm" / "memory.json").read_text("utf-8"))
    assert second.noop is True
    assert report["cycle_id"] == 1
    assert len(memory) == 2
    assert (example / "reports" / "vpm" / "cycle.md").is_file()


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_state_patch_applies_with_git(example: Path, newline: str):
    state = example / "STATE" / "current_state.md"
    text = state.read_text("utf-8")
    state.write_bytes(text.replace("\n", newline).encode())
    git(example, "init", "-q")

    run_cycle(example)
    patch = example / "reports" / "vpm" / "state.patch"
    check = subprocess.run(
        ["git", "-C", str(example), "apply", "--check", str(patch)],
        capture_output=True,
        text=True,
        check=False,
    )

    assert patch.stat().st_size > 0
    assert check.returncode == 0, check.stderr


def test_rescan_sees_change_that_kept_size_and_mtime(example: Path):
    run_cycle(example)
    report = example / "reports" / "p1_1_catalog.md"
    info = report.stat()
    text = report.read_text("utf-8")
    report.write_text(text.replace("42", "41"), "utf-8")
    os.utime(report, ns=(info.st_atime_ns, info.st_mtime_ns))

    quiet = run_cycle(example)
    rescanned = run_cycle(example, rescan=True)

    assert quiet.noop is True
    assert rescanned.event_counts == {"evidence": 1}


def test_cycle_signs_with_key_outside_project(example: Path, tmp_path: Path):
    from vpm.prov import generate_key, ledger_path, read_records
    from vpm.settings import load_settings

    key_dir = tmp_path / "keys"
    info = generate_key(key_dir)
    settings = load_settings(example).model_copy(
        update={"signing_key_dir": str(key_dir)}
    )

    run_cycle(example, settings=settings)

    records = [record for _line, record in read_records(ledger_path(example / ".vpm"))]
    assert records
    assert all(record.key_id == info.key_id for record in records)
