"""Dashboard logins: a random session id in the browser, its digest in the
database.

The browser never holds the API key: a login checks the key once and hands out
a session id of 256 random bits, of which only a SHA-256 digest is stored (it
is random, so a fast hash is enough, as for keys). A session is good until it
expires, its user logs out, or its key is revoked.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from app import auth
from app.models import ApiKey, DashboardSession


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def start(session: Session, principal: auth.Principal, now: datetime, lifetime: timedelta) -> str:
    """Open a session for ``principal``'s key; returns the id for the cookie.
    Sessions that expired are deleted on the way."""
    session.execute(delete(DashboardSession).where(DashboardSession.expires_at < now))
    token = secrets.token_urlsafe(32)
    session.add(
        DashboardSession(
            digest=_digest(token),
            key_id=principal.key_id,
            created_at=now,
            expires_at=now + lifetime,
        )
    )
    session.commit()
    return token


def resume(session: Session, token: str, now: datetime) -> auth.Principal | None:
    """The principal of a live session: not expired, not ended, its key not revoked."""
    row = session.execute(
        select(ApiKey.id, ApiKey.name, ApiKey.platform, ApiKey.scopes)
        .join(DashboardSession, DashboardSession.key_id == ApiKey.id)
        .where(
            DashboardSession.digest == _digest(token),
            DashboardSession.ended_at.is_(None),
            DashboardSession.expires_at > now,
            ApiKey.revoked_at.is_(None),
        )
    ).one_or_none()
    return None if row is None else auth.Principal.stored(*row)


def end(session: Session, token: str, now: datetime) -> None:
    """Log out: the session id stops working at once."""
    session.execute(
        update(DashboardSession)
        .where(DashboardSession.digest == _digest(token), DashboardSession.ended_at.is_(None))
        .values(ended_at=now)
    )
    session.commit()
