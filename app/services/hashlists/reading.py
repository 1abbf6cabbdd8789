"""Reading an import's file: parsed a batch at a time, sorted into new and held
hashes, on a thread of its own a batch or two ahead of the writer.

The database works without the GIL (SQLite in one statement a batch,
PostgreSQL in its own process), so reading and writing overlap. The cyclic
garbage collector runs less often meanwhile (:func:`fewer_collections`).
"""

from __future__ import annotations

import gc
import queue
import threading
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

from app.services.hashlists.dedupe import Held
from app.services.hashlists.formats import Entry, Format, parse
from app.services.hashlists.lines import LineReader, Rejection

READ_AHEAD = 2
"""Batches read ahead of the one being written."""


class Batch(NamedTuple):
    """A batch of the file, sorted out."""

    new: list[Entry]
    """Entries of hashes no active item holds, nor an earlier line, in file order."""
    already: int
    rejected: int
    last: int
    """The batch's last line."""
    position: int
    """Bytes of the file read up to it."""
    final: bool = False
    """The end of the file (the batch may be empty: only trailing blank lines)."""


def read(
    path: Path,
    fmt: Format,
    skip_to: int,
    batch_size: int,
    rejected_hook: Callable[[Rejection], None] | None,
    held: Held,
) -> Iterator[Batch]:
    """The file's outcomes after line ``skip_to``, ``batch_size`` lines a batch;
    every rejection goes to ``rejected_hook``, those of earlier lines too.
    Raises :class:`~app.services.hashlists.formats.HashListError` for a file
    that cannot be read in ``fmt`` at all."""

    def batch(entries: list[Entry], rejected: int, last: int, final: bool = False) -> Batch:
        new = held.new(entries)
        return Batch(new, len(entries) - len(new), rejected, last, reader.position, final)

    with path.open("rb") as stream:
        reader = LineReader(stream)
        entries: list[Entry] = []
        rejected = 0
        last = skip_to
        for parsed in parse(fmt, reader):
            if isinstance(parsed, Rejection):
                if rejected_hook is not None:
                    rejected_hook(parsed)
                if parsed.line <= skip_to:
                    continue
                rejected += 1
            elif parsed.line <= skip_to:
                continue
            else:
                entries.append(parsed)
            if len(entries) + rejected >= batch_size:
                yield batch(entries, rejected, parsed.line)
                entries, rejected = [], 0
            last = parsed.line
        # Trailing blank lines count as lines of the file, not as outcomes.
        yield batch(entries, rejected, max(last, reader.lines), final=True)


_Message = tuple[Batch | None, BaseException | None]


@contextmanager
def ahead(items: Iterator[Batch], depth: int) -> Iterator[Iterator[Batch]]:
    """``items`` produced on a thread of its own, up to ``depth`` ahead of the
    consumer; an exception there is raised here. Leaving the block stops it."""
    handoff: queue.Queue[_Message] = queue.Queue(depth)
    stop = threading.Event()
    thread = threading.Thread(
        target=_produce, args=(items, handoff, stop), name="import-reader", daemon=True
    )
    thread.start()
    try:
        yield _consume(handoff)
    finally:
        stop.set()
        thread.join()


def _produce(items: Iterator[Batch], handoff: queue.Queue[_Message], stop: threading.Event) -> None:
    def put(message: _Message) -> bool:
        while not stop.is_set():
            try:
                handoff.put(message, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    try:
        for item in items:
            if not put((item, None)):
                return
    except BaseException as exc:  # handed to the consumer, which raises it
        put((None, exc))
    finally:
        if isinstance(items, Generator):
            items.close()  # the file, on this thread


def _consume(handoff: queue.Queue[_Message]) -> Iterator[Batch]:
    while True:
        item, error = handoff.get()
        if error is not None:
            raise error
        assert item is not None
        yield item
        if item.final:
            return


GC_THRESHOLD = 100_000
"""Allocations between the garbage collector's young-generation passes while an
import runs (Python's default: 700)."""


@contextmanager
def fewer_collections() -> Iterator[None]:
    """Run the cyclic garbage collector less often for the duration.

    An import allocates a few million short-lived tuples and lists, none of them
    in cycles; at the default threshold the collector's full passes over every
    object of the process took a quarter of an import's CPU (500,000 lines on
    SQLite: 2.3 s on the writing thread, 1.4 s at this threshold and 1.5 s with
    collection off). Process-wide, so it is restored as it was when done.
    """
    global _gc_users, _gc_saved
    with _gc_lock:  # imports may run at once (uploads): the last one out restores
        if _gc_users == 0:
            _gc_saved = gc.get_threshold()
            gc.set_threshold(max(_gc_saved[0], GC_THRESHOLD), *_gc_saved[1:])
        _gc_users += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_users -= 1
            if _gc_users == 0:
                gc.set_threshold(*_gc_saved)


_gc_lock = threading.Lock()
_gc_users = 0
_gc_saved = gc.get_threshold()
