"""Weekly posture and the digest, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from app.store import posture, queries
from app.store.db import Database
from app.store.schema import ScanRow
from tests.web.seed import NOW, fix, seed


def test_weekly_posture_follows_each_tag_week_by_week(database: Database) -> None:
    seed(database, NOW)
    with database.session() as session:
        weeks = posture.weekly_posture(session, weeks=12, now=NOW)
    assert [w.week for w in weeks] == [f"2026-W{n}" for n in range(37, 49)]
    by_week = {w.week: w for w in weeks}
    assert by_week["2026-W39"].images == 0
    assert by_week["2026-W39"].passing == dict.fromkeys(by_week["2026-W39"].passing, 0.0)
    # October to early November: only acme/orders, running as root
    assert by_week["2026-W40"].images == 1
    assert by_week["2026-W45"].passing == {
        "non-root": 0.0,
        "no source": 1.0,
        "no secrets": 1.0,
        "minimal base": 1.0,
    }
    # acme/web arrives with a secret and a shell
    assert by_week["2026-W46"].images == 2
    assert by_week["2026-W47"].passing == {
        "non-root": 0.5,
        "no source": 1.0,
        "no secrets": 0.5,
        "minimal base": 0.5,
    }
    # this week: orders fixed, multi (two platforms, one shipping source) arrives
    now = by_week["2026-W48"]
    assert now.images == 3
    assert now.end == NOW
    assert now.passing == pytest.approx(
        {"non-root": 1.0, "no source": 2 / 3, "no secrets": 2 / 3, "minimal base": 2 / 3}
    )
    with database.session() as session:
        assert posture.current(session, now=NOW) == now


def test_a_week_is_measured_at_its_end(database: Database) -> None:
    seed(database, NOW)
    with database.session() as session:
        # Sunday 23:59 of W47: the Monday push of acme/orders is not in yet
        weeks = posture.weekly_posture(
            session, weeks=1, now=datetime(2026, 11, 22, 23, 59, tzinfo=UTC)
        )
    assert weeks[0].week == "2026-W47"
    assert weeks[0].passing["non-root"] == 0.5


def test_digest_counts_new_and_fixed_findings_and_open_pull_requests(database: Database) -> None:
    seed(database, NOW)
    with database.session() as session:
        digest = posture.digest(session, now=NOW, dashboard_url="https://tightship.example/")
    assert digest.week == "2026-W48"
    assert digest.images == 3
    assert digest.passing["non-root"] == 1.0
    # orders: root-user fixed; multi: source-code new (first seen); web: unchanged since W46
    assert (digest.new_findings, digest.fixed_findings) == (1, 1)
    # tightship/orders is open (unchanged); tightship/old was closed (ignored); web was held
    assert digest.open_prs == 1
    assert digest.dashboard_url == "https://tightship.example/"


def test_an_empty_store_has_no_images_and_no_changes(database: Database) -> None:
    database.migrate()
    with database.session() as session:
        digest = posture.digest(session, now=NOW)
        weeks = posture.weekly_posture(session, weeks=3, now=NOW)
    assert (digest.images, digest.new_findings, digest.fixed_findings, digest.open_prs) == (
        0,
        0,
        0,
        0,
    )
    assert [w.images for w in weeks] == [0, 0, 0]


def test_the_digest_and_the_dashboard_agree_on_which_pull_requests_are_open(
    database: Database,
) -> None:
    """Each branch's PR as Tightship last saw it: a merged PR is not open, nor is one whose
    branch was later held (a PR is only held when none is open to update); a skipped job
    says nothing about the PR; a PR refused an update (people's commits) is still open."""
    seed(database, NOW)
    histories = {
        "tightship/merged": [("created", 11), ("merged", 11)],
        "tightship/held": [("created", 12), ("held", None)],
        "tightship/skipped": [("created", 13), ("skipped", None)],
        "tightship/refused": [("created", 14), ("refused", 14)],
    }
    with database.session() as session:
        scan_id = session.scalars(select(ScanRow.id).limit(1)).one()
        for branch, steps in histories.items():
            for status, pull in steps:
                fix(session, scan_id, status, branch, NOW, pull)
    with database.session() as session:
        digest_open = {row.branch for row in posture.open_pulls(session)}
        fixes = queries._Fixes(session)
        dashboard_open = set()
        for branch in histories:
            row = fixes.last_of_branch[("acme/app", branch)]
            if (fixes.pull(row) or {}).get("open"):
                dashboard_open.add(branch)
    expected = {"tightship/skipped", "tightship/refused"}
    assert dashboard_open == expected
    assert digest_open & set(histories) == expected
