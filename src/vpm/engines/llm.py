"""The LLM engine: summaries, extractions and wording from a language model.

It talks to any OpenAI-compatible chat-completions endpoint (OpenAI, Azure,
vLLM, Ollama, llama.cpp) through the official `openai` client. Every
failure falls back to the offline engine, and the `EngineRun` of the
output records the reason code:

=================  ===================================================
reason             what happened
=================  ===================================================
unreachable        no connection to the server
timeout            the call used up its `llm_timeout` budget
auth               HTTP 401 or 403: the API key was rejected
model-not-found    HTTP 404: the server does not serve `llm_model`
rate-limited       HTTP 429, and no retry fitted in the budget
server-error       HTTP 5xx, on the last retry
bad-request        any other HTTP 4xx, such as an unsupported option
bad-response       HTTP 200 with a body that is not a chat completion
empty              the reply has no text
invalid-json       extraction was asked for JSON and got something else
too-long           the reply is over the length limit or was cut off
lost-reference     a reworded text dropped a path or id of the draft
client-error       the `openai` client raised an unexpected exception
=================  ===================================================

The client's own retries are off (``max_retries=0``), because they would
stack on top of this module's retry loop. The loop retries only what may
pass on a second try (unreachable, 429, 5xx) and waits ``Retry-After`` when
the server sends one.

The `llm_timeout` budget of one call is a wall-clock deadline, retries and
waits included. Each request runs in a worker thread, and the call stops
waiting for it when the budget is used up, however slowly the server
sends. After an ``unreachable``, ``timeout``, ``auth`` or
``model-not-found`` failure, calls of the same engine fall back at once
for 60 seconds, so a cycle with many windows does not wait out the budget
each time.

The API key is held as a `SecretStr` and given only to the client.
Provider error messages can quote the key, so they are never logged or
stored: only the reason code and the HTTP status are.
"""

from __future__ import annotations

import email.utils
import importlib
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import openai
from pydantic import BaseModel, Field, SecretStr, ValidationError

from vpm.engines.base import Engine
from vpm.engines.offline import ITEM_MAX_CHARS, MAX_ITEMS, OfflineEngine, clip_text
from vpm.errors import UserError
from vpm.model import EngineRun, Extractions
from vpm.settings import Settings

log = logging.getLogger("vpm")

# The HTTP package of the openai client: httpx in openai 1.x, its fork
# httpx2 in openai 3.60. The response hook below must use its types.
_http: Any = importlib.import_module(
    openai.DefaultHttpxClient.__base__.__module__.partition(".")[0]
)

T = TypeVar("T")

# Failures after which the next call would fail the same way. Calls in the
# cooldown that follows one fall back at once. The cooldown ends, so a
# long-running service tries the server again.
_STICKY_REASONS = frozenset({"unreachable", "timeout", "auth", "model-not-found"})
_COOLDOWN_SECONDS = 60.0
_RETRIED_REASONS = frozenset({"unreachable", "rate-limited", "server-error"})
# Wait before retry number n (from 0) when the server names no time.
_BACKOFF_SECONDS = (0.5, 1.0, 2.0, 4.0)
# A reworded next move may grow, but not into an essay.
_WORD_MIN_CHARS = 400
# Paths with a folder (STATE/current_state.md:51) and ids such as P1-3,
# which a reworded next move must keep.
_REFERENCE = re.compile(
    r"[\w.-]+(?:/[\w.-]+)+(?::\d+)?|\b[A-Z][A-Z0-9]*-\d+(?:-\d+)*\b"
)
# Wall-clock deadline (time.monotonic) of the request that the current
# worker thread sends. The response hook reads it between body chunks.
_request_deadline = threading.local()
# Sent as the API key when none is configured. Local servers ignore it, and
# it keeps the client from reading OPENAI_API_KEY, which belongs to another
# provider, and sending it to this base URL.
_NO_KEY = "none"

