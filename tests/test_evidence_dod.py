"""`vpm evidence dod`: a definition-of-done checklist against a policy file."""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path

import pytest

from evidence_helpers import invoke
from vpm.evidence.dod import Policy, check_dod, find_checkboxes, normalize_item

TEMPLATE = (
    Path(__file__).resolve().parents[2]
    / "shared/corpus/vpm-mini/tree/.github/pull_request_template.md"
)

POLICY_YAML = """\
section: Definition of done
required:
  - CI checks green
  - Evidence files updated under reports/
  - Merged state confirmed through the API
"""

BODY_OK = """\
## Summary
Adds the cache.

## Definition of done
- [x] CI checks green
- [x] Evidence files updated under reports/
- [x] Merged state confirmed through the API
"""


def run_dod(tmp_path: Path, body: str, policy: str, *extra: str, name="dod.yml"):
    body_file = tmp_path / "body.md"
    body_file.write_text(body, encoding="utf-8")
    policy_file = tmp_path / name
    policy_file.write_text(policy, encoding="utf-8")
    return invoke(
        "evidence", "dod", "--body", str(body_file), "--policy", str(policy_file),
        *extra,
    )  # fmt: skip


def test_dod_all_ticked_passes(tmp_path: Path) -> None:
    result = run_dod(tmp_path, BODY_OK, POLICY_YAML)

    assert result.exit_code == 0
    assert "3 of 3 required items ticked: passed." in result.stdout


def test_dod_fullwidth_and_spacing_pass(tmp_path: Path) -> None:
    body = (
        "## ＤＥＦＩＮＩＴＩＯＮ ｏｆ ｄｏｎｅ\n"
        "－ ［ｘ］ ＣＩ　ｃｈｅｃｋｓ　ｇｒｅｅｎ\n"
        "- [X] evidence FILES updated   under reports/\n"
        "* ［Ｘ］Merged state confirmed through the ＡＰＩ\n"
    )

    result = run_dod(tmp_path, body, POLICY_YAML)

    assert result.exit_code == 0


def test_dod_unticked_item_fails(tmp_path: Path) -> None:
    body = BODY_OK.replace("- [x] CI checks green", "- [ ] CI checks green")

    result = run_dod(tmp_path, body, POLICY_YAML)

    assert result.exit_code == 1
    assert "unticked CI checks green (line 5)" in result.stdout
    assert "2 of 3 required items ticked: failed." in result.stdout


def test_dod_fullwidth_empty_box_is_unticked(tmp_path: Path) -> None:
    body = BODY_OK.replace("- [x] CI checks green", "- ［　］ CI checks green")

    result = run_dod(tmp_path, body, POLICY_YAML)

    assert result.exit_code == 1


@pytest.mark.parametrize("mark", ["-", "o", "v", "?"])
def test_dod_other_marks_are_unticked(tmp_path: Path, mark: str) -> None:
    body = BODY_OK.replace("- [x] CI checks green", f"- [{mark}] CI checks green")

    assert run_dod(tmp_path, body, POLICY_YAML).exit_code == 1


def test_dod_missing_item_fails(tmp_path: Path) -> None:
    body = BODY_OK.replace("- [x] Merged state confirmed through the API\n", "")

    result = run_dod(tmp_path, body, POLICY_YAML, "--format", "json")

    data = json.loads(result.stdout)
    assert result.exit_code == 1
    assert data["passed"] is False
    assert data["items"][2] == {
        "item": "Merged state confirmed through the API",
        "status": "missing",
        "line": None,
    }


def test_dod_duplicate_unticked_copy_fails(tmp_path: Path) -> None:
    body = BODY_OK + "\n- [ ] CI checks green\n"

    result = run_dod(tmp_path, body, POLICY_YAML)

    assert result.exit_code == 1


def test_dod_section_limits_where_boxes_count(tmp_path: Path) -> None:
    body = "## Notes\n- [x] CI checks green\n" + BODY_OK.replace(
        "- [x] CI checks green\n", ""
    )

    result = run_dod(tmp_path, body, POLICY_YAML, "--format", "json")

    statuses = [item["status"] for item in json.loads(result.stdout)["items"]]
    assert result.exit_code == 1
    assert statuses == ["missing", "ticked", "ticked"]


def test_dod_json_list_policy(tmp_path: Path) -> None:
    policy = json.dumps(["CI checks green", "Merged state confirmed through the API"])

    result = run_dod(tmp_path, BODY_OK, policy, name="dod.json")

    assert result.exit_code == 0


def test_dod_reports_extra_boxes(tmp_path: Path) -> None:
    body = BODY_OK + "- [ ] Optional benchmark\n"

    result = run_dod(tmp_path, body, POLICY_YAML, "--format", "json")

    data = json.loads(result.stdout)
    assert result.exit_code == 0
    assert [box["text"] for box in data["extra"]] == ["Optional benchmark"]


def test_dod_github_annotations(tmp_path: Path) -> None:
    body = BODY_OK.replace("- [x] CI checks green", "- [ ] CI checks green")

    result = run_dod(tmp_path, body, POLICY_YAML, "--format", "github")

    assert result.exit_code == 1
    assert result.stdout.startswith("::error file=")
    assert ",line=5,title=dod::Definition-of-done item unticked: CI checks green" in (
        result.stdout
    )


