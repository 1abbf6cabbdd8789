"""API key management, used by the ``hashwall keys`` commands."""

from __future__ import annotations

import json
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from app import auth
from app.models import ApiKey, AuditEvent, utcnow
from app.text import refused_character


class KeyAdminError(ValueError):
    """A key operation that cannot be done (duplicate or unknown name)."""


def create_key(
    session: Session,
    name: str,
    scopes: Iterable[auth.Scope],
    actor: str,
    platform: str | None = None,
) -> str:
    """Store a new key's digest and return the key itself, which is shown only once.

    ``platform`` (default: the key's name) is what the key's checks and exports
    are recorded under; several keys may act for one platform.
    """
    name = name.strip()
    platform = (platform or name).strip()
    if not name or len(name) > 100:
        raise KeyAdminError("a key name is 1 to 100 characters")
    if not platform or len(platform) > 100:
        raise KeyAdminError("a platform name is 1 to 100 characters")
    for what, text in (("key name", name), ("platform name", platform)):
        bad = refused_character(text)
        if bad is not None:
            raise KeyAdminError(f"a {what} may not hold control characters ({bad})")
    if session.scalar(select(ApiKey).where(ApiKey.name == name)) is not None:
        raise KeyAdminError(f"a key named {name!r} already exists")
    made = auth.new_key()
    scope_text = ",".join(sorted(s.value for s in scopes))
    session.add(
        ApiKey(
            name=name,
            platform=platform,
            digest=made.digest,
            lookup=made.lookup,
            salt=made.salt,
            scopes=scope_text,
            created_at=utcnow(),
        )
    )
    session.add(
        AuditEvent(
            created_at=utcnow(),
            actor=actor,
            action="key_create",
            detail=json.dumps(
                {"name": name, "platform": platform, "scopes": scope_text}, ensure_ascii=False
            ),
        )
    )
    session.commit()
    return made.key


def list_keys(session: Session) -> list[ApiKey]:
    return list(session.scalars(select(ApiKey).order_by(ApiKey.name)))


def revoke_key(session: Session, name: str, actor: str) -> ApiKey:
    key = session.scalar(select(ApiKey).where(ApiKey.name == name))
    if key is None:
        raise KeyAdminError(f"no key named {name!r}")
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        session.add(
            AuditEvent(
                created_at=key.revoked_at,
                actor=actor,
                action="key_revoke",
                detail=json.dumps({"name": name}),
            )
        )
        session.commit()
    return key
