"""Score the curator's output against hand-written reference digests.

Three measures, per item and over the set:

- ROUGE-L precision, recall and F1 of the summary against the reference,
  over `vpm.text.tokens` tokens (one token per Japanese character). The
  set's values are means over items (macro average), as rouge-score's
  aggregate reports them.
- Whether the summary is within the maximum length, in characters.
- Whether the structured output (the extractions) is valid JSON: the
  engine did not fall back for ``invalid-json`` and the extractions
  serialize to a JSON object of four string lists.
"""

from __future__ import annotations

import json
from collections import Counter
from statistics import fmean

from pydantic import BaseModel, Field

from vpm.engines.base import Engine
from vpm.model import EngineRun, Extractions
from vpm.quality.digest import RecordingEngine, digest_turns
from vpm.quality.items import Item
from vpm.settings import Settings
from vpm.text.rouge import rouge_l
from vpm.text.tokens import is_cjk

EXTRACTION_KINDS = ("decisions", "questions", "todos", "risks")


class Rouge(BaseModel):
    """ROUGE-L scores, each between 0.0 and 1.0."""

    f1: float = Field(description="Harmonic mean of precision and recall.")
    precision: float = Field(description="LCS length / summary tokens.")
    recall: float = Field(description="LCS length / reference tokens.")


class ItemScore(BaseModel):
    """The curator's output for one item and how it scored."""

    id: str = Field(description="Item id from the set, or its line number.")
    line: int = Field(description="1-based line of the item in the set.")
    language: str = Field(description="'ja' if the text has Japanese, else 'en'.")
    engine: str = Field(description="Engine of the digest: 'offline' or 'llm:MODEL'.")
    fallback: bool = Field(description="True if any engine call fell back.")
    reason: str | None = Field(default=None, description="First fallback reason.")
    summary: str = Field(description="The curator's summary.")
    reference: str = Field(description="The hand-written reference digest.")
    chars: int = Field(description="Summary length in characters.")
    within_limit: bool = Field(description="True if chars <= max_chars.")
    json_valid: bool = Field(description="True if the extractions are valid JSON.")
    rouge_l: Rouge


class LanguageScore(BaseModel):
    """Means over the items of one language."""

    items: int
    rouge_l: Rouge


class QualityReport(BaseModel):
    """Scores of a reference set, per item and overall."""

    set: str = Field(description="Path of the reference set.")
    items: int = Field(description="Number of items scored.")
    max_chars: int = Field(description="Maximum summary length, in characters.")
    min_rouge_l: float | None = Field(
        default=None, description="Minimum mean ROUGE-L F1, or None for no gate."
    )
    rouge_l: Rouge = Field(description="Means over the items.")
    within_limit_share: float = Field(
        description="Share of summaries within max_chars."
    )
    json_valid_share: float = Field(description="Share of valid JSON extractions.")
    engines: dict[str, int] = Field(description="Items per engine.")
    fallbacks: int = Field(description="Items where an engine call fell back.")
    by_language: dict[str, LanguageScore] = Field(default_factory=dict)
    skipped_lines: int = Field(
        default=0, description="Lines of the set that could not be read or scored."
    )
    rouge_l_passed: bool = Field(
        default=True, description="False if the mean F1 is under min_rouge_l."
    )
    passed: bool = Field(
        description="False if the mean F1 is under min_rouge_l or any line of "
        "the set was skipped, because a partial set can hide a regression."
    )
    scores: list[ItemScore]


def score_item(
    item: Item, settings: Settings, engine: Engine, max_chars: int
) -> ItemScore:
    """Run the curator on one item and score its output."""
    recorder = RecordingEngine(engine)
    digest = digest_turns(item.turns, settings, recorder, session_id=item.id)
    rouge = rouge_l(item.reference, digest.summary)
    return ItemScore(
        id=item.id,
        line=item.line,
        language=language_of(item.text),
        engine=digest.run.engine,
        fallback=digest.run.fallback,
        reason=digest.run.reason,
        summary=digest.summary,
        reference=item.reference,
        chars=len(digest.summary),
        within_limit=len(digest.summary) <= max_chars,
        json_valid=is_valid_json_output(digest.extractions, recorder.runs),
        rouge_l=Rouge(f1=rouge.f1, precision=rouge.precision, recall=rouge.recall),
    )


def score_set(
    items: list[Item],
    settings: Settings,
    engine: Engine,
    *,
    set_name: str,
    max_chars: int = 400,
    min_rouge_l: float | None = None,
    skipped_lines: int = 0,
) -> QualityReport:
    """Score every item and aggregate.

    `passed` applies the ROUGE-L bar and fails when `skipped_lines`, the
    lines of the set that were not read into `items`, is above zero.
    """
    scores = [score_item(item, settings, engine, max_chars) for item in items]
    overall = mean_rouge(scores)
    rouge_l_passed = min_rouge_l is None or overall.f1 >= min_rouge_l
    return QualityReport(
        set=set_name,
        items=len(scores),
        max_chars=max_chars,
        min_rouge_l=min_rouge_l,
        rouge_l=overall,
        within_limit_share=_share(s.within_limit for s in scores),
        json_valid_share=_share(s.json_valid for s in scores),
        engines=dict(sorted(Counter(s.engine for s in scores).items())),
        fallbacks=sum(s.fallback for s in scores),
        by_language=_by_language(scores),
        skipped_lines=skipped_lines,
        rouge_l_passed=rouge_l_passed,
        passed=rouge_l_passed and skipped_lines == 0,
        scores=scores,
    )


def language_of(text: str) -> str:
    """Return 'ja' for text with any Japanese or other CJK character, else 'en'."""
    return "ja" if any(is_cjk(char) for char in text) else "en"


def is_valid_json_output(
    extractions: Extractions, runs: list[tuple[str, EngineRun]]
) -> bool:
    """Check that no extraction call got invalid JSON and the result is valid."""
    if any(task == "extract" and run.reason == "invalid-json" for task, run in runs):
        return False
    try:
        data = json.loads(extractions.model_dump_json())
    except json.JSONDecodeError:
        return False
    return isinstance(data, dict) and all(
        isinstance(data.get(kind), list)
        and all(isinstance(item, str) for item in data[kind])
        for kind in EXTRACTION_KINDS
    )


def mean_rouge(scores: list[ItemScore]) -> Rouge:
    """Return the mean ROUGE-L of `scores`; all zero for no scores."""
    if not scores:
        return Rouge(f1=0.0, precision=0.0, recall=0.0)
    return Rouge(
        f1=fmean(s.rouge_l.f1 for s in scores),
        precision=fmean(s.rouge_l.precision for s in scores),
        recall=fmean(s.rouge_l.recall for s in scores),
    )


def _share(flags) -> float:
    values = list(flags)
    return sum(values) / len(values) if values else 0.0


def _by_language(scores: list[ItemScore]) -> dict[str, LanguageScore]:
    languages = sorted({s.language for s in scores})
    result = {}
    for language in languages:
        subset = [s for s in scores if s.language == language]
        result[language] = LanguageScore(items=len(subset), rouge_l=mean_rouge(subset))
    return result
