"""Who may see the dashboard, the API and /metrics.

One secret, ``api.token``: the API and /metrics take it as ``Authorization: Bearer …``, the
pages through a login form that stores a mark derived from it in a signed session cookie (so
changing the token logs everyone out). With no token everything is closed, unless
``api.open: true`` opens the pages, the read API and /metrics; ``POST /api/rescan`` always
needs the token. Tokens are compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, Response, current_app, jsonify, redirect, request, session, url_for

from app.config import ApiSettings

SESSION_KEY = "tightship.auth"
HOW_TO_CONFIGURE = (
    'set api.token in the config (api: {token: "${TIGHTSHIP_API_TOKEN}"}) and send it as '
    '"Authorization: Bearer <token>", or set api.open: true to serve it without authentication'
)

View = Callable[..., Any]


def api_settings() -> ApiSettings:
    return current_app.extensions["tightship.settings"].api


def _token() -> str | None:
    token = api_settings().token
    return token.get_secret_value() if token else None


def _derive(token: str, purpose: bytes) -> str:
    return hmac.new(token.encode(), purpose, hashlib.sha256).hexdigest()


def configure_sessions(app: Flask, api: ApiSettings) -> None:
    """The session cookie's signing key: configured, else derived from the token."""
    if api.secret_key:
        app.secret_key = api.secret_key.get_secret_value()
    elif api.token:
        app.secret_key = _derive(api.token.get_secret_value(), b"tightship session signing key")
    else:  # nobody can log in without a token; sessions only carry nothing of value
        app.secret_key = secrets.token_hex(32)
    app.config.update(
        SESSION_COOKIE_NAME="tightship_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=bool(api.public_url and api.public_url.startswith("https://")),
    )
    app.extensions["tightship.logins"] = Throttle()


def logins() -> Throttle:
    """This app's failed-login throttle."""
    return current_app.extensions["tightship.logins"]  # type: ignore[no-any-return]


def token_matches(candidate: str) -> bool:
    token = _token()
    return token is not None and hmac.compare_digest(candidate.encode(), token.encode())


def _bearer() -> bool:
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and token_matches(value.strip())


def _unauthorized() -> tuple[Response, int, dict[str, str]]:
    if _token() is None:
        message = f"the API is closed: {HOW_TO_CONFIGURE}"
    else:
        message = "a valid 'Authorization: Bearer <api.token>' header is required"
    return jsonify(error=message), 401, {"WWW-Authenticate": 'Bearer realm="tightship"'}


def require_bearer(*, allow_open: bool) -> Callable[[View], View]:
    """API views: the Bearer token, or nothing at all when ``allow_open`` and ``api.open``."""

    def decorate(view: View) -> View:
        @wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            if (allow_open and api_settings().open) or _bearer():
                return view(*args, **kwargs)
            return _unauthorized()

        return guarded

    return decorate


def session_mark() -> str | None:
    token = _token()
    return _derive(token, b"tightship dashboard login") if token else None


def logged_in() -> bool:
    mark = session_mark()
    given = session.get(SESSION_KEY)
    return (
        mark is not None
        and isinstance(given, str)
        and hmac.compare_digest(given.encode(), mark.encode())
    )


def require_login(view: View) -> View:
    """Pages: a logged-in session, or nothing when ``api.open``; else off to the login form."""

    @wraps(view)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        if api_settings().open or logged_in():
            return view(*args, **kwargs)
        return redirect(url_for("dashboard.login", next=request.full_path.rstrip("?")))

    return guarded


class Throttle:
    """Failed logins per client address within a minute: guessing a token through the login
    form is slowed to ``limit`` tries a minute (per web process; the token stays the defence)."""

    def __init__(self, limit: int = 10, window: float = 60.0) -> None:
        self.limit, self.window = limit, window
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, client: str, now: float) -> deque[float]:
        failures = self._failures.setdefault(client, deque())
        while failures and failures[0] <= now - self.window:
            failures.popleft()
        return failures

    def wait(self, client: str) -> float:
        """Seconds until ``client`` may try again (0: now)."""
        now = time.monotonic()
        with self._lock:
            failures = self._recent(client, now)
            if len(failures) < self.limit:
                return 0.0
            return max(failures[0] + self.window - now, 1.0)

    def failed(self, client: str) -> None:
        now = time.monotonic()
        with self._lock:
            self._recent(client, now).append(now)
            if len(self._failures) > 10_000:  # bounded memory, whatever the clients
                self._failures = {k: v for k, v in self._failures.items() if v}


def safe_next(target: str | None) -> str:
    """Only a path on this site: never another host (an open redirect)."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return url_for("dashboard.overview")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return url_for("dashboard.overview")
    return target
