"""Tightship: keeps production container images tight."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the package is imported by worker processes that never serve HTTP
    from flask import Flask

    from app.config import Settings


def create_app(settings: Settings | None = None) -> Flask:
    """The Flask app factory (gunicorn: ``'app:create_app()'``)."""
    from flask import Flask, Response, jsonify
    from werkzeug.exceptions import HTTPException

    from app.config import load_settings
    from app.intake.routes import MAX_BODY
    from app.intake.routes import bp as intake_bp
    from app.jobs.queue import Jobs
    from app.logs import configure_logging
    from app.store.db import Database
    from app.web import register as register_web
    from app.web.health import bp as health_bp

    settings = settings or load_settings()
    configure_logging()
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY + 1
    db = Database(settings.database_url)
    db.migrate()
    app.extensions["tightship.settings"] = settings
    app.extensions["tightship.db"] = db
    app.extensions["tightship.jobs"] = Jobs(settings, db)
    app.register_blueprint(health_bp)
    app.register_blueprint(intake_bp)
    register_web(app, settings)

    @app.errorhandler(HTTPException)
    def _json_error(error: HTTPException) -> tuple[Response, int]:
        return jsonify(error=error.description), error.code or 500

    return app
