"""Find measurements in evidence that break a stated target.

Targets are service-level objectives written in prose, tables or JSON:
`P95<500ms`, `p95 <= 1s`, `Error% <= 1%`, `success_rate >= 0.99`,
`99.9% availability`, `p95 は 500ms 以下`, `"error_rate_max": 0.01`.
Measurements are recorded figures: `"p95_ms": 3543`, `p95=3543ms`,
`Success Rate: 99.1%`, or `hey`'s `95% in 0.0021 secs`.

Both are normalized before they are compared: latencies to milliseconds,
rates and availability to a fraction between 0 and 1.

A false violation is worse than a missed one, so extraction is strict.
A value without a unit is used only when its key names the unit
(`p95_ms`) or, for a rate, when it lies between 0 and 1. A comparison in
prose counts as a target only near a word such as SLO, target or 目標,
on its line or in an enclosing heading. A comparison that points the
wrong way for its metric (`P95 latency > 500ms`, an alert condition) is
not a target.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal, TypeVar

from pydantic import BaseModel, Field

from vpm.model import Finding

Operator = Literal["<", "<=", ">", ">="]

LATENCY_METRICS = {"p50", "p75", "p90", "p95", "p99", "p99.9", "avg"}
UPPER_BOUND_METRICS = LATENCY_METRICS | {"error_rate"}
LABELS = {
    "avg": "average latency",
    "error_rate": "error rate",
    "success_rate": "success rate",
    "availability": "availability",
}
TOLERANCE = 1e-9


class MetricTarget(BaseModel):
    """A stated bound on a metric, such as `p95 <= 1s`."""

    metric: str = Field(description="Canonical metric: p95, error_rate, ...")
    op: Operator = Field(description="Comparison a measurement must satisfy.")
    value: float = Field(description="Bound in ms (latency) or as a fraction.")
    path: str = Field(description="Project-relative file that states it.")
    line: int = Field(description="1-based line of the statement.")
    quote: str = Field(description="The line, trimmed.")
    local: bool = Field(
        default=False,
        description=(
            "The bound sits beside its own figure (a JSON threshold key, "
            "`(target: ≤1s)`, a table's target column), so it holds only for "
            "measurements in the same file."
        ),
    )


class Measurement(BaseModel):
    """A recorded figure for a metric, such as `"p95_ms": 3543`."""

    metric: str = Field(description="Canonical metric: p95, error_rate, ...")
    value: float = Field(description="Value in ms (latency) or as a fraction.")
    path: str = Field(description="Project-relative file that records it.")
    line: int = Field(description="1-based line of the figure.")
    quote: str = Field(description="The line, trimmed.")


# names, numbers and units

NAME = (
    r"(?:latency[ _])?p(?:50|75|90|95|99(?:\.9)?)(?:[ _]latency)?(?:_ms|_s|_sec)?"
    r"|(?:avg|average|mean)(?:[ _]latency)?(?:_ms|_s|_sec)?"
    r"|error[ _]?rate(?:_percent|_pct)?|error\s?%|errors|err_rate|エラー率"
    r"|success[ _]?rate(?:_percent|_pct)?|success|成功率"
    r"|availability|uptime|可用性"
)
# Not after a letter, digit, dot, colon or hyphen: `json_error_rate` and the
# recording rule `hello_ai:latency:p95:5m` are not these metrics. The end
# test is ASCII-only too, so a Japanese particle may follow: `エラー率は`.
NAME_START = r"(?<![A-Za-z0-9_.:\-])(?<!json )"
NAME_END = r"(?![A-Za-z0-9_%])"
NUMBER = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?"
UNIT = r"ms|msec|milliseconds?|µs|us|secs?|seconds?|s|%|ミリ秒|秒"
OPERATORS: dict[str, Operator] = {
    "<": "<", "<=": "<=", "=<": "<=", "≤": "<=", "＜": "<", "≦": "<=",
    ">": ">", ">=": ">=", "=>": ">=", "≥": ">=", "＞": ">", "≧": ">=",
    "未満": "<", "以下": "<=", "以内": "<=", "超": ">", "以上": ">=",
}  # fmt: skip
OPERATOR = r"<=|=<|>=|=>|[<>≤≥＜＞≦≧]"
TARGET_WORDS = re.compile(
    r"(?i)(?<![a-z])(?:slo|sla|sli)s?(?![a-z])|target|objective|threshold|goal|"
    r"budget|requirement|criteri|(?<![a-z])gate(?![a-z])|ゲート|目標|基準|閾値|"
    r"しきい値|要件|条件"
)


@dataclass(frozen=True)
class _Metric:
    name: str
    unit: str | None
    """Unit named by a key suffix (`p95_ms`), or "%" for `_percent` keys."""
    needs_percent: bool = False
    """Bare `errors` and `success` are rates only when given in percent."""


def _metric(name: str) -> _Metric:
    text = name.lower().replace("*", "").strip()
    unit = _key_unit(text)
    percentile = re.search(r"p(50|75|90|95|99(?:\.9)?)", text)
    if percentile and "rate" not in text:
        return _Metric("p" + percentile.group(1), unit)
    if text.startswith(("avg", "average", "mean")):
        return _Metric("avg", unit)
    if text.startswith(("error", "err_", "エラー")):
        percent = "%" if "%" in text or unit == "%" else None
        return _Metric("error_rate", percent, needs_percent=text == "errors")
    if text.startswith(("success", "成功")):
        return _Metric("success_rate", unit, needs_percent=text == "success")
    return _Metric("availability", None)


def _key_unit(text: str) -> str | None:
    for suffix, unit in (("_ms", "ms"), ("_sec", "s"), ("_s", "s")):
        if text.endswith(suffix):
            return unit
    return "%" if text.endswith(("_percent", "_pct")) else None


def _normalize(metric: _Metric, number: str, unit: str | None) -> float | None:
    """Return the value in ms or as a fraction, or None if it is ambiguous."""
    value = float(number.replace(",", ""))
    unit = (unit or metric.unit or "").lower()
    if metric.name in LATENCY_METRICS:
        milliseconds = _milliseconds(value, unit)
        return None if milliseconds is None else round(milliseconds, 9)
    if metric.needs_percent and unit != "%":
        return None
    if unit == "%":
        value /= 100
    elif unit:
        return None
    # Rounding drops float noise such as 99.9 / 100 = 0.9990000000000001.
    return round(value, 12) if 0 <= value <= 1 else None


def _milliseconds(value: float, unit: str) -> float | None:
    if unit in ("ms", "msec", "millisecond", "milliseconds", "ミリ秒"):
        return value
    if unit in ("s", "sec", "secs", "second", "seconds", "秒"):
        return value * 1000
    if unit in ("µs", "us"):
        return value / 1000
    return None


def _is_upper_bound(metric: str) -> bool:
    return metric in UPPER_BOUND_METRICS


def _points_right_way(metric: str, op: str) -> bool:
    return op.startswith("<") == _is_upper_bound(metric)


# lines and their context


@dataclass(frozen=True)
class _Line:
    number: int
    text: str
    """The line with Markdown emphasis and backticks removed."""
    raw: str
    in_target_section: bool


HEADING = re.compile(r"^\s{0,3}#{1,6}\s")
FENCE = re.compile(r"^\s*(```|~~~)")


def _lines(text: str, path: str) -> Iterator[_Line]:
    is_markdown = path.lower().endswith((".md", ".markdown", ".mdx"))
    headings: list[tuple[int, bool]] = []
    in_fence = False
    for number, raw in enumerate(text.split("\n"), 1):
        if is_markdown and FENCE.match(raw):
            in_fence = not in_fence
            continue
        if is_markdown and not in_fence and HEADING.match(raw):
            level = len(raw.lstrip()) - len(raw.lstrip().lstrip("#"))
            headings = [h for h in headings if h[0] < level]
            headings.append((level, bool(TARGET_WORDS.search(raw))))
        cleaned = raw.replace("**", "").replace("`", "")
        in_section = any(has_words for _, has_words in headings)
        yield _Line(number, cleaned, raw, in_section)


def _quote(raw: str) -> str:
    raw = raw.strip()
    return raw if len(raw) <= 200 else raw[:199] + "…"


# measurements

MEASURED = re.compile(
    rf"(?i){NAME_START}[\"']?(?P<name>{NAME})[\"']?{NAME_END}\s*(?:\([^)]*\))?\s*"
    rf"(?:[:=：]|≈|~|は|が)\s*(?:≈|~|約)?\s*(?P<number>{NUMBER})\s*"
    rf"(?P<unit>{UNIT})?(?![A-Za-z0-9_])"
)
HEY_PERCENTILE = re.compile(
    r"^\s*(?P<q>50|75|90|95|99)(?:\.0+)?%\s+in\s+(?P<number>\d+(?:\.\d+)?)\s+secs?\b"
)
HEY_AVERAGE = re.compile(r"^\s*Average:\s+(?P<number>\d+(?:\.\d+)?)\s+secs?\b")


def extract_measurements(text: str, path: str) -> list[Measurement]:
    """Return the figures recorded in one file, in line order.

    Args:
        text: The file content.
        path: Project-relative path, stored on each item; a Markdown
            suffix enables heading and table handling.
    """
    lines = list(_lines(text, path))
    found = [*_line_measurements(lines, path), *_table_items(lines, path)[1]]
    return _unique(sorted(found, key=lambda item: item.line))


def _line_measurements(lines: list[_Line], path: str) -> Iterator[Measurement]:
    for line in lines:
        for metric, number, unit in _measured_values(line.text):
            value = _normalize(metric, number, unit)
            if value is not None:
                yield Measurement(
                    metric=metric.name,
                    value=value,
                    path=path,
                    line=line.number,
                    quote=_quote(line.raw),
                )


def _measured_values(text: str) -> Iterator[tuple[_Metric, str, str | None]]:
    hey = HEY_PERCENTILE.match(text)
    if hey:
        yield _Metric("p" + hey.group("q"), None), hey.group("number"), "s"
        return
    average = HEY_AVERAGE.match(text)
    if average:
        yield _Metric("avg", None), average.group("number"), "s"
        return
    for match in MEASURED.finditer(text):
        yield _metric(match.group("name")), match.group("number"), match.group("unit")


# targets

NAME_OP_VALUE = re.compile(
    rf"(?i){NAME_START}[\"']?(?P<name>{NAME})[\"']?{NAME_END}\s*[(（]?\s*"
    rf"(?P<op>{OPERATOR})\s*(?P<number>{NUMBER})\s*(?P<unit>{UNIT})?(?![A-Za-z0-9_])"
)
OP_VALUE_NAME = re.compile(
    rf"(?i)(?<![\w.])(?P<op>{OPERATOR})\s*(?P<number>{NUMBER})\s*(?P<unit>{UNIT})?"
    rf"\s+(?P<name>{NAME}){NAME_END}"
)
PERCENT_NAME = re.compile(
    r"(?i)(?<![\w.])(?P<number>\d+(?:\.\d+)?)\s*(?P<unit>%)\s*"
    r"(?P<name>availability|uptime|success rate|可用性|成功率)"
)
NAME_VALUE_WORD = re.compile(
    rf"(?i){NAME_START}(?P<name>{NAME}){NAME_END}\s*(?:は|が|を|:)?\s*"
    rf"(?P<number>{NUMBER})\s*(?P<unit>{UNIT})?\s*(?P<op>未満|以下|以内|以上|超)"
)
ACHIEVED = re.compile(r"\s*(?:だった|でした|であった|を達成|達成|に収ま|を確認|で推移)")
BOUND_FOLLOWS = re.compile(
    rf"\s*[(（]\s*(?:(?:target|目標)\s*[:：]?\s*)?(?:{OPERATOR})"
)
TARGET_IN_PARENTHESES = re.compile(
    rf"(?i)[(（]\s*(?:(?:target|目標)\s*[:：]?\s*)?(?P<op>{OPERATOR})\s*"
    rf"(?P<number>{NUMBER})\s*(?P<unit>{UNIT})?\s*(?P<word>target|目標)?\s*[)）]"
)
JSON_BOUND = re.compile(
    rf"(?i){NAME_START}[\"']?(?P<name>{NAME})_(?P<kind>target|max|min|threshold|limit)"
    r"(?:_(?P<unit>ms|s|sec))?[\"']?\s*[:=]\s*(?P<number>\d+(?:\.\d+)?)\b"
)


def extract_targets(text: str, path: str) -> list[MetricTarget]:
    """Return the targets stated in one file, in line order.

    Args:
        text: The file content, e.g. the state document or an SLO report.
        path: Project-relative path, stored on each item; a Markdown
            suffix enables heading and table handling.
    """
    lines = list(_lines(text, path))
    found = [*_line_targets(lines, path), *_table_items(lines, path)[0]]
    return _unique(sorted(found, key=lambda item: item.line))


def _line_targets(lines: list[_Line], path: str) -> Iterator[MetricTarget]:
    for line in lines:
        for (metric, op, number, unit), is_local in _stated_bounds(line):
            value = _normalize(metric, number, unit)
            if value is not None and _points_right_way(metric.name, op):
                yield MetricTarget(
                    metric=metric.name,
                    op=op,
                    value=value,
                    path=path,
                    line=line.number,
                    quote=_quote(line.raw),
                    local=is_local,
                )


Bound = tuple[_Metric, Operator, str, str | None]


def _stated_bounds(line: _Line) -> Iterator[tuple[Bound, bool]]:
    """Yield each bound on the line with whether it is local to the file."""
    for bound in _json_bounds(line.text):
        yield bound, True
    for bound in _parenthesized_bounds(line.text):
        yield bound, True
    for bound in _worded_bounds(line.text):
        yield bound, False
    if line.in_target_section or TARGET_WORDS.search(line.text):
        for bound in _prose_bounds(line.text):
            yield bound, False


def _prose_bounds(text: str) -> Iterator[Bound]:
    for pattern in (NAME_OP_VALUE, OP_VALUE_NAME, NAME_VALUE_WORD):
        for match in pattern.finditer(text):
            op = OPERATORS[match.group("op")]
            yield _metric(match.group("name")), op, match["number"], match["unit"]
    for match in PERCENT_NAME.finditer(text):
        # In "100% success rate (≥99% target)" the figure is a result.
        if not BOUND_FOLLOWS.match(text[match.end() :]):
            yield _metric(match.group("name")), ">=", match.group("number"), "%"


def _worded_bounds(text: str) -> Iterator[Bound]:
    # "p95 は 500ms 以下" states a bound by itself, unless the sentence
    # reports it as achieved ("以下だった", "以下を達成"), which is a result.
    for match in NAME_VALUE_WORD.finditer(text):
        if ACHIEVED.match(text[match.end() :]):
            continue
        op = OPERATORS[match.group("op")]
        yield _metric(match.group("name")), op, match["number"], match["unit"]


def _json_bounds(text: str) -> Iterator[Bound]:
    for match in JSON_BOUND.finditer(text):
        # The key names the metric exactly, so `success_threshold: 0.99`
        # is a rate even though bare "success" needs a percent sign.
        metric = _metric(match.group("name"))
        metric = _Metric(metric.name, metric.unit)
        kind = match.group("kind").lower()
        op: Operator
        if kind == "min":
            op = ">="
        elif kind == "max" or _is_upper_bound(metric.name):
            op = "<="
        else:
            op = ">="
        yield metric, op, match.group("number"), match.group("unit")


def _parenthesized_bounds(text: str) -> Iterator[Bound]:
    # In "P50 Latency: 285ms (<1000ms target)" the bound belongs to the
    # figure before it, and the word "target" makes it a target.
    for bound in TARGET_IN_PARENTHESES.finditer(text):
        if "target" not in bound.group(0).lower() and "目標" not in bound.group(0):
            continue
        figures = list(MEASURED.finditer(text[: bound.start()]))
        if figures:
            metric = _metric(figures[-1].group("name"))
            op = OPERATORS[bound.group("op")]
            yield metric, op, bound.group("number"), bound.group("unit")


# tables

TABLE_ROW = re.compile(r"^\s*\|(.+)\|\s*$")
TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{3,}")
WHOLE_NAME = re.compile(rf"(?i)^\s*(?P<name>{NAME})\s*$")
VALUE_CELL = re.compile(rf"^\s*(?:≈|~)?\s*(?P<number>{NUMBER})\s*(?P<unit>{UNIT})?\s*$")
BOUND_CELL = re.compile(
    rf"^\s*(?P<op>{OPERATOR})\s*(?P<number>{NUMBER})\s*(?P<unit>{UNIT})?\s*$"
)
TARGET_COLUMN = re.compile(r"(?i)target|objective|threshold|slo|目標|基準|閾値")
ACTUAL_COLUMN = re.compile(r"(?i)actual|achieved|measured|result|value|実測|結果")


def _table_items(
    lines: list[_Line], path: str
) -> tuple[list[MetricTarget], list[Measurement]]:
    """Read Markdown tables whose rows or columns are metrics."""
    targets: list[MetricTarget] = []
    measurements: list[Measurement] = []
    for header, rows in _tables(lines):
        metric_columns = {
            i: m for i, cell in enumerate(header) if (m := _whole_metric(cell))
        }
        for row in rows:
            cells = _cells(row.text)
            if metric_columns:
                measurements += _column_figures(row, cells, metric_columns, path)
            else:
                found = _row_items(row, cells, header, path)
                targets += found[0]
                measurements += found[1]
    return targets, measurements


def _tables(lines: list[_Line]) -> Iterator[tuple[list[str], list[_Line]]]:
    index = 0
    while index + 1 < len(lines):
        head, rule = lines[index], lines[index + 1]
        if not (TABLE_ROW.match(head.text) and TABLE_RULE.match(rule.text)):
            index += 1
            continue
        rows = []
        index += 2
        while index < len(lines) and TABLE_ROW.match(lines[index].text):
            rows.append(lines[index])
            index += 1
        yield _cells(head.text), rows


def _cells(text: str) -> list[str]:
    return [cell.strip() for cell in text.strip().strip("|").split("|")]


def _whole_metric(cell: str) -> _Metric | None:
    match = WHOLE_NAME.match(cell)
    return _metric(match.group("name")) if match else None


def _column_figures(
    row: _Line, cells: list[str], columns: dict[int, _Metric], path: str
) -> Iterator[Measurement]:
    for index, metric in columns.items():
        value = _cell_value(metric, cells, index)
        if value is not None:
            yield Measurement(
                metric=metric.name,
                value=value,
                path=path,
                line=row.number,
                quote=_quote(row.raw),
            )


def _row_items(
    row: _Line, cells: list[str], header: list[str], path: str
) -> tuple[list[MetricTarget], list[Measurement]]:
    metric = _whole_metric(cells[0]) if cells else None
    if metric is None:
        return [], []
    where = {"path": path, "line": row.number, "quote": _quote(row.raw)}
    targets, measurements = [], []
    for index, title in enumerate(header[1:], 1):
        if TARGET_COLUMN.search(title):
            bound = _cell_bound(metric, cells, index)
            if bound is not None:
                targets.append(
                    MetricTarget(metric=metric.name, local=True, **bound, **where)
                )
        elif ACTUAL_COLUMN.search(title):
            value = _cell_value(metric, cells, index)
            if value is not None:
                measurements.append(
                    Measurement(metric=metric.name, value=value, **where)
                )
    return targets, measurements


def _cell_bound(metric: _Metric, cells: list[str], index: int) -> dict | None:
    match = BOUND_CELL.match(cells[index]) if index < len(cells) else None
    if match is None:
        return None
    op = OPERATORS[match["op"]]
    value = _normalize(metric, match["number"], match["unit"])
    if value is None or not _points_right_way(metric.name, op):
        return None
    return {"op": op, "value": value}


def _cell_value(metric: _Metric, cells: list[str], index: int) -> float | None:
    if index >= len(cells):
        return None
    match = VALUE_CELL.match(cells[index])
    return _normalize(metric, match["number"], match["unit"]) if match else None


Item = TypeVar("Item", MetricTarget, Measurement)


def _unique(items: list[Item]) -> list[Item]:
    seen = set()
    unique = []
    for item in items:
        key = tuple(item.model_dump().values())
        if key not in seen:
            seen.add(key)
            unique.append(item)
    return unique


# violations


def find_metric_violations(
    targets: list[MetricTarget], measurements: list[Measurement]
) -> list[Finding]:
    """Report each measurement that breaks a target for the same metric.

    A target marked `local` is held only against measurements in its own
    file. A measurement that breaks several targets is reported once,
    naming the loosest one it breaks, because every stricter one is then
    broken too.

    NOTE: targets match measurements by metric name only, not by service
    or endpoint, so callers choose which files' targets apply.
    """
    findings = []
    for measurement in measurements:
        broken = [
            target
            for target in targets
            if _applies(target, measurement) and _breaks(measurement, target)
        ]
        if broken:
            findings.append(_violation(measurement, broken))
    return findings


def _applies(target: MetricTarget, measurement: Measurement) -> bool:
    if target.metric != measurement.metric:
        return False
    return not target.local or target.path == measurement.path


def _breaks(measurement: Measurement, target: MetricTarget) -> bool:
    # The slack absorbs float noise. A value equal to the bound breaks a
    # strict bound and meets an inclusive one.
    value, bound = measurement.value, target.value
    slack = TOLERANCE * max(1.0, abs(bound))
    if target.op == "<":
        return value > bound - slack
    if target.op == "<=":
        return value > bound + slack
    if target.op == ">":
        return value < bound + slack
    return value < bound - slack


def _violation(measurement: Measurement, broken: list[MetricTarget]) -> Finding:
    if _is_upper_bound(measurement.metric):
        target = max(broken, key=lambda t: t.value)
    else:
        target = min(broken, key=lambda t: t.value)
    label = _label(measurement.metric)
    stated = f"{target.path}:{target.line}"
    message = (
        f"`{measurement.path}` line {measurement.line} records {label} "
        f"{_format(measurement.metric, measurement.value)}, which breaks the "
        f"target {label} {target.op} {_format(target.metric, target.value)} "
        f"stated at `{stated}`."
    )
    if len(broken) > 1:
        others = len(broken) - 1
        message += f" It also breaks {others} stricter stated target(s)."
    return Finding(
        kind="metric-violates-target",
        severity="warning",
        message=message,
        path=measurement.path,
        line=measurement.line,
        subject=label,
        evidence=measurement.path,
        evidence_line=measurement.line,
        quote=measurement.quote,
        suggestion=(
            f"Bring {label} within the target stated at {stated} and record new "
            "evidence, or restate the target if it changed."
        ),
    )


def _label(metric: str) -> str:
    if metric in LABELS:
        return LABELS[metric]
    return f"{metric} latency"


def _format(metric: str, value: float) -> str:
    if metric in LATENCY_METRICS:
        return f"{value:.6g} ms"
    return f"{value * 100:.6g}%"
