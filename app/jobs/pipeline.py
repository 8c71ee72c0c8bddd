"""One queued event through the pipeline: analysis → remediation → scm → notify.

The scan claim in the store is what makes this idempotent: whichever job claims a digest
first analyzes it, and every other event for that digest is closed as already analyzed.
Only failures worth retrying (the registry unreachable) propagate to the queue; the rest
are recorded where an operator can read them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from app import notify
from app.analysis import AnalysisError, analyze, resolve
from app.config import RegistrySettings, Settings
from app.models import FixPlan, Notice, PushEvent, Report
from app.registry import RegistryClient, RegistryError
from app.remediation import plan
from app.scm import LocalRepository, Refusal, ScmError, choose
from app.store import repo
from app.store.db import Database

log = logging.getLogger(__name__)
SCAN_LEASE = timedelta(minutes=15)


class ScanBusy(Exception):
    """Another job holds this digest's scan; try again later (its lease bounds the wait)."""


@dataclass(frozen=True, slots=True)
class FixOutcome:
    status: str  # created, updated, unchanged, refused, skipped, failed
    detail: str
    plan: FixPlan | None = None
    commit: str | None = None


def registry_client(registry: RegistrySettings) -> RegistryClient:
    auth = registry.auth
    return RegistryClient(
        registry.url,
        username=auth.username if auth else None,
        password=auth.password.get_secret_value() if auth else None,
        verify_tls=not registry.insecure,
    )


def process_event(settings: Settings, db: Database, event_id: int) -> None:
    with db.session() as session:
        event = repo.load_event(session, event_id)
    if event is None:
        return
    context = {"event": event_id, "image": event.image, "digest": event.digest}
    registry = settings.registry(event.registry)
    if registry is None:
        _finish(db, event_id, "failed", f"registry {event.registry!r} is no longer configured")
        return
    client = registry_client(registry)
    try:
        target = resolve(client, event.repository, event.digest or event.tag or "latest")
    except (AnalysisError, RegistryError) as exc:
        if _transient(exc):
            raise  # the queue retries
        _finish(db, event_id, "failed", str(exc))
        log.warning("image not analyzable", extra={**context, "reason": str(exc)})
        return
    digest = target.manifest.digest
    with db.session() as session:
        repo.set_tag(session, event, event.digest or digest)
        claim = repo.claim_scan(session, event, digest, SCAN_LEASE)
    if claim.status == "busy":
        raise ScanBusy(f"{digest} is being analyzed by another job")
    if claim.status == "done":
        _finish(db, event_id, "done", f"{digest}: already analyzed", claim.scan_id)
        return
    try:
        report = analyze(client, event.repository, target, _name(event), event.digest or digest)
    except Exception as exc:
        # Whatever went wrong, the claim must not stay "running": a retry re-claims a failed scan.
        permanent = isinstance(exc, AnalysisError | RegistryError) and not _transient(exc)
        with db.session() as session:
            repo.fail_scan(session, claim.scan_id, f"{type(exc).__name__}: {exc}")
            if permanent:
                repo.finish_event(session, event_id, "failed", str(exc), claim.scan_id)
        if permanent:
            return
        raise
    log.info(
        "image analyzed",
        extra={
            **context,
            "findings": len(report.findings),
            "builder": report.platforms[0].builder.kind,
        },
    )
    # The fix and the message come before the scan is marked done: if this process dies in
    # between, the retry redoes them (the branch update is idempotent) instead of skipping them.
    notice = remediate(settings, db, claim.scan_id, report, event)
    if report.findings:
        notify.send(settings, notice)
    with db.session() as session:
        repo.finish_scan(session, claim.scan_id, report)
        repo.finish_event(session, event_id, "done", None, claim.scan_id)


def remediate(
    settings: Settings, db: Database, scan_id: int, report: Report, event: PushEvent
) -> Notice:
    notice = Notice(reference=report.reference, digest=report.digest, findings=report.findings)
    if not report.findings:
        return notice
    try:
        outcome = _fix(settings, report, event)
    except Exception as exc:  # a broken fixer or git must not cost the findings or the message
        log.exception("remediation failed", extra={"scan": scan_id})
        outcome = FixOutcome("failed", f"internal error: {type(exc).__name__}")
    with db.session() as session:
        repo.record_fix(
            session, scan_id, outcome.status, outcome.detail, outcome.plan, outcome.commit
        )
    log.info(
        "remediation", extra={"scan": scan_id, "status": outcome.status, "detail": outcome.detail}
    )
    branch_plan = outcome.plan if outcome.commit else None  # a branch exists only with a commit
    return Notice(
        reference=report.reference,
        digest=report.digest,
        findings=report.findings,
        repository=branch_plan.repository if branch_plan else None,
        branch=branch_plan.branch if branch_plan else None,
        fix_status=outcome.status,
        fix_detail=outcome.detail,
    )


def _fix(settings: Settings, report: Report, event: PushEvent) -> FixOutcome:
    target = choose(settings.repositories, event.image, report.platforms[0].source)
    if isinstance(target, Refusal):
        return FixOutcome("refused", target.reason)
    try:
        checkout = LocalRepository(
            settings.repos_root,
            target.repository,
            settings.scm.author_name,
            settings.scm.author_email,
            settings.scm.local.base_branch,
        )
        fix_plan, notes = plan(
            report,
            checkout,
            target.repository,
            target.path,
            event.repository,
            settings.remediation.user,
        )
        if fix_plan is None:
            return FixOutcome("skipped", "; ".join(notes) or "nothing to change")
        outcome = checkout.apply(fix_plan)
    except ScmError as exc:
        return FixOutcome("failed", str(exc))
    if outcome.status == "refused":
        return FixOutcome("refused", outcome.detail, fix_plan)
    return FixOutcome(outcome.status, outcome.detail, fix_plan, outcome.commit)


def _transient(exc: Exception) -> bool:
    return isinstance(exc, RegistryError) and exc.transient


def _name(event: PushEvent) -> str:
    return f"{event.image}:{event.tag}" if event.tag else event.image


def _finish(
    db: Database, event_id: int, status: str, reason: str | None, scan_id: int | None = None
) -> None:
    with db.session() as session:
        repo.finish_event(session, event_id, status, reason, scan_id)
