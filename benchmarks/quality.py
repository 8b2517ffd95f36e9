"""Compare the offline engine's summaries with baselines by ROUGE-L.

Run from the repository root, after `pip install -e '.[bench]'`:

    .venv/bin/python benchmarks/quality.py

Data sets: the corpus's ``semantic_seed.jsonl`` (``raw`` text with a
hand-written ``digest_expected``, Japanese) when the corpus sits beside the
repository, and the repository's bilingual ``examples/quality/set.jsonl``.

Systems, all limited to 400 characters:

- ``offline``: the curator with the offline engine, as `vpm quality` runs it.
- ``lead-sentence``: the first sentence.
- ``lead-100`` and ``lead-400``: the first 100 or 400 characters, cut at a
  token boundary.
- ``lexrank`` and ``textrank``: sumy's summarizers, best-rated sentences
  first while they fit in 400 characters, printed in document order.

sumy's own tokenizer needs NLTK data that cannot be downloaded offline, so
every system splits sentences with `vpm.text.sentences` and sumy gets
`vpm.text.tokens` as its tokenizer, for Japanese and English alike.
ROUGE-L is `vpm.text.rouge` over the same tokens, one per Japanese
character. Scores are means over items. A second table per set keeps
only the items whose text is longer than 400 characters, where a system
has to choose what to leave out.
"""

from __future__ import annotations

import argparse
import warnings
from collections.abc import Callable
from pathlib import Path
from statistics import fmean

from vpm.engines.offline import OfflineEngine, clip_text
from vpm.quality import Item, read_items
from vpm.quality.digest import digest_turns
from vpm.settings import Settings
from vpm.text.rouge import rouge_l
from vpm.text.sentences import split_sentences
from vpm.text.tokens import tokenize

REPO = Path(__file__).resolve().parents[1]
CORPUS_SEED = (
    REPO.parent
    / "shared"
    / "corpus"
    / "vpm-mini"
    / "tree"
    / "tests"
    / "e2e"
    / "semantic_seed.jsonl"
)
REPO_SET = REPO / "examples" / "quality" / "set.jsonl"
MAX_CHARS = 400

Summarizer = Callable[[Item], str]


class VpmTokenizer:
    """The sumy tokenizer interface over vpm's sentence splitter and tokens."""

    language = "any"

    def to_sentences(self, text: str) -> list[str]:
        return split_sentences(text)

    def to_words(self, sentence: str) -> list[str]:
        return tokenize(sentence)


def offline_system() -> Summarizer:
    settings = Settings()
    engine = OfflineEngine()
    return lambda item: digest_turns(item.turns, settings, engine).summary


def lead_sentence(item: Item) -> str:
    sentences = split_sentences(item.text)
    return clip_text(sentences[0], MAX_CHARS) if sentences else ""


def lead_chars(count: int) -> Summarizer:
    return lambda item: clip_text(" ".join(split_sentences(item.text)), count)


def sumy_system(name: str) -> Summarizer:
    """Return sumy's LexRank or TextRank, filling up to MAX_CHARS."""
    from sumy.models.dom import ObjectDocumentModel, Paragraph, Sentence
    from sumy.summarizers.lex_rank import LexRankSummarizer
    from sumy.summarizers.text_rank import TextRankSummarizer

    tokenizer = VpmTokenizer()
    summarizer = LexRankSummarizer() if name == "lexrank" else TextRankSummarizer()

    def summarize(item: Item) -> str:
        sentences = [Sentence(s, tokenizer) for s in split_sentences(item.text)]
        document = ObjectDocumentModel([Paragraph(sentences)])
        # LexRank divides by a zero norm when a text has one sentence, and
        # numpy warns. The ranking of one sentence does not matter.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            chosen = summarizer(document, _fill_budget)
        return " ".join(str(sentence) for sentence in chosen)

    return summarize


def _fill_budget(infos):
    """Take sumy's sentences, best-rated first, while they fit in MAX_CHARS."""
    chosen, used = [], 0
    for info in infos:
        length = len(str(info.sentence)) + (1 if chosen else 0)
        if used + length <= MAX_CHARS:
            chosen.append(info)
            used += length
    return chosen or infos[:1]


def score(system: Summarizer, items: list[Item]) -> dict[str, float]:
    """Return mean ROUGE-L F1, precision, recall and length over `items`."""
    f1, precision, recall, chars = [], [], [], []
    for item in items:
        summary = system(item)
        rouge = rouge_l(item.reference, summary)
        f1.append(rouge.f1)
        precision.append(rouge.precision)
        recall.append(rouge.recall)
        chars.append(len(summary))
    return {
        "f1": fmean(f1),
        "precision": fmean(precision),
        "recall": fmean(recall),
        "chars": fmean(chars),
    }


def load(path: Path) -> list[Item]:
    items, problems = read_items(path.read_text("utf-8"), str(path), True)
    for problem in problems:
        print(f"skipped {problem.render()}")
    return items


def systems() -> dict[str, Summarizer]:
    found: dict[str, Summarizer] = {
        "offline": offline_system(),
        "lead-sentence": lead_sentence,
        "lead-100": lead_chars(100),
        "lead-400": lead_chars(MAX_CHARS),
    }
    try:
        found["lexrank"] = sumy_system("lexrank")
        found["textrank"] = sumy_system("textrank")
    except ImportError:
        print("sumy is not installed; run: pip install -e '.[bench]'")
    return found


def print_table(name: str, items: list[Item], results: dict[str, dict]) -> None:
    print(f"\n{name} ({len(items)} items)\n")
    print("| system | ROUGE-L F1 | P | R | mean chars |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for system, row in sorted(results.items(), key=lambda kv: -kv[1]["f1"]):
        print(
            f"| {system} | {row['f1']:.3f} | {row['precision']:.3f} "
            f"| {row['recall']:.3f} | {row['chars']:.0f} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--set",
        type=Path,
        action="append",
        dest="sets",
        help="Reference set (JSONL); default: corpus seed and repo set.",
    )
    args = parser.parse_args()
    sets = args.sets or [p for p in (CORPUS_SEED, REPO_SET) if p.is_file()]
    candidates = systems()
    for path in sets:
        items = load(path)
        long_items = [item for item in items if len(item.text) > MAX_CHARS]
        for name, subset in ((path.name, items), (f"{path.name}, long", long_items)):
            if subset:
                results = {n: score(system, subset) for n, system in candidates.items()}
                print_table(name, subset, results)


if __name__ == "__main__":
    main()
