"""The few git operations the evidence commands need, run through `git`.

Every call passes its arguments as a list (never through a shell), puts
`--end-of-options` before user-supplied refs where git accepts it, and
reads output with `-z` so that any file name comes back unchanged.
"""

from __future__ import annotations

import logging
import os
import posixpath
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from vpm.evidence.errors import (
    GitFailed,
    InvalidName,
    NotAGitRepository,
    UnknownRevision,
)

log = logging.getLogger("vpm")

SYMLINK_MODE = "120000"
SUBMODULE_MODE = "160000"
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


@dataclass(frozen=True)
class TreeEntry:
    """A file recorded in a commit or in the index."""

    path: str
    mode: str
    object_id: str

    @property
    def is_symlink(self) -> bool:
        return self.mode == SYMLINK_MODE


@dataclass(frozen=True)
class ChangedFile:
    """A path that a diff adds, modifies or deletes."""

    path: str
    status: str

    @property
    def is_deleted(self) -> bool:
        return self.status == "D"


def run_git(repo: Path, *args: str, stdin: bytes | None = None) -> bytes:
    """Run `git -C REPO ARGS...` and return its standard output.

    Raises:
        GitFailed: git is not installed or exited with a non-zero status.
    """
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"}
    try:
        done = subprocess.run(
            ["git", "-C", str(repo), *args],
            input=stdin,
            capture_output=True,
            env=env,
            check=False,
        )
    except FileNotFoundError as exc:
        raise GitFailed("git is not installed or not on PATH.") from exc
    if done.returncode != 0:
        message = done.stderr.decode("utf-8", "replace").strip()
        raise GitFailed(f"git {args[0]} failed in {repo}: {message}")
    return done.stdout


def repository_root(folder: Path) -> Path:
    """Return the top level of the git work tree that contains `folder`.

    Raises:
        NotAGitRepository: `folder` is not inside a git work tree.
    """
    if not folder.is_dir():
        raise NotAGitRepository(f"{folder} is not a folder.")
    try:
        output = run_git(folder, "rev-parse", "--show-toplevel")
    except GitFailed as exc:
        raise NotAGitRepository(
            f"{folder} is not inside a git repository; pass --repo with the "
            "repository folder."
        ) from exc
    return Path(output.decode("utf-8").strip()).resolve()


def is_repository_root(folder: Path) -> bool:
    """Return True when `folder` is the top level of a git work tree.

    A folder nested inside another repository does not count, so vpm never
    creates branches or tags in a repository the user did not point at.
    """
    try:
        return repository_root(folder) == folder.resolve()
    except NotAGitRepository:
        return False


def resolve_commit(repo: Path, ref: str, flag: str) -> str:
    """Return the full commit id that `ref` names.

    Raises:
        UnknownRevision: `ref` is empty, starts with `-` or names no commit.
    """
    check_revision(ref, flag)
    try:
        output = run_git(
            repo, "rev-parse", "--verify", "--quiet", "--end-of-options",
            f"{ref}^{{commit}}",
        )  # fmt: skip
    except GitFailed as exc:
        if not has_commit(repo):
            raise UnknownRevision(
                f"{flag} {ref!r} names no commit: {repo} has no commit yet. "
                "Commit first, or check staged changes with --staged."
            ) from exc
        raise UnknownRevision(
            f"{flag} {ref!r} names no commit in {repo}; fetch it first "
            "(for example `git fetch origin main`) or check the spelling."
        ) from exc
    return output.decode("ascii").strip()


def check_revision(ref: str, flag: str) -> None:
    """Reject a revision that is empty or would be read as a git option.

    Raises:
        UnknownRevision: `ref` is empty or starts with `-`.
    """
    if not ref or ref.startswith("-"):
        raise UnknownRevision(f"{flag} {ref!r} is not a valid git revision.")


def names_commit(repo: Path, ref: str) -> bool:
    """Return True when `ref` names a commit; False also for an invalid `ref`."""
    try:
        resolve_commit(repo, ref, "REF")
    except UnknownRevision:
        return False
    return True


