"""Bounding the work a call does by CPU time rather than wall time: a test that
says "this hostile file is dealt with promptly" must not fail because the
machine is busy with other work, which stretches wall time but not the CPU
time this process spends. (A call that hangs without using CPU is caught by
pytest-timeout's guard instead.)"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def cpu_budget(seconds: float) -> Iterator[None]:
    """Fail unless the block uses less than ``seconds`` of this process's CPU
    (every thread's, so a decoder's own threads count too)."""
    started = time.process_time()
    yield
    used = time.process_time() - started
    assert used < seconds, f"used {used:.2f} s of CPU, over its budget of {seconds} s"
