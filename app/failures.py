"""What a use case refuses, and why, in the domain's terms rather than HTTP's.

Services raise :class:`DomainError` with a stable machine-readable ``code`` (the
``error`` field clients see) and a :class:`Failure` kind; the HTTP layer
(:mod:`app.errors`) answers each kind with its status, and the CLI prints the
detail. This module imports nothing of the web, so services, the CLI and the
benches can raise and catch it without FastAPI.
"""

from __future__ import annotations

from enum import StrEnum


class Failure(StrEnum):
    """Why a use case refused."""

    INVALID = "invalid"
    """What was sent cannot be used as it is (a period, a cursor, a hash list)."""
    NOT_FOUND = "not_found"
    """What was asked for does not exist."""
    TOO_LARGE = "too_large"
    """What was sent is over a limit."""


class DomainError(Exception):
    """A refusal the caller can act on: ``code`` is stable, ``detail`` a sentence."""

    def __init__(self, failure: Failure, code: str, detail: str) -> None:
        super().__init__(detail)
        self.failure = failure
        self.code = code
        self.detail = detail


def require_hash_count(count: int, limit: int) -> None:
    """A hash list must hold between one and ``limit`` hashes."""
    if count == 0:
        raise DomainError(Failure.INVALID, "invalid_hash", "send at least one hash")
    if count > limit:
        raise DomainError(
            Failure.TOO_LARGE, "too_many_hashes", f"at most {limit} hashes per request"
        )