@pytest.mark.parametrize(
    ("policy", "message"),
    [
        ("required: []\n", "lists no items"),
        ("required:\n  - ok\n  - 3\n", "found 3"),
        ("required: [unclosed\n", "cannot be parsed"),
        ("just text\n", "expected a list of items"),
        ("section: [a]\nrequired: [x]\n", "`section` must be text"),
    ],
)
def test_dod_invalid_policy_is_usage_error(
    tmp_path: Path, policy: str, message: str
) -> None:
    result = run_dod(tmp_path, BODY_OK, policy)

    assert result.exit_code == 2
    assert result.stderr.startswith("Error: --policy ")
    assert message in result.stderr


def test_dod_invalid_yaml_policy_is_one_line(tmp_path: Path) -> None:
    policy = "section: DoD\nrequired:\n  - CI checks green\n   - bad: [\n"

    result = run_dod(tmp_path, BODY_OK, policy)

    lines = result.stderr.strip().splitlines()
    assert result.exit_code == 2
    assert len(lines) == 1
    assert lines[0].startswith(f"Error: --policy {tmp_path / 'dod.yml'}:4: ")
    assert "cannot be parsed as YAML" in lines[0]


def test_dod_invalid_json_policy_is_one_line(tmp_path: Path) -> None:
    result = run_dod(tmp_path, BODY_OK, '["CI checks green",\n', name="dod.json")

    lines = result.stderr.strip().splitlines()
    assert result.exit_code == 2
    assert len(lines) == 1
    assert "dod.json:2: cannot be parsed as JSON" in lines[0]


def test_dod_missing_files_are_usage_errors(tmp_path: Path) -> None:
    no_policy = invoke(
        "evidence", "dod", "--body", "-", "--policy", str(tmp_path / "none.yml"),
        stdin=BODY_OK,
    )  # fmt: skip
    policy = tmp_path / "dod.yml"
    policy.write_text(POLICY_YAML, encoding="utf-8")
    no_body = invoke(
        "evidence", "dod", "--body", str(tmp_path / "none.md"), "--policy", str(policy)
    )

    assert no_policy.exit_code == 2
    assert "none.yml: file not found" in no_policy.stderr
    assert no_body.exit_code == 2
    assert "none.md: file not found" in no_body.stderr


def test_dod_item_text_is_never_opened_as_path(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("SECRET-CONTENT\n", encoding="utf-8")
    item = f"{secret} and ../../etc/passwd"

    result = run_dod(tmp_path, f"- [x] {item}\n", json.dumps([item]), name="p.json")

    assert result.exit_code == 0
    assert "SECRET-CONTENT" not in result.stdout


def test_normalize_item_folds_width_case_space() -> None:
    assert normalize_item("ＣＩ 必須チェック　Ｇｒｅｅｎ") == normalize_item(
        "ci必須チェックgreen"
    )


def template_dod_items(text: str) -> list[str]:
    """The ticked items under the template's DoD heading, as written."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("## DoD"))
    return [
        line[len("- [x] ") :]
        for line in lines[start + 1 :]
        if line.startswith("- [x] ")
    ]


def test_dod_real_pr_template(tmp_path: Path) -> None:
    # The corpus PR template writes its DoD items with full-width brackets;
    # a policy with their NFKC (half-width) forms must accept it as is.
    template = TEMPLATE.read_text(encoding="utf-8")
    items = template_dod_items(template)
    policy = Policy(
        section="DoD", required=[unicodedata.normalize("NFKC", i) for i in items]
    )
    unticked = template.replace("- [x] " + items[1], "- [ ] " + items[1])

    passed = check_dod(template, policy)
    failed = check_dod(unticked, policy)

    assert len(items) == 5
    assert any("（" in item for item in items)
    assert passed.passed
    assert [item.status for item in failed.items] == [
        "ticked", "unticked", "ticked", "ticked", "ticked",
    ]  # fmt: skip


def test_find_checkboxes_ignores_exit_criteria_outside_section() -> None:
    template = TEMPLATE.read_text(encoding="utf-8")

    everywhere = find_checkboxes(template)
    dod_only = find_checkboxes(template, "DoD")

    assert [box.ticked for box in everywhere].count(False) == 3
    assert len(dod_only) == 5
    assert all(box.ticked for box in dod_only)


CHECKLIST_EXAMPLE = """\
## Definition of done
- [ ] CI checks green

Example of a finished checklist:

```markdown
## Definition of done
- [x] CI checks green
- [x] Evidence files updated under reports/
- [x] Merged state confirmed through the API
```
"""


def test_dod_boxes_inside_fence_do_not_count(tmp_path: Path) -> None:
    result = run_dod(tmp_path, CHECKLIST_EXAMPLE, POLICY_YAML, "--format", "json")

    statuses = [item["status"] for item in json.loads(result.stdout)["items"]]
    assert result.exit_code == 1
    assert statuses == ["unticked", "missing", "missing"]


def test_dod_only_fenced_boxes_are_missing(tmp_path: Path) -> None:
    body = "Summary.\n\n~~~~\n## Definition of done\n" + BODY_OK + "~~~~\n"

    boxes = find_checkboxes(body)
    result = check_dod(body, Policy(required=["CI checks green"]))

    assert boxes == []
    assert [item.status for item in result.items] == ["missing"]
