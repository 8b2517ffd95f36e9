"""The `vpm` command.

The library raises; only this module prints. A `UserError` becomes one
`Error: ...` line on stderr and exit status 2, any other `VpmError` exit
status 1.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from vpm.clitools import FormatOption, OutputFormat, err_console, user_errors
from vpm.errors import UserError
from vpm.model import Finding
from vpm.pipeline import Layout, check_setting_paths, run_cycle
from vpm.roles.planner import PlanInput, PlanOutput, plan
from vpm.settings import load_settings
from vpm.state.lint import lint_document
from vpm.state.parse import read_state
from vpm.store import read_last_cycle

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Steer a project by its state document: C, G, the gap δ and the next move.",
)
console = Console(highlight=False, soft_wrap=True)

SEVERITY_STYLE = {"error": "red", "warning": "yellow", "info": "cyan"}


ProjectArg = Annotated[
    Path, typer.Argument(help="Project folder (default: the current folder).")
]
OutOption = Annotated[
    Path | None,
    typer.Option(
        "--out", help="Write outputs under this folder instead of the project."
    ),
]


@app.callback()
def _configure(
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Log progress.")
    ] = False,
) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


@app.command()
def cycle(
    project: ProjectArg = Path("."),
    out: OutOption = None,
    output_format: FormatOption = OutputFormat.text,
    rescan: Annotated[
        bool,
        typer.Option(
            "--rescan",
            help="Hash every watched file, also those whose size and mtime "
            "are unchanged.",
        ),
    ] = False,
) -> None:
    """Run one full cycle of the five roles over PROJECT and write its outputs.

    Example: vpm cycle examples/demo --out out/demo
    """
    with user_errors():
        result = run_cycle(project, out, rescan=rescan)
    if output_format is OutputFormat.json:
        payload = {
            "noop": result.noop,
            "cycle_id": result.cycle_id,
            "events": result.event_counts,
            "summary": result.summary,
            "plan": result.plan.model_dump() if result.plan else None,
            "problems": [p.model_dump() for p in result.problems],
            "outputs": result.archive.outputs if result.archive else {},
            "durations_ms": result.durations_ms,
        }
        _print_json(payload)
        _fail_without_provenance(result)
        return
    _print_problems(result.problems)
    if result.noop:
        console.print(
            f"Nothing new since cycle {result.cycle_id}; nothing was written."
        )
        return
    events = ", ".join(f"{n} {k}" for k, n in sorted(result.event_counts.items()))
    console.print(f"Cycle {result.cycle_id}: {events or 'no'} events.")
    if result.plan:
        console.print(f"δ: {escape(result.plan.delta)}")
        console.print(f"Next move: {escape(result.plan.next_move.action)}")
    if result.archive:
        console.print(f"Report: {result.archive.report_markdown}")
        digest = Path(result.archive.report_markdown).with_name("digest.md")
        console.print(f"Digest: {digest}")
    _fail_without_provenance(result)


def _fail_without_provenance(result: Any) -> None:
    """Exit 1 when the cycle's outputs exist but the ledger lacks the cycle."""
    if result.archive and result.archive.provenance_error:
        err_console.print(
            f"Error: cycle {result.cycle_id} was stored but not recorded in the "
            f"provenance ledger: {escape(result.archive.provenance_error)}"
        )
        raise typer.Exit(1)


@app.command()
def status(
    project: ProjectArg = Path("."),
    out: OutOption = None,
    output_format: FormatOption = OutputFormat.text,
) -> None:
    """Print phase, C, G, δ and the next move; reads files, writes nothing."""
    with user_errors():
        layout = Layout.for_project(project, out)
        settings = load_settings(layout.project)
        check_setting_paths(settings)
        result = plan(
            PlanInput(
                project=str(layout.project),
                state_file=settings.state_file,
                data_dir=str(layout.data_dir),
            )
        )
        last = read_last_cycle(layout.database)
    if output_format is OutputFormat.json:
        _print_json({**result.model_dump(), "last_cycle": last})
        return
    _print_plan(result, layout.project)
    if last:
        console.print(f"\nLast cycle: {last['id']} at {last['finished_at']}")
    else:
        console.print("\nNo cycle has run yet.")


