"""The offline engine: extractive summaries and cue-word extraction."""

from pathlib import Path

import pytest

from vpm.engines.base import Engine
from vpm.engines.offline import OfflineEngine, clip_text
from vpm.model import EngineRun
from vpm.text import split_sentences

CORPUS = Path(__file__).parents[2] / "shared" / "corpus" / "vpm-mini"

NOTE_JA = """# 週次ミーティング

今週はキャッシュ層の設計について話し合った。

## 決定事項
- キャッシュは Redis を採用する
- TTL は 10 分とする

## 未決事項
- 監視の閾値をどうするか
- 障害時の切り戻し手順

## リスク
- メモリ不足でノードが落ちる懸念がある

## 次のステップ
- [ ] 負荷試験を実施する
- [x] 設計書を更新する
- なし
"""

NOTE_EN = """Weekly sync notes.

## Decisions
- We decided to ship the cache behind a flag.
- Use Redis 7.

## Open questions
- Who owns the dashboard?

## Next steps
- [ ] Write the load test
- Update the runbook

## Risks
- Memory pressure on small nodes.
"""

DAYS = ["月曜", "火曜", "水曜", "木曜", "金曜", "翌週", "月末"]
TEAMS = ["開発班", "運用班", "品質保証", "設計担当", "新人", "外部協力者"]
TOPICS = ["キャッシュ", "監視", "認証", "配備", "索引", "通知", "課金", "検索"]
ACTIONS = [
    "の応答時間を測った",
    "の設定値を見直した",
    "の手順書を書き直した",
    "の障害報告を読んだ",
    "の依存関係を整理した",
]


def _long_japanese_text() -> str:
    """Return about 2,500 characters of varied Japanese sentences."""
    sentences = []
    for number in range(120):
        day = DAYS[number % len(DAYS)]
        team = TEAMS[number % len(TEAMS)]
        topic = TOPICS[number % len(TOPICS)]
        action = ACTIONS[number % len(ACTIONS)]
        sentences.append(f"{day}に{team}が{topic}{action}。")
    sentences.insert(60, "議論の結果、監視基盤は Prometheus を採用することに決定した。")
    return "".join(sentences)


@pytest.fixture
def engine() -> OfflineEngine:
    return OfflineEngine()


# summarize


def test_summarize_long_japanese_within_400_characters(engine):
    text = _long_japanese_text()

    summary, _ = engine.summarize(text, 400)

    assert len(text) > 2400
    assert 300 < len(summary) <= 400


def test_summarize_long_japanese_quotes_whole_sentences(engine):
    text = _long_japanese_text()

    summary, _ = engine.summarize(text, 400)

    for sentence in split_sentences(summary):
        assert sentence in text


def test_summarize_prefers_decision_sentence(engine):
    summary, _ = engine.summarize(_long_japanese_text(), 120)

    assert "監視基盤は Prometheus を採用することに決定した。" in summary


def test_summarize_short_text_kept_whole(engine):
    text = "設計を見直した。テストは緑です。"

    summary, _ = engine.summarize(text, 400)

    assert summary == text


def test_summarize_note_japanese_in_document_order(engine):
    summary, _ = engine.summarize(NOTE_JA, 60)

    assert summary == (
        "今週はキャッシュ層の設計について話し合った。"
        "キャッシュは Redis を採用する。TTL は 10 分とする。"
    )


def test_summarize_list_items_get_end_marks(engine):
    summary, _ = engine.summarize(NOTE_EN, 60)

    assert summary == "We decided to ship the cache behind a flag. Use Redis 7."


def test_summarize_skips_none_placeholders_and_headings(engine):
    summary, _ = engine.summarize(NOTE_JA, 400)

    assert "なし" not in summary
    assert "週次ミーティング" not in summary
    assert "決定事項" not in summary


