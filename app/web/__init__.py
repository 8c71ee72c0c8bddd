"""Web pages, the JSON API and /metrics (health probes live in ``health``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask

    from app.config import Settings


def register(app: Flask, settings: Settings) -> None:
    """The dashboard, the API and /metrics, behind ``settings.api`` (see ``auth``)."""
    from app.web.api import bp as api_bp
    from app.web.auth import configure_sessions
    from app.web.dashboard import bp as dashboard_bp

    configure_sessions(app, settings.api)
    app.register_blueprint(dashboard_bp)
    app.register_blueprint(api_bp)
