"""EG-Space findings for the planner and top movers for the digest.

Both read an existing index only: they never embed, so a cycle does not
load a model. Without an index they return nothing.
"""

from __future__ import annotations

import logging
from pathlib import Path

from vpm.egspace import space
from vpm.egspace.index import index_exists, open_vector_store
from vpm.egspace.render import mover_line
from vpm.egspace.report import (
    DRIFT_MIN_RISE,
    DRIFT_STEPS,
    Mover,
    SpaceState,
    load_space,
    movers,
    version_series,
)
from vpm.model import Finding
from vpm.settings import Settings, load_settings

log = logging.getLogger("vpm")

AWAY_SCORE = -2
MAX_AWAY_FINDINGS = 5


def egspace_findings(
    project: Path, data_dir: Path, settings: Settings | None = None
) -> list[Finding]:
    """Return `egspace-away` and `egspace-drift` findings; [] without an index.

    `egspace-away`: an item that weighs in C has score −2 or lower (at most
    MAX_AWAY_FINDINGS, strongest first). `egspace-drift`: δ rose at each of
    the last DRIFT_STEPS versions of the state document (or days, when no
    history was indexed) by DRIFT_MIN_RISE in total.
    """
    settings = settings or load_settings(project)
    state = _load(data_dir, settings)
    if state is None or state.current is None:
        return []
    _, farther = movers(state)
    findings = [_away(m) for m in farther if m.score <= AWAY_SCORE]
    drift = _drift(state, settings.state_file)
    return findings[:MAX_AWAY_FINDINGS] + ([drift] if drift else [])


def top_movers(
    project: Path, data_dir: Path, count: int = 3, settings: Settings | None = None
) -> tuple[list[Mover], list[Mover]]:
    """Return the `count` strongest movers toward and away from the goal."""
    settings = settings or load_settings(project)
    state = _load(data_dir, settings)
    if state is None:
        return [], []
    closer, farther = movers(state)
    return closer[:count], farther[:count]


def top_mover_lines(
    project: Path, data_dir: Path, count: int = 3, settings: Settings | None = None
) -> list[str]:
    """Return Markdown list items of the top movers, or [] without an index."""
    closer, farther = top_movers(project, data_dir, count, settings)
    # mover_line starts with "- "; the direction goes right after it.
    lines = [f"- closer: {mover_line(m)[2:]}" for m in closer]
    lines += [f"- farther: {mover_line(m)[2:]}" for m in farther]
    return lines


def _load(data_dir: Path, settings: Settings) -> SpaceState | None:
    # EG-Space is optional: a damaged or unreachable index must not stop a
    # cycle, so any failure is logged and treated as "no index".
    try:
        if not index_exists(data_dir, settings.database_url):
            return None
        with open_vector_store(data_dir, settings.database_url) as store:
            return load_space(store)
    except Exception as exc:  # noqa: BLE001 - see the comment above
        log.warning("EG-Space index in %s could not be read: %s", data_dir, exc)
        return None


def _away(mover: Mover) -> Finding:
    return Finding(
        kind="egspace-away",
        severity="info",
        message=(
            f"{mover.title} draws the current position away from the goal "
            f"(score {mover.score}, pull {mover.pull:+.3f})."
        ),
        path=mover.source,
        line=mover.line,
        subject=mover.title,
        quote=mover.preview,
        suggestion="Check that this work serves the goal; if it does, name it "
        "in the goal or the exit criteria, else put it behind the goal's work.",
    )


def _drift(state: SpaceState, state_file: str) -> Finding | None:
    points = version_series(state)
    unit = "versions of the state document"
    if not points:
        points = space.daily_series(
            state.vectors, state.times, state.goal, state.half_life_days
        )
        unit = "days with new items"
    if not space.is_growing(points, DRIFT_STEPS, DRIFT_MIN_RISE):
        return None
    recent = [p for p in points if p.delta is not None][-(DRIFT_STEPS + 1) :]
    trail = " → ".join(f"{p.delta:.3f} ({p.label})" for p in recent)
    return Finding(
        kind="egspace-drift",
        severity="warning",
        message=f"δ grew over the last {DRIFT_STEPS} {unit}: {trail}.",
        path=state_file,
        suggestion="Steer the next work toward the exit criteria, or restate "
        "the goal if the project has deliberately changed course.",
    )
