"""The geometry of EG-Space: current position C, goal G, distance δ, movers.

- G is the normalized mean of the goal lines' vectors: every line of the
  short goal, the exit criteria and the open objectives counts the same.
- C is the normalized, recency-weighted mean of the dated items' vectors.
  An item of age `a` days has weight ``0.5 ** (a / half_life)``. The age
  counts back from the reference time, which is the newest dated item
  unless given. Items older than HORIZON_HALF_LIVES half-lives weigh 0.
- δ = 1 − cos(C, G): 0 when C points at the goal, 1 when unrelated.
- An item's contribution is cos(item, G) − cos(item, C). It is −δ for an
  item that sits exactly at C, so it runs negative for most items and
  favours items unlike the rest of the project. Movers are therefore
  ranked and scored by the item's pull, cos(item, G) − cos(item, C) ·
  cos(C, G): the rate at which cos(C, G) grows when the item's weight in
  C grows. It is 0 for an item at C, positive for an item that draws C
  toward G and negative for one that draws it away.
- The score puts the pull on a −3..+3 scale relative to the spread of
  pulls in the same index: score = round(pull / σ) clipped to ±3, where σ
  is the standard deviation of all items' pulls. So |pull| < 0.5σ scores
  0, 0.5σ–1.5σ ±1, 1.5σ–2.5σ ±2 and beyond 2.5σ ±3. Scores compare items
  within one index; they do not compare projects or embedders.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

from vpm.egspace.items import parse_date

DEFAULT_HALF_LIFE_DAYS = 7.0
HORIZON_HALF_LIVES = 6
MAX_SCORE = 3


def normalize(vector: np.ndarray) -> np.ndarray:
    """Return `vector` scaled to length 1 (a zero vector stays zero)."""
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 0 else vector


def goal_vector(vectors: np.ndarray) -> np.ndarray:
    """Return G: the normalized mean of the goal lines' vectors."""
    if vectors.shape[0] == 0:
        return np.zeros(vectors.shape[1], dtype=np.float32)
    return normalize(vectors.mean(axis=0))


def recency_weights(
    times: list[datetime | None], reference: datetime, half_life_days: float
) -> np.ndarray:
    """Return each item's weight in C at `reference` (0 if undated or later)."""
    weights = np.zeros(len(times), dtype=np.float64)
    horizon = half_life_days * HORIZON_HALF_LIVES
    for index, when in enumerate(times):
        if when is None or when > reference:
            continue
        age = (reference - when).total_seconds() / 86400.0
        if age <= horizon:
            weights[index] = 0.5 ** (age / half_life_days)
    return weights


def current_position(
    vectors: np.ndarray,
    times: list[datetime | None],
    reference: datetime,
    half_life_days: float = DEFAULT_HALF_LIFE_DAYS,
) -> np.ndarray | None:
    """Return C at `reference`, or None when no dated item has weight."""
    weights = recency_weights(times, reference, half_life_days)
    if not weights.any():
        return None
    mean = (weights[:, None] * vectors).sum(axis=0) / weights.sum()
    return normalize(mean.astype(np.float32))


def distance(current: np.ndarray | None, goal: np.ndarray) -> float | None:
    """Return δ = 1 − cos(C, G), or None when C or G is unknown."""
    if current is None or not goal.any():
        return None
    return float(1.0 - float(current @ goal))


@dataclass
class Contributions:
    """Per-item cosines to G and C, contribution, pull and score (arrays)."""

    to_goal: np.ndarray
    to_current: np.ndarray
    contribution: np.ndarray
    pull: np.ndarray
    score: np.ndarray


def contributions(
    vectors: np.ndarray, current: np.ndarray, goal: np.ndarray
) -> Contributions:
    """Return every item's contribution, pull and score (see the module doc)."""
    to_goal = vectors @ goal
    to_current = vectors @ current
    pull = to_goal - to_current * float(current @ goal)
    return Contributions(
        to_goal=to_goal,
        to_current=to_current,
        contribution=to_goal - to_current,
        pull=pull,
        score=scores(pull),
    )


def scores(pull: np.ndarray) -> np.ndarray:
    """Map pulls to −3..+3: round(pull / σ), clipped; all 0 when σ is 0."""
    sigma = float(pull.std()) if pull.size > 1 else 0.0
    if sigma == 0.0:
        return np.zeros(pull.shape, dtype=np.int64)
    levels = np.rint(pull / sigma).astype(np.int64)
    return np.clip(levels, -MAX_SCORE, MAX_SCORE)


@dataclass
class DeltaPoint:
    """δ at one point of time: a day, or a version of the state document."""

    label: str
    date: str
    delta: float | None
    items: int
    delta_to_current_goal: float | None = None


def item_times(timestamps: list[str | None]) -> list[datetime | None]:
    return [parse_date(t) for t in timestamps]


def daily_series(
    vectors: np.ndarray,
    times: list[datetime | None],
    goal: np.ndarray,
    half_life_days: float,
    since: datetime | None = None,
) -> list[DeltaPoint]:
    """Return δ at the end of every day on which at least one item is dated.

    Days without items are left out: with exponential weights, time alone
    scales every weight by the same factor, so C and δ only move when an
    item arrives.
    """
    days = sorted({t.date() for t in times if t is not None})
    points = []
    for day in days:
        end = datetime(day.year, day.month, day.day, tzinfo=times_zone(times))
        end += timedelta(days=1) - timedelta(microseconds=1)
        if since is not None and end < since:
            continue
        current = current_position(vectors, times, end, half_life_days)
        count = int(sum(1 for t in times if t is not None and t <= end))
        points.append(
            DeltaPoint(day.isoformat(), end.isoformat(), distance(current, goal), count)
        )
    return points


def times_zone(times: list[datetime | None]):
    """Return the zone of the first dated item (all are UTC when indexed)."""
    return next((t.tzinfo for t in times if t is not None), None)


def is_growing(points: list[DeltaPoint], steps: int, minimum_rise: float) -> bool:
    """Tell whether δ rose at each of the last `steps` steps, by `minimum_rise`."""
    values = [p.delta for p in points if p.delta is not None][-(steps + 1) :]
    if len(values) < steps + 1:
        return False
    rising = all(b > a for a, b in zip(values, values[1:], strict=False))
    return rising and values[-1] - values[0] >= minimum_rise
