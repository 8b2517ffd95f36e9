"""Rules that find lines in an evidence file showing a success claim is not met.

`scan_evidence` reads the text of one file and returns `Hit`s, each with a
1-based line, the quoted line and a reason code from `REASONS`. Whole-file
checks (empty file, JSON validity, merge-conflict markers, HTTP status
distributions) run first, then one pattern rule per line.

The line rules are tuned on real reports, where most words that look like
failure are not: "on failure: rollback" in a plan, "ImagePullBackOff fixed"
in a postmortem, `<pending>` in `kubectl` output, `--dry-run=client` used
for validation. So in Markdown they skip headings, except for placeholder
and simulation words. They also skip shell and code fences, checklists,
and sections that describe plans or procedures ("Next Steps",
"Troubleshooting", "手順"). A line yields at most one hit, for the first
rule that matches.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from vpm.model import Severity

QUOTE_CHARS = 200
MAX_HITS_PER_FILE = 25
JSON_SUFFIXES = {".json", ".jsonld", ".geojson"}
JSON_LINES_SUFFIXES = {".jsonl", ".ndjson"}
MARKDOWN_SUFFIXES = {".md", ".markdown", ".mdx"}


@dataclass(frozen=True)
class Reason:
    """Severity and message wording of one reason code."""

    severity: Severity
    summary: str
    """Noun phrase for messages, e.g. 'an HTTP error status'."""


REASONS: dict[str, Reason] = {
    "empty-file": Reason("error", "that the file is empty"),
    "invalid-json": Reason("error", "invalid JSON"),
    "merge-conflict": Reason("error", "an unresolved merge-conflict marker"),
    "http-error": Reason("error", "an HTTP error status"),
    "timeout": Reason("error", "a timeout"),
    "not-ready": Reason("error", "a resource that is not ready or not healthy"),
    "error": Reason("error", "an error message"),
    "failure": Reason("error", "a failed check or step"),
    "pass-below-total": Reason("error", "fewer passes than checks"),
    "empty-result": Reason("warning", "an empty result"),
    "missing-measurement": Reason("warning", "a measurement with no value"),
    "unverified": Reason("warning", "that verification is pending or was skipped"),
    "simulated": Reason("warning", "a simulated, mocked or sample run"),
    "placeholder": Reason("warning", "a placeholder where a result should be"),
}


@dataclass(frozen=True)
class Hit:
    """One line of evidence that contradicts a claim of success."""

    line: int | None
    """1-based line, or None when the whole file is concerned."""
    quote: str
    reason: str
    """A key of `REASONS`."""
    detail: str = ""
    """Specifics, e.g. the JSON parser's message."""


def scan_evidence(text: str, suffix: str) -> list[Hit]:
    """Return the hits in one evidence file, ordered by line.

    Args:
        text: The decoded file content.
        suffix: The lower-case file suffix, e.g. ".json"; it selects the
            JSON checks and the Markdown structure rules.
    """
    if not text.strip():
        return [Hit(None, "", "empty-file")]
    lines = text.split("\n")
    hits = _merge_conflicts(lines)
    if suffix in JSON_SUFFIXES:
        hits += _json_document(text, lines)
    elif suffix in JSON_LINES_SUFFIXES:
        hits += _json_lines(lines)
    hits += _hey_distributions(lines)
    lines_with_hits = {hit.line for hit in hits}
    hits += [h for h in _line_hits(lines, suffix) if h.line not in lines_with_hits]
    return _unique(sorted(hits, key=lambda hit: hit.line or 0))


def quote_line(text: str) -> str:
    """Return `text` stripped and shortened to about 200 characters."""
    text = text.strip()
    if len(text) <= QUOTE_CHARS:
        return text
    return text[: QUOTE_CHARS - 1] + "…"


def _unique(hits: list[Hit]) -> list[Hit]:
    # Logs repeat the same line, so one quote per reason is enough to act on.
    seen: set[tuple[str, str]] = set()
    unique = []
    for hit in hits:
        key = (hit.reason, hit.quote)
        if key not in seen:
            seen.add(key)
            unique.append(hit)
    return unique


# whole-file checks

