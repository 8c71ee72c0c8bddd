"""The dashboard's pages: server-rendered, no JavaScript, no external assets."""

from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    current_app,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from werkzeug.wrappers import Response

from app.models import CONCERNS
from app.store import posture, queries
from app.web import params
from app.web.auth import (
    HOW_TO_CONFIGURE,
    SESSION_KEY,
    api_settings,
    logins,
    require_login,
    safe_next,
    session_mark,
    token_matches,
)
from app.web.chart import trend

bp = Blueprint(
    "dashboard",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/dashboard-static",
)


def _db() -> Any:
    return current_app.extensions["tightship.db"]


def image_filters(args: Any) -> queries.ImageFilters:
    """The images filters from a query string; the page and /api/images read the same ones."""

    def text(name: str) -> str | None:
        value = (args.get(name) or "").strip()
        return value or None

    def number(name: str, default: int) -> int:
        return params.number(args.get(name), default, 1_000_000)

    return queries.ImageFilters(
        q=text("q"),
        registry=text("registry"),
        builder=text("builder"),
        failing=text("failing"),
        status=text("status"),
        page=number("page", 1),
        per_page=number("per_page", 50),
    )


@bp.get("/")
@require_login
def overview() -> str:
    with _db().session() as db_session:
        timeline = posture.Timeline(db_session)
        weeks = posture.weekly_posture(db_session, timeline=timeline)
        counts = queries.counts(db_session, timeline=timeline)
        events = queries.events(db_session, status=request.args.get("events") or None, limit=25)
    return render_template(
        "dashboard/overview.html",
        weeks=weeks,
        now=weeks[-1],
        chart=trend(weeks),
        counts=counts,
        events=events,
        event_status=request.args.get("events") or "",
        event_statuses=queries.EVENT_STATUSES,
        concerns=list(CONCERNS),
        concern_of={rule: c for c, rules in CONCERNS.items() for rule in rules},
    )


@bp.get("/images")
@require_login
def images() -> str:
    filters = image_filters(request.args)
    with _db().session() as db_session:
        timeline = posture.Timeline(db_session)
        page = queries.images(db_session, filters, timeline=timeline)
        facets = queries.facets(db_session, timeline=timeline)
    args = {k: v for k, v in request.args.items() if v and k != "page"}
    return render_template(
        "dashboard/images.html",
        page=page,
        filters=filters,
        facets=facets,
        concerns=list(CONCERNS),
        page_url=lambda number: url_for("dashboard.images", **args, page=number),
    )


@bp.get(f"/images/<{params.ID}:image_id>")
@require_login
def image(image_id: int) -> str | tuple[str, int]:
    with _db().session() as db_session:
        detail = queries.image(db_session, image_id)
    if detail is None:
        return render_template("dashboard/missing.html", what=f"image {image_id}"), 404
    return render_template("dashboard/image.html", image=detail, concerns=list(CONCERNS))


@bp.route("/login", methods=["GET", "POST"])
def login() -> Response | str | tuple[str, int]:
    target = safe_next(request.values.get("next"))
    closed = session_mark() is None
    if request.method == "GET" or closed:
        status = 401 if closed and not api_settings().open else 200
        return render_template(
            "dashboard/login.html", next=target, closed=closed, how=HOW_TO_CONFIGURE
        ), status
    client = request.remote_addr or "unknown"
    wait = logins().wait(client)
    if wait:
        return render_template(
            "dashboard/login.html",
            next=target,
            closed=False,
            error=f"Too many wrong tokens from here; try again in {wait:.0f} s.",
        ), 429
    if not token_matches(request.form.get("token", "")):
        logins().failed(client)
        return render_template(
            "dashboard/login.html",
            next=target,
            closed=False,
            error="That token is not the configured api.token.",
        ), 401
    session.clear()
    session[SESSION_KEY] = session_mark()
    return redirect(target)


@bp.post("/logout")
def logout() -> Response:
    session.clear()
    return redirect(url_for("dashboard.login"))
