"""One queued event through the pipeline: analysis → remediation → scm → notify.

Each platform image is claimed in the store before it is analyzed, which is what makes this
idempotent: whichever job claims a platform manifest's digest first analyzes it, and every
other event naming it (the index, a re-push) finds it already analyzed.
Only failures worth retrying (the registry unreachable) propagate to the queue; the rest
are recorded where an operator can read them.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, replace
from datetime import timedelta

from github import GithubException

from app import metrics, notify
from app.analysis import AnalysisError, Analyzer, NotAnImage, Target
from app.config import RegistrySettings, Settings
from app.models import Finding, FixPlan, Notice, PushEvent, Report
from app.registry import RegistryClient, RegistryError, RepositorySource
from app.remediation import plan
from app.remediation.base import SourceTree
from app.remediation.diff import unified
from app.remediation.plan import BRANCH_PREFIX, PlanResult, branch_for
from app.scm import LocalRepository, Refusal, RepoTarget, ScmError, choose
from app.scm.github import GitHub, GitHubError
from app.scm.pulls import Limits, publish
from app.store import history, repo
from app.store.cache import StoreFactsCache
from app.store.db import Database
from app.store.schema import utcnow

log = logging.getLogger(__name__)


class ScanBusy(Exception):
    """Another job holds this digest's scan; try again later (its lease bounds the wait)."""


@dataclass(frozen=True, slots=True)
class FixOutcome:
    # created, updated, unchanged, reopened, ignored, held, commented, planned, refused,
    # skipped, failed
    status: str
    detail: str
    plan: FixPlan | None = None
    commit: str | None = None
    pull_number: int | None = None
    pull_url: str | None = None


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
    analyzer = Analyzer(
        RepositorySource(registry_client(registry), event.repository),
        cache=StoreFactsCache(db),
        ignores=settings.analysis.ignores(),
    )
    try:
        top, targets = analyzer.targets(event.digest or event.tag or "latest")
    except NotAnImage as exc:
        _finish(db, event_id, "ignored", str(exc))
        return
    except (AnalysisError, RegistryError) as exc:
        if _transient(exc):
            raise  # the queue retries
        _finish(db, event_id, "failed", str(exc))
        log.warning("image not analyzable", extra={**context, "reason": str(exc)})
        return
    with db.session() as session:
        repo.set_tag(session, event, event.digest or top.digest)
        if event.digest is None:  # a tag-only sender (Docker Hub, Quay): record what it resolved to
            repo.resolve_event_digest(session, event_id, top.digest)
    busy, before, last_scan = [], [], None
    analyzer.warm_up(t.manifest for t in targets)
    try:
        for target in targets:
            outcome = _scan_platform(settings, db, analyzer, event, event_id, target, top.digest)
            if outcome is None:
                return  # the event was closed as failed
            if outcome[0] == "busy":
                busy.append(target.manifest.digest)
                continue
            if outcome[0] == "done":
                before.append(target.manifest.digest)
            last_scan = outcome[1]
    finally:
        analyzer.close()
    if busy:
        raise ScanBusy(f"{', '.join(busy)} being analyzed by another job")
    reason = "; ".join(f"{digest}: already analyzed" for digest in before) or None
    _finish(db, event_id, "done", reason, last_scan)
    log.info(
        "event processed",
        extra={**context, "platforms": len(targets), "blob_bytes": analyzer.stats.blob_bytes},
    )


def _scan_platform(
    settings: Settings,
    db: Database,
    analyzer: Analyzer,
    event: PushEvent,
    event_id: int,
    target: Target,
    pushed_digest: str,
) -> tuple[str, int] | None:
    """Analyze one platform image once: (claim status, scan id), or None if the event failed."""
    digest = target.manifest.digest
    with db.session() as session:
        claim = repo.claim_scan(session, event, digest, _lease(settings))
    if claim.status != "claimed":
        return claim.status, claim.scan_id
    with _Heartbeat(db, claim.scan_id, _lease(settings)):
        return _analyze_claimed(
            settings, db, analyzer, event, event_id, target, pushed_digest, claim.scan_id
        )


def _lease(settings: Settings) -> timedelta:
    return timedelta(seconds=settings.jobs.lease_seconds)