def empty_tree(repo: Path) -> str:
    """Return the id of the empty tree in the repository's hash format.

    git provides this object without storing it, so a diff can start from
    it in a repository with no commit. Its id differs between SHA-1 and
    SHA-256 repositories, so it is computed, not hard-coded.
    """
    output = run_git(repo, "hash-object", "-t", "tree", "--stdin", stdin=b"")
    return output.decode("ascii").strip()


def merge_base(repo: Path, base: str, head: str) -> str:
    """Return the merge base of two commits, as `git diff BASE...HEAD` uses it.

    Raises:
        UnknownRevision: The two commits share no history.
    """
    try:
        output = run_git(repo, "merge-base", base, head)
    except GitFailed as exc:
        raise UnknownRevision(
            f"{base[:12]} and {head[:12]} have no common ancestor; fetch the "
            "full history (`fetch-depth: 0` in actions/checkout)."
        ) from exc
    return output.decode("ascii").strip()


def changed_files(repo: Path, since: str, head: str | None) -> list[ChangedFile]:
    """Return the files changed from commit `since` to `head`.

    With `head` None the staged changes (the index) are compared with
    `since`. Renames are reported as a deletion and an addition, so both
    paths appear.
    """
    args = ["diff", "--name-status", "-z", "--no-renames", "--no-ext-diff"]
    args += ["--cached", since] if head is None else [since, head]
    fields = run_git(repo, *args).decode("utf-8", "surrogateescape").split("\0")
    changes = []
    for status, path in zip(fields[0::2], fields[1::2], strict=False):
        if status:
            changes.append(ChangedFile(path=path, status=status[0]))
    return changes


def tree_files(repo: Path, commit: str | None) -> dict[str, TreeEntry]:
    """Return the files of `commit`, or of the index when `commit` is None."""
    if commit is None:
        raw = run_git(repo, "ls-files", "--stage", "-z")
    else:
        raw = run_git(repo, "ls-tree", "-r", "-z", "--full-tree", commit)
    entries = {}
    for record in raw.decode("utf-8", "surrogateescape").split("\0"):
        if not record:
            continue
        info, path = record.split("\t", 1)
        fields = info.split()
        # ls-tree prints "MODE TYPE ID", ls-files "MODE ID STAGE".
        object_id = fields[2] if commit is not None else fields[1]
        entries[path] = TreeEntry(path=path, mode=fields[0], object_id=object_id)
    return entries


def symlink_leaves_tree(repo: Path, entry: TreeEntry) -> bool:
    """Return True when a symbolic link in the tree points outside the repository.

    The target is read from the git object and resolved as text, so nothing
    outside the repository is touched.
    """
    target = run_git(repo, "cat-file", "blob", entry.object_id)
    text = target.decode("utf-8", "surrogateescape")
    if text.startswith("/"):
        return True
    joined = posixpath.normpath(posixpath.join(posixpath.dirname(entry.path), text))
    return joined == ".." or joined.startswith("../")


def check_ref_name(name: str, kind: str, flag: str) -> None:
    """Validate a trial or tag name that becomes a file name and a git ref.

    Names are 1-100 characters of letters, digits, `.`, `_` and `-`, start
    with a letter or digit, and contain no `..`, so a name can never climb
    out of the folder its file is written to.

    Raises:
        InvalidName: The name breaks one of these rules.
    """
    problems = []
    if not NAME_PATTERN.match(name):
        problems.append(
            "use 1-100 letters, digits, '.', '_' or '-', starting with a letter "
            "or digit (no '/', spaces or other characters)"
        )
    if ".." in name:
        problems.append("'..' is not allowed")
    if name.endswith((".", ".lock")):
        problems.append("it must not end with '.' or '.lock'")
    if problems:
        raise InvalidName(
            f"{flag} {name!r} is not a valid {kind}: {'; '.join(problems)}."
        )


def ref_exists(repo: Path, ref: str) -> bool:
    """Return True when the full ref name (`refs/tags/v1`) exists."""
    try:
        run_git(repo, "show-ref", "--verify", "--quiet", ref)
    except GitFailed:
        return False
    return True


def has_commit(repo: Path) -> bool:
    """Return True when HEAD names a commit (the repository is not empty)."""
    try:
        run_git(repo, "rev-parse", "--verify", "--quiet", "HEAD^{commit}")
    except GitFailed:
        return False
    return True
