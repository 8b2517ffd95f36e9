"""Answer a question about a project through its engine.

The answer is drafted from the project's status (phase, δ, next move and
the findings that share words with the question), then handed to the
engine to word. The offline engine returns the draft as it is; an LLM
engine rewords it and, when it fails, returns the draft and reports the
fallback. The endpoint returns 200 even when the engine raises.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from typing import Any

from vpm.engines.base import Engine

log = logging.getLogger("vpm")

MAX_FINDINGS = 3
_WORD = re.compile(r"[A-Za-z0-9_./-]{3,}|[\u3040-\u30ff\u4e00-\u9fff]{2,}")


@dataclass
class Answer:
    """The reply to one question and how the engine produced it."""

    text: str
    engine: str
    fallback: bool
    reason: str | None
    duration_ms: float


def draft_answer(question: str, status: dict[str, Any]) -> str:
    """Write an answer from the status alone, without an engine."""
    phase = status.get("phase") or "Phase unknown"
    move = status["next_move"]
    lines = [f"{phase}. δ: {status.get('delta') or 'unknown'}"]
    lines.append(f"Next move ({move['rule']}): {move['action']}")
    for finding in _related_findings(question, status.get("findings", [])):
        where = (
            f"{finding['path']}:{finding['line']}"
            if finding.get("line")
            else finding["path"]
        )
        lines.append(f"{finding['kind']} at {where}: {finding['message']}")
    return "\n".join(lines)


def _related_findings(
    question: str, findings: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    words = {w.lower() for w in _WORD.findall(question)}
    scored = []
    for index, finding in enumerate(findings):
        text = " ".join(
            str(finding.get(k) or "") for k in ("kind", "message", "subject")
        )
        shared = words & {w.lower() for w in _WORD.findall(text)}
        if shared:
            scored.append((-len(shared), index, finding))
    return [finding for _, _, finding in sorted(scored)[:MAX_FINDINGS]]


def answer_question(question: str, status: dict[str, Any], engine: Engine) -> Answer:
    """Answer `question` through `engine`; never raises on engine failure."""
    draft = draft_answer(question, status)
    instruction = (
        "Answer the question below using only the facts in the draft. Keep every "
        f"path, line number and id.\nQuestion: {question}"
    )
    started = time.perf_counter()
    try:
        text, run = engine.word(instruction, draft)
    except Exception as exc:  # the endpoint must answer whatever the engine does
        elapsed = (time.perf_counter() - started) * 1000
        log.warning(
            "engine %s raised while wording an answer: %s",
            getattr(engine, "name", "?"),
            exc,
        )
        reason = f"error:{type(exc).__name__}"
        return Answer(draft, getattr(engine, "name", "unknown"), True, reason, elapsed)
    elapsed = (time.perf_counter() - started) * 1000
    return Answer(text.strip() or draft, run.engine, run.fallback, run.reason, elapsed)
