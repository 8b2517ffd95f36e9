"""The LLM engine against a fake OpenAI-compatible server on 127.0.0.1."""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest
from pydantic import SecretStr
from typer.testing import CliRunner

from llm_server import (
    GOOD_EXTRACTIONS,
    GOOD_SUMMARY,
    REWORD_PREFIX,
    FakeLlm,
    Reply,
    serve_fake_llm,
    unused_port,
)
from vpm.cli import app
from vpm.engines.llm import LlmConfig, LlmEngine, engine_for, parse_retry_after
from vpm.engines.offline import OfflineEngine
from vpm.errors import UserError
from vpm.pipeline import run_cycle
from vpm.settings import Settings, load_settings

NOTE = """# 週次ミーティング

## 決定事項
- キャッシュは Redis を採用する

## リスク
- メモリ不足でノードが落ちる懸念がある
"""
API_KEY = "sk-vpm-test-7f3a9c1e5b2d4f60"
DRAFT = "Cite existing evidence for P1-3 (STATE/current_state.md:51)."


@pytest.fixture
def fake() -> Iterator[FakeLlm]:
    with serve_fake_llm() as server:
        yield server


class Waits:
    """A stand-in for time.sleep that records the waits instead."""

    def __init__(self) -> None:
        self.seconds: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.seconds.append(seconds)


def make_engine(
    url: str, waits: Waits | None = None, timeout: float = 5.0, retries: int = 2
) -> LlmEngine:
    config = LlmConfig(
        base_url=url,
        model="tiny",
        api_key=SecretStr(API_KEY),
        timeout=timeout,
        retries=retries,
    )
    return LlmEngine(config, sleep=waits or Waits())


# Choosing the engine


def test_engine_for_unset_is_offline():
    engine = engine_for(Settings())

    assert isinstance(engine, OfflineEngine)


def test_engine_for_url_and_model_is_llm():
    settings = Settings(llm_base_url="http://127.0.0.1:9/v1", llm_model="tiny")

    engine = engine_for(settings)

    assert engine.name == "llm:tiny"


def test_engine_for_url_without_model_raises():
    settings = Settings(llm_base_url="http://127.0.0.1:9/v1")

    with pytest.raises(UserError, match="must be set together"):
        engine_for(settings)


def test_engine_for_bad_timeout_names_setting():
    settings = Settings(llm_base_url="http://127.0.0.1:9/v1", llm_model="m")
    settings = settings.model_copy(update={"llm_timeout": "soon"})

    with pytest.raises(UserError, match="llm_timeout"):
        engine_for(settings)


