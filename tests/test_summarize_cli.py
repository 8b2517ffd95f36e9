"""`vpm summarize`: one chat log, transcript or JSONL batch, offline or LLM."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llm_server import GOOD_EXTRACTIONS, GOOD_SUMMARY, Reply, serve_fake_llm
from vpm.cli import app

REPO = Path(__file__).resolve().parents[1]
CHAT_LOG = REPO / "examples" / "demo" / "logs" / "chat" / "2026-11-19.jsonl"

TRANSCRIPT = """User: キャッシュの TTL はどうしますか？
Assistant: 10 分にすることに決定しました。
User: TODO: 負荷試験を実施する。
"""

runner = CliRunner()


@pytest.fixture(autouse=True)
def in_empty_folder(tmp_path, monkeypatch):
    """Run in a folder without vpm.toml and without LLM settings."""
    monkeypatch.chdir(tmp_path)
    for name in ("VPM_LLM_BASE_URL", "VPM_LLM_MODEL", "VPM_LLM_API_KEY"):
        monkeypatch.delenv(name, raising=False)


def use_llm(monkeypatch, url: str) -> None:
    monkeypatch.setenv("VPM_LLM_BASE_URL", url)
    monkeypatch.setenv("VPM_LLM_MODEL", "tiny")
    monkeypatch.setenv("VPM_LLM_TIMEOUT", "3")
    monkeypatch.setenv("VPM_LLM_RETRIES", "0")


def test_summarize_chat_log_prints_summary_and_items():
    result = runner.invoke(app, ["summarize", str(CHAT_LOG)])

    assert result.exit_code == 0, result.output
    assert "p95 が 420ms" in result.stdout
    assert "Decisions:\n- P2-2 は再試験まで GREEN にしない。" in result.stdout
    assert "Open questions:" in result.stdout
    assert "Risks:" in result.stdout


def test_summarize_stdin_transcript():
    result = runner.invoke(app, ["summarize", "-"], input=TRANSCRIPT)

    assert result.exit_code == 0, result.output
    assert "10 分にすることに決定しました。" in result.stdout
    assert "Todos:\n- 負荷試験を実施する。" in result.stdout


def test_summarize_stdin_jsonl_chat_log():
    result = runner.invoke(
        app, ["summarize", "--format", "json"], input=CHAT_LOG.read_text("utf-8")
    )

    payload = json.loads(result.stdout)
    assert result.exit_code == 0, result.output
    assert payload["extractions"]["decisions"] == ["P2-2 は再試験まで GREEN にしない。"]


def test_summarize_json_names_offline_engine():
    result = runner.invoke(app, ["summarize", str(CHAT_LOG), "--format", "json"])

    payload = json.loads(result.stdout)
    assert payload["engine"] == "offline"
    assert payload["fallback"] is False
    assert payload["reason"] is None
    assert len(payload["summary"]) <= 400


def test_summarize_long_text_stays_within_400_chars(tmp_path):
    transcript = tmp_path / "transcript.txt"
    sentences = [f"項目 {n} の作業は完了した。" for n in range(200)]
    transcript.write_text("\n".join(sentences), encoding="utf-8")

    result = runner.invoke(app, ["summarize", str(transcript), "--format", "json"])

    payload = json.loads(result.stdout)
    assert result.exit_code == 0, result.output
    assert 0 < len(payload["summary"]) <= 400


def test_summarize_with_llm(monkeypatch):
    with serve_fake_llm() as fake:
        use_llm(monkeypatch, fake.url)
        result = runner.invoke(app, ["summarize", str(CHAT_LOG), "--format", "json"])

    payload = json.loads(result.stdout)
    assert result.exit_code == 0, result.output
    assert payload["summary"] == GOOD_SUMMARY
    assert payload["extractions"] == GOOD_EXTRACTIONS
    assert payload["engine"] == "llm:tiny"
    assert payload["fallback"] is False


def test_summarize_llm_failure_reports_reason(monkeypatch):
    with serve_fake_llm(lambda _request: Reply(status=503, body=b"{}")) as fake:
        use_llm(monkeypatch, fake.url)
        text = runner.invoke(app, ["summarize", str(CHAT_LOG)])
        as_json = runner.invoke(app, ["summarize", str(CHAT_LOG), "--format", "json"])

    payload = json.loads(as_json.stdout)
    assert text.exit_code == 0
    assert "p95 が 420ms" in text.stdout
    assert "the LLM failed on the summary (server-error)" in text.stderr
    assert "the LLM failed on the extractions (server-error)" in text.stderr
    assert payload["engine"] == "offline"
    assert payload["fallback"] is True
    assert payload["reason"] == "server-error"
    assert payload["summary_run"]["reason"] == "server-error"
    assert payload["extraction_run"]["reason"] == "server-error"


def test_summarize_plain_text_llm_separates_runs(monkeypatch):
    # Plain text is a good summary but invalid JSON extractions.
    reply = Reply(content="LLM summary of the chat.")
    with serve_fake_llm(lambda _request: reply) as fake:
        use_llm(monkeypatch, fake.url)
        text = runner.invoke(app, ["summarize", str(CHAT_LOG)])
        as_json = runner.invoke(app, ["summarize", str(CHAT_LOG), "--format", "json"])

    payload = json.loads(as_json.stdout)
    summary_run = payload["summary_run"]
    extraction_run = payload["extraction_run"]
    assert payload["summary"] == "LLM summary of the chat."
    assert summary_run["engine"] == "llm:tiny"
    assert summary_run["fallback"] is False
    assert summary_run["reason"] is None
    assert summary_run["calls"] == 1
    assert extraction_run["engine"] == "offline"
    assert extraction_run["fallback"] is True
    assert extraction_run["reason"] == "invalid-json"
    assert extraction_run["fallback_calls"] == extraction_run["calls"]
    assert text.stdout.startswith("LLM summary of the chat.")
    assert "the LLM failed on the extractions (invalid-json)" in text.stderr
    assert "The summary is from llm:tiny." in text.stderr
    assert "failed on the summary" not in text.stderr


def test_summarize_offline_runs_name_offline():
    result = runner.invoke(app, ["summarize", str(CHAT_LOG), "--format", "json"])

    payload = json.loads(result.stdout)
    assert payload["summary_run"]["engine"] == "offline"
    assert payload["summary_run"]["fallback"] is False
    assert payload["extraction_run"]["engine"] == "offline"
    assert payload["extraction_run"]["calls"] >= 1


def test_summarize_trickling_server_keeps_budget(monkeypatch):
    # One byte every 0.2 s for 8 s after headers that announce 100000 bytes.
    reply = Reply(trickle=0.2, trickle_bytes=40)
    with serve_fake_llm(lambda _request: reply) as fake:
        use_llm(monkeypatch, fake.url)
        monkeypatch.setenv("VPM_LLM_TIMEOUT", "1")
        started = time.monotonic()
        result = runner.invoke(app, ["summarize", str(CHAT_LOG), "--format", "json"])
        elapsed = time.monotonic() - started

    payload = json.loads(result.stdout)
    assert result.exit_code == 0, result.output
    assert payload["summary_run"]["reason"] == "timeout"
    assert payload["extraction_run"]["reason"] == "timeout"
    # The summary call uses the budget, and the extraction call falls back at
    # once because a timeout starts the engine's cooldown.
    assert elapsed < 2.5


def test_summarize_jsonl_reads_every_text_field():
    lines = [
        {"id": "a", "text": "決定: TTL は 10 分。"},
        {"raw": "We decided to use Redis."},
        {"dialogue": ["User: 監視はどうする？", "Assistant: 来週決める。"]},
        {"messages": [{"role": "user", "content": "Who owns the dashboard?"}]},
    ]
    stdin = "\n".join(json.dumps(line, ensure_ascii=False) for line in lines)

    result = runner.invoke(app, ["summarize", "--jsonl"], input=stdin)

    outputs = [json.loads(line) for line in result.stdout.splitlines()]
    assert result.exit_code == 0, result.output
    assert [o["line"] for o in outputs] == [1, 2, 3, 4]
    assert [o["id"] for o in outputs] == ["a", "2", "3", "4"]
    assert outputs[0]["extractions"]["decisions"] == ["TTL は 10 分。"]
    assert outputs[3]["extractions"]["questions"] == ["Who owns the dashboard?"]
    assert all(o["engine"] == "offline" for o in outputs)


def test_summarize_jsonl_skips_bad_lines(tmp_path):
    batch = tmp_path / "batch.jsonl"
    batch.write_text(
        '{"text": "First item is fine."}\n'
        "not json\n"
        '["a list"]\n'
        '{"title": "no text field"}\n'
        "\n"
        '{"text": "Last item is fine too."}\n',
        encoding="utf-8",
    )

    result = runner.invoke(app, ["summarize", str(batch), "--jsonl"])

    outputs = [json.loads(line) for line in result.stdout.splitlines()]
    assert result.exit_code == 1
    assert [o["line"] for o in outputs] == [1, 6]
    assert f"{batch}:2: invalid JSON" in result.stderr
    assert f"{batch}:3: expected a JSON object, got list" in result.stderr
    assert f"{batch}:4: missing text" in result.stderr


def test_summarize_jsonl_skips_invalid_utf8_line(tmp_path):
    batch = tmp_path / "batch.jsonl"
    batch.write_bytes(
        b'{"text": "First item is fine."}\n'
        b'{"text": "broken \xe3\x81 byte"}\n'
        b'{"text": "Third item is fine."}\n'
    )

    result = runner.invoke(app, ["summarize", str(batch), "--jsonl"])

    outputs = [json.loads(line) for line in result.stdout.splitlines()]
    assert result.exit_code == 1
    assert [o["line"] for o in outputs] == [1, 3]
    assert f"{batch}:2: invalid UTF-8 at byte 17 of the line" in result.stderr
    assert "Error" not in result.stderr


def test_summarize_jsonl_bom_then_bad_line():
    stdin = b'\xef\xbb\xbf{"text": "First."}\n\xff\n{"text": "Third."}\n'

    result = runner.invoke(app, ["summarize", "--jsonl"], input=stdin)

    outputs = [json.loads(line) for line in result.stdout.splitlines()]
    assert result.exit_code == 1
    assert [o["line"] for o in outputs] == [1, 3]
    assert "stdin:2: invalid UTF-8 at byte 0 of the line" in result.stderr


def test_summarize_log_invalid_utf8_exits_2(tmp_path):
    transcript = tmp_path / "transcript.txt"
    transcript.write_bytes(b"User: fine\n\xff\n")

    result = runner.invoke(app, ["summarize", str(transcript)])

    assert result.exit_code == 2
    assert "is not UTF-8 text (byte 11)" in result.stderr


def test_summarize_jsonl_with_llm(monkeypatch):
    stdin = '{"text": "Cache decision."}\n{"text": "Second."}\n'
    with serve_fake_llm() as fake:
        fake.queue(Reply(status=401, body=b"{}"))
        use_llm(monkeypatch, fake.url)
        result = runner.invoke(app, ["summarize", "--jsonl"], input=stdin)

    outputs = [json.loads(line) for line in result.stdout.splitlines()]
    assert outputs[0]["engine"] == "offline"
    assert outputs[0]["reason"] == "auth"
    # A rejected key fails every later call the same way, so the engine
    # stops asking for the rest of the batch.
    assert outputs[1]["reason"] == "auth"


def test_summarize_missing_file_exits_2(tmp_path):
    result = runner.invoke(app, ["summarize", str(tmp_path / "nope.jsonl")])

    assert result.exit_code == 2
    assert "Error: cannot read" in result.stderr


def test_summarize_empty_input_exits_2():
    result = runner.invoke(app, ["summarize", "-"], input="   \n")

    assert result.exit_code == 2
    assert "contains no messages" in result.stderr


def test_summarize_half_llm_settings_exit_2(monkeypatch):
    monkeypatch.setenv("VPM_LLM_BASE_URL", "http://127.0.0.1:9/v1")

    result = runner.invoke(app, ["summarize", str(CHAT_LOG)])

    assert result.exit_code == 2
    assert "llm_base_url and llm_model must be set together" in result.stderr
