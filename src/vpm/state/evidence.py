"""Check the files a state document cites as evidence.

A citation is a project-relative path or glob such as
`reports/p2_4_obs_20250903_140653.json` or `reports/prov_*.jsonld`.
`check_citation` resolves it without ever leaving the project, reports
whether it exists (and the closest existing file when it does not), and
scans the cited files for lines that contradict a claim of success.
`findings_for_claim` turns such a check into findings for one claim.

Path safety: a citation is resolved one component at a time, and only
paths inside the project are stat'ed. A symbolic link is read, not
followed, and its target is checked first. So `../../etc/passwd`,
absolute paths and links out of the project raise `PathOutsideProject`
before anything outside the project is touched.
"""

from __future__ import annotations

import difflib
import logging
import os
import re
import unicodedata
from collections.abc import Iterator
from fnmatch import fnmatchcase
from pathlib import Path, PurePosixPath
from typing import Any

from pydantic import BaseModel, Field

from vpm.errors import PathOutsideProject, ProjectNotFound, UserError
from vpm.model import Finding, Problem
from vpm.state.evidence_rules import MAX_HITS_PER_FILE, REASONS, scan_evidence

log = logging.getLogger("vpm")

MAX_SYMLINK_HOPS = 40
MAX_CHECKED_FILES = 200
MAX_SCANNED_FILES = 20_000
CLOSEST_CUTOFF = 0.6
BINARY_SNIFF_BYTES = 8192
SKIPPED_DIRS = {".git", ".hg", ".svn", ".venv", "venv", "node_modules", "__pycache__"}
GLOB_MAGIC = re.compile(r"[*?\[]")


class Contradiction(BaseModel):
    """A line of evidence that shows a claim of success is not met."""

    path: str = Field(description="Project-relative path of the evidence file.")
    line: int | None = Field(
        default=None, description="1-based line; None when the whole file is meant."
    )
    quote: str = Field(default="", description="The line, trimmed to ~200 chars.")
    reason: str = Field(description="Reason code, a key of `REASONS`.")
    detail: str = Field(default="", description="Specifics, e.g. a parser message.")


class EvidenceCheck(BaseModel):
    """Result of checking one citation: the files it names and what they show."""

    cited: str = Field(description="The citation as written.")
    path: str = Field(description="Cleaned project-relative path or glob pattern.")
    is_glob: bool = Field(default=False, description="True if `path` is a pattern.")
    exists: bool = Field(
        default=False, description="The path exists, or the pattern matched a file."
    )
    is_dir: bool = Field(default=False, description="The path is a folder.")
    files: list[str] = Field(
        default_factory=list,
        description="Project-relative files cited: the file, or sorted matches.",
    )
    closest: str | None = Field(
        default=None, description="Most similar existing file when `path` is missing."
    )
    contradictions: list[Contradiction] = Field(default_factory=list)
    problems: list[Problem] = Field(
        default_factory=list,
        description="Cited files that could not be read: too large, not text.",
    )
    invalid: str | None = Field(
        default=None, description="Why the citation was rejected, if it was."
    )


# cleaning


MARKDOWN_LINK = re.compile(r"^\[[^\]]*\]\(([^)\s]+)\)$")
LINE_SUFFIX = re.compile(r":L?\d+(?:[-:]L?\d+)*$")
WRAPPING = "`'\"“”‘’「」『』<>()（）[] \t"
TRAILING = "、。，,;；:：.!！?？)）]」』"


def clean_citation(cited: str) -> str:
    """Strip the decorations people write around a cited path.

    Removes backticks, quotes and brackets, a Markdown link's label,
    trailing punctuation such as `、。,;)）`, a `#anchor` and a `:line`
    suffix, and turns backslashes into slashes. For example,
    "`reports/a.md:12`、" becomes "reports/a.md".
    """
    text = cited.strip()
    link = MARKDOWN_LINK.match(text)
    if link:
        text = link.group(1)
    text = text.strip(WRAPPING).replace("\\", "/")
    text = text.split("#", 1)[0]
    text = text.rstrip(TRAILING)
    text = LINE_SUFFIX.sub("", text)
    return text.strip(WRAPPING).rstrip(TRAILING)


