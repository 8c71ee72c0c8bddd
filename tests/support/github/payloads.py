"""JSON bodies in GitHub's shapes, built from the model.

Each builder fills every field its schema lists as `required` (the server validates its own
responses, so a missing field fails the test that caused it). URLs point back at the fake server
because PyGithub follows them: `GitRef.edit()` PATCHes the ref's `url`, `add_to_labels()` POSTs
to the pull request's `issue_url`, and lazy attributes are completed by GETting `url`.
"""

from __future__ import annotations

import base64
import difflib
from datetime import datetime, timedelta
from typing import Any

from tests.support.github.model import (
    Account,
    Comment,
    Commit,
    Installation,
    Label,
    Leaf,
    Pull,
    Repo,
    iso,
    utcnow,
)

# `*_url` fields of a repository, as suffixes of its API URL (URI templates included, as GitHub).
REPO_URLS = {
    "archive_url": "/{archive_format}{/ref}",
    "assignees_url": "/assignees{/user}",
    "blobs_url": "/git/blobs{/sha}",
    "branches_url": "/branches{/branch}",
    "collaborators_url": "/collaborators{/collaborator}",
    "comments_url": "/comments{/number}",
    "commits_url": "/commits{/sha}",
    "compare_url": "/compare/{base}...{head}",
    "contents_url": "/contents/{+path}",
    "contributors_url": "/contributors",
    "deployments_url": "/deployments",
    "downloads_url": "/downloads",
    "events_url": "/events",
    "forks_url": "/forks",
    "git_commits_url": "/git/commits{/sha}",
    "git_refs_url": "/git/refs{/sha}",
    "git_tags_url": "/git/tags{/sha}",
    "hooks_url": "/hooks",
    "issue_comment_url": "/issues/comments{/number}",
    "issue_events_url": "/issues/events{/number}",
    "issues_url": "/issues{/number}",
    "keys_url": "/keys{/key_id}",
    "labels_url": "/labels{/name}",
    "languages_url": "/languages",
    "merges_url": "/merges",
    "milestones_url": "/milestones{/number}",
    "notifications_url": "/notifications{?since,all,participating}",
    "pulls_url": "/pulls{/number}",
    "releases_url": "/releases{/id}",
    "stargazers_url": "/stargazers",
    "statuses_url": "/statuses/{sha}",
    "subscribers_url": "/subscribers",
    "subscription_url": "/subscription",
    "tags_url": "/tags",
    "teams_url": "/teams",
    "trees_url": "/git/trees{/sha}",
}
USER_URLS = {
    "followers_url": "/followers",
    "following_url": "/following{/other_user}",
    "gists_url": "/gists{/gist_id}",
    "starred_url": "/starred{/owner}{/repo}",
    "subscriptions_url": "/subscriptions",
    "organizations_url": "/orgs",
    "repos_url": "/repos",
    "events_url": "/events{/privacy}",
    "received_events_url": "/received_events",
}
DOCS = "https://docs.github.com/rest"


def node_id(kind: str, number: int | str) -> str:
    return base64.b64encode(f"{kind}:{number}".encode()).decode()


def error(message: str, **extra: Any) -> dict[str, Any]:
    """GitHub's error body (`basic-error`, or `validation-error` with `errors`)."""
    return {"message": message, "documentation_url": DOCS, **extra}


