"""Check a pull request's evidence block against the files it changes.

The changed files are what `git diff --name-only BASE...HEAD` lists: the
changes from the merge base of BASE and HEAD to HEAD. Whether a listed
file exists is decided from HEAD's tree (or the index with `staged`), not
from the working tree, so the check reads git objects only and never a
file outside the repository.
"""

from __future__ import annotations

import re
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from vpm.evidence import git
from vpm.evidence.body import EvidenceBlock, EvidenceEntry, parse_evidence_block

REPORTS_PREFIX = "reports/"
GLOB_MAGIC = re.compile(r"[*?\[]")

IssueKind = Literal[
    "not-a-path",
    "outside-repo",
    "missing",
    "not-in-diff",
    "unlisted-report",
    "no-evidence",
    "unclosed-block",
]


class CheckIssue(BaseModel):
    """One reason the evidence check fails."""

    kind: IssueKind = Field(description="Issue kind; see `vpm evidence check --help`.")
    message: str = Field(description="What is wrong, as a sentence.")
    path: str | None = Field(
        default=None, description="Repository path the issue concerns, if any."
    )
    line: int | None = Field(default=None, description="1-based line in the body.")


class EntryResult(BaseModel):
    """An evidence entry and the files it stands for."""

    entry: EvidenceEntry
    matches: list[str] = Field(
        default_factory=list, description="Files of HEAD the entry names."
    )
    changed: list[str] = Field(
        default_factory=list, description="Changed files the entry names."
    )


class PullRequestCheck(BaseModel):
    """The outcome of checking one pull request body."""

    base: str = Field(
        description="Commit id of BASE, or git's empty tree id when staged "
        "changes are checked before the first commit."
    )
    head: str | None = Field(description="Commit id of HEAD; None for the index.")
    merge_base: str = Field(description="Commit the diff starts from.")
    changed: list[str] = Field(description="Changed paths, deletions included.")
    entries: list[EntryResult] = Field(default_factory=list)
    issues: list[CheckIssue] = Field(default_factory=list)
    has_block: bool = Field(description="The body has an evidence block.")

    @property
    def passed(self) -> bool:
        return not self.issues


def check_pull_request(
    repo: Path,
    body: str,
    base: str,
    head: str | None = "HEAD",
    *,
    require_evidence: bool = False,
) -> PullRequestCheck:
    """Compare the evidence block of `body` with the diff BASE...HEAD.

    Args:
        repo: A folder inside the git work tree.
        body: The pull request body (Markdown).
        base: Ref of the branch the pull request merges into.
        head: Ref of the pull request's head, or None to check the staged
            changes against `base` (for a commit-msg hook). Before the
            first commit, when `base` names no commit, the staged changes
            are compared with the empty tree.
        require_evidence: Also fail when the body lists no evidence or a
            changed file under `reports/` is not listed.

    Raises:
        NotAGitRepository: `repo` is not inside a git work tree.
        UnknownRevision: `base` or `head` names no commit.
    """
    root = git.repository_root(repo)
    git.check_revision(base, "--base")
    if head is None and not git.has_commit(root) and not git.names_commit(root, base):
        # The first commit of a repository: everything staged is new.
        base_id = git.empty_tree(root)
    else:
        base_id = git.resolve_commit(root, base, "--base")
    head_id = None if head is None else git.resolve_commit(root, head, "--head")
    start = base_id if head_id is None else git.merge_base(root, base_id, head_id)
    changes = git.changed_files(root, start, head_id)
    tree = git.tree_files(root, head_id)
    block = parse_evidence_block(body)

    result = PullRequestCheck(
        base=base_id,
        head=head_id,
        merge_base=start,
        changed=[change.path for change in changes],
        has_block=bool(block.block_lines),
    )
    result.issues.extend(_block_issues(block, require_evidence))
    for entry in block.entries:
        result.entries.append(_check_entry(root, entry, tree, changes, result.issues))
    if require_evidence:
        result.issues.extend(_unlisted_reports(changes, result.entries))
    return result


