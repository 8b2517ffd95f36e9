"""`vpm summarize`: one chat log, transcript or JSONL batch, offline or LLM."""

from __future__ import annotations

import json
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
    assert "the LLM failed (server-error)" in text.stderr
    assert payload["engine"] == "offline"
    assert payload["fallback"] is True
    assert payload["reason"] == "server-error"


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
