"""Run the app with uvicorn, as `vpm serve` does."""

from __future__ import annotations

import ipaddress
import logging
from pathlib import Path

import uvicorn

from vpm.api.app import create_app
from vpm.api.config import load_service_settings
from vpm.api.projects import open_projects

log = logging.getLogger("vpm")


def serve(folders: list[Path], host: str, port: int, out: Path | None = None) -> None:
    """Serve the projects in `folders` until the process is stopped.

    Raises:
        UserError: A `VPM_API_*` variable is invalid, e.g. an empty token.
        ProjectNotFound: A folder does not exist.
        StoreError: A project's store cannot be opened.
    """
    settings = load_service_settings()
    projects = open_projects(folders, out)
    if settings.token is None and not is_loopback_host(host):
        log.warning(
            "serving on %s without VPM_API_TOKEN: anyone who can reach "
            "it can submit tasks and start cycles",
            host,
        )
    app = create_app(projects, settings)
    uvicorn.run(app, host=host, port=port, log_level="info", access_log=False)


def is_loopback_host(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
