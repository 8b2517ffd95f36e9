"""`vpm evidence check`: a PR body's evidence block against a real git diff."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from evidence_helpers import commit, evidence_body, git, init_repo, invoke, write
from vpm.evidence.body import parse_entry, parse_evidence_block
from vpm.evidence.fences import scan_lines
from vpm.evidence.prcheck import check_pull_request, matches

SECRET = "SECRET-LINE-outside-the-repo"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """main has reports/old.md; branch feat adds reports/new.md and app.py."""
    root = init_repo(tmp_path / "repo")
    commit(root, {"reports/old.md": "old run\n", "README.md": "demo\n"}, "base")
    git(root, "switch", "-q", "-c", "feat")
    commit(root, {"reports/new.md": "new run\n", "app.py": "print(1)\n"}, "feat")
    return root


def check(repo: Path, tmp_path: Path, body: str, *extra: str):
    body_file = tmp_path / "body.md"
    body_file.write_text(body, encoding="utf-8")
    return invoke(
        "evidence", "check", "--body", str(body_file), "--base", "main",
        "--repo", str(repo), *extra,
    )  # fmt: skip


def issue_kinds(result) -> list[str]:
    return [issue["kind"] for issue in json.loads(result.stdout)["issues"]]


def test_check_passes_for_changed_evidence(repo: Path, tmp_path: Path) -> None:
    result = check(repo, tmp_path, evidence_body("reports/new.md"))

    assert result.exit_code == 0
    assert "1 evidence path checked against 2 changed files" in result.stdout
    assert "passed" in result.stdout


def test_check_flags_evidence_not_in_diff(repo: Path, tmp_path: Path) -> None:
    result = check(repo, tmp_path, evidence_body("reports/old.md"))

    assert result.exit_code == 1
    assert "not-in-diff line 4: reports/old.md" in result.stdout
    assert "failed with 1 issue." in result.stdout


def test_check_flags_missing_evidence(repo: Path, tmp_path: Path) -> None:
    result = check(repo, tmp_path, evidence_body("reports/nope.md"))

    assert result.exit_code == 1
    assert "missing line 4: reports/nope.md" in result.stdout
    assert "does not exist at HEAD" in result.stdout


def test_check_tolerates_bullets_and_backticks(repo: Path, tmp_path: Path) -> None:
    body = evidence_body(
        "- `reports/new.md`  smoke run output",
        "* reports/new.md",
        "1. `app.py`",
        "# comment lines are skipped",
        "",
    )

    result = check(repo, tmp_path, body, "--format", "json")

    data = json.loads(result.stdout)
    assert result.exit_code == 0
    assert [e["entry"]["path"] for e in data["entries"]] == [
        "reports/new.md",
        "reports/new.md",
        "app.py",
    ]
    assert data["entries"][0]["entry"]["note"] == "smoke run output"


def test_check_reports_lines_that_are_not_paths(repo: Path, tmp_path: Path) -> None:
    body = evidence_body("reports/new.md", "see the dashboard", "https://ci/run/1")

    result = check(repo, tmp_path, body, "--format", "json")

    assert result.exit_code == 1
    assert issue_kinds(result) == ["not-a-path", "not-a-path"]


def test_check_glob_matches_changed_files(repo: Path, tmp_path: Path) -> None:
    assert check(repo, tmp_path, evidence_body("reports/*.md")).exit_code == 0
    assert check(repo, tmp_path, evidence_body("reports/**")).exit_code == 0
    assert check(repo, tmp_path, evidence_body("reports/")).exit_code == 0


def test_check_glob_matching_nothing_is_missing(repo: Path, tmp_path: Path) -> None:
    result = check(
        repo, tmp_path, evidence_body("reports/p9_*.json"), "--format", "json"
    )

    assert result.exit_code == 1
    assert issue_kinds(result) == ["missing"]


@pytest.mark.parametrize(
    "cited",
    [
        "../../etc/passwd",
        "/etc/passwd",
        "~/.ssh/id_ed25519",
        "reports/../../outside.md",
        "C:/Windows/win.ini",
        "..\\..\\etc\\passwd",
    ],
)
def test_check_rejects_paths_outside_repo(
    repo: Path, tmp_path: Path, cited: str
) -> None:
    result = check(
        repo, tmp_path, evidence_body("reports/new.md", cited), "--format", "json"
    )

    assert result.exit_code == 1
    assert issue_kinds(result) == ["outside-repo"]


def test_check_rejects_symlink_leaving_repo(tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text(SECRET, encoding="utf-8")
    root = init_repo(tmp_path / "repo")
    commit(root, {"README.md": "x\n"}, "base")
    git(root, "switch", "-q", "-c", "feat")
    (root / "reports").mkdir()
    os.symlink(outside, root / "reports" / "leak.md")
    commit(root, {}, "add link")

    result = check(root, tmp_path, evidence_body("reports/leak.md"), "--format", "json")

    assert result.exit_code == 1
    assert issue_kinds(result) == ["outside-repo"]
    assert SECRET not in result.stdout


def test_check_allows_symlink_inside_repo(tmp_path: Path) -> None:
    root = init_repo(tmp_path / "repo")
    commit(root, {"README.md": "x\n"}, "base")
    git(root, "switch", "-q", "-c", "feat")
    write(root, {"reports/real.md": "ok\n"})
    os.symlink("real.md", root / "reports" / "alias.md")
    commit(root, {}, "add report and alias")

    result = check(root, tmp_path, evidence_body("reports/alias.md"))

    assert result.exit_code == 0


def test_check_diff_starts_at_merge_base(repo: Path, tmp_path: Path) -> None:
    git(repo, "switch", "-q", "main")
    commit(repo, {"reports/old.md": "rerun on main\n"}, "main moves on")
    git(repo, "switch", "-q", "feat")

    result = check(repo, tmp_path, evidence_body("reports/old.md"), "--format", "json")

    data = json.loads(result.stdout)
    assert result.exit_code == 1
    assert sorted(data["changed"]) == ["app.py", "reports/new.md"]
    assert issue_kinds(result) == ["not-in-diff"]


def test_check_flags_deleted_evidence(repo: Path, tmp_path: Path) -> None:
    git(repo, "rm", "-q", "reports/old.md")
    git(repo, "commit", "-q", "-m", "drop old report")

    result = check(repo, tmp_path, evidence_body("reports/old.md"))

    assert result.exit_code == 1
    assert "this change deletes it" in result.stdout


def test_require_evidence_flags_unlisted_report(repo: Path, tmp_path: Path) -> None:
    commit(repo, {"reports/extra.json": "{}\n"}, "another report")

    result = check(
        repo, tmp_path, evidence_body("reports/new.md"),
        "--require-evidence", "--format", "json",
    )  # fmt: skip

    data = json.loads(result.stdout)
    assert result.exit_code == 1
    assert data["issues"][0]["kind"] == "unlisted-report"
    assert data["issues"][0]["path"] == "reports/extra.json"


def test_require_evidence_without_block_fails(repo: Path, tmp_path: Path) -> None:
    body = "No evidence here.\n"

    plain = check(repo, tmp_path, body)
    required = check(repo, tmp_path, body, "--require-evidence")

    assert plain.exit_code == 0
    assert "no evidence block" in plain.stdout
    assert required.exit_code == 1
    assert "no-evidence" in required.stdout


def test_check_unclosed_block_fails(repo: Path, tmp_path: Path) -> None:
    body = "Text\n```evidence\nreports/new.md\n"

    result = check(repo, tmp_path, body, "--format", "json")

    assert result.exit_code == 1
    assert issue_kinds(result) == ["unclosed-block"]


def test_check_github_annotations(repo: Path, tmp_path: Path) -> None:
    commit(repo, {"reports/extra,1.md": "x\n"}, "odd name")
    body = evidence_body("reports/old.md")

    result = check(repo, tmp_path, body, "--format", "github", "--require-evidence")

    lines = result.stdout.splitlines()
    body_file = str(tmp_path / "body.md").replace(":", "%3A")
    assert result.exit_code == 1
    assert lines[0].startswith(f"::error file={body_file},line=4,title=not-in-diff::")
    assert any(
        line.startswith("::error file=reports/extra%2C1.md,title=unlisted-report::")
        for line in lines
    )
    assert "::error file=reports/new.md,title=unlisted-report::" in result.stdout


def test_check_reads_body_from_stdin(repo: Path) -> None:
    result = invoke(
        "evidence", "check", "--body", "-", "--base", "main", "--repo", str(repo),
        stdin=evidence_body("reports/new.md"),
    )  # fmt: skip

    assert result.exit_code == 0


def test_check_staged_changes(repo: Path, tmp_path: Path) -> None:
    write(repo, {"reports/staged.md": "staged run\n"})
    git(repo, "add", "reports/staged.md")
    body = evidence_body("reports/staged.md")

    staged = check(repo, tmp_path, body, "--staged")
    committed = check(repo, tmp_path, body, "--format", "json")

    assert staged.exit_code == 0
    assert committed.exit_code == 1
    assert issue_kinds(committed) == ["missing"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--base", "no-such-branch"], "names no commit"),
        (["--base", "--upload-pack=x"], "not a valid git revision"),
        (["--base", "main", "--head", "nope"], "--head 'nope'"),
    ],
)
def test_check_bad_refs_are_usage_errors(
    repo: Path, tmp_path: Path, args: list[str], message: str
) -> None:
    body_file = tmp_path / "body.md"
    body_file.write_text(evidence_body("reports/new.md"), encoding="utf-8")

    result = invoke(
        "evidence", "check", "--body", str(body_file), "--repo", str(repo), *args
    )

    assert result.exit_code == 2
    assert result.stderr.startswith("Error: ")
    assert message in result.stderr


def test_check_outside_git_repo_is_usage_error(tmp_path: Path) -> None:
    folder = tmp_path / "plain"
    folder.mkdir()

    result = check(folder, tmp_path, evidence_body("a.md"))

    assert result.exit_code == 2
    assert "not inside a git repository" in result.stderr


def test_check_missing_body_file_is_usage_error(repo: Path, tmp_path: Path) -> None:
    result = invoke(
        "evidence", "check", "--body", str(tmp_path / "none.md"), "--base", "main",
        "--repo", str(repo),
    )  # fmt: skip

    assert result.exit_code == 2
    assert "none.md: file not found" in result.stderr


def test_check_without_base_is_usage_error(tmp_path: Path) -> None:
    result = invoke("evidence", "check", "--body", "x.md")

    assert result.exit_code == 2


def test_parse_entry_forms() -> None:
    assert parse_entry("- `reports/a b.md` note", 1).path == "reports/a b.md"
    assert parse_entry("./reports/a.md", 1).path == "reports/a.md"
    assert parse_entry("reports\\a.md", 1).path == "reports/a.md"
    assert parse_entry("reports/x/../a.md", 1).path == "reports/a.md"
    assert parse_entry("   ", 1) is None
    assert parse_entry(".", 1).error == "it names the repository root, not a file"


def test_parse_block_combines_blocks_and_tilde_fences() -> None:
    body = "```evidence\na.md\n```\ntext\n~~~ evidence\nb.md\n~~~\n```\nc.md\n```\n"

    block = parse_evidence_block(body)

    assert [entry.path for entry in block.entries] == ["a.md", "b.md"]
    assert block.block_lines == [1, 5]


@pytest.mark.parametrize(
    ("pattern", "path", "expected"),
    [
        ("reports/*.md", "reports/a.md", True),
        ("reports/*.md", "reports/sub/a.md", False),
        ("reports/**/*.md", "reports/a.md", True),
        ("reports/**/*.md", "reports/sub/deep/a.md", True),
        ("reports/p?_*.json", "reports/p5_x.json", True),
        ("reports", "reports/a.md", True),
        ("reports", "reportsx/a.md", False),
        ("reports/a.md", "reports/a.md", True),
    ],
)
def test_matches_patterns(pattern: str, path: str, expected: bool) -> None:
    assert matches(pattern, path) is expected


def test_check_pull_request_library_call(repo: Path) -> None:
    result = check_pull_request(repo, evidence_body("reports/new.md"), "main")

    assert result.passed
    assert result.head == git(repo, "rev-parse", "HEAD")
    assert result.merge_base == git(repo, "rev-parse", "main")


def test_check_github_stdin_body_has_no_file(repo: Path) -> None:
    result = invoke(
        "evidence", "check", "--body", "-", "--base", "main", "--repo", str(repo),
        "--format", "github", stdin=evidence_body("reports/old.md"),
    )  # fmt: skip

    assert result.exit_code == 1
    assert result.stdout.startswith("::error title=not-in-diff::reports/old.md")


def test_check_body_given_twice_is_usage_error(repo: Path, tmp_path: Path) -> None:
    body_file = tmp_path / "body.md"
    body_file.write_text(evidence_body("reports/new.md"), encoding="utf-8")

    both = invoke(
        "evidence", "check", "--body", str(body_file), "--base", "main",
        "--repo", str(repo), str(body_file),
    )  # fmt: skip
    neither = invoke("evidence", "check", "--base", "main", "--repo", str(repo))

    assert both.exit_code == 2
    assert "Give the body once" in both.stderr
    assert neither.exit_code == 2
    assert "Missing the body" in neither.stderr


def test_check_crlf_body(repo: Path, tmp_path: Path) -> None:
    body = evidence_body("reports/new.md").replace("\n", "\r\n")

    result = check(repo, tmp_path, body)

    assert result.exit_code == 0


NESTED_EXAMPLE = """\
How to list evidence:

