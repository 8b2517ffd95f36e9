"""`vpm quality`: ROUGE-L for Japanese and English, length and JSON checks, gate."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llm_server import Reply, serve_fake_llm
from vpm.cli import app
from vpm.engines.offline import OfflineEngine
from vpm.quality import read_items
from vpm.text.rouge import rouge_l

REPO = Path(__file__).resolve().parents[1]
REPO_SET = REPO / "examples" / "quality" / "set.jsonl"

# Character tokens: reference キャッシュを導入する (10), candidate
# キャッシュは導入しない (11). The LCS is キャッシュ + 導入, 7 tokens.
REFERENCE_JA = "キャッシュを導入する"
CANDIDATE_JA = "キャッシュは導入しない"

runner = CliRunner()


@pytest.fixture(autouse=True)
def offline_settings(monkeypatch):
    for name in ("VPM_LLM_BASE_URL", "VPM_LLM_MODEL", "VPM_LLM_API_KEY"):
        monkeypatch.delenv(name, raising=False)


def write_set(folder: Path, records: list[dict | str]) -> Path:
    path = folder / "set.jsonl"
    lines = [
        r if isinstance(r, str) else json.dumps(r, ensure_ascii=False) for r in records
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def run_quality(project: Path, *args: str):
    out = project / "out"
    result = runner.invoke(app, ["quality", str(project), "--out", str(out), *args])
    report_path = out / "reports" / "quality.json"
    report = (
        json.loads(report_path.read_text("utf-8")) if report_path.exists() else None
    )
    return result, report


# ROUGE-L itself


def test_rouge_japanese_pair_exact_score():
    score = rouge_l(REFERENCE_JA, CANDIDATE_JA)

    assert score.precision == pytest.approx(7 / 11)
    assert score.recall == pytest.approx(7 / 10)
    assert score.f1 == pytest.approx(2 / 3)


def test_rouge_identical_japanese_scores_one():
    score = rouge_l("負荷試験は完了した。", "負荷試験は完了した。")

    assert score.f1 == 1.0


def test_rouge_english_words_case_folded():
    score = rouge_l("Ship the cache on Monday", "the cache ships monday")

    # LCS: the, cache, monday = 3 of 5 reference and 4 candidate tokens.
    assert score.recall == pytest.approx(3 / 5)
    assert score.precision == pytest.approx(3 / 4)


# The command


def test_quality_scores_japanese_pair_exactly(tmp_path):
    write_set(tmp_path, [{"id": "ja", "text": CANDIDATE_JA, "reference": REFERENCE_JA}])

    result, report = run_quality(tmp_path, "--set", str(tmp_path / "set.jsonl"))

    item = report["scores"][0]
    assert result.exit_code == 0, result.output
    assert item["summary"] == CANDIDATE_JA + "。"
    assert item["language"] == "ja"
    assert item["rouge_l"]["f1"] == pytest.approx(2 / 3)
    assert item["rouge_l"]["precision"] == pytest.approx(7 / 11)
    assert item["rouge_l"]["recall"] == pytest.approx(7 / 10)
    assert report["rouge_l"]["f1"] == pytest.approx(2 / 3)


def test_quality_gate_fails_below_bar(tmp_path):
    write_set(tmp_path, [{"text": CANDIDATE_JA, "reference": REFERENCE_JA}])

    result, report = run_quality(
        tmp_path, "--set", str(tmp_path / "set.jsonl"), "--min-rouge-l", "0.7"
    )

    assert result.exit_code == 1
    assert report["passed"] is False
    assert "Gate F1 ≥ 0.700: failed" in result.stdout
    assert "**FAILED**" in (tmp_path / "out/reports/quality.md").read_text("utf-8")


def test_quality_gate_passes_at_bar(tmp_path):
    write_set(tmp_path, [{"text": CANDIDATE_JA, "reference": REFERENCE_JA}])

    result, report = run_quality(
        tmp_path, "--set", str(tmp_path / "set.jsonl"), "--min-rouge-l", "0.6"
    )

    assert result.exit_code == 0, result.output
    assert report["passed"] is True


def test_quality_accepts_corpus_field_names(tmp_path):
    write_set(
        tmp_path,
        [
            {
                "id": "x1",
                "raw": "決定: TTL は 10 分。",
                "digest_expected": "TTL は 10 分に決定。",
            }
        ],
    )

    result, report = run_quality(tmp_path, "--set", str(tmp_path / "set.jsonl"))

    assert result.exit_code == 0, result.output
    assert report["scores"][0]["id"] == "x1"
    assert report["scores"][0]["rouge_l"]["f1"] > 0


def test_quality_reports_bad_lines_and_scores_rest(tmp_path):
    write_set(
        tmp_path,
        [
            {"text": "We decided to use Redis.", "reference": "Use Redis."},
            "{broken",
            {"text": "No reference here."},
            {"text": "Load test passed.", "reference": "Load test passed."},
        ],
    )

    result, report = run_quality(tmp_path, "--set", str(tmp_path / "set.jsonl"))

    markdown = (tmp_path / "out/reports/quality.md").read_text("utf-8")
    assert result.exit_code == 1, result.output
    assert report["items"] == 2
    assert [s["line"] for s in report["scores"]] == [1, 4]
    assert report["skipped_lines"] == 2
    assert report["passed"] is False
    assert "set.jsonl:2: invalid JSON" in result.stderr
    assert "set.jsonl:3: missing reference digest" in result.stderr
    assert "Skipped lines: 2" in result.stdout
    assert "Lines of the set skipped: **2**" in markdown


def test_quality_skipped_line_fails_passing_gate(tmp_path):
    write_set(tmp_path, [{"text": CANDIDATE_JA, "reference": REFERENCE_JA}, "{"])

    result, report = run_quality(
        tmp_path, "--set", str(tmp_path / "set.jsonl"), "--min-rouge-l", "0.1"
    )

    assert result.exit_code == 1
    assert report["rouge_l_passed"] is True
    assert report["passed"] is False
    assert "Gate F1 ≥ 0.100: passed" in result.stdout
    assert "Skipped lines: 1" in result.stdout


def test_quality_invalid_utf8_line_is_skipped(tmp_path):
    good = json.dumps({"text": CANDIDATE_JA, "reference": REFERENCE_JA})
    bad = b'{"text": "\xff\xfe", "reference": "x"}'
    (tmp_path / "set.jsonl").write_bytes(good.encode() + b"\n" + bad + b"\n")

    result, report = run_quality(tmp_path, "--set", str(tmp_path / "set.jsonl"))

    assert result.exit_code == 1
    assert report["items"] == 1
    assert report["skipped_lines"] == 1
    assert "set.jsonl:2: invalid UTF-8 at byte 10 of the line" in result.stderr


def test_quality_clean_set_reports_no_skipped_lines(tmp_path):
    write_set(tmp_path, [{"text": CANDIDATE_JA, "reference": REFERENCE_JA}])

    result, report = run_quality(tmp_path, "--set", str(tmp_path / "set.jsonl"))

    assert result.exit_code == 0, result.output
    assert report["skipped_lines"] == 0
    assert report["passed"] is True
    assert "Skipped lines" not in result.stdout


def test_quality_length_bar(tmp_path):
    write_set(
        tmp_path,
        [
            {"text": "Short.", "reference": "Short."},
            {"text": "This summary is longer than twenty.", "reference": "Long."},
        ],
    )

    _result, report = run_quality(
        tmp_path, "--set", str(tmp_path / "set.jsonl"), "--max-chars", "20"
    )

    assert [s["within_limit"] for s in report["scores"]] == [True, False]
    assert report["within_limit_share"] == 0.5


def test_quality_default_set_is_project_examples(tmp_path):
    project = tmp_path / "project"
    (project / "examples" / "quality").mkdir(parents=True)
    write_set(project / "examples" / "quality", [{"text": "A.", "reference": "A."}])

    result = runner.invoke(app, ["quality", str(project)])

    report = json.loads((project / "reports/vpm/quality.json").read_text("utf-8"))
    assert result.exit_code == 0, result.output
    assert report["items"] == 1
    assert (project / "reports/vpm/quality.md").is_file()


def test_quality_missing_set_exits_2(tmp_path):
    result = runner.invoke(app, ["quality", str(tmp_path)])

    assert result.exit_code == 2
    assert "reference set not found" in result.stderr
    assert "--set FILE" in result.stderr


def test_quality_repo_set_offline(tmp_path):
    result = runner.invoke(
        app, ["quality", str(REPO), "--out", str(tmp_path), "--format", "json"]
    )

    report = json.loads(result.stdout)
    assert result.exit_code == 0, result.output
    assert report["items"] >= 12
    assert set(report["by_language"]) == {"en", "ja"}
    assert report["engines"] == {"offline": report["items"]}
    assert report["within_limit_share"] == 1.0
    assert report["json_valid_share"] == 1.0
    assert (tmp_path / "reports" / "quality.md").is_file()


def test_repo_set_is_bilingual_with_references():
    items, problems = read_items(REPO_SET.read_text("utf-8"), "set.jsonl", True)

    languages = {
        "ja" if any("\u3040" <= c <= "\u30ff" for c in i.text) else "en" for i in items
    }
    assert problems == []
    assert len(items) >= 12
    assert languages == {"ja", "en"}
    assert len({item.id for item in items}) == len(items)


def test_quality_corpus_seed_set(tmp_path, corpus):
    seed = corpus / "tree" / "tests" / "e2e" / "semantic_seed.jsonl"

    result, report = run_quality(tmp_path, "--set", str(seed))

    assert result.exit_code == 0, result.output
    assert report["items"] == len(seed.read_text("utf-8").splitlines())
    assert report["by_language"]["ja"]["rouge_l"]["f1"] > 0.3


# With an LLM


def test_quality_with_llm_records_engine(tmp_path, monkeypatch):
    write_set(tmp_path, [{"text": CANDIDATE_JA, "reference": REFERENCE_JA}] * 2)

    with serve_fake_llm() as fake:
        fake.queue(Reply(content="要約"), Reply(content="not json"))
        monkeypatch.setenv("VPM_LLM_BASE_URL", fake.url)
        monkeypatch.setenv("VPM_LLM_MODEL", "tiny")
        result, report = run_quality(tmp_path, "--set", str(tmp_path / "set.jsonl"))

    first, second = report["scores"]
    assert result.exit_code == 0, result.output
    assert first["engine"] == "offline"
    assert first["fallback"] is True
    assert first["reason"] == "invalid-json"
    assert first["json_valid"] is False
    assert second["engine"] == "llm:tiny"
    assert second["json_valid"] is True
    assert report["json_valid_share"] == 0.5
    assert report["engines"] == {"llm:tiny": 1, "offline": 1}


def test_read_items_strips_speaker_prefixes():
    line = json.dumps(
        {
            "dialogue": "User: Should we?\nAssistant: Yes.\nuser data stays.",
            "reference": "Yes.",
        }
    )

    items, problems = read_items(line, "set.jsonl", True)

    assert problems == []
    assert items[0].turns == ("Should we?\nYes.\nuser data stays.",)


def test_read_items_messages_keep_turn_order():
    line = json.dumps(
        {
            "messages": [
                {"role": "user", "content": "ログは？"},
                {"role": "assistant", "text": "1 年です。"},
                {"role": "tool", "content": {"ignored": True}},
            ]
        },
        ensure_ascii=False,
    )

    items, problems = read_items(line, "batch.jsonl")

    assert problems == []
    assert items[0].turns == ("ログは？", "1 年です。")
    assert items[0].id == "1"


# The offline summarizer and a label that opens the text

LABEL_CASES = [
    pytest.param(
        "定例: キャッシュの設計を議論した。TTL は 5 分にした。",
        "キャッシュの設計を議論した。TTL は 5 分にした。",
        id="opening-label-dropped",
    ),
    pytest.param(
        "Standup: the load test passed. We ship on Monday.",
        "the load test passed. We ship on Monday.",
        id="english-label-dropped",
    ),
    pytest.param(
        "決定: TTL は 5 分。", "決定: TTL は 5 分。", id="category-label-kept"
    ),
    pytest.param(
        "10:30 に障害が発生した。", "10:30 に障害が発生した。", id="time-kept"
    ),
    pytest.param(
        "https://example.invalid/runbook を読んだ。",
        "https://example.invalid/runbook を読んだ。",
        id="url-kept",
    ),
]


@pytest.mark.parametrize(("text", "expected"), LABEL_CASES)
def test_offline_summary_opening_label(text, expected):
    summary, _run = OfflineEngine().summarize(text, 400)

    assert summary == expected
