"""The interface every engine implements."""

from __future__ import annotations

from typing import Protocol

from vpm.model import EngineRun, Extractions


class Engine(Protocol):
    """Turns text into summaries and extractions.

    Implementations never raise on content: an engine that cannot do its
    job returns the offline engine's output and records that in the `EngineRun`.
    """

    name: str

    def summarize(self, text: str, max_chars: int = 400) -> tuple[str, EngineRun]:
        """Summarize `text` in at most `max_chars` characters."""
        ...

    def extract(self, text: str) -> tuple[Extractions, EngineRun]:
        """Pull decisions, open questions, todos and risks out of `text`."""
        ...

    def word(self, instruction: str, draft: str) -> tuple[str, EngineRun]:
        """Reword `draft` following `instruction`; the offline engine keeps it."""
        ...
