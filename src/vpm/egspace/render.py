"""Render the EG-Space report as Markdown."""

from __future__ import annotations

from vpm.egspace.report import Mover, SpaceReport
from vpm.egspace.space import HORIZON_HALF_LIVES


def render_markdown(report: SpaceReport) -> str:
    """Render `report` as a Markdown page."""
    lines = ["# EG-Space report", ""]
    lines += _header(report)

    lines += ["", "## Goal (G)", ""]
    lines += [
        f"- {g['role']}: {g['text']} ({g['source']}:{g['line']})" for g in report.goal
    ] or ["- (no goal: the state document has no short goal, criteria or goals)"]
    lines += ["", "## Distance", "", f"δ = 1 − cos(C, G) = {_number(report.delta)}"]

    lines += ["", "## Closer to the goal", ""]
    lines += [mover_line(m) for m in report.closer] or ["- (none)"]
    lines += ["", "## Farther from the goal", ""]
    lines += [mover_line(m) for m in report.farther] or ["- (none)"]

    lines += [
        "",
        "## δ per day",
        "",
        "| day | δ | dated items so far |",
        "| --- | --- | --- |",
    ]
    lines += [f"| {p.label} | {_number(p.delta)} | {p.items} |" for p in report.daily]
    if report.versions:
        lines += [
            "",
            "## δ per state version",
            "",
            "| version | date | δ to its own goal | δ to today's goal | items |",
            "| --- | --- | --- | --- | --- |",
        ]
        lines += [
            f"| {p.label} | {p.date[:10]} | {_number(p.delta)} | "
            f"{_number(p.delta_to_current_goal)} | {p.items} |"
            for p in report.versions
        ]

    lines += ["", "## How to read this", ""] + _legend(report)
    return "\n".join(lines) + "\n"


def mover_line(mover: Mover) -> str:
    """Render one mover as a Markdown list item."""
    when = (mover.timestamp or "undated")[:10]
    preview = mover.preview.replace("`", "'")
    return (
        f"- **{mover.score:+d}** `{mover.location}` ({mover.kind}, {when}): "
        f"pull {mover.pull:+.3f}, contribution {mover.contribution:+.3f}, "
        f"weight {mover.weight:.3f} — “{preview}”"
    )


def _header(report: SpaceReport) -> list[str]:
    reference = (report.reference or "none")[:10]
    lines = [
        f"- Embedder: {report.embedder} ({report.embedder_version})",
        f"- Store: {report.backend}",
        f"- Items: {report.items} ({report.dated_items} dated, "
        f"{report.items_in_current} weigh in C)",
        f"- C at {reference}, half-life {report.half_life_days:g} days",
    ]
    if report.since:
        lines.append(f"- Movers and days since {report.since[:10]}")
    return lines


def _legend(report: SpaceReport) -> list[str]:
    horizon = report.half_life_days * HORIZON_HALF_LIVES
    return [
        f"- C is the mean of the dated items' vectors, each weighted "
        f"0.5^(age / {report.half_life_days:g} days) at the reference time; "
        f"items older than {horizon:g} days weigh nothing.",
        "- G is the mean of the goal lines' vectors; δ = 1 − cos(C, G).",
        "- contribution = cos(item, G) − cos(item, C); pull = cos(item, G) − "
        "cos(item, C) · cos(C, G), the rate at which the item turns C toward G.",
        "- score = round(pull / σ) clipped to −3..+3, with σ the standard "
        "deviation of the pull over all items of the index.",
        "- State sections that hold a line of G are not listed as movers.",
    ]


def _number(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"