CONFLICT_START = re.compile(r"^<{7}(?:\s|$)")
CONFLICT_MIDDLE = re.compile(r"^={7}\s*$")
CONFLICT_END = re.compile(r"^>{7}(?:\s|$)")


def _merge_conflicts(lines: list[str]) -> list[Hit]:
    hits = []
    is_open = False
    for number, line in enumerate(lines, 1):
        if CONFLICT_START.match(line):
            is_open = True
        elif is_open and CONFLICT_MIDDLE.match(line):
            pass
        elif is_open and CONFLICT_END.match(line):
            is_open = False
        else:
            continue
        hits.append(Hit(number, quote_line(line), "merge-conflict"))
    return hits


def _json_document(text: str, lines: list[str]) -> list[Hit]:
    values, error = _decode_stream(text)
    if error is not None and values and error.msg == "Expecting value":
        # The parser was looking for another value and found other text.
        error = json.JSONDecodeError("text after the JSON value", text, error.pos)
    if error is not None:
        return [_invalid_json(error, lines)]
    hits = []
    for value in values:
        if value in ([], {}):
            first = next(i for i, line in enumerate(lines, 1) if line.strip())
            hits.append(Hit(first, quote_line(lines[first - 1]), "empty-result"))
        hits += _json_structure(value, lines, 0)
    return hits


def _decode_stream(text: str) -> tuple[list[object], json.JSONDecodeError | None]:
    # Tools such as `jq` write one JSON value after another. Such a stream
    # counts as valid data, but any other text after a value is invalid.
    decoder = json.JSONDecoder()
    values = []
    position = _skip_space(text, 0)
    while position < len(text):
        try:
            value, position = decoder.raw_decode(text, position)
        except json.JSONDecodeError as exc:
            return values, exc
        values.append(value)
        position = _skip_space(text, position)
    return values, None


def _skip_space(text: str, position: int) -> int:
    while position < len(text) and text[position] in " \t\r\n\ufeff":
        position += 1
    return position


def _invalid_json(error: json.JSONDecodeError, lines: list[str], base: int = 0) -> Hit:
    number = base + error.lineno
    detail = f"{error.msg} at line {number}, column {error.colno}"
    return Hit(number, quote_line(lines[number - 1]), "invalid-json", detail)


def _json_lines(lines: list[str]) -> list[Hit]:
    hits = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            hits.append(_invalid_json(exc, lines, number - 1))
            continue
        hits += _json_structure(value, lines, number - 1)
    return hits


PASS_KEYS = ("pass", "passed", "passes", "passed_checks", "passed_tests")
TOTAL_KEYS = ("total", "total_checks", "total_tests", "tests", "checks")
STATUS_CODE_KEY = re.compile(r"^[1-5]\d\d$")


def _json_structure(value: object, lines: list[str], start: int) -> list[Hit]:
    hits = []
    for node in _json_objects(value):
        hits += _status_map(node, lines, start)
        hits += _pass_below_total(node, lines, start)
    return hits


def _json_objects(value: object) -> Iterator[dict[str, object]]:
    if isinstance(value, dict):
        yield value
        children = list(value.values())
    elif isinstance(value, list):
        children = value
    else:
        return
    for child in children:
        yield from _json_objects(child)


def _status_map(node: dict[str, object], lines: list[str], start: int) -> list[Hit]:
    # A map such as {"200": 5125, "500": 24} from a load test. A few errors
    # in many requests are judged by error-rate targets (see metrics.py),
    # so only a run whose responses are mostly errors contradicts success.
    if not node or not all(STATUS_CODE_KEY.match(key) for key in node):
        return []
    counts = {key: count for key, count in node.items() if isinstance(count, int)}
    errors = {key: n for key, n in counts.items() if key[0] in "45" and n > 0}
    if sum(errors.values()) * 2 <= sum(counts.values()):
        return []
    return [
        _located(lines, start, rf'"{key}"\s*:\s*{count}\b', "http-error")
        for key, count in errors.items()
    ]


