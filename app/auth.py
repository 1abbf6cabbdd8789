"""API keys: generation, salted digests and scope checks.

A key is ``hw_<lookup>.<secret>``: a public lookup id that finds its row, and a
256-bit random secret of which only a salted SHA-256 digest is stored and which
is compared in constant time. The secret is random, so a fast hash is enough:
there is nothing to brute-force the way a password would be. Keys made before
salts (``hw_<secret>``) keep their plain digest and still work.
"""

from __future__ import annotations

import hashlib
import hmac
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
_HEX = "0123456789abcdef"


@dataclass(frozen=True, slots=True)
class NewKey:
    key: str
    """Shown once to whoever made it; never stored."""
    lookup: str
    salt: str
    digest: str


def salted_digest(salt: str, secret: str) -> str:
    return hashlib.sha256(bytes.fromhex(salt) + secret.encode("utf-8")).hexdigest()


def new_key() -> NewKey:
    lookup = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    salt = secrets.token_hex(16)
    return NewKey(f"{KEY_PREFIX}{lookup}.{secret}", lookup, salt, salted_digest(salt, secret))


def split_key(key: str) -> tuple[str, str] | None:
    """(lookup, secret) of a salted key; None for a key made before salts."""
    if not key.startswith(KEY_PREFIX):
        return None
    lookup, dot, secret = key[len(KEY_PREFIX) :].partition(".")
    if not dot or len(lookup) != 16 or not secret or lookup.strip(_HEX):
        return None
    return lookup, secret


def digest(key: str) -> str:
    """The plain digest that keys made before salts are stored under."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def secret_matches(stored: str, salt: str, secret: str) -> bool:
    # compare_digest takes the same time wherever the digests differ.
    return hmac.compare_digest(stored, salted_digest(salt, secret))


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

    @classmethod
    def stored(cls, key_id: int, name: str, platform: str, scopes: str) -> Principal:
        """The principal of a key's row (scopes stored comma-separated)."""
        return cls(key_id=key_id, name=name, platform=platform, scopes=frozenset(scopes.split(",")))

    def allows(self, scope: Scope) -> bool:
        # admin is the operator's key and may do everything; exporting every
        # platform includes exporting one.
        implied = {scope.value, Scope.ADMIN.value}
        if scope is Scope.EXPORT:
            implied.add(Scope.EXPORT_ALL.value)
        return not implied.isdisjoint(self.scopes)
