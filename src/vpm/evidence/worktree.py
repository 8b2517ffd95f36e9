"""Compare the files a snapshot reads with the commit it tags.

`vpm snapshot` hashes evidence in the working tree but tags HEAD, so the
report is true of the tag only when every file it reads is committed and
unchanged. `differences_from_head` lists the files for which that fails.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from vpm.errors import UserError
from vpm.evidence import git
from vpm.evidence.body import normalize_path
from vpm.evidence.prcheck import matches
from vpm.state.evidence import clean_citation, resolve_citation


def changed_since_head(root: Path) -> set[str]:
    """Return tracked paths whose index or working-tree content differs from HEAD.

    Deleted and newly staged files are included. Untracked files are not,
    so a caller checks those against HEAD's tree.
    """
    raw = git.run_git(root, "diff", "HEAD", "--name-only", "-z", "--no-renames")
    return {path for path in raw.decode("utf-8", "surrogateescape").split("\0") if path}


def differences_from_head(
    root: Path, read_files: Iterable[str], citations: Iterable[str]
) -> list[str]:
    """List the files the snapshot reads that differ from HEAD, with the reason.

    Args:
        root: Top folder of the git repository.
        read_files: Repository-relative paths the snapshot reads (the state
            document and every hashed evidence file). A path reached through
            symbolic links inside the project is checked as its target and
            its links.
        citations: Evidence paths and globs as the state document cites them.
            A file that HEAD has and the working tree lacks is reported when
            a citation names it, because a glob would silently skip it.

    Returns:
        Lines such as "reports/a.md (modified since HEAD)", sorted by path.
    """
    head_files = git.tree_files(root, "HEAD")
    changed = changed_since_head(root)
    found: dict[str, str] = {}
    for relative in read_files:
        for path in _committed_forms(root, relative):
            if path not in head_files:
                found[path] = "not committed"
            elif path in changed:
                found[path] = "modified since HEAD"
    patterns = [p for p in (normalize_path(clean_citation(c)) for c in citations) if p]
    for path in changed:
        deleted = not os.path.lexists(root / path)
        if deleted and any(matches(pattern, path) for pattern in patterns):
            found[path] = "deleted since HEAD"
    return [f"{path} ({why})" for path, why in sorted(found.items())]


def _committed_forms(root: Path, relative: str) -> set[str]:
    """Return the tree paths that must match HEAD for `relative` to match it.

    These are the file the path resolves to and every symbolic link on the
    way, because git stores a link as its target text, not the file behind it.
    """
    try:
        real = resolve_citation(root, relative).relative_to(root).as_posix()
    except (UserError, ValueError):
        real = relative
    forms = {real}
    parts = relative.split("/")
    for end in range(1, len(parts) + 1):
        prefix = "/".join(parts[:end])
        if (root / prefix).is_symlink():
            forms.add(prefix)
    return forms