class Shapes:
    """Builders for one server: `base` is its API root, e.g. `http://127.0.0.1:5123`."""

    def __init__(self, base: str) -> None:
        self.base = base

    def repo_url(self, repo: Repo) -> str:
        return f"{self.base}/repos/{repo.full_name}"

    def html(self, repo: Repo) -> str:
        return f"{self.base}/{repo.full_name}"

    def user(self, account: Account) -> dict[str, Any]:
        url = f"{self.base}/users/{account.login}"
        return {
            "login": account.login,
            "id": account.id,
            "node_id": node_id("User", account.id),
            "avatar_url": f"{self.base}/avatars/u/{account.id}",
            "gravatar_id": "",
            "url": url,
            "html_url": f"{self.base}/{account.login}",
            **{name: url + suffix for name, suffix in USER_URLS.items()},
            "type": account.type,
            "site_admin": False,
            "user_view_type": "public",
        }

    def repository(self, repo: Repo) -> dict[str, Any]:
        """Fits both `repository` and `full-repository` (the union of their required fields)."""
        url, html = self.repo_url(repo), self.html(repo)
        host = self.base.split("://", 1)[1]
        created = iso(repo.created_at)
        return {
            "id": repo.id,
            "node_id": node_id("Repository", repo.id),
            "name": repo.name,
            "full_name": repo.full_name,
            "owner": self.user(repo.owner),
            "private": repo.private,
            "visibility": "private" if repo.private else "public",
            "html_url": html,
            "description": None,
            "fork": False,
            "url": url,
            **{name: url + suffix for name, suffix in REPO_URLS.items()},
            "git_url": f"git://{host}/{repo.full_name}.git",
            "ssh_url": f"git@{host}:{repo.full_name}.git",
            "clone_url": f"{html}.git",
            "svn_url": html,
            "mirror_url": None,
            "homepage": None,
            "language": None,
            "size": 0,
            "default_branch": repo.default_branch,
            "forks": 0,
            "forks_count": 0,
            "stargazers_count": 0,
            "watchers": 0,
            "watchers_count": 0,
            "open_issues": sum(p.state == "open" for p in repo.pulls.values()),
            "open_issues_count": sum(p.state == "open" for p in repo.pulls.values()),
            "network_count": 0,
            "subscribers_count": 0,
            "has_issues": True,
            "has_projects": True,
            "has_wiki": True,
            "has_pages": False,
            "has_downloads": True,
            "has_discussions": False,
            "archived": False,
            "disabled": False,
            "license": None,
            "topics": [],
            "pushed_at": created,
            "created_at": created,
            "updated_at": created,
        }

    def git_ref(self, repo: Repo, ref: str) -> dict[str, Any]:
        sha = repo.refs[ref]
        return {
            "ref": ref,
            "node_id": node_id("Ref", f"{repo.id}:{ref}"),
            "url": f"{self.repo_url(repo)}/git/{ref}",
            "object": {
                "type": "commit",
                "sha": sha,
                "url": f"{self.repo_url(repo)}/git/commits/{sha}",
            },
        }

    def git_commit(self, repo: Repo, sha: str) -> dict[str, Any]:
        commit = repo.commit(sha)
        url = self.repo_url(repo)
        return {
            "sha": sha,
            "node_id": node_id("Commit", sha),
            "url": f"{url}/git/commits/{sha}",
            "html_url": f"{self.html(repo)}/commit/{sha}",
            "author": _person(commit.author),
            "committer": _person(commit.committer),
            "message": commit.message,
            "tree": {"sha": commit.tree, "url": f"{url}/git/trees/{commit.tree}"},
            "parents": [
                {
                    "sha": parent,
                    "url": f"{url}/git/commits/{parent}",
                    "html_url": f"{self.html(repo)}/commit/{parent}",
                }
                for parent in commit.parents
            ],
            "verification": _verification(commit),
        }

    def commit(self, repo: Repo, sha: str) -> dict[str, Any]:
        """The `commit` schema (the REST commits API view), as embedded in a branch."""
        git = self.git_commit(repo, sha)
        url = f"{self.repo_url(repo)}/commits/{sha}"
        return {
            "sha": sha,
            "node_id": git["node_id"],
            "url": url,
            "html_url": git["html_url"],
            "comments_url": f"{url}/comments",
            "commit": {
                "url": git["url"],
                "author": git["author"],
                "committer": git["committer"],
                "message": git["message"],
                "comment_count": 0,
                "tree": git["tree"],
                "verification": git["verification"],
            },
            "author": None,
            "committer": None,
            "parents": git["parents"],
        }

    def branch(self, repo: Repo, name: str) -> dict[str, Any]:
        url = f"{self.repo_url(repo)}/branches/{name}"
        return {
            "name": name,
            "commit": self.commit(repo, repo.refs[f"refs/heads/{name}"]),
            "_links": {"self": url, "html": f"{self.html(repo)}/tree/{name}"},
            "protected": False,
            "protection": {"enabled": False},
            "protection_url": f"{url}/protection",
        }

    def tree(self, repo: Repo, sha: str, recursive: bool) -> dict[str, Any]:
        url = self.repo_url(repo)
        entries = []
        for path, leaf in repo.walk(sha, recursive):
            entry: dict[str, Any] = {
                "path": path,
                "mode": leaf.mode,
                "type": leaf.type,
                "sha": leaf.sha,
            }
            if leaf.type == "blob":
                entry |= {"size": len(repo.read(leaf)), "url": f"{url}/git/blobs/{leaf.sha}"}
            elif leaf.type == "tree":
                entry["url"] = f"{url}/git/trees/{leaf.sha}"
            entries.append(entry)
        return {"sha": sha, "url": f"{url}/git/trees/{sha}", "tree": entries, "truncated": False}

    def blob(self, repo: Repo, sha: str) -> dict[str, Any]:
        return {"sha": sha, "url": f"{self.repo_url(repo)}/git/blobs/{sha}"}

    def content_entry(self, repo: Repo, path: str, leaf: Leaf, ref: str) -> dict[str, Any]:
        """A file or directory as the contents API lists it (no `content`)."""
        kind = {"blob": "file", "tree": "dir", "commit": "submodule"}[leaf.type]
        url = f"{self.repo_url(repo)}/contents/{path}?ref={ref}"
        git_url = f"{self.repo_url(repo)}/git/{leaf.type}s/{leaf.sha}"
        html_url = f"{self.html(repo)}/{'blob' if kind == 'file' else 'tree'}/{ref}/{path}"
        download = f"{self.base}/raw/{repo.full_name}/{ref}/{path}" if kind == "file" else None
        return {
            "type": kind,
            "name": path.rsplit("/", 1)[-1],
            "path": path,
            "sha": leaf.sha,
            "size": len(repo.read(leaf)) if kind == "file" else 0,
            "url": url,
            "git_url": git_url,
            "html_url": html_url,
            "download_url": download,
            "_links": {"self": url, "git": git_url, "html": html_url},
        }

    def content_file(self, repo: Repo, path: str, leaf: Leaf, ref: str) -> dict[str, Any]:
        data = base64.encodebytes(repo.read(leaf)).decode()
        return self.content_entry(repo, path, leaf, ref) | {"content": data, "encoding": "base64"}

    def file_commit(self, repo: Repo, path: str, sha: str, branch: str) -> dict[str, Any]:
        leaf = repo.files(sha).get(path)
        git = self.git_commit(repo, sha)
        return {
            "content": None if leaf is None else self.content_entry(repo, path, leaf, branch),
            "commit": git,
        }

    def label(self, repo: Repo, label: Label) -> dict[str, Any]:
        return {
            "id": label.id,
            "node_id": node_id("Label", label.id),
            "url": f"{self.repo_url(repo)}/labels/{label.name}",
            "name": label.name,
            "description": label.description,
            "color": label.color,
            "default": False,
        }

    def comment(self, repo: Repo, pull: Pull, comment: Comment) -> dict[str, Any]:
        url = self.repo_url(repo)
        return {
            "id": comment.id,
            "node_id": node_id("IssueComment", comment.id),
            "url": f"{url}/issues/comments/{comment.id}",
            "html_url": f"{self.html(repo)}/pull/{pull.number}#issuecomment-{comment.id}",
            "issue_url": f"{url}/issues/{pull.number}",
            "body": comment.body,
            "user": self.user(comment.user),
            "author_association": "OWNER" if comment.user is repo.owner else "NONE",
            "created_at": iso(comment.created_at),
            "updated_at": iso(comment.created_at),
        }

    def pull(self, repo: Repo, pull: Pull, full: bool = True) -> dict[str, Any]:
        """`pull-request` (get/create/update), or `pull-request-simple` (list) when not full."""
        url = self.repo_url(repo)
        html = f"{self.html(repo)}/pull/{pull.number}"
        head_sha = head_of(repo, pull)
        base_sha = repo.refs.get(f"refs/heads/{pull.base}", head_sha)
        links = {
            "self": f"{url}/pulls/{pull.number}",
            "html": html,
            "issue": f"{url}/issues/{pull.number}",
            "comments": f"{url}/issues/{pull.number}/comments",
            "review_comments": f"{url}/pulls/{pull.number}/comments",
            "review_comment": f"{url}/pulls/comments{{/number}}",
            "commits": f"{url}/pulls/{pull.number}/commits",
            "statuses": f"{url}/statuses/{head_sha}",
        }
        body: dict[str, Any] = {
            "url": links["self"],
            "id": pull.id,
            "node_id": node_id("PullRequest", pull.id),
            "html_url": html,
            "diff_url": f"{html}.diff",
            "patch_url": f"{html}.patch",
            "issue_url": links["issue"],
            "commits_url": links["commits"],
            "review_comments_url": links["review_comments"],
            "review_comment_url": links["review_comment"],
            "comments_url": links["comments"],
            "statuses_url": links["statuses"],
            "number": pull.number,
            "state": pull.state,
            "locked": False,
            "title": pull.title,
            "user": self.user(pull.user),
            "body": pull.body,
            # pull-request(-simple) documents a label's description as a (non-null) string
            "labels": [
                {
                    **self.label(repo, repo.labels[n]),
                    "description": repo.labels[n].description or "",
                }
                for n in pull.labels
            ],
            "milestone": None,
            "active_lock_reason": None,
            "created_at": iso(pull.created_at),
            "updated_at": iso(pull.updated_at),
            "closed_at": pull.closed_at and iso(pull.closed_at),
            "merged_at": pull.merged_at and iso(pull.merged_at),
            "merge_commit_sha": pull.merge_commit_sha,
            "assignee": None,
            "assignees": [],
            "requested_reviewers": [],
            "requested_teams": [],
            "head": self._end(repo, pull.head, head_sha),
            "base": self._end(repo, pull.base, base_sha),
            "_links": {name: {"href": href} for name, href in links.items()},
            "author_association": "OWNER" if pull.user is repo.owner else "NONE",
            "auto_merge": None,
            "draft": pull.draft,
        }
        if full:
            body |= _diff_stats(repo, base_sha, head_sha) | {
                "merged": pull.merged_at is not None,
                "mergeable": None if pull.state == "closed" else True,
                "rebaseable": None if pull.state == "closed" else True,
                "mergeable_state": "unknown" if pull.state == "closed" else "clean",
                "merged_by": pull.merged_by and self.user(pull.merged_by),
                "comments": len(pull.comments),
                "review_comments": 0,
                "maintainer_can_modify": pull.maintainer_can_modify,
            }
        return body

    def _end(self, repo: Repo, branch: str, sha: str) -> dict[str, Any]:
        return {
            "label": f"{repo.owner.login}:{branch}",
            "ref": branch,
            "sha": sha,
            "user": self.user(repo.owner),
            "repo": self.repository(repo),
        }

    def installation(self, installation: Installation) -> dict[str, Any]:
        app = installation.app
        return {
            "id": installation.id,
            "account": self.user(installation.account),
            "repository_selection": "all",
            "access_tokens_url": f"{self.base}/app/installations/{installation.id}/access_tokens",
            "repositories_url": f"{self.base}/installation/repositories",
            "html_url": f"{self.base}/settings/installations/{installation.id}",
            "app_id": app.id,
            "app_slug": app.slug,
            "target_id": installation.account.id,
            "target_type": installation.account.type,
            "permissions": {"contents": "write", "pull_requests": "write", "metadata": "read"},
            "events": ["push", "pull_request"],
            "created_at": iso(installation.created_at),
            "updated_at": iso(installation.created_at),
            "single_file_name": None,
            "suspended_by": None,
            "suspended_at": None,
        }

    def installation_token(
        self, token: str, expires_at: datetime, permissions: dict[str, str]
    ) -> dict[str, Any]:
        return {
            "token": token,
            "expires_at": iso(expires_at),
            "permissions": permissions,
            "repository_selection": "all",
        }

    def rate_limit(self, remaining: int, limit: int, reset: int) -> dict[str, Any]:
        core = {"limit": limit, "remaining": remaining, "reset": reset, "used": limit - remaining}
        fresh = {"limit": 30, "remaining": 30, "reset": reset, "used": 0}
        return {
            "rate": core,
            "resources": {"core": core, "search": fresh, "graphql": core | {"used": 0}},
        }


