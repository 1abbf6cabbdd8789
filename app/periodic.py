"""A task run on a background thread every so often, for as long as the process serves.

The index's snapshots, the change feed's follower and the event retention each
run one. A failure of a round (a full disk, a database hiccup) is logged and the
task tried again the next round: none of them may stop matching.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable


class Periodic:
    """Runs ``task`` on a daemon thread named ``name``: first after ``first``
    seconds, then every ``every`` seconds, until :meth:`stop`. An exception of
    one of ``retried`` is logged to ``log`` (the owner's) with ``failure`` and
    the task run again next round; any other ends the thread."""

    def __init__(
        self,
        name: str,
        task: Callable[[], object],
        log: logging.Logger,
        failure: str,
        retried: tuple[type[BaseException], ...] = (Exception,),
    ) -> None:
        self._name = name
        self._task = task
        self._log = log
        self._failure = failure
        self._retried = retried
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, every: float, first: float | None = None) -> None:
        def run() -> None:
            delay = every if first is None else first
            while not self._stop.wait(delay):
                delay = every
                try:
                    self._task()
                except self._retried:
                    self._log.exception(self._failure)

        self._thread = threading.Thread(target=run, name=self._name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Ends the thread after the round it is in, waiting at most ``timeout`` seconds."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout)
