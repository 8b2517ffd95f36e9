"""Choose the engine from settings without importing the LLM client early.

Importing the `openai` package takes a noticeable part of a second, so it
is imported only when the settings configure an LLM.
"""

from __future__ import annotations

from vpm.engines.base import Engine
from vpm.engines.offline import OfflineEngine
from vpm.settings import Settings


def engine_for(settings: Settings) -> Engine:
    """Return the LLM engine when `llm_base_url` or `llm_model` is set.

    Returns the offline engine otherwise.

    Raises:
        UserError: The `llm_*` settings are invalid.
    """
    if not settings.llm_base_url and not settings.llm_model:
        return OfflineEngine()
    from vpm.engines import llm

    return llm.engine_for(settings)
