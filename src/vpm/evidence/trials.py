"""Time-boxed trial experiments.

A trial tests one hypothesis for at most `MAX_DAYS` days, longer only
with `--allow-long`. Trials are stored in `DATA_DIR/trials.json`, and each one
has an evidence report `reports/trial_NAME.md`, written at the start and
updated at the close. When the project folder is the top level of a git
repository a branch `trial/NAME` is created at HEAD; it is checked out
only on request, and `git switch` refuses to overwrite local changes.

The report's header between the `vpm:trial` markers is rewritten at the
close; anything the team wrote below it is kept.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from vpm.evidence import git
from vpm.evidence.counts import count_noun, days_and_hours
from vpm.evidence.errors import TrialError, read_json_model
from vpm.fsio import write_json_atomic, write_text_atomic
from vpm.model import Finding
from vpm.state.evidence import resolve_citation

log = logging.getLogger("vpm")

MAX_DAYS = 14
TRIALS_FILE = "trials.json"
BRANCH_PREFIX = "trial/"
HEADER_BEGIN = "<!-- vpm:trial:begin -->"
HEADER_END = "<!-- vpm:trial:end -->"

TrialStatus = Literal["running", "closed"]


class Trial(BaseModel):
    """One trial as `trials.json` stores it."""

    name: str = Field(description="Trial name; also in the branch and report name.")
    hypothesis: str = Field(description="What the trial sets out to show.")
    days: int = Field(description="Length of the time box in days.")
    started_at: str = Field(description="ISO 8601 UTC start time.")
    ends_at: str = Field(description="ISO 8601 UTC end of the time box.")
    status: TrialStatus = "running"
    branch: str | None = Field(
        default=None, description="Git branch created for the trial, if any."
    )
    report: str = Field(description="Report path, relative to its folder's parent.")
    result: str | None = Field(default=None, description="Outcome, set at close.")
    closed_at: str | None = Field(default=None, description="ISO 8601 UTC close.")

    def is_overdue(self, now: datetime) -> bool:
        return self.status == "running" and now > datetime.fromisoformat(self.ends_at)


class TrialBook(BaseModel):
    """The content of `trials.json`."""

    trials: list[Trial] = Field(default_factory=list)

    def find(self, name: str) -> Trial | None:
        return next((trial for trial in self.trials if trial.name == name), None)


class TrialPlaces(BaseModel):
    """Folders of a project's trial records and reports."""

    project: Path
    data_dir: Path
    reports_dir: Path

    @property
    def book(self) -> Path:
        return self.data_dir / TRIALS_FILE

    def report(self, name: str) -> Path:
        return self.reports_dir / f"trial_{name}.md"


def trial_places(project: Path, out: Path | None) -> TrialPlaces:
    """Return where trials are stored: under `out` when given, else the project.

    Raises:
        TrialError: The project folder does not exist.
        PathOutsideProject: `.vpm` or `reports` is a link out of the project.
    """
    if not project.is_dir():
        raise TrialError(f"Project folder {project} does not exist.")
    root = project.resolve()
    if out is not None:
        base = out.resolve()
        return TrialPlaces(
            project=root, data_dir=base / ".vpm", reports_dir=base / "reports"
        )
    return TrialPlaces(
        project=root,
        data_dir=resolve_citation(root, ".vpm"),
        reports_dir=resolve_citation(root, "reports"),
    )


def read_book(path: Path) -> TrialBook:
    """Read `trials.json`; an absent file is an empty book.

    Raises:
        TrialError: The file is not valid JSON or not in the expected shape.
    """
    return read_json_model(path, TrialBook, TrialError, "trials")


def start_trial(
    places: TrialPlaces,
    name: str,
    days: int,
    hypothesis: str,
    *,
    allow_long: bool = False,
    checkout: bool = False,
    now: datetime | None = None,
) -> Trial:
    """Record a new trial, write its report and create its branch.

    Raises:
        InvalidName: `name` cannot be a file or branch name.
        TrialError: The time box is out of range, the name is taken, or
            `--checkout` was asked for outside a git repository.
    """
    git.check_ref_name(name, "trial name", "NAME")
    _check_days(days, allow_long)
    if not hypothesis.strip():
        raise TrialError("--hypothesis is empty; state what the trial should show.")
    book = read_book(places.book)
    if book.find(name):
        raise TrialError(f"A trial named {name!r} already exists in {places.book}.")
    report = places.report(name)
    if report.exists():
        raise TrialError(f"{report} already exists; choose another trial name.")
    branch = _branch_for(places.project, name, checkout)

    started = now or datetime.now(UTC)
    trial = Trial(
        name=name,
        hypothesis=hypothesis.strip(),
        days=days,
        started_at=started.isoformat(timespec="seconds"),
        ends_at=(started + timedelta(days=days)).isoformat(timespec="seconds"),
        branch=branch,
        report=f"{places.reports_dir.name}/{report.name}",
    )
    write_text_atomic(report, render_report(trial) + "\n## Notes\n\n")
    book.trials.append(trial)
    write_json_atomic(places.book, book.model_dump(mode="json"))
    if branch:
        _create_branch(places.project, branch, checkout)
    log.info("started trial %s until %s", name, trial.ends_at)
    return trial