def _block_issues(block: EvidenceBlock, require_evidence: bool) -> list[CheckIssue]:
    issues = []
    if block.unclosed_line is not None:
        issues.append(
            CheckIssue(
                kind="unclosed-block",
                line=block.unclosed_line,
                message="The evidence block is never closed; end it with a fence "
                "line (```).",
            )
        )
    listed = [entry for entry in block.entries if entry.path]
    if require_evidence and not listed:
        where = "has no evidence block" if not block.block_lines else "lists no path"
        issues.append(
            CheckIssue(
                kind="no-evidence",
                line=block.block_lines[0] if block.block_lines else None,
                message=f"The body {where}; list the evidence files in a "
                "```evidence block, one path per line.",
            )
        )
    return issues


def _check_entry(
    root: Path,
    entry: EvidenceEntry,
    tree: dict[str, git.TreeEntry],
    changes: list[git.ChangedFile],
    issues: list[CheckIssue],
) -> EntryResult:
    result = EntryResult(entry=entry)
    if entry.path is None:
        kind = "outside-repo" if entry.outside else "not-a-path"
        issues.append(
            CheckIssue(
                kind=kind,
                line=entry.line,
                message=f"Evidence line {entry.text!r} was rejected: {entry.error}.",
            )
        )
        return result

    result.matches = [path for path in tree if matches(entry.path, path)]
    result.changed = [c.path for c in changes if matches(entry.path, c.path)]
    escaping = [p for p in result.matches if _leaves_tree(root, tree[p])]
    if escaping:
        issues.append(_issue("outside-repo", entry, _escape_message(entry, escaping)))
    elif not result.matches:
        issues.append(_issue("missing", entry, _missing_message(entry, result)))
    elif not set(result.changed) & set(result.matches):
        issues.append(_issue("not-in-diff", entry, _not_changed_message(entry)))
    return result


def _leaves_tree(root: Path, item: git.TreeEntry) -> bool:
    return item.is_symlink and git.symlink_leaves_tree(root, item)


def _issue(kind: IssueKind, entry: EvidenceEntry, message: str) -> CheckIssue:
    return CheckIssue(kind=kind, path=entry.path, line=entry.line, message=message)


def _escape_message(entry: EvidenceEntry, paths: list[str]) -> str:
    if paths[0] == entry.path:
        subject = f"{entry.path} is"
    else:
        subject = f"{entry.path} matches {paths[0]}, which is"
    return (
        f"{subject} a symbolic link to a place outside the repository; cite the "
        "evidence file itself."
    )


def _missing_message(entry: EvidenceEntry, result: EntryResult) -> str:
    what = "matches no file" if is_glob(entry.path or "") else "does not exist"
    if result.changed:
        return f"{entry.path} {what} at HEAD: this change deletes it."
    return f"{entry.path} is listed as evidence but {what} at HEAD."


def _not_changed_message(entry: EvidenceEntry) -> str:
    return (
        f"{entry.path} is listed as evidence but this change does not touch it; "
        "add the new evidence or list the file this change writes."
    )


def _unlisted_reports(
    changes: list[git.ChangedFile], entries: list[EntryResult]
) -> list[CheckIssue]:
    listed = {path for result in entries for path in result.changed}
    issues = []
    for change in changes:
        if change.is_deleted or not change.path.startswith(REPORTS_PREFIX):
            continue
        if change.path not in listed:
            issues.append(
                CheckIssue(
                    kind="unlisted-report",
                    path=change.path,
                    message=f"{change.path} is changed under reports/ but not "
                    "listed in the evidence block.",
                )
            )
    return issues


def is_glob(pattern: str) -> bool:
    return bool(GLOB_MAGIC.search(pattern))


def matches(pattern: str, path: str) -> bool:
    """Return True when `pattern` names `path`.

    A pattern ending in `/` names every file below that folder, and so does
    a literal folder path. `*`, `?` and `[...]` match inside one path
    segment; a `**` segment matches any number of segments.
    """
    if pattern.endswith("/"):
        return path.startswith(pattern)
    if not is_glob(pattern):
        return path == pattern or path.startswith(pattern + "/")
    return _match_segments(pattern.split("/"), path.split("/"))


def _match_segments(pattern: list[str], parts: list[str]) -> bool:
    if not pattern:
        return not parts
    head, rest = pattern[0], pattern[1:]
    if head == "**":
        return any(_match_segments(rest, parts[i:]) for i in range(len(parts) + 1))
    if not parts or not fnmatchcase(parts[0], head):
        return False
    return _match_segments(rest, parts[1:])
