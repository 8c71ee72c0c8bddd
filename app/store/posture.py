"""Posture: how many tracked images pass each of the four concerns, week by week.

An image is a tracked (registry, repository, tag). What it holds at a moment is the latest
digest the tag was seen pointing at (a processed push event, or the ``image_tags`` row) that
has at least one done scan by then; a multi-platform image is the union of its platform
scans. It passes a concern when none of those scans has a finding of the concern's rules
(``models.CONCERNS``). Everything is read with plain SELECTs and computed here, so SQLite and
PostgreSQL give the same answers.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cached_property

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.models import CONCERNS, WeeklyDigest
from app.store import repo
from app.store.schema import EventRow, FindingRow, FixRow, ImageTagRow, ScanRow, utcnow

# A fix row with a PR number says what Tightship last saw of that PR: open after these
# (refused: open, with commits by people), merged after "merged" and "commented", closed
# after "ignored". "held" has no number but means no PR was open to update. Other rows
# (skipped, failed) say nothing about the PR.
OPEN_PR_STATUSES = frozenset({"created", "updated", "unchanged", "reopened", "refused"})


def tells_pull_state(row: FixRow) -> bool:
    return row.pull_number is not None or row.status == "held"


ImageKey = tuple[str, str, str]  # registry, repository, tag


@dataclass(frozen=True, slots=True)
class ScanFacts:
    id: int
    registry: str
    repository: str
    digest: str  # the platform manifest's digest
    pushed: str  # the digest that was pushed (an index for multi-platform images)
    finished_at: datetime
    builder: str | None  # the builder kinds, ", "-joined
    rules: frozenset[str]
    fingerprints: frozenset[str]


@dataclass(frozen=True, slots=True)
class ImageState:
    """What one tracked image held at a moment: its digest and that digest's done scans."""

    key: ImageKey
    digest: str
    seen_at: datetime
    scans: tuple[ScanFacts, ...]

    @property
    def rules(self) -> frozenset[str]:
        return frozenset().union(*(s.rules for s in self.scans))

    @property
    def fingerprints(self) -> frozenset[str]:
        return frozenset().union(*(s.fingerprints for s in self.scans))

    def passes(self, concern: str) -> bool:
        return not self.rules.intersection(CONCERNS[concern])


@dataclass(frozen=True, slots=True)
class WeekPosture:
    week: str  # ISO week, e.g. "2026-W48"
    end: datetime  # the moment measured: the week's end, or now for the current week
    images: int
    passing: dict[str, float]  # concern → share of images passing, 0..1 (0 when no images)


class Timeline:
    """Every tag's sightings and every done scan, loaded once and queried at any moment."""

    def __init__(self, session: Session) -> None:
        self.sightings: dict[ImageKey, list[tuple[datetime, str]]] = defaultdict(list)
        for registry, repository, tag, digest, at in session.execute(
            select(
                EventRow.registry_name,
                EventRow.repository,
                EventRow.tag,
                EventRow.digest,
                func.coalesce(EventRow.processed_at, EventRow.received_at),
            ).where(
                EventRow.status == "done",
                EventRow.tag.is_not(None),
                EventRow.digest.is_not(None),
                EventRow.repository.is_not(None),
            )
        ):
            self.sightings[(registry, repository, tag)].append((_aware(at), digest))
        for row in session.execute(
            select(
                ImageTagRow.registry_name,
                ImageTagRow.repository,
                ImageTagRow.tag,
                ImageTagRow.digest,
                ImageTagRow.updated_at,
            )
        ):
            key = (row.registry_name, row.repository, row.tag)
            self.sightings[key].append((_aware(row.updated_at), row.digest))
        for entries in self.sightings.values():
            entries.sort()
        self.scans = _done_scans(session)
        self.by_pushed: dict[tuple[str, str, str], list[ScanFacts]] = defaultdict(list)
        for scan in self.scans.values():
            tops = {scan.pushed, scan.digest}
            for top in tops:
                self.by_pushed[(scan.registry, scan.repository, top)].append(scan)
        # An event's scan may be one an earlier push analyzed (a platform shared by two indexes).
        for registry, repository, digest, scan_id in session.execute(
            select(
                EventRow.registry_name, EventRow.repository, EventRow.digest, EventRow.scan_id
            ).where(EventRow.status == "done", EventRow.scan_id.is_not(None))
        ):
            scan = self.scans.get(scan_id)
            bucket = self.by_pushed[(registry, repository, digest)]
            if scan is not None and scan not in bucket:
                bucket.append(scan)

    def keys(self) -> list[ImageKey]:
        return sorted(self.sightings)

    def state(self, key: ImageKey, at: datetime) -> ImageState | None:
        """The image as of ``at``: the latest sighting whose digest had a done scan by then."""
        for seen_at, digest in reversed(self.sightings.get(key, [])):
            if seen_at > at:
                continue
            scans = self.scans_of(key[0], key[1], digest, at)
            if scans:
                return ImageState(key=key, digest=digest, seen_at=seen_at, scans=scans)
        return None

    def scans_of(
        self, registry: str, repository: str, digest: str, at: datetime | None = None
    ) -> tuple[ScanFacts, ...]:
        found = self.by_pushed.get((registry, repository, digest), [])
        return tuple(
            sorted(
                (s for s in found if at is None or s.finished_at <= at),
                key=lambda s: s.id,
            )
        )

    def history(self, key: ImageKey) -> list[tuple[datetime, str]]:
        """The digests a tag pointed at, oldest first, each once (its first sighting)."""
        seen: dict[str, datetime] = {}
        for at, digest in self.sightings.get(key, []):
            seen.setdefault(digest, at)
        return sorted(((at, digest) for digest, at in seen.items()), key=lambda x: x[0])

    def states(self, at: datetime) -> list[ImageState]:
        return [s for key in self.keys() if (s := self.state(key, at)) is not None]

    @cached_property
    def current(self) -> dict[ImageKey, ImageState]:
        """Every image as it is now: what a page's tables, filters and counts all show, so
        worked out once per page."""
        now = utcnow()
        return {key: state for key in self.keys() if (state := self.state(key, now))}