````markdown
```evidence
reports/old.md
```
````

```evidence
reports/new.md
```
"""


def test_parse_block_skips_block_inside_outer_fence() -> None:
    block = parse_evidence_block(NESTED_EXAMPLE)

    assert [entry.path for entry in block.entries] == ["reports/new.md"]
    assert block.block_lines == [9]
    assert block.unclosed_line is None


def test_check_ignores_example_inside_outer_fence(repo: Path, tmp_path: Path) -> None:
    result = check(repo, tmp_path, NESTED_EXAMPLE)

    assert result.exit_code == 0
    assert "1 evidence path checked" in result.stdout


def test_parse_block_inside_plain_fence_is_code() -> None:
    body = "```\n```evidence\na.md\n```\n~~~evidence\nb.md\n~~~\n"

    block = parse_evidence_block(body)

    assert [entry.path for entry in block.entries] == ["b.md"]
    assert block.block_lines == [5]


@pytest.mark.parametrize(
    ("body", "kinds"),
    [
        ("````\n```\n````\n", ["open", "code", "close"]),
        ("```\n~~~\n```\n", ["open", "code", "close"]),
        ("~~~\n~~~~~\n", ["open", "close"]),
        ("```\n``` x\n```  \n", ["open", "code", "close"]),
        ("```\n    ```\n   ```\n", ["open", "code", "close"]),
        ("``` a`b\ntext\n", ["text", "text"]),
        ("    ```\ntext\n", ["text", "text"]),
        ("```\nno close\n", ["open", "code"]),
    ],
)
def test_scan_lines_fence_rules(body: str, kinds: list[str]) -> None:
    assert [line.kind for line in scan_lines(body)] == kinds


def test_check_staged_before_first_commit(tmp_path: Path) -> None:
    root = init_repo(tmp_path / "empty")
    write(root, {"reports/first.md": "first run\n", "app.py": "print(1)\n"})
    git(root, "add", "-A")
    empty_tree = git(root, "hash-object", "-t", "tree", "/dev/null")
    body_file = tmp_path / "body.md"
    body_file.write_text(evidence_body("reports/first.md"), encoding="utf-8")

    result = invoke(
        "evidence", "check", "--body", str(body_file), "--base", "HEAD",
        "--repo", str(root), "--staged", "--require-evidence", "--format", "json",
    )  # fmt: skip

    data = json.loads(result.stdout)
    assert result.exit_code == 0
    assert data["base"] == empty_tree
    assert data["merge_base"] == empty_tree
    assert sorted(data["changed"]) == ["app.py", "reports/first.md"]


def test_check_head_before_first_commit_message(tmp_path: Path) -> None:
    root = init_repo(tmp_path / "empty")
    body_file = tmp_path / "body.md"
    body_file.write_text(evidence_body("reports/first.md"), encoding="utf-8")

    result = invoke(
        "evidence", "check", "--body", str(body_file), "--base", "HEAD",
        "--repo", str(root),
    )  # fmt: skip

    assert result.exit_code == 2
    assert "has no commit yet" in result.stderr
    assert "fetch it first" not in result.stderr