def test_settings_read_llm_environment(monkeypatch):
    monkeypatch.setenv("VPM_LLM_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("VPM_LLM_API_KEY", API_KEY)
    monkeypatch.setenv("VPM_LLM_RETRIES", "0")

    settings = Settings()

    assert settings.llm_base_url == "http://127.0.0.1:9/v1"
    assert settings.llm_api_key.get_secret_value() == API_KEY
    assert API_KEY not in repr(settings)
    assert settings.llm_retries == 0


BAD_TIMEOUTS = [
    pytest.param("-1", "input should be greater than 0", id="negative"),
    pytest.param("abc", "input should be a valid number", id="not-a-number"),
]
COMMANDS = [
    pytest.param(["cycle", "{project}", "--out", "{project}/out"], id="cycle"),
    pytest.param(["status", "{project}"], id="status"),
    pytest.param(["summarize", "{project}/logs/chat/2026-11-19.jsonl"], id="summarize"),
    pytest.param(
        ["quality", "{project}", "--set", "{project}/set.jsonl"], id="quality"
    ),
]


@pytest.mark.parametrize(("value", "rule"), BAD_TIMEOUTS)
@pytest.mark.parametrize("command", COMMANDS)
def test_cli_bad_timeout_one_error_line(example, monkeypatch, command, value, rule):
    (example / "set.jsonl").write_text('{"text": "A.", "reference": "A."}\n')
    monkeypatch.chdir(example)
    monkeypatch.setenv("VPM_LLM_TIMEOUT", value)
    args = [arg.format(project=example) for arg in command]

    result = CliRunner().invoke(app, args)

    assert result.exit_code == 2
    assert result.stderr.startswith(f"Error: VPM_LLM_TIMEOUT='{value}' is invalid")
    assert rule in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_load_settings_invalid_variable_raises(monkeypatch):
    monkeypatch.setenv("VPM_LLM_RETRIES", "-3")

    with pytest.raises(UserError, match="VPM_LLM_RETRIES='-3' is invalid"):
        load_settings()


def test_toml_key_reaches_engine_as_secret(tmp_path):
    (tmp_path / "vpm.toml").write_text(
        f'llm_base_url = "http://127.0.0.1:9/v1"\nllm_model = "m"\n'
        f'llm_api_key = "{API_KEY}"\n',
        encoding="utf-8",
    )

    settings = load_settings(tmp_path)
    engine = engine_for(settings)

    assert isinstance(settings.llm_api_key, SecretStr)
    assert API_KEY not in repr(settings)
    assert API_KEY not in settings.model_dump_json()
    assert isinstance(engine.config.api_key, SecretStr)
    assert API_KEY not in repr(engine.config)


# Success


def test_summarize_success_records_llm_engine(fake):
    engine = make_engine(fake.url)

    summary, run = engine.summarize(NOTE, 400)

    assert summary == GOOD_SUMMARY
    assert run.engine == "llm:tiny"
    assert run.fallback is False
    assert run.reason is None
    assert run.duration_ms > 0


def test_request_carries_model_key_and_limits(fake):
    engine = make_engine(fake.url)

    engine.summarize(NOTE, 120)

    request = fake.requests[0]
    assert request.path == "/v1/chat/completions"
    assert request.headers["authorization"] == f"Bearer {API_KEY}"
    assert request.body["model"] == "tiny"
    assert request.body["max_tokens"] == 1024
    assert "120 characters" in request.body["messages"][0]["content"]
    assert request.body["messages"][1]["content"] == NOTE


def test_extract_asks_for_json_object(fake):
    engine = make_engine(fake.url)

    extractions, run = engine.extract(NOTE)

    assert extractions.model_dump() == GOOD_EXTRACTIONS
    assert run.engine == "llm:tiny"
    assert fake.requests[0].body["response_format"] == {"type": "json_object"}


def test_extract_accepts_fenced_json(fake):
    fenced = "```json\n" + json.dumps({"todos": ["Write the load test."]}) + "\n```"
    fake.queue(Reply(content=fenced))
    engine = make_engine(fake.url)

    extractions, run = engine.extract(NOTE)

    assert extractions.todos == ["Write the load test."]
    assert extractions.decisions == []
    assert run.fallback is False


def test_word_success(fake):
    engine = make_engine(fake.url)

    text, run = engine.word("Reword for the team.", DRAFT)

    assert text == REWORD_PREFIX + DRAFT
    assert run.engine == "llm:tiny"


def test_client_does_not_retry_by_itself(fake):
    fake.queue(Reply(status=500, body=b"{}"))
    engine = make_engine(fake.url, retries=0)

    _summary, run = engine.summarize(NOTE)

    assert run.reason == "server-error"
    assert len(fake.requests) == 1


# Failures: each falls back to the offline engine and records the reason

FAILURES = [
    pytest.param(Reply(status=401, body=b"{}"), "summarize", "auth", id="401"),
    pytest.param(Reply(status=403, body=b"{}"), "summarize", "auth", id="403"),
    pytest.param(
        Reply(status=404, body=b'{"error": {"message": "model tiny not found"}}'),
        "summarize",
        "model-not-found",
        id="404",
    ),
    pytest.param(Reply(status=400, body=b"{}"), "extract", "bad-request", id="400"),
    pytest.param(
        Reply(body=b"<html>busy</html>"), "summarize", "bad-response", id="html-body"
    ),
    pytest.param(Reply(body=b"{}"), "summarize", "bad-response", id="no-choices"),
    pytest.param(Reply(content=None), "summarize", "empty", id="null-content"),
    pytest.param(Reply(content="  \n "), "summarize", "empty", id="blank-content"),
    pytest.param(Reply(content=""), "extract", "empty", id="empty-extract"),
    pytest.param(
        Reply(content="Decisions: use Redis."),
        "extract",
        "invalid-json",
        id="prose-not-json",
    ),
    pytest.param(
        Reply(content='["Use Redis."]'), "extract", "invalid-json", id="json-list"
    ),
    pytest.param(
        Reply(content='{"todos": "write tests"}'),
        "extract",
        "invalid-json",
        id="wrong-shape",
    ),
    pytest.param(
        Reply(content='{"todos": ["cut'), "extract", "invalid-json", id="truncated-json"
    ),
    pytest.param(Reply(content="あ" * 401), "summarize", "too-long", id="over-400"),
    pytest.param(
        Reply(finish_reason="length"), "summarize", "too-long", id="finish-length"
    ),
    pytest.param(
        Reply(content="Team: cite evidence."),
        "word",
        "lost-reference",
        id="lost-reference",
    ),
]


@pytest.mark.parametrize(("reply", "task", "reason"), FAILURES)
def test_failure_falls_back_with_reason(fake, reply, task, reason):
    fake.queue(reply)
    engine = make_engine(fake.url, retries=0)
    offline = OfflineEngine()

    if task == "summarize":
        value, run = engine.summarize(NOTE, 400)
        expected, _ = offline.summarize(NOTE, 400)
    elif task == "extract":
        value, run = engine.extract(NOTE)
        expected, _ = offline.extract(NOTE)
    else:
        value, run = engine.word("Reword.", DRAFT)
        expected = DRAFT

    assert value == expected
    assert run.engine == "offline"
    assert run.fallback is True
    assert run.reason == reason


def test_unreachable_falls_back():
    engine = make_engine(f"http://127.0.0.1:{unused_port()}/v1", retries=1)

    summary, run = engine.summarize(NOTE)

    assert summary == OfflineEngine().summarize(NOTE)[0]
    assert run.fallback is True
    assert run.reason == "unreachable"


def test_slow_server_times_out_within_budget(fake):
    fake.queue(Reply(delay=2.0))
    engine = make_engine(fake.url, timeout=0.3)

    _summary, run = engine.summarize(NOTE)

    assert run.reason == "timeout"
    assert run.engine == "offline"
    assert run.duration_ms < 1500


def request_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name == "vpm-llm-request"}


