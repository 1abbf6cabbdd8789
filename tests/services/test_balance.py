"""The table workers share to spread keep-alive connections, and the rule for
giving one away (app/balance.py); a real two-worker server is in tests/e2e."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from app.balance import COOLDOWN, Balancer, WorkerTable


def dead_pid() -> int:
    """The pid of a process that has exited."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_workers_see_each_others_counts_and_not_their_own(tmp_path: Path) -> None:
    path = tmp_path / "run" / "workers-8000"
    mine = WorkerTable(path)
    theirs = WorkerTable(path)  # a second worker would map the same file
    assert path.stat().st_mode & 0o777 == 0o600
    assert theirs.slot != mine.slot
    mine.publish(3)
    theirs.publish(1)
    assert mine.others() == [1]
    assert theirs.others() == [3]
    theirs.release()
    assert mine.others() == []


def test_a_slot_of_a_process_that_is_gone_is_reclaimed(tmp_path: Path) -> None:
    path = tmp_path / "workers"
    table = WorkerTable(path)
    table.publish(5)
    # Rewrite the slot as if a worker that has since died had held it.
    with path.open("r+b") as f:
        f.seek(table.slot * 8)
        f.write(dead_pid().to_bytes(4, "little", signed=True) + (7).to_bytes(4, "little"))
    fresh = WorkerTable(path)
    assert fresh.slot == table.slot  # its slot is free again...
    assert fresh.others() == []  # ...and its 7 connections are not counted


def test_a_worker_gives_a_connection_away_only_when_another_has_two_fewer(
    tmp_path: Path,
) -> None:
    path = tmp_path / "workers"
    busy, idle = Balancer(WorkerTable(path)), Balancer(WorkerTable(path))
    busy.opened()
    assert not busy.should_release(0.0)  # one connection: nothing to give
    busy.opened()
    idle.opened()
    assert not busy.should_release(0.0)  # 2 against 1: as even as two can be
    idle.closed()
    assert busy.should_release(0.0)  # 2 against 0
    assert not busy.should_release(COOLDOWN / 2)  # one at a time...
    assert busy.should_release(COOLDOWN / 2, first=True)  # ...but a returning client goes again
    assert busy.should_release(2 * COOLDOWN)
    assert not idle.should_release(COOLDOWN)  # the idle worker keeps what it has


def test_a_lone_worker_keeps_every_connection(tmp_path: Path) -> None:
    alone = Balancer(WorkerTable(tmp_path / "workers"))
    for _ in range(10):
        alone.opened()
    assert not alone.should_release(0.0)
