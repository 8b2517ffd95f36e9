"""A bounded load probe that writes its result as evidence.

`vpm probe URL` sends a fixed number of GET requests with a fixed number
in flight and reports successes, errors, latency percentiles, throughput
and the share of responses that fell back to the offline engine. It only
targets loopback addresses unless `--allow-remote` is given, so a typo
cannot load someone else's server.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import math
import socket
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from vpm.errors import UserError
from vpm.fsio import write_json_atomic, write_text_atomic

log = logging.getLogger("vpm")

MAX_REQUESTS = 1_000_000
MAX_CONCURRENCY = 1024
LATENCY_KEYS = ("p50", "p95", "p99", "max")


class RemoteTargetRejected(UserError):
    """The probe target is not a loopback address and --allow-remote is off."""


@dataclass
class ProbeReport:
    """The outcome of one probe run; every latency is in milliseconds."""

    url: str
    requests: int
    concurrency: int
    started_at: str
    duration_seconds: float
    successes: int = 0
    errors: int = 0
    status_counts: dict[str, int] = field(default_factory=dict)
    error_kinds: dict[str, int] = field(default_factory=dict)
    # None when no request got a response, so there is nothing to measure.
    latency_ms: dict[str, float | None] = field(default_factory=dict)
    requests_per_second: float = 0.0
    fallback_responses: int = 0
    fallback_share: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_target(url: str, allow_remote: bool = False) -> None:
    """Reject URLs that are not http(s) or not on loopback.

    The host name is resolved and every address it resolves to must be a
    loopback address.

    Raises:
        UserError: The URL is not an absolute http or https URL, or its
            port is not a number from 0 to 65535.
        RemoteTargetRejected: A resolved address is not loopback.
    """
    try:
        parts = urlsplit(url)
        port = parts.port
        httpx.URL(url)
    except (ValueError, httpx.InvalidURL) as exc:
        raise UserError(f"invalid URL {url!r}: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UserError(f"invalid URL {url!r}: expected http://HOST[:PORT]/PATH")
    if allow_remote:
        return
    # NOTE: httpx resolves the name again when it connects, so a name whose
    # DNS answer changes between the two lookups could still reach another
    # host. IP literals and /etc/hosts names such as localhost are not affected.
    default_port = 443 if parts.scheme == "https" else 80
    addresses = resolve_host(parts.hostname, port or default_port)
    outside = sorted(a for a in addresses if not ipaddress.ip_address(a).is_loopback)
    if outside or not addresses:
        raise RemoteTargetRejected(
            f"{parts.hostname} resolves to {', '.join(outside) or 'no address'}, "
            "which is not a loopback address; pass --allow-remote to probe it."
        )


def resolve_host(host: str, port: int) -> set[str]:
    """Return every address `host` resolves to, without connecting."""
    try:
        return {str(ipaddress.ip_address(host.strip("[]")))}
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except socket.gaierror as exc:
        raise UserError(f"cannot resolve host {host!r}: {exc}") from exc
    return {info[4][0].split("%", 1)[0] for info in infos}


def percentile(sorted_values: list[float], share: float) -> float:
    """Return the nearest-rank percentile of already sorted values."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(share * len(sorted_values)))
    return sorted_values[rank - 1]


async def _probe(
    url: str,
    requests: int,
    concurrency: int,
    timeout: float,
    headers: dict[str, str],
) -> tuple[list[float], dict[str, int], dict[str, int], int, float]:
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    errors: dict[str, int] = {}
    fallbacks = 0
    next_index = 0

    async def worker() -> None:
        nonlocal next_index, fallbacks
        # One client with one connection per worker: a shared pool of many
        # connections costs httpx more time per request than the request.
        # trust_env=False, so a proxy from HTTP_PROXY cannot carry loopback
        # traffic to another host.
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        async with httpx.AsyncClient(
            timeout=timeout, limits=limits, trust_env=False, follow_redirects=False
        ) as client:
            while next_index < requests:
                next_index += 1
                started = time.perf_counter()
                try:
                    response = await client.get(url, headers=headers)
                except httpx.HTTPError as exc:
                    kind = type(exc).__name__
                    errors[kind] = errors.get(kind, 0) + 1
                    continue
                latencies.append((time.perf_counter() - started) * 1000)
                key = str(response.status_code)
                statuses[key] = statuses.get(key, 0) + 1
                if response.headers.get("x-fallback", "").lower() == "true":
                    fallbacks += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    return latencies, statuses, errors, fallbacks, elapsed