def test_summarize_skips_code_blocks(engine):
    text = "設定を変えた。\n```sh\nrm -rf build\n```\n再起動で直った。"

    summary, _ = engine.summarize(text, 400)

    assert summary == "設定を変えた。再起動で直った。"


def test_summarize_english_never_cuts_words(engine):
    text = " ".join(
        f"Step {n} measured the latency of the search index and stored it."
        for n in range(40)
    )

    summary, _ = engine.summarize(text, 200)

    assert len(summary) <= 200
    for sentence in split_sentences(summary):
        assert sentence in text


def test_summarize_single_long_sentence_clipped_at_word(engine):
    text = "The " + "very " * 100 + "long sentence ends here."

    summary, _ = engine.summarize(text, 50)

    assert len(summary) <= 50
    assert summary.endswith("very…")


def test_summarize_empty_text(engine):
    summary, run = engine.summarize("", 400)

    assert summary == ""
    assert run.engine == "offline"


def test_summarize_same_input_same_output(engine):
    text = _long_japanese_text()

    first, _ = engine.summarize(text, 400)
    second, _ = OfflineEngine().summarize(text, 400)

    assert first == second


def test_summarize_reports_offline_run(engine):
    _, run = engine.summarize(NOTE_EN, 400)

    assert isinstance(run, EngineRun)
    assert run.engine == "offline"
    assert run.fallback is False
    assert run.reason is None
    assert run.duration_ms >= 0.0


def test_summarize_corpus_transcript_within_limit(engine):
    text = (CORPUS / "tree" / "samples" / "transcript_ja.txt").read_text("utf-8")

    summary, _ = engine.summarize(text, 400)

    assert 0 < len(summary) <= 400
    assert "example_code" not in summary
    assert "要約は400文字以内で生成する。" in summary


# clip_text


def test_clip_text_short_text_unchanged():
    assert clip_text("短い文。", 10) == "短い文。"


def test_clip_text_japanese_cut_at_character():
    assert clip_text("あいうえおかきくけこ", 5) == "あいうえ…"


def test_clip_text_english_backs_off_to_word_boundary():
    assert clip_text("alpha beta gamma", 14) == "alpha beta…"


def test_clip_text_drops_trailing_comma():
    assert clip_text("設定を変え、再起動した", 7) == "設定を変え…"


# extract


def test_extract_japanese_headings(engine):
    found, _ = engine.extract(NOTE_JA)

    assert found.decisions == ["キャッシュは Redis を採用する", "TTL は 10 分とする"]
    assert found.questions == ["監視の閾値をどうするか", "障害時の切り戻し手順"]
    assert found.risks == ["メモリ不足でノードが落ちる懸念がある"]


def test_extract_done_task_and_none_skipped(engine):
    found, _ = engine.extract(NOTE_JA)

    assert found.todos == ["負荷試験を実施する"]


def test_extract_english_headings(engine):
    found, _ = engine.extract(NOTE_EN)

    assert found.decisions == [
        "We decided to ship the cache behind a flag.",
        "Use Redis 7.",
    ]
    assert found.questions == ["Who owns the dashboard?"]
    assert found.todos == ["Write the load test", "Update the runbook"]
    assert found.risks == ["Memory pressure on small nodes."]


def test_extract_label_prefixes_both_languages(engine):
    text = (
        "決定：ログは JSONL で保存する。\n"
        "TODO: 取り込みテストを書く\n"
        "リスク：ファイルが壊れる可能性。\n"
        "Open question: who reviews the parser?\n"
    )

    found, _ = engine.extract(text)

    assert found.decisions == ["ログは JSONL で保存する。"]
    assert found.todos == ["取り込みテストを書く"]
    assert found.risks == ["ファイルが壊れる可能性。"]
    assert found.questions == ["who reviews the parser?"]