def _check_days(days: int, allow_long: bool) -> None:
    if days < 1:
        raise TrialError(f"--days {days}: a trial lasts at least 1 day.")
    if days > MAX_DAYS and not allow_long:
        raise TrialError(
            f"--days {days}: a trial is time-boxed to at most {MAX_DAYS} days; "
            "split it, or pass --allow-long."
        )


def _branch_for(project: Path, name: str, checkout: bool) -> str | None:
    if not git.is_repository_root(project):
        if checkout:
            raise TrialError(
                f"--checkout: {project} is not the top of a git repository."
            )
        return None
    branch = BRANCH_PREFIX + name
    if not git.has_commit(project):
        raise TrialError(
            f"{project} has no commit yet, so branch {branch} cannot be created; "
            "commit first."
        )
    if git.ref_exists(project, f"refs/heads/{branch}"):
        raise TrialError(f"Branch {branch} already exists in {project}.")
    return branch


def _create_branch(project: Path, branch: str, checkout: bool) -> None:
    git.run_git(project, "branch", "--end-of-options", branch, "HEAD")
    if checkout:
        git.run_git(project, "switch", "--quiet", branch)


def close_trial(
    places: TrialPlaces, name: str, result: str, now: datetime | None = None
) -> Trial:
    """Close a running trial and record its result in the book and the report.

    Raises:
        TrialError: No trial has that name, or it is already closed.
    """
    git.check_ref_name(name, "trial name", "NAME")
    if not result.strip():
        raise TrialError("--result is empty; state what the trial showed.")
    book = read_book(places.book)
    trial = book.find(name)
    if trial is None:
        known = ", ".join(t.name for t in book.trials) or "none"
        raise TrialError(f"No trial named {name!r} in {places.book} (trials: {known}).")
    if trial.status == "closed":
        raise TrialError(f"Trial {name!r} was already closed at {trial.closed_at}.")

    trial.status = "closed"
    trial.result = result.strip()
    trial.closed_at = (now or datetime.now(UTC)).isoformat(timespec="seconds")
    _update_report(places.report(name), trial)
    write_json_atomic(places.book, book.model_dump(mode="json"))
    log.info("closed trial %s", name)
    return trial


def render_report(trial: Trial) -> str:
    """Return the report header of a trial, between its markers."""
    lines = [
        HEADER_BEGIN,
        f"# Trial {trial.name}",
        "",
        f"- Hypothesis: {trial.hypothesis}",
        f"- Status: {trial.status}",
        f"- Time box: {count_noun(trial.days, 'day')}, {trial.started_at} to "
        f"{trial.ends_at}",
        f"- Branch: {trial.branch or 'none (not a git repository)'}",
    ]
    if trial.status == "closed":
        lines += [f"- Closed: {trial.closed_at}", f"- Result: {trial.result}"]
    return "\n".join([*lines, HEADER_END, ""])


def _update_report(path: Path, trial: Trial) -> None:
    if path.is_symlink():
        raise TrialError(
            f"{path} is a symbolic link; replace it with the report file itself."
        )
    text = path.read_text(encoding="utf-8") if path.is_file() else ""
    header = render_report(trial)
    start, end = text.find(HEADER_BEGIN), text.find(HEADER_END)
    if start != -1 and end > start:
        text = text[:start] + header + text[end + len(HEADER_END) :].lstrip("\n")
    else:
        text = header + text
    result = f"\n## Result ({trial.closed_at})\n\n{trial.result}\n"
    write_text_atomic(path, text.rstrip("\n") + "\n" + result)


def find_overdue_trials(
    project: Path, data_dir: Path, now: datetime | None = None
) -> list[Finding]:
    """Report running trials whose time box has passed.

    An unreadable trials file gives no finding; it is logged instead, so
    the rest of the plan is still made.
    """
    path = data_dir / TRIALS_FILE
    try:
        book = read_book(path)
    except TrialError as exc:
        log.warning("%s", exc)
        return []
    moment = now or datetime.now(UTC)
    shown = _shown_path(project, path)
    return [
        _overdue(trial, shown, moment)
        for trial in book.trials
        if trial.is_overdue(moment)
    ]


def _overdue(trial: Trial, shown: str, now: datetime) -> Finding:
    late = days_and_hours(now - datetime.fromisoformat(trial.ends_at), round_up=False)
    return Finding(
        kind="trial-overdue",
        severity="warning",
        message=(
            f"Trial {trial.name} is still running {late} after its "
            f"{trial.days}-day time box ended ({trial.ends_at})."
        ),
        path=shown,
        subject=trial.name,
        evidence=trial.report,
        quote=trial.hypothesis[:200],
        suggestion=f"Close it with `vpm trial close {trial.name} --result ...`.",
    )


def _shown_path(project: Path, path: Path) -> str:
    try:
        return path.resolve().relative_to(project.resolve()).as_posix()
    except ValueError:
        return str(path)
