"""Time a cold and an incremental cycle over a copy of the corpus tree.

Run from the repository root: `.venv/bin/python benchmarks/cycle.py`.
Each measurement runs in a fresh child process so peak memory (ru_maxrss)
belongs to that cycle alone. Prints wall time, the ratio incremental/cold,
and peak resident memory of each.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CORPUS_TREE = REPO.parent / "shared" / "corpus" / "vpm-mini" / "tree"

CHILD = """
import json, resource, sys, time
from pathlib import Path
from vpm.pipeline import run_cycle
start = time.perf_counter()
result = run_cycle(Path(sys.argv[1]))
elapsed = time.perf_counter() - start
peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"seconds": elapsed, "peak_mib": peak_kib / 1024,
                  "noop": result.noop, "events": result.event_counts,
                  "roles_ms": result.durations_ms}))
"""


def run_child(project: Path) -> dict:
    """Run one cycle in a fresh interpreter; add its whole wall time."""
    started = time.perf_counter()
    output = subprocess.run(
        [sys.executable, "-c", CHILD, str(project)],
        capture_output=True,
        text=True,
        check=True,
    )
    result = json.loads(output.stdout.strip().splitlines()[-1])
    result["process_seconds"] = time.perf_counter() - started
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3, help="Runs of each kind.")
    parser.add_argument("--tree", type=Path, default=CORPUS_TREE)
    args = parser.parse_args()
    if not args.tree.is_dir():
        sys.exit(f"corpus tree not found: {args.tree}")
    colds, warms, changed = [], [], []
    for run in range(args.repeat):
        with tempfile.TemporaryDirectory() as temp:
            project = Path(temp) / "tree"
            shutil.copytree(args.tree, project)
            colds.append(run_child(project))
            warms.append(run_child(project))
            report = project / "reports" / f"bench_new_{run}.md"
            report.write_text("# new evidence\nall checks passed\n", "utf-8")
            changed.append(run_child(project))
    files = sum(1 for p in args.tree.rglob("*") if p.is_file())
    cold = min(r["seconds"] for r in colds)
    warm = min(r["seconds"] for r in warms)
    print(f"corpus tree: {files} files, best of {args.repeat} runs")
    cold_peak, warm_peak = colds[0]["peak_mib"], warms[0]["peak_mib"]
    print(f"cold cycle:        {cold * 1000:8.1f} ms   peak {cold_peak:.1f} MiB")
    print(
        f"incremental cycle: {warm * 1000:8.1f} ms   peak {warm_peak:.1f} MiB"
        f"   noop={warms[0]['noop']}"
    )
    one = min(r["seconds"] for r in changed)
    one_peak = changed[0]["peak_mib"]
    print(f"one new report:    {one * 1000:8.1f} ms   peak {one_peak:.1f} MiB")
    print(
        f"incremental / cold: {warm / cold:.3f}   one new report / cold: "
        f"{one / cold:.3f}"
    )
    cold_process = min(r["process_seconds"] for r in colds)
    warm_process = min(r["process_seconds"] for r in warms)
    print(
        f"whole process, interpreter start included: cold {cold_process:.2f} s, "
        f"incremental {warm_process:.2f} s"
    )
    print(f"cold roles (ms): {colds[0]['roles_ms']}")
    print(f"cold events: {colds[0]['events']}")


if __name__ == "__main__":
    main()
