"""Reading chat logs (JSONL) and plain transcripts."""

import json
from pathlib import Path

import pytest

from vpm.engines.offline import OfflineEngine
from vpm.sources.chat import derive_message_id, derive_session_id, read_chat_file

CORPUS = Path(__file__).parents[2] / "shared" / "corpus" / "vpm-mini" / "tree"


def _write_jsonl(path: Path, records: list[object]) -> Path:
    lines = [json.dumps(record, ensure_ascii=False) for record in records]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# JSONL field aliases


def test_read_chat_file_standard_fields(tmp_path):
    path = _write_jsonl(
        tmp_path / "log.jsonl",
        [
            {
                "role": "user",
                "content": "設計を見直せますか？",
                "session_id": "s1",
                "msg_id": "m1",
                "parent_id": None,
                "timestamp": "2025-03-01T09:00:00.250Z",
            }
        ],
    )

    messages, problems = read_chat_file(path, "logs/log.jsonl")

    assert problems == []
    assert messages[0].model_dump() == {
        "session_id": "s1",
        "message_id": "m1",
        "parent_id": None,
        "role": "user",
        "text": "設計を見直せますか？",
        "timestamp": "2025-03-01T09:00:00.250Z",
        "source": "logs/log.jsonl",
        "line": 1,
    }


def test_read_chat_file_alternative_field_names(tmp_path):
    path = _write_jsonl(
        tmp_path / "log.jsonl",
        [
            {
                "speaker": "Assistant",
                "text": "Done.",
                "sessionId": "s2",
                "message_id": 42,
                "parentId": "m0",
                "ts": 1_700_000_000,
            },
            {
                "author": {"role": "human"},
                "message": "Thanks",
                "conversation_id": "s2",
                "uuid": "u-9",
                "parent": "42",
                "created_at": 1_700_000_060_500,
            },
            {"role": "user", "body": "hi", "thread_id": "s3", "id": "x"},
        ],
    )

    messages, problems = read_chat_file(path, "log.jsonl")

    assert problems == []
    assert [m.role for m in messages] == ["assistant", "user", "user"]
    assert [m.text for m in messages] == ["Done.", "Thanks", "hi"]
    assert [m.session_id for m in messages] == ["s2", "s2", "s3"]
    assert [m.message_id for m in messages] == ["42", "u-9", "x"]
    assert [m.parent_id for m in messages] == ["m0", "42", None]
    assert messages[0].timestamp == "2023-11-14T22:13:20.000Z"
    assert messages[1].timestamp == "2023-11-14T22:14:20.500Z"


def test_read_chat_file_content_parts_joined(tmp_path):
    content = [
        {"type": "text", "text": "一行目"},
        {"type": "image", "url": "x.png"},
        "二行目",
    ]
    path = _write_jsonl(tmp_path / "log.jsonl", [{"role": "user", "content": content}])

    messages, _ = read_chat_file(path, "log.jsonl")

    assert messages[0].text == "一行目\n二行目"


def test_read_chat_file_nested_message_object(tmp_path):
    record = {
        "sessionId": "s1",
        "uuid": "u1",
        "parentUuid": "u0",
        "message": {"role": "assistant", "content": [{"type": "text", "text": "OK"}]},
    }
    path = _write_jsonl(tmp_path / "log.jsonl", [record])

    messages, _ = read_chat_file(path, "log.jsonl")

    assert messages[0].role == "assistant"
    assert messages[0].text == "OK"
    assert messages[0].parent_id == "u0"


def test_read_chat_file_offset_timestamp_normalized_to_utc(tmp_path):
    record = {"role": "user", "content": "x", "time": "2025-03-01T18:00:00+09:00"}
    path = _write_jsonl(tmp_path / "log.jsonl", [record])

    messages, _ = read_chat_file(path, "log.jsonl")

    assert messages[0].timestamp == "2025-03-01T09:00:00.000Z"


