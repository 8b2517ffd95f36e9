"""JSON endpoints under /api/v1, and the health and metrics endpoints."""

from __future__ import annotations

import asyncio
import hmac
import logging
import os
import unicodedata
import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
)
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from vpm.api.ask import ASK_RETRY_AFTER_SECONDS, AskBusy, answer_question
from vpm.api.cycles import CycleBusy
from vpm.api.errors import ApiError
from vpm.api.projects import (
    ServedProject,
    cached_status,
    fresh_status,
    public_path,
)
from vpm.errors import VpmError
from vpm.fsio import write_json_atomic
from vpm.roles.context import utc_now
from vpm.store.tasks import dedupe_key, format_time, insert_task_once, list_tasks

log = logging.getLogger("vpm")

MAX_QUESTION_CHARS = 2000
TASK_EVIDENCE_DIR = "tasks"


def service(request: Request) -> Any:
    return request.app.state.vpm


def trace_id_of(request: Request) -> str:
    return request.scope["state"]["trace_id"]


def _check_token(request: Request) -> None:
    token = service(request).settings.token
    if token is None:
        return
    scheme, _, presented = request.headers.get("authorization", "").partition(" ")
    presented_bytes = presented.strip().encode()
    expected = token.get_secret_value().encode()
    # ServiceSettings rejects an empty token. The emptiness checks keep an
    # empty presented token from matching if one got through anyway.
    is_valid = (
        scheme.lower() == "bearer"
        and bool(presented_bytes)
        and bool(expected)
        and hmac.compare_digest(presented_bytes, expected)
    )
    if not is_valid:
        log.info(
            "rejected %s %s: missing or wrong bearer token (trace %s)",
            request.method,
            request.url.path,
            trace_id_of(request),
        )
        raise ApiError(
            401,
            "unauthorized",
            "This endpoint requires 'Authorization: Bearer TOKEN' with the "
            "token set in VPM_API_TOKEN.",
            headers={"WWW-Authenticate": "Bearer"},
        )


# The auth dependencies are async because FastAPI runs a sync dependency in
# a worker thread, which would cost a thread hop on every request.


async def require_write(request: Request) -> None:
    """Require the bearer token when VPM_API_TOKEN is set."""
    _check_token(request)


async def require_read(request: Request) -> None:
    """Require the bearer token when VPM_API_READ_AUTH is also true."""
    if service(request).settings.read_auth:
        _check_token(request)


router = APIRouter()
ReadAuth = Depends(require_read)
WriteAuth = Depends(require_write)
ProjectQuery = Annotated[
    str | None,
    Query(description="Project id; may be left out when one project is served."),
]


def find_project(request: Request, project_id: str | None) -> ServedProject:
    """Return the served project with this id, or the only one served."""
    projects = service(request).projects
    if project_id is None:
        if len(projects) == 1:
            return next(iter(projects.values()))
        raise ApiError(
            400,
            "project-required",
            f"Several projects are served; name one with ?project= "
            f"({', '.join(sorted(projects))}).",
        )
    if project_id not in projects:
        raise ApiError(
            404,
            "project-not-found",
            f"No project {project_id!r} is served; served: "
            f"{', '.join(sorted(projects))}.",
        )
    return projects[project_id]


# tasks


def reject_control_characters(value: str, allowed: str = "") -> str:
    """Raise ValueError if `value` contains a control character not in `allowed`.

    Control characters are Unicode category Cc (C0, DEL and C1, NUL
    included) and lone surrogates (Cs). They would reach the store, the
    evidence record and the dashboard unchanged.
    """
    for position, char in enumerate(value):
        if char in allowed:
            continue
        if unicodedata.category(char) in ("Cc", "Cs"):
            raise ValueError(
                f"contains control character U+{ord(char):04X} at position "
                f"{position}. Remove it."
            )
    return value


Tag = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=40, pattern=r"^[^\s,]+$"
    ),
    AfterValidator(reject_control_characters),
]


