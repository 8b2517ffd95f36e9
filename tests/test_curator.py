"""The curator role over a real SQLite store and the offline engine."""

import hashlib
from pathlib import Path

import pytest

from vpm.engines.offline import OfflineEngine
from vpm.errors import UserError
from vpm.model import ChatMessage, EngineRun, Event, Extractions
from vpm.roles.context import RoleContext
from vpm.roles.curator import CurationInput, combine_runs, curate, merge_messages
from vpm.settings import Settings
from vpm.sources.chat import read_chat_file
from vpm.store import open_store

CORPUS = Path(__file__).parents[2] / "shared" / "corpus" / "vpm-mini" / "tree"


def _message(
    session_id: str,
    message_id: str,
    text: str,
    *,
    line: int = 1,
    timestamp: str | None = None,
    source: str = "logs/chat.jsonl",
) -> ChatMessage:
    return ChatMessage(
        session_id=session_id,
        message_id=message_id,
        text=text,
        line=line,
        timestamp=timestamp,
        source=source,
        role="user",
    )


def _event(message: ChatMessage) -> Event:
    key = f"{message.session_id}/{message.message_id}"
    return Event(
        id=hashlib.sha256(f"chat:{message.source}:{key}".encode()).hexdigest(),
        kind="chat",
        source=message.source,
        key=message.message_id,
        content_hash=hashlib.sha256(message.text.encode()).hexdigest(),
        timestamp=message.timestamp,
        text=message.text,
        data={"session_id": message.session_id, "message": message.model_dump()},
    )


def _context(tmp_path: Path, engine=None, **settings) -> RoleContext:
    data_dir = tmp_path / ".vpm"
    return RoleContext(
        project=tmp_path,
        data_dir=data_dir,
        reports_dir=tmp_path / "reports",
        store=open_store(None, data_dir),
        engine=engine or OfflineEngine(),
        settings=Settings(**settings),
        trace_id="trace-1",
    )


def _store_events(ctx: RoleContext, events: list[Event]) -> None:
    ctx.store.record_cycle(
        trace_id="earlier",
        started_at="2025-01-01T00:00:00Z",
        finished_at="2025-01-01T00:00:01Z",
        events=events,
        findings=[],
        result={},
        watermarks={},
    )


def _long_session_text() -> str:
    """Return a long Japanese note whose decisions sit near its end."""
    filler = [
        f"{n}番目の報告では、検証環境の構築手順と計測結果を共有した。"
        for n in range(1, 41)
    ]
    return "\n".join(
        [*filler, "## 決定事項", "- 本番の監視は Prometheus で行う", "- 週次で見直す"]
    )


class RecordingEngine:
    """Offline engine that records calls and can break its own contract."""

    name = "recording"

    def __init__(self, *, overlong: bool = False, fallback: bool = False) -> None:
        self.offline = OfflineEngine()
        self.summarize_inputs: list[str] = []
        self.overlong = overlong
        self.fallback = fallback

    def _run(self) -> EngineRun:
        if self.fallback:
            return EngineRun(
                engine="offline", fallback=True, reason="timeout", duration_ms=2.0
            )
        return EngineRun(engine="llm:fake", duration_ms=1.0)

    def summarize(self, text: str, max_chars: int = 400) -> tuple[str, EngineRun]:
        self.summarize_inputs.append(text)
        if self.overlong:
            return "長い要約です。" * 100, self._run()
        return self.offline.summarize(text, max_chars)[0], self._run()

    def extract(self, text: str) -> tuple[Extractions, EngineRun]:
        return self.offline.extract(text)[0], self._run()

    def word(self, instruction: str, draft: str) -> tuple[str, EngineRun]:
        return draft, self._run()


@pytest.fixture
def ctx(tmp_path):
    context = _context(tmp_path)
    yield context
    context.store.close()


# one session