# resolving


def resolve_citation(project: Path, cited: str) -> Path:
    """Return the absolute path a citation names inside the project.

    The path need not exist. Symbolic links inside the project are
    followed as long as each target stays inside. For a glob, the folder
    part before the first wildcard is resolved and the pattern is appended
    unchanged.

    Raises:
        ProjectNotFound: `project` is not a folder.
        PathOutsideProject: the path is absolute, climbs out with `..`, or
            passes through a link whose target is outside the project.
        UserError: the citation is empty once decorations are stripped, or
            its links form a loop.
    """
    root = _project_root(project)
    path = clean_citation(cited)
    parts = _relative_parts(path, cited)
    if not GLOB_MAGIC.search(path):
        return _walk(root, parts, cited)
    literal, pattern = _split_pattern(parts)
    return _walk(root, literal, cited).joinpath(*pattern)


def _project_root(project: Path) -> Path:
    if not project.is_dir():
        raise ProjectNotFound(
            f"Project folder {project} does not exist or is not a folder."
        )
    return project.resolve()


def _relative_parts(path: str, cited: str) -> list[str]:
    if not path:
        raise UserError(f"Citation {cited!r} names no path.")
    if path.startswith(("/", "~")) or re.match(r"^[A-Za-z]:/", path):
        raise PathOutsideProject(
            f"Cited path {cited!r} is absolute; cite a path relative to the project."
        )
    return [part for part in path.split("/") if part not in ("", ".")]


def _split_pattern(parts: list[str]) -> tuple[list[str], list[str]]:
    first = next(i for i, part in enumerate(parts) if GLOB_MAGIC.search(part))
    return parts[:first], parts[first:]


def _walk(root: Path, parts: list[str], cited: str) -> Path:
    """Resolve `parts` below `root`, one component at a time.

    `current` is always a real path inside `root`, so every `lstat` and
    `readlink` happens inside the project. A link target is checked before
    it is used, and `..` is applied to the real folder, as the OS does.
    """
    current = root
    queue = list(parts)
    hops = 0
    while queue:
        part = queue.pop(0)
        if part in ("", "."):
            continue
        if part == "..":
            if current == root:
                raise _outside(cited)
            current = current.parent
            continue
        candidate = current / part
        if not candidate.is_symlink():
            current = candidate
            continue
        hops += 1
        if hops > MAX_SYMLINK_HOPS:
            raise UserError(f"Cited path {cited!r} has a symbolic-link loop.")
        target = os.readlink(candidate)
        if os.path.isabs(target):
            queue = _inside_parts(root, target, cited) + queue
            current = root
        else:
            queue = target.replace("\\", "/").split("/") + queue
    return current


def _inside_parts(root: Path, target: str, cited: str) -> list[str]:
    prefix = str(root).rstrip(os.sep) + os.sep
    if not target.startswith(prefix):
        raise _outside(cited)
    return target[len(prefix) :].split(os.sep)


def _outside(cited: str) -> PathOutsideProject:
    return PathOutsideProject(
        f"Cited path {cited!r} resolves outside the project; evidence must be "
        "a file inside the project."
    )


# globbing


def _glob(root: Path, parts: list[str], cited: str) -> list[str]:
    """Return the project-relative files matching a pattern, sorted.

    Wildcards never match names that start with a dot (as in the shell),
    `**` does not descend into linked folders, and a matched link whose
    target is outside the project is left out.
    """
    literal, pattern = _split_pattern(parts)
    if pattern and pattern[-1] == "**":
        # A trailing `reports/**` means every file below the folder.
        pattern = [*pattern, "*"]
    base = _walk(root, literal, cited)
    if not base.is_dir():
        return []
    cited_path = PurePosixPath(*literal) if literal else PurePosixPath()
    candidates = [(cited_path, base)]
    for segment in pattern:
        candidates = [
            child for pair in candidates for child in _expand(root, pair, segment)
        ]
    files = {str(path) for path, real in candidates if real.is_file()}
    return sorted(files)