def test_trickling_body_times_out_within_budget(fake):
    # Headers announce 100000 bytes, then one byte comes every 0.2 s for 5 s.
    fake.queue(Reply(trickle=0.2, trickle_bytes=25))
    engine = make_engine(fake.url, timeout=1.0, retries=0)

    started = time.monotonic()
    _summary, run = engine.summarize(NOTE)
    elapsed = time.monotonic() - started

    assert run.reason == "timeout"
    assert run.engine == "offline"
    assert elapsed < 1.5


def test_trickling_headers_time_out_within_budget(fake):
    fake.queue(Reply(trickle=0.2, trickle_headers=True, trickle_bytes=25))
    engine = make_engine(fake.url, timeout=1.0, retries=0)

    started = time.monotonic()
    _summary, run = engine.summarize(NOTE)
    elapsed = time.monotonic() - started

    assert run.reason == "timeout"
    assert elapsed < 1.5


def test_trickling_body_request_thread_ends(fake):
    earlier = request_threads()
    fake.queue(Reply(trickle=0.2, trickle_bytes=25))
    engine = make_engine(fake.url, timeout=1.0, retries=0)

    engine.summarize(NOTE)
    # The abandoned request stops at its next body chunk after the deadline.
    give_up = time.monotonic() + 1.0
    while request_threads() - earlier and time.monotonic() < give_up:
        time.sleep(0.05)

    assert not [t for t in request_threads() - earlier if t.is_alive()]


def test_server_error_is_retried(fake):
    fake.queue(Reply(status=503, body=b"{}"))
    waits = Waits()
    engine = make_engine(fake.url, waits)

    summary, run = engine.summarize(NOTE)

    assert summary == GOOD_SUMMARY
    assert run.fallback is False
    assert len(fake.requests) == 2
    assert waits.seconds == [0.5]


def test_server_error_every_time_falls_back(fake):
    fake.queue(*[Reply(status=500, body=b"{}")] * 3)
    engine = make_engine(fake.url, retries=2)

    _summary, run = engine.summarize(NOTE)

    assert run.reason == "server-error"
    assert len(fake.requests) == 3


def test_rate_limit_waits_retry_after(fake):
    fake.queue(Reply(status=429, body=b"{}", headers={"Retry-After": "2"}))
    waits = Waits()
    engine = make_engine(fake.url, waits, timeout=5.0)

    summary, run = engine.summarize(NOTE)

    assert summary == GOOD_SUMMARY
    assert run.fallback is False
    assert waits.seconds == [2.0]


def test_rate_limit_past_budget_falls_back_at_once(fake):
    fake.queue(Reply(status=429, body=b"{}", headers={"Retry-After": "60"}))
    waits = Waits()
    engine = make_engine(fake.url, waits, timeout=5.0)

    _summary, run = engine.summarize(NOTE)

    assert run.reason == "rate-limited"
    assert waits.seconds == []
    assert len(fake.requests) == 1