def test_curate_single_session_digest(ctx):
    messages = [
        _message(
            "s1", "m1", "監視の方式を決めたい。", timestamp="2025-05-01T10:00:00Z"
        ),
        _message(
            "s1",
            "m2",
            "決定：監視は Prometheus を採用する。\nTODO: 閾値を決める",
            line=2,
            timestamp="2025-05-01T10:01:00Z",
        ),
    ]

    output = curate(CurationInput(events=[_event(m) for m in messages]), ctx)

    digest = output.digests[0]
    assert len(output.digests) == 1
    assert digest.session_id == "s1"
    assert digest.source == "logs/chat.jsonl"
    assert digest.message_count == 2
    assert digest.window_count == 1
    assert digest.summary == (
        "監視の方式を決めたい。決定：監視は Prometheus を採用する。TODO: 閾値を決める。"
    )
    assert digest.extractions.decisions == ["監視は Prometheus を採用する。"]
    assert digest.extractions.todos == ["閾値を決める"]
    assert digest.started_at == "2025-05-01T10:00:00Z"
    assert digest.ended_at == "2025-05-01T10:01:00Z"
    assert output.problems == []


def test_curate_reports_offline_run(ctx):
    event = _event(_message("s1", "m1", "Tests are green."))

    digest = curate(CurationInput(events=[event]), ctx).digests[0]

    assert digest.run.engine == "offline"
    assert digest.run.fallback is False
    assert digest.run.duration_ms >= 0.0


def test_curate_ignores_other_event_kinds(ctx):
    other = Event(
        id="e1",
        kind="commit",
        source="git",
        key="abc",
        content_hash="0" * 64,
        text="決定：何か",
    )

    output = curate(CurationInput(events=[other]), ctx)

    assert output.digests == []
    assert output.problems == []


def test_curate_no_events_no_digests(ctx):
    assert curate(CurationInput(events=[]), ctx).digests == []


# stored messages


def test_curate_merges_stored_messages(ctx):
    earlier = _message(
        "s1", "m1", "前回は認証を議論した。", timestamp="2025-05-01T09:00:00Z"
    )
    _store_events(ctx, [_event(earlier)])
    newer = _message(
        "s1", "m2", "今回は監視を議論した。", timestamp="2025-05-02T09:00:00Z"
    )

    digest = curate(CurationInput(events=[_event(newer)]), ctx).digests[0]

    assert digest.message_count == 2
    assert digest.summary == "前回は認証を議論した。今回は監視を議論した。"
    assert digest.started_at == "2025-05-01T09:00:00Z"


def test_curate_new_message_replaces_stored_version(ctx):
    _store_events(ctx, [_event(_message("s1", "m1", "古い本文です。"))])
    edited = _message("s1", "m1", "新しい本文です。")

    digest = curate(CurationInput(events=[_event(edited)]), ctx).digests[0]

    assert digest.message_count == 1
    assert digest.summary == "新しい本文です。"


def test_curate_untouched_sessions_not_digested(ctx):
    _store_events(ctx, [_event(_message("old", "m1", "古いセッション。"))])

    output = curate(CurationInput(events=[_event(_message("new", "m1", "x"))]), ctx)

    assert [d.session_id for d in output.digests] == ["new"]


def test_merge_messages_orders_by_time_then_line():
    untimed = _message("s", "c", "c", line=9)
    late = _message("s", "a", "a", line=1, timestamp="2025-01-02T00:00:00Z")
    early = _message("s", "b", "b", line=5, timestamp="2025-01-01T00:00:00Z")

    merged = merge_messages([late], [early, untimed])

    assert [m.message_id for m in merged] == ["c", "b", "a"]


# several sessions


def test_curate_digests_sorted_by_session_id(ctx):
    events = [
        _event(_message("zeta", "m1", "最後のセッション。")),
        _event(_message("alpha", "m1", "最初のセッション。")),
        _event(_message("mid", "m1", "真ん中のセッション。")),
    ]

    output = curate(CurationInput(events=events), ctx)

    assert [d.session_id for d in output.digests] == ["alpha", "mid", "zeta"]


def test_curate_same_input_same_digests(ctx):
    events = [_event(_message("s1", "m1", _long_session_text()))]

    first = curate(CurationInput(events=events), ctx).digests[0]
    second = curate(CurationInput(events=events), ctx).digests[0]

    assert first.model_dump(exclude={"run"}) == second.model_dump(exclude={"run"})


# long sessions and windows


def test_curate_long_session_within_limit_and_windowed(tmp_path):
    ctx = _context(tmp_path, window_tokens=64, window_overlap=8)
    event = _event(_message("s1", "m1", _long_session_text()))

    digest = curate(CurationInput(events=[event]), ctx).digests[0]

    assert digest.window_count > 10
    assert len(digest.summary) <= 400
    assert "本番の監視は Prometheus で行う。" in digest.summary


