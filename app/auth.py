"""API keys: generation, digests and scope checks.

Keys are 256-bit random tokens, so a plain SHA-256 digest is enough to store
them: there is nothing to brute-force the way a password would be.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from enum import StrEnum


class Scope(StrEnum):
    CHECK = "check"
    REGISTER = "register"
    EXPORT = "export"
    """Transparency exports of the key's own platform's checks."""
    EXPORT_ALL = "export_all"
    """Exports of every platform's checks (a regulator's or the operator's view)."""
    ADMIN = "admin"


KEY_PREFIX = "hw_"


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def parse_scopes(text: str) -> frozenset[Scope]:
    """Parse ``check,register`` into scopes; raises ValueError on an unknown name."""
    names = [part.strip() for part in text.split(",") if part.strip()]
    if not names:
        raise ValueError("at least one scope is required")
    try:
        return frozenset(Scope(name) for name in names)
    except ValueError as exc:
        known = ", ".join(s.value for s in Scope)
        raise ValueError(f"unknown scope in {text!r}; known: {known}") from exc


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller behind a valid key: its platform or team name and scopes."""

    key_id: int
    name: str
    """The key's own name: who did something, in the audit trail."""
    platform: str
    """The platform or team it acts for: what checks and exports are recorded under."""
    scopes: frozenset[str]

    def allows(self, scope: Scope) -> bool:
        # admin is the operator's key and may do everything; exporting every
        # platform includes exporting one.
        implied = {scope.value, Scope.ADMIN.value}
        if scope is Scope.EXPORT:
            implied.add(Scope.EXPORT_ALL.value)
        return not implied.isdisjoint(self.scopes)