def _expand(
    root: Path, pair: tuple[PurePosixPath, Path], segment: str
) -> Iterator[tuple[PurePosixPath, Path]]:
    cited_path, real = pair
    if segment == "**":
        yield from _descendants(cited_path, real)
        return
    if not GLOB_MAGIC.search(segment):
        names = [segment]
    elif real.is_dir():
        names = list(_matching_names(real, segment))
    else:
        return
    for name in names:
        child = _child_inside(root, real, name)
        if child is not None:
            yield cited_path / name, child


def _matching_names(folder: Path, segment: str) -> Iterator[str]:
    hidden_ok = segment.startswith(".")
    for entry in _entries(folder):
        if entry.name.startswith(".") and not hidden_ok:
            continue
        if fnmatchcase(entry.name, segment):
            yield entry.name


def _descendants(
    cited_path: PurePosixPath, real: Path
) -> Iterator[tuple[PurePosixPath, Path]]:
    if not real.is_dir():
        return
    yield cited_path, real
    for entry in _entries(real):
        if not entry.name.startswith(".") and entry.is_dir(follow_symlinks=False):
            yield from _descendants(cited_path / entry.name, Path(entry.path))


def _entries(folder: Path) -> list[os.DirEntry[str]]:
    """List a folder sorted by name, or nothing if it cannot be read."""
    try:
        with os.scandir(folder) as entries:
            return sorted(entries, key=lambda entry: entry.name)
    except OSError as exc:
        log.debug("Could not list %s: %s", folder, exc)
        return []


def _child_inside(root: Path, real: Path, name: str) -> Path | None:
    child = real / name
    if not child.is_symlink():
        return child
    try:
        return _walk(root, [*real.relative_to(root).parts, name], name)
    except (PathOutsideProject, UserError):
        log.debug("Skipped %s: its link loops or leaves the project.", child)
        return None


# closest existing file

STAMP = re.compile(
    r"\d{8}(?:[_T-]?\d{4,6})?|\d{4}-\d{2}-\d{2}|\d{9,}|yyyymmdd(?:_?hhmmss)?|"
    r"yyyy-mm-dd",
    re.IGNORECASE,
)


def _closest(root: Path, parts: list[str]) -> str | None:
    """Name the existing file most like a missing one, same folder first."""
    name = parts[-1]
    folder = _existing_folder(root, parts[:-1])
    if folder is not None:
        prefix = PurePosixPath(*parts[:-1])
        nearby = [
            str(prefix / entry.name)
            for entry in _entries(folder)
            if entry.is_file(follow_symlinks=False)
        ]
        best = _best_match(name, nearby)
        if best is not None:
            return best
    return _best_match(name, list(_project_files(root)))


def _existing_folder(root: Path, parts: list[str]) -> Path | None:
    try:
        folder = _walk(root, parts, "/".join(parts))
    except (PathOutsideProject, UserError):
        return None
    return folder if folder.is_dir() else None


def _project_files(root: Path) -> Iterator[str]:
    """Yield regular files below `root`, never through a link, up to a limit."""
    pending = [(PurePosixPath(), root)]
    count = 0
    while pending:
        relative, folder = pending.pop(0)
        for entry in _entries(folder):
            if entry.is_dir(follow_symlinks=False):
                if entry.name not in SKIPPED_DIRS:
                    pending.append((relative / entry.name, Path(entry.path)))
            elif entry.is_file(follow_symlinks=False):
                count += 1
                if count > MAX_SCANNED_FILES:
                    return
                yield str(relative / entry.name)


