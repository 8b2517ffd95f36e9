"""Embedders: paraphrases are nearer than unrelated texts, in both languages."""

from __future__ import annotations

import numpy as np
import pytest

from vpm.egspace.embedders import resolve_embedder_name
from vpm.egspace.lexical import LexicalEmbedder, extract_features
from vpm.egspace.neural import MAX_CHUNKS, NeuralEmbedder, split_chunks
from vpm.errors import UserError

PAIRS = [
    pytest.param("デプロイの凍結を解除する", "デプロイ凍結を解除した", id="ja-freeze"),
    pytest.param(
        "サービスの応答時間を測定する", "サービスの応答時間を計測した", id="ja-latency"
    ),
    pytest.param(
        "The deploy freeze was lifted after the canary passed",
        "We lifted the deployment freeze once the canary check passed",
        id="en-freeze",
    ),
    pytest.param(
        "Measure the p95 latency of the API",
        "The API's 95th percentile latency was measured",
        id="en-latency",
    ),
]
UNRELATED = ["猫が窓辺で昼寝をしている", "A recipe for baking sourdough bread at home"]


@pytest.fixture(scope="module")
def neural() -> NeuralEmbedder:
    return NeuralEmbedder()


def nearest_is_paraphrase(vectors: np.ndarray) -> bool:
    paraphrase = float(vectors[0] @ vectors[1])
    unrelated = max(float(vectors[0] @ v) for v in vectors[2:])
    return paraphrase > unrelated + 0.2


@pytest.mark.parametrize(("first", "second"), PAIRS)
def test_lexical_paraphrase_nearer_than_unrelated(first: str, second: str) -> None:
    vectors = LexicalEmbedder().embed([first, second, *UNRELATED])

    assert nearest_is_paraphrase(vectors)


@pytest.mark.parametrize(("first", "second"), PAIRS)
def test_neural_paraphrase_nearer_than_unrelated(
    neural: NeuralEmbedder, first: str, second: str
) -> None:
    vectors = neural.embed([first, second, *UNRELATED])

    assert nearest_is_paraphrase(vectors)


def test_lexical_rows_are_unit_length() -> None:
    vectors = LexicalEmbedder().embed(["Knative autoscaling", "監視ラインの拡張"])

    assert vectors.dtype == np.float32
    assert vectors.shape == (2, 512)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_lexical_empty_text_is_zero_vector() -> None:
    vectors = LexicalEmbedder().embed(["", "。、！"])

    assert not vectors.any()


def test_lexical_deterministic_across_instances_and_batches() -> None:
    texts = [f"report {i} のデプロイ証跡 p95 latency" for i in range(10)]

    first = LexicalEmbedder().embed(texts, batch_size=3)
    second = LexicalEmbedder().embed(texts, batch_size=256)

    assert np.array_equal(first, second)


def test_lexical_fit_changes_version_and_weights() -> None:
    corpus = ["evidence report one", "evidence report two", "autoscale knative"]
    plain = LexicalEmbedder()
    fitted = LexicalEmbedder()

    fitted.fit(corpus)

    assert plain.version.endswith("idf-none")
    assert fitted.version != plain.version
    query = ["evidence autoscale"]
    assert not np.allclose(plain.embed(query), fitted.embed(query))


def test_lexical_features_cover_both_scripts() -> None:
    features = extract_features("Deploy 凍結")

    assert "w:deploy" in features
    assert "t:<de" in features
    assert "u:凍" in features
    assert "b:凍結" in features


def test_neural_rows_are_unit_length(neural: NeuralEmbedder) -> None:
    vectors = neural.embed(["Knative autoscaling", "監視ラインの拡張"])

    assert vectors.shape == (2, neural.dim)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_neural_deterministic(neural: NeuralEmbedder) -> None:
    texts = ["deploy freeze lifted", "SLO を定義した"]

    assert np.allclose(neural.embed(texts), neural.embed(texts), atol=1e-6)


def test_split_chunks_caps_long_text() -> None:
    chunks = split_chunks("word " * 5000)

    assert len(chunks) == MAX_CHUNKS
    assert all(len(c) <= 384 for c in chunks)


def test_resolve_embedder_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VPM_EMBEDDER", "lexical")

    assert resolve_embedder_name() == "lexical"
    assert resolve_embedder_name("neural") == "neural"


def test_resolve_embedder_rejects_unknown(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VPM_EMBEDDER", "bert")

    with pytest.raises(UserError, match="unknown embedder 'bert' in VPM_EMBEDDER"):
        resolve_embedder_name()
