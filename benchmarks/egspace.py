"""Benchmark EG-Space: embedding throughput and k-nearest-neighbour latency.

Embedding: the items of the vpm-mini corpus tree beside the repository (a
read-only scan) are embedded by each embedder and by the library it builds on, called
directly on the same texts, to show the wrapper's overhead:

- lexical: vpm's LexicalEmbedder against scikit-learn's HashingVectorizer
  (character 2–3-grams, 512 features) with a TfidfTransformer;
- neural: vpm's NeuralEmbedder (up to 4 chunks per item, mean of chunks)
  against SentenceTransformer.encode on the same texts (one truncated pass
  per item) and on the same chunks (the same model work).

kNN: random unit vectors (seeded) at each size are written to every store
and queried with k=10; each store's p50/p95 is printed next to a NumPy
brute-force scan over the same vectors.

Run: .venv/bin/python benchmarks/egspace.py [--sizes 10000,100000]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

from vpm.egspace.index import collect_events
from vpm.egspace.items import items_from_events
from vpm.egspace.lexical import LexicalEmbedder
from vpm.egspace.records import SpaceItem
from vpm.egspace.store import SqliteVectorStore, VectorStore, top_k
from vpm.settings import load_settings

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "vpm-mini"
K = 10
BATCH = 5000
# The neural rows embed the first items only, to keep a run near a minute.
NEURAL_ITEMS = 100


def main() -> int:
    args = parse_args()
    texts = corpus_texts()
    print(f"# EG-Space benchmark ({len(texts)} corpus items)\n")
    print("## Embedding throughput\n")
    print("| embedder | vpm items/s | raw library items/s | overhead ratio |")
    print("| --- | --- | --- | --- |")
    lexical_rows(texts, args.repeat)
    if not args.skip_neural:
        neural_rows(texts, args.repeat)
    print("\n## kNN query latency (k=10, ms)\n")
    print("| vectors | dim | store | p50 | p95 | NumPy p50 | NumPy p95 | load s |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for size in args.sizes:
        knn_rows(size, args.dim, args.queries, args.skip_postgres)
    return 0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes", default="10000,100000", help="Vector counts, comma-separated."
    )
    parser.add_argument("--dim", type=int, default=384, help="Vector dimension.")
    parser.add_argument("--queries", type=int, default=50, help="Queries per store.")
    parser.add_argument("--repeat", type=int, default=3, help="Embedding runs.")
    parser.add_argument("--skip-neural", action="store_true")
    parser.add_argument("--skip-postgres", action="store_true")
    args = parser.parse_args()
    args.sizes = [int(s) for s in args.sizes.split(",") if s]
    return args


def corpus_texts() -> list[str]:
    project = CORPUS / "tree"
    with tempfile.TemporaryDirectory() as data_dir:
        events, _, _ = collect_events(project, Path(data_dir), load_settings(project))
    return [
        item.embed_text for item in items_from_events(events, "STATE/current_state.md")
    ]


def best_rates(
    count: int, runs: list[Callable[[], object]], repeat: int
) -> list[float]:
    """Return items per second of the fastest of `repeat` rounds, per run.

    The runs take turns inside each round, so load from other processes
    affects all of them alike.
    """
    best = [float("inf")] * len(runs)
    for _ in range(repeat):
        for index, run in enumerate(runs):
            started = time.perf_counter()
            run()
            best[index] = min(best[index], time.perf_counter() - started)
    return [count / seconds for seconds in best]


def lexical_rows(texts: list[str], repeat: int) -> None:
    model = LexicalEmbedder()
    model.fit(texts)
    raw_run = sklearn_run(texts)
    runs = [lambda: model.embed(texts)] + ([raw_run] if raw_run else [])
    ours, *rest = best_rates(len(texts), runs, repeat)
    raw = rest[0] if rest else None
    ratio = f"{raw / ours:.2f}" if raw else "n/a"
    raw_text = f"{raw:,.0f}" if raw else "n/a (scikit-learn missing)"
    print(
        f"| lexical (vs scikit-learn hashing + TF-IDF) | {ours:,.0f} | "
        f"{raw_text} | {ratio} |"
    )


def sklearn_run(texts: list[str]) -> Callable[[], object] | None:
    try:
        from sklearn.feature_extraction.text import (
            HashingVectorizer,
            TfidfTransformer,
        )
    except ImportError:
        return None

    def run() -> object:
        hashed = HashingVectorizer(
            analyzer="char_wb", ngram_range=(2, 3), n_features=512, norm=None
        ).transform(texts)
        return TfidfTransformer().fit_transform(hashed)

    return run


def neural_rows(texts: list[str], repeat: int) -> None:
    from vpm.egspace.neural import NeuralEmbedder, split_chunks

    texts = texts[:NEURAL_ITEMS]
    model = NeuralEmbedder()
    raw = model.model

    def encode(batch: list[str]) -> object:
        return raw.encode(
            batch, batch_size=32, normalize_embeddings=True, show_progress_bar=False
        )

    chunks = [c for t in texts for c in split_chunks(t)]
    ours, same_texts, same_chunks = best_rates(
        len(texts),
        [lambda: model.embed(texts), lambda: encode(texts), lambda: encode(chunks)],
        repeat,
    )
    label = f"neural, {len(texts)} items"
    print(
        f"| {label} (vs encode, same texts, 1 pass each) | {ours:,.1f} | "
        f"{same_texts:,.1f} | {same_texts / ours:.2f} |"
    )
    print(
        f"| {label} (vs encode, same {len(chunks)} chunks) | {ours:,.1f} | "
        f"{same_chunks:,.1f} | {same_chunks / ours:.2f} |"
    )


def knn_rows(size: int, dim: int, queries: int, skip_postgres: bool) -> None:
    rng = np.random.default_rng(size)
    vectors = rng.normal(size=(size, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    probes = rng.normal(size=(queries, dim)).astype(np.float32)
    probes /= np.linalg.norm(probes, axis=1, keepdims=True)
    with tempfile.TemporaryDirectory() as folder:
        for driver in ("apsw", "sqlite3"):
            store = SqliteVectorStore(Path(folder) / f"{driver}.db", driver)
            report(size, dim, store, vectors, probes)
        if not skip_postgres:
            postgres_row(Path(folder), size, dim, vectors, probes)


def postgres_row(folder: Path, size: int, dim: int, vectors, probes) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs: XDG_RUNTIME_DIR unset
        import pgserver
    from vpm.egspace.pgstore import PgVectorStore

    server = pgserver.get_server(folder / "pg", cleanup_mode="delete")
    try:
        report(size, dim, PgVectorStore(server.get_uri()), vectors, probes)
    finally:
        server.cleanup()


def report(size, dim, store: VectorStore, vectors, probes) -> None:
    started = time.perf_counter()
    store.reset(dim)
    items = [
        SpaceItem(f"v{i:07d}", "evidence", "bench", None, None, "", "", None, "h")
        for i in range(size)
    ]
    for start in range(0, size, BATCH):
        store.write_items(items[start : start + BATCH], vectors[start : start + BATCH])
    store.nearest(probes[0], K)  # warm-up: the NumPy path loads its matrix here
    load_s = time.perf_counter() - started
    store_ms, numpy_ms = latencies(
        [lambda q: store.nearest(q, K), lambda q: top_k(vectors, q, K)], probes
    )
    store.close()
    print(
        f"| {size:,} | {dim} | {store.backend} | {pct(store_ms, 50):.2f} | "
        f"{pct(store_ms, 95):.2f} | {pct(numpy_ms, 50):.2f} | "
        f"{pct(numpy_ms, 95):.2f} | {load_s:.1f} |"
    )
    sys.stdout.flush()


def latencies(
    queries: list[Callable[[np.ndarray], object]], probes: np.ndarray
) -> list[list[float]]:
    """Return milliseconds per probe for each query function, taking turns."""
    timings: list[list[float]] = [[] for _ in queries]
    for probe in probes:
        for index, query in enumerate(queries):
            started = time.perf_counter()
            query(probe)
            timings[index].append((time.perf_counter() - started) * 1000)
    return timings


def pct(values: list[float], percentile: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[percentile - 1]


if __name__ == "__main__":
    sys.exit(main())
