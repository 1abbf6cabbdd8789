"""A clock for tests whose answers depend on the day: it starts at a fixed
instant and runs at the wall clock's pace, so a test's checks fall on one known
day however late in the day, or the year, the suite runs."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

START = datetime(2026, 6, 15, 9, 0, tzinfo=UTC)
"""A Monday morning, hours from any day's, week's, month's or year's end."""


class SteadyClock:
    def __init__(self, start: datetime = START) -> None:
        self.start = start
        self._began = time.monotonic()

    def __call__(self) -> datetime:
        return self.start + timedelta(seconds=time.monotonic() - self._began)
