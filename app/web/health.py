"""Liveness and readiness probes."""

from __future__ import annotations

import logging

from flask import Blueprint, Response, current_app, jsonify

log = logging.getLogger(__name__)
bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> Response:
    """Alive: the process answers. Deliberately checks nothing else, so a database outage
    does not make an orchestrator restart every web process at once."""
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz() -> tuple[Response, int]:
    checks: dict[str, str] = {}
    for name, probe in (
        ("database", current_app.extensions["tightship.db"].ping),
        ("queue", current_app.extensions["tightship.jobs"].ping),
    ):
        try:
            probe()
            checks[name] = "ok"
        except Exception as exc:  # any failure means not ready; the type is enough to say why
            log.warning(
                "readiness check failed", extra={"check": name, "error": type(exc).__name__}
            )
            checks[name] = f"unavailable ({type(exc).__name__})"
    ready = all(v == "ok" for v in checks.values())
    return jsonify(status="ready" if ready else "unavailable", checks=checks), 200 if ready else 503
