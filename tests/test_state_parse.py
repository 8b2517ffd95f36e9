"""Parsing state documents in the forms real projects write them."""

from __future__ import annotations

from pathlib import Path

from vpm.state import parse_state, read_state

DASHED = """---
phase: Phase 3
short_goal: "Ship it"
exit_criteria:
  - "P3-1 GREEN: one"
  - "P3-2 GREEN: two"
---

## Current position (C)
- working
"""

BARE = """# === State Declaration ===
active_repo: demo
phase: Phase 2: Build   # inline note
short_goal: "Build"
exit_criteria:
  - "P2-1 GREEN: a"

---

## 現在地（C）
- 進行中
"""

FENCED = """# この文書の役割
説明。

---

## 状態宣言 (SSOT)
```yaml
phase: Phase 3
short_goal: "SPIFFE"
```

## ゴール（G）
- P3-1 導入
"""

BOLD = """# === State Declaration ===

**active_repo**: demo
**phase**: Phase 2  # note
**short_goal**: "Kickoff"

## 現在地（C）
- Phase 1 完了
"""


def test_parse_dashed_front_matter_keeps_key_lines():
    doc = parse_state(DASHED, "STATE/current_state.md")

    assert doc.phase == "Phase 3"
    assert doc.front.line_of("short_goal") == 3
    assert doc.exit_criteria == [("P3-1 GREEN: one", 5), ("P3-2 GREEN: two", 6)]
    assert doc.problems == []


def test_parse_bare_declaration_with_unquoted_colon_salvages_keys():
    doc = parse_state(BARE, "s.md")

    assert doc.phase == "Phase 2: Build"
    assert doc.exit_criteria == [("P2-1 GREEN: a", 6)]
    assert len(doc.problems) == 1
    assert doc.problems[0].line == 3
    assert "invalid YAML" in doc.problems[0].message


def test_parse_fenced_block_under_declaration_heading():
    doc = parse_state(FENCED, "s.md")

    assert doc.front.form == "yaml-fenced"
    assert doc.phase == "Phase 3"
    assert doc.front.line_of("phase") == 8


def test_parse_bold_keys():
    doc = parse_state(BOLD, "s.md")

    assert doc.front.form == "bold"
    assert doc.phase == "Phase 2"
    assert doc.short_goal == "Kickoff"
    assert doc.front.line_of("phase") == 4


def test_parse_without_front_matter_reports_problem_and_reads_body():
    doc = parse_state("## C（現在地）\n- Step-A-1\n", "s.md")

    assert doc.phase is None
    assert doc.problems[0].line == 1
    assert "no front matter" in doc.problems[0].message
    assert [s.role for s in doc.sections] == ["current"]


def test_parse_broken_yaml_names_line_and_keeps_body():
    text = "---\nphase: [Phase 1\nshort_goal: x\n---\n## Goal (G)\n- P1-1 do it\n"

    doc = parse_state(text, "STATE/current_state.md")

    assert doc.problems[0].path == "STATE/current_state.md"
    assert doc.problems[0].line in (2, 3, 4)
    assert doc.short_goal == "x"
    assert doc.section_items("goal")[0].text == "P1-1 do it"


def test_parse_unterminated_front_matter_is_reported():
    doc = parse_state("---\nphase: Phase 1\n\n## Goal\n- x\n", "s.md")

    assert doc.phase == "Phase 1"
    assert "never closed" in doc.problems[0].message


def test_block_claim_reads_status_and_evidence():
    text = DASHED + (
        "\n### P3-1 Deploy\n- Status: **GREEN**\n- Evidence: `reports/a.md` / "
        "`reports/b.json`\n- Decision Log:\n  - did it\n"
    )

    doc = parse_state(text, "s.md")
    claim = next(c for c in doc.claims if c.subject == "P3-1")

    assert claim.status == "done"
    assert claim.form == "block"
    assert [c.path for c in claim.citations] == ["reports/a.md", "reports/b.json"]


def test_line_claim_with_check_mark_and_evidence_words():
    text = DASHED + "\n## Log\n- P3-2 Gatekeeper ✅（DENY証跡あり） — 2025-09-05\n"

    doc = parse_state(text, "s.md")
    claim = next(c for c in doc.claims if c.subject == "P3-2")

    assert claim.status == "done"
    assert claim.says_evidence is True
    assert claim.citations == []


def test_claims_ignore_code_fences():
    text = DASHED + "\n## Template\n```yaml\n- P3-9 done ✅\n```\n"

    doc = parse_state(text, "s.md")

    assert all(c.subject != "P3-9" for c in doc.claims)


def test_read_state_binary_bytes_are_replaced_with_problem(tmp_path: Path):
    path = tmp_path / "state.md"
    path.write_bytes(DASHED.encode() + b"\n- bad \xff\xfe byte\n")

    doc = read_state(path, "STATE/current_state.md")

    assert doc.phase == "Phase 3"
    assert any("UTF-8" in p.message for p in doc.problems)


def test_every_corpus_version_parses(corpus: Path):
    versions = sorted((corpus / "state_history").glob("*.md"))

    docs = [read_state(p, p.name) for p in versions]

    assert len(docs) == 36
    with_phase = [d for d in docs if d.phase]
    assert len(with_phase) >= 30
    assert all(d.sections for d in docs)


def test_japanese_status_and_evidence_keys():
    text = DASHED + "\n### P3-1 導入\n- ステータス：**GREEN**\n- 証跡：`reports/a.md`\n"

    doc = parse_state(text, "s.md")
    claim = next(c for c in doc.claims if c.subject == "P3-1")

    assert claim.status == "done"
    assert [c.path for c in claim.citations] == ["reports/a.md"]


def test_full_width_milestone_id_is_normalized():
    text = DASHED + "\n## Log\n- Ｐ３-２ 完了 ✅\n"

    doc = parse_state(text, "s.md")

    assert any(c.subject == "P3-2" for c in doc.claims)


def test_negated_status_is_not_done():
    text = DASHED + "\n## Log\n- P3-2 sandbox: not completed (reports/a.md)\n"

    doc = parse_state(text, "s.md")
    claim = next(c for c in doc.claims if c.subject == "P3-2")

    assert claim.status == "open"


def test_yaml_aliases_are_rejected():
    bomb = "---\na: &a [x, x]\nb: [*a, *a]\nphase: Phase 1\n---\n## Goal\n- g\n"

    doc = parse_state(bomb, "s.md")

    assert "aliases" in doc.problems[0].message
    assert doc.phase == "Phase 1"


def test_long_front_matter_is_read_to_its_end():
    items = "".join(f'  - "P1-{i} GREEN: item {i}"\n' for i in range(300))
    text = f"---\nphase: Phase 1\nexit_criteria:\n{items}---\n## Goal\n- g\n"

    doc = parse_state(text, "s.md")

    assert len(doc.exit_criteria) == 300
    assert doc.problems == []


def test_repeated_front_matter_key_is_reported():
    text = "---\nphase: Phase 2\nphase: Phase 7\n---\n## Goal\n- g\n"

    doc = parse_state(text, "s.md")

    assert doc.phase == "Phase 7"
    assert doc.front.line_of("phase") == 3
    assert doc.problems[0].line == 3
    assert "repeats line 2" in doc.problems[0].message
