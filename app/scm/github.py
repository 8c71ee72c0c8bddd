"""GitHub pull requests with PyGithub: one branch and one PR per (repository, image repository).

Identity lives on GitHub, not in a database: the branch is ``tightship/<image slug>`` and the
PR body carries a marker with the fingerprint of the finding set it answers. So a retried job
finds the PR it already opened (never a second one), an unchanged finding set leaves the PR
alone, a PR closed unmerged means "not this finding set", and a branch someone else has
committed to is never force-pushed (research/pr-and-chat.md §1.2: the complaints people have
about Dependabot and Renovate).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from fnmatch import fnmatchcase
from typing import Any, TypeVar

import requests
from github import Auth, Github, GithubException, GithubIntegration, InputGitTreeElement
from github.PullRequest import PullRequest
from github.Repository import Repository

from app.config import GitHubSettings
from app.models import FixPlan
from app.scm.local import ScmError, check_path

log = logging.getLogger(__name__)
T = TypeVar("T")
MARKER = re.compile(
    r"<!-- tightship:findings=(?P<fingerprint>[0-9a-f]{16}) rules=(?P<rules>[\w,-]*)"
    r"(?: commit=(?P<commit>[0-9a-f]{40,64}))?(?: followup=(?P<followup>[0-9a-f]{16}))? -->"
)
TRAILER = "Tightship-Fix"
# The only files Tightship writes: the ones its fixers own.
OWNED = (
    "pom.xml",
    "*.gradle",
    "*.gradle.kts",
    "project.toml",
    "Dockerfile",
    "Dockerfile.*",
    "*.Dockerfile",
    "*.dockerfile",
    ".dockerignore",
    "*.dockerignore",
    ".gcloudignore",
)
TOKEN_MARGIN = timedelta(minutes=5)


class GitHubError(ScmError):
    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient


@dataclass(frozen=True, slots=True)
class PullOutcome:
    status: str  # created, updated, unchanged, reopened, ignored, refused, held, commented
    detail: str
    number: int | None = None
    url: str | None = None
    commit: str | None = None


@dataclass(frozen=True, slots=True)
class Marker:
    """What a Tightship PR body records about itself, so no state is kept anywhere else: the
    finding set it answers, the rules it fixes, the one commit Tightship made on the branch
    (anything else at the head is someone else's), and the finding set last followed up on
    after a merge (so a merged PR is told once)."""

    fingerprint: str
    rules: frozenset[str]
    commit: str | None = None
    followup: str | None = None

    def render(self) -> str:
        parts = [f"findings={self.fingerprint}", f"rules={','.join(sorted(self.rules))}"]
        if self.commit:
            parts.append(f"commit={self.commit}")
        if self.followup:
            parts.append(f"followup={self.followup}")
        return f"<!-- tightship:{' '.join(parts)} -->"


def read_marker(body: str | None) -> Marker | None:
    match = MARKER.search(body or "")
    if match is None:
        return None
    rules = frozenset(r for r in match["rules"].split(",") if r)
    return Marker(match["fingerprint"], rules, match["commit"], match["followup"])


def with_marker(body: str | None, marker: Marker) -> str:
    """The body with its marker replaced (or added)."""
    text = MARKER.sub("", body or "").rstrip()
    return f"{text}\n\n{marker.render()}"


def owned(path: str) -> bool:
    name = path.rsplit("/", 1)[-1]
    return any(fnmatchcase(name, glob) for glob in OWNED)


def _seconds(retry_after: str, now: datetime) -> float:
    """Retry-After in seconds or as an HTTP date (both are allowed)."""
    try:
        return max(float(retry_after), 0.0)
    except ValueError:
        try:
            return max((parsedate_to_datetime(retry_after) - now).total_seconds(), 0.0)
        except (TypeError, ValueError):
            return 60.0


class RemoteTree:
    """A repository at one commit of its default branch, read through the API (cached)."""

    def __init__(self, host: GitHub, repo: Repository, base_sha: str) -> None:
        self.host = host
        self.repo = repo
        self.base_sha = base_sha
        self._texts: dict[str, str | None] = {}
        self._modes: dict[str, str] | None = None

    def _listing(self) -> dict[str, str]:
        if self._modes is None:
            commit = self.host.call(self.repo.get_git_commit, self.base_sha)
            tree = self.host.call(self.repo.get_git_tree, commit.tree.sha, recursive=True)
            self._modes = {e.path: e.mode for e in tree.tree if e.type == "blob"}
        return self._modes

    def paths(self) -> list[str]:
        return list(self._listing())

    def mode(self, path: str) -> str:
        return self._listing().get(path, "100644")

    def read(self, path: str) -> str | None:
        if path not in self._texts:
            self._texts[path] = self._fetch(path)
        return self._texts[path]

    def _fetch(self, path: str) -> str | None:
        if path not in self._listing():
            return None
        try:
            content = self.host.call(self.repo.get_contents, path, ref=self.base_sha)
        except GithubException as exc:
            if exc.status == 404:
                return None
            raise
        if isinstance(content, list):
            return None
        try:
            return content.decoded_content.decode("utf-8")
        except (UnicodeDecodeError, AssertionError):
            return None


class GitHub:
    """One per process: clients and installation tokens are cached, writes are serialized."""

    def __init__(
        self,
        settings: GitHubSettings,
        *,
        sleep: Callable[[float], None] = time.sleep,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.settings = settings
        self.sleep = sleep
        self.now = now
        self._clients: dict[str, Github] = {}
        self._tokens: dict[str, tuple[str, datetime]] = {}  # owner → installation token
        self._lock = threading.Lock()

    # --- calls ------------------------------------------------------------------------

    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``fn(...)`` with GitHub's limits honoured: waits for Retry-After or the rate-limit
        reset when that is short, retries 5xx with backoff, and otherwise raises a transient
        error so the queue tries the job again later."""
        attempts = 4
        for attempt in range(attempts):
            try:
                return fn(*args, **kwargs)
            except GithubException as exc:
                wait = self._wait(exc, attempt)
                if wait is None:
                    raise
                if wait > self.settings.max_wait or attempt == attempts - 1:
                    raise GitHubError(
                        f"GitHub answered {exc.status}; retrying later", transient=True
                    ) from None
                log.warning("github wait", extra={"status": exc.status, "seconds": wait})
                self.sleep(wait)
            except requests.RequestException as exc:
                if attempt == attempts - 1:
                    raise GitHubError(
                        f"GitHub unreachable: {type(exc).__name__}", transient=True
                    ) from None
                self.sleep(2.0**attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    def _wait(self, exc: GithubException, attempt: int) -> float | None:
        headers = {k.lower(): v for k, v in (exc.headers or {}).items()}
        if exc.status in (403, 429):
            if "retry-after" in headers:
                return _seconds(headers["retry-after"], self.now())
            if headers.get("x-ratelimit-remaining") == "0" and "x-ratelimit-reset" in headers:
                return max(float(headers["x-ratelimit-reset"]) - self.now().timestamp(), 0.0) + 1
            return None
        if exc.status >= 500:
            return float(2**attempt)
        return None

    # --- clients ----------------------------------------------------------------------

    def client(self, repository: str) -> Github:
        settings = self.settings
        if settings.app is None:
            key = "token" if settings.token else "anonymous"
            if key not in self._clients:
                auth = Auth.Token(settings.token.get_secret_value()) if settings.token else None
                self._clients[key] = self._github(auth)
            return self._clients[key]
        owner = repository.split("/", 1)[0]
        token, expires = self._tokens.get(owner, ("", self.now()))
        if not token or expires - TOKEN_MARGIN <= self.now():
            token, expires = self._installation_token(owner, repository.split("/", 1)[1])
            self._tokens[owner] = (token, expires)
        if token not in self._clients:
            self._clients = {k: v for k, v in self._clients.items() if k in self._live_tokens()}
            self._clients[token] = self._github(Auth.Token(token))
        return self._clients[token]

    def _live_tokens(self) -> set[str]:
        return {token for token, _ in self._tokens.values()}

    def _installation_token(self, owner: str, name: str) -> tuple[str, datetime]:
        app = self.settings.app
        assert app is not None  # noqa: S101 (only called for app auth)
        integration = GithubIntegration(
            auth=Auth.AppAuth(app.id, app.key()),
            base_url=self.settings.base_url,
            seconds_between_requests=None,
            seconds_between_writes=None,
        )
        installation = self.call(integration.get_repo_installation, owner, name)
        access = self.call(integration.get_access_token, installation.id)
        expires = access.expires_at
        if expires.tzinfo is None:
            expires = expires.replace(tzinfo=UTC)
        return access.token, expires

    def _github(self, auth: Auth.Auth | None) -> Github:
        return Github(
            auth=auth,
            base_url=self.settings.base_url,
            retry=None,  # call() decides about retries
            seconds_between_requests=None,
            seconds_between_writes=self.settings.write_interval or None,
        )

    # --- the lifecycle ------------------------------------------------------------------

    def checkout(self, repository: str) -> RemoteTree:
        """The repository at its default branch's head, which the plan is computed against."""
        repo = self.call(self.client(repository).get_repo, repository)
        ref = self.call(repo.get_git_ref, f"heads/{repo.default_branch}")
        return RemoteTree(self, repo, ref.object.sha)

    def pulls(self, tree: RemoteTree, branch: str) -> list[PullRequest]:
        owner = tree.repo.full_name.split("/", 1)[0]
        found = self.call(lambda: list(tree.repo.get_pulls(state="all", head=f"{owner}:{branch}")))
        return sorted(found, key=lambda p: p.number, reverse=True)

    def open_count(self, tree: RemoteTree, prefix: str) -> int:
        found = self.call(lambda: list(tree.repo.get_pulls(state="open")))
        return sum(1 for p in found if p.head.ref.startswith(prefix))

    def push(self, tree: RemoteTree, plan: FixPlan, expected: str | None = None) -> str:
        """One commit with every edited file on the base, and the branch moved onto it.

        ``expected``: the commit Tightship last made on the branch (from the PR's marker);
        any other head is someone else's work and is never overwritten. ``"merged"``: the
        branch's work is in the base already, so it may be moved whoever committed there.
        """
        for edit in plan.edits:
            check_path(edit.path)
            if not owned(edit.path):
                raise GitHubError(f"refusing to write {edit.path}: not a build file Tightship owns")
        repo = tree.repo
        with self._lock:  # content-creating calls one at a time in this process
            base = self.call(repo.get_git_commit, tree.base_sha)
            elements = []
            for edit in plan.edits:
                blob = self.call(repo.create_git_blob, edit.new, "utf-8")
                elements.append(
                    InputGitTreeElement(edit.path, tree.mode(edit.path), "blob", sha=blob.sha)
                )
            new_tree = self.call(repo.create_git_tree, elements, base.tree)
            message = f"{plan.title}\n\n{TRAILER}: {plan.fingerprint}\n"
            commit = self.call(repo.create_git_commit, message, new_tree, [base])
            self._move_branch(repo, plan.branch, commit.sha, expected)
        return commit.sha

    def _move_branch(self, repo: Repository, branch: str, sha: str, expected: str | None) -> None:
        try:
            ref = self.call(repo.get_git_ref, f"heads/{branch}")
        except GithubException as exc:
            if exc.status != 404:
                raise
            try:
                self.call(repo.create_git_ref, f"refs/heads/{branch}", sha)
                return
            except GithubException as again:
                if again.status != 422:  # 422: it exists after all (a lost answer retried)
                    raise
                ref = self.call(repo.get_git_ref, f"heads/{branch}")
        head = ref.object.sha
        if expected != "merged" and head != sha:
            others = self.others(repo, head, expected)
            if others:
                raise GitHubError(f"{branch} has commits by others ({others}); not force-pushing")
        self.call(ref.edit, sha, force=True)

    def others(self, repo: Repository, head: str, expected: str | None = None) -> str:
        """Who else committed on a Tightship branch ('' when the head is Tightship's commit).

        With the commit the PR's marker records, only that exact commit is Tightship's (an
        amended one keeps the message but not the hash); without it (a branch left by an
        interrupted job), the head must carry Tightship's trailer on one parent.
        """
        if expected is not None:
            if head == expected:
                return ""
        else:
            commit = self.call(repo.get_git_commit, head)
            if f"\n{TRAILER}: " in commit.message and len(commit.parents) == 1:
                return ""
        commit = self.call(repo.get_git_commit, head)
        return commit.author.name or commit.author.email or "someone"