class _Heartbeat:
    """Renews a scan's lease while it runs, so that only a dead worker's lease runs out."""

    def __init__(self, db: Database, scan_id: int, lease: timedelta) -> None:
        self.db, self.scan_id, self.lease = db, scan_id, lease
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"lease-{scan_id}", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.lease.total_seconds() / 3):
            try:
                with self.db.session() as session:
                    if not repo.renew_lease(session, self.scan_id, self.lease):
                        return
            except Exception:  # a store hiccup: the next beat tries again
                log.warning("lease renewal failed", extra={"scan": self.scan_id})

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def _analyze_claimed(
    settings: Settings,
    db: Database,
    analyzer: Analyzer,
    event: PushEvent,
    event_id: int,
    target: Target,
    pushed_digest: str,
    scan_id: int,
) -> tuple[str, int] | None:
    digest = target.manifest.digest
    started = time.perf_counter()
    try:
        platform = analyzer.analyze(target)
    except Exception as exc:
        # Whatever went wrong, the claim must not stay "running": a retry re-claims a failed scan.
        permanent = isinstance(exc, AnalysisError | RegistryError) and not _transient(exc)
        with db.session() as session:
            repo.fail_scan(session, scan_id, f"{type(exc).__name__}: {exc}")
            if permanent:
                repo.finish_event(session, event_id, "failed", str(exc), scan_id)
        if permanent:
            return None
        raise
    metrics.scan_seconds(time.perf_counter() - started)
    report = Report(reference=_name(event), digest=pushed_digest, platforms=(platform,))
    log.info(
        "image analyzed",
        extra={
            "event": event_id,
            "image": event.image,
            "digest": digest,
            "platform": platform.platform,
            "findings": len(report.findings),
            "builder": platform.builder.kind,
        },
    )
    # The fix and the message come before the scan is marked done: if this process dies in
    # between, the retry redoes them (the branch update is idempotent) instead of skipping them.
    try:
        notice = remediate(settings, db, scan_id, report, event)
    except GitHubError as exc:  # transient: let a retry re-claim the scan and publish again
        with db.session() as session:
            repo.fail_scan(session, scan_id, str(exc))
        raise
    notify.send(settings, notice)  # to the channels that want it; says nothing if nothing changed
    with db.session() as session:
        repo.finish_scan(session, scan_id, report)
    return "claimed", scan_id


def remediate(
    settings: Settings,
    db: Database,
    scan_id: int,
    report: Report,
    event: PushEvent,
    previous: tuple[Finding, ...] | None = None,
) -> Notice:
    """Fix what can be fixed, and say what chat should hear: the findings new and gone since
    the tag's previous scan (or since ``previous``, a rescan's findings before), and whether
    a fix branch or PR changed."""
    with db.session() as session:
        change = history.change(
            session,
            event.registry,
            event.repository,
            event.tag,
            report.digest,
            scan_id,
            report.findings,
            previous,
        )
    notice = Notice(
        reference=report.reference,
        digest=report.digest,
        findings=report.findings,
        events=_events(change, None),
        new=None if change.first else change.new,
        fixed=change.fixed,
        registry=event.registry,
        image=event.image,
        dashboard_url=settings.api.public_url,
    )
    if not report.findings:
        return notice
    try:
        outcome = _fix(settings, db, report, event)
    except GitHubError as exc:
        if exc.transient:
            raise  # the queue retries the job; GitHub's PR lookup keeps it to one PR
        outcome = FixOutcome("failed", str(exc))
    except Exception as exc:  # a broken fixer or git must not cost the findings or the message
        log.exception("remediation failed", extra={"scan": scan_id})
        outcome = FixOutcome("failed", f"internal error: {type(exc).__name__}")
    with db.session() as session:
        repo.record_fix(
            session,
            scan_id,
            outcome.status,
            outcome.detail,
            outcome.plan,
            outcome.commit,
            outcome.pull_number,
            outcome.pull_url,
        )
    metrics.pr(outcome.status)
    log.info(
        "remediation", extra={"scan": scan_id, "status": outcome.status, "detail": outcome.detail}
    )
    branch_plan = outcome.plan if outcome.commit else None  # a branch exists only with a commit
    return replace(
        notice,
        events=_events(change, outcome.status),
        repository=branch_plan.repository if branch_plan else None,
        branch=branch_plan.branch if branch_plan else None,
        fix_status=outcome.status,
        fix_detail=outcome.detail,
        pull_url=outcome.pull_url,
    )


# Fix statuses a "pr" channel hears about; "held" too: a limit never holds a PR back silently.
PR_CHANGES = ("created", "updated", "reopened", "held")


def _events(change: history.Change, fix_status: str | None) -> tuple[str, ...]:
    happened = {
        "findings": bool(change.new),
        "pr": fix_status in PR_CHANGES,
        "fixed": bool(change.fixed),
    }
    return tuple(event for event, yes in happened.items() if yes)


