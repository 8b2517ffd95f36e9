"""Counted nouns and durations for the evidence commands' messages."""

from __future__ import annotations

import math
from datetime import timedelta

SECONDS_PER_HOUR = 3600


def count_noun(count: int, singular: str, plural: str | None = None) -> str:
    """Return `count` with the noun in the matching number: 1 issue, 2 issues."""
    word = singular if count == 1 else (plural or singular + "s")
    return f"{count} {word}"


def days_and_hours(span: timedelta, *, round_up: bool) -> str:
    """Return a span as whole days and hours, such as "2 days 5 hours".

    Partial hours are rounded up (time left) or down (time passed), so a
    3-day time box just started shows "3 days", not "2 days 23 hours".
    """
    hours_exact = span.total_seconds() / SECONDS_PER_HOUR
    hours = math.ceil(hours_exact) if round_up else math.floor(hours_exact)
    days, hours = divmod(max(hours, 0), 24)
    parts = []
    if days:
        parts.append(count_noun(days, "day"))
    if hours or not days:
        parts.append(count_noun(hours, "hour"))
    return " ".join(parts)
