"""Sentences, tokens and windows for Japanese and English text."""

import pytest

from vpm.text import (
    count_tokens,
    ends_sentence,
    sentence_spans,
    split_sentences,
    split_windows,
    tokenize,
    tokenize_with_spans,
    widen_to_sentences,
    window_ranges,
)

# tokens


def test_tokenize_japanese_one_token_per_character():
    assert tokenize("要約を作る") == ["要", "約", "を", "作", "る"]


def test_tokenize_english_words_case_folded():
    assert tokenize("The Cache is READY.") == ["the", "cache", "is", "ready"]


def test_tokenize_mixed_script_splits_at_script_change():
    assert tokenize("Knativeを採用") == ["knative", "を", "採", "用"]


def test_tokenize_punctuation_separates_latin_words():
    assert tokenize("v1.18, don't") == ["v1", "18", "don", "t"]


def test_tokenize_full_width_latin_normalized():
    assert tokenize("ＡＢＣ１２") == ["abc12"]


def test_tokenize_half_width_katakana_keeps_sound_mark():
    assert tokenize("ﾃﾞｰﾀ") == ["デ", "ー", "タ"]


def test_tokenize_japanese_punctuation_dropped():
    assert tokenize("はい、そうです。「了解」") == [
        "は",
        "い",
        "そ",
        "う",
        "で",
        "す",
        "了",
        "解",
    ]


def test_tokenize_with_spans_points_into_original():
    text = "Ｐ２ 完了"

    tokens = tokenize_with_spans(text)

    assert [(t.text, text[t.start : t.end]) for t in tokens] == [
        ("p2", "Ｐ２"),
        ("完", "完"),
        ("了", "了"),
    ]


def test_count_tokens_mixed_text():
    assert count_tokens("PR本文 check") == 4


def test_tokenize_empty_text():
    assert tokenize("") == []


# sentences


def test_split_sentences_japanese_stops():
    text = "方針を決めた。次は実装です！本当に？はい"

    assert split_sentences(text) == [
        "方針を決めた。",
        "次は実装です！",
        "本当に？",
        "はい",
    ]


def test_split_sentences_english_needs_space_after_period():
    text = "We use v1.18 now. It works! Does it? Yes"

    assert split_sentences(text) == [
        "We use v1.18 now.",
        "It works!",
        "Does it?",
        "Yes",
    ]


def test_split_sentences_keeps_file_names_whole():
    assert split_sentences("Write memory.json first.") == ["Write memory.json first."]


def test_split_sentences_abbreviation_not_a_boundary():
    text = "Use a cache, e.g. Redis. Then measure."

    assert split_sentences(text) == ["Use a cache, e.g. Redis.", "Then measure."]


def test_split_sentences_closing_bracket_stays():
    assert split_sentences("「完了した。」次へ進む。") == [
        "「完了した。」",
        "次へ進む。",
    ]


def test_split_sentences_half_width_question_before_japanese():
    assert split_sentences("できますか?はい。") == ["できますか?", "はい。"]


def test_split_sentences_newline_is_boundary():
    assert split_sentences("最初の行\n次の行") == ["最初の行", "次の行"]


def test_split_sentences_wrapped_english_line_joined():
    text = "This sentence is wrapped\nover two lines. Next one."

    assert split_sentences(text) == [
        "This sentence is wrapped over two lines.",
        "Next one.",
    ]


def test_split_sentences_markdown_markers_removed():
    text = "# 見出し\n- 項目一\n* item two\n1. 手順\n2) step\n・中黒\n> 引用"

    assert split_sentences(text) == [
        "見出し",
        "項目一",
        "item two",
        "手順",
        "step",
        "中黒",
        "引用",
    ]


def test_split_sentences_code_fence_skipped():
    text = "前の文。\n```python\nprint('a. b')\n```\n後の文。"

    assert split_sentences(text) == ["前の文。", "後の文。"]


def test_split_sentences_rules_and_table_separators_skipped():
    text = "上\n---\n| a | b |\n|---|---|\n下"

    assert split_sentences(text) == ["上", "| a | b |", "下"]


def test_split_sentences_list_item_with_two_sentences():
    assert split_sentences("- 決めた。理由は速さ。") == ["決めた。", "理由は速さ。"]


def test_split_sentences_ellipsis_alone_dropped():
    assert split_sentences("待って。……") == ["待って。"]


def test_sentence_spans_heading_kind_and_level():
    sentence = sentence_spans("## 決定事項")[0]

    assert sentence.kind == "heading"
    assert sentence.level == 2
    assert sentence.marker == "##"
    assert sentence.text == "決定事項"


