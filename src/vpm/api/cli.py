"""The `vpm serve` and `vpm probe` commands.

The service modules are imported inside the commands, so other `vpm`
commands do not pay for importing FastAPI and uvicorn.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from vpm.errors import UserError, VpmError

console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)


def _fail(exc: VpmError) -> typer.Exit:
    err_console.print(f"Error: {escape(str(exc))}")
    return typer.Exit(2 if isinstance(exc, UserError) else 1)


def serve(
    projects: Annotated[
        list[Path] | None,
        typer.Argument(help="Project folders to serve (default: the current folder)."),
    ] = None,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option("--port", help="TCP port to listen on.")] = 8000,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Write each project's outputs under DIR/ID."),
    ] = None,
) -> None:
    """Serve the API, the dashboard and /metrics over one or more projects.

    Each project's id is its folder name, made unique with -2, -3 ... The
    API is documented at /docs. Write endpoints need `Authorization: Bearer
    TOKEN` when VPM_API_TOKEN is set.

    Example: vpm serve examples/demo --port 8000
    """
    from vpm.api.server import serve as run_server

    try:
        run_server(projects or [Path(".")], host, port, out)
    except VpmError as exc:
        raise _fail(exc) from exc


def probe(
    url: Annotated[str, typer.Argument(help="URL to send GET requests to.")],
    requests: Annotated[
        int, typer.Option("--requests", "-n", help="Number of requests to send.")
    ] = 100,
    concurrency: Annotated[
        int, typer.Option("--concurrency", "-c", help="Requests in flight at once.")
    ] = 8,
    allow_remote: Annotated[
        bool,
        typer.Option("--allow-remote", help="Allow a host that is not loopback."),
    ] = False,
    timeout: Annotated[
        float, typer.Option("--timeout", help="Timeout of each request, in seconds.")
    ] = 10.0,
    header: Annotated[
        list[str] | None,
        typer.Option("--header", "-H", help="Extra request header 'Name: value'."),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Write the report to FILE.json and FILE.md."),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the report as JSON.")
    ] = False,
) -> None:
    """Send a bounded load to URL and report latency, throughput and fallbacks.

    Only loopback hosts are accepted unless --allow-remote is given.

    Example: vpm probe http://127.0.0.1:8000/api/v1/status -n 500 -c 16 --out
    reports/probe_status.json
    """
    from vpm.probe import render_markdown, run_probe, write_report

    try:
        headers = _parse_headers(header or [])
        report = run_probe(
            url,
            requests,
            concurrency,
            allow_remote=allow_remote,
            timeout=timeout,
            headers=headers,
        )
        written = write_report(report, out) if out else ()
    except VpmError as exc:
        raise _fail(exc) from exc
    if as_json:
        sys.stdout.write(json.dumps(report.to_dict(), indent=2) + "\n")
    else:
        console.print(escape(render_markdown(report)), end="")
    for path in written:
        err_console.print(f"Wrote {escape(str(path))}")
    if report.successes == 0:
        raise typer.Exit(1)


def _parse_headers(values: list[str]) -> dict[str, str]:
    headers = {}
    for value in values:
        name, sep, content = value.partition(":")
        if not sep or not name.strip():
            raise UserError(f"invalid --header {value!r}: expected 'Name: value'")
        headers[name.strip()] = content.strip()
    return headers