def run_probe(
    url: str,
    requests: int = 100,
    concurrency: int = 8,
    *,
    allow_remote: bool = False,
    timeout: float = 10.0,
    headers: dict[str, str] | None = None,
) -> ProbeReport:
    """Send `requests` GET requests to `url`, `concurrency` at a time.

    Raises:
        UserError: An argument is out of range or the URL is invalid.
        RemoteTargetRejected: The URL is not on loopback and `allow_remote`
            is False.
    """
    if not (math.isfinite(timeout) and timeout > 0):
        raise UserError(f"--timeout must be a number of seconds above 0, got {timeout}")
    if not 1 <= requests <= MAX_REQUESTS:
        raise UserError(f"--requests must be 1 to {MAX_REQUESTS}, got {requests}")
    if not 1 <= concurrency <= MAX_CONCURRENCY:
        raise UserError(
            f"--concurrency must be 1 to {MAX_CONCURRENCY}, got {concurrency}"
        )
    check_target(url, allow_remote)
    concurrency = min(concurrency, requests)
    started_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    log.info("probing %s: %d requests, %d at a time", url, requests, concurrency)
    latencies, statuses, errors, fallbacks, elapsed = asyncio.run(
        _probe(url, requests, concurrency, timeout, headers or {})
    )
    return build_report(
        url,
        requests,
        concurrency,
        started_at,
        elapsed,
        latencies,
        statuses,
        errors,
        fallbacks,
    )


def build_report(
    url: str,
    requests: int,
    concurrency: int,
    started_at: str,
    elapsed: float,
    latencies: list[float],
    statuses: dict[str, int],
    errors: dict[str, int],
    fallbacks: int,
) -> ProbeReport:
    """Summarize raw probe results; only 2xx responses count as successes.

    Latency covers every response, 2xx or not. It is None when no request
    got a response.
    """
    successes = sum(n for code, n in statuses.items() if code.startswith("2"))
    answered = sum(statuses.values())
    ordered = sorted(latencies)
    latency_ms: dict[str, float | None] = dict.fromkeys(LATENCY_KEYS)
    if ordered:
        latency_ms = {
            "p50": round(percentile(ordered, 0.50), 2),
            "p95": round(percentile(ordered, 0.95), 2),
            "p99": round(percentile(ordered, 0.99), 2),
            "max": round(ordered[-1], 2),
        }
    return ProbeReport(
        url=url,
        requests=requests,
        concurrency=concurrency,
        started_at=started_at,
        duration_seconds=round(elapsed, 4),
        successes=successes,
        errors=requests - successes,
        status_counts=dict(sorted(statuses.items())),
        error_kinds=dict(sorted(errors.items())),
        latency_ms=latency_ms,
        requests_per_second=round(answered / elapsed, 1) if elapsed > 0 else 0.0,
        fallback_responses=fallbacks,
        fallback_share=round(fallbacks / answered, 4) if answered else 0.0,
    )


def render_markdown(report: ProbeReport) -> str:
    """Render a probe report as Markdown evidence."""
    statuses = ", ".join(f"{k}: {v}" for k, v in report.status_counts.items()) or "none"
    kinds = ", ".join(f"{k}: {v}" for k, v in report.error_kinds.items()) or "none"
    lines = [
        f"# Probe of {report.url}",
        "",
        f"- Started: {report.started_at}",
        f"- Requests: {report.requests}, {report.concurrency} in flight",
        f"- Duration: {report.duration_seconds} s",
        f"- Successes (2xx): {report.successes}",
        f"- Errors: {report.errors}",
        f"- Status codes: {statuses}",
        f"- Transport errors: {kinds}",
        _latency_line(report.latency_ms),
        f"- Requests per second: {report.requests_per_second}",
        f"- X-Fallback: true share: {report.fallback_share:.2%} "
        f"({report.fallback_responses} responses)",
    ]
    return "\n".join(lines) + "\n"


def _latency_line(latency: dict[str, float | None]) -> str:
    if any(latency.get(key) is None for key in LATENCY_KEYS):
        return "- Latency p50 / p95 / p99: n/a (no responses)"
    return (
        f"- Latency p50 / p95 / p99: {latency['p50']} / {latency['p95']} / "
        f"{latency['p99']} ms (max {latency['max']} ms)"
    )


def write_report(report: ProbeReport, out: Path) -> tuple[Path, Path]:
    """Write the report as JSON at `out` and as Markdown beside it (.md)."""
    json_path = out if out.suffix == ".json" else out.with_name(out.name + ".json")
    md_path = json_path.with_suffix(".md")
    write_json_atomic(json_path, report.to_dict())
    write_text_atomic(md_path, render_markdown(report))
    log.info("probe report written to %s and %s", json_path, md_path)
    return json_path, md_path
