"""``/dashboard``: one server-rendered page for ops and trust-and-safety leads.

Login is by an API key with an export scope, posted once from a form; the
browser then holds a random session id (``app.services.dashboard_logins``) in a
``Secure``, ``HttpOnly``, ``SameSite=Strict`` cookie scoped to the dashboard,
never the key, so the key appears in no URL, log line, page script or cookie
jar. A login or logout posted from another site's page is refused (login
CSRF). The page runs no inline script (a content security policy forbids it);
the chart library is vendored, so it works air-gapped.
"""

from __future__ import annotations

from datetime import UTC, timedelta
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session

from app import auth
from app.deps import SessionDep, StateDep, authenticate
from app.errors import ApiError
from app.services import dashboard_logins
from app.services.dashboard import dashboard_data
from app.state import AppState

router = APIRouter(tags=["dashboard"], include_in_schema=False)
templates = Jinja2Templates(directory=Path(__file__).resolve().parent.parent / "templates")

COOKIE = "hashwall_dashboard"
COOKIE_PATH = "/dashboard"
SESSION_LIFETIME = timedelta(hours=8)
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data:; frame-ancestors 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    # Not no-referrer: under it a browser sends "Origin: null" with the login
    # form, which the login-CSRF check must refuse. same-origin tells nothing
    # to other sites either.
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def _exporter(session: Session, key: str) -> auth.Principal | None:
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


def same_site(request: Request) -> bool:
    """Whether a form was posted from this service's own pages.

    Browsers send ``Origin`` with every POST (``Referer`` where a policy hides
    it) and ``Sec-Fetch-Site``, none of which a page can forge; its host must be
    the one the request was sent to, whatever the scheme a proxy in front sees.
    A client that sends none of them (curl) is not a browser being tricked.
    """
    if request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
        return False
    source = request.headers.get("origin") or request.headers.get("referer")
    if source is None:
        return True
    return urlsplit(source).netloc == request.headers.get("host", "")


def _cross_site(request: Request) -> Response:
    return _page(
        request,
        "login.html",
        {"error": "Sign in from this service's own login page."},
        status=403,
    )


@router.get("/dashboard/login", response_class=HTMLResponse)
def login_form(request: Request) -> Response:
    return _page(request, "login.html", {"error": None})


def _login(state: AppState, key: str) -> str | None:
    with state.sessions() as session:
        principal = _exporter(session, key)
        if principal is None:
            return None
        return dashboard_logins.start(session, principal, state.clock(), SESSION_LIFETIME)


@router.post("/dashboard/login", response_class=HTMLResponse)
async def login(
    request: Request, state: StateDep, key: Annotated[str, Form(max_length=200)] = ""
) -> Response:
    if not same_site(request):
        return _cross_site(request)
    token = await run_in_threadpool(_login, state, key.strip())
    if token is None:
        error = "That key is unknown, revoked, or lacks the export scope."
        return _page(request, "login.html", {"error": error}, status=401)
    response = RedirectResponse("/dashboard", status_code=303)
    response.set_cookie(
        COOKIE,
        token,
        max_age=int(SESSION_LIFETIME.total_seconds()),
        path=COOKIE_PATH,
        secure=True,
        httponly=True,
        samesite="strict",
    )
    return response


@router.post("/dashboard/logout")
def logout(request: Request, state: StateDep, session: SessionDep) -> Response:
    if not same_site(request):
        return _cross_site(request)
    token = request.cookies.get(COOKIE)
    if token:
        dashboard_logins.end(session, token, state.clock())
    response = RedirectResponse("/dashboard/login", status_code=303)
    response.delete_cookie(COOKIE, path=COOKIE_PATH, secure=True, httponly=True, samesite="strict")
    return response


@router.get("/dashboard", response_class=HTMLResponse)
def dashboard(request: Request, state: StateDep, session: SessionDep) -> Response:
    token = request.cookies.get(COOKIE)
    principal = None if not token else dashboard_logins.resume(session, token, state.clock())
    if principal is None or not principal.allows(auth.Scope.EXPORT):
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
