"""FastAPI dependencies: shared state, one database session per request, and auth."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, cast

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import Table, bindparam, select
from sqlalchemy.orm import Session

from app import auth
from app.errors import ApiError
from app.limits import retry_after
from app.models import ApiKey
from app.state import AppState

# The dependencies below are ``async`` because they do no I/O (or hand it to a
# thread themselves): FastAPI runs a plain ``def`` dependency on a worker thread,
# and each hop there and back cost a check more CPU than the key lookup itself.


async def get_state(request: Request) -> AppState:
    state: AppState = request.app.state.hashwall
    return state


StateDep = Annotated[AppState, Depends(get_state)]


async def index_ready(state: StateDep) -> None:
    if not state.index.ready:
        raise ApiError(
            503, "index_loading", "the index is still loading", headers={"Retry-After": "5"}
        )


async def get_session(state: StateDep) -> AsyncIterator[Session]:
    """One session per request, closed when the request is done.

    Services that write commit their own transaction (the database first, then
    the index); whatever is left uncommitted when the request ends, after an
    error or on a read-only route, is rolled back by the close. A session
    connects at its first query, so opening one here costs no I/O; a close that
    must roll back talks to the database, so it runs on a worker thread.
    """
    session = state.sessions()
    try:
        yield session
    finally:
        if session.in_transaction():
            await run_in_threadpool(session.close)
        else:
            session.close()


SessionDep = Annotated[Session, Depends(get_session)]


def _bearer_token(request: Request) -> str:
    """The API key sent in ``Authorization: Bearer``; 401 when there is none."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    challenge = {"WWW-Authenticate": "Bearer"}
    if not header:
        raise ApiError(401, "missing_api_key", "send Authorization: Bearer <key>", challenge)
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "invalid_api_key", "use the Bearer scheme with an API key", challenge)
    return token.strip()


_KEYS = cast(Table, ApiKey.__table__)
_KEY_COLUMNS = (_KEYS.c.id, _KEYS.c.name, _KEYS.c.platform, _KEYS.c.scopes)
# Built once: every request runs one of these.
_BY_LOOKUP = select(*_KEY_COLUMNS, _KEYS.c.digest, _KEYS.c.salt).where(
    _KEYS.c.lookup == bindparam("lookup"), _KEYS.c.revoked_at.is_(None)
)
_BY_DIGEST = select(*_KEY_COLUMNS).where(
    _KEYS.c.digest == bindparam("digest"),
    _KEYS.c.lookup.is_(None),
    _KEYS.c.revoked_at.is_(None),
)


def authenticate(session: Session, key: str) -> auth.Principal:
    """The principal behind an API key; 401 for an unknown or revoked one."""
    parts = auth.split_key(key)
    row = None
    if parts is not None:
        lookup, secret = parts
        found = session.execute(_BY_LOOKUP, {"lookup": lookup}).one_or_none()
        # The digest is computed and compared whether or not the lookup id is
        # known, so the answer takes as long either way.
        stored, salt = (found.digest, found.salt) if found is not None else ("0" * 64, "0" * 32)
        if auth.secret_matches(stored, salt or "0" * 32, secret) and found is not None:
            row = found[:4]
    else:
        row = session.execute(_BY_DIGEST, {"digest": auth.digest(key)}).one_or_none()
    if row is None:
        raise ApiError(
            401, "invalid_api_key", "unknown or revoked API key", {"WWW-Authenticate": "Bearer"}
        )
    return auth.Principal.stored(*row)


def verify(
    request: Request, state: AppState, session: Session, token: str, scope: auth.Scope
) -> auth.Principal:
    """The principal behind ``token`` if it may use ``scope`` now: 401 for an
    unknown or revoked key, 403 without the scope, 429 over the rate limit.
    Blocking (it reads the key's row): call it on a worker thread."""
    principal = authenticate(session, token)
    request.state.platform = principal.platform  # for the access log
    if not principal.allows(scope):
        raise ApiError(403, "insufficient_scope", f"this key lacks the {scope} scope")
    if state.rate_limiter is not None:
        wait = state.rate_limiter.wait(principal.key_id)
        if wait > 0:
            raise ApiError(
                429,
                "rate_limited",
                f"this key is over {state.rate_limiter.burst} requests in "
                f"{state.rate_limiter.item.get_expiry()} s",
                {"Retry-After": retry_after(wait)},
            )
    return principal


def _verify_in_session(
    request: Request, state: AppState, token: str, scope: auth.Scope
) -> auth.Principal:
    # A session of its own, closed at once: the route's session connects only at
    # its first query, so no connection is held while a body streams in.
    with state.sessions() as session:
        return verify(request, state, session, token, scope)


def require(scope: auth.Scope) -> Callable[[Request, AppState], Awaitable[auth.Principal]]:
    """A dependency that authenticates the caller and demands ``scope``.

    Dependencies run before a route reads its body (no route declares one:
    :mod:`app.routers.bodies`), so a missing, unknown, revoked or wrong-scope
    key, or one over its rate, is refused from the headers alone.
    """

    async def dependency(request: Request, state: StateDep) -> auth.Principal:
        token = _bearer_token(request)
        return await run_in_threadpool(_verify_in_session, request, state, token, scope)

    return dependency


CheckKey = Annotated[auth.Principal, Depends(require(auth.Scope.CHECK))]
RegisterKey = Annotated[auth.Principal, Depends(require(auth.Scope.REGISTER))]
ExportKey = Annotated[auth.Principal, Depends(require(auth.Scope.EXPORT))]
ExportAllKey = Annotated[auth.Principal, Depends(require(auth.Scope.EXPORT_ALL))]
AdminKey = Annotated[auth.Principal, Depends(require(auth.Scope.ADMIN))]
