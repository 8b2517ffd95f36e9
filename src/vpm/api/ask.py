"""Answer a question about a project through its engine.

The answer is drafted from the project's status (phase, δ, next move and
the findings that share words with the question), then handed to the
engine to word. The offline engine returns the draft as it is; an LLM
engine rewords it and, when it fails, returns the draft and reports the
fallback. The endpoint returns 200 even when the engine raises.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from vpm.engines.base import Engine

log = logging.getLogger("vpm")

MAX_FINDINGS = 3
# Sent as Retry-After with 503 ask-busy. A fixed hint, because how long the
# running engine calls still take is not known.
ASK_RETRY_AFTER_SECONDS = 5

Result = TypeVar("Result")


class AskBusy(Exception):
    """Every ask worker is busy and the queue of waiting questions is full."""


class AskPool:
    """The threads that run engine calls of `/api/v1/ask`, and their queue.

    A slow engine then holds only these threads. The sync endpoints, such
    as `/readyz` and `/api/v1/projects`, and status planning run in
    AnyIO's default thread pool, which stays free.

    Args:
        workers: Engine calls that run at once.
        queue: Calls that may wait for a free worker; `run` raises
            `AskBusy` for more.
    """

    def __init__(self, workers: int, queue: int) -> None:
        self.capacity = workers + queue
        self.pending = 0
        self.rejected = 0
        self._executor = ThreadPoolExecutor(workers, thread_name_prefix="vpm-ask")

    async def run(self, function: Callable[..., Result], *args: Any) -> Result:
        """Run `function(*args)` in a worker thread and await its result.

        Only the event loop calls this, so `pending` needs no lock.

        Raises:
            AskBusy: `capacity` calls are already running or waiting.
        """
        if self.pending >= self.capacity:
            self.rejected += 1
            raise AskBusy
        self.pending += 1
        try:
            future = self._executor.submit(function, *args)
            return await asyncio.wrap_future(future)
        finally:
            self.pending -= 1

    def shutdown(self) -> None:
        """Drop waiting calls without interrupting running ones.

        Python waits for running worker threads when the process exits, so
        an engine call without a deadline can delay the exit.
        """
        self._executor.shutdown(wait=False, cancel_futures=True)


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