def test_extract_cue_words_in_plain_sentences(engine):
    text = (
        "We agreed to keep one file per day. "
        "This needs to be reviewed by Friday. "
        "There is a risk that disks fill up. "
        "この方式で良いですか？"
    )

    found, _ = engine.extract(text)

    assert found.decisions == ["We agreed to keep one file per day."]
    assert found.todos == ["This needs to be reviewed by Friday."]
    assert found.risks == ["There is a risk that disks fill up."]
    assert found.questions == ["この方式で良いですか？"]


def test_extract_wish_to_decide_is_not_decision(engine):
    found, _ = engine.extract("監視の方式を決めたい。監視の方式を決めた。")

    assert found.decisions == ["監視の方式を決めた。"]


def test_extract_task_box_outside_section_is_todo(engine):
    found, _ = engine.extract("メモ\n- [ ] 設定ファイルを分ける\n- [x] 古い設定を消す")

    assert found.todos == ["設定ファイルを分ける"]


def test_extract_label_line_claims_nested_items(engine):
    text = "- 次アクション：\n  - 監視を入れる\n  - 通知を送る\n- 別の話題"

    found, _ = engine.extract(text)

    assert found.todos == ["監視を入れる", "通知を送る"]


def test_extract_section_ends_at_next_heading(engine):
    text = "## 決定\n- 方式Aにする\n### 背景\n- 旧方式は遅かった"

    found, _ = engine.extract(text)

    assert found.decisions == ["方式Aにする"]


def test_extract_paragraph_under_risk_heading(engine):
    text = "## 課題とリスク\n性能が足りない。人手も少ない。"

    found, _ = engine.extract(text)

    assert found.risks == ["性能が足りない。", "人手も少ない。"]


def test_extract_unresolved_heading_is_questions_not_decisions(engine):
    found, _ = engine.extract("## 未決定の事項\n- 料金体系")

    assert found.questions == ["料金体系"]
    assert found.decisions == []


def test_extract_duplicates_dropped(engine):
    text = "## TODO\n- テストを書く\n- テストを書く。\n- **テスト**を書く"

    found, _ = engine.extract(text)

    assert found.todos == ["テストを書く"]


def test_extract_items_capped_per_category():
    engine = OfflineEngine(max_items=3)
    text = "## Risks\n" + "\n".join(f"- risk number {n}" for n in range(8))

    found, _ = engine.extract(text)

    assert found.risks == ["risk number 0", "risk number 1", "risk number 2"]


def test_extract_long_item_clipped():
    engine = OfflineEngine(item_max_chars=20)

    found, _ = engine.extract("## 決定\n- " + "長い決定の説明" * 10)

    assert len(found.decisions[0]) == 20
    assert found.decisions[0].endswith("…")


def test_extract_inline_markup_removed(engine):
    found, _ = engine.extract("## Decisions\n- Use **`uv`** for [installs](http://x)")

    assert found.decisions == ["Use uv for installs"]


def test_extract_empty_text(engine):
    found, run = engine.extract("")

    assert found.model_dump() == {
        "decisions": [],
        "questions": [],
        "todos": [],
        "risks": [],
    }
    assert run.engine == "offline"


def test_extract_corpus_transcript(engine):
    text = (CORPUS / "tree" / "samples" / "transcript_ja.txt").read_text("utf-8")

    found, _ = engine.extract(text)

    assert len(found.decisions) == 3
    assert found.decisions[0] == "要約は400文字以内で生成する"
    assert len(found.questions) == 3
    assert len(found.todos) == 4
    assert found.risks


# word


def test_word_returns_draft_unchanged(engine):
    draft, run = engine.word("丁寧に書き直す", "次は監視を入れる。")

    assert draft == "次は監視を入れる。"
    assert run.engine == "offline"
    assert run.fallback is False


def test_offline_engine_satisfies_engine_protocol():
    engine: Engine = OfflineEngine()

    assert engine.name == "offline"
    assert callable(engine.summarize)
    assert callable(engine.extract)
    assert callable(engine.word)