def _fix(settings: Settings, db: Database, report: Report, event: PushEvent) -> FixOutcome:
    mode = settings.scm.effective_mode
    if mode == "report":
        return FixOutcome("skipped", "scm.mode is report: findings only")
    target = choose(settings.repositories, event.image, report.platforms[0].source)
    if isinstance(target, Refusal):
        return FixOutcome("refused", target.reason)
    if settings.scm.provider == "github":
        return _fix_on_github(settings, db, report, event, target, mode)
    try:
        checkout = LocalRepository(
            settings.repos_root,
            target.repository,
            settings.scm.author_name,
            settings.scm.author_email,
            settings.scm.local.base_branch,
        )
        planned = _plan(settings, report, checkout, target, event)
        if planned.plan is None:
            return FixOutcome("skipped", _why_nothing(planned))
        if mode == "plan":
            return _write_plan(settings, planned.plan)
        outcome = checkout.apply(planned.plan)
    except ScmError as exc:
        return FixOutcome("failed", str(exc))
    if outcome.status == "refused":
        return FixOutcome("refused", outcome.detail, planned.plan)
    return FixOutcome(outcome.status, outcome.detail, planned.plan, outcome.commit)


def _fix_on_github(
    settings: Settings,
    db: Database,
    report: Report,
    event: PushEvent,
    target: RepoTarget,
    mode: str,
) -> FixOutcome:
    host = github_host(settings)
    try:
        tree = host.checkout(target.repository)
        planned = _plan(settings, report, tree, target, event)
        if mode == "plan":
            if planned.plan is None:
                return FixOutcome("skipped", _why_nothing(planned))
            return _write_plan(settings, planned.plan)
        with db.session() as session:
            created = repo.pulls_created_since(session, utcnow() - timedelta(hours=1))
        outcome = publish(
            host, tree, planned, report, branch_for(event.repository), Limits(created)
        )
    except GitHubError as exc:
        if exc.transient:
            raise
        return FixOutcome("failed", str(exc))
    except GithubException as exc:
        if exc.status >= 500:
            raise GitHubError(f"GitHub answered {exc.status}", transient=True) from None
        return FixOutcome("failed", f"GitHub answered {exc.status}: {_message(exc)}")
    if outcome.status == "held":
        log.warning(
            "pull request held back",
            extra={"repository": target.repository, "detail": outcome.detail},
        )
    return FixOutcome(
        outcome.status, outcome.detail, planned.plan, outcome.commit, outcome.number, outcome.url
    )


def _message(exc: GithubException) -> str:
    data = exc.data if isinstance(exc.data, dict) else {}
    return str(data.get("message") or "")[:200]


_HOSTS: dict[int, GitHub] = {}


def github_host(settings: Settings) -> GitHub:
    """One GitHub client per configuration in a process: tokens and write pacing are shared.

    Keyed by the settings object's id: the host holds that object, so the id cannot be
    reused by another configuration while the entry exists."""
    key = id(settings.scm.github)
    if key not in _HOSTS:
        _HOSTS[key] = GitHub(settings.scm.github)
    return _HOSTS[key]


def _plan(
    settings: Settings, report: Report, tree: SourceTree, target: RepoTarget, event: PushEvent
) -> PlanResult:
    return plan(
        report,
        tree,
        target.repository,
        target.path,
        event.repository,
        settings.remediation.user,
        settings.remediation.bases,
    )


def _why_nothing(planned: PlanResult) -> str:
    reasons = planned.notes or tuple(d.detail for d in planned.decisions if not d.done)
    return "; ".join(reasons) or "nothing to change"


def _write_plan(settings: Settings, fix_plan: FixPlan) -> FixOutcome:
    """Plan mode: the plan and its diff under the data dir, for a person to read and apply."""
    folder = settings.data_dir / "plans" / fix_plan.repository
    folder.mkdir(parents=True, exist_ok=True)
    name = fix_plan.branch.removeprefix(BRANCH_PREFIX)
    (folder / f"{name}.diff").write_text(unified(fix_plan.edits), encoding="utf-8")
    (folder / f"{name}.md").write_text(f"# {fix_plan.title}\n\n{fix_plan.body}\n", encoding="utf-8")
    return FixOutcome("planned", f"fix plan written to {folder / name}.diff", fix_plan)


def _transient(exc: Exception) -> bool:
    return isinstance(exc, RegistryError) and exc.transient


def _name(event: PushEvent) -> str:
    return f"{event.image}:{event.tag}" if event.tag else event.image


def _finish(
    db: Database, event_id: int, status: str, reason: str | None, scan_id: int | None = None
) -> None:
    with db.session() as session:
        repo.finish_event(session, event_id, status, reason, scan_id)