@app.command()
def lint(
    state_file: Annotated[Path, typer.Argument(help="State document to lint.")],
    project: Annotated[
        Path | None,
        typer.Option("--project", help="Check cited evidence against this folder."),
    ] = None,
    output_format: FormatOption = OutputFormat.text,
) -> None:
    """Lint one state document; exit 1 when a finding is an error.

    Without --project only the document itself is checked; with it, every
    cited evidence file is checked as a cycle would.
    """
    with user_errors():
        findings, problems = _lint(state_file, project)
    if output_format is OutputFormat.json:
        _print_json(
            {
                "findings": [f.model_dump() for f in findings],
                "problems": [p.model_dump() for p in problems],
            }
        )
    else:
        for problem in problems:
            console.print(f"{escape(problem.render())} [dim](problem)[/dim]")
        for finding in findings:
            console.print(_finding_text(finding))
        console.print(f"{len(findings)} findings, {len(problems)} problems.")
    if any(f.severity == "error" for f in findings):
        raise typer.Exit(1)


def _lint(state_file: Path, project: Path | None) -> tuple[list[Finding], list[Any]]:
    if project is None:
        doc = read_state(state_file, str(state_file))
        return lint_document(doc, None, check_freeze=False), doc.problems
    root = project.resolve()
    resolved = state_file.resolve()
    if not resolved.is_relative_to(root):
        raise UserError(f"{state_file} is not inside the project folder {project}")
    rel = resolved.relative_to(root).as_posix()
    result = plan(PlanInput(project=str(root), state_file=rel))
    return result.findings, result.problems


def _print_json(payload: Any) -> None:
    sys.stdout.write(
        json.dumps(payload, ensure_ascii=False, indent=2, default=str) + "\n"
    )


def _print_problems(problems: list[Any]) -> None:
    for problem in problems:
        err_console.print(f"Warning: {escape(problem.render())}")


def _finding_text(finding: Finding) -> str:
    style = SEVERITY_STYLE[finding.severity]
    location, message = escape(finding.location), escape(finding.message)
    text = f"[{style}]{finding.kind}[/{style}] {location}: {message}"
    if finding.evidence:
        where = finding.evidence + (
            f":{finding.evidence_line}" if finding.evidence_line else ""
        )
        text += f"\n    evidence {escape(where)}"
    if finding.quote:
        text += f"\n    “{escape(finding.quote[:160])}”"
    if finding.suggestion:
        text += f"\n    → {escape(finding.suggestion)}"
    return text


def _print_plan(result: PlanOutput, project: Path) -> None:
    console.print(f"[bold]Project[/bold] {escape(str(project))}")
    console.print(f"[bold]State[/bold]   {escape(result.state_path)}")
    console.print(f"[bold]Phase[/bold]   {escape(result.phase or 'unknown')}")
    _print_problems(result.problems)
    console.print("\n[bold]C (current position)[/bold]")
    for line in result.current:
        console.print(f"  - {escape(line.text)}  [dim]L{line.line}[/dim]")
    console.print("\n[bold]G (goal)[/bold]")
    for line in result.goal:
        console.print(f"  - {escape(line.text)}  [dim]L{line.line}[/dim]")
    if result.criteria:
        console.print("\n[bold]Exit criteria[/bold]")
        for criterion in result.criteria:
            mark = "[green]met[/green]" if criterion.met else "[red]not met[/red]"
            console.print(
                f"  {mark} {escape(criterion.text)}\n      {escape(criterion.basis)}"
            )
    console.print(f"\n[bold]δ (gap)[/bold] {escape(result.delta)}")
    for finding in result.findings:
        console.print("  " + _finding_text(finding).replace("\n", "\n  "))
    move = result.next_move
    console.print(f"\n[bold]Next move[/bold] {escape(move.action)}")
    console.print(f"  rule {move.rule}: {escape(move.reason)}")


from vpm.prov.cli import app as prov_app  # noqa: E402

app.add_typer(prov_app, name="prov")

from vpm.evidence import cli as evidence_cli  # noqa: E402

app.add_typer(evidence_cli.evidence_app, name="evidence")
app.add_typer(evidence_cli.freeze_app, name="freeze")
app.add_typer(evidence_cli.trial_app, name="trial")
app.command("snapshot")(evidence_cli.snapshot)

from vpm.quality import cli as quality_cli  # noqa: E402

app.command("summarize")(quality_cli.summarize)
app.command("quality")(quality_cli.quality)

from vpm.api import cli as api_cli  # noqa: E402

app.command("serve")(api_cli.serve)
app.command("probe")(api_cli.probe)


from vpm.egspace.cli import app as egspace_app  # noqa: E402

app.add_typer(egspace_app, name="egspace")


def main() -> None:
    app()