def test_read_chat_file_bad_timestamp_kept_with_problem(tmp_path):
    record = {"role": "user", "content": "x", "timestamp": "昨日の夜"}
    path = _write_jsonl(tmp_path / "log.jsonl", [record])

    messages, problems = read_chat_file(path, "log.jsonl")

    assert messages[0].timestamp == "昨日の夜"
    assert problems[0].line == 1
    assert "invalid timestamp '昨日の夜'" in problems[0].message


def test_read_chat_file_naive_timestamp_taken_as_utc(tmp_path):
    record = {"content": "x", "timestamp": "2025-03-01 18:00"}
    path = _write_jsonl(tmp_path / "log.jsonl", [record])

    messages, _ = read_chat_file(path, "log.jsonl")

    assert messages[0].timestamp == "2025-03-01T18:00:00.000Z"


@pytest.mark.parametrize(
    "value", [True, {"at": 1}, 1e300], ids=["bool", "object", "huge"]
)
def test_read_chat_file_non_time_value_dropped_with_problem(tmp_path, value):
    path = _write_jsonl(tmp_path / "log.jsonl", [{"content": "x", "ts": value}])

    messages, problems = read_chat_file(path, "log.jsonl")

    assert messages[0].timestamp is None
    assert problems[0].message.endswith("ignored")


def test_read_chat_file_lone_surrogate_replaced(tmp_path):
    path = tmp_path / "log.jsonl"
    path.write_text('{"content": "a\\ud800b"}\n', encoding="utf-8")

    messages, _ = read_chat_file(path, "log.jsonl")

    assert messages[0].text == "a?b"


def test_read_chat_file_deeply_nested_line_is_problem(tmp_path):
    path = tmp_path / "log.jsonl"
    path.write_text(
        "[" * 100_000 + "]" * 100_000 + '\n{"content": "ok"}\n', encoding="utf-8"
    )

    messages, problems = read_chat_file(path, "log.jsonl")

    assert [m.text for m in messages] == ["ok"]
    assert problems[0].line == 1
    assert "nested too deeply" in problems[0].message


def test_read_chat_file_envelope_text_beside_empty_message(tmp_path):
    record = {"message": {"role": "assistant", "content": None}, "text": "外側"}
    path = _write_jsonl(tmp_path / "log.jsonl", [record])

    messages, _ = read_chat_file(path, "log.jsonl")

    assert messages[0].text == "外側"
    assert messages[0].role == "assistant"


def test_read_chat_file_missing_ids_derived(tmp_path):
    path = _write_jsonl(tmp_path / "log.jsonl", [{"role": "user", "content": "x"}])

    messages, _ = read_chat_file(path, "chats/a.jsonl")

    assert messages[0].session_id == derive_session_id("chats/a.jsonl")
    assert messages[0].message_id == derive_message_id("chats/a.jsonl", 1)


def test_derived_ids_stable_and_distinct():
    assert derive_message_id("a.jsonl", 1) == derive_message_id("a.jsonl", 1)
    assert derive_message_id("a.jsonl", 1) != derive_message_id("a.jsonl", 2)
    assert derive_session_id("a.jsonl") != derive_session_id("b.jsonl")
    assert derive_session_id("a.jsonl").startswith("file-")


def test_read_chat_file_missing_role_is_unknown(tmp_path):
    path = _write_jsonl(tmp_path / "log.jsonl", [{"content": "x"}])

    messages, _ = read_chat_file(path, "log.jsonl")

    assert messages[0].role == "unknown"


# bad lines


def test_read_chat_file_truncated_last_line_reported(tmp_path):
    good = [
        json.dumps({"role": "user", "content": "一つ目", "msg_id": "a"}),
        json.dumps({"role": "assistant", "content": "二つ目", "msg_id": "b"}),
    ]
    path = tmp_path / "log.jsonl"
    path.write_text("\n".join([*good, '{"role": "user", "cont']), encoding="utf-8")

    messages, problems = read_chat_file(path, "logs/log.jsonl")

    assert [m.message_id for m in messages] == ["a", "b"]
    assert len(problems) == 1
    assert problems[0].path == "logs/log.jsonl"
    assert problems[0].line == 3
    assert problems[0].message.startswith("invalid JSON")