def test_rate_limit_until_retries_run_out(fake):
    fake.queue(*[Reply(status=429, body=b"{}", headers={"Retry-After": "1"})] * 3)
    waits = Waits()
    engine = make_engine(fake.url, waits, timeout=10.0, retries=2)

    _summary, run = engine.summarize(NOTE)

    assert run.reason == "rate-limited"
    assert waits.seconds == [1.0, 1.0]
    assert len(fake.requests) == 3


def test_rate_limit_real_wait_fits_budget(fake):
    fake.queue(Reply(status=429, body=b"{}", headers={"retry-after-ms": "200"}))
    config = LlmConfig(base_url=fake.url, model="tiny", timeout=5.0)
    engine = LlmEngine(config)

    _summary, run = engine.summarize(NOTE)

    assert run.fallback is False
    assert run.duration_ms >= 200


def test_parse_retry_after_http_date():
    moment = datetime.now(UTC) + timedelta(seconds=30)

    seconds = parse_retry_after({"retry-after": format_datetime(moment, usegmt=True)})

    assert 25 <= seconds <= 31


def test_auth_failure_skips_later_calls(fake):
    fake.queue(Reply(status=401, body=b"{}"))
    engine = make_engine(fake.url)

    engine.summarize(NOTE)
    _extractions, run = engine.extract(NOTE)

    assert run.reason == "auth"
    assert len(fake.requests) == 1


def test_auth_failure_retried_after_cooldown(fake):
    now = [100.0]
    fake.queue(Reply(status=401, body=b"{}"))
    config = LlmConfig(base_url=fake.url, model="tiny", timeout=5.0)
    engine = LlmEngine(config, sleep=Waits(), clock=lambda: now[0])

    engine.summarize(NOTE)
    now[0] += 59.0
    _skipped, skipped_run = engine.summarize(NOTE)
    now[0] += 2.0
    summary, run = engine.summarize(NOTE)

    assert skipped_run.reason == "auth"
    assert summary == GOOD_SUMMARY
    assert run.fallback is False
    assert len(fake.requests) == 2


def test_key_echoed_by_server_is_not_logged(fake, caplog):
    message = {"error": {"message": f"Incorrect API key provided: {API_KEY}"}}
    fake.queue(Reply(status=401, body=json.dumps(message).encode()))
    engine = make_engine(fake.url)

    with caplog.at_level(logging.DEBUG):
        _summary, run = engine.summarize(NOTE)

    assert run.reason == "auth"
    assert API_KEY not in caplog.text
    assert API_KEY not in run.model_dump_json()


def test_unexpected_client_error_falls_back(fake, monkeypatch, caplog):
    engine = make_engine(fake.url)

    def explode(**_options):
        raise RuntimeError(f"transport bug near {API_KEY}")

    monkeypatch.setattr(engine._client.chat.completions, "create", explode)
    with caplog.at_level(logging.DEBUG):
        _summary, run = engine.summarize(NOTE)

    assert run.reason == "client-error"
    assert run.engine == "offline"
    assert "RuntimeError" in caplog.text
    assert API_KEY not in caplog.text


# Full cycles


def cycle_settings(project: Path, url: str, timeout: float = 3.0) -> Settings:
    return load_settings(
        project,
        llm_base_url=url,
        llm_model="tiny",
        llm_api_key=SecretStr(API_KEY),
        llm_timeout=timeout,
        llm_retries=0,
    )


def read_sessions(project: Path) -> list[dict]:
    report = json.loads((project / "reports/vpm/cycle.json").read_text("utf-8"))
    return report["sessions"]


def test_cycle_with_llm_writes_llm_summaries(example, fake):
    result = run_cycle(example, settings=cycle_settings(example, fake.url))

    sessions = read_sessions(example)
    digest = (example / "reports/vpm/digest.md").read_text("utf-8")
    assert result.noop is False
    assert sessions[0]["summary"] == GOOD_SUMMARY
    assert sessions[0]["run"]["engine"] == "llm:tiny"
    assert sessions[0]["run"]["fallback"] is False
    assert "engine llm:tiny" in digest
    assert result.plan.next_move.run.engine == "llm:tiny"


