"""The dashboard pages (a placeholder: the dashboard proper replaces this module)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from voice_monitor.server.auth import StaffPage

router = APIRouter()

_LOGIN = """<!doctype html><html><head><meta charset="utf-8"><title>voice-monitor sign in</title>
</head><body><h1>voice-monitor</h1><form method="post" action="/login">
<label>Staff token <input type="password" name="token" autocomplete="current-password"></label>
<button type="submit">Sign in</button></form></body></html>"""


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def index(request: Request, actor: StaffPage) -> HTMLResponse:
    """The dashboard's page (placeholder)."""
    return HTMLResponse("<!doctype html><html><head><meta charset=\"utf-8\"><title>voice-monitor"
                        "</title></head><body><h1>voice-monitor</h1>"
                        "<form method=\"post\" action=\"/logout\"><button>Sign out</button></form>"
                        "</body></html>")


@router.get("/login", response_class=HTMLResponse, include_in_schema=False)
def login_page() -> HTMLResponse:
    """The sign-in form (posts the token to /login)."""
    return HTMLResponse(_LOGIN)
