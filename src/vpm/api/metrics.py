"""Prometheus metrics of the service, in a registry of its own."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

log = logging.getLogger("vpm")

# 0.5 s is a boundary so that a latency SLO with a 0.5 s threshold can count
# the requests under it exactly. Between two boundaries buckets only allow
# an estimate.
HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
CYCLE_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)

QUALITY_FILE = "quality.json"
# Figure name -> keys it may have in quality.json. `vpm quality` writes
# `rouge_l` as {"f1", "precision", "recall"} and `within_limit_share`.
QUALITY_KEYS = {
    "rouge_l": ("rouge_l",),
    "length_compliance_ratio": ("length_compliance_ratio", "within_limit_share"),
}


class ServiceMetrics:
    """The metrics one app records; each app gets its own registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        reg = self.registry
        self.requests = Counter(
            "vpm_http_requests_total",
            "HTTP requests by route template, method and status code.",
            ["route", "method", "status"],
            registry=reg,
        )
        self.request_seconds = Histogram(
            "vpm_http_request_duration_seconds",
            "HTTP request duration by route template, in seconds.",
            ["route"],
            buckets=HTTP_BUCKETS,
            registry=reg,
        )
        self.llm_calls = Counter(
            "vpm_llm_calls_total",
            "Engine calls by engine name.",
            ["engine"],
            registry=reg,
        )
        self.llm_fallbacks = Counter(
            "vpm_llm_fallbacks_total",
            "Engine calls that fell back to the offline engine, by reason.",
            ["reason"],
            registry=reg,
        )
        self.cycle_seconds = Histogram(
            "vpm_cycle_duration_seconds",
            "Duration of cycles started through the API, in seconds.",
            ["project"],
            buckets=CYCLE_BUCKETS,
            registry=reg,
        )
        self.findings = Gauge(
            "vpm_findings",
            "Findings in the project's current status, by kind.",
            ["project", "kind"],
            registry=reg,
        )
        self.rouge_l = Gauge(
            "vpm_summary_rouge_l",
            "ROUGE-L F1 of summaries in the last quality run.",
            ["project"],
            registry=reg,
        )
        self.length_compliance = Gauge(
            "vpm_summary_length_compliance_ratio",
            "Share of summaries within the length limit in the last quality run.",
            ["project"],
            registry=reg,
        )

    def record_engine_run(
        self, engine: str, fallback: bool, reason: str | None
    ) -> None:
        self.llm_calls.labels(engine=engine).inc()
        if fallback:
            self.llm_fallbacks.labels(reason=reason or "unknown").inc()

    def set_findings(self, project: str, findings: list[dict[str, Any]]) -> None:
        """Set the finding gauges of a project, zeroing kinds that went away."""
        counts: dict[str, int] = {}
        for finding in findings:
            counts[finding["kind"]] = counts.get(finding["kind"], 0) + 1
        for labels in _label_sets(self.findings):
            if labels.get("project") == project and labels["kind"] not in counts:
                self.findings.labels(project=project, kind=labels["kind"]).set(0)
        for kind, count in counts.items():
            self.findings.labels(project=project, kind=kind).set(count)

    def set_quality(self, project: str, reports_dir: Path) -> None:
        """Read `quality.json` of the last quality run, when there is one."""
        values = read_quality(reports_dir / QUALITY_FILE)
        if "rouge_l" in values:
            self.rouge_l.labels(project=project).set(values["rouge_l"])
        if "length_compliance_ratio" in values:
            ratio = values["length_compliance_ratio"]
            self.length_compliance.labels(project=project).set(ratio)

    def render(self) -> bytes:
        return generate_latest(self.registry)


def _label_sets(metric: Gauge) -> list[dict[str, str]]:
    return [sample.labels for family in metric.collect() for sample in family.samples]


def read_quality(path: Path) -> dict[str, float]:
    """Read ROUGE-L and length compliance from a quality report.

    The figures are taken from the top level of the JSON object or from a
    `summary` or `metrics` object in it, under the keys in `QUALITY_KEYS`.
    A figure may be a number or an object whose `f1`, `f`, `mean` or
    `value` is one. A report that is
    missing or unreadable gives no figures.
    """
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        log.warning("cannot read quality report %s: %s", path, exc)
        return {}
    if not isinstance(data, dict):
        return {}
    scopes = [data, data.get("summary"), data.get("metrics")]
    found: dict[str, float] = {}
    for name, keys in QUALITY_KEYS.items():
        for scope in scopes:
            values = (
                [_number(scope.get(k)) for k in keys] if isinstance(scope, dict) else []
            )
            value = next((v for v in values if v is not None), None)
            if value is not None:
                found[name] = value
                break
    return found


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, dict):
        for key in ("f1", "f", "mean", "value"):
            if isinstance(value.get(key), int | float):
                return float(value[key])
    return None