def _done_scans(session: Session) -> dict[int, ScanFacts]:
    rules: dict[int, set[str]] = defaultdict(set)
    prints: dict[int, set[str]] = defaultdict(set)
    for scan_id, rule, fingerprint in session.execute(
        select(FindingRow.scan_id, FindingRow.rule, FindingRow.fingerprint)
        .join(ScanRow, ScanRow.id == FindingRow.scan_id)
        .where(ScanRow.status == "done")
    ):
        rules[scan_id].add(rule)
        prints[scan_id].add(fingerprint)
    scans: dict[int, ScanFacts] = {}
    for row in session.execute(
        select(
            ScanRow.id,
            ScanRow.registry_name,
            ScanRow.repository,
            ScanRow.digest,
            ScanRow.finished_at,
            ScanRow.started_at,
            ScanRow.pushed,
            ScanRow.builder,
            repo.REPORT_IF_UNFILLED,
        ).where(ScanRow.status == "done")
    ):
        pushed, builder = row.pushed, row.builder
        if pushed is None:
            pushed, builder = repo.scan_columns(parse_report(row.report) or {})
        scans[row.id] = ScanFacts(
            id=row.id,
            registry=row.registry_name,
            repository=row.repository,
            digest=row.digest,
            pushed=pushed or row.digest,
            finished_at=_aware(row.finished_at or row.started_at),
            builder=builder,
            rules=frozenset(rules[row.id]),
            fingerprints=frozenset(prints[row.id]),
        )
    return scans


def parse_report(text: str | None) -> dict | None:
    """A stored tightship.report/v1 document, or None when missing or unreadable."""
    if not text:
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def iso_week(moment: datetime) -> str:
    year, week, _ = moment.isocalendar()
    return f"{year}-W{week:02d}"


def _week_end(moment: datetime) -> datetime:
    """The first instant of the next ISO week (Monday 00:00 UTC) after ``moment``."""
    day = moment.astimezone(UTC).date()
    monday = datetime(day.year, day.month, day.day, tzinfo=UTC) - timedelta(days=day.weekday())
    return monday + timedelta(days=7)


def _measure(states: list[ImageState], week: str, end: datetime) -> WeekPosture:
    images = len(states)
    passing = {
        concern: (sum(s.passes(concern) for s in states) / images if images else 0.0)
        for concern in CONCERNS
    }
    return WeekPosture(week=week, end=end, images=images, passing=passing)


def weekly_posture(
    session: Session,
    weeks: int = 12,
    now: datetime | None = None,
    *,
    timeline: Timeline | None = None,
) -> list[WeekPosture]:
    """The last ``weeks`` ISO weeks, oldest first, the current (partial) one last.

    A page that also asks other questions of the same moment passes its ``timeline``, so
    the tables are read once per request."""
    now = now or utcnow()
    timeline = timeline or Timeline(session)
    current_end = _week_end(now)
    result = []
    for back in range(weeks - 1, -1, -1):
        end = current_end - timedelta(weeks=back)
        moment = min(end - timedelta(microseconds=1), now)
        result.append(_measure(timeline.states(moment), iso_week(moment), moment))
    return result


def current(session: Session, now: datetime | None = None) -> WeekPosture:
    """This week so far: every tracked image as it is now."""
    now = now or utcnow()
    return _measure(Timeline(session).states(now), iso_week(now), now)


def open_pulls(session: Session) -> list[FixRow]:
    """The latest fix row of each branch whose PR Tightship last saw open."""
    latest: dict[tuple[str | None, str | None], FixRow] = {}
    for row in session.scalars(
        select(FixRow)
        .where(FixRow.branch.is_not(None))
        .where((FixRow.pull_number.is_not(None)) | (FixRow.status == "held"))
        .order_by(FixRow.id)
    ):
        latest[(row.repository, row.branch)] = row
    open_rows = [
        row
        for row in latest.values()
        if row.pull_number is not None and row.status in OPEN_PR_STATUSES
    ]
    return sorted(open_rows, key=lambda row: row.created_at, reverse=True)


def digest(
    session: Session, now: datetime | None = None, dashboard_url: str | None = None
) -> WeeklyDigest:
    """The weekly digest: posture now, and what changed in the last seven days.

    New and fixed findings compare, by fingerprint, each image's latest state with its state
    seven days ago (nothing, for an image first seen this week); only images whose latest
    state is from this week can differ. For an image pushed once a week this is its latest
    scan against the previous one; a finding that came and went within the week counts as
    neither.
    """
    now = now or utcnow()
    since = now - timedelta(days=7)
    timeline = Timeline(session)
    states = timeline.states(now)
    posture = _measure(states, iso_week(now), now)
    new = fixed = 0
    for state in states:
        latest = max(s.finished_at for s in state.scans)
        if max(latest, state.seen_at) < since:
            continue
        before = timeline.state(state.key, since)
        previous = before.fingerprints if before else frozenset()
        new += len(state.fingerprints - previous)
        fixed += len(previous - state.fingerprints)
    return WeeklyDigest(
        week=posture.week,
        images=posture.images,
        passing=posture.passing,
        new_findings=new,
        fixed_findings=fixed,
        open_prs=len(open_pulls(session)),
        dashboard_url=dashboard_url,
    )