def _best_match(name: str, candidates: list[str]) -> str | None:
    scored = []
    for candidate in candidates:
        other = PurePosixPath(candidate).name
        score = _similarity(name, other)
        if score >= CLOSEST_CUTOFF:
            same_suffix = PurePosixPath(name).suffix == PurePosixPath(other).suffix
            raw = difflib.SequenceMatcher(None, name.lower(), other.lower()).ratio()
            scored.append((score, same_suffix, raw, candidate))
    return max(scored)[3] if scored else None


def _similarity(name: str, other: str) -> float:
    """Score two file names from 0 to 1 by their words, ignoring timestamps.

    Timestamps are removed first, because two reports of the same kind
    differ only in them while two unrelated reports of the same day share
    most of their digits. The score averages character similarity and the
    share of common words, so `p3_2_4_prov` still finds `prov_p3_2_4`.
    """
    left, right = _name_stem(name), _name_stem(other)
    if not left or not right:
        return 0.0
    characters = difflib.SequenceMatcher(None, left, right).ratio()
    left_words, right_words = set(left.split("_")), set(right.split("_"))
    words = len(left_words & right_words) / len(left_words | right_words)
    return (characters + words) / 2


def _name_stem(name: str) -> str:
    text = unicodedata.normalize("NFKC", name).lower()
    text = re.sub(r"(\.[a-z0-9]+)+$", "", text)
    text = STAMP.sub("", text)
    return re.sub(r"[-_.\s]+", "_", text).strip("_")


# checking


def check_citation(
    project: Path, cited: str, *, max_bytes: int = 2_000_000
) -> EvidenceCheck:
    """Check one cited path or glob and scan the files it names.

    Never raises for a bad citation: a path outside the project or an
    empty one sets `invalid`, and unreadable files are listed in
    `problems`. At most 200 files of a glob are scanned.

    Args:
        project: The project folder.
        cited: The citation as written in the state document.
        max_bytes: Files larger than this are not read.

    Raises:
        ProjectNotFound: `project` is not a folder.
    """
    root = _project_root(project)
    path = clean_citation(cited)
    check = EvidenceCheck(cited=cited, path=path, is_glob=bool(GLOB_MAGIC.search(path)))
    try:
        parts = _relative_parts(path, cited)
        files = _cited_files(root, parts, check)
    except UserError as exc:
        check.invalid = str(exc)
        return check

    if not check.exists and not check.is_glob and parts:
        check.closest = _closest(root, parts)
    for relative in files[:MAX_CHECKED_FILES]:
        _scan_file(root, relative, max_bytes, check)
    if len(files) > MAX_CHECKED_FILES:
        skipped = len(files) - MAX_CHECKED_FILES
        message = (
            f"The pattern matched {len(files)} files, so the last {skipped} "
            f"were not read (at most {MAX_CHECKED_FILES} are)."
        )
        check.problems.append(Problem(path=path, message=message))
    return check


def _cited_files(root: Path, parts: list[str], check: EvidenceCheck) -> list[str]:
    if check.is_glob:
        check.files = _glob(root, parts, check.cited)
        check.exists = bool(check.files)
        return check.files
    target = _walk(root, parts, check.cited)
    check.is_dir = target.is_dir()
    check.exists = check.is_dir or target.is_file()
    if target.is_file():
        check.files = [str(PurePosixPath(*parts))] if parts else []
    return check.files


