"""`vpm serve` as a user runs it: a child process configured by environment."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

TOKEN = "serve-test-token"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def served(example: Path, tmp_path: Path):
    other = tmp_path / "second" / "demo"
    shutil.copytree(example, other)
    port = free_port()
    env = {**os.environ, "VPM_API_TOKEN": TOKEN, "VPM_API_MAX_BODY_BYTES": "4096"}
    command = [
        sys.executable,
        "-c",
        "from vpm.cli import main; main()",
        "serve",
        str(example),
        str(other),
        "--port",
        str(port),
    ]
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(url, process)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=15)


def _wait_until_up(url: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"vpm serve exited: {process.stdout.read()}")
        try:
            httpx.get(f"{url}/healthz", trust_env=False, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise AssertionError("vpm serve did not answer within 30 s")


def test_serve_names_projects_by_folder(served):
    response = httpx.get(f"{served}/api/v1/projects", trust_env=False)

    assert response.status_code == 200
    assert [p["id"] for p in response.json()["projects"]] == ["demo", "demo-2"]


def test_serve_reads_token_from_environment(served):
    task = {"project": "demo-2", "title": "Check the token"}

    without = httpx.post(f"{served}/api/v1/tasks", json=task, trust_env=False)
    with_token = httpx.post(
        f"{served}/api/v1/tasks",
        json=task,
        trust_env=False,
        headers={"Authorization": f"Bearer {TOKEN}"},
    )

    assert without.status_code == 401
    assert with_token.status_code == 201


def test_serve_reads_body_limit_from_environment(served):
    task = {"project": "demo", "title": "Big", "detail": "z" * 5000}

    response = httpx.post(
        f"{served}/api/v1/tasks",
        json=task,
        trust_env=False,
        headers={"Authorization": f"Bearer {TOKEN}"},
    )

    assert response.status_code == 413


def test_serve_status_of_second_project(served):
    response = httpx.get(
        f"{served}/api/v1/status", params={"project": "demo-2"}, trust_env=False
    )

    assert response.status_code == 200
    assert response.json()["phase"] == "Phase 2: Checkout service"


def test_serve_missing_folder_exits_2(tmp_path: Path):
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "from vpm.cli import main; main()",
            "serve",
            str(tmp_path / "nope"),
            "--port",
            str(free_port()),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 2
    assert "project folder not found" in result.stderr


@pytest.mark.parametrize("token", ["", "  "], ids=["empty", "blank"])
def test_serve_empty_token_exits_2(example: Path, token):
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "from vpm.cli import main; main()",
            "serve",
            str(example),
            "--port",
            str(free_port()),
        ],
        env={**os.environ, "VPM_API_TOKEN": token},
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "Error: VPM_API_TOKEN is set but empty" in result.stderr
