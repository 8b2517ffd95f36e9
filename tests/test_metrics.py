"""Stated targets, recorded measurements and the violations between them."""

from __future__ import annotations

from pathlib import Path

import pytest

from vpm.state.metrics import (
    Measurement,
    MetricTarget,
    extract_measurements,
    extract_targets,
    find_metric_violations,
)


def targets_of(text: str, path: str = "reports/slo.md") -> list[tuple]:
    return [(t.metric, t.op, t.value) for t in extract_targets(text, path)]


def figures_of(text: str, path: str = "reports/run.md") -> list[tuple]:
    return [(m.metric, m.value) for m in extract_measurements(text, path)]


def target(metric: str, op: str, value: float, line: int = 4) -> MetricTarget:
    return MetricTarget(
        metric=metric, op=op, value=value, path="reports/slo.md", line=line, quote="q"
    )


def figure(metric: str, value: float, line: int = 9) -> Measurement:
    return Measurement(
        metric=metric, value=value, path="reports/run.json", line=line, quote="q"
    )


# targets


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("SLO: P95<500ms", [("p95", "<", 500.0)]),
        ("## SLO\n- p95 <= 1s (5m)\n", [("p95", "<=", 1000.0)]),
        ("## SLO\n- Error% <= 1% (5m)\n", [("error_rate", "<=", 0.01)]),
        ("- target: p50 < 300ms", [("p50", "<", 300.0)]),
        ("- SLO success_rate >= 0.99", [("success_rate", ">=", 0.99)]),
        ("- 99.9% availability target", [("availability", ">=", 0.999)]),
        ("- 目標: p95 は 500ms 以下", [("p95", "<=", 500.0)]),
        ("- p95 は 500ms 以下", [("p95", "<=", 500.0)]),
        ("- エラー率は 1% 未満", [("error_rate", "<", 0.01)]),
        ("- SLO: p95<500msを目標とする", [("p95", "<", 500.0)]),
        (
            "- SLO Thresholds: <1000ms P50, <1% error rate",
            [
                ("p50", "<", 1000.0),
                ("error_rate", "<", 0.01),
            ],
        ),
        (
            "- SLOゲート: p50<1000ms, success≥99%",
            [
                ("p50", "<", 1000.0),
                ("success_rate", ">=", 0.99),
            ],
        ),
        ('"p50_target_ms": 1000.0,', [("p50", "<=", 1000.0)]),
        ('"error_rate_max": 0.01,', [("error_rate", "<=", 0.01)]),
        ('"availability_min": 0.99', [("availability", ">=", 0.99)]),
        ('"success_threshold": 0.99', [("success_rate", ">=", 0.99)]),
        ("- P50 Latency: 285ms (<1000ms target)", [("p50", "<", 1000.0)]),
        ("- Availability: 99.6% (target: ≥99%)", [("availability", ">=", 0.99)]),
        (
            "- Reliability: 100% success rate (≥99% target)",
            [("success_rate", ">=", 0.99)],
        ),
    ],
)
def test_extract_targets_forms(text: str, expected: list[tuple]) -> None:
    assert targets_of(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "- Performance: excellent latency (P95 < 3ms)",
        "- SLO alert: fires when P95 > 500ms",
        "- target: success rate < 90%",
        "- p95 は 500ms 以下だった",
        '"p50_threshold": 1000',
        "- SLO: p95 <= 5m window",
        "- SLO: errors < 3",
        "recording = hello_ai:latency:p95:5m SLO",
        "- Target: 10 concurrent requests",
    ],
)
def test_extract_targets_rejects_non_targets(text: str) -> None:
    assert targets_of(text) == []


def test_extract_targets_keeps_path_line_and_quote() -> None:
    text = "# Runbook\n\n## SLO\n- p95 <= 1s (5m)\n"

    found = extract_targets(text, "reports/runbook.md")

    assert found[0].path == "reports/runbook.md"
    assert found[0].line == 4
    assert found[0].quote == "- p95 <= 1s (5m)"


def test_extract_targets_heading_context_ends_with_section() -> None:
    text = "## SLO\n- p95 <= 1s\n## Results\n- p95 <= 2s\n"

    assert targets_of(text) == [("p95", "<=", 1000.0)]