CYCLE_FAILURES = [
    pytest.param(Reply(status=401, body=b"{}"), "auth", id="auth"),
    pytest.param(Reply(status=404, body=b"{}"), "model-not-found", id="404"),
    pytest.param(
        Reply(status=429, body=b"{}", headers={"Retry-After": "30"}),
        "rate-limited",
        id="429",
    ),
    pytest.param(Reply(status=502, body=b"{}"), "server-error", id="5xx"),
    pytest.param(Reply(delay=1.5), "timeout", id="slow"),
    pytest.param(Reply(body=b"not json"), "bad-response", id="bad-body"),
    pytest.param(Reply(content=""), "empty", id="empty"),
    pytest.param(Reply(content="no JSON here"), "invalid-json", id="not-json"),
    pytest.param(Reply(content="x" * 5000), "too-long", id="too-long"),
]


@pytest.mark.parametrize(("reply", "reason"), CYCLE_FAILURES)
def test_cycle_falls_back_with_reason(example, reply, reason):
    with serve_fake_llm(lambda _request: reply) as server:
        settings = cycle_settings(example, server.url, timeout=0.5)
        result = run_cycle(example, settings=settings)

    sessions = read_sessions(example)
    digest = (example / "reports/vpm/digest.md").read_text("utf-8")
    assert result.noop is False
    assert sessions[0]["run"]["engine"] == "offline"
    assert sessions[0]["run"]["fallback"] is True
    assert sessions[0]["run"]["reason"] == reason
    assert sessions[0]["summary"]
    assert f"fell back: {reason}" in digest


def test_cycle_with_server_down_falls_back(example):
    url = f"http://127.0.0.1:{unused_port()}/v1"

    result = run_cycle(example, settings=cycle_settings(example, url))

    sessions = read_sessions(example)
    assert result.noop is False
    assert sessions[0]["run"]["reason"] == "unreachable"
    assert result.plan.next_move.run.reason == "unreachable"


KEY_ECHO = {"error": {"message": f"Incorrect API key provided: {API_KEY}"}}
KEY_REPLIES = [
    pytest.param(Reply(status=401, body=json.dumps(KEY_ECHO).encode()), id="401"),
    pytest.param(Reply(status=500, body=json.dumps(KEY_ECHO).encode()), id="500"),
    pytest.param(Reply(content=GOOD_SUMMARY), id="success"),
]


@pytest.mark.parametrize("reply", KEY_REPLIES)
def test_cycle_never_writes_api_key(example, caplog, reply):
    out = example.parent / "out"

    with (
        serve_fake_llm(lambda _request: reply) as server,
        caplog.at_level(logging.DEBUG),
    ):
        settings = cycle_settings(example, server.url)
        run_cycle(example, out=out, settings=settings)

    assert server.requests[0].headers["authorization"] == f"Bearer {API_KEY}"
    assert_key_absent(out, caplog.text)


def test_cli_cycle_never_prints_api_key(example, monkeypatch):
    out = example.parent / "out"
    reply = Reply(status=401, body=json.dumps(KEY_ECHO).encode())

    with serve_fake_llm(lambda _request: reply) as server:
        monkeypatch.setenv("VPM_LLM_BASE_URL", server.url)
        monkeypatch.setenv("VPM_LLM_MODEL", "tiny")
        monkeypatch.setenv("VPM_LLM_API_KEY", API_KEY)
        result = CliRunner().invoke(
            app, ["--verbose", "cycle", str(example), "--out", str(out)]
        )

    assert result.exit_code == 0, result.output
    assert API_KEY not in result.stdout
    assert API_KEY not in result.stderr
    assert_key_absent(out, "")


def assert_key_absent(out: Path, log_text: str) -> None:
    """Check the logs, every file under `out` and every database cell."""
    files = [path for path in out.rglob("*") if path.is_file()]
    assert files
    for path in files:
        assert API_KEY.encode() not in path.read_bytes(), path
    assert API_KEY not in log_text
    database = out / ".vpm" / "vpm.db"
    assert database.is_file()
    assert not _database_contains(database, API_KEY)


def _database_contains(path: Path, needle: str) -> bool:
    """Search every text and blob cell of every table in a SQLite file."""
    connection = sqlite3.connect(path)
    try:
        tables = [
            row[0]
            for row in connection.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'"
            )
        ]
        for table in tables:
            for row in connection.execute(f'SELECT * FROM "{table}"'):
                if any(needle in str(cell) for cell in row):
                    return True
    finally:
        connection.close()
    return False
