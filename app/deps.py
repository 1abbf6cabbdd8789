"""FastAPI dependencies: shared state, one database session per request, and auth."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from app import auth
from app.errors import ApiError
from app.limits import retry_after
from app.models import ApiKey
from app.state import AppState


def get_state(request: Request) -> AppState:
    state: AppState = request.app.state.hashwall
    return state


StateDep = Annotated[AppState, Depends(get_state)]


def index_ready(state: StateDep) -> None:
    if not state.index.ready:
        raise ApiError(
            503, "index_loading", "the index is still loading", headers={"Retry-After": "5"}
        )


def get_session(state: StateDep) -> Iterator[Session]:
    """One session per request: committed on success, rolled back on error."""
    with state.sessions() as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


SessionDep = Annotated[Session, Depends(get_session)]


def _principal(request: Request, session: Session) -> auth.Principal:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    challenge = {"WWW-Authenticate": "Bearer"}
    if not header:
        raise ApiError(401, "missing_api_key", "send Authorization: Bearer <key>", challenge)
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "invalid_api_key", "use the Bearer scheme with an API key", challenge)
    return authenticate(session, token.strip())


def authenticate(session: Session, key: str) -> auth.Principal:
    """The principal behind an API key; 401 for an unknown or revoked one."""
    columns = (ApiKey.id, ApiKey.name, ApiKey.platform, ApiKey.scopes)
    parts = auth.split_key(key)
    row = None
    if parts is not None:
        lookup, secret = parts
        found = session.execute(
            select(*columns, ApiKey.digest, ApiKey.salt).where(
                ApiKey.lookup == lookup, ApiKey.revoked_at.is_(None)
            )
        ).one_or_none()
        # The digest is computed and compared whether or not the lookup id is
        # known, so the answer takes as long either way.
        stored, salt = (found.digest, found.salt) if found is not None else ("0" * 64, "0" * 32)
        if auth.secret_matches(stored, salt or "0" * 32, secret) and found is not None:
            row = found[:4]
    else:
        row = session.execute(
            select(*columns).where(
                ApiKey.digest == auth.digest(key),
                ApiKey.lookup.is_(None),
                ApiKey.revoked_at.is_(None),
            )
        ).one_or_none()
    if row is None:
        raise ApiError(
            401, "invalid_api_key", "unknown or revoked API key", {"WWW-Authenticate": "Bearer"}
        )
    key_id, name, platform, scopes = row
    return auth.Principal(
        key_id=key_id, name=name, platform=platform, scopes=frozenset(scopes.split(","))
    )


def require(scope: auth.Scope) -> Callable[[Request, AppState, Session], auth.Principal]:
    """A dependency that authenticates the caller and demands ``scope``."""

    def dependency(request: Request, state: StateDep, session: SessionDep) -> auth.Principal:
        principal = _principal(request, session)
        request.state.platform = principal.platform  # for the access log
        if not principal.allows(scope):
            raise ApiError(403, "insufficient_scope", f"this key lacks the {scope} scope")
        if state.rate_limiter is not None:
            wait = state.rate_limiter.wait(principal.key_id)
            if wait > 0:
                raise ApiError(
                    429,
                    "rate_limited",
                    f"this key is over {state.rate_limiter.rate:g} requests a second",
                    {"Retry-After": retry_after(wait)},
                )
        return principal

    return dependency


CheckKey = Annotated[auth.Principal, Depends(require(auth.Scope.CHECK))]
RegisterKey = Annotated[auth.Principal, Depends(require(auth.Scope.REGISTER))]
ExportKey = Annotated[auth.Principal, Depends(require(auth.Scope.EXPORT))]
ExportAllKey = Annotated[auth.Principal, Depends(require(auth.Scope.EXPORT_ALL))]
AdminKey = Annotated[auth.Principal, Depends(require(auth.Scope.ADMIN))]
