"""The HTTP API, exercised over a real uvicorn server on loopback."""

from __future__ import annotations

import json
import os
import shutil
import socket
import sqlite3
import threading
import time
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr, ValidationError
from typer.testing import CliRunner

from api_helpers import LiveServer, running_service, service_settings
from vpm.api.app import create_app
from vpm.api.config import ServiceSettings
from vpm.api.projects import open_projects
from vpm.cli import app as cli_app
from vpm.model import EngineRun
from vpm.pipeline import run_cycle

TOKEN = "s3cret-token-for-tests"


@pytest.fixture
def service(example: Path):
    with (
        running_service([example]) as (server, projects),
        httpx.Client(base_url=server.url, trust_env=False, timeout=30) as client,
    ):
        yield client, projects[0]


def task_body(**values):
    return {
        "title": "Record the P2-1 health check",
        "detail": "curl /healthz",
        "priority": "high",
        "tags": ["p2", "ops"],
        **values,
    }


def read_db(project, query: str, *params):
    with sqlite3.connect(project.layout.database) as conn:
        return conn.execute(query, params).fetchall()


# health, readiness, errors


def test_healthz_returns_ok_and_trace_id(service):
    client, _project = service

    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert len(response.headers["x-trace-id"]) == 32


def test_readyz_ready_when_store_and_folder_readable(service):
    client, project = service

    response = client.get("/readyz")

    assert response.status_code == 200
    assert response.json()["projects"][project.id]["ready"] is True


def test_readyz_503_when_project_folder_gone(service):
    client, project = service
    moved = project.layout.project.with_name("moved")
    project.layout.project.rename(moved)

    response = client.get("/readyz")

    assert response.status_code == 503
    body = response.json()
    assert body["error"] == "not-ready"
    assert "not readable" in body["detail"][project.id]["problems"][0]


def test_unknown_route_is_json_404(service):
    client, _project = service

    response = client.get("/nowhere")

    assert response.status_code == 404
    assert response.json()["error"] == "not-found"
    assert "x-trace-id" in response.headers


def test_wrong_method_is_json_405(service):
    client, _project = service

    response = client.delete("/api/v1/status")

    assert response.status_code == 405
    assert response.json()["error"] == "method-not-allowed"


def test_openapi_docs_served(service):
    client, _project = service

    docs = client.get("/docs")
    schema = client.get("/openapi.json").json()

    assert docs.status_code == 200
    assert "/api/v1/tasks" in schema["paths"]
    assert "/api/v1/cycle" in schema["paths"]


# trace ids


def test_trace_id_from_header_is_echoed(service):
    client, _project = service

    response = client.get("/healthz", headers={"X-Trace-Id": "abc-DEF_123"})

    assert response.headers["x-trace-id"] == "abc-DEF_123"


@pytest.mark.parametrize(
    "trace_id",
    ["x" * 65, "has space", "semi;colon", "ü"],
    ids=["long", "space", "semicolon", "utf8"],
)
def test_trace_id_invalid_is_400(service, trace_id):
    client, _project = service

    response = client.get("/healthz", headers={"X-Trace-Id": trace_id.encode("utf-8")})

    assert response.status_code == 400
    assert response.json()["error"] == "invalid-trace-id"
    assert response.headers["x-trace-id"] != trace_id


def test_trace_id_of_64_chars_accepted(service):
    client, _project = service

    response = client.get("/healthz", headers={"X-Trace-Id": "a" * 64})

    assert response.status_code == 200
    assert response.headers["x-trace-id"] == "a" * 64


# status


def test_status_matches_cli_status_json(service):
    client, project = service
    run_cycle(project.layout.project)
    cli = CliRunner().invoke(
        cli_app, ["status", str(project.layout.project), "--format", "json"]
    )

    response = client.get("/api/v1/status", params={"project": project.id})

    assert cli.exit_code == 0, cli.output
    assert response.status_code == 200
    assert response.json() == json.loads(cli.stdout)


def test_status_without_project_uses_only_project(service):
    client, _project = service

    response = client.get("/api/v1/status")

    assert response.status_code == 200
    assert response.json()["phase"] == "Phase 2: Checkout service"


