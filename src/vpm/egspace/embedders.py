"""Choose an embedder: lexical (no model) or neural (sentence-transformers).

Every embedder has a `name`, a `version`, a dimension `dim` and
``embed(texts) -> float32 array`` with one L2-normalized row per text. The
index stores name and version with its vectors and re-embeds everything
when either changes, so vectors of two embedders are never mixed.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Protocol

import numpy as np

from vpm.egspace import neural
from vpm.egspace.lexical import LexicalEmbedder
from vpm.errors import UserError

EMBEDDER_ENV = "VPM_EMBEDDER"
EMBEDDER_NAMES = ("lexical", "neural")


class Embedder(Protocol):
    """Interface the index requires of an embedder."""

    name: str
    dim: int

    @property
    def version(self) -> str: ...

    def embed(self, texts: Sequence[str], batch_size: int = ...) -> np.ndarray: ...


def resolve_embedder_name(requested: str | None = None) -> str:
    """Return the embedder to use: the request, `VPM_EMBEDDER`, or the default.

    The default is `neural` when its extra is installed, else `lexical`.

    Raises:
        UserError: The name is neither `lexical` nor `neural`.
    """
    name = requested or os.environ.get(EMBEDDER_ENV) or ""
    name = name.strip().lower()
    if not name:
        return "neural" if neural.is_available() else "lexical"
    if name not in EMBEDDER_NAMES:
        source = "--embedder" if requested else EMBEDDER_ENV
        raise UserError(
            f"unknown embedder {name!r} in {source}; use 'lexical' or 'neural'"
        )
    return name


def make_embedder(name: str) -> Embedder:
    """Build the embedder called `name` (`lexical` starts without IDF)."""
    if name == "neural":
        return neural.NeuralEmbedder()
    if name == "lexical":
        return LexicalEmbedder()
    raise UserError(f"unknown embedder {name!r}; use 'lexical' or 'neural'")
