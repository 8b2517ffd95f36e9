"""Write a quality report as JSON and Markdown."""

from __future__ import annotations

import logging
from pathlib import Path

from vpm.fsio import write_json_atomic, write_text_atomic
from vpm.quality.score import ItemScore, QualityReport

log = logging.getLogger("vpm")

# Summaries longer than this are shortened in the Markdown table only.
_TABLE_SUMMARY_CHARS = 60


def write_report(report: QualityReport, reports_dir: Path) -> tuple[Path, Path]:
    """Write `quality.json` and `quality.md` into `reports_dir`, atomically."""
    json_path = reports_dir / "quality.json"
    markdown_path = reports_dir / "quality.md"
    write_json_atomic(json_path, report.model_dump(mode="json"))
    write_text_atomic(markdown_path, render_markdown(report))
    log.info("wrote %s and %s", json_path, markdown_path)
    return json_path, markdown_path


def render_markdown(report: QualityReport) -> str:
    """Render the overall scores, then one table row per item."""
    lines = [
        "# Summary quality",
        "",
        f"Set: `{report.set}`, {report.items} items. ROUGE-L over vpm's tokens "
        "(one token per Japanese character), means over items.",
        "",
        *_overall_lines(report),
        "",
        "| id | lang | engine | chars | ROUGE-L F1 | P | R | JSON | summary |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | --- | --- |",
    ]
    lines += [_item_row(score) for score in report.scores]
    return "\n".join(lines) + "\n"


def _item_row(score: ItemScore) -> str:
    engine = score.engine
    if score.fallback:
        engine += f" (fell back: {score.reason})"
    rouge = score.rouge_l
    json_state = "valid" if score.json_valid else "invalid"
    return (
        f"| {_cell(score.id)} | {score.language} | {engine} | {score.chars} "
        f"| {rouge.f1:.3f} | {rouge.precision:.3f} | {rouge.recall:.3f} "
        f"| {json_state} | {_cell(_shorten(score.summary))} |"
    )


def _overall_lines(report: QualityReport) -> list[str]:
    rouge = report.rouge_l
    engines = ", ".join(f"{name} × {count}" for name, count in report.engines.items())
    lines = [
        f"- ROUGE-L F1 **{rouge.f1:.3f}** (precision {rouge.precision:.3f}, "
        f"recall {rouge.recall:.3f})",
        f"- Summaries within {report.max_chars} characters: "
        f"{report.within_limit_share:.0%}",
        f"- Extractions that are valid JSON: {report.json_valid_share:.0%}",
        f"- Engines: {engines or 'none'}; items that fell back: {report.fallbacks}",
    ]
    for language, score in report.by_language.items():
        lines.append(
            f"- {language}: {score.items} items, ROUGE-L F1 {score.rouge_l.f1:.3f}"
        )
    if report.skipped_lines:
        lines.append(
            f"- Lines of the set skipped: **{report.skipped_lines}**, so the run "
            "**FAILED**"
        )
    if report.min_rouge_l is not None:
        verdict = "passed" if report.rouge_l_passed else "FAILED"
        lines.append(f"- Gate: mean F1 ≥ {report.min_rouge_l:.3f}: **{verdict}**")
    return lines


def _shorten(text: str) -> str:
    if len(text) <= _TABLE_SUMMARY_CHARS:
        return text
    return text[: _TABLE_SUMMARY_CHARS - 1] + "…"


def _cell(text: str) -> str:
    """Escape a value for a Markdown table cell."""
    return text.replace("|", "\\|").replace("\n", " ")