def _pass_below_total(
    node: dict[str, object], lines: list[str], start: int
) -> list[Hit]:
    passed = next((k for k in PASS_KEYS if _is_count(node.get(k))), None)
    total = next((k for k in TOTAL_KEYS if _is_count(node.get(k))), None)
    if passed is None or total is None or node[passed] >= node[total]:  # type: ignore[operator]
        return []
    pattern = rf'"{passed}"\s*:\s*{node[passed]}\b'
    detail = f"{passed}={node[passed]} of {total}={node[total]}"
    hit = _located(lines, start, pattern, "pass-below-total")
    return [Hit(hit.line, hit.quote, hit.reason, detail)]


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _located(lines: list[str], start: int, pattern: str, reason: str) -> Hit:
    regex = re.compile(pattern)
    for number in range(start + 1, len(lines) + 1):
        if regex.search(lines[number - 1]):
            return Hit(number, quote_line(lines[number - 1]), reason)
    return Hit(start + 1, quote_line(lines[start]), reason)


HEY_STATUS = re.compile(r"^\s*\[(\d{3})\]\s+([\d,]+)\s+responses?\b")


def _hey_distributions(lines: list[str]) -> list[Hit]:
    """Find `hey`'s "Status code distribution" blocks that are mostly errors."""
    hits: list[Hit] = []
    block: list[tuple[int, int, int]] = []
    for number, line in enumerate([*lines, ""], 1):
        match = HEY_STATUS.match(line)
        if match:
            count = int(match.group(2).replace(",", ""))
            block.append((number, int(match.group(1)), count))
            continue
        total = sum(count for _, _, count in block)
        errors = [(n, code, count) for n, code, count in block if code >= 400]
        if errors and sum(count for *_, count in errors) * 2 > total:
            hits += [Hit(n, quote_line(lines[n - 1]), "http-error") for n, *_ in errors]
        block = []
    return hits


# line rules


@dataclass(frozen=True)
class _Rule:
    reason: str
    pattern: re.Pattern[str]
    is_negatable: bool = False
    """Skip the match when a negation ("no", "not", "なし") surrounds it."""
    in_headings: bool = False
    guard: Callable[[str, re.Match[str]], bool] | None = None
    """Extra test on the line and the match, where False drops the match."""


def _before(line: str, match: re.Match[str], chars: int = 40) -> str:
    return line[max(0, match.start() - chars) : match.start()]


NEGATION_BEFORE = re.compile(r"(?i)\b(?:no|not|without|zero|never|none)\b[^.;,\n]*$")
NEGATION_AFTER = re.compile(r"^[^。.\n]{0,6}(?:なし|無し|ません|なかった|ない)")
CONDITION_BEFORE = re.compile(
    r"(?i)\b(?:if|when|whenever|unless|in case|expects?|expected to|should|would|"
    r"could|may|might|prevents?|avoid|handles?|handling|retry|retries|alerts?|"
    r"fires?|triggers?)\b"
)
RESOLVED = re.compile(r"(?i)解消|\bresolved\b|\bfixed\b|修正済")
SERIES_OF_ERRORS = re.compile(r"(?i)5\.\.|5xx|error|fail")
TEST_SUMMARY = re.compile(r"(?i)\b\d+\s+passed\b|={3,}")
X_OF_Y_EXCLUDED = re.compile(r"(?i)canary|traffic|split|weight|→|->")


# Nouns whose absence is good news: "no errors found" is not an empty result.
GOOD_NEWS = (
    r"(?!issues?\b|errors?\b|problems?\b|violations?\b|vulnerabilit|failures?\b|"
    r"warnings?\b|differences?\b|drift\b|leaks?\b|secrets?\b)"
)


def _is_real_failure(line: str, match: re.Match[str]) -> bool:
    after = line[match.end() : match.end() + 8]
    if re.match(r"\s*[:=]\s*(?:0\b|false\b|none\b)", after):
        return False
    return not CONDITION_BEFORE.search(_before(line, match))


def _is_unresolved(line: str, match: re.Match[str]) -> bool:
    return not RESOLVED.search(line)


def _is_failed_count(line: str, match: re.Match[str]) -> bool:
    return "error" not in match.group(0).lower() or bool(TEST_SUMMARY.search(line))


def _is_not_about_errors(line: str, match: re.Match[str]) -> bool:
    # "series(5xx only) : 0" counts no errors, which is good news.
    return not SERIES_OF_ERRORS.search(match.group(0))