def test_sentence_spans_task_box_marker_kept():
    sentence = sentence_spans("  - [ ] テストを書く")[0]

    assert sentence.kind == "item"
    assert sentence.marker == "- [ ]"
    assert sentence.level == 2
    assert sentence.text == "テストを書く"


def test_sentence_spans_line_numbers_and_offsets():
    text = "一行目。\n\n- 三行目です。続き。"

    spans = sentence_spans(text)

    assert [(s.line, text[s.start : s.end]) for s in spans] == [
        (1, "一行目。"),
        (3, "三行目です。"),
        (3, "続き。"),
    ]


def test_sentence_spans_wrapped_line_spans_both_lines():
    text = "one long\nsentence here."

    sentence = sentence_spans(text)[0]

    assert text[sentence.start : sentence.end] == text
    assert sentence.line == 1


def test_sentence_spans_sentence_on_wrapped_line_gets_its_line():
    text = "First part. And\nthen more."

    spans = sentence_spans(text)

    assert [(s.text, s.line) for s in spans] == [
        ("First part.", 1),
        ("And then more.", 1),
    ]


def test_sentence_spans_crlf_line_endings():
    assert split_sentences("一つ目\r\n二つ目\r\n") == ["一つ目", "二つ目"]


def test_sentence_spans_front_matter_skipped():
    text = "---\ntitle: メモ\nstatus: GREEN\n---\n本文です。"

    spans = sentence_spans(text)

    assert [(s.text, s.line) for s in spans] == [("本文です。", 5)]


def test_sentence_spans_unclosed_front_matter_is_text():
    assert split_sentences("---\n本文") == ["本文"]


def test_sentence_spans_counts_only_newlines_as_lines():
    spans = sentence_spans("一行目\u2028続き\n二行目")

    assert [s.line for s in spans] == [1, 2]


def test_ends_sentence_checks_final_mark():
    assert ends_sentence("決めた。")
    assert ends_sentence('He said "yes."')
    assert not ends_sentence("決めた")


# windows


def test_window_ranges_overlap_and_last_window():
    assert window_ranges(10, 4, 1) == [(0, 4), (3, 7), (6, 10)]


def test_window_ranges_short_sequence_is_one_window():
    assert window_ranges(3, 4, 2) == [(0, 3)]


def test_window_ranges_last_window_may_be_short():
    assert window_ranges(9, 4, 0) == [(0, 4), (4, 8), (8, 9)]


def test_window_ranges_empty_sequence():
    assert window_ranges(0, 4, 1) == []


@pytest.mark.parametrize(
    ("size", "overlap", "message"),
    [
        (4, 4, r"overlap \(4 tokens\) must be smaller than the window size \(4"),
        (4, 9, r"overlap \(9 tokens\) must be smaller"),
        (0, 0, "window size must be at least 1 token, got 0"),
        (4, -1, "window overlap must not be negative, got -1"),
    ],
    ids=["equal", "larger", "zero-size", "negative"],
)
def test_window_ranges_invalid_sizes_raise(size, overlap, message):
    with pytest.raises(ValueError, match=message):
        window_ranges(10, size, overlap)


def test_split_windows_japanese_text_spans():
    text = "一二三四五六七八九十"

    windows = split_windows(text, 4, 1)

    assert [w.text for w in windows] == ["一二三四", "四五六七", "七八九十"]
    assert [(w.start, w.end) for w in windows] == [(0, 4), (3, 7), (6, 10)]


def test_split_windows_keeps_punctuation_between_tokens():
    text = "Alpha, beta. Gamma delta!"

    windows = split_windows(text, 3, 1)

    assert [w.text for w in windows] == ["Alpha, beta. Gamma", "Gamma delta"]
    assert [(w.token_start, w.token_end) for w in windows] == [(0, 3), (2, 4)]


def test_split_windows_text_without_tokens():
    assert split_windows("。、！ ", 4, 1) == []


def test_split_windows_rejects_overlap_equal_to_size():
    with pytest.raises(ValueError, match="must be smaller than the window size"):
        split_windows("text", 2, 2)


def test_widen_to_sentences_takes_whole_sentences():
    text = "方針を決めた。次は実装です。"
    windows = split_windows(text, 4, 1)

    widened = widen_to_sentences(text, windows)

    assert [w.text for w in widened] == [
        "方針を決めた。",
        "方針を決めた。次は実装です。",
        "次は実装です。",
        "次は実装です。",
    ]
    assert [w.token_start for w in widened] == [0, 3, 6, 9]


def test_widen_to_sentences_is_bounded_without_sentence_ends():
    text = "あ" * 5000
    windows = split_windows(text, size=1000, overlap=100)

    widened = widen_to_sentences(text, windows)

    assert len(widened) == len(windows)
    assert max(len(w.text) for w in widened) <= 3000