class TaskRequest(BaseModel):
    """A task submitted to a project."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    title: str = Field(min_length=1, max_length=200, description="One-line title.")
    detail: str = Field(default="", max_length=20_000, description="Free text.")
    project: str | None = Field(
        default=None, description="Project id; may be left out when one is served."
    )
    priority: Literal["low", "mid", "high"] = "mid"
    tags: list[Tag] = Field(default_factory=list, max_length=20)

    @field_validator("title")
    @classmethod
    def _check_title(cls, title: str) -> str:
        return reject_control_characters(title)

    @field_validator("detail")
    @classmethod
    def _check_detail(cls, detail: str) -> str:
        """Allow tab and newline, and store CRLF line ends as LF."""
        return reject_control_characters(detail.replace("\r\n", "\n"), "\t\n")


class TaskResponse(BaseModel):
    """The stored task, new or the earlier identical one."""

    id: str
    trace_id: str = Field(description="Trace id of the request that stored it.")
    duplicate: bool = Field(description="True when an identical task was stored.")
    evidence: str | None = Field(
        description="Path of the task's evidence record, relative to the "
        "project; null when it lies outside the project, unless "
        "VPM_API_EXPOSE_PATHS is true."
    )
    task: dict[str, Any]


@router.post(
    "/api/v1/tasks",
    status_code=201,
    response_model=TaskResponse,
    dependencies=[WriteAuth],
    responses={200: {"description": "An identical task was stored moments ago."}},
)
def submit_task(body: TaskRequest, request: Request) -> JSONResponse:
    """Store a task and its evidence record; a quick repeat returns the first."""
    project = find_project(request, body.project)
    state = service(request)

    now = utc_now()
    tags = list(dict.fromkeys(body.tags))
    task_id = f"task-{uuid.uuid4().hex[:16]}"
    evidence = project.layout.reports_dir / TASK_EVIDENCE_DIR / f"{task_id}.json"
    row = {
        "id": task_id,
        "project": project.id,
        "title": body.title,
        "detail": body.detail,
        "priority": body.priority,
        "tags": tags,
        "dedupe_key": dedupe_key(
            project.id, body.title, body.detail, body.priority, tags
        ),
        "trace_id": trace_id_of(request),
        "created_at": format_time(now),
        "evidence": str(evidence),
    }

    stored, created = insert_task_once(
        project.store,
        row,
        now,
        state.settings.dedupe_seconds,
        before_insert=lambda task: write_json_atomic(evidence, _evidence_record(task)),
    )
    if created:
        log.info(
            "task %s stored for %s (trace %s)", task_id, project.id, row["trace_id"]
        )

    payload = TaskResponse(
        id=stored["id"],
        trace_id=stored["trace_id"],
        duplicate=not created,
        evidence=public_path(
            stored.get("evidence"), project, state.settings.expose_paths
        ),
        task=_public_task(stored),
    )
    return JSONResponse(payload.model_dump(), status_code=201 if created else 200)


def _evidence_record(task: dict[str, Any]) -> dict[str, Any]:
    return {"kind": "task-submitted", "source": "api", **_public_task(task)}


def _public_task(task: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in task.items() if k not in ("dedupe_key", "evidence")}


@router.get("/api/v1/tasks", dependencies=[ReadAuth])
def get_tasks(
    request: Request,
    project: ProjectQuery = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
) -> dict[str, Any]:
    """List the newest tasks of a project."""
    served = find_project(request, project)
    tasks = [_public_task(t) for t in list_tasks(served.store, served.id, limit)]
    return {"project": served.id, "tasks": tasks}


# status


@router.get("/api/v1/projects", dependencies=[ReadAuth])
def get_projects(request: Request) -> dict[str, Any]:
    """List the served projects; absolute paths only with VPM_API_EXPOSE_PATHS."""
    state = service(request)
    expose = state.settings.expose_paths
    listed = []
    for project in state.projects.values():
        entry: dict[str, Any] = {"id": project.id}
        if expose:
            entry["path"] = str(project.layout.project)
        entry["reports"] = public_path(project.layout.reports_dir, project, expose)
        listed.append(entry)
    return {"projects": listed}


@router.get("/api/v1/status", dependencies=[ReadAuth])
async def get_status(request: Request, project: ProjectQuery = None) -> Response:
    """Return what `vpm status --format json` prints, cached until files change."""
    served = find_project(request, project)
    entry = fresh_status(served)
    if entry is not None:
        return Response(entry.body, media_type="application/json")
    _payload, body = await run_in_threadpool(cached_status, served)
    return Response(body, media_type="application/json")


# cycles


@router.post(
    "/api/v1/cycle",
    status_code=202,
    dependencies=[WriteAuth],
    responses={
        200: {"description": "With wait=true: the finished run."},
        409: {"description": "A cycle of the project is already running."},
    },
)
async def start_cycle(
    request: Request,
    project: ProjectQuery = None,
    wait: Annotated[
        bool, Query(description="Respond only when the cycle has finished.")
    ] = False,
) -> JSONResponse:
    """Start a cycle in a worker thread; one cycle per project at a time."""
    served = find_project(request, project)
    runner = service(request).runner
    try:
        future = runner.start(served, trace_id_of(request))
    except CycleBusy as busy:
        raise ApiError(
            409,
            "cycle-running",
            f"A cycle of project {served.id} is already running (trace "
            f"{busy.run.get('trace_id')}); retry when it has finished.",
        ) from busy
    expose = service(request).settings.expose_paths
    if wait:
        finished = await asyncio.wrap_future(future)
        return JSONResponse(_public_run(finished, served, expose), status_code=200)
    location = f"/api/v1/cycle?project={served.id}"
    return JSONResponse(
        _public_run(runner.latest(served.id), served, expose),
        status_code=202,
        headers={"Location": location},
    )


@router.get("/api/v1/cycle", dependencies=[ReadAuth])
def get_cycle(request: Request, project: ProjectQuery = None) -> dict[str, Any]:
    """Return the latest cycle run started through this server."""
    served = find_project(request, project)
    run = service(request).runner.latest(served.id)
    if run is None:
        raise ApiError(
            404,
            "no-cycle-run",
            f"No cycle of {served.id} was started by this server yet.",
        )
    return _public_run(run, served, service(request).settings.expose_paths)


def _public_run(
    run: dict[str, Any] | None, project: ServedProject, expose: bool
) -> dict[str, Any] | None:
    """Return the run with its report path as `public_path` shows it."""
    if run is None or run.get("report") is None:
        return run
    return {**run, "report": public_path(run["report"], project, expose)}


# ask


@router.get("/api/v1/ask", dependencies=[ReadAuth])
async def ask(
    request: Request,
    msg: Annotated[
        str,
        StringConstraints(
            strip_whitespace=True, min_length=1, max_length=MAX_QUESTION_CHARS
        ),
        Query(description="The question; surrounding whitespace is stripped."),
    ],
    project: ProjectQuery = None,
) -> JSONResponse:
    """Answer a question about a project through its engine.

    Returns 200 even when the engine fails, and 503 `ask-busy` when every
    ask worker is busy and the queue is full. Headers: `X-Fallback` (true
    when the engine fell back or failed), `X-Dur-Ms` (engine time) and
    `X-Trace-Id`.
    """
    served = find_project(request, project)
    state = service(request)
    entry = fresh_status(served)
    if entry is not None:
        status = entry.payload
    else:
        status, _body = await run_in_threadpool(cached_status, served)
    try:
        answer = await state.ask_pool.run(answer_question, msg, status, served.engine)
    except AskBusy as busy:
        rejected = state.ask_pool.rejected
        # The first rejection and every 100th are logged, so a flood of
        # questions cannot flood the log. /metrics counts every 503.
        if rejected == 1 or rejected % 100 == 0:
            log.warning(
                "rejected a question to %s with 503 ask-busy: %d ask calls "
                "running or waiting, %d rejected so far (trace %s)",
                served.id,
                state.ask_pool.pending,
                rejected,
                trace_id_of(request),
            )
        raise ApiError(
            503,
            "ask-busy",
            "Every ask worker is busy and the queue is full. Retry after "
            f"{ASK_RETRY_AFTER_SECONDS} s, or raise VPM_API_ASK_WORKERS or "
            "VPM_API_ASK_QUEUE.",
            headers={"Retry-After": str(ASK_RETRY_AFTER_SECONDS)},
        ) from busy
    state.metrics.record_engine_run(answer.engine, answer.fallback, answer.reason)
    trace_id = trace_id_of(request)
    body = {
        "project": served.id,
        "question": msg,
        "answer": answer.text,
        "engine": answer.engine,
        "fallback": answer.fallback,
        "fallback_reason": answer.reason,
        "trace_id": trace_id,
    }
    headers = {
        "X-Fallback": "true" if answer.fallback else "false",
        "X-Dur-Ms": f"{answer.duration_ms:.2f}",
    }
    return JSONResponse(body, headers=headers)


# health and metrics


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """Report that the process is alive."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "A check failed."}})
def readyz(request: Request) -> JSONResponse:
    """Check that every store responds and every project folder is readable."""
    projects = service(request).projects
    checks = {p.id: _readiness(p) for p in projects.values()}
    ready = all(check["ready"] for check in checks.values())
    if not ready:
        for project_id, check in checks.items():
            if not check["ready"]:
                log.warning(
                    "project %s (%s) not ready: %s",
                    project_id,
                    projects[project_id].layout.project,
                    "; ".join(check["problems"]),
                )
        return JSONResponse({"error": "not-ready", "detail": checks}, status_code=503)
    return JSONResponse({"status": "ready", "projects": checks})


def _readiness(project: ServedProject) -> dict[str, Any]:
    """Check one project. Problems name no server path, because /readyz is open."""
    problems = []
    root = project.layout.project
    if not root.is_dir() or not os.access(root, os.R_OK | os.X_OK):
        problems.append("project folder is not readable")
    try:
        with project.store.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        problems.append(f"store does not answer: {type(exc).__name__}")
    return {"ready": not problems, "problems": problems}


@router.get("/metrics", dependencies=[ReadAuth])
def metrics(request: Request) -> Response:
    """Expose the Prometheus metrics, refreshing findings and quality figures."""
    state = service(request)
    for project in state.projects.values():
        try:
            payload, _body = cached_status(project)
        except VpmError as exc:
            log.warning(
                "cannot read the status of %s for /metrics: %s", project.id, exc
            )
        else:
            state.metrics.set_findings(project.id, payload.get("findings", []))
        state.metrics.set_quality(project.id, project.layout.reports_dir)
    return Response(state.metrics.render(), media_type=CONTENT_TYPE_LATEST)
