"""Snapshot tags: the evidence of newly finished milestones, frozen in a tag.

`take_snapshot` collects the milestones the state document records as
done that no earlier snapshot covered, or whose evidence changed since.
It hashes every evidence file they cite and writes the hashes to
`reports/snapshot_TAG.md`. Then it records the snapshot in the provenance
ledger and creates an annotated git tag at HEAD, whose message carries
the report's sha256. The files are read from the working tree, so the
snapshot is rejected when the state document or any evidence it hashes
is uncommitted or differs from HEAD.

What earlier snapshots covered is kept in `DATA_DIR/snapshots.json`.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, Field

from vpm.errors import PathOutsideProject, UserError
from vpm.evidence import git
from vpm.evidence.counts import count_noun
from vpm.evidence.errors import NotAGitRepository, SnapshotError, read_json_model
from vpm.evidence.worktree import differences_from_head
from vpm.fsio import write_json_atomic, write_text_atomic
from vpm.prov import (
    CycleProvenance,
    Decision,
    FileDigest,
    RoleActivity,
    default_key_dir,
    ledger_dir,
    load_signer,
    record_cycle,
)
from vpm.settings import load_settings
from vpm.state.evidence import check_citation, resolve_citation
from vpm.state.parse import Claim, read_state

log = logging.getLogger("vpm")

SNAPSHOTS_FILE = "snapshots.json"
ROLE = "archivist"
MAX_LISTED = 10


class SnapshotRecord(BaseModel):
    """One snapshot as `snapshots.json` stores it."""

    tag: str = Field(description="Name of the annotated git tag.")
    at: str = Field(description="ISO 8601 UTC time the snapshot was taken.")
    commit: str = Field(description="Commit the tag points at.")
    report: str = Field(description="Path of the snapshot report.")
    report_sha256: str = Field(description="sha256 of the report.")
    milestones: list[str] = Field(description="Milestones this snapshot added.")
    covered: list[str] = Field(
        description="Every milestone covered by this and earlier snapshots."
    )
    evidence: dict[str, str] = Field(
        description="sha256 of each evidence file covered so far, by path."
    )


class SnapshotBook(BaseModel):
    """The content of `snapshots.json`."""

    snapshots: list[SnapshotRecord] = Field(default_factory=list)


class MilestoneEvidence(BaseModel):
    """A done milestone and the evidence it cites."""

    key: str = Field(description="Milestone id, or the claim's label if none.")
    label: str
    line: int = Field(description="Line of the claim in the state document.")
    files: dict[str, str] = Field(
        default_factory=dict, description="sha256 of each cited file, by path."
    )
    unusable: list[str] = Field(
        default_factory=list,
        description="Citations that are missing or outside the project, with why.",
    )


class Snapshot(BaseModel):
    """The outcome of `take_snapshot`."""

    record: SnapshotRecord
    milestones: list[MilestoneEvidence]
    report_path: Path
    ledger_records: int = Field(description="Provenance records written.")


def take_snapshot(
    project: Path,
    tag: str,
    message: str | None = None,
    out: Path | None = None,
    now: datetime | None = None,
) -> Snapshot:
    """Write the snapshot report, record it and tag HEAD.

    Raises:
        InvalidName: `tag` cannot be a tag or file name.
        NotAGitRepository: `project` is not the top of a git repository.
        SnapshotError: The tag or report exists, HEAD has no commit, git
            has no committer identity for an annotated tag, or a file the
            snapshot reads is uncommitted or differs from HEAD.
        StateNotFound: The project has no state document.
    """
    git.check_ref_name(tag, "tag name", "TAG")
    root = _repository(project)
    _check_tag_free(root, tag)
    data_dir, reports_dir = _places(root, out)
    report_path = reports_dir / f"snapshot_{tag}.md"
    if report_path.exists():
        raise SnapshotError(f"{report_path} already exists; choose another tag.")
    started = now or datetime.now(UTC)

    book = read_snapshots(data_dir / SNAPSHOTS_FILE)
    last = book.snapshots[-1] if book.snapshots else None
    state_rel = load_settings(root).state_file
    claims = read_state(root / state_rel, state_rel).claims
    milestones = _new_milestones(root, claims, last)
    _check_matches_head(root, state_rel, claims, milestones)
    commit = git.resolve_commit(root, "HEAD", "HEAD")

    report = render_snapshot(tag, commit, started, milestones, last, message)
    write_text_atomic(report_path, report)
    report_sha = hashlib.sha256(report.encode("utf-8")).hexdigest()
    record = _record(tag, commit, started, report_path, report_sha, milestones, last)
    _tag(root, tag, message, record)
    book.snapshots.append(record)
    write_json_atomic(data_dir / SNAPSHOTS_FILE, book.model_dump(mode="json"))
    written = _record_provenance(data_dir, record, milestones, started, state_rel, root)
    log.info("snapshot %s: %d milestones", tag, len(milestones))
    return Snapshot(
        record=record,
        milestones=milestones,
        report_path=report_path,
        ledger_records=written,
    )


def _repository(project: Path) -> Path:
    if not project.is_dir():
        raise SnapshotError(f"Project folder {project} does not exist.")
    root = project.resolve()
    if not git.is_repository_root(root):
        raise NotAGitRepository(
            f"{project} is not the top of a git repository; a snapshot creates a "
            "git tag, so run it in the repository's top folder."
        )
    if not git.has_commit(root):
        raise SnapshotError(f"{project} has no commit yet; commit before tagging.")
    return root


def _check_tag_free(root: Path, tag: str) -> None:
    if git.ref_exists(root, f"refs/tags/{tag}"):
        raise SnapshotError(f"Tag {tag!r} already exists; choose another tag name.")
    try:
        git.run_git(root, "var", "GIT_COMMITTER_IDENT")
    except git.GitFailed as exc:
        raise SnapshotError(
            "git has no committer identity, which an annotated tag needs; set "
            "user.name and user.email (`git config user.email you@example.com`)."
        ) from exc


def _places(root: Path, out: Path | None) -> tuple[Path, Path]:
    if out is not None:
        base = out.resolve()
        return base / ".vpm", base / "reports"
    return resolve_citation(root, ".vpm"), resolve_citation(root, "reports")


def read_snapshots(path: Path) -> SnapshotBook:
    """Read `snapshots.json`; an absent file means no snapshot yet.

    Raises:
        SnapshotError: The file is not valid JSON or not in the expected shape.
    """
    return read_json_model(path, SnapshotBook, SnapshotError, "snapshots")


def _new_milestones(
    root: Path, claims: list[Claim], last: SnapshotRecord | None
) -> list[MilestoneEvidence]:
    """Done milestones not yet covered, or whose evidence changed since."""
    covered = set(last.covered) if last else set()
    known = last.evidence if last else {}
    found: dict[str, MilestoneEvidence] = {}
    for claim in claims:
        if claim.status != "done" or not claim.citations:
            continue
        key = claim.subject or claim.label
        item = found.setdefault(
            key, MilestoneEvidence(key=key, label=claim.label, line=claim.line)
        )
        for citation in claim.citations:
            _add_citation(root, citation.path, item)
    return [
        item
        for key, item in found.items()
        if key not in covered or any(known.get(p) != h for p, h in item.files.items())
    ]


def _check_matches_head(
    root: Path,
    state_rel: str,
    claims: list[Claim],
    milestones: list[MilestoneEvidence],
) -> None:
    """Reject a snapshot whose state document or evidence differs from HEAD.

    The tag points at HEAD, so the hashes in the report must be those of
    HEAD's files. Reading the working tree and rejecting any difference
    keeps the report equal to what the tag contains.
    """
    keys = {item.key for item in milestones}
    citations = [
        citation.path
        for claim in claims
        if claim.status == "done" and (claim.subject or claim.label) in keys
        for citation in claim.citations
    ]
    read_files = [state_rel, *(path for item in milestones for path in item.files)]
    differences = differences_from_head(root, read_files, citations)
    if not differences:
        return
    listed = ", ".join(differences[:MAX_LISTED])
    if len(differences) > MAX_LISTED:
        listed += f" and {len(differences) - MAX_LISTED} more"
    files = count_noun(len(differences), "file")
    verb = "differs" if len(differences) == 1 else "differ"
    raise SnapshotError(
        f"The tag would point at HEAD, but {files} the snapshot reads {verb} "
        f"from HEAD: {listed}. Commit or restore them, then take the snapshot "
        "again."
    )


def _add_citation(root: Path, cited: str, item: MilestoneEvidence) -> None:
    try:
        check = check_citation(root, cited)
    except (PathOutsideProject, UserError) as exc:
        item.unusable.append(f"{cited}: {exc}")
        return
    if check.invalid:
        item.unusable.append(f"{cited}: {check.invalid}")
    elif not check.exists:
        item.unusable.append(f"{cited}: not found")
    for relative in check.files:
        if (root / relative).is_file():
            item.files[relative] = sha256_file(root / relative)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 16), b""):
            digest.update(block)
    return digest.hexdigest()


def render_snapshot(
    tag: str,
    commit: str,
    at: datetime,
    milestones: list[MilestoneEvidence],
    last: SnapshotRecord | None,
    message: str | None,
) -> str:
    """Return the Markdown report of a snapshot."""
    since = f"snapshot {last.tag} ({last.at})" if last else "the start (first snapshot)"
    lines = [
        f"# Snapshot {tag}",
        "",
        f"- Commit: {commit}",
        f"- Taken: {at.isoformat(timespec='seconds')}",
        f"- Since: {since}",
        f"- Milestones: {len(milestones)}",
    ]
    if message:
        lines.append(f"- Message: {message}")
    if not milestones:
        lines += ["", "No milestone was completed since the last snapshot."]
    for item in milestones:
        lines += [
            "",
            f"## {item.key}",
            "",
            f"{item.label} (state line {item.line})",
            "",
        ]
        lines += ["| evidence | sha256 |", "| --- | --- |"]
        lines += [f"| `{path}` | `{sha}` |" for path, sha in sorted(item.files.items())]
        lines += [f"- Not usable: {text}" for text in item.unusable]
    return "\n".join(lines) + "\n"


def _record(
    tag: str,
    commit: str,
    at: datetime,
    report_path: Path,
    report_sha: str,
    milestones: list[MilestoneEvidence],
    last: SnapshotRecord | None,
) -> SnapshotRecord:
    evidence = dict(last.evidence) if last else {}
    for item in milestones:
        evidence.update(item.files)
    added = [item.key for item in milestones]
    covered = sorted({*(last.covered if last else []), *added})
    return SnapshotRecord(
        tag=tag,
        at=at.isoformat(timespec="seconds"),
        commit=commit,
        report=f"reports/{report_path.name}",
        report_sha256=report_sha,
        milestones=added,
        covered=covered,
        evidence=evidence,
    )


def _tag(root: Path, tag: str, message: str | None, record: SnapshotRecord) -> None:
    count = count_noun(len(record.milestones), "milestone")
    text = message or f"Snapshot {tag}: {count}"
    text += f"\n\nReport {record.report} sha256 {record.report_sha256}\n"
    git.run_git(
        root,
        "tag",
        "-a",
        "-F",
        "-",
        "--end-of-options",
        tag,
        "HEAD",
        stdin=text.encode(),
    )


def _record_provenance(
    data_dir: Path,
    record: SnapshotRecord,
    milestones: list[MilestoneEvidence],
    started: datetime,
    state_rel: str,
    root: Path,
) -> int:
    """Record the snapshot as a decision of the archivist in the ledger.

    The ledger has no decision kind of its own for snapshots, so the
    snapshot is recorded as a `state-patch` decision with id `snapshot-TAG`.
    """
    inputs = [
        FileDigest(path=path, sha256=sha, role=ROLE)
        for item in milestones
        for path, sha in sorted(item.files.items())
    ]
    state_file = root / state_rel
    if state_file.is_file():
        inputs.append(
            FileDigest(path=state_rel, sha256=sha256_file(state_file), role=ROLE)
        )
    report = FileDigest(path=record.report, sha256=record.report_sha256, role=ROLE)
    count = count_noun(len(milestones), "milestone")
    finished = datetime.now(UTC)
    cycle = CycleProvenance(
        trace_id=uuid.uuid4().hex,
        started_at=started,
        finished_at=max(finished, started),
        inputs=_unique(inputs),
        activities=[
            RoleActivity(
                role=ROLE,
                started_at=started,
                finished_at=max(finished, started),
                engine="none",
            )
        ],
        decisions=[
            Decision(
                kind="state-patch",
                id=f"snapshot-{record.tag}",
                role=ROLE,
                summary=f"Snapshot {record.tag} of {count} at commit "
                f"{record.commit[:12]}.",
                inputs=_unique(inputs),
                outputs=[report],
            )
        ],
        outputs=[report],
    )
    signer = load_signer(default_key_dir(data_dir))
    return len(record_cycle(ledger_dir(data_dir), cycle, signer))


def _unique(items: list[FileDigest]) -> list[FileDigest]:
    seen: dict[str, FileDigest] = {}
    for item in items:
        seen.setdefault(item.path, item)
    return list(seen.values())