def test_extract_targets_from_table() -> None:
    text = (
        "| Metric | Target | Achieved |\n"
        "|---|---|---|\n"
        "| P50 Latency | <1000ms | 285ms |\n"
        "| Success Rate | ≥99% | 99.1% |\n"
        "| RPS | ≥800 | 847 |\n"
    )

    assert targets_of(text) == [("p50", "<", 1000.0), ("success_rate", ">=", 0.99)]
    assert figures_of(text) == [("p50", 285.0), ("success_rate", pytest.approx(0.991))]


# measurements


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('  "p95_ms": 3543,', [("p95", 3543.0)]),
        ('"p50_latency_ms": 123.7,', [("p50", 123.7)]),
        (
            "- p50: 974 ms / p95: 3543 ms / avg: 1574 ms",
            [
                ("p50", 974.0),
                ("p95", 3543.0),
                ("avg", 1574.0),
            ],
        ),
        ("結果: p50=974ms、p95=3.5s", [("p50", 974.0), ("p95", 3500.0)]),
        ("- p50≈0.05s", [("p50", 50.0)]),
        ("  95% in 0.0021 secs", [("p95", pytest.approx(2.1))]),
        ("  Average:     0.0014 secs", [("avg", pytest.approx(1.4))]),
        ("- **P95 Latency**: 420ms", [("p95", 420.0)]),
        ("- Error Rate: 0.9%", [("error_rate", pytest.approx(0.009))]),
        ('"err_rate": 0.004,', [("error_rate", 0.004)]),
        ('"success_rate": 0.98,', [("success_rate", 0.98)]),
        ('"success_rate_percent": 96,', [("success_rate", 0.96)]),
        (
            "- availability=99.6%, errors=0.4%",
            [
                ("availability", pytest.approx(0.996)),
                ("error_rate", pytest.approx(0.004)),
            ],
        ),
        ("- p95 は 120ms", [("p95", 120.0)]),
        ("結果: p95=3543msでした", [("p95", 3543.0)]),
    ],
)
def test_extract_measurements_forms(text: str, expected: list[tuple]) -> None:
    assert figures_of(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "- JSON Error Rate: 0.0",
        '"json_error_rate": 0.0,',
        "- p50 (latest 5m): 0.05",
        "- errors: 3",
        '"p95_duration_sec": {"A": 0}',
        '"success_count": 119,',
        '"success_rate": 12,',
        "- p50: NA ms",
        "- p95 <= 1s",
        "recording = hello_ai:latency:p95:5m",
    ],
)
def test_extract_measurements_rejects_ambiguous(text: str) -> None:
    assert figures_of(text) == []


def test_extract_measurements_from_metric_columns() -> None:
    text = (
        "| Phase | p50 Latency | p95 Latency |\n"
        "|-------|-------------|-------------|\n"
        "| Baseline | 0.0017s | 0.0031s |\n"
    )

    found = extract_measurements(text, "reports/chaos.md")

    assert [(m.metric, m.value) for m in found] == [
        ("p50", pytest.approx(1.7)),
        ("p95", pytest.approx(3.1)),
    ]
    assert found[0].line == 3


# violations


def test_violation_reports_measurement_and_target() -> None:
    found = find_metric_violations([target("p95", "<=", 1000.0)], [figure("p95", 3543)])

    assert len(found) == 1
    finding = found[0]
    assert finding.kind == "metric-violates-target"
    assert finding.path == "reports/run.json"
    assert finding.line == 9
    assert finding.evidence == "reports/run.json"
    assert finding.evidence_line == 9
    assert finding.quote == "q"
    assert "3543 ms" in finding.message
    assert "p95 latency <= 1000 ms" in finding.message
    assert "reports/slo.md:4" in finding.message


@pytest.mark.parametrize(
    ("op", "bound", "value", "breaks"),
    [
        ("<=", 1000.0, 1000.0, False),
        ("<", 1000.0, 1000.0, True),
        ("<=", 1000.0, 999.0, False),
        ("<=", 0.01, 0.010000000001, False),
        (">=", 0.99, 0.99, False),
        (">", 0.99, 0.99, True),
        (">=", 0.99, 0.98, True),
    ],
)
def test_violation_boundaries(
    op: str, bound: float, value: float, breaks: bool
) -> None:
    metric = "p95" if op.startswith("<") and bound > 1 else "success_rate"
    metric = "error_rate" if bound == 0.01 else metric

    found = find_metric_violations([target(metric, op, bound)], [figure(metric, value)])

    assert bool(found) is breaks