def _is_fewer(line: str, match: re.Match[str]) -> bool:
    done, total = (int(g) for g in match.groups() if g is not None)
    return total > 0 and done < total and not X_OF_Y_EXCLUDED.search(match.group(0))


def _not_legend(line: str, match: re.Match[str]) -> bool:
    return not re.search(r"OK\s*/\s*NG|❌\s*[=:：]", line)


def _rule(reason: str, pattern: str, **options: object) -> _Rule:
    return _Rule(reason, re.compile(pattern), **options)  # type: ignore[arg-type]


# Order is priority: a line yields the first rule that matches.
# NOTE: the rules read one line at a time, so a failure shown only by a
# table column (a TSV of status codes) or by comparing two figures on a
# line ("requests: 12, 200: 0") is not found.
LINE_RULES: list[_Rule] = [
    _rule("http-error", r"\bHTTP/\d(?:\.\d)?\s+[45]\d\d\b"),
    _rule(
        "http-error",
        r"(?i)[\"']?\b(?:http_?)?(?:status_?code|status|response_?code|http_?code)"
        r"[\"']?\s*[:=]\s*[\"']?[45]\d\d\b",
    ),
    _rule(
        "http-error",
        r"(?i)(?:\b100\s*%|\ball\b|\bevery\b)[^\n]{0,40}?\b[45]\d\d\s+"
        r"(?:responses?|status|errors?)\b",
    ),
    _rule(
        "http-error",
        r"\b[45]\d\d\s+(?:Not Found|Bad Request|Unauthorized|Forbidden|"
        r"Internal Server Error|Bad Gateway|Service Unavailable|Gateway Timeout|"
        r"Too Many Requests)\b",
    ),
    _rule(
        "timeout",
        r"(?i)\btimed[ -]out\b|\bdeadline exceeded\b|\bETIMEDOUT\b|\bi/o timeout\b|"
        r"\btimeout (?:error|occurred|expired|prevented|reached)\b|"
        r"タイムアウト(?:しました|した|が発生|発生|エラー)",
        is_negatable=True,
    ),
    _rule(
        "not-ready",
        r"\bREADY=(?:False|Unknown)\b|\bReady(?:=|:\s*)(?:False|Unknown)\b|"
        r"\bNotReady\b|\bRevision(?:Missing|Failed)\b|\bProgressDeadlineExceeded\b|"
        r"\bCrashLoopBackOff\b|\bImagePullBackOff\b|\bErrImagePull\b|"
        r"\bContainerMissing\b|\(unhealthy\)|\bRestarting \(\d+\)|"
        r"(?i:\bnot ready\b)|:\d{2,5}\s+down\b",
        guard=_is_unresolved,
    ),
    _rule(
        "error",
        r"\blevel=(?:error|fatal|panic)\b|\"level\"\s*:\s*\"(?:error|fatal)\"|"
        r"(?<![\w-])(?:ERROR|FATAL)\b(?!_)|\bError from server\b|"
        r"(?i:\binternal error occurred\b)|\bTraceback \(most recent call last\)|"
        r"\b[A-Z][A-Za-z]*(?:Error|Exception): |\bpanic: |"
        r"(?i:(?<![\w-])error:\s+(?!0\b|none\b|null\b|nil\b|false\b|n/?a\b|\"\"|''))|"
        r"エラーが発生|エラー発生",
        is_negatable=True,
    ),
    _rule(
        "failure", r"❌|✖|✘|✗|(?<![A-Za-z0-9_])NG(?![A-Za-z0-9_])", guard=_not_legend
    ),
    _rule(
        "failure",
        r"(?i)[\"']?\b(?:failed|failures?|fail|fail(?:ed|ure)?_(?:count|checks|tests|"
        r"cases|jobs|steps))[\"']?\s*[:=]\s*[1-9]\d*\b|\b[1-9]\d*\s+(?:failed|errors?)\b",
        guard=_is_failed_count,
    ),
    _rule(
        "failure",
        r"(?i)[\"']?\b(?:status|result|state|conclusion|outcome|verdict|health)[\"']?"
        r"\s*[:=]\s*[\"']?(?:fail(?:ed|ure)?|error(?:ed)?|down|unhealthy|broken)\b|"
        r"\"\w+\"\s*:\s*\"(?:fail|failed|failure)\"",
    ),
    _rule(
        "failure",
        r"(?i)\"(?:ok|success|succeeded|passed|pass|healthy|ready|reachable|synced|"
        r"valid|verified|met|\w+_ok)\"\s*:\s*false\b",
    ),
    _rule(
        "failure",
        r"(?i)\bexit(?:ed)?\s+(?:with\s+)?(?:code|status)\s*[:=]?\s*[1-9]\d{0,2}\b|"
        r"\bExited \([1-9]\d{0,2}\)|\b(?:unable to|could not|couldn't|cannot) "
        r"(?:connect|retrieve|reach|resolve|pull|push|find|load|start|fetch|read|"
        r"open|create|apply|access)\b|(?-i:\bFAIL(?:ED|URE)?\b)|\b(?:failed|failing)\b|"
        r"失敗しました|失敗した(?!場合|時|ら)",
        is_negatable=True,
        guard=_is_real_failure,
    ),
    _rule(
        "pass-below-total",
        r"(?i)\b(\d+)\s*/\s*(\d+)\s+(?:[\w-]+\s+){0,2}?(?:pass(?:ed)?|succeeded|"
        r"success(?:ful)?|ok|green|ready|running|healthy)\b|"
        r"(\d+)\s*/\s*(\d+)\s*(?:成功|合格|完了|正常)",
        guard=_is_fewer,
    ),
    _rule(
        "empty-result",
        r"(?i)\"(?:items|results?|data|targets|activeTargets|rules|alerts|series|"
        r"matches|entries|records|hits)\"\s*:\s*\[\s*\]|"
        rf"\b0\s+(?:{GOOD_NEWS}[\w-]+\s+){{0,3}}?(?:found|returned|discovered|loaded)\b|"
        rf"\bno\s+(?:{GOOD_NEWS}[\w-]+\s+){{0,4}}?(?:found|returned)\b|"
        r"\bseries(?:\([^)]*\))?\s*(?:count)?\s*[:=]\s*0\b",
        guard=_is_not_about_errors,
    ),
    _rule(
        "missing-measurement",
        r"(?i)(?<![\w])[\"']?(?:p\d{2}(?:\.\d)?|avg|mean|median|latency|error[ _]?rate|"
        r"success[ _]?rate)(?:[ _]ms)?[\"']?\s*[:=]\s*(?:NA|N/A|NaN|null|None)\b",
    ),
    _rule(
        "unverified",
        r"⏳|(?i:\bpending (?:deployment|verification|validation|approval|review)\b)|"
        r"(?i:\b(?:status|health|state)\s*[:=]\s*pending\b)|"
        r"(?i:\b(?:verification|validation|tests?|testing)\b[^.\n]{0,30}?"
        r"\b(?:skipped|pending|not (?:run|performed|executed|done))\b)|"
        r"(?i:\bprevented (?:live )?verification\b)|"
        r"(?i:\bverified (?:via|through|by) (?:code review|successful "
        r"(?:pr|deployment)))|"
        r"(?i:\bnot (?:yet )?(?:verified|tested|deployed|pushed)\b)|"
        r"(?i:\b(?:step|stage|check|tests?|verification|validation)s?\s+"
        r"(?:was\s+|were\s+)?skipped\b)|(?i:\bskipping\s+(?:the\s+)?(?:dry-run|"
        r"verification|tests?|checks?)\b)|(?i:\bpending\b(?!>))|未実証|未検証|未確認",
    ),
    _rule(
        "simulated",
        r"(?i)(?<![a-z])(?:simulat(?:ed|ion|e)|mock(?:ed)?|stub(?:bed|s)?|dummy|fake)"
        r"(?![a-z])|(?i:\b(?:sample|example)\s+(?:expected\s+)?output\b)|"
        r"(?i:\bdry[-_ ]?run\s*(?:mode\b|[:=]\s*(?:true|1|yes|on)\b))|"
        r"(?i:\bmode\s*[:=]\s*dry[-_ ]?run\b)|ダミー|模擬|（仮）|\(仮\)|"
        r"仮(?:実装|置き|値|データ|対応)",
        is_negatable=True,
        in_headings=True,
    ),
    _rule(
        "placeholder",
        r"(?i:(?<![a-z])place ?holders?(?![a-z]))|\bTODO\b|\bTBD\b|\bFIXME\b|"
        r"\{\{\s*[\w.]+\s*\}\}|<[a-z][a-z0-9]*(?:_[a-z0-9]+)+>|\$\([^)]*\)|雛形",
        is_negatable=True,
        in_headings=True,
    ),
]


