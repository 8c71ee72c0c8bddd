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
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from github import GithubException
from github.PullRequest import PullRequest

from app.models import Finding, FixPlan, Report
from app.remediation.plan import BRANCH_PREFIX, PlanResult
from app.scm.github import GitHub, Marker, PullOutcome, RemoteTree, read_marker, with_marker
from app.scm.pr_text import body as pr_body
from app.scm.pr_text import merged_comment
from app.store import history


def finding_set(findings: Iterable[Finding]) -> str:
    """The fingerprint of a finding set: the PR's identity across pushes and rescans. A finding
    counts by rule, path and evidence, not by layer: a rebuild moves every layer digest, and
    the same findings in new layers are the same findings."""
    digest = hashlib.sha256()
    for rule, path, evidence in sorted({history.key(f) for f in findings}):
        digest.update(f"{rule}\0{path}\0{evidence}\0".encode())
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
    fingerprint = finding_set(f for f in report.findings if f.rule in fixed)
    pulls = host.pulls(tree, branch)
    latest = pulls[0] if pulls else None
    previous = read_marker(latest.body) if latest is not None else None
    expected = previous.commit if previous else None
    if latest is not None and latest.merged:
        followed = _follow_up(host, latest, previous, report)
        if plan is None:
            return followed
        latest, expected = None, "merged"  # what is left to fix gets a new PR
    if plan is None:
        return PullOutcome("skipped", "; ".join(planned.notes) or "nothing to change")
    body = pr_body(report, planned)

    def text(commit: str | None) -> str:
        return with_marker(body, Marker(fingerprint, fixed, commit))

    if latest is not None and latest.state == "open":
        return _update(host, tree, plan, latest, text, fingerprint, previous)
    if latest is not None and (previous is None or previous.fingerprint == fingerprint):
        # Closed unmerged: the owners said no to this finding set. Without its marker (a
        # person edited it out) what they said no to is unknown, so it stays closed too.
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
    commit = host.push(tree, plan, expected)
    if latest is not None:
        try:
            host.call(latest.edit, title=plan.title, body=text(commit), state="open")
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
    try:
        pull = host.call(
            tree.repo.create_pull,
            base=tree.repo.default_branch,
            head=branch,
            title=plan.title,
            body=text(commit),
        )
    except GithubException as exc:
        # 422: a PR for the branch exists after all (an answer lost, then retried): use it.
        found = (
            [p for p in host.pulls(tree, branch) if p.state == "open"] if exc.status == 422 else []
        )
        if not found:
            raise
        pull = found[0]
        host.call(pull.edit, title=plan.title, body=text(commit))
    if host.settings.labels:
        host.call(pull.add_to_labels, *host.settings.labels)
    return PullOutcome("created", f"PR #{pull.number} opened", pull.number, pull.html_url, commit)


def _follow_up(
    host: GitHub, pull: PullRequest, previous: Marker | None, report: Report
) -> PullOutcome:
    """Tell a merged PR, once per finding set, that the image still has what it fixed."""
    rules = previous.rules if previous else frozenset()
    remaining = [f for f in report.findings if f.rule in rules]
    if not remaining:
        return PullOutcome("merged", f"PR #{pull.number} was merged", pull.number, pull.html_url)
    said = finding_set(remaining)
    if previous is not None and previous.followup == said:
        return PullOutcome(
            "merged",
            f"PR #{pull.number} was merged; still found, already said so on it",
            pull.number,
            pull.html_url,
        )
    names = sorted({f.rule for f in remaining})
    host.call(pull.create_issue_comment, merged_comment(report, names))
    if previous is not None:
        marked = Marker(previous.fingerprint, previous.rules, previous.commit, said)
        host.call(pull.edit, body=with_marker(pull.body, marked))
    return PullOutcome(
        "commented",
        f"PR #{pull.number} was merged; {', '.join(names)} still found, said so on it",
        pull.number,
        pull.html_url,
    )


def _update(
    host: GitHub,
    tree: RemoteTree,
    plan: FixPlan,
    pull: PullRequest,
    text: Callable[[str | None], str],
    fingerprint: str,
    previous: Marker | None,
) -> PullOutcome:
    if previous is not None and previous.fingerprint == fingerprint:
        return PullOutcome(
            "unchanged", f"PR #{pull.number} already proposes this fix", pull.number, pull.html_url
        )
    expected = previous.commit if previous else None
    head = host.call(tree.repo.get_git_ref, f"heads/{plan.branch}").object.sha
    others = host.others(tree.repo, head, expected)
    if others:
        host.call(pull.edit, body=text(expected))
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
    commit = host.push(tree, plan, expected)
    host.call(pull.edit, title=plan.title, body=text(commit))
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