def test_status_unknown_project_is_404(service):
    client, _project = service

    response = client.get("/api/v1/status", params={"project": "nope"})

    assert response.status_code == 404
    assert response.json()["error"] == "project-not-found"


def test_status_cache_invalidated_by_state_change(service):
    client, project = service
    state = project.layout.project / "STATE" / "current_state.md"
    first = client.get("/api/v1/status").json()
    assert client.get("/api/v1/status").json() == first

    text = state.read_text(encoding="utf-8")
    state.write_text(
        text.replace("Phase 2: Checkout service", "Phase 3: Payments", 1),
        encoding="utf-8",
    )
    os.utime(state, ns=(time.time_ns(), time.time_ns() + 10_000_000))
    second = client.get("/api/v1/status").json()

    assert first["phase"] == "Phase 2: Checkout service"
    assert second["phase"] == "Phase 3: Payments"


def test_status_cache_invalidated_by_new_evidence(service):
    client, project = service
    cited = "reports/p1_3_catalog_cache_20261110.md"
    before = client.get("/api/v1/status").json()

    (project.layout.project / cited).write_text("# cache\n", encoding="utf-8")
    after = client.get("/api/v1/status").json()

    assert cited in [f["evidence"] for f in before["findings"]]
    assert cited not in [f["evidence"] for f in after["findings"]]


def test_status_second_call_served_from_cache(service):
    client, project = service
    client.get("/api/v1/status")
    cached_entry = project.status_cache.entry

    client.get("/api/v1/status")

    assert project.status_cache.entry is cached_entry


def test_status_several_projects_need_project_param(example: Path, tmp_path: Path):
    other = tmp_path / "other" / "demo"
    shutil.copytree(example, other)
    with running_service([example, other]) as (server, projects):
        ids = [p.id for p in projects]
        response = httpx.get(f"{server.url}/api/v1/status", trust_env=False)
        named = httpx.get(
            f"{server.url}/api/v1/status", params={"project": ids[1]}, trust_env=False
        )

    assert ids == ["demo", "demo-2"]
    assert response.status_code == 400
    assert response.json()["error"] == "project-required"
    assert named.status_code == 200


# tasks


def test_task_submit_stores_record_and_evidence(service):
    client, project = service

    response = client.post(
        "/api/v1/tasks", json=task_body(), headers={"X-Trace-Id": "trace-task-1"}
    )

    assert response.status_code == 201
    body = response.json()
    assert body["id"].startswith("task-")
    assert body["trace_id"] == "trace-task-1"
    assert body["duplicate"] is False
    rows = read_db(project, "SELECT id, title, priority, tags, trace_id FROM tasks")
    assert rows == [
        (
            body["id"],
            "Record the P2-1 health check",
            "high",
            '["p2", "ops"]',
            "trace-task-1",
        )
    ]
    evidence = project.layout.reports_dir / "tasks" / f"{body['id']}.json"
    record = json.loads(evidence.read_text(encoding="utf-8"))
    assert record["trace_id"] == "trace-task-1"
    assert record["title"] == "Record the P2-1 health check"
    assert record["kind"] == "task-submitted"


def test_task_listed_after_submit(service):
    client, project = service
    created = client.post("/api/v1/tasks", json=task_body()).json()

    listed = client.get("/api/v1/tasks", params={"project": project.id}).json()

    assert [t["id"] for t in listed["tasks"]] == [created["id"]]


def test_task_double_submit_returns_first(service):
    client, project = service

    first = client.post("/api/v1/tasks", json=task_body())
    second = client.post("/api/v1/tasks", json=task_body(tags=["ops", "p2"]))

    assert first.status_code == 201
    assert second.status_code == 200
    assert second.json()["id"] == first.json()["id"]
    assert second.json()["duplicate"] is True
    assert read_db(project, "SELECT count(*) FROM tasks") == [(1,)]


