"""Cycles started through the API: one at a time per project, in a thread."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from vpm.api.metrics import ServiceMetrics
from vpm.api.projects import ServedProject
from vpm.errors import VpmError
from vpm.pipeline import CycleResult, run_cycle
from vpm.roles.context import utc_now

log = logging.getLogger("vpm")

CycleFunction = Callable[..., CycleResult]


class CycleBusy(Exception):
    """A cycle of the project is already running."""

    def __init__(self, run: dict[str, Any]) -> None:
        super().__init__(f"a cycle of project {run['project']} is already running")
        self.run = run


class CycleRunner:
    """Run cycles in worker threads and remember each project's latest run.

    Args:
        metrics: Where cycle durations and finding counts go.
        cycle: The function that runs one cycle; `run_cycle` unless a test
            replaces it.
        workers: Threads available for cycles of different projects.
    """

    def __init__(
        self,
        metrics: ServiceMetrics,
        cycle: CycleFunction = run_cycle,
        workers: int = 2,
    ) -> None:
        self.metrics = metrics
        self.cycle = cycle
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="vpm-cycle")
        # NOTE: runs live in memory only, so after a restart GET /api/v1/cycle
        # is 404 until the next run. Finished cycles are in the store anyway.
        self._runs: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def start(self, project: ServedProject, trace_id: str) -> Future[dict[str, Any]]:
        """Start a cycle of `project`; the future resolves to the finished run.

        Raises:
            CycleBusy: A cycle of the same project is running.
        """
        if not project.cycle_lock.acquire(blocking=False):
            raise CycleBusy(self.latest(project.id) or {"project": project.id})
        run = {
            "run_id": uuid.uuid4().hex,
            "project": project.id,
            "trace_id": trace_id,
            "status": "running",
            "started_at": utc_now().isoformat(),
        }
        with self._lock:
            self._runs[project.id] = run
        try:
            return self._pool.submit(self._run, project, run)
        except RuntimeError:
            project.cycle_lock.release()
            raise

    def latest(self, project_id: str) -> dict[str, Any] | None:
        """Return a copy of the project's latest run, or None before the first."""
        with self._lock:
            run = self._runs.get(project_id)
            return dict(run) if run else None

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _run(self, project: ServedProject, run: dict[str, Any]) -> dict[str, Any]:
        started = time.perf_counter()
        log.info("cycle of %s started (trace %s)", project.id, run["trace_id"])
        try:
            result = self.cycle(
                project.layout.project,
                out=_out_of(project),
                settings=project.settings,
                trace_id=run["trace_id"],
            )
            outcome = {"status": "succeeded", **describe(result)}
            if result.plan is not None:
                findings = [f.model_dump() for f in result.plan.findings]
                self.metrics.set_findings(project.id, findings)
                wording = result.plan.next_move.run
                if wording is not None:
                    self.metrics.record_engine_run(
                        wording.engine, wording.fallback, wording.reason
                    )
        except VpmError as exc:
            log.error(
                "cycle of %s failed (trace %s): %s", project.id, run["trace_id"], exc
            )
            outcome = {"status": "failed", "error": str(exc)}
        except Exception as exc:
            log.exception("cycle of %s failed (trace %s)", project.id, run["trace_id"])
            outcome = {"status": "failed", "error": f"{type(exc).__name__}: {exc}"}
        finally:
            seconds = time.perf_counter() - started
            self.metrics.cycle_seconds.labels(project=project.id).observe(seconds)
            project.cycle_lock.release()
        finished = {
            **run,
            **outcome,
            "finished_at": utc_now().isoformat(),
            "duration_seconds": round(seconds, 3),
        }
        with self._lock:
            self._runs[project.id] = finished
        log.info(
            "cycle of %s %s in %.2f s (trace %s)",
            project.id,
            finished["status"],
            seconds,
            run["trace_id"],
        )
        return finished


def _out_of(project: ServedProject) -> Any:
    """Return the `--out` folder that gives the project's layout, or None."""
    layout = project.layout
    if layout.data_dir == layout.project / ".vpm":
        return None
    return layout.data_dir.parent


def describe(result: CycleResult) -> dict[str, Any]:
    """Return the JSON-ready part of a cycle result the API reports."""
    return {
        "noop": result.noop,
        "cycle_id": result.cycle_id,
        "events": result.event_counts,
        "summary": result.summary,
        "delta": result.plan.delta if result.plan else None,
        "next_move": result.plan.next_move.model_dump() if result.plan else None,
        "report": result.archive.report_json if result.archive else None,
        "problems": [p.model_dump() for p in result.problems],
    }