@dataclass(frozen=True)
class _LineContext:
    is_heading: bool = False
    is_skipped: bool = False
    """True in code fences, checklists and plan or procedure sections."""


PLAN_HEADING = re.compile(
    r"(?i)next|recommendations?\b|suggestions?\b|follow[- ]?up|troubleshoot|how to|"
    r"usage|reproduction\b|to reproduce|"
    r"commands?\b|alert (?:definitions?|expressions?|rules?)|lessons|to-?do|"
    r"roadmap|\bplans?\b|planned|future|further|improvement|migration path|"
    r"strategy|次|今後|予定|手順|改善|対策|計画"
)
CODE_FENCE_LANGUAGES = {
    "bash", "sh", "shell", "zsh", "console", "powershell", "ps1", "promql",
    "python", "py", "javascript", "js", "typescript", "ts", "go", "sql",
    "dockerfile", "makefile", "diff", "rego",
}  # fmt: skip
HEADING = re.compile(r"^\s{0,3}(#{1,6})\s")
FENCE = re.compile(r"^\s*(```|~~~)\s*([\w+-]*)")
CHECKLIST = re.compile(r"^\s*[-*]\s+\[[ xX]?\]\s")


def _contexts(lines: list[str], suffix: str) -> Iterator[tuple[int, _LineContext]]:
    if suffix not in MARKDOWN_SUFFIXES:
        for number in range(1, len(lines) + 1):
            yield number, _LineContext()
        return
    fence: str | None = None
    skip_fence = False
    sections: list[tuple[int, bool]] = []
    for number, line in enumerate(lines, 1):
        fence_match = FENCE.match(line)
        if fence_match and (fence is None or fence_match.group(1) == fence):
            is_opening = fence is None
            fence = fence_match.group(1) if is_opening else None
            skip_fence = (
                is_opening and fence_match.group(2).lower() in CODE_FENCE_LANGUAGES
            )
            yield number, _LineContext(is_skipped=True)
            continue
        heading = HEADING.match(line) if fence is None else None
        if heading:
            # A level-1 heading is the report's title, not a section of it.
            level = len(heading.group(1))
            sections = [s for s in sections if s[0] < level]
            sections.append((level, level > 1 and bool(PLAN_HEADING.search(line))))
        in_plan = any(is_plan for _, is_plan in sections)
        is_skipped = skip_fence or in_plan or bool(CHECKLIST.match(line))
        yield number, _LineContext(bool(heading), is_skipped and not heading)


