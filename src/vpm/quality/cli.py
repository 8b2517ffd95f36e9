"""The `vpm summarize` and `vpm quality` commands.

Both use the engine the settings choose (``VPM_*`` variables and
`vpm.toml`): the LLM engine when `llm_base_url` and `llm_model` are set,
the offline engine otherwise. Both run the curator exactly as a cycle does,
windows and all.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from vpm.clitools import FormatOption, OutputFormat, err_console, user_errors
from vpm.engines.base import Engine
from vpm.engines.select import engine_for
from vpm.errors import UserError
from vpm.model import ChatMessage, EngineRun, Problem, SessionDigest
from vpm.pipeline import Layout
from vpm.quality.digest import RecordingEngine, digest_messages, digest_turns
from vpm.quality.items import decode_lines, parse_item, read_items
from vpm.quality.report import write_report
from vpm.quality.score import QualityReport, score_set
from vpm.settings import Settings, load_settings
from vpm.sources.chat import read_chat_file

DEFAULT_SET = Path("examples") / "quality" / "set.jsonl"
STDIN = "-"

console = Console(highlight=False, soft_wrap=True)


def summarize(
    source: Annotated[
        str,
        typer.Argument(help="Chat log (JSONL) or transcript; '-' reads stdin."),
    ] = STDIN,
    output_format: FormatOption = OutputFormat.text,
    jsonl: Annotated[
        bool,
        typer.Option(
            "--jsonl",
            help="Read one item per line (a JSON object with text, raw, dialogue "
            "or messages) and write one JSON result per line.",
        ),
    ] = False,
) -> None:
    """Summarize a chat log or transcript with the curator's engine.

    Prints the summary (at most summary_max_chars, 400 by default) and the
    decisions, open questions, todos and risks. The engine is chosen by the
    VPM_* variables and ./vpm.toml. The JSON output names the engine of the
    summary (summary_run) and of the extractions (extraction_run). With
    --jsonl, lines that cannot be read, invalid UTF-8 included, are reported
    on stderr with their line number and skipped, and the exit status is 1.

    Example: vpm summarize logs/chat/2026-11-19.jsonl --format json
    """
    with user_errors():
        settings = load_settings(Path.cwd())
        engine = engine_for(settings)
        data = _read_bytes(source)
        if jsonl:
            text, problems = decode_lines(data, _display_name(source))
            _warn(problems)
            skipped = len(problems) + _summarize_lines(text, source, settings, engine)
        else:
            text = _decode(data, source)
            _summarize_log(text, source, settings, engine, output_format)
            skipped = 0
    if skipped:
        raise typer.Exit(1)


def _read_bytes(source: str) -> bytes:
    """Read a file, or stdin for ``-``.

    Raises:
        UserError: The file is missing or unreadable.
    """
    try:
        if source == STDIN:
            return sys.stdin.buffer.read()
        return Path(source).read_bytes()
    except OSError as exc:
        name = _display_name(source)
        raise UserError(f"cannot read {name}: {exc.strerror or exc}") from None


def _decode(data: bytes, source: str) -> str:
    """Decode a whole chat log or transcript as UTF-8.

    Raises:
        UserError: The data is not UTF-8.
    """
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        name = _display_name(source)
        raise UserError(f"{name} is not UTF-8 text (byte {exc.start})") from None


def _summarize_log(
    data: str,
    source: str,
    settings: Settings,
    engine: Engine,
    output_format: OutputFormat,
) -> None:
    messages, problems = _read_chat(data, source)
    _warn(problems)
    if not messages:
        raise UserError(f"{_display_name(source)} contains no messages to summarize")
    recorder = RecordingEngine(engine)
    digest = digest_messages(messages, settings, recorder)
    if output_format is OutputFormat.json:
        _print_json(_result(digest, recorder))
        return
    _print_digest(digest, recorder)


def _read_chat(data: str, source: str) -> tuple[list[ChatMessage], list[Problem]]:
    """Read chat messages from a file, or from stdin through a temporary file.

    The chat reader decides between JSONL and transcript by the file
    suffix, so stdin is saved under the suffix its first line suggests.
    """
    if source != STDIN:
        return read_chat_file(Path(source), source)
    first = next((line for line in data.splitlines() if line.strip()), "")
    suffix = ".jsonl" if first.lstrip().startswith("{") else ".txt"
    with tempfile.TemporaryDirectory(prefix="vpm-summarize-") as folder:
        path = Path(folder) / f"stdin{suffix}"
        path.write_text(data, encoding="utf-8")
        messages, problems = read_chat_file(path, "stdin")
    return messages, problems


def _summarize_lines(data: str, source: str, settings: Settings, engine: Engine) -> int:
    """Write one JSON result per readable line; return the number skipped."""
    skipped = 0
    for number, line in enumerate(data.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            item = parse_item(line, number)
        except ValueError as exc:
            _warn([Problem(path=_display_name(source), line=number, message=str(exc))])
            skipped += 1
            continue
        recorder = RecordingEngine(engine)
        digest = digest_turns(item.turns, settings, recorder, session_id=item.id)
        result = {"line": number, "id": item.id, **_result(digest, recorder)}
        sys.stdout.write(json.dumps(result, ensure_ascii=False) + "\n")
        sys.stdout.flush()
    return skipped


def _result(digest: SessionDigest, recorder: RecordingEngine) -> dict[str, Any]:
    """Build the JSON result of one digest.

    `engine`, `fallback` and `reason` describe the digest as a whole: the
    engine of its last call, and the first fallback of any call. The two
    `*_run` objects separate the summary from the extractions.
    """
    return {
        "summary": digest.summary,
        "extractions": digest.extractions.model_dump(),
        "engine": digest.run.engine,
        "fallback": digest.run.fallback,
        "reason": digest.run.reason,
        "summary_run": _task_run(recorder, "summarize"),
        "extraction_run": _task_run(recorder, "extract"),
    }


def _task_run(recorder: RecordingEngine, task: str) -> dict[str, Any]:
    """Fold the engine calls of one task into one record with call counts.

    A long text is summarized window by window, so one task can make many
    calls, of which only some may fall back.
    """
    runs = [run for name, run in recorder.runs if name == task]
    fallbacks = [run for run in runs if run.fallback]
    combined = EngineRun(
        engine=runs[-1].engine if runs else recorder.name,
        fallback=bool(fallbacks),
        reason=fallbacks[0].reason if fallbacks else None,
        duration_ms=sum(run.duration_ms for run in runs),
    )
    return {
        **combined.model_dump(),
        "calls": len(runs),
        "fallback_calls": len(fallbacks),
    }


def _print_digest(digest: SessionDigest, recorder: RecordingEngine) -> None:
    console.print(escape(digest.summary))
    headings = {
        "decisions": "Decisions",
        "questions": "Open questions",
        "todos": "Todos",
        "risks": "Risks",
    }
    for kind, heading in headings.items():
        items = getattr(digest.extractions, kind)
        if items:
            console.print(f"\n{heading}:")
            for item in items:
                console.print(f"- {escape(item)}")
    # A fallback is reported, never hidden, but stdout keeps only results.
    parts = {
        "summary": _task_run(recorder, "summarize"),
        "extractions": _task_run(recorder, "extract"),
    }
    for part, run in parts.items():
        if run["fallback"]:
            err_console.print(f"Warning: {escape(_fallback_text(part, run, parts))}")


def _fallback_text(
    part: str, run: dict[str, Any], parts: dict[str, dict[str, Any]]
) -> str:
    """Describe the fallback of one part and name the engine of the other."""
    pronoun = "it" if part == "summary" else "them"
    if run["fallback_calls"] < run["calls"]:
        written = f"{run['fallback_calls']} of its {run['calls']} engine calls"
    else:
        written = pronoun
    text = (
        f"the LLM failed on the {part} ({run['reason']}); "
        f"the offline engine wrote {written}."
    )
    for other, other_run in parts.items():
        if other != part and not other_run["fallback"] and other_run["calls"]:
            verb = "is" if other == "summary" else "are"
            text += f" The {other} {verb} from {other_run['engine']}."
    return text


def quality(
    project: Annotated[
        Path, typer.Argument(help="Project whose settings choose the engine.")
    ] = Path("."),
    reference_set: Annotated[
        Path | None,
        typer.Option(
            "--set",
            help="JSONL reference set: text (or raw, dialogue, messages) and "
            "reference (or digest_expected) per line. Default: "
            "PROJECT/examples/quality/set.jsonl.",
        ),
    ] = None,
    min_rouge_l: Annotated[
        float | None,
        typer.Option(
            "--min-rouge-l",
            min=0.0,
            max=1.0,
            help="Exit 1 when the mean ROUGE-L F1 (0 to 1) is below this value.",
        ),
    ] = None,
    max_chars: Annotated[
        int,
        typer.Option(
            "--max-chars", min=1, help="Maximum summary length, in characters."
        ),
    ] = 400,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Write the report under DIR/reports instead."),
    ] = None,
    output_format: FormatOption = OutputFormat.text,
) -> None:
    """Score the curator's summaries against reference digests.

    Writes reports/vpm/quality.json and quality.md (DIR/reports with --out)
    with ROUGE-L (F1, precision, recall), the share of summaries within
    --max-chars and the share of valid JSON extractions, per item and
    overall, with the engine of each. Lines of the set that cannot be read
    are reported and skipped, and then the exit status is 1.

    Example: vpm quality . --min-rouge-l 0.3
    """
    with user_errors():
        layout = Layout.for_project(project, out)
        set_path = reference_set or layout.project / DEFAULT_SET
        text, problems = decode_lines(_read_set(set_path), str(set_path))
        items, item_problems = read_items(text, str(set_path), True)
        problems += item_problems
        _warn(sorted(problems, key=lambda problem: problem.line or 0))
        if not items:
            raise UserError(f"{set_path} contains no items with text and reference")
        settings = load_settings(layout.project)
        report = score_set(
            items,
            settings,
            engine_for(settings),
            set_name=str(set_path),
            max_chars=max_chars,
            min_rouge_l=min_rouge_l,
            skipped_lines=len(problems),
        )
        json_path, markdown_path = write_report(report, layout.reports_dir)
    if output_format is OutputFormat.json:
        _print_json(report.model_dump(mode="json"))
    else:
        _print_quality(report, markdown_path)
    if not report.passed:
        raise typer.Exit(1)


def _read_set(path: Path) -> bytes:
    if not path.is_file():
        raise UserError(
            f"reference set not found: {path}; pass --set FILE (JSONL with text "
            "and reference fields)"
        )
    return _read_bytes(str(path))


def _print_quality(report: QualityReport, markdown_path: Path) -> None:
    rouge = report.rouge_l
    console.print(
        f"ROUGE-L F1 {rouge.f1:.3f} (P {rouge.precision:.3f}, R {rouge.recall:.3f}) "
        f"over {report.items} items"
    )
    for language, score in report.by_language.items():
        console.print(f"  {language}: {score.items} items, F1 {score.rouge_l.f1:.3f}")
    console.print(
        f"Within {report.max_chars} characters: {report.within_limit_share:.0%}; "
        f"valid JSON extractions: {report.json_valid_share:.0%}"
    )
    engines = ", ".join(f"{name} × {count}" for name, count in report.engines.items())
    console.print(f"Engines: {engines}; fell back: {report.fallbacks}")
    if report.skipped_lines:
        console.print(
            f"Skipped lines: {report.skipped_lines}; the run fails until every "
            "line of the set can be scored"
        )
    if report.min_rouge_l is not None:
        verdict = "passed" if report.rouge_l_passed else "failed"
        console.print(f"Gate F1 ≥ {report.min_rouge_l:.3f}: {verdict}")
    console.print(f"Report: {markdown_path}")


def _warn(problems: list[Problem]) -> None:
    for problem in problems:
        err_console.print(f"Warning: {escape(problem.render())}")


def _display_name(source: str) -> str:
    return "stdin" if source == STDIN else source


def _print_json(payload: Any) -> None:
    sys.stdout.write(json.dumps(payload, ensure_ascii=False, indent=2) + "\n")
