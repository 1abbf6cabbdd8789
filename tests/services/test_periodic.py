"""The background rounds every long-running task of a process shares."""

from __future__ import annotations

import logging
import threading

import pytest

from app.periodic import Periodic

log = logging.getLogger("tests.periodic")
ROUNDS = 3


def test_a_failing_round_is_logged_and_the_task_runs_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls: list[int] = []
    done = threading.Event()

    def task() -> None:
        calls.append(len(calls))
        if len(calls) == ROUNDS:
            done.set()
        if len(calls) == 1:
            raise OSError("disk full")

    rounds = Periodic("test-rounds", task, log, "round failed")
    with caplog.at_level(logging.ERROR, logger="tests.periodic"):
        rounds.start(every=0.001, first=0)
        assert done.wait(timeout=30)
        rounds.stop()
    assert calls[:ROUNDS] == list(range(ROUNDS))
    assert [r.getMessage() for r in caplog.records] == ["round failed"]
    assert caplog.records[0].exc_info is not None


def test_an_error_it_does_not_retry_ends_the_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    died: list[type[BaseException]] = []
    ended = threading.Event()

    def hook(args: threading.ExceptHookArgs) -> None:
        died.append(args.exc_type)
        ended.set()

    monkeypatch.setattr(threading, "excepthook", hook)

    def task() -> None:
        raise KeyError("not retried")

    rounds = Periodic("test-rounds", task, log, "round failed", retried=(OSError,))
    rounds.start(every=0.001, first=0)
    assert ended.wait(timeout=30)
    rounds.stop(timeout=30)
    assert died == [KeyError]


def test_nothing_runs_before_the_first_delay() -> None:
    calls: list[int] = []
    rounds = Periodic("test-rounds", lambda: calls.append(1), log, "round failed")
    rounds.start(every=3600)
    rounds.stop(timeout=30)
    assert calls == []