# Log records below error level ("No pre-existing SVID found") are routine.
QUIET_LOG_LEVEL = re.compile(
    r"(?i)\blevel=(?:trace|debug|info|notice|warn|warning)\b|"
    r"\"level\"\s*:\s*\"(?:trace|debug|info|notice|warn|warning)\""
)


def _line_hits(lines: list[str], suffix: str) -> list[Hit]:
    hits = []
    for number, context in _contexts(lines, suffix):
        line = lines[number - 1]
        if context.is_skipped or QUIET_LOG_LEVEL.search(line):
            continue
        reason = _first_reason(line, context.is_heading)
        if reason is not None:
            hits.append(Hit(number, quote_line(line), reason))
    return hits


def _first_reason(line: str, is_heading: bool) -> str | None:
    for rule in LINE_RULES:
        if is_heading and not rule.in_headings:
            continue
        for match in rule.pattern.finditer(line):
            if rule.is_negatable and _is_negated(line, match):
                continue
            if rule.guard is not None and not rule.guard(line, match):
                continue
            return rule.reason
    return None


def _is_negated(line: str, match: re.Match[str]) -> bool:
    before = _before(line, match, 30)
    return bool(
        NEGATION_BEFORE.search(before) or NEGATION_AFTER.match(line[match.end() :])
    )
