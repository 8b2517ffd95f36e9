"""The FastAPI app behind `vpm serve`: API, dashboard and metrics."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException as StarletteHTTPException

from vpm import __version__
from vpm.api.ask import AskPool
from vpm.api.config import ServiceSettings
from vpm.api.cycles import CycleFunction, CycleRunner
from vpm.api.errors import ApiError
from vpm.api.metrics import ServiceMetrics
from vpm.api.middleware import ServiceMiddleware, error_body
from vpm.api.projects import ServedProject
from vpm.pipeline import run_cycle

log = logging.getLogger("vpm")

HERE = Path(__file__).resolve().parent
STATIC_DIR = HERE / "static"
TEMPLATE_DIR = HERE / "templates"

_ERROR_CODES = {
    400: "bad-request",
    401: "unauthorized",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    409: "conflict",
    413: "request-too-large",
    415: "unsupported-media-type",
    422: "invalid-request",
}


@dataclass
class ServiceState:
    """Everything the routes share, kept on `app.state.vpm`."""

    projects: dict[str, ServedProject]
    settings: ServiceSettings
    metrics: ServiceMetrics
    runner: CycleRunner
    templates: Jinja2Templates
    ask_pool: AskPool


def create_app(
    projects: list[ServedProject],
    settings: ServiceSettings | None = None,
    cycle: CycleFunction = run_cycle,
) -> FastAPI:
    """Build the app over opened projects.

    Args:
        projects: Projects to serve; the app closes their stores on shutdown.
        settings: Service settings; read from `VPM_API_*` variables when None.
        cycle: The function that runs one cycle; tests pass a slow one.
    """
    settings = settings or ServiceSettings()
    metrics = ServiceMetrics()
    state = ServiceState(
        projects={p.id: p for p in projects},
        settings=settings,
        metrics=metrics,
        runner=CycleRunner(metrics, cycle, workers=max(2, len(projects))),
        templates=_templates(),
        ask_pool=AskPool(settings.ask_workers, settings.ask_queue),
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        state.ask_pool.shutdown()
        state.runner.shutdown()
        for project in projects:
            project.close()

    app = FastAPI(
        title="vpm",
        version=__version__,
        summary="Status, tasks, cycles and questions for projects steered by vpm.",
        lifespan=lifespan,
    )
    app.state.vpm = state
    _add_error_handlers(app)
    from vpm.api import dashboard, routes

    app.include_router(routes.router)
    app.include_router(dashboard.router)
    app.mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static")
    app.add_middleware(
        ServiceMiddleware,
        metrics=metrics,
        max_body_bytes=settings.max_body_bytes,
        routes=[*app.router.routes, *routes.router.routes, *dashboard.router.routes],
    )
    if settings.read_auth and settings.token is None:
        log.warning(
            "VPM_API_READ_AUTH is set but VPM_API_TOKEN is not; "
            "read endpoints stay open"
        )
    return app


def _templates() -> Jinja2Templates:
    """Load the templates with autoescaping on for every template name."""
    loader = jinja2.FileSystemLoader(str(TEMPLATE_DIR))
    env = jinja2.Environment(loader=loader, autoescape=True)
    return Jinja2Templates(env=env)


def _add_error_handlers(app: FastAPI) -> None:
    async def api_error(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        return _json_error(exc.status_code, exc.error, exc.detail, exc.headers)

    async def http_error(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        error = _ERROR_CODES.get(exc.status_code, "error")
        return _json_error(exc.status_code, error, exc.detail, exc.headers)

    async def validation_error(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        detail = jsonable_encoder(exc.errors(), exclude={"url"})
        return _json_error(422, "invalid-request", detail)

    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)


def _json_error(
    status: int, error: str, detail: Any, headers: dict[str, str] | None = None
) -> Response:
    return Response(
        error_body(error, detail),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )
