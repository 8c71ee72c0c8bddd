"""The JSON API and /metrics."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request

from app import metrics
from app.store import posture, queries
from app.web import params
from app.web.auth import require_bearer
from app.web.dashboard import image_filters

bp = Blueprint("api", __name__)


def _db() -> Any:
    return current_app.extensions["tightship.db"]


def _not_found(what: str) -> tuple[Response, int]:
    return jsonify(error=f"no {what}"), 404


@bp.get("/api/images")
@require_bearer(allow_open=True)
def images() -> Response:
    with _db().session() as session:
        return jsonify(queries.images(session, image_filters(request.args)))


@bp.get(f"/api/images/<{params.ID}:image_id>")
@require_bearer(allow_open=True)
def image(image_id: int) -> Response | tuple[Response, int]:
    with _db().session() as session:
        detail = queries.image(session, image_id)
    return jsonify(detail) if detail else _not_found(f"image {image_id}")


@bp.get(f"/api/scans/<{params.ID}:scan_id>")
@require_bearer(allow_open=True)
def scan(scan_id: int) -> Response | tuple[Response, int]:
    with _db().session() as session:
        detail = queries.scan(session, scan_id)
    return jsonify(detail) if detail else _not_found(f"scan {scan_id}")


@bp.get("/api/events")
@require_bearer(allow_open=True)
def events() -> Response | tuple[Response, int]:
    status = request.args.get("status") or None
    if status is not None and status not in queries.EVENT_STATUSES:
        return jsonify(error=f"status must be one of {', '.join(queries.EVENT_STATUSES)}"), 400
    limit = params.number(request.args.get("limit"), 50, queries.MAX_EVENTS)
    with _db().session() as session:
        rows = queries.events(session, status, limit)
    return jsonify(items=rows)


@bp.get("/api/posture")
@require_bearer(allow_open=True)
def weekly() -> Response:
    weeks = params.number(request.args.get("weeks"), 12, 104)
    with _db().session() as session:
        result = posture.weekly_posture(session, weeks)
    return jsonify(
        weeks=[
            {"week": w.week, "end": w.end.isoformat(), "images": w.images, "passing": w.passing}
            for w in result
        ]
    )


@bp.post("/api/rescan")
@require_bearer(allow_open=False)
def rescan() -> tuple[Response, int]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or (body.get("all") is True) == isinstance(body.get("ref"), str):
        return jsonify(error='send {"all": true} or {"ref": "host/repository:tag"}'), 400
    from app.jobs import rescan as rescans  # the rescan module pulls in the analysis stack

    try:
        result = rescans.request(_db(), current_app.extensions["tightship.jobs"], body.get("ref"))
    except ValueError as exc:
        return jsonify(error=str(exc)), 400
    return jsonify(result), 202


@bp.get("/metrics")
@require_bearer(allow_open=True)
def scrape() -> Response:
    def findings_by_rule() -> dict[str, int]:
        with _db().session() as session:
            return queries.counts(session)["findings_by_rule"]

    gauges = metrics.ScrapeTimeGauges(
        queue_depth=current_app.extensions["tightship.jobs"].huey.pending_count,
        findings_by_rule=findings_by_rule,
    )
    return Response(metrics.exposition(gauges), content_type=metrics.CONTENT_TYPE)