def test_read_chat_file_bad_middle_line_rest_still_read(tmp_path):
    path = tmp_path / "log.jsonl"
    path.write_text(
        '{"content": "a", "id": "1"}\nnot json\n{"content": "c", "id": "3"}\n',
        encoding="utf-8",
    )

    messages, problems = read_chat_file(path, "log.jsonl")

    assert [m.message_id for m in messages] == ["1", "3"]
    assert [m.line for m in messages] == [1, 3]
    assert [p.line for p in problems] == [2]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("", "blank line"),
        ("[1, 2]", "expected a JSON object, got list"),
        ('"text"', "expected a JSON object, got str"),
        ('{"role": "user"}', "missing message text"),
        ('{"role": "user", "content": [{"type": "image"}]}', "missing message text"),
    ],
    ids=["blank", "array", "string", "no-text", "no-text-parts"],
)
def test_read_chat_file_unreadable_line_is_problem(tmp_path, line, message):
    path = tmp_path / "log.jsonl"
    path.write_text(f'{{"content": "ok"}}\n{line}\n', encoding="utf-8")

    messages, problems = read_chat_file(path, "log.jsonl")

    assert len(messages) == 1
    assert problems[0].line == 2
    assert message in problems[0].message
    assert problems[0].render().startswith("log.jsonl:2: ")


def test_read_chat_file_binary_file_is_problem(tmp_path):
    path = tmp_path / "image.jsonl"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe")

    messages, problems = read_chat_file(path, "logs/image.jsonl")

    assert messages == []
    assert problems[0].path == "logs/image.jsonl"
    assert "binary" in problems[0].message


def test_read_chat_file_invalid_utf8_names_line(tmp_path):
    path = tmp_path / "log.txt"
    path.write_bytes("一行目\n二行目 ".encode() + b"\xff\xfe")

    messages, problems = read_chat_file(path, "log.txt")

    assert messages[0].text.startswith("一行目\n二行目")
    assert problems[0].line == 2
    assert "invalid UTF-8 at byte" in problems[0].message


def test_read_jsonl_bad_byte_keeps_other_lines(tmp_path):
    path = tmp_path / "log.jsonl"
    good = '{"role": "user", "content": "決定: A にする", "msg_id": "m1"}\n'
    path.write_bytes(good.encode() + b'{"content": "bad \xff", "msg_id": "m2"}\n')

    messages, problems = read_chat_file(path, "log.jsonl")

    assert [m.message_id for m in messages] == ["m1", "m2"]
    assert problems[0].line == 2


def test_read_jsonl_repeated_ids_keep_every_message(tmp_path):
    path = tmp_path / "log.jsonl"
    lines = [f'{{"content": "chunk {i}", "msg_id": "same"}}' for i in range(3)]
    path.write_text("\n".join(lines) + "\n", "utf-8")

    messages, _problems = read_chat_file(path, "log.jsonl")

    assert [m.text for m in messages] == ["chunk 0", "chunk 1", "chunk 2"]
    assert len({m.message_id for m in messages}) == 3


def test_read_chat_file_missing_file_is_problem(tmp_path):
    messages, problems = read_chat_file(tmp_path / "gone.jsonl", "gone.jsonl")

    assert messages == []
    assert problems[0].path == "gone.jsonl"
    assert "failed to read the file" in problems[0].message


def test_read_chat_file_line_separator_inside_json_string(tmp_path):
    path = tmp_path / "log.jsonl"
    path.write_text('{"content": "前\u2028後"}\n{"content": "次"}\n', encoding="utf-8")

    messages, problems = read_chat_file(path, "log.jsonl")

    assert problems == []
    assert [m.text for m in messages] == ["前\u2028後", "次"]
    assert [m.line for m in messages] == [1, 2]


