"""Waiting on a condition, not on the clock.

A test that waits for something another thread or process does (a server coming
up, a follower catching up, a log line) polls for it with :func:`wait_until`; the
deadline only guards against a hang, so it is generous, and a busy machine makes
the test slower, never wrong.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(
    condition: Callable[[], T],
    *,
    deadline_s: float = 30.0,
    every_s: float = 0.05,
    what: Callable[[], object] | str = "the condition",
) -> T:
    """Call ``condition`` every ``every_s`` seconds until it returns a truthy value,
    and return that value.

    Raises ``AssertionError`` naming ``what`` (a string, or a function called then,
    e.g. to show a log) if ``deadline_s`` seconds pass first. ``condition`` may
    itself raise to stop early (a process that died will never become ready).
    """
    deadline = time.monotonic() + deadline_s
    while not (value := condition()):
        if time.monotonic() > deadline:
            shown = what() if callable(what) else what
            raise AssertionError(f"still waiting after {deadline_s} s for {shown}")
        time.sleep(every_s)
    return value