def head_of(repo: Repo, pull: Pull) -> str:
    """A pull request follows its head branch until merged (or the branch is deleted)."""
    if pull.merged_at is not None:
        return pull.head_sha
    return repo.refs.get(f"refs/heads/{pull.head}", pull.head_sha)


def reset_time(window: timedelta = timedelta(hours=1)) -> int:
    return int((utcnow() + window).timestamp())


def _person(person: Any) -> dict[str, str]:
    return {"name": person.name, "email": person.email, "date": iso(person.date)}


def _verification(commit: Commit) -> dict[str, Any]:
    """API commits without a custom author are signed by GitHub; pushed ones are not."""
    if not commit.verified:
        return {
            "verified": False,
            "reason": "unsigned",
            "signature": None,
            "payload": None,
            "verified_at": None,
        }
    payload = commit.encode().decode()
    return {
        "verified": True,
        "reason": "valid",
        "signature": "-----BEGIN PGP SIGNATURE-----\n\nfake-github\n-----END PGP SIGNATURE-----\n",
        "payload": payload,
        "verified_at": iso(commit.committer.date),
    }


def _diff_stats(repo: Repo, base_sha: str, head_sha: str) -> dict[str, int]:
    """commits/additions/deletions/changed_files of head against its merge base with base."""
    common = repo.merge_base(base_sha, head_sha)
    before = repo.files(common) if common else {}
    after = repo.files(head_sha)
    changed = [p for p in set(before) | set(after) if before.get(p) != after.get(p)]
    added = removed = 0
    for path in changed:
        old = repo.read(before[path]).decode(errors="replace") if path in before else ""
        new = repo.read(after[path]).decode(errors="replace") if path in after else ""
        for line in difflib.ndiff(old.splitlines(), new.splitlines()):
            added += line.startswith("+ ")
            removed += line.startswith("- ")
    commits = len(repo.ancestors(head_sha) - (repo.ancestors(common) if common else set()))
    return {
        "commits": commits,
        "additions": added,
        "deletions": removed,
        "changed_files": len(changed),
    }
