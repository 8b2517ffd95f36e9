"""A lexical embedder that needs no model: hashed n-grams with TF-IDF weights.

Text is normalized (NFKC, lower case), then split into features:

- each Latin word (letters, digits, `_`) of two or more characters, and the
  character trigrams of the word padded as `<word>`, so `deploy` and
  `deployment` share most features;
- each character and each character bigram of a run of Japanese or Chinese
  script, the usual units for text written without spaces.

A feature is hashed with CRC-32 (stable across processes, unlike `hash()`)
into one of 2**18 buckets. Document frequencies are counted per bucket, and
each bucket adds ``sign * (1 + ln tf) * idf`` to vector component
``bucket % dim``, with the sign taken from the hash so that collisions
cancel out on average instead of piling up.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
import zlib
from collections.abc import Sequence

import numpy as np

from vpm.errors import UserError

BUCKET_BITS = 18
BUCKETS = 1 << BUCKET_BITS
DEFAULT_DIM = 512
FEATURE_CACHE_LIMIT = 500_000

_TOKEN = re.compile(
    r"(?P<word>[0-9a-z_]{2,})"
    r"|(?P<cjk>[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af]+)"
)


def extract_features(text: str) -> list[str]:
    """Return the n-gram features of `text`, repeats included."""
    normalized = unicodedata.normalize("NFKC", text).lower()
    features: list[str] = []
    for match in _TOKEN.finditer(normalized):
        word = match.group("word")
        if word is not None:
            features.append("w:" + word)
            padded = f"<{word}>"
            features.extend("t:" + padded[i : i + 3] for i in range(len(padded) - 2))
            continue
        run = match.group("cjk")
        features.extend("u:" + char for char in run)
        features.extend("b:" + run[i : i + 2] for i in range(len(run) - 1))
    return features


class LexicalEmbedder:
    """Hashed character n-grams weighted by TF-IDF, L2-normalized.

    Without `document_frequencies` every feature has the same IDF, so the
    vectors are plain hashed term frequencies. `fit` counts document
    frequencies over a corpus. The counts become part of `version`, so an
    index built with one IDF table is never mixed with another.
    """

    name = "lexical"

    def __init__(
        self,
        dim: int = DEFAULT_DIM,
        document_frequencies: np.ndarray | None = None,
        document_count: int = 0,
    ) -> None:
        if dim <= 0 or BUCKETS % dim:
            raise UserError(f"lexical dimension {dim} must divide {BUCKETS}")
        self.dim = dim
        self._cache: dict[str, int] = {}
        self.document_count = 0
        self.document_frequencies: np.ndarray | None = None
        self._idf = np.ones(BUCKETS, dtype=np.float32)
        if document_frequencies is not None:
            self._set_frequencies(document_frequencies, document_count)

    @property
    def version(self) -> str:
        """Algorithm version and a fingerprint of the IDF table."""
        if self.document_frequencies is None:
            return f"1/dim{self.dim}/idf-none"
        digest = hashlib.sha256(self.document_frequencies.tobytes())
        digest.update(str(self.document_count).encode())
        return f"1/dim{self.dim}/idf-{digest.hexdigest()[:12]}"

    def fit(self, texts: Sequence[str]) -> None:
        """Count the document frequency of every bucket over `texts`."""
        counts = np.zeros(BUCKETS, dtype=np.uint32)
        for text in texts:
            encoded, _ = self._bucket_counts(text)
            counts[np.unique(encoded >> 1)] += 1
        self._set_frequencies(counts, len(texts))

    def embed(self, texts: Sequence[str], batch_size: int = 256) -> np.ndarray:
        """Return one L2-normalized float32 row per text.

        `batch_size` only bounds how many rows are built at once; each row
        depends on its own text alone, so the result does not depend on it.
        """
        rows = np.zeros((len(texts), self.dim), dtype=np.float32)
        for start in range(0, len(texts), batch_size):
            for offset, text in enumerate(texts[start : start + batch_size]):
                rows[start + offset] = self._embed_one(text)
        return rows

    def _set_frequencies(self, counts: np.ndarray, document_count: int) -> None:
        if counts.shape != (BUCKETS,):
            raise UserError(
                f"document frequency table has shape {counts.shape}; "
                f"expected ({BUCKETS},)"
            )
        self.document_frequencies = counts.astype(np.uint32)
        self.document_count = int(document_count)
        # Smoothed IDF, as scikit-learn's TfidfTransformer computes it: a
        # feature in every document keeps weight 1 instead of dropping to 0.
        ratio = (1.0 + document_count) / (1.0 + self.document_frequencies)
        self._idf = (np.log(ratio) + 1.0).astype(np.float32)

    def _embed_one(self, text: str) -> np.ndarray:
        buckets, counts = self._bucket_counts(text)
        vector = np.zeros(self.dim, dtype=np.float32)
        if buckets.size == 0:
            return vector
        signs = np.where(buckets & 1, -1.0, 1.0).astype(np.float32)
        weights = (1.0 + np.log(counts)).astype(np.float32) * self._idf[buckets >> 1]
        np.add.at(vector, (buckets >> 1) % self.dim, signs * weights)
        norm = float(np.linalg.norm(vector))
        return vector / norm if norm > 0 else vector

    def _bucket_counts(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """Return the distinct hashed features of `text` and their counts.

        Each value is ``bucket << 1 | sign`` so one array carries both.
        """
        hashed = [self._hash(feature) for feature in extract_features(text)]
        if not hashed:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty
        values, counts = np.unique(
            np.asarray(hashed, dtype=np.int64), return_counts=True
        )
        return values, counts

    def _hash(self, feature: str) -> int:
        value = self._cache.get(feature)
        if value is None:
            crc = zlib.crc32(feature.encode("utf-8"))
            value = ((crc & (BUCKETS - 1)) << 1) | (crc >> 31)
            if len(self._cache) < FEATURE_CACHE_LIMIT:
                self._cache[feature] = value
        return value
