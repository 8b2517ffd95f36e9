"""The `vpm evidence`, `vpm freeze`, `vpm trial` and `vpm snapshot` commands.

Exit status: 0 when a check passes or a command did its work, 1 when a
check fails (or a run-time error occurred), 2 for a usage error: a bad
option, file, ref or name.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from vpm.clitools import user_errors
from vpm.errors import UserError
from vpm.evidence.body import read_body
from vpm.evidence.counts import count_noun, days_and_hours
from vpm.evidence.dod import DodCheck, check_dod, read_policy
from vpm.evidence.freeze import read_freeze_record, set_freeze, to_json
from vpm.evidence.prcheck import PullRequestCheck, check_pull_request
from vpm.evidence.snapshot import take_snapshot
from vpm.evidence.trials import (
    Trial,
    close_trial,
    read_book,
    start_trial,
    trial_places,
)
from vpm.state.lint import FREEZE_FILE

console = Console(highlight=False, soft_wrap=True)

evidence_app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Check a pull request's evidence block and definition of done.",
)
freeze_app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help=f"Turn the deploy freeze ({FREEZE_FILE}) on or off, or show it.",
)
trial_app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Start, list and close time-boxed trial experiments.",
)


class OutputFormat(StrEnum):
    """Output format of a reporting command."""

    text = "text"
    json = "json"


class CheckFormat(StrEnum):
    """Output format of a check; `github` prints workflow annotations."""

    text = "text"
    json = "json"
    github = "github"


ProjectArg = Annotated[
    Path, typer.Argument(help="Project folder (default: the current folder).")
]
OutOption = Annotated[
    Path | None,
    typer.Option(
        "--out", metavar="DIR", help="Keep records under DIR instead of the project."
    ),
]
FormatOption = Annotated[
    OutputFormat, typer.Option("--format", help="Output format: text or json.")
]
CheckFormatOption = Annotated[
    CheckFormat,
    typer.Option("--format", help="Output format: text, json or github annotations."),
]
BodyOption = Annotated[
    str | None,
    typer.Option(
        "--body", metavar="FILE", help="Pull request body file, or - for stdin."
    ),
]
BodyArg = Annotated[
    str | None,
    typer.Argument(
        metavar="BODY_FILE",
        help="The body file as an argument, as pre-commit passes a commit message.",
        show_default=False,
    ),
]


def _body_source(option: str | None, argument: str | None) -> str:
    """Return the body source given by --body or by the BODY_FILE argument."""
    if option and argument:
        raise UserError(
            f"Give the body once: both --body {option} and the argument "
            f"{argument} were given."
        )
    if not option and not argument:
        raise UserError("Missing the body: pass --body FILE (or - for stdin).")
    return option or argument or ""


def _print_json(payload: Any) -> None:
    text = json.dumps(payload, ensure_ascii=False, indent=2, default=str)
    sys.stdout.write(text + "\n")


# vpm evidence check / dod


@evidence_app.command("check")
def evidence_check(
    body_file: BodyArg = None,
    body: BodyOption = None,
    base: Annotated[
        str, typer.Option("--base", metavar="REF", help="Branch or commit merged into.")
    ] = ...,
    head: Annotated[
        str,
        typer.Option("--head", metavar="REF", help="Pull request head commit."),
    ] = "HEAD",
    repo: Annotated[
        Path, typer.Option("--repo", metavar="DIR", help="Git repository folder.")
    ] = Path("."),
    staged: Annotated[
        bool,
        typer.Option(
            "--staged", help="Check the staged changes against --base (for hooks)."
        ),
    ] = False,
    require_evidence: Annotated[
        bool,
        typer.Option(
            "--require-evidence",
            help="Fail when no evidence is listed or a changed reports/ file is not.",
        ),
    ] = False,
    output_format: CheckFormatOption = CheckFormat.text,
) -> None:
    """Check the ```evidence block of a PR body against `git diff BASE...HEAD`.

    Fails (exit 1) when a listed path is not a path, points outside the
    repository, does not exist at HEAD, or is not changed by the diff. With
    --require-evidence it also fails when nothing is listed or a changed
    file under reports/ is not listed. Exit 2 means a usage error.

    Example: vpm evidence check --body pr.md --base origin/main --format github
    """
    with user_errors():
        body = _body_source(body, body_file)
        text = read_body(body)
        result = check_pull_request(
            repo,
            text,
            base,
            None if staged else head,
            require_evidence=require_evidence,
        )
    _print_pr_check(result, body, output_format)
    if not result.passed:
        raise typer.Exit(1)


def _print_pr_check(result: PullRequestCheck, body: str, fmt: CheckFormat) -> None:
    if fmt is CheckFormat.json:
        _print_json({"passed": result.passed, **result.model_dump(mode="json")})
        return
    if fmt is CheckFormat.github:
        for issue in result.issues:
            file = issue.path if issue.kind == "unlisted-report" else _body_file(body)
            line = None if issue.kind == "unlisted-report" else issue.line
            print(annotation("error", issue.message, file, line, issue.kind))
        if not result.has_block:
            print(annotation("notice", "The body has no evidence block.", None, None))
        return
    for issue in result.issues:
        where = f"line {issue.line}: " if issue.line else ""
        console.print(f"[red]{issue.kind}[/red] {where}{escape(issue.message)}")
    listed = sum(1 for item in result.entries if item.entry.path)
    head = result.head[:12] if result.head else "the index"
    paths = count_noun(listed, "evidence path")
    changed = count_noun(len(result.changed), "changed file")
    summary = f"{paths} checked against {changed} ({result.merge_base[:12]}...{head})"
    if not result.has_block:
        summary += "; the body has no evidence block"
    issues = count_noun(len(result.issues), "issue")
    verdict = "passed" if result.passed else f"failed with {issues}"
    console.print(f"{summary}: {verdict}.")


def _body_file(body: str) -> str | None:
    return None if body == "-" else body


def annotation(
    level: str, message: str, file: str | None, line: int | None, title: str = ""
) -> str:
    """Return a GitHub Actions workflow command such as `::error file=a,line=3::m`.

    Values are escaped as the workflow-command syntax requires: `%`, CR
    and LF everywhere, and `:` and `,` also inside properties.
    """
    properties = []
    if file:
        properties.append(f"file={_escape_property(file)}")
    if file and line:
        properties.append(f"line={line}")
    if title:
        properties.append(f"title={_escape_property(title)}")
    props = " " + ",".join(properties) if properties else ""
    return f"::{level}{props}::{_escape_data(message)}"


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


@evidence_app.command("dod")
def evidence_dod(
    body_file: BodyArg = None,
    body: BodyOption = None,
    policy: Annotated[
        Path,
        typer.Option(
            "--policy", metavar="FILE", help="YAML or JSON file of required items."
        ),
    ] = ...,
    output_format: CheckFormatOption = CheckFormat.text,
) -> None:
    """Check that every definition-of-done item of the policy is ticked in the body.

    Items match regardless of full-width or half-width characters, case and
    whitespace; `［ｘ］` counts as ticked. Exit 1 when an item is missing or
    unticked, exit 2 for a usage error.

    Example: vpm evidence dod --body pr.md --policy .github/dod.yml
    """
    with user_errors():
        body = _body_source(body, body_file)
        rules = read_policy(policy)
        result = check_dod(read_body(body), rules)
    _print_dod(result, body, output_format)
    if not result.passed:
        raise typer.Exit(1)


def _print_dod(result: DodCheck, body: str, fmt: CheckFormat) -> None:
    if fmt is CheckFormat.json:
        _print_json({"passed": result.passed, **result.model_dump(mode="json")})
        return
    if fmt is CheckFormat.github:
        for item in result.items:
            if item.status != "ticked":
                message = f"Definition-of-done item {item.status}: {item.item}"
                print(annotation("error", message, _body_file(body), item.line, "dod"))
        return
    for item in result.items:
        style = "green" if item.status == "ticked" else "red"
        where = f" (line {item.line})" if item.line else ""
        console.print(f"[{style}]{item.status}[/{style}] {escape(item.item)}{where}")
    ticked = sum(1 for item in result.items if item.status == "ticked")
    verdict = "passed" if result.passed else "failed"
    console.print(f"{ticked} of {len(result.items)} required items ticked: {verdict}.")


# vpm freeze


ReasonOption = Annotated[
    str | None, typer.Option("--reason", help="Why the freeze changes.")
]
ByOption = Annotated[
    str | None,
    typer.Option("--by", help="Who changes it (default: the current user)."),
]


@freeze_app.command("on")
def freeze_on(
    project: ProjectArg = Path("."),
    reason: ReasonOption = None,
    by: ByOption = None,
    until: Annotated[
        str | None,
        typer.Option(
            "--until",
            help="Condition for lifting it, e.g. 'P5-4 done'; the planner reports "
            "the freeze once the milestones it names are done.",
        ),
    ] = None,
    output_format: FormatOption = OutputFormat.text,
) -> None:
    """Freeze deploys, so that commands that deploy or apply stop with an error."""
    with user_errors():
        if not reason or not reason.strip():
            raise UserError("--reason is required to turn the freeze on.")
        record = set_freeze(project, True, reason.strip(), by, until)
    _print_freeze(to_json(record), output_format, "Deploy freeze is on")


@freeze_app.command("off")
def freeze_off(
    project: ProjectArg = Path("."),
    reason: ReasonOption = None,
    by: ByOption = None,
    output_format: FormatOption = OutputFormat.text,
) -> None:
    """Lift the deploy freeze."""
    with user_errors():
        record = set_freeze(project, False, reason.strip() if reason else None, by)
    _print_freeze(to_json(record), output_format, "Deploy freeze is off")


@freeze_app.command("status")
def freeze_status(
    project: ProjectArg = Path("."),
    output_format: FormatOption = OutputFormat.text,
) -> None:
    """Show the deploy freeze; exit 0 whether it is on or off."""
    with user_errors():
        record = read_freeze_record(project)
    if record is None:
        if output_format is OutputFormat.json:
            _print_json({"freeze": None, "file": FREEZE_FILE})
        else:
            console.print(
                f"No deploy freeze file ({FREEZE_FILE}); deploys are allowed."
            )
        return
    title = "Deploy freeze is on" if record.freeze else "Deploy freeze is off"
    _print_freeze(to_json(record), output_format, title)


def _print_freeze(data: dict[str, Any], fmt: OutputFormat, title: str) -> None:
    if fmt is OutputFormat.json:
        _print_json(data)
        return
    console.print(f"{title} ({FREEZE_FILE}).")
    for key in ("reason", "by", "at", "until_condition"):
        if data.get(key):
            console.print(f"  {key}: {escape(str(data[key]))}")


# vpm trial


@trial_app.command("start")
def trial_start(
    name: Annotated[str, typer.Argument(help="Trial name: letters, digits, . _ -")],
    days: Annotated[
        int, typer.Option("--days", help="Length of the time box in days.")
    ],
    hypothesis: Annotated[
        str, typer.Option("--hypothesis", help="What the trial should show.")
    ],
    project: ProjectArg = Path("."),
    out: OutOption = None,
    allow_long: Annotated[
        bool, typer.Option("--allow-long", help="Allow a time box over 14 days.")
    ] = False,
    checkout: Annotated[
        bool, typer.Option("--checkout", help="Switch to the new trial/NAME branch.")
    ] = False,
    output_format: FormatOption = OutputFormat.text,
) -> None:
    """Start a time-boxed trial: record it, write its report, create trial/NAME.

    Example: vpm trial start cache-warmup --days 7 --hypothesis "p95 drops"
    """
    with user_errors():
        places = trial_places(project, out)
        trial = start_trial(
            places, name, days, hypothesis, allow_long=allow_long, checkout=checkout
        )
    if output_format is OutputFormat.json:
        _print_json(trial.model_dump(mode="json"))
        return
    console.print(f"Started trial {trial.name} until {trial.ends_at}.")
    console.print(f"Report: {places.report(trial.name)}")
    if trial.branch:
        state = "checked out" if checkout else "created, not checked out"
        console.print(f"Branch: {trial.branch} ({state})")


@trial_app.command("status")
def trial_status(
    project: ProjectArg = Path("."),
    out: OutOption = None,
    output_format: FormatOption = OutputFormat.text,
) -> None:
    """List trials with their time boxes; overdue ones are marked."""
    with user_errors():
        places = trial_places(project, out)
        book = read_book(places.book)
    now = datetime.now(UTC)
    if output_format is OutputFormat.json:
        rows = [
            {**trial.model_dump(mode="json"), "overdue": trial.is_overdue(now)}
            for trial in book.trials
        ]
        _print_json({"trials": rows})
        return
    if not book.trials:
        console.print("No trials.")
    for trial in book.trials:
        console.print(_trial_line(trial, now))


def _trial_line(trial: Trial, now: datetime) -> str:
    if trial.status == "closed":
        return f"{trial.name}: closed {trial.closed_at}: {escape(trial.result or '')}"
    ends = datetime.fromisoformat(trial.ends_at)
    if trial.is_overdue(now):
        return f"[red]{trial.name}: overdue[/red] since {trial.ends_at}"
    left = days_and_hours(ends - now, round_up=True)
    return f"{trial.name}: running, {left} left (until {trial.ends_at})"


@trial_app.command("close")
def trial_close(
    name: Annotated[str, typer.Argument(help="Name of the running trial.")],
    result: Annotated[str, typer.Option("--result", help="What the trial showed.")],
    project: ProjectArg = Path("."),
    out: OutOption = None,
    output_format: FormatOption = OutputFormat.text,
) -> None:
    """Close a trial and record its result in the book and its report."""
    with user_errors():
        places = trial_places(project, out)
        trial = close_trial(places, name, result)
    if output_format is OutputFormat.json:
        _print_json(trial.model_dump(mode="json"))
        return
    console.print(f"Closed trial {trial.name}: {escape(trial.result or '')}")
    console.print(f"Report: {places.report(trial.name)}")


# vpm snapshot


def snapshot(
    tag: Annotated[str, typer.Argument(help="Name of the annotated tag to create.")],
    project: ProjectArg = Path("."),
    message: Annotated[
        str | None, typer.Option("--message", "-m", help="Tag message.")
    ] = None,
    out: OutOption = None,
    output_format: FormatOption = OutputFormat.text,
) -> None:
    """Snapshot the evidence of milestones done since the last snapshot, and tag HEAD.

    Writes reports/snapshot_TAG.md with the sha256 of every evidence file,
    records it in the provenance ledger and creates the annotated tag TAG.

    Example: vpm snapshot phase5-complete -m "Phase 5 exit"
    """
    with user_errors():
        result = take_snapshot(project, tag, message, out)
    if output_format is OutputFormat.json:
        _print_json(
            {
                **result.record.model_dump(mode="json"),
                "report_path": str(result.report_path),
                "ledger_records": result.ledger_records,
            }
        )
        return
    count = count_noun(len(result.milestones), "milestone")
    console.print(f"Tagged {tag} at {result.record.commit[:12]}: {count}.")
    console.print(f"Report: {result.report_path}")
