"""Document-only checks: phase, stale sections, open items, freeze."""

from __future__ import annotations

from pathlib import Path

from vpm.state import parse_state, read_state
from vpm.state.lint import FreezeState, lint_document, read_freeze

HEAD = """---
phase: Phase 5
short_goal: "Scale"
---
"""


def kinds(findings):
    return [f.kind for f in findings]


def test_phase_mismatch_cites_body_line():
    text = HEAD + "\n## Phases\n- Phase 4\n- **Phase 2（←現在地）**: old\n"

    findings = lint_document(parse_state(text, "s.md"), None)

    assert kinds(findings) == ["phase-mismatch"]
    assert findings[0].line == 8
    assert "Phase 5" in findings[0].message


def test_phase_marks_that_agree_give_no_finding():
    text = HEAD + "\n## Phases\n- **Phase 5 (← current)**: now\n"

    assert lint_document(parse_state(text, "s.md"), None) == []


def test_stale_priority_task_recorded_done_later():
    text = HEAD + (
        "\n## Priority tasks\n1. P5-1 autoscale\n2. P5-2 SLO\n"
        "\n### P5-1 Autoscale\n- Status: **GREEN**\n- Evidence: `reports/a.md`\n"
    )

    findings = lint_document(parse_state(text, "s.md"), None)

    assert kinds(findings) == ["stale-section"]
    assert findings[0].line == 7
    assert "line 10" in findings[0].message


def test_missing_item_matched_across_languages():
    text = HEAD + (
        "\n## 現在地（C）\n- **欠落**：Phase 0 サニティ（実行証跡）\n"
        "\n## Log\n- P0 semantics sanity ✅（10 samples） — 2025-09-05\n"
    )

    findings = lint_document(parse_state(text, "s.md"), None)

    assert kinds(findings) == ["stale-section"]
    assert findings[0].line == 7


def test_started_item_never_finished_is_open():
    text = HEAD + "\n#### Phase 2 – P2-3 CI 結線（着手）\n- 追加: validate\n"

    findings = lint_document(parse_state(text, "s.md"), None)

    assert kinds(findings) == ["open-item"]
    assert findings[0].subject == "P2-3"
    assert findings[0].severity == "warning"


def test_freeze_text_disagrees_with_file():
    text = (
        HEAD
        + "\n## Current position (C)\n- `.ops/deploy_freeze.json` は **true 維持**\n"
    )
    doc = parse_state(text, "s.md")

    findings = lint_document(doc, FreezeState(False))

    assert kinds(findings) == ["freeze-mismatch"]
    assert findings[0].line == 7
    assert '"freeze": false' in findings[0].message


def test_freeze_text_agreeing_with_file_is_quiet():
    text = HEAD + "\n## Current position (C)\n- deploy freeze is on\n"

    assert lint_document(parse_state(text, "s.md"), FreezeState(True)) == []


def test_read_freeze_invalid_json_is_a_problem(tmp_path: Path):
    (tmp_path / ".ops").mkdir()
    (tmp_path / ".ops" / "deploy_freeze.json").write_text("{freeze: yes", "utf-8")

    freeze = read_freeze(tmp_path)

    assert freeze.frozen is None
    assert freeze.problem.path == ".ops/deploy_freeze.json"
    assert "invalid JSON" in freeze.problem.message


def test_seed_state_findings(corpus: Path):
    doc = read_state(corpus / "seed_state.md", "STATE/current_state.md")

    findings = lint_document(doc, read_freeze(corpus / "tree"))
    by_kind = {}
    for finding in findings:
        by_kind.setdefault(finding.kind, []).append(finding.line)

    assert by_kind["phase-mismatch"] == [24]
    assert by_kind["freeze-mismatch"] == [30]
    assert 31 in by_kind["stale-section"]
    assert 44 in by_kind["stale-section"]
    assert 66 in by_kind["open-item"]
