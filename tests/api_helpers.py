"""A real uvicorn server on a free loopback port, run in a thread."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import uvicorn

from vpm.api.app import create_app
from vpm.api.config import ServiceSettings
from vpm.api.projects import ServedProject, open_projects


def service_settings(**values: Any) -> ServiceSettings:
    """Settings with every value the tests depend on given explicitly."""
    defaults: dict[str, Any] = {
        "token": None,
        "read_auth": False,
        "max_body_bytes": 64 * 1024,
        "dedupe_seconds": 10.0,
    }
    return ServiceSettings(**{**defaults, **values})


class LiveServer:
    """Serve an ASGI app with uvicorn on 127.0.0.1 until `stop`."""

    def __init__(self, app: Any) -> None:
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.socket.bind(("127.0.0.1", 0))
        self.port = self.socket.getsockname()[1]
        config = uvicorn.Config(app, log_level="warning", access_log=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.socket]}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test server did not start within 15 s")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)
        self.socket.close()


@contextmanager
def running_service(
    folders: list[Path],
    settings: ServiceSettings | None = None,
    **app_options: Any,
) -> Iterator[tuple[LiveServer, list[ServedProject]]]:
    """Open the projects, serve them, and stop the server afterwards."""
    projects = open_projects(folders)
    app = create_app(projects, settings or service_settings(), **app_options)
    server = LiveServer(app).start()
    try:
        yield server, projects
    finally:
        server.stop()