def test_read_chat_file_crlf_lines(tmp_path):
    path = tmp_path / "log.jsonl"
    path.write_bytes(b'{"content": "a"}\r\n{"content": "b"}\r\n')

    messages, problems = read_chat_file(path, "log.jsonl")

    assert problems == []
    assert [m.text for m in messages] == ["a", "b"]


def test_read_chat_file_bom_accepted(tmp_path):
    path = tmp_path / "log.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + '{"content": "先頭"}\n'.encode())

    messages, problems = read_chat_file(path, "log.jsonl")

    assert problems == []
    assert messages[0].text == "先頭"


def test_read_chat_file_empty_file_has_no_messages(tmp_path):
    path = tmp_path / "log.jsonl"
    path.write_text("", encoding="utf-8")

    assert read_chat_file(path, "log.jsonl") == ([], [])


# transcripts


def test_read_chat_file_transcript_split_by_speakers(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text(
        "会議の記録\n"
        "ユーザー：監視はどうしますか？\n"
        "続きの行です。\n"
        "アシスタント: Prometheus を使います。\n"
        "User: OK.\n"
        "**Assistant:** Noted.\n",
        encoding="utf-8",
    )

    messages, problems = read_chat_file(path, "transcripts/t.txt")

    assert problems == []
    assert [(m.role, m.line) for m in messages] == [
        ("unknown", 1),
        ("user", 2),
        ("assistant", 4),
        ("user", 5),
        ("assistant", 6),
    ]
    assert messages[1].text == "監視はどうしますか？\n続きの行です。"
    assert messages[4].text == "Noted."
    assert {m.session_id for m in messages} == {derive_session_id("transcripts/t.txt")}


def test_read_chat_file_transcript_without_speakers_is_one_message(tmp_path):
    path = tmp_path / "notes.md"
    path.write_text("\n# Notes\n\nWe shipped it.\n", encoding="utf-8")

    messages, _ = read_chat_file(path, "notes.md")

    assert len(messages) == 1
    assert messages[0].text == "# Notes\n\nWe shipped it."
    assert messages[0].line == 2
    assert messages[0].message_id == derive_message_id("notes.md", 2)


def test_read_chat_file_same_input_same_ids(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text("User: a\nAssistant: b\n", encoding="utf-8")

    first, _ = read_chat_file(path, "t.txt")
    second, _ = read_chat_file(path, "t.txt")

    assert [m.message_id for m in first] == [m.message_id for m in second]


# the real corpus


def test_read_chat_file_corpus_jsonl_log():
    rel = "objectives/vpm-mini/logs/2025-08-07.jsonl"

    messages, problems = read_chat_file(CORPUS / rel, rel)

    assert problems == []
    assert [m.role for m in messages] == ["user", "assistant"]
    assert messages[1].parent_id == messages[0].message_id
    assert messages[0].session_id == messages[1].session_id
    assert messages[0].timestamp == "2025-08-07T16:12:32.198Z"


def test_read_chat_file_corpus_jsonl_log_summarized():
    rel = "objectives/vpm-mini/logs/2025-08-07.jsonl"
    messages, _ = read_chat_file(CORPUS / rel, rel)
    text = "\n\n".join(m.text for m in messages)

    summary, run = OfflineEngine().summarize(text, 400)

    assert summary == text.replace("\n\n", "")
    assert run.engine == "offline"


def test_read_chat_file_corpus_transcript_summarized():
    rel = "samples/transcript_ja.txt"
    messages, problems = read_chat_file(CORPUS / rel, rel)

    summary, _ = OfflineEngine().summarize(messages[0].text, 400)
    found, _ = OfflineEngine().extract(messages[0].text)

    assert problems == []
    assert len(messages) == 1
    assert messages[0].role == "unknown"
    assert 0 < len(summary) <= 400
    assert len(found.decisions) == 3
