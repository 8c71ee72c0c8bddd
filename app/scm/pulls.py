"""A fix plan becomes a pull request, or the existing one is kept right.

By the state of the branch's latest PR:

- none: a new PR, if the limits allow it;
- open: left alone for the same finding set; for a changed one, a new commit on the current
  base and a refreshed body, or, when someone else committed on the branch, a comment and
  no force-push;
- closed unmerged: the owners said no to this finding set, so it is ignored; a changed set
  reopens it with a new commit (or opens a new PR when GitHub cannot reopen it);
- merged: a comment on it when findings it fixed are still in the new image, and a new PR for
  whatever is left to fix.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

from github import GithubException
from github.PullRequest import PullRequest

from app.models import Finding, FixPlan, Report
from app.remediation.plan import BRANCH_PREFIX, PlanResult
from app.scm.github import GitHub, PullOutcome, RemoteTree, marker, read_marker
from app.scm.pr_text import body as pr_body
from app.scm.pr_text import merged_comment


def finding_set(findings: Iterable[Finding]) -> str:
    """The fingerprint of a finding set: the PR's identity across pushes and rescans."""
    digest = hashlib.sha256()
    for fingerprint in sorted({f.fingerprint for f in findings}):
        digest.update(fingerprint.encode())
    return digest.hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class Limits:
    created_last_hour: int  # PRs Tightship opened anywhere in the past hour (from the store)


def publish(
    host: GitHub,
    tree: RemoteTree,
    planned: PlanResult,
    report: Report,
    branch: str,
    limits: Limits,
) -> PullOutcome:
    plan = planned.plan
    fixed = frozenset(plan.rules) if plan else frozenset()
    findings = [f for f in report.findings if f.rule in fixed]
    fingerprint = finding_set(findings)
    pulls = host.pulls(tree, branch)
    latest = pulls[0] if pulls else None
    previous = read_marker(latest.body) if latest is not None else None
    if latest is not None and latest.merged:
        remaining = sorted({f.rule for f in report.findings} & (previous[1] if previous else set()))
        if remaining:
            host.call(latest.create_issue_comment, merged_comment(report, remaining))
        if plan is None:
            detail = f"PR #{latest.number} was merged"
            if remaining:
                detail += f"; {', '.join(remaining)} still found, said so on it"
            return PullOutcome(
                "commented" if remaining else "unchanged", detail, latest.number, latest.html_url
            )
        latest = None  # what is left to fix gets a new PR
    if plan is None:
        return PullOutcome("skipped", "; ".join(planned.notes) or "nothing to change")
    text = pr_body(report, planned, host.settings.labels) + "\n\n" + marker(fingerprint, fixed)
    if latest is not None and latest.state == "open":
        return _update(host, tree, plan, latest, text, fingerprint, previous)
    if latest is not None and previous is not None and previous[0] == fingerprint:
        return PullOutcome(
            "ignored",
            f"PR #{latest.number} was closed unmerged: this finding set stays ignored until "
            "it changes",
            latest.number,
            latest.html_url,
        )
    held = _held(host, tree, limits)
    if held:
        return PullOutcome("held", held)
    commit = host.push(tree, plan)
    if latest is not None:
        try:
            host.call(latest.edit, title=plan.title, body=text, state="open")
            return PullOutcome(
                "reopened",
                f"PR #{latest.number} reopened: the findings changed",
                latest.number,
                latest.html_url,
                commit,
            )
        except GithubException as exc:
            if exc.status != 422:  # GitHub cannot reopen it (its branch was re-created)
                raise
    pull = host.call(
        tree.repo.create_pull,
        base=tree.repo.default_branch,
        head=branch,
        title=plan.title,
        body=text,
    )
    if host.settings.labels:
        host.call(pull.add_to_labels, *host.settings.labels)
    return PullOutcome("created", f"PR #{pull.number} opened", pull.number, pull.html_url, commit)


def _update(
    host: GitHub,
    tree: RemoteTree,
    plan: FixPlan,
    pull: PullRequest,
    text: str,
    fingerprint: str,
    previous: tuple[str, frozenset[str]] | None,
) -> PullOutcome:
    if previous is not None and previous[0] == fingerprint:
        return PullOutcome(
            "unchanged", f"PR #{pull.number} already proposes this fix", pull.number, pull.html_url
        )
    head = host.call(tree.repo.get_git_ref, f"heads/{plan.branch}").object.sha
    others = host.others(tree.repo, head)
    if others:
        host.call(pull.edit, body=text)
        host.call(
            pull.create_issue_comment,
            "The findings for this image changed, but this branch has commits by "
            f"{others}, so Tightship will not force-push over them. The description above "
            "lists the current findings; apply the remaining changes here or close this PR "
            "to let Tightship open a fresh one.",
        )
        return PullOutcome(
            "refused",
            f"PR #{pull.number} has commits by {others}: commented",
            pull.number,
            pull.html_url,
        )
    commit = host.push(tree, plan)
    host.call(pull.edit, title=plan.title, body=text)
    return PullOutcome(
        "updated",
        f"PR #{pull.number} updated on the current base",
        pull.number,
        pull.html_url,
        commit,
    )


def _held(host: GitHub, tree: RemoteTree, limits: Limits) -> str | None:
    settings = host.settings
    if limits.created_last_hour >= settings.max_new_per_hour:
        return (
            f"held back: Tightship opened {limits.created_last_hour} PRs in the past hour "
            f"(limit {settings.max_new_per_hour})"
        )
    open_now = host.open_count(tree, BRANCH_PREFIX)
    if open_now >= settings.max_open_per_repository:
        return (
            f"held back: {tree.repo.full_name} has {open_now} open Tightship PRs "
            f"(limit {settings.max_open_per_repository})"
        )
    return None