SUMMARY_PROMPT = (
    "Summarize the project notes or chat the user sends, in the language of "
    "the text, in at most {max_chars} characters. Keep decisions, status, "
    "file paths and ids exactly as written. Reply with the summary only."
)
EXTRACT_PROMPT = (
    "From the project notes or chat the user sends, list the decisions, open "
    "questions, todos and risks, each item one short sentence in the language "
    'of the text. Reply with one JSON object: {"decisions": [...], '
    '"questions": [...], "todos": [...], "risks": [...]}, lists of strings, '
    "empty when there is nothing."
)
WORD_PROMPT = (
    "Reword the text the user sends. {instruction} Reply with the reworded "
    "text only, at most {max_chars} characters."
)


class LlmFailure(Exception):
    """A model call that produced no usable output.

    Attributes:
        reason: Short reason code, one of those in the module docstring.
        status: HTTP status code, when the server sent one.
        retry_after: Seconds the server asked to wait before a retry.
    """

    def __init__(
        self, reason: str, status: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(reason if status is None else f"{reason} (HTTP {status})")
        self.reason = reason
        self.status = status
        self.retry_after = retry_after


class LlmConfig(BaseModel):
    """Connection settings of the LLM engine, validated."""

    base_url: str = Field(description="Base URL of the API, ending in /v1.")
    model: str = Field(min_length=1, description="Model name sent with requests.")
    api_key: SecretStr | None = Field(default=None, description="Bearer token.")
    timeout: float = Field(default=30.0, gt=0, description="Seconds per call.")
    retries: int = Field(default=2, ge=0, description="Retries after the first.")
    max_tokens: int = Field(default=1024, ge=1, description="Tokens per reply.")

    @classmethod
    def from_settings(cls, settings: Settings) -> LlmConfig:
        """Read the `llm_*` settings.

        Raises:
            UserError: A setting is invalid, or only one of `llm_base_url`
                and `llm_model` is set.
        """
        if bool(settings.llm_base_url) != bool(settings.llm_model):
            raise UserError(
                "llm_base_url and llm_model must be set together: set both "
                "(VPM_LLM_BASE_URL, VPM_LLM_MODEL) to use an LLM, or neither "
                "for the offline engine"
            )
        if not str(settings.llm_base_url).startswith(("http://", "https://")):
            raise UserError(
                f"llm_base_url must be an http:// or https:// URL, got "
                f"{settings.llm_base_url!r}"
            )
        return _validated_config(settings)


def _validated_config(settings: Settings) -> LlmConfig:
    # Values from vpm.toml reach Settings unvalidated, so a key may come as
    # a plain string and a number as text. Validation here fixes both.
    try:
        return LlmConfig(
            base_url=settings.llm_base_url,
            model=settings.llm_model,
            api_key=settings.llm_api_key,
            timeout=settings.llm_timeout,
            retries=settings.llm_retries,
            max_tokens=settings.llm_max_tokens,
        )
    except ValidationError as exc:
        error = exc.errors()[0]
        name = f"llm_{error['loc'][0]}"
        raise UserError(
            f"invalid setting {name}: {error['msg']}; fix VPM_{name.upper()} "
            "or vpm.toml"
        ) from None


def engine_for(settings: Settings) -> Engine:
    """Return the LLM engine when `llm_base_url` and `llm_model` are set.

    Returns the offline engine otherwise.

    Raises:
        UserError: The `llm_*` settings are invalid.
    """
    if not settings.llm_base_url and not settings.llm_model:
        return OfflineEngine()
    return LlmEngine(LlmConfig.from_settings(settings))


class LlmEngine:
    """Summaries, extractions and wording from an OpenAI-compatible API.

    Args:
        config: Connection settings.
        fallback: Engine whose output is used when the model fails.
        sleep: Function that waits the given seconds, replaced in tests.
        clock: Function that returns monotonic seconds, replaced in tests.
    """

    def __init__(
        self,
        config: LlmConfig,
        fallback: Engine | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.name = f"llm:{config.model}"
        self.fallback = fallback or OfflineEngine()
        self._sleep = sleep
        self._clock = clock
        self._sticky_failure: LlmFailure | None = None
        self._sticky_until = 0.0
        key = config.api_key.get_secret_value() if config.api_key else _NO_KEY
        self._client = openai.OpenAI(
            base_url=config.base_url,
            api_key=key,
            max_retries=0,
            timeout=config.timeout,
            http_client=openai.DefaultHttpxClient(
                event_hooks={"response": [_limit_body_time]}
            ),
        )

    def summarize(self, text: str, max_chars: int = 400) -> tuple[str, EngineRun]:
        """Summarize `text` in at most `max_chars` characters."""
        prompt = SUMMARY_PROMPT.format(max_chars=max_chars)
        return self._answer(
            "summarize",
            _messages(prompt, text),
            lambda reply: _check_length(reply, max_chars),
            lambda: self.fallback.summarize(text, max_chars),
        )

    def extract(self, text: str) -> tuple[Extractions, EngineRun]:
        """Pull decisions, open questions, todos and risks out of `text`."""
        return self._answer(
            "extract",
            _messages(EXTRACT_PROMPT, text),
            parse_extractions,
            lambda: self.fallback.extract(text),
            json_mode=True,
        )

    def word(self, instruction: str, draft: str) -> tuple[str, EngineRun]:
        """Reword `draft` following `instruction`."""
        max_chars = max(_WORD_MIN_CHARS, 2 * len(draft))
        prompt = WORD_PROMPT.format(instruction=instruction, max_chars=max_chars)
        return self._answer(
            "word",
            _messages(prompt, draft),
            lambda reply: _check_references(_check_length(reply, max_chars), draft),
            lambda: self.fallback.word(instruction, draft),
        )

    def _answer(
        self,
        task: str,
        messages: list[dict[str, str]],
        parse: Callable[[str], T],
        fall_back: Callable[[], tuple[T, EngineRun]],
        json_mode: bool = False,
    ) -> tuple[T, EngineRun]:
        """Ask the model and parse its reply, or fall back and record why."""
        started = self._clock()
        try:
            value = parse(self._complete(messages, json_mode))
        except LlmFailure as failure:
            value, _run = fall_back()
            elapsed_ms = (self._clock() - started) * 1000
            log.warning(
                "%s %s failed: %s; used the offline engine", self.name, task, failure
            )
            run = EngineRun(
                engine=self.fallback.name,
                fallback=True,
                reason=failure.reason,
                duration_ms=elapsed_ms,
            )
            return value, run
        elapsed_ms = (self._clock() - started) * 1000
        log.info("%s %s returned in %.0f ms", self.name, task, elapsed_ms)
        return value, EngineRun(engine=self.name, duration_ms=elapsed_ms)

    def _complete(self, messages: list[dict[str, str]], json_mode: bool) -> str:
        """Return the reply text, retrying within the time budget.

        Raises:
            LlmFailure: No usable reply within the budget and retries.
        """
        if self._sticky_failure and self._clock() < self._sticky_until:
            raise self._sticky_failure
        deadline = self._clock() + self.config.timeout
        attempt = 0
        while True:
            try:
                return self._request(messages, json_mode, deadline)
            except LlmFailure as failure:
                wait = self._wait_before_retry(failure, attempt, deadline)
                if wait is None:
                    if failure.reason in _STICKY_REASONS:
                        self._sticky_failure = failure
                        self._sticky_until = self._clock() + _COOLDOWN_SECONDS
                    raise
                log.info(
                    "%s: %s; retry %d in %.1f s", self.name, failure, attempt + 1, wait
                )
            self._sleep(wait)
            attempt += 1

    def _wait_before_retry(
        self, failure: LlmFailure, attempt: int, deadline: float
    ) -> float | None:
        """Return the seconds to wait before the next attempt, or None to stop."""
        if failure.reason not in _RETRIED_REASONS:
            return None
        if attempt >= self.config.retries:
            return None
        wait = failure.retry_after
        if wait is None:
            wait = _BACKOFF_SECONDS[min(attempt, len(_BACKOFF_SECONDS) - 1)]
        # A retry needs time left after the wait to receive a reply.
        if self._clock() + wait >= deadline:
            return None
        return wait

    def _request(
        self, messages: list[dict[str, str]], json_mode: bool, deadline: float
    ) -> str:
        remaining = deadline - self._clock()
        if remaining <= 0:
            raise LlmFailure("timeout")
        options: dict[str, Any] = {}
        if json_mode:
            options["response_format"] = {"type": "json_object"}

        # NOTE: max_tokens is the field that most OpenAI-compatible servers
        # read. OpenAI's reasoning models reject it and want
        # max_completion_tokens, so they return HTTP 400 (bad-request).
        def create() -> Any:
            return self._client.chat.completions.create(
                model=self.config.model,
                messages=messages,  # type: ignore[arg-type]
                max_tokens=self.config.max_tokens,
                timeout=remaining,
                **options,
            )

        try:
            completion = _call_with_deadline(create, remaining, self.name)
        except LlmFailure:
            raise
        except openai.APIError as exc:
            raise classify_error(exc) from None
        except ValueError:
            # The client raises JSONDecodeError for a body that is not JSON.
            raise LlmFailure("bad-response") from None
        except Exception as exc:  # noqa: BLE001 - a cycle must survive any client bug
            # Only the type is logged, because the message may quote the key.
            log.warning(
                "%s: the openai client raised %s", self.name, type(exc).__name__
            )
            raise LlmFailure("client-error") from None
        return reply_text(completion)


def _call_with_deadline(call: Callable[[], T], seconds: float, name: str) -> T:
    """Run `call` in a daemon thread and wait at most `seconds` for its result.

    httpx timeouts apply to each read, so a server that sends one byte at a
    time never trips them. The wait here bounds the whole request.

    Raises:
        LlmFailure: ``timeout`` when `call` has not returned in time.
        Exception: Whatever `call` raised.
    """
    outcome: dict[str, Any] = {}
    done = threading.Event()

    def work() -> None:
        _request_deadline.value = time.monotonic() + seconds
        try:
            outcome["value"] = call()
        except Exception as exc:  # noqa: BLE001 - re-raised in the caller's thread
            outcome["error"] = exc
        finally:
            done.set()

    # A daemon thread, because an abandoned request must not keep the
    # process alive at exit.
    worker = threading.Thread(target=work, name="vpm-llm-request", daemon=True)
    worker.start()
    if not done.wait(seconds):
        # NOTE: the abandoned request goes on in its thread and keeps its
        # connection until _limit_body_time stops reading the body or the
        # server closes. A server that sends its headers one byte at a time
        # keeps the thread busy until it stops or pauses for longer than the
        # per-read timeout. The server may still bill the tokens it generates.
        log.info("%s: no reply within %.1f s; request abandoned", name, seconds)
        raise LlmFailure("timeout")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def _limit_body_time(response: Any) -> None:
    """Stop reading a response body once the request's deadline has passed.

    An httpx response hook: it runs after the headers arrive and before the
    client reads the body, and wraps the body stream.
    """
    deadline = getattr(_request_deadline, "value", None)
    if deadline is not None:
        response.stream = _DeadlineStream(response.stream, deadline)


class _DeadlineStream(_http.SyncByteStream):  # type: ignore[misc]
    """A response body stream that raises ``ReadTimeout`` after a deadline."""

    def __init__(self, stream: Any, deadline: float) -> None:
        self._stream = stream
        self._deadline = deadline

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._stream:
            if time.monotonic() > self._deadline:
                raise _http.ReadTimeout("the llm_timeout budget ran out mid-body")
            yield chunk

    def close(self) -> None:
        self._stream.close()


def _messages(system: str, user: str) -> list[dict[str, str]]:
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def classify_error(exc: openai.APIError) -> LlmFailure:
    """Map an `openai` error to a failure with a reason code."""
    if isinstance(exc, openai.APITimeoutError):
        return LlmFailure("timeout")
    if isinstance(exc, openai.APIConnectionError):
        return LlmFailure("unreachable")
    status = getattr(exc, "status_code", None)
    if not isinstance(status, int):
        return LlmFailure("bad-response")
    response = getattr(exc, "response", None)
    retry_after = parse_retry_after(response.headers) if response else None
    return LlmFailure(_status_reason(status), status, retry_after)


def _status_reason(status: int) -> str:
    if status in (401, 403):
        return "auth"
    if status == 404:
        return "model-not-found"
    if status == 429:
        return "rate-limited"
    if status >= 500:
        return "server-error"
    return "bad-request"


def parse_retry_after(headers: Any) -> float | None:
    """Read ``retry-after-ms`` or ``Retry-After`` (seconds or an HTTP date)."""
    milliseconds = headers.get("retry-after-ms")
    if milliseconds:
        try:
            return max(0.0, float(milliseconds) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - time.time())


def reply_text(completion: Any) -> str:
    """Return the text of the first choice of a chat completion.

    Raises:
        LlmFailure: ``bad-response`` when there is no choice, ``too-long``
            when the model stopped at the token limit, ``empty`` when the
            text is blank.
    """
    choices = getattr(completion, "choices", None)
    if not choices:
        raise LlmFailure("bad-response")
    choice = choices[0]
    if getattr(choice, "finish_reason", None) == "length":
        raise LlmFailure("too-long")
    message = getattr(choice, "message", None)
    content = getattr(message, "content", None)
    if not isinstance(content, str) or not content.strip():
        raise LlmFailure("empty")
    return content.strip()


def _check_length(reply: str, max_chars: int) -> str:
    if len(reply) > max_chars:
        raise LlmFailure("too-long")
    return reply


def _check_references(reply: str, draft: str) -> str:
    """Reject a rewording that lost a path or id the draft cites."""
    for reference in _REFERENCE.findall(draft):
        if reference.rstrip(".,;:") not in reply:
            raise LlmFailure("lost-reference")
    return reply


def parse_extractions(reply: str) -> Extractions:
    """Read the model's JSON extractions.

    A Markdown code fence around the object is accepted, because many
    models add one even when asked for bare JSON. Missing lists are empty.

    Raises:
        LlmFailure: ``invalid-json`` when the reply is not a JSON object of
            string lists.
    """
    body = _strip_fence(reply)
    try:
        data = json.loads(body)
    except (json.JSONDecodeError, RecursionError):
        raise LlmFailure("invalid-json") from None
    if not isinstance(data, dict):
        raise LlmFailure("invalid-json")
    try:
        extractions = Extractions.model_validate(data)
    except ValidationError:
        raise LlmFailure("invalid-json") from None
    return _tidy(extractions)


def _strip_fence(reply: str) -> str:
    text = reply.strip()
    if not text.startswith("```"):
        return text
    lines = text.splitlines()[1:]
    if lines and lines[-1].strip().startswith("```"):
        lines = lines[:-1]
    return "\n".join(lines)


def _tidy(extractions: Extractions) -> Extractions:
    """Drop blank items and keep at most as many items as the offline engine."""
    tidy = {}
    for kind in ("decisions", "questions", "todos", "risks"):
        items = [item.strip() for item in getattr(extractions, kind) if item.strip()]
        tidy[kind] = [clip_text(item, ITEM_MAX_CHARS) for item in items[:MAX_ITEMS]]
    return Extractions(**tidy)
