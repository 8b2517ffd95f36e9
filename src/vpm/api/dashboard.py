"""The server-rendered dashboard and the read-only project file view.

Every piece of project text reaches the page through Jinja2 with
autoescaping on, so a summary that contains `<script>` shows as text.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path, PurePosixPath
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from vpm.api.errors import ApiError
from vpm.api.projects import ServedProject, cached_status
from vpm.api.routes import ReadAuth, find_project, service
from vpm.store.core import cycles_table, events_table
from vpm.store.tasks import list_tasks

log = logging.getLogger("vpm")

STATIC_VENDOR = Path(__file__).resolve().parent / "static" / "vendor"
MERMAID_FILE = "mermaid.min.js"
EGSPACE_FILE = "egspace.json"
TIMELINE_KINDS = ("evidence", "state", "ops")
TIMELINE_LIMIT = 15
SERIES_LIMIT = 30
EGSPACE_MOVERS = 5
# Dot folders stay hidden, because they contain vpm's database and keys
# (.vpm), version control (.git) and often secrets (.env). `.ops` contains
# the deploy freeze file that findings cite.
SHOWN_DOT_FOLDERS = {".ops"}

# Scripts and styles only from this server: an injected inline script would
# not run even if escaping failed. Mermaid's SVG carries inline styles.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; object-src 'none'; "
    "base-uri 'none'; frame-ancestors 'none'"
)

router = APIRouter(include_in_schema=False)


@router.get("/", response_class=HTMLResponse, dependencies=[ReadAuth])
def dashboard(
    request: Request, project: Annotated[str | None, Query()] = None
) -> HTMLResponse:
    """Render the dashboard of one project, the first one by default."""
    state = service(request)
    if project is None and state.projects:
        project = next(iter(state.projects))
    served = find_project(request, project)
    context = {
        "projects": list(state.projects),
        "project": served.id,
        "project_path": (
            str(served.layout.project) if state.settings.expose_paths else None
        ),
        "has_mermaid": (STATIC_VENDOR / MERMAID_FILE).is_file(),
        "has_token": state.settings.token is not None,
        **project_view(served),
    }
    response = state.templates.TemplateResponse(request, "dashboard.html", context)
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    return response


def project_view(project: ServedProject) -> dict[str, Any]:
    """Collect what the dashboard shows of one project."""
    status, _body = cached_status(project)
    reports = project.layout.reports_dir
    cycle = _read_json(reports / "cycle.json") or {}
    return {
        "status": status,
        "findings": [_with_links(project.id, f) for f in status.get("findings", [])],
        "summary": cycle.get("summary"),
        "cycle_trace_id": cycle.get("trace_id"),
        "digest": _read_text(reports / "digest.md"),
        "mermaid": _read_text(reports / "nav.mmd"),
        "timeline": _timeline(project),
        "series": _finding_series(project),
        "egspace": egspace_view(project.id, _read_json(reports / EGSPACE_FILE)),
        "tasks": _recent_tasks(project),
    }


def egspace_view(project_id: str, report: Any) -> dict[str, Any] | None:
    """Pick movers and δ over time out of `vpm egspace report`'s JSON.

    Returns None when there is no report or it has neither movers nor a
    series, so the page shows the empty panel.
    """
    if not isinstance(report, dict):
        return None
    movers = {
        side: [
            {**m, "link": file_link(project_id, m.get("source"), m.get("line"))}
            for m in report.get(side) or []
            if isinstance(m, dict)
        ][:EGSPACE_MOVERS]
        for side in ("closer", "farther")
    }
    daily = [p for p in report.get("daily") or [] if isinstance(p, dict)]
    daily = [p for p in daily if isinstance(p.get("delta"), int | float)]
    daily = daily[-SERIES_LIMIT:]
    if not (movers["closer"] or movers["farther"] or daily):
        return None
    peak = max((p["delta"] for p in daily), default=0) or 1
    series = [{**p, "percent": round(100 * p["delta"] / peak)} for p in daily]
    return {"delta": report.get("delta"), **movers, "daily": series}


def file_link(project_id: str, path: str | None, line: int | None = None) -> str | None:
    """Return the file-view URL of a project-relative path, or None."""
    if not path or path.startswith("/") or ".." in PurePosixPath(path).parts:
        return None
    url = f"/projects/{quote(project_id)}/files/{quote(path)}"
    return f"{url}#L{line}" if line else url


def _with_links(project_id: str, finding: dict[str, Any]) -> dict[str, Any]:
    return {
        **finding,
        "link": file_link(project_id, finding.get("path"), finding.get("line")),
        "evidence_link": file_link(
            project_id, finding.get("evidence"), finding.get("evidence_line")
        ),
    }


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None


def _read_json(path: Path) -> Any:
    text = _read_text(path)
    if text is None:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        log.warning("cannot read %s: %s", path, exc)
        return None


def _timeline(project: ServedProject) -> list[dict[str, Any]]:
    """Return the newest evidence, state and ops events, newest cycle first.

    File events carry no time of their own, so each is shown with the end
    of the cycle that recorded it.
    """
    query = (
        select(
            events_table.c.kind,
            events_table.c.source,
            events_table.c.timestamp,
            events_table.c.title,
            events_table.c.cycle_id,
            cycles_table.c.finished_at.label("seen_at"),
        )
        .join(cycles_table, cycles_table.c.id == events_table.c.cycle_id, isouter=True)
        .where(events_table.c.kind.in_(TIMELINE_KINDS))
        .order_by(
            events_table.c.cycle_id.desc(),
            events_table.c.timestamp.desc(),
            events_table.c.source,
        )
        .limit(TIMELINE_LIMIT)
    )
    rows = _select(project, query)
    return [{**row, "link": file_link(project.id, row["source"])} for row in rows]


def _finding_series(project: ServedProject) -> list[dict[str, Any]]:
    query = (
        select(
            cycles_table.c.id, cycles_table.c.finished_at, cycles_table.c.finding_count
        )
        .order_by(cycles_table.c.id.desc())
        .limit(SERIES_LIMIT)
    )
    rows = list(reversed(_select(project, query)))
    peak = max((row["finding_count"] for row in rows), default=0) or 1
    return [
        {**row, "percent": round(100 * row["finding_count"] / peak)} for row in rows
    ]


def _recent_tasks(project: ServedProject) -> list[dict[str, Any]]:
    try:
        return list_tasks(project.store, project.id, limit=10)
    except Exception as exc:  # a broken store must not take the page down
        log.warning("cannot list tasks of %s: %s", project.id, exc)
        return []


def _select(project: ServedProject, query: Any) -> list[dict[str, Any]]:
    try:
        with project.store.engine.connect() as conn:
            return [dict(row) for row in conn.execute(query).mappings()]
    except SQLAlchemyError as exc:
        log.warning("cannot read the store of %s: %s", project.id, exc)
        return []


# the file view


@router.get(
    "/projects/{project_id}/files/{file_path:path}",
    response_class=HTMLResponse,
    dependencies=[ReadAuth],
)
def view_file(request: Request, project_id: str, file_path: str) -> HTMLResponse:
    """Show one project file with numbered lines; `#L12` jumps to line 12."""
    served = find_project(request, project_id)
    path = resolve_project_file(served.layout.project, file_path)
    limit = service(request).settings.file_view_max_bytes
    with path.open("rb") as handle:
        data = handle.read(limit + 1)
    if b"\0" in data:
        raise ApiError(415, "binary-file", f"{file_path} is a binary file.")
    truncated = len(data) > limit
    text = data[:limit].decode("utf-8", errors="replace")
    context = {
        "project": served.id,
        "path": file_path,
        "lines": text.splitlines(),
        "truncated": truncated,
        "limit": limit,
    }
    response = service(request).templates.TemplateResponse(
        request, "file.html", context
    )
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    return response


def resolve_project_file(root: Path, rel: str) -> Path:
    """Resolve a project-relative path, rejecting anything outside the project.

    Raises:
        ApiError: 403 for a path outside the project or in a hidden folder,
            404 for a file that does not exist.
    """
    parts = PurePosixPath(rel).parts
    if not rel or rel.startswith("/") or "\\" in rel or "\0" in rel or ".." in parts:
        raise ApiError(
            403, "path-outside-project", f"{rel!r} is not a path inside the project."
        )
    root = root.resolve()
    path = (root / rel).resolve()
    if not path.is_relative_to(root):
        raise ApiError(
            403,
            "path-outside-project",
            f"{rel!r} resolves to a place outside the project.",
        )
    inside = path.relative_to(root).parts
    hidden = [p for p in (*parts, *inside) if p.startswith(".")]
    if any(p not in SHOWN_DOT_FOLDERS for p in hidden):
        raise ApiError(
            403, "path-not-shown", f"{rel!r} is in a hidden folder or is a hidden file."
        )
    if not path.is_file():
        raise ApiError(404, "file-not-found", f"{rel!r} is not a file of the project.")
    return path
