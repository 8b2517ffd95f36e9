"""The `vpm egspace` commands: index, report, search."""

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
from vpm.egspace.index import (
    build_index,
    embedder_for_index,
    index_exists,
    open_vector_store,
)
from vpm.egspace.render import mover_line, render_markdown
from vpm.egspace.report import build_report, load_space
from vpm.egspace.space import DEFAULT_HALF_LIFE_DAYS
from vpm.errors import UserError
from vpm.fsio import write_json_atomic, write_text_atomic
from vpm.pipeline import Layout
from vpm.settings import load_settings

app = typer.Typer(
    no_args_is_help=True,
    help="EG-Space: embed events and goals; C, G, δ and the items that moved them.",
)
console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)


class OutputFormat(StrEnum):
    text = "text"
    json = "json"


class EmbedderChoice(StrEnum):
    lexical = "lexical"
    neural = "neural"


ProjectArg = Annotated[
    Path, typer.Argument(help="Project folder (default: the current folder).")
]
OutOption = Annotated[
    Path | None,
    typer.Option("--out", help="Read and write vpm's data under this folder."),
]
FormatOption = Annotated[
    OutputFormat, typer.Option("--format", help="Output format: text or json.")
]


@app.command("index")
def index_command(
    project: ProjectArg = Path("."),
    out: OutOption = None,
    embedder: Annotated[
        EmbedderChoice | None,
        typer.Option(
            "--embedder",
            help="lexical or neural (default: VPM_EMBEDDER, "
            "else neural when installed, else lexical).",
        ),
    ] = None,
    history: Annotated[
        Path | None,
        typer.Option(
            "--history",
            help="Folder of past state documents "
            "(default: PROJECT/state_history, else git history).",
        ),
    ] = None,
    rebuild: Annotated[
        bool, typer.Option("--rebuild", help="Re-embed every item.")
    ] = False,
    output_format: FormatOption = OutputFormat.text,
) -> None:
    """Embed every item the watcher recorded, and the goal G. Only changes are embedded.

    Items come from the last cycle's events; before the first cycle the
    project is scanned read-only. Example: vpm egspace index . --embedder lexical
    """
    with user_errors():
        layout = Layout.for_project(project, out)
        settings = load_settings(layout.project)
        result = build_index(
            layout.project,
            layout.data_dir,
            settings,
            embedder=embedder.value if embedder else None,
            history=history,
            rebuild=rebuild,
        )
    if output_format is OutputFormat.json:
        _print_json(
            {**vars(result), "problems": [p.model_dump() for p in result.problems]}
        )
        return
    for problem in result.problems:
        err_console.print(f"Warning: {escape(problem.render())}")
    source = "the last cycle" if result.events_from == "store" else "a read-only scan"
    console.print(
        f"Indexed {result.items} items from {source}: {result.embedded} embedded, "
        f"{result.unchanged} unchanged, {result.deleted} removed."
    )
    console.print(
        f"Goal: {result.goal_lines} lines ({result.versions} past versions), "
        f"{result.goals_embedded} embedded."
    )
    console.print(f"Embedder: {result.embedder} {result.embedder_version}")
    console.print(f"Store: {result.backend} ({result.seconds:.1f} s)")


@app.command("report")
def report_command(
    project: ProjectArg = Path("."),
    out: OutOption = None,
    since: Annotated[
        str | None,
        typer.Option(
            "--since", help="List movers and days from this date (YYYY-MM-DD) on."
        ),
    ] = None,
    half_life: Annotated[
        float,
        typer.Option(
            "--half-life", min=0.1, help="Half-life of an item's weight in C, in days."
        ),
    ] = DEFAULT_HALF_LIFE_DAYS,
    output_format: FormatOption = OutputFormat.text,
) -> None:
    """Print and write C, G, δ, the movers and δ over time (reports/vpm/egspace.*)."""
    with user_errors():
        layout = Layout.for_project(project, out)
        settings = load_settings(layout.project)
        _require_index(layout, settings)
        with open_vector_store(layout.data_dir, settings.database_url) as store:
            state = load_space(store, half_life)
        report = build_report(state, _parse_since(since))
        markdown = render_markdown(report)
        data = report.to_dict()
        write_text_atomic(layout.reports_dir / "egspace.md", markdown)
        write_json_atomic(layout.reports_dir / "egspace.json", data)
    if output_format is OutputFormat.json:
        _print_json(data)
        return
    _print_report(report)
    console.print(f"\nReport: {layout.reports_dir / 'egspace.md'}")


@app.command("search")
def search_command(
    text: Annotated[str, typer.Argument(help="Text to search for.")],
    project: ProjectArg = Path("."),
    out: OutOption = None,
    k: Annotated[int, typer.Option("-k", min=1, help="Number of items.")] = 5,
    output_format: FormatOption = OutputFormat.text,
) -> None:
    """Print the indexed items nearest to TEXT, nearest first."""
    with user_errors():
        layout = Layout.for_project(project, out)
        settings = load_settings(layout.project)
        _require_index(layout, settings)
        with open_vector_store(layout.data_dir, settings.database_url) as store:
            query = embedder_for_index(store).embed([text])[0]
            hits = store.nearest(query, k)
    rows = [
        {
            "distance": round(d, 4),
            "location": _location(i.source, i.line),
            "kind": i.kind,
            "title": i.title,
            "timestamp": i.timestamp,
            "preview": i.preview,
        }
        for i, d in hits
    ]
    if output_format is OutputFormat.json:
        _print_json(rows)
        return
    for row in rows:
        console.print(
            f"{row['distance']:.3f}  {escape(row['location'])}  "
            f"[dim]{escape(row['preview'][:100])}[/dim]"
        )


def _require_index(layout: Layout, settings: Any) -> None:
    if not index_exists(layout.data_dir, settings.database_url):
        raise UserError(
            f"no EG-Space index in {layout.data_dir}; run `vpm egspace index` first"
        )


def _parse_since(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise UserError(f"--since {value!r} is not a date; use YYYY-MM-DD") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _location(source: str, line: int | None) -> str:
    return f"{source}:{line}" if line else source


def _print_report(report: Any) -> None:
    delta = "n/a" if report.delta is None else f"{report.delta:.3f}"
    console.print(
        f"[bold]δ[/bold] = 1 − cos(C, G) = {delta}  "
        f"[dim]({report.items} items, {report.items_in_current} in C, "
        f"{escape(report.embedder)}, {escape(report.backend)})[/dim]"
    )
    for title, rows in (
        ("Closer to the goal", report.closer),
        ("Farther from the goal", report.farther),
    ):
        console.print(f"\n[bold]{title}[/bold]")
        for mover in rows or []:
            console.print(escape(mover_line(mover)[:220]))
        if not rows:
            console.print("- (none)")
    if report.versions:
        last = [p for p in report.versions if p.delta is not None][-5:]
        trail = ", ".join(f"{p.label} {p.delta:.3f}" for p in last)
        console.print(f"\n[bold]δ per state version[/bold] (last {len(last)}): {trail}")


def _print_json(payload: Any) -> None:
    sys.stdout.write(
        json.dumps(payload, ensure_ascii=False, indent=2, default=str) + "\n"
    )