def test_task_concurrent_double_submit_stores_one(service):
    client, project = service
    results = []

    def submit():
        results.append(client.post("/api/v1/tasks", json=task_body()).json()["id"])

    threads = [threading.Thread(target=submit) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(set(results)) == 1
    assert read_db(project, "SELECT count(*) FROM tasks") == [(1,)]


def test_task_different_detail_is_new_task(service):
    client, _project = service

    first = client.post("/api/v1/tasks", json=task_body())
    second = client.post("/api/v1/tasks", json=task_body(detail="other"))

    assert second.status_code == 201
    assert second.json()["id"] != first.json()["id"]


def test_task_repeat_after_window_is_new_task(example: Path):
    settings = service_settings(dedupe_seconds=0.3)
    with running_service([example], settings) as (server, _projects):
        first = httpx.post(
            f"{server.url}/api/v1/tasks", json=task_body(), trust_env=False
        )
        time.sleep(0.5)
        second = httpx.post(
            f"{server.url}/api/v1/tasks", json=task_body(), trust_env=False
        )

    assert second.status_code == 201
    assert second.json()["id"] != first.json()["id"]


@pytest.mark.parametrize(
    "body",
    [
        {"title": ""},
        {"title": "   "},
        {"title": "x" * 201},
        {"title": "ok", "priority": "urgent"},
        {"title": "ok", "tags": ["has space"]},
        {"title": "ok", "unknown": 1},
        {"detail": "no title"},
    ],
    ids=["empty", "blank", "long", "priority", "tag", "extra", "missing"],
)
def test_task_invalid_is_422(service, body):
    client, project = service

    response = client.post("/api/v1/tasks", json=body)

    assert response.status_code == 422
    assert response.json()["error"] == "invalid-request"
    assert read_db(project, "SELECT count(*) FROM tasks") == [(0,)]


def test_task_title_of_200_chars_accepted(service):
    client, _project = service

    response = client.post("/api/v1/tasks", json=task_body(title="あ" * 200))

    assert response.status_code == 201


def test_task_invalid_json_is_422(service):
    client, _project = service

    response = client.post(
        "/api/v1/tasks",
        content=b"{not json",
        headers={"Content-Type": "application/json"},
    )

    assert response.status_code == 422
    assert response.json()["error"] == "invalid-request"


def test_task_body_over_limit_is_413(service):
    client, project = service
    body = task_body(detail="x" * (70 * 1024))

    response = client.post("/api/v1/tasks", json=body)

    assert response.status_code == 413
    assert response.json()["error"] == "request-too-large"
    assert read_db(project, "SELECT count(*) FROM tasks") == [(0,)]


def test_task_chunked_body_over_limit_is_413(service):
    client, _project = service

    def chunks():
        for _ in range(80):
            yield b"x" * 1024

    response = client.post(
        "/api/v1/tasks", content=chunks(), headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 413
    assert response.json()["error"] == "request-too-large"


def test_task_body_limit_is_a_setting(example: Path):
    settings = service_settings(max_body_bytes=2048)
    with running_service([example], settings) as (server, _projects):
        small = httpx.post(
            f"{server.url}/api/v1/tasks", json=task_body(), trust_env=False
        )
        large = httpx.post(
            f"{server.url}/api/v1/tasks",
            json=task_body(detail="y" * 3000),
            trust_env=False,
        )

    assert small.status_code == 201
    assert large.status_code == 413


# auth


@pytest.fixture
def token_service(example: Path):
    with (
        running_service([example], service_settings(token=TOKEN)) as (server, _p),
        httpx.Client(base_url=server.url, trust_env=False, timeout=30) as client,
    ):
        yield client


def test_auth_write_without_token_is_401(token_service):
    response = token_service.post("/api/v1/tasks", json=task_body())

    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"
    assert response.headers["www-authenticate"] == "Bearer"


def test_auth_write_with_wrong_token_is_401(token_service):
    response = token_service.post(
        "/api/v1/tasks", json=task_body(), headers={"Authorization": "Bearer nope"}
    )

    assert response.status_code == 401
    assert TOKEN not in response.text


def test_auth_write_with_token_is_201(token_service):
    response = token_service.post(
        "/api/v1/tasks", json=task_body(), headers={"Authorization": f"Bearer {TOKEN}"}
    )

    assert response.status_code == 201


def test_auth_cycle_without_token_is_401(token_service):
    response = token_service.post("/api/v1/cycle")

    assert response.status_code == 401


def test_auth_reads_open_without_read_auth(token_service):
    assert token_service.get("/api/v1/status").status_code == 200
    assert token_service.get("/metrics").status_code == 200
    assert token_service.get("/").status_code == 200


def test_auth_read_auth_protects_reads(example: Path):
    settings = service_settings(token=TOKEN, read_auth=True)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    with (
        running_service([example], settings) as (server, _projects),
        httpx.Client(base_url=server.url, trust_env=False) as client,
    ):
        status_open = client.get("/api/v1/status")
        status_auth = client.get("/api/v1/status", headers=auth)
        ask_open = client.get("/api/v1/ask", params={"msg": "hi"})
        metrics_open = client.get("/metrics")
        health = client.get("/healthz")
        ready = client.get("/readyz")

    assert status_open.status_code == 401
    assert status_auth.status_code == 200
    assert ask_open.status_code == 401
    assert metrics_open.status_code == 401
    assert health.status_code == 200
    assert ready.status_code == 200


# cycles


def test_cycle_wait_runs_and_records_trace_id(service):
    client, project = service

    response = client.post(
        "/api/v1/cycle",
        params={"wait": "true"},
        headers={"X-Trace-Id": "trace-cycle-1"},
    )

    assert response.status_code == 200
    run = response.json()
    assert run["status"] == "succeeded"
    assert run["trace_id"] == "trace-cycle-1"
    report = json.loads((project.layout.reports_dir / "cycle.json").read_text("utf-8"))
    assert report["trace_id"] == "trace-cycle-1"
    assert read_db(project, "SELECT trace_id FROM cycles") == [("trace-cycle-1",)]


def test_cycle_get_before_any_run_is_404(service):
    client, _project = service

    response = client.get("/api/v1/cycle")

    assert response.status_code == 404
    assert response.json()["error"] == "no-cycle-run"


def test_cycle_while_running_is_409(example: Path):
    release = threading.Event()
    entered = threading.Event()

    def slow_cycle(*args, **kwargs):
        entered.set()
        release.wait(timeout=30)
        return run_cycle(*args, **kwargs)

    with (
        running_service([example], cycle=slow_cycle) as (server, projects),
        httpx.Client(base_url=server.url, trust_env=False, timeout=30) as client,
    ):
        first = client.post("/api/v1/cycle", headers={"X-Trace-Id": "first-run"})
        assert entered.wait(timeout=10)
        second = client.post("/api/v1/cycle", headers={"X-Trace-Id": "second"})
        running = client.get("/api/v1/cycle").json()
        release.set()
        finished = _wait_for_cycle(client)
        third = client.post("/api/v1/cycle", params={"wait": "true"})

    assert first.status_code == 202
    assert first.headers["location"] == "/api/v1/cycle?project=demo"
    assert second.status_code == 409
    assert second.json()["error"] == "cycle-running"
    assert "first-run" in second.json()["detail"]
    assert running["status"] == "running"
    assert finished["status"] == "succeeded"
    assert finished["trace_id"] == "first-run"
    assert third.status_code == 200
    assert third.json()["noop"] is True
    assert read_db(projects[0], "SELECT trace_id FROM cycles") == [("first-run",)]


def test_cycle_failure_reported_and_lock_released(example: Path):
    def broken_cycle(*_args, **_kwargs):
        raise RuntimeError("disk on fire")

    with (
        running_service([example], cycle=broken_cycle) as (server, _projects),
        httpx.Client(base_url=server.url, trust_env=False) as client,
    ):
        first = client.post("/api/v1/cycle", params={"wait": "true"})
        second = client.post("/api/v1/cycle", params={"wait": "true"})

    assert first.status_code == 200
    assert first.json()["status"] == "failed"
    assert "disk on fire" in first.json()["error"]
    assert second.status_code == 200


def _wait_for_cycle(client: httpx.Client) -> dict:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        run = client.get("/api/v1/cycle").json()
        if run["status"] != "running":
            return run
        time.sleep(0.05)
    raise AssertionError("the cycle did not finish within 30 s")


# ask


def test_ask_answers_with_headers(service):
    client, _project = service

    response = client.get(
        "/api/v1/ask",
        params={"msg": "What about the load test?"},
        headers={"X-Trace-Id": "ask-1"},
    )

    assert response.status_code == 200
    assert response.headers["x-fallback"] == "false"
    assert float(response.headers["x-dur-ms"]) >= 0
    assert response.headers["x-trace-id"] == "ask-1"
    body = response.json()
    assert body["engine"] == "offline"
    assert body["fallback_reason"] is None
    assert "Next move" in body["answer"]
    assert body["trace_id"] == "ask-1"


def test_ask_empty_message_is_422(service):
    client, _project = service

    response = client.get("/api/v1/ask", params={"msg": ""})

    assert response.status_code == 422


class RaisingEngine:
    name = "llm:broken"

    def word(self, instruction, draft):
        raise TimeoutError("model timed out")


class FallingBackEngine:
    name = "llm:test"

    def word(self, instruction, draft):
        return draft, EngineRun(engine="offline", fallback=True, reason="timeout")


@pytest.mark.parametrize(
    ("engine", "reason"),
    [(RaisingEngine(), "error:TimeoutError"), (FallingBackEngine(), "timeout")],
    ids=["raises", "falls-back"],
)
def test_ask_engine_failure_still_200(example: Path, engine, reason):
    with running_service([example]) as (server, projects):
        projects[0].engine = engine
        with httpx.Client(base_url=server.url, trust_env=False) as client:
            response = client.get("/api/v1/ask", params={"msg": "status?"})
            metrics = client.get("/metrics").text

    assert response.status_code == 200
    assert response.headers["x-fallback"] == "true"
    assert response.json()["fallback_reason"] == reason
    assert "Next move" in response.json()["answer"]
    assert f'vpm_llm_fallbacks_total{{reason="{reason}"}} 1.0' in metrics


# metrics


def test_metrics_exposes_every_family(service):
    client, project = service
    client.get("/api/v1/status")
    client.get("/api/v1/ask", params={"msg": "hi"})
    client.post("/api/v1/cycle", params={"wait": "true"})
    (project.layout.reports_dir / "quality.json").write_text(
        json.dumps(
            {
                "rouge_l": {"f1": 0.42, "precision": 0.5, "recall": 0.4},
                "within_limit_share": 0.9,
            }
        ),
        encoding="utf-8",
    )

    response = client.get("/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert (
        'vpm_http_requests_total{method="GET",route="/api/v1/status",status="200"} 1.0'
    ) in text
    assert (
        'vpm_http_request_duration_seconds_bucket{le="0.5",route="/api/v1/status"}'
        in text
    )
    assert 'vpm_llm_calls_total{engine="offline"} 2.0' in text  # ask + cycle
    assert "# TYPE vpm_llm_fallbacks_total counter" in text
    assert 'vpm_cycle_duration_seconds_count{project="demo"} 1.0' in text
    assert 'vpm_findings{kind="metric-violates-target",project="demo"} 1.0' in text
    assert 'vpm_summary_rouge_l{project="demo"} 0.42' in text
    assert 'vpm_summary_length_compliance_ratio{project="demo"} 0.9' in text


def test_metrics_route_label_is_template(service):
    client, _project = service
    client.get("/projects/demo/files/STATE/current_state.md")
    client.get("/no/such/page")

    text = client.get("/metrics").text

    assert 'route="/projects/{project_id}/files/{file_path:path}"' in text
    assert 'route="unmatched",status="404"' in text
    assert "current_state.md" not in text


# file view


def test_file_view_numbers_lines(service):
    client, _project = service

    response = client.get("/projects/demo/files/STATE/current_state.md")

    assert response.status_code == 200
    assert 'id="L12"' in response.text
    assert "Phase 2: Checkout service" in response.text


@pytest.mark.parametrize(
    "path",
    ["..%2F..%2Fetc%2Fpasswd", "STATE/..%2F..%2F..%2Fetc%2Fpasswd", "%2Fetc%2Fpasswd"],
    ids=["dotdot", "nested", "absolute"],
)
def test_file_view_rejects_outside_paths(service, path):
    client, _project = service

    response = client.get(f"/projects/demo/files/{path}")

    assert response.status_code in (403, 404)
    assert "root:" not in response.text


def test_file_view_rejects_dotdot_with_403(service):
    client, _project = service

    response = client.get("/projects/demo/files/reports/..%2F..%2Fsecret.txt")

    assert response.status_code == 403
    assert response.json()["error"] == "path-outside-project"


def test_file_view_rejects_symlink_out(service, tmp_path: Path):
    client, project = service
    secret = tmp_path / "secret.txt"
    secret.write_text("top secret\n", encoding="utf-8")
    (project.layout.project / "reports" / "link.md").symlink_to(secret)

    response = client.get("/projects/demo/files/reports/link.md")

    assert response.status_code == 403
    assert "top secret" not in response.text


def test_file_view_rejects_hidden_folders(service):
    client, _project = service

    response = client.get("/projects/demo/files/.vpm/vpm.db")

    assert response.status_code == 403
    assert response.json()["error"] == "path-not-shown"


def test_file_view_missing_file_is_404(service):
    client, _project = service

    response = client.get("/projects/demo/files/reports/none.md")

    assert response.status_code == 404
    assert response.json()["error"] == "file-not-found"


def test_file_view_escapes_content(service):
    client, project = service
    (project.layout.project / "reports" / "x.md").write_text(
        "<script>alert(1)</script>\n", encoding="utf-8"
    )

    response = client.get("/projects/demo/files/reports/x.md")

    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in response.text
    assert "<script>alert(1)" not in response.text


def test_store_failure_is_json_500_with_trace_id(service):
    client, project = service
    read_db(project, "DROP TABLE tasks")

    response = client.get("/api/v1/tasks", headers={"X-Trace-Id": "broken-store"})

    assert response.status_code == 500
    assert response.json()["error"] == "internal-error"
    assert "broken-store" in response.json()["detail"]
    assert response.headers["x-trace-id"] == "broken-store"


# input hygiene


def test_task_lone_surrogate_is_422(service):
    client, project = service

    response = client.post(
        "/api/v1/tasks",
        content=b'{"title": "a\\ud800b"}',
        headers={"Content-Type": "application/json"},
    )

    assert response.status_code == 422
    assert response.json()["error"] == "invalid-request"
    assert read_db(project, "SELECT count(*) FROM tasks") == [(0,)]


@pytest.mark.parametrize(
    "values",
    [
        {"title": "a\x00b"},
        {"title": "a\x1b[31mb"},
        {"title": "a\tb"},
        {"title": "a\nb"},
        {"title": "a\u0085b"},
        {"detail": "x\x00y"},
        {"detail": "x\x7fy"},
        {"detail": "x\ry"},
        {"tags": ["a\x00b"]},
    ],
    ids=[
        "title-nul",
        "title-escape",
        "title-tab",
        "title-newline",
        "title-c1",
        "detail-nul",
        "detail-del",
        "detail-lone-cr",
        "tag-nul",
    ],
)
def test_task_control_characters_are_422(service, values):
    client, project = service

    response = client.post("/api/v1/tasks", json=task_body(**values))
    page = client.get("/")

    assert response.status_code == 422
    assert response.json()["error"] == "invalid-request"
    assert "control character" in json.dumps(response.json()["detail"])
    assert read_db(project, "SELECT count(*) FROM tasks") == [(0,)]
    assert "\x00" not in page.text


def test_task_detail_keeps_tab_and_newline(service):
    client, project = service
    detail = "step 1\n\tcurl /healthz\r\nstep 2"

    response = client.post("/api/v1/tasks", json=task_body(detail=detail))

    assert response.status_code == 201
    stored = read_db(project, "SELECT detail FROM tasks")
    assert stored == [("step 1\n\tcurl /healthz\nstep 2",)]


def test_task_invalid_utf8_body_is_400(service):
    client, _project = service

    response = client.post(
        "/api/v1/tasks",
        content=b'{"title": "\xff"}',
        headers={"Content-Type": "application/json"},
    )

    assert response.status_code == 400
    assert response.json()["error"] == "bad-request"


def test_tasks_limit_zero_is_422(service):
    client, _project = service

    response = client.get("/api/v1/tasks", params={"limit": 0})

    assert response.status_code == 422
    assert response.json()["error"] == "invalid-request"


@pytest.mark.parametrize("msg", ["", "  ", "\t\n"], ids=["empty", "spaces", "blank"])
def test_ask_blank_message_is_422(service, msg):
    client, _project = service

    response = client.get("/api/v1/ask", params={"msg": msg})

    assert response.status_code == 422
    assert response.json()["error"] == "invalid-request"


def test_ask_message_is_stripped(service):
    client, _project = service

    response = client.get("/api/v1/ask", params={"msg": "  next move?  "})

    assert response.status_code == 200
    assert response.json()["question"] == "next move?"


# empty tokens


@pytest.mark.parametrize("token", ["", "   "], ids=["empty", "blank"])
def test_settings_reject_empty_token(token):
    with pytest.raises(ValidationError, match="VPM_API_TOKEN"):
        service_settings(token=token)


def test_settings_strip_token_whitespace():
    settings = service_settings(token=f" {TOKEN}\n")

    assert settings.token.get_secret_value() == TOKEN


def raw_post_status(port: int, path: str, headers: bytes, body: bytes) -> int:
    """Send one HTTP/1.1 POST byte for byte and return the response status.

    httpx refuses header values with trailing spaces, such as `Bearer `.
    """
    request = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n".encode()
        + headers
        + b"Content-Type: application/json\r\n"
        + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
        + body
    )
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(request)
        status_line = sock.makefile("rb").readline()
    return int(status_line.split()[1])


@pytest.mark.parametrize(
    "authorization",
    [b"Bearer ", b"Bearer", b"Bearer    ", b"bearer \t"],
    ids=["space", "bare", "spaces", "tab"],
)
def test_auth_empty_bearer_never_accepted(example: Path, authorization):
    # model_construct skips validation, so the settings hold the empty token
    # that validation rejects.
    settings = ServiceSettings.model_construct(
        **{**service_settings().model_dump(), "token": SecretStr("")}
    )
    body = json.dumps(task_body()).encode()
    with running_service([example], settings) as (server, projects):
        status = raw_post_status(
            server.port,
            "/api/v1/tasks",
            b"Authorization: " + authorization + b"\r\n",
            body,
        )

    assert status == 401
    assert read_db(projects[0], "SELECT count(*) FROM tasks") == [(0,)]


# metric labels


def test_metrics_unknown_methods_labelled_other(service):
    client, _project = service
    methods = ["RANDOM" + "X" * 34, "FOOBAR", "PROPFIND"]
    for method in methods:
        client.request(method, "/x")
    client.request("BREW", "/api/v1/status")

    text = client.get("/metrics").text

    for method in [*methods, "BREW"]:
        assert method not in text
    assert (
        'vpm_http_requests_total{method="other",route="unmatched",status="404"} 3.0'
        in text
    )
    assert (
        'vpm_http_requests_total{method="other",route="/api/v1/status",status="405"} '
        "1.0" in text
    )


def test_metrics_rejected_requests_keep_route(service):
    client, _project = service
    too_large = client.post("/api/v1/tasks", json=task_body(detail="x" * 70_000))
    bad_trace = client.get("/api/v1/status", headers={"X-Trace-Id": "bad id"})
    wrong_method = client.delete("/api/v1/tasks")
    missing = client.get("/no/such/page")

    text = client.get("/metrics").text

    assert too_large.status_code == 413
    assert bad_trace.status_code == 400
    assert wrong_method.status_code == 405
    assert missing.status_code == 404
    assert (
        'vpm_http_requests_total{method="POST",route="/api/v1/tasks",status="413"} 1.0'
        in text
    )
    assert (
        'vpm_http_requests_total{method="GET",route="/api/v1/status",status="400"} 1.0'
        in text
    )
    assert (
        'vpm_http_requests_total{method="DELETE",route="/api/v1/tasks",status="405"} '
        "1.0" in text
    )
    assert (
        'vpm_http_requests_total{method="GET",route="unmatched",status="404"} 1.0'
        in text
    )
    assert 'route="unmatched",status="413"' not in text
    assert 'route="unmatched",status="400"' not in text


# server paths


def test_projects_hide_server_paths(service):
    client, project = service

    response = client.get("/api/v1/projects")

    assert response.status_code == 200
    assert response.json() == {"projects": [{"id": "demo", "reports": "reports/vpm"}]}
    assert str(project.layout.project) not in response.text


def test_projects_show_paths_when_setting_on(example: Path):
    settings = service_settings(expose_paths=True)
    with running_service([example], settings) as (server, projects):
        listed = httpx.get(f"{server.url}/api/v1/projects", trust_env=False).json()
        page = httpx.get(f"{server.url}/", trust_env=False).text

    entry = listed["projects"][0]
    assert entry["path"] == str(projects[0].layout.project)
    assert entry["reports"] == str(projects[0].layout.reports_dir)
    assert str(projects[0].layout.project) in page


def test_dashboard_hides_server_path(service):
    client, project = service

    page = client.get("/")

    assert page.status_code == 200
    assert str(project.layout.project) not in page.text


def test_readyz_problem_hides_server_path(service):
    client, project = service
    project.layout.project.rename(project.layout.project.with_name("moved"))

    response = client.get("/readyz")

    assert response.status_code == 503
    assert str(project.layout.project) not in response.text


def test_outputs_outside_project_hide_paths(example: Path, tmp_path: Path):
    out = tmp_path / "outputs"
    projects = open_projects([example], out)
    server = LiveServer(create_app(projects, service_settings())).start()
    try:
        with httpx.Client(base_url=server.url, trust_env=False, timeout=30) as client:
            task = client.post("/api/v1/tasks", json=task_body())
            cycle = client.post("/api/v1/cycle", params={"wait": "true"})
            listed = client.get("/api/v1/projects")
    finally:
        server.stop()

    assert task.status_code == 201
    assert task.json()["evidence"] is None
    assert cycle.json()["status"] == "succeeded"
    assert cycle.json()["report"] is None
    assert listed.json() == {"projects": [{"id": "demo", "reports": None}]}
    for response in (task, cycle, listed):
        assert str(tmp_path) not in response.text


# slow engines


class BlockingEngine:
    """An engine whose `word` blocks until the test releases it."""

    name = "llm:blocking"

    def __init__(self) -> None:
        self.release = threading.Event()
        self.entered = 0
        self.lock = threading.Lock()

    def word(self, instruction, draft):
        with self.lock:
            self.entered += 1
        self.release.wait(timeout=60)
        return draft, EngineRun(engine="llm:blocking", fallback=False, reason=None)


def test_ask_slow_engine_leaves_readyz_and_status_free(example: Path):
    engine = BlockingEngine()
    settings = service_settings(ask_workers=2, ask_queue=2)
    asks = 45
    responses: list[httpx.Response] = []

    with running_service([example], settings) as (server, projects):
        projects[0].engine = engine
        httpx.get(f"{server.url}/api/v1/status", trust_env=False)

        def ask():
            response = httpx.get(
                f"{server.url}/api/v1/ask",
                params={"msg": "status?"},
                trust_env=False,
                timeout=60,
            )
            responses.append(response)

        threads = [threading.Thread(target=ask) for _ in range(asks)]
        try:
            for thread in threads:
                thread.start()
            deadline = time.monotonic() + 15
            while engine.entered + len(responses) < 40:
                assert time.monotonic() < deadline, "the ask requests did not arrive"
                time.sleep(0.02)
            with httpx.Client(base_url=server.url, trust_env=False, timeout=5) as c:
                ready = c.get("/readyz")
                status = c.get("/api/v1/status")
                listed = c.get("/api/v1/projects")
        finally:
            engine.release.set()
            for thread in threads:
                thread.join(timeout=60)
        metrics = httpx.get(f"{server.url}/metrics", trust_env=False).text

    assert ready.status_code == 200
    assert status.status_code == 200
    assert listed.status_code == 200
    assert engine.entered == 4
    answered = [r for r in responses if r.status_code == 200]
    busy = [r for r in responses if r.status_code == 503]
    assert len(answered) == 4
    assert len(busy) == asks - 4
    assert busy[0].json()["error"] == "ask-busy"
    assert int(busy[0].headers["retry-after"]) > 0
    assert busy[0].headers["x-trace-id"]
    assert 'route="/api/v1/ask",status="503"' in metrics
