"""A use case's refusals are answered over HTTP with a status for their kind."""

from __future__ import annotations

from app.errors import FAILURE_STATUS
from app.failures import Failure


def test_every_kind_of_refusal_has_a_status() -> None:
    assert set(FAILURE_STATUS) == set(Failure)
    assert all(400 <= status < 500 for status in FAILURE_STATUS.values())
