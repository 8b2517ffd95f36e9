"""One cycle of the five roles in one process."""

from __future__ import annotations

import fcntl
import logging
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

from vpm.engines.select import engine_for
from vpm.errors import ProjectNotFound, StateNotFound, UserError
from vpm.fsio import ensure_data_dir
from vpm.model import Problem
from vpm.roles.archivist import (
    ArchiveInput,
    ArchiveOutput,
    archive,
    repair_outputs,
)
from vpm.roles.context import RoleContext
from vpm.roles.curator import CurationInput, curate
from vpm.roles.planner import PlanInput, PlanOutput, plan
from vpm.roles.synthesizer import SynthesisInput, synthesize
from vpm.roles.watcher import FILES_WATERMARK, WatchInput, watch
from vpm.settings import Settings, load_settings
from vpm.state.parse import read_state
from vpm.store import Store, open_store

log = logging.getLogger("vpm")


@dataclass
class Layout:
    """Input and output folders of one project."""

    project: Path
    data_dir: Path
    reports_dir: Path

    @classmethod
    def for_project(cls, project: Path, out: Path | None) -> Layout:
        """Outputs go under `out` when given, else into the project itself."""
        project = project.resolve()
        if not project.is_dir():
            raise ProjectNotFound(f"project folder not found: {project}")
        if out is None:
            return cls(project, project / ".vpm", project / "reports" / "vpm")
        out = out.resolve()
        return cls(project, out / ".vpm", out / "reports")

    @property
    def database(self) -> Path:
        return self.data_dir / "vpm.db"


@dataclass
class CycleResult:
    """Outcome of one `run_cycle` call."""

    noop: bool
    cycle_id: int | None
    plan: PlanOutput | None
    summary: str = ""
    event_counts: dict[str, int] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    archive: ArchiveOutput | None = None
    durations_ms: dict[str, float] = field(default_factory=dict)
    last: dict[str, Any] | None = None


def make_context(
    layout: Layout, settings: Settings, store: Store, trace_id: str | None = None
) -> RoleContext:
    return RoleContext(
        project=layout.project,
        data_dir=layout.data_dir,
        reports_dir=layout.reports_dir,
        store=store,
        engine=engine_for(settings),
        settings=settings,
        trace_id=trace_id or uuid.uuid4().hex,
    )


def run_cycle(
    project: Path,
    out: Path | None = None,
    settings: Settings | None = None,
    trace_id: str | None = None,
    rescan: bool = False,
) -> CycleResult:
    """Run watcher, curator, planner, synthesizer and archivist once.

    With nothing new since the last cycle, nothing is planned or written and
    the result carries the last cycle's record (`noop=True`).
    """
    layout = Layout.for_project(project, out)
    settings = settings or load_settings(layout.project)
    check_setting_paths(settings)
    with cycle_lock(layout.data_dir):
        store = open_store(settings.database_url, layout.data_dir)
        try:
            return _run(layout, settings, store, trace_id, rescan)
        finally:
            store.close()


def check_setting_paths(settings: Settings) -> None:
    """Reject settings that would make vpm read outside the project.

    Raises:
        UserError: A path or glob setting is absolute or climbs out with `..`.
    """
    named = [("state_file", settings.state_file)]
    for field_name in ("evidence_dirs", "watch_dirs", "chat_globs"):
        named += [(field_name, value) for value in getattr(settings, field_name)]
    for field_name, value in named:
        path = PurePosixPath(value.replace("\\", "/"))
        if path.is_absolute() or ".." in path.parts or value.startswith("~"):
            raise UserError(
                f"setting {field_name} = {value!r} points outside the project; "
                "use a path relative to the project folder (vpm.toml or "
                f"VPM_{field_name.upper()})"
            )


@contextmanager
def cycle_lock(data_dir: Path) -> Iterator[None]:
    """Hold an exclusive lock so cycles of one project run one at a time.

    A second cycle waits for the first and then finds nothing new, instead
    of recording the same events twice.
    """
    try:
        ensure_data_dir(data_dir)
        handle = (data_dir / "cycle.lock").open("a")
    except OSError as exc:
        raise UserError(f"cannot write to the data folder {data_dir}: {exc}") from exc
    with handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.warning("another cycle is running on %s; waiting for it", data_dir)
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _run(
    layout: Layout,
    settings: Settings,
    store: Store,
    trace_id: str | None = None,
    rescan: bool = False,
) -> CycleResult:
    ctx = make_context(layout, settings, store, trace_id)
    timer = _Timer()
    started = ctx.clock().isoformat()
    with timer("watcher"):
        watched = watch(WatchInput(project=str(layout.project), rescan=rescan), ctx)
    last = store.last_cycle()
    if not watched.events and last is not None:
        log.info("nothing new since cycle %s", last["id"])
        repair_outputs(last, ctx)
        return CycleResult(
            noop=True,
            cycle_id=last["id"],
            plan=None,
            last=last,
            problems=watched.problems,
            durations_ms=timer.ms,
        )
    with timer("curator"):
        chat = [e for e in watched.events if e.kind == "chat"]
        curated = curate(CurationInput(events=chat), ctx)
    with timer("planner"):
        planned = plan(
            PlanInput(project=str(layout.project), state_file=settings.state_file), ctx
        )
    with timer("synthesizer"):
        doc = _read_doc(layout.project, settings.state_file)
        synthesis = synthesize(
            SynthesisInput(plan=planned, digests=curated.digests), ctx, doc
        )
    problems = [*watched.problems, *curated.problems, *planned.problems]
    with timer("archivist"):
        archived = archive(
            ArchiveInput(
                started_at=started,
                events=watched.events,
                watermarks=watched.watermarks,
                inputs=_input_hashes(watched.watermarks, watched.events),
                digests=curated.digests,
                plan=planned,
                synthesis=synthesis,
                problems=problems,
                durations_ms=timer.ms,
                role_times=timer.spans,
            ),
            ctx,
        )
    counts: dict[str, int] = {}
    for item in watched.events:
        counts[item.kind] = counts.get(item.kind, 0) + 1
    return CycleResult(
        noop=False,
        cycle_id=archived.cycle_id,
        plan=planned,
        summary=synthesis.summary,
        event_counts=counts,
        problems=[*problems, *archived.problems],
        archive=archived,
        durations_ms=timer.ms,
    )


def _read_doc(project: Path, state_file: str):
    try:
        return read_state(project / state_file, state_file)
    except StateNotFound:
        return None


def _input_hashes(watermarks: dict[str, dict[str, Any]], events) -> dict[str, str]:
    hashes = {
        rel: str(value[2]) for rel, value in watermarks.get(FILES_WATERMARK, {}).items()
    }
    for item in events:
        if item.kind == "commit":
            hashes[f"git:{item.key}"] = item.key
    return dict(sorted(hashes.items()))


class _Timer:
    """Collect each role's wall time (ms) and its start and end times."""

    def __init__(self) -> None:
        self.ms: dict[str, float] = {}
        self.spans: dict[str, tuple[datetime, datetime]] = {}

    def __call__(self, name: str) -> _Timer:
        self._name = name
        return self

    def __enter__(self) -> None:
        self._start = time.perf_counter()
        self._started_at = datetime.now(UTC)

    def __exit__(self, *_exc: object) -> None:
        self.ms[self._name] = round((time.perf_counter() - self._start) * 1000, 2)
        self.spans[self._name] = (self._started_at, datetime.now(UTC))
