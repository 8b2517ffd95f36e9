"""The EG-Space report: C, G, δ, the items that moved the project, δ over time."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import numpy as np

from vpm.egspace import space
from vpm.egspace.index import CURRENT
from vpm.egspace.records import GoalLine, SpaceItem
from vpm.egspace.store import VectorStore

MOVERS_SHOWN = 10
# δ per version counts as growing when it rose at each of the last
# DRIFT_STEPS versions and by at least DRIFT_MIN_RISE in total.
DRIFT_STEPS = 3
DRIFT_MIN_RISE = 0.02


@dataclass
class Mover:
    """One item with its place relative to C and G.

    Attributes:
        weight: The item's share of C at the reference time (0 to 1).
        cos_goal: cos(item, G).
        cos_current: cos(item, C).
        contribution: cos(item, G) − cos(item, C).
        pull: cos(item, G) − cos(item, C) · cos(C, G); movers rank by it.
        score: The pull on the −3..+3 scale.
    """

    title: str
    kind: str
    source: str
    line: int | None
    timestamp: str | None
    preview: str
    weight: float
    cos_goal: float
    cos_current: float
    contribution: float
    pull: float
    score: int

    @property
    def location(self) -> str:
        return f"{self.source}:{self.line}" if self.line else self.source


@dataclass
class SpaceState:
    """The loaded index with C and G computed, shared by report and findings."""

    embedder: str
    embedder_version: str
    backend: str
    items: list[SpaceItem]
    vectors: np.ndarray
    times: list[datetime | None]
    goals: list[GoalLine]
    goal_vectors: np.ndarray
    goal: np.ndarray
    reference: datetime | None
    current: np.ndarray | None
    weights: np.ndarray
    half_life_days: float

    @property
    def delta(self) -> float | None:
        return space.distance(self.current, self.goal)


@dataclass
class SpaceReport:
    """Everything `vpm egspace report` prints and writes."""

    embedder: str
    embedder_version: str
    backend: str
    half_life_days: float
    reference: str | None
    since: str | None
    items: int
    dated_items: int
    items_in_current: int
    goal: list[dict[str, Any]]
    delta: float | None
    closer: list[Mover]
    farther: list[Mover]
    daily: list[space.DeltaPoint]
    versions: list[space.DeltaPoint]

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for name in ("closer", "farther"):
            for mover, row in zip(getattr(self, name), data[name], strict=True):
                row["location"] = mover.location
        return data


def load_space(
    store: VectorStore,
    half_life_days: float = space.DEFAULT_HALF_LIFE_DAYS,
    until: datetime | None = None,
) -> SpaceState:
    """Load items and goals from `store` and compute C (at `until`) and G."""
    meta = store.get_meta()
    items, vectors = store.load_items()
    goals, goal_vectors = store.load_goals()
    times = space.item_times([i.timestamp for i in items])
    dated = [t for t in times if t is not None and (until is None or t <= until)]
    reference = until or (max(dated) if dated else None)
    current_rows = [i for i, g in enumerate(goals) if g.version == CURRENT]
    goal = space.goal_vector(goal_vectors[current_rows])
    weights = np.zeros(len(items))
    current = None
    if reference is not None:
        weights = space.recency_weights(times, reference, half_life_days)
        current = space.current_position(vectors, times, reference, half_life_days)
    return SpaceState(
        embedder=meta.get("embedder", b"").decode(),
        embedder_version=meta.get("embedder_version", b"").decode(),
        backend=store.backend,
        items=items,
        vectors=vectors,
        times=times,
        goals=goals,
        goal_vectors=goal_vectors,
        goal=goal,
        reference=reference,
        current=current,
        weights=weights,
        half_life_days=half_life_days,
    )


def defines_goal(item: SpaceItem, goals: list[GoalLine]) -> bool:
    """Tell whether `item` is a state section that contains a line of G.

    Such a section is where the goal is written down, not a step toward
    it, so it is left out of the movers.
    """
    if item.kind != "state" or item.line is None or item.end_line is None:
        return False
    return any(
        g.version == CURRENT
        and g.source == item.source
        and g.line is not None
        and item.line <= g.line <= item.end_line
        for g in goals
    )


def movers(
    state: SpaceState, since: datetime | None = None
) -> tuple[list[Mover], list[Mover]]:
    """Return the items that drew C toward G and those that drew it away.

    Without `since`, only items with weight in C count; with it, every item
    dated on or after `since`. Each list is ordered strongest first.
    """
    if state.current is None:
        return [], []
    result = space.contributions(state.vectors, state.current, state.goal)
    total = float(state.weights.sum()) or 1.0
    chosen = []
    for index, item in enumerate(state.items):
        when = state.times[index]
        if since is not None:
            in_scope = when is not None and when >= since
        else:
            in_scope = state.weights[index] > 0
        if in_scope and not defines_goal(item, state.goals):
            chosen.append(_mover(item, index, result, state.weights[index] / total))
    closer = sorted((m for m in chosen if m.pull > 0), key=lambda m: -m.pull)
    farther = sorted((m for m in chosen if m.pull < 0), key=lambda m: m.pull)
    return closer, farther


def _mover(
    item: SpaceItem, index: int, result: space.Contributions, weight: float
) -> Mover:
    return Mover(
        title=item.title,
        kind=item.kind,
        source=item.source,
        line=item.line,
        timestamp=item.timestamp,
        preview=item.preview,
        weight=round(float(weight), 4),
        cos_goal=round(float(result.to_goal[index]), 4),
        cos_current=round(float(result.to_current[index]), 4),
        contribution=round(float(result.contribution[index]), 4),
        pull=round(float(result.pull[index]), 4),
        score=int(result.score[index]),
    )


def version_series(state: SpaceState) -> list[space.DeltaPoint]:
    """Return δ at each past version, against that version's own goal.

    `delta_to_current_goal` measures the same C against today's goal.
    """
    points = []
    versions: dict[str, list[int]] = {}
    for index, goal in enumerate(state.goals):
        if goal.version != CURRENT and goal.date:
            versions.setdefault(goal.version, []).append(index)
    ordered = sorted(versions.items(), key=lambda kv: state.goals[kv[1][0]].date or "")
    for label, rows in ordered:
        when = space.item_times([state.goals[rows[0]].date])[0]
        goal = space.goal_vector(state.goal_vectors[rows])
        current = space.current_position(
            state.vectors, state.times, when, state.half_life_days
        )
        count = sum(1 for t in state.times if t is not None and t <= when)
        points.append(
            space.DeltaPoint(
                label=label,
                date=when.isoformat(),
                delta=_round(space.distance(current, goal)),
                items=count,
                delta_to_current_goal=_round(space.distance(current, state.goal)),
            )
        )
    return points


def build_report(
    state: SpaceState, since: datetime | None = None, shown: int = MOVERS_SHOWN
) -> SpaceReport:
    """Assemble the report from a loaded space."""
    closer, farther = movers(state, since)
    daily = space.daily_series(
        state.vectors, state.times, state.goal, state.half_life_days, since
    )
    for point in daily:
        point.delta = _round(point.delta)
    goal_lines = [
        {"role": g.role, "text": g.text, "source": g.source, "line": g.line}
        for g in state.goals
        if g.version == CURRENT
    ]
    return SpaceReport(
        embedder=state.embedder,
        embedder_version=state.embedder_version,
        backend=state.backend,
        half_life_days=state.half_life_days,
        reference=state.reference.isoformat() if state.reference else None,
        since=since.isoformat() if since else None,
        items=len(state.items),
        dated_items=sum(1 for t in state.times if t is not None),
        items_in_current=int((state.weights > 0).sum()),
        goal=goal_lines,
        delta=_round(state.delta),
        closer=closer[:shown],
        farther=farther[:shown],
        daily=daily,
        versions=version_series(state),
    )


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)
