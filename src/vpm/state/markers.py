"""Words and patterns that carry meaning in state documents.

State documents are written by hand in Japanese and English, so status is
read from markers rather than from a fixed schema. Each pattern lists both
languages.
"""

from __future__ import annotations

import re
import unicodedata

# Milestone ids as projects write them: P2-1, P3-2.1, P0-2, P3-6b.
MILESTONE_ID = re.compile(r"(?<![A-Za-z0-9])P(\d+)((?:[-.]\d+)*[a-z]?)(?![A-Za-z0-9])")
# "Phase 5", "Phase 5:", "フェーズ5" name a phase; "Step-A-2" names a step.
PHASE_REF = re.compile(r"(?:Phase|フェーズ)\s*(\d+)|\b(Step-[A-Z](?:-\d+)?)\b", re.I)

DONE = re.compile(
    r"✅|✔|\bGREEN\b|完了|達成済|導入済|\bdone\b|\bcompleted?\b|\bPASS(?:ED)?\b",
    re.IGNORECASE,
)
STARTED = re.compile(
    r"着手|進行中|作業中|\bin[ -]progress\b|\bWIP\b|\bstarted\b|🚧", re.IGNORECASE
)
NOT_DONE = re.compile(
    r"欠落|未充足|未完|未実施|未達|未着手|未実証|していない|できていない|失敗|❌|"
    r"\bmissing\b|\btodo\b|\bpending\b|\bRED\b|\bfail(?:ed|ing|s)?\b|"
    r"\bnot (?:yet )?(?:done|complete[d]?|green|passed|met)\b|"
    r"\bnever (?:passed|completed|done)\b",
    re.IGNORECASE,
)
SAYS_EVIDENCE = re.compile(
    r"証跡あり|証跡取得|証跡化済|evidence\s*(?:あり|captured|attached|recorded)|"
    r"with evidence|evidence:\s*$",
    re.IGNORECASE,
)
STATUS_LINE = re.compile(
    r"^\s*[-*]?\s*\**(?:status|ステータス)\**\s*[:：]\s*\**\s*(?P<value>.+?)\s*\**\s*$",
    re.IGNORECASE,
)
EVIDENCE_LINE = re.compile(
    r"^\s*[-*]?\s*\**(?:evidence|証跡|エビデンス)\**\s*[:：]", re.I
)
CURRENT_PHASE_MARK = re.compile(
    r"←\s*(?:現在地|current)|\(current\)|（current）|\bcurrent phase\b|"
    r"^\**現在地\**\s*[:：]",
    re.IGNORECASE,
)
CHECKBOX = re.compile(r"^\s*[-*+]\s*\[(?P<mark>[ xX✓])\]\s*(?P<text>.*)$")
LIST_ITEM = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+(?P<text>.*)$")
HEADING = re.compile(r"^(?P<hashes>#{1,6})\s+(?P<text>.+?)\s*#*\s*$")

FREEZE_WORD = re.compile(r"deploy[_ ]freeze|freeze|フリーズ|凍結", re.IGNORECASE)
FREEZE_ON = re.compile(
    r"\btrue\b|\bon\b|維持|継続|有効|凍結中|frozen|\bactive\b", re.IGNORECASE
)
FREEZE_OFF = re.compile(r"\bfalse\b|\boff\b|解除済|解除した|無効|lifted", re.I)

SECTION_ROLES: list[tuple[str, re.Pattern[str]]] = [
    ("phases", re.compile(r"フェーズ構成|\bphases\b|roadmap", re.I)),
    ("purpose", re.compile(r"最終目的|この文書の役割|purpose|\bvision\b", re.I)),
    ("current", re.compile(r"現在地|current position|\(C\)|（C）|^C\b", re.I)),
    ("goal", re.compile(r"ゴール|目的地|\bgoal\b|\(G\)|（G）|^G\b", re.I)),
    ("delta", re.compile(r"差分|δ|\bgap\b|\bdelta\b", re.I)),
    (
        "priority",
        re.compile(
            r"優先タスク|次アクション|次の一手|next (?:actions?|steps?)|"
            r"priorit",
            re.I,
        ),
    ),
    (
        "criteria",
        re.compile(r"success criteria|exit criteria|完了条件|受け入れ条件", re.I),
    ),
    ("wip", re.compile(r"\bWIP\b|work in progress|進行中", re.I)),
    ("decisions", re.compile(r"決定|decision", re.I)),
]

# A few words that state documents write in either language for the same
# thing; used when matching "missing X" against "X done" entries.
GLOSSARY = {
    "サニティ": "sanity",
    "証跡": "evidence",
    "足場": "bootstrap",
    "観測": "observability",
    "移植": "migration",
    "移行": "migration",
    "カオス": "chaos",
}


def milestone_ids(text: str) -> list[str]:
    """Return the milestone ids named in `text`, in order, without repeats."""
    seen: list[str] = []
    # NFKC turns full-width forms such as "P２-３" into "P2-3".
    for match in MILESTONE_ID.finditer(unicodedata.normalize("NFKC", text)):
        ident = f"P{match.group(1)}{match.group(2)}"
        if ident not in seen:
            seen.append(ident)
    return seen


def phase_refs(text: str) -> list[str]:
    """Return phase keys ("P5", "Step-A-2") named in `text`."""
    keys = []
    for match in PHASE_REF.finditer(text):
        keys.append(f"P{match.group(1)}" if match.group(1) else match.group(2))
    return keys


def section_role(heading: str) -> str:
    for role, pattern in SECTION_ROLES:
        if pattern.search(heading):
            return role
    return "other"
