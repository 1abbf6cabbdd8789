"""Spreading keep-alive connections over the processes of ``hashwall serve --workers N``.

uvicorn's workers share one listening socket, and the worker whose event loop
wakes first accepts every connection waiting: two clients that connect at once
both land on one worker, which then hashes for both while the other idles, and
keep-alive keeps it that way (the race is well known for uvicorn and gunicorn;
it lost in 7 of 8 tries here with two clients). Checks are CPU-bound, so that
halves the throughput.

Each worker counts its open connections (:class:`BalancedHttpToolsProtocol`)
and publishes the count in a small table shared by the workers of one server
(a file the ``serve`` command names, see :data:`TABLE_ENV`). A
worker holding at least two connections more than the least loaded other worker
answers its next request with ``Connection: close``; the client reconnects, and
the new connection goes to whichever worker accepts first, usually the one
with nothing to do. A worker gives away at most one established connection per
``COOLDOWN`` seconds; a new connection that lands on the crowded worker again
is sent back after its first request, until one lands elsewhere.
"""

from __future__ import annotations

import asyncio
import atexit
import fcntl
import mmap
import os
import struct
import time
from pathlib import Path

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

SLOTS = 256
"""Workers per port the table can hold."""
COOLDOWN = 0.25
"""Seconds between two connections given away by one worker."""
_SLOT = struct.Struct("<ii")
"""A slot: the worker's pid (0: free) and its open connections."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive, though not one of ours
    return True


class WorkerTable:
    """Open connections per worker process, in a file every worker maps.

    One 4-byte count per worker, written only by that worker; readers may see
    a count one change old, which only delays a decision.
    """

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        size = SLOTS * _SLOT.size
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            if os.fstat(fd).st_size < size:
                os.ftruncate(fd, size)
            self._map = mmap.mmap(fd, size)
            self.slot = self._claim(os.getpid())
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def _claim(self, pid: int) -> int:
        """A free slot, or one whose process is gone (called under the file lock)."""
        for slot in range(SLOTS):
            owner, _ = _SLOT.unpack_from(self._map, slot * _SLOT.size)
            if owner == 0 or not _alive(owner):
                _SLOT.pack_into(self._map, slot * _SLOT.size, pid, 0)
                return slot
        raise RuntimeError(f"more than {SLOTS} workers share one port")

    def publish(self, connections: int) -> None:
        _SLOT.pack_into(self._map, self.slot * _SLOT.size, os.getpid(), connections)

    def others(self) -> list[int]:
        """Open connections of every other live worker."""
        counts = []
        for slot in range(SLOTS):
            if slot == self.slot:
                continue
            pid, connections = _SLOT.unpack_from(self._map, slot * _SLOT.size)
            if pid and _alive(pid):
                counts.append(connections)
        return counts

    def release(self) -> None:
        _SLOT.pack_into(self._map, self.slot * _SLOT.size, 0, 0)
        self._map.close()


class Balancer:
    """This worker's side: its count, and whether to give a connection away."""

    def __init__(self, table: WorkerTable) -> None:
        self.table = table
        self.connections = 0
        self._quiet_until = 0.0

    def opened(self) -> None:
        self.connections += 1
        self.table.publish(self.connections)

    def closed(self) -> None:
        self.connections -= 1
        self.table.publish(self.connections)

    def should_release(self, now: float, *, first: bool = False) -> bool:
        """Whether the request starting now should be the last on its connection.

        A connection's ``first`` request may be sent back at once: a client just
        sent back that landed here again gets another try straight away.
        """
        if self.connections < 2 or (now < self._quiet_until and not first):
            return False
        others = self.table.others()
        if not others or self.connections - min(others) < 2:
            return False
        self._quiet_until = now + COOLDOWN
        return True


_balancers: dict[tuple[str, int], Balancer] = {}


TABLE_ENV = "HASHWALL_WORKER_TABLE"
"""Where ``hashwall serve --workers N`` tells its workers the table is."""

_balancer: Balancer | None = None


def join() -> Balancer | None:
    """This worker's balancer, claiming its slot in the table (at start-up, so
    that a worker with no connection yet counts as the least loaded); None when
    the process is not one of several workers."""
    global _balancer
    if _balancer is None and os.environ.get(TABLE_ENV):
        table = WorkerTable(Path(os.environ[TABLE_ENV]))
        atexit.register(table.release)
        _balancer = Balancer(table)
    return _balancer


class BalancedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, counting this worker's connections and
    closing one after its response when another worker has far fewer."""

    _balancer: Balancer | None = None
    _requests = 0
    """Requests started on this connection."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._balancer = join()
        if self._balancer is not None:
            self._balancer.opened()

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        if self._balancer is not None:
            self._balancer.closed()
            self._balancer = None

    def on_headers_complete(self) -> None:
        previous = self.cycle
        super().on_headers_complete()
        balancer = self._balancer
        if self.cycle is previous or balancer is None:
            return
        self._requests += 1
        if balancer.should_release(time.monotonic(), first=self._requests == 1):
            # uvicorn then answers with "connection: close" and closes after the response.
            self.cycle.keep_alive = False