def test_violation_needs_same_metric() -> None:
    found = find_metric_violations([target("p95", "<=", 100.0)], [figure("p50", 900)])

    assert found == []


def test_violation_names_loosest_broken_target() -> None:
    targets = [target("p95", "<", 500.0, line=161), target("p95", "<=", 1000.0)]

    found = find_metric_violations(targets, [figure("p95", 3543)])

    assert len(found) == 1
    assert "<= 1000 ms" in found[0].message
    assert "1 stricter" in found[0].message


def test_local_target_holds_only_in_its_file() -> None:
    text = '{"success_rate": 0.992, "success_threshold": 0.99}'
    local = extract_targets(text, "reports/guard.json")
    elsewhere = figure("success_rate", 0.5)

    found = find_metric_violations(local, [elsewhere])

    assert local[0].local is True
    assert found == []


def test_prose_target_holds_everywhere() -> None:
    stated = extract_targets("## SLO\n- success rate >= 99%\n", "STATE/s.md")

    found = find_metric_violations(stated, [figure("success_rate", 0.5)])

    assert stated[0].local is False
    assert len(found) == 1


def test_violation_of_rate_uses_percent() -> None:
    found = find_metric_violations(
        [target("success_rate", ">=", 0.99)], [figure("success_rate", 0.98)]
    )

    assert "success rate 98%" in found[0].message
    assert ">= 99%" in found[0].message


# the real corpus, read in place


def corpus_items(corpus: Path, relative: str) -> tuple[list, list]:
    text = (corpus / "tree" / relative).read_text(encoding="utf-8")
    return extract_targets(text, relative), extract_measurements(text, relative)


def test_corpus_obs_p95_violates_runbook_slo(corpus: Path) -> None:
    runbook = "reports/p5_2_slo_runbook_20250913_060853.md"
    observed = "reports/p2_4_obs_20250903_140653.json"
    targets, _ = corpus_items(corpus, runbook)
    _, measurements = corpus_items(corpus, observed)

    found = find_metric_violations(targets, measurements)

    assert ("p95", "<=", 1000.0, 4) in {
        (t.metric, t.op, t.value, t.line) for t in targets
    }
    assert ("error_rate", "<=", 0.01, 5) in {
        (t.metric, t.op, t.value, t.line) for t in targets
    }
    assert len(found) == 1
    assert found[0].evidence == observed
    assert found[0].evidence_line == 9
    assert found[0].quote == '"p95_ms": 3543,'
    assert f"{runbook}:4" in found[0].message


def test_corpus_state_targets(corpus: Path) -> None:
    targets, measurements = corpus_items(corpus, "STATE/current_state.md")

    assert {(t.metric, t.op, t.value, t.line) for t in targets} == {
        ("p95", "<", 500.0, 161),
        ("availability", ">=", 0.999, 161),
    }
    assert ("p95", 3543.0, 74) in {(m.metric, m.value, m.line) for m in measurements}


def test_corpus_autoscale_hey_output(corpus: Path) -> None:
    _, measurements = corpus_items(corpus, "reports/p5_1_autoscale_20250913_055540.md")

    by_line = {m.line: (m.metric, m.value) for m in measurements}
    assert by_line[46] == ("p95", pytest.approx(2.1))
    assert by_line[109] == ("error_rate", 1.0)


def test_corpus_reports_break_no_target_of_their_own(corpus: Path) -> None:
    # Reports that state thresholds next to their results all meet them;
    # a violation here would be a false alarm. The state document is the
    # one file that contradicts itself (p95=3543ms against P95<500ms).
    tree = corpus / "tree"
    violations = []
    for path in sorted(tree.rglob("*")):
        if not path.is_file() or path.suffix not in (".md", ".json", ".txt", ".jsonl"):
            continue
        relative = str(path.relative_to(tree))
        targets, measurements = corpus_items(corpus, relative)
        violations += find_metric_violations(targets, measurements)

    assert [f.location for f in violations] == ["STATE/current_state.md:74"]


def test_corpus_guard_threshold_stays_in_its_file(corpus: Path) -> None:
    targets, _ = corpus_items(corpus, "reports/phase5_cd_guard_result.json")
    _, measurements = corpus_items(corpus, "reports/cd_summary.json")

    found = find_metric_violations(targets, measurements)

    assert [(t.metric, t.local) for t in targets] == [("success_rate", True)]
    assert found == []