def test_curate_long_session_keeps_heading_context(tmp_path):
    ctx = _context(tmp_path, window_tokens=64, window_overlap=8)
    event = _event(_message("s1", "m1", _long_session_text()))

    digest = curate(CurationInput(events=[event]), ctx).digests[0]

    assert digest.extractions.decisions == [
        "本番の監視は Prometheus で行う",
        "週次で見直す",
    ]


def test_curate_long_session_summarizes_windows_first(tmp_path):
    engine = RecordingEngine()
    ctx = _context(tmp_path, engine=engine, window_tokens=64, window_overlap=8)
    event = _event(_message("s1", "m1", _long_session_text()))

    digest = curate(CurationInput(events=[event]), ctx).digests[0]

    assert len(engine.summarize_inputs) > digest.window_count
    assert max(len(text) for text in engine.summarize_inputs[:-1]) < 200
    assert digest.run.engine == "llm:fake"


def test_curate_summary_limit_from_settings(tmp_path):
    ctx = _context(tmp_path, summary_max_chars=60)
    event = _event(_message("s1", "m1", _long_session_text()))

    digest = curate(CurationInput(events=[event]), ctx).digests[0]

    assert 0 < len(digest.summary) <= 60


def test_curate_clips_overlong_engine_summary(tmp_path):
    ctx = _context(tmp_path, engine=RecordingEngine(overlong=True))
    event = _event(_message("s1", "m1", "短い本文。"))

    digest = curate(CurationInput(events=[event]), ctx).digests[0]

    assert len(digest.summary) == 400
    assert digest.summary.endswith("…")


def test_curate_reports_engine_fallback(tmp_path):
    ctx = _context(tmp_path, engine=RecordingEngine(fallback=True))
    event = _event(_message("s1", "m1", "短い本文。"))

    digest = curate(CurationInput(events=[event]), ctx).digests[0]

    assert digest.run.fallback is True
    assert digest.run.reason == "timeout"
    assert digest.run.duration_ms == pytest.approx(4.0)


def test_curate_invalid_window_settings_raise_user_error(tmp_path):
    ctx = _context(tmp_path, window_tokens=16, window_overlap=16)
    event = _event(_message("s1", "m1", "本文。"))

    with pytest.raises(UserError, match=r"window_overlap \(16\) must be smaller"):
        curate(CurationInput(events=[event]), ctx)


# bad events


def test_curate_bad_chat_event_is_problem(ctx):
    broken = Event(
        id="e1",
        kind="chat",
        source="logs/bad.jsonl",
        key="m9",
        content_hash="0" * 64,
        data={"session_id": "s9", "message": {"text": "no ids"}},
    )
    good = _event(_message("s1", "m1", "正常な本文。"))

    output = curate(CurationInput(events=[broken, good]), ctx)

    assert [d.session_id for d in output.digests] == ["s1"]
    assert output.problems[0].path == "logs/bad.jsonl"
    assert "chat event m9 has no valid message" in output.problems[0].message


def test_combine_runs_without_runs_names_engine():
    run = combine_runs([], "offline")

    assert run.engine == "offline"
    assert run.fallback is False


# the real corpus


def test_curate_corpus_chat_log(ctx):
    rel = "objectives/vpm-mini/logs/2025-08-07.jsonl"
    messages, _ = read_chat_file(CORPUS / rel, rel)

    output = curate(CurationInput(events=[_event(m) for m in messages]), ctx)

    digest = output.digests[0]
    assert digest.session_id == "6408adde-e9db-448e-ba55-eb2456d07f3d"
    assert digest.source == rel
    assert digest.message_count == 2
    assert 0 < len(digest.summary) <= 400
    assert digest.extractions.questions[0] == "会話はできますか？"
    assert digest.started_at == "2025-08-07T16:12:32.198Z"
    assert digest.ended_at == "2025-08-07T16:12:33.370Z"


def test_curate_corpus_transcript(ctx):
    rel = "samples/transcript_ja.txt"
    messages, _ = read_chat_file(CORPUS / rel, rel)

    digest = curate(CurationInput(events=[_event(m) for m in messages]), ctx).digests[0]

    assert digest.window_count == 2
    assert 0 < len(digest.summary) <= 400
    assert len(digest.extractions.decisions) == 3
    assert len(digest.extractions.questions) == 3
    assert len(digest.extractions.todos) == 4
