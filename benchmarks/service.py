"""Measure `vpm serve` under load next to a bare uvicorn app, in one run.

Run from the repository root: `.venv/bin/python benchmarks/service.py`.
It copies examples/demo to a temporary folder, runs one cycle there,
starts `vpm serve` on it and a bare uvicorn app that returns a constant
JSON body, each in its own process on a free loopback port. Then it loads
three targets with the same concurrency:

- the bare app (the floor: uvicorn and the load generator alone),
- `GET /api/v1/status` (cached status),
- `GET /api/v1/ask` (offline engine).

Two load generators run, one after the other. The first is `vpm probe`
(httpx, in this process), which also counts `X-Fallback: true`. The
second is wrk (Debian package `wrk`), when it is on PATH. The probe's
client costs more CPU per request than the servers do, so its throughput
is a floor, and wrk's figures are closer to what the servers can do. Each
probe run has an uncounted warm-up of a few hundred requests. The load
generator shares the machine's cores with the servers.
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from vpm.pipeline import run_cycle
from vpm.probe import ProbeReport, run_probe

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "demo"

BARE_APP = """
import sys
import uvicorn

BODY = b'{"status":"ok"}'
HEADERS = [(b"content-type", b"application/json"),
           (b"content-length", str(len(BODY)).encode())]


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})


uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning",
            access_log=False)
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_up(url: str, process: subprocess.Popen, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"server for {url} exited with status {process.returncode}")
        try:
            if httpx.get(url, trust_env=False, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    sys.exit(f"server for {url} did not answer within {seconds} s")


def start(command: list[str], url: str) -> subprocess.Popen:
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    wait_until_up(url, process)
    return process


def measure(url: str, requests: int, concurrency: int) -> ProbeReport:
    run_probe(url, requests=min(requests, 300), concurrency=concurrency)
    return run_probe(url, requests=requests, concurrency=concurrency)


# wrk reports p50 and p99 but not p95; this script prints all three, in
# microseconds, as one JSON line after the run.
WRK_SCRIPT = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK {"requests": %d, "duration_us": %d, "non_2xx": %d, "socket_errors": %d,'
    .. ' "p50_us": %.0f, "p95_us": %.0f, "p99_us": %.0f}\\n',
    summary.requests, summary.duration, e.status,
    e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99)))
end
"""


def measure_wrk(url: str, seconds: int, concurrency: int, script: Path) -> dict:
    """Load `url` with wrk for `seconds` and return its figures."""
    output = subprocess.run(
        ["wrk", "-t1", f"-c{concurrency}", f"-d{seconds}s", "-s", str(script), url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    line = next(x for x in output.splitlines() if x.startswith("WRK "))
    figures = json.loads(line[4:])
    seconds_run = figures["duration_us"] / 1e6
    return {
        "requests": figures["requests"],
        "requests_per_second": round(figures["requests"] / seconds_run, 1),
        "latency_ms": {
            p: round(figures[f"{p}_us"] / 1000, 2) for p in ("p50", "p95", "p99")
        },
        "errors": figures["non_2xx"] + figures["socket_errors"],
    }


def print_rows(title: str, rows: list[tuple[str, dict]]) -> None:
    print(title)
    header = (
        f"{'target':<28} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} "
        f"{'p99 ms':>8} {'errors':>7} {'fallback':>9}"
    )
    print(header)
    print("-" * len(header))
    for name, row in rows:
        latency = row["latency_ms"]
        fallback = row.get("fallback_share")
        fallback_text = "-" if fallback is None else f"{fallback:.0%}"
        print(
            f"{name:<28} {row['requests_per_second']:>8.0f} {latency['p50']:>8.1f} "
            f"{latency['p95']:>8.1f} {latency['p99']:>8.1f} {row['errors']:>7} "
            f"{fallback_text:>9}"
        )
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--requests", type=int, default=3000, help="Counted requests per target."
    )
    parser.add_argument(
        "--concurrency", type=int, default=64, help="Requests in flight at once."
    )
    parser.add_argument(
        "--seconds", type=int, default=10, help="Duration of each wrk run, in seconds."
    )
    parser.add_argument("--json", action="store_true", help="Print JSON as well.")
    args = parser.parse_args()

    vpm = Path(sys.executable).with_name("vpm")
    with tempfile.TemporaryDirectory() as temp:
        project = Path(temp) / "demo"
        shutil.copytree(EXAMPLE, project)
        run_cycle(project)
        bare_port, vpm_port = free_port(), free_port()
        bare_url = f"http://127.0.0.1:{bare_port}/"
        vpm_url = f"http://127.0.0.1:{vpm_port}"
        processes = [
            start([sys.executable, "-c", BARE_APP, str(bare_port)], bare_url),
            start(
                [str(vpm), "serve", str(project), "--port", str(vpm_port)],
                f"{vpm_url}/healthz",
            ),
        ]
        try:
            targets = [
                ("bare uvicorn (constant)", bare_url),
                ("GET /api/v1/status", f"{vpm_url}/api/v1/status"),
                ("GET /api/v1/ask (offline)", f"{vpm_url}/api/v1/ask?msg=next+move"),
            ]
            probe_rows = [
                (name, measure(url, args.requests, args.concurrency).to_dict())
                for name, url in targets
            ]
            wrk_rows = []
            if shutil.which("wrk"):
                script = Path(temp) / "percentiles.lua"
                script.write_text(WRK_SCRIPT, encoding="utf-8")
                wrk_rows = [
                    (name, measure_wrk(url, args.seconds, args.concurrency, script))
                    for name, url in targets
                ]
        finally:
            for process in processes:
                process.terminate()
                process.wait(timeout=15)

    print(
        f"{args.concurrency} connections, one uvicorn worker per server, load "
        "generator on the same machine.\n"
    )
    print_rows(f"vpm probe (httpx), {args.requests} requests per target", probe_rows)
    if wrk_rows:
        print_rows(f"wrk, {args.seconds} s per target", wrk_rows)
    else:
        print("wrk is not on PATH (Debian package wrk); only the probe ran.")
    if args.json:
        print(json.dumps({"probe": dict(probe_rows), "wrk": dict(wrk_rows)}, indent=2))


if __name__ == "__main__":
    main()
