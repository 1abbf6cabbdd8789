"""``/dashboard``: one server-rendered page for ops and trust-and-safety leads.

Login is by an API key with an export scope, posted once from a form and then
kept in a ``Secure``, ``HttpOnly``, ``SameSite=Strict`` cookie scoped to the
dashboard, so the key never appears in a URL, a log line or page script. The
page runs no inline script (a content security policy forbids it); the chart
library is vendored, so it works air-gapped.
"""

from __future__ import annotations

from datetime import UTC
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session

from app import auth
from app.deps import SessionDep, StateDep, authenticate
from app.errors import ApiError
from app.services.dashboard import dashboard_data

router = APIRouter(tags=["dashboard"], include_in_schema=False)
templates = Jinja2Templates(directory=Path(__file__).resolve().parent.parent / "templates")

COOKIE = "hashwall_dashboard"
COOKIE_PATH = "/dashboard"
COOKIE_SECONDS = 8 * 3600
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data:; frame-ancestors 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def _exporter(session: Session, key: str | None) -> auth.Principal | None:
    if not key:
        return None
    try:
        principal = authenticate(session, key)
    except ApiError:
        return None
    return principal if principal.allows(auth.Scope.EXPORT) else None


def _page(request: Request, name: str, context: dict[str, object], status: int = 200) -> Response:
    response = templates.TemplateResponse(request, name, context, status_code=status)
    response.headers.update(SECURITY_HEADERS)
    return response


@router.get("/dashboard/login", response_class=HTMLResponse)
def login_form(request: Request) -> Response:
    return _page(request, "login.html", {"error": None})


@router.post("/dashboard/login", response_class=HTMLResponse)
def login(
    request: Request, session: SessionDep, key: Annotated[str, Form(max_length=200)] = ""
) -> Response:
    principal = _exporter(session, key.strip())
    if principal is None:
        error = "That key is unknown, revoked, or lacks the export scope."
        return _page(request, "login.html", {"error": error}, status=401)
    response = RedirectResponse("/dashboard", status_code=303)
    response.set_cookie(
        COOKIE,
        key.strip(),
        max_age=COOKIE_SECONDS,
        path=COOKIE_PATH,
        secure=True,
        httponly=True,
        samesite="strict",
    )
    return response


@router.post("/dashboard/logout")
def logout() -> Response:
    response = RedirectResponse("/dashboard/login", status_code=303)
    response.delete_cookie(COOKIE, path=COOKIE_PATH, secure=True, httponly=True, samesite="strict")
    return response


@router.get("/dashboard", response_class=HTMLResponse)
def dashboard(request: Request, state: StateDep, session: SessionDep) -> Response:
    principal = _exporter(session, request.cookies.get(COOKIE))
    if principal is None:
        return RedirectResponse("/dashboard/login", status_code=303)
    request.state.platform = principal.platform
    platform = None if principal.allows(auth.Scope.EXPORT_ALL) else principal.platform
    data = dashboard_data(
        session,
        platform=platform,
        index_sizes=state.index.sizes(),
        check_seconds=list(state.check_seconds),
        today=state.clock().astimezone(UTC).date(),
    )
    return _page(
        request,
        "dashboard.html",
        {"data": data, "viewer": principal.name},
    )
