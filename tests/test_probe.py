"""`vpm probe`: loopback-only bounded load with an evidence report."""

from __future__ import annotations

import json
import socket
from itertools import count
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route
from typer.testing import CliRunner

from api_helpers import LiveServer, running_service, service_settings
from vpm.cli import app as cli_app
from vpm.errors import UserError
from vpm.probe import (
    RemoteTargetRejected,
    check_target,
    percentile,
    render_markdown,
    run_probe,
)


def make_target_app() -> Starlette:
    calls = count()

    async def ok(_request):
        return JSONResponse({"ok": True})

    async def half_fallback(_request):
        fallback = "true" if next(calls) % 2 == 0 else "false"
        return JSONResponse({"ok": True}, headers={"X-Fallback": fallback})

    async def fail(_request):
        return JSONResponse({"error": "boom"}, status_code=500)

    return Starlette(
        routes=[
            Route("/ok", ok),
            Route("/fallback", half_fallback),
            Route("/fail", fail),
        ]
    )


@pytest.fixture(scope="module")
def target():
    server = LiveServer(make_target_app()).start()
    yield server.url
    server.stop()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# percentiles


def test_percentile_nearest_rank():
    values = [float(v) for v in range(1, 101)]

    assert percentile(values, 0.50) == 50.0
    assert percentile(values, 0.95) == 95.0
    assert percentile(values, 0.99) == 99.0


def test_percentile_small_and_empty():
    assert percentile([7.0], 0.99) == 7.0
    assert percentile([], 0.5) == 0.0


# target check


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/x",
        "http://127.0.0.9/",
        "http://[::1]:8000/",
        "http://localhost:8000/",
    ],
    ids=["v4", "v4-other", "v6", "localhost"],
)
def test_check_target_accepts_loopback(url):
    check_target(url)


@pytest.mark.parametrize(
    "url",
    [
        "http://192.0.2.1/",
        "http://10.0.0.1:8000/",
        "http://[2001:db8::1]/",
        "http://169.254.169.254/",
    ],
    ids=["test-net", "private", "v6", "link-local"],
)
def test_check_target_rejects_other_hosts(url):
    with pytest.raises(RemoteTargetRejected, match="--allow-remote"):
        check_target(url)


def test_check_target_allow_remote_skips_check():
    check_target("http://192.0.2.1/", allow_remote=True)


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/", "127.0.0.1:8000", "http:///x"])
def test_check_target_rejects_invalid_url(url):
    with pytest.raises(UserError, match="invalid URL"):
        check_target(url)


def test_run_probe_rejects_out_of_range_counts():
    with pytest.raises(UserError, match="--requests"):
        run_probe("http://127.0.0.1:1/", requests=0)
    with pytest.raises(UserError, match="--concurrency"):
        run_probe("http://127.0.0.1:1/", requests=1, concurrency=0)


# runs against a loopback server


def test_probe_counts_successes_and_latency(target):
    report = run_probe(f"{target}/ok", requests=60, concurrency=8)

    assert report.successes == 60
    assert report.errors == 0
    assert report.status_counts == {"200": 60}
    assert 0 < report.latency_ms["p50"] <= report.latency_ms["p95"]
    assert (
        report.latency_ms["p95"] <= report.latency_ms["p99"] <= report.latency_ms["max"]
    )
    assert report.requests_per_second > 0
    assert report.fallback_share == 0.0


def test_probe_fallback_share(target):
    report = run_probe(f"{target}/fallback", requests=40, concurrency=4)

    assert report.fallback_responses == 20
    assert report.fallback_share == 0.5


def test_probe_counts_server_errors(target):
    report = run_probe(f"{target}/fail", requests=10, concurrency=2)

    assert report.successes == 0
    assert report.errors == 10
    assert report.status_counts == {"500": 10}


def test_probe_counts_transport_errors():
    report = run_probe(f"http://127.0.0.1:{closed_port()}/", requests=5, concurrency=2)

    assert report.errors == 5
    assert report.error_kinds == {"ConnectError": 5}


def test_probe_markdown_lists_figures(target):
    report = run_probe(f"{target}/ok", requests=10, concurrency=2)

    text = render_markdown(report)

    assert "Successes (2xx): 10" in text
    assert "Latency p50 / p95 / p99" in text
    assert "X-Fallback: true share: 0.00%" in text


# the command


def test_probe_command_writes_json_and_markdown(target, tmp_path: Path):
    out = tmp_path / "evidence" / "probe.json"

    result = CliRunner().invoke(
        cli_app, ["probe", f"{target}/ok", "-n", "20", "-c", "4", "--out", str(out)]
    )

    assert result.exit_code == 0, result.output
    assert "Successes (2xx): 20" in result.stdout
    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["successes"] == 20
    assert set(report["latency_ms"]) == {"p50", "p95", "p99", "max"}
    assert (tmp_path / "evidence" / "probe.md").is_file()


def test_probe_command_rejects_remote_host():
    result = CliRunner().invoke(cli_app, ["probe", "http://192.0.2.1/", "-n", "1"])

    assert result.exit_code == 2
    assert "not a loopback address" in result.stderr


def test_probe_command_exit_1_when_nothing_succeeds(target):
    result = CliRunner().invoke(cli_app, ["probe", f"{target}/fail", "-n", "3"])

    assert result.exit_code == 1


def test_probe_command_sends_headers(example: Path):
    settings = service_settings(token="probe-token", read_auth=True)
    with running_service([example], settings) as (server, _projects):
        result = CliRunner().invoke(
            cli_app,
            [
                "probe",
                f"{server.url}/api/v1/status",
                "-n",
                "4",
                "--json",
                "-H",
                "Authorization: Bearer probe-token",
            ],
        )

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["successes"] == 4


# invalid arguments and empty results


@pytest.mark.parametrize(
    "extra", [[], ["--allow-remote"]], ids=["loopback-only", "allow-remote"]
)
def test_probe_command_port_out_of_range_exits_2(extra):
    result = CliRunner().invoke(
        cli_app, ["probe", "http://127.0.0.1:99999/", "-n", "1", *extra]
    )

    assert result.exit_code == 2
    assert result.stderr.startswith("Error: invalid URL")
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.output


@pytest.mark.parametrize("timeout", ["0", "-1", "nan"])
def test_probe_command_rejects_timeout(timeout):
    result = CliRunner().invoke(
        cli_app, ["probe", "http://127.0.0.1:1/", "-n", "1", "--timeout", timeout]
    )

    assert result.exit_code == 2
    assert "--timeout" in result.stderr


def test_probe_latency_not_available_without_responses():
    report = run_probe(f"http://127.0.0.1:{closed_port()}/", requests=3, concurrency=1)

    text = render_markdown(report)

    assert report.latency_ms == {"p50": None, "p95": None, "p99": None, "max": None}
    assert "Latency p50 / p95 / p99: n/a" in text
    assert "0.0" not in text.split("Latency", 1)[1].splitlines()[0]


def test_probe_command_json_latency_null_without_responses():
    url = f"http://127.0.0.1:{closed_port()}/"

    result = CliRunner().invoke(cli_app, ["probe", url, "-n", "2", "--json"])

    assert result.exit_code == 1
    assert json.loads(result.stdout)["latency_ms"]["p50"] is None