def _scan_file(root: Path, relative: str, max_bytes: int, check: EvidenceCheck) -> None:
    real = _walk(root, relative.split("/"), relative)
    try:
        size = real.stat().st_size
        if size > max_bytes:
            message = f"The file has {size} bytes, over the {max_bytes} limit."
            check.problems.append(Problem(path=relative, message=message))
            return
        data = real.read_bytes()
    except OSError as exc:
        message = f"The file could not be read: {exc.strerror or exc}."
        check.problems.append(Problem(path=relative, message=message))
        return
    text = _decode(data)
    if text is None:
        # A screenshot or archive may be fine evidence that cannot be checked
        # here, so it is a problem to report, not a contradiction.
        message = "The file is not UTF-8 text, so its content was not checked."
        check.problems.append(Problem(path=relative, message=message))
        return
    hits = scan_evidence(text, PurePosixPath(relative).suffix.lower())
    for hit in hits[:MAX_HITS_PER_FILE]:
        check.contradictions.append(
            Contradiction(
                path=relative,
                line=hit.line,
                quote=hit.quote,
                reason=hit.reason,
                detail=hit.detail,
            )
        )
    if len(hits) > MAX_HITS_PER_FILE:
        extra = len(hits) - MAX_HITS_PER_FILE
        message = f"{extra} more contradicting lines were found and not listed."
        check.problems.append(Problem(path=relative, message=message))


def _decode(data: bytes) -> str | None:
    if b"\x00" in data[:BINARY_SNIFF_BYTES]:
        return None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None


# findings


def findings_for_claim(
    check: EvidenceCheck,
    *,
    claim_path: str,
    claim_line: int,
    subject: str | None,
    claims_success: bool,
) -> list[Finding]:
    """Turn the check of one citation into findings for the claim citing it.

    Kinds: `invalid-citation` for a rejected path, `missing-evidence` when
    nothing exists at the path, and `evidence-contradicts-claim` for each
    contradiction, only when the claim reports success. Files that
    could not be read (`check.problems`) yield no finding; callers report
    them as problems.

    Args:
        check: The result of `check_citation`.
        claim_path: Project-relative path of the document making the claim.
        claim_line: 1-based line of the citation in that document.
        subject: Milestone or item the claim is about, if known.
        claims_success: True if the claim reports the work as done or green.
    """
    where = {"path": claim_path, "line": claim_line, "subject": subject}
    if check.invalid is not None:
        return [_invalid_finding(check, where)]
    if not check.exists:
        return [_missing_finding(check, where, claims_success)]
    if not claims_success:
        return []
    return [_contradiction_finding(check, item, where) for item in check.contradictions]


def _invalid_finding(check: EvidenceCheck, where: dict[str, Any]) -> Finding:
    return Finding(
        kind="invalid-citation",
        severity="error",
        message=f"Cited evidence `{check.cited}` is not a path inside the project.",
        evidence=check.path or check.cited,
        suggestion="Cite a path relative to the project root, e.g. `reports/...`.",
        **where,
    )


def _missing_finding(
    check: EvidenceCheck, where: dict[str, Any], claims_success: bool
) -> Finding:
    if check.is_glob:
        message = f"No file matches the cited pattern `{check.path}`."
    elif check.closest:
        message = (
            f"Cited evidence `{check.path}` does not exist; the closest existing "
            f"file is `{check.closest}`."
        )
    else:
        message = f"Cited evidence `{check.path}` does not exist."
    suggestion = (
        f"Cite `{check.closest}` if that is the intended file."
        if check.closest
        else "Add the report to the project or correct the path."
    )
    return Finding(
        kind="missing-evidence",
        severity="error" if claims_success else "warning",
        message=message,
        evidence=check.path,
        suggestion=suggestion,
        **where,
    )


def _contradiction_finding(
    check: EvidenceCheck, item: Contradiction, where: dict[str, Any]
) -> Finding:
    reason = REASONS[item.reason]
    if where["subject"]:
        claim = f"{where['subject']} is claimed as done"
    else:
        claim = "The claim says the work succeeded"
    at = f"line {item.line} of `{item.path}`" if item.line else f"`{item.path}`"
    detail = f" ({item.detail})" if item.detail else ""
    return Finding(
        kind="evidence-contradicts-claim",
        severity=reason.severity,
        message=f"{claim}, but {at} shows {reason.summary}{detail}.",
        evidence=item.path,
        evidence_line=item.line,
        quote=item.quote or None,
        suggestion="Re-run the work and cite evidence of success, or reopen the claim.",
        **where,
    )
