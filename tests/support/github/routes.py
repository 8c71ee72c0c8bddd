"""One handler per operation of the description, keyed by operationId.

Handlers see a `Call` (typed path parameters, query, JSON body, who is calling) and return a
`Reply`; they raise `GitError` for GitHub's refusals. The server owns routing (the description's
`paths` are the route table), authentication, validation and fault injection, so these functions
hold only GitHub's behaviour.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from tests.support.github.model import (
    Account,
    App,
    Blob,
    Comment,
    Commit,
    Credential,
    GitError,
    Label,
    Leaf,
    Person,
    Pull,
    Repo,
    Tree,
    utcnow,
)
from tests.support.github.payloads import error, head_of, reset_time

if TYPE_CHECKING:
    from tests.support.github.server import GitHubServer


@dataclass
class Call:
    """A request that passed routing and authentication."""

    path: str
    params: dict[str, Any]
    query: dict[str, str]
    body: Any
    credential: Credential | None = None
    app: App | None = None
    token: str = ""


@dataclass
class Reply:
    """What a handler answers; the server validates it against the description, then sends it."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[["GitHubServer", Call], Reply]
HANDLERS: dict[str, Handler] = {}

# GitHub authenticates these as the App itself (a JWT), every other operation with a token.
APP_OPERATIONS = {"apps/get-repo-installation", "apps/create-installation-access-token"}


def operation(operation_id: str) -> Callable[[Handler], Handler]:
    """Register a handler under the description's operationId (the server routes by it)."""

    def register(handler: Handler) -> Handler:
        HANDLERS[operation_id] = handler
        return handler

    return register


def invalid(message: str, **extra: Any) -> GitError:
    """A 422; GitHub's `Validation Failed` body carries details in `errors`."""
    return GitError(422, message, **extra)


def _repo(server: GitHubServer, call: Call) -> Repo:
    """The repository in the path, hidden (404) from a token that may not see it, as GitHub."""
    repo = server.find_repo(call.params["owner"], call.params["repo"])
    if repo is None or (call.credential is not None and not call.credential.can_see(repo)):
        raise GitError(404, "Not Found")
    return repo


def _pull(repo: Repo, number: int) -> Pull:
    if number not in repo.pulls:
        raise GitError(404, "Not Found")
    return repo.pulls[number]


def _actor(call: Call) -> Account:
    """Who acts: the user, or the App's bot account for an installation token."""
    assert call.credential is not None
    installation = call.credential.installation
    return call.credential.account if installation is None else installation.app.bot


def _caller(server: GitHubServer, call: Call) -> Person:
    return server.person(_actor(call).login)


def _given_person(data: dict[str, str] | None) -> Person | None:
    if not data:
        return None
    date = data.get("date")
    when = utcnow() if date is None else datetime.fromisoformat(date)
    return Person(data["name"], data["email"], when if when.tzinfo else when.replace(tzinfo=UTC))


def _created(url: str, body: dict[str, Any]) -> Reply:
    return Reply(201, body, {"Location": url})


# --- repositories and contents ---------------------------------------------------------------


@operation("repos/get")
def get_repo(server: GitHubServer, call: Call) -> Reply:
    return Reply(200, server.shapes.repository(_repo(server, call)))


@operation("repos/get-branch")
def get_branch(server: GitHubServer, call: Call) -> Reply:
    repo = _repo(server, call)
    if f"refs/heads/{call.params['branch']}" not in repo.refs:
        raise GitError(404, "Branch not found")
    return Reply(200, server.shapes.branch(repo, call.params["branch"]))


@operation("repos/get-content")
def get_content(server: GitHubServer, call: Call) -> Reply:
    repo = _repo(server, call)
    ref = call.query.get("ref", repo.default_branch)
    sha = repo.resolve(ref)
    if sha is None:
        raise GitError(404, f"No commit found for the ref {ref}")
    path = call.params["path"].strip("/")
    leaf = repo.lookup(repo.commit(sha).tree, path)
    if leaf is None:
        raise GitError(404, "Not Found")
    if leaf.type == "tree":
        listing = repo.walk(leaf.sha, recursive=False, prefix=f"{path}/")
        return Reply(200, [server.shapes.content_entry(repo, p, e, ref) for p, e in listing])
    return Reply(200, server.shapes.content_file(repo, path, leaf, ref))


@operation("repos/create-or-update-file-contents")
def put_content(server: GitHubServer, call: Call) -> Reply:
    repo, body, path = _repo(server, call), call.body, call.params["path"].strip("/")
    branch = body.get("branch", repo.default_branch)
    parent = repo.refs.get(f"refs/heads/{branch}")
    if parent is None:
        raise GitError(404, f"Branch {branch} not found")
    current = repo.files(parent).get(path)
    if current is not None and "sha" not in body:
        raise invalid('Invalid request.\n\n"sha" wasn\'t supplied.')
    if current is not None and body["sha"] != current.sha:
        raise GitError(409, f"{path} does not match {body['sha']}")
    try:
        data = base64.b64decode(body["content"], validate=True)
    except binascii.Error as exc:
        raise invalid("content is not valid Base64") from exc
    flat = repo.files(parent) | {path: Leaf("100644", "blob", repo.store(Blob(data)))}
    author = _given_person(body.get("author"))
    committer = _given_person(body.get("committer")) or author or _caller(server, call)
    commit = Commit(
        repo.write_tree(flat),
        (parent,),
        body["message"],
        author or committer,
        committer,
        verified=author is None and "committer" not in body,
    )
    sha = repo.store(commit)
    repo.refs[f"refs/heads/{branch}"] = sha
    return Reply(200 if current else 201, server.shapes.file_commit(repo, path, sha, branch))


# --- git database ----------------------------------------------------------------------------


@operation("git/get-ref")
def get_ref(server: GitHubServer, call: Call) -> Reply:
    repo, ref = _repo(server, call), f"refs/{call.params['ref']}"
    if ref not in repo.refs:
        raise GitError(404, "Not Found")
    return Reply(200, server.shapes.git_ref(repo, ref))


@operation("git/create-ref")
def create_ref(server: GitHubServer, call: Call) -> Reply:
    repo, ref, sha = _repo(server, call), call.body["ref"], call.body["sha"]
    if not ref.startswith("refs/") or ref.count("/") < 2:
        raise invalid("Reference name is invalid")
    if ref in repo.refs:
        raise invalid("Reference already exists")
    if not isinstance(repo.objects.get(sha), Commit):
        raise invalid("Object does not exist")
    repo.refs[ref] = sha
    body = server.shapes.git_ref(repo, ref)
    return _created(body["url"], body)


@operation("git/update-ref")
def update_ref(server: GitHubServer, call: Call) -> Reply:
    """Without `force`, the new commit must descend from the old one, as a `git push` would."""
    repo, ref, sha = _repo(server, call), f"refs/{call.params['ref']}", call.body["sha"]
    if ref not in repo.refs:
        raise invalid("Reference does not exist")
    if not isinstance(repo.objects.get(sha), Commit):
        raise invalid("Object does not exist")
    if not call.body.get("force", False) and repo.refs[ref] not in repo.ancestors(sha):
        raise invalid("Update is not a fast forward")
    repo.refs[ref] = sha
    return Reply(200, server.shapes.git_ref(repo, ref))


@operation("git/delete-ref")
def delete_ref(server: GitHubServer, call: Call) -> Reply:
    """The description documents this 422 without a body, so none is sent."""
    repo, ref = _repo(server, call), f"refs/{call.params['ref']}"
    if ref not in repo.refs or ref == f"refs/heads/{repo.default_branch}":
        return Reply(422)
    del repo.refs[ref]
    return Reply(204)


@operation("git/get-commit")
def get_commit(server: GitHubServer, call: Call) -> Reply:
    repo, sha = _repo(server, call), call.params["commit_sha"]
    repo.commit(sha)
    return Reply(200, server.shapes.git_commit(repo, sha))


@operation("git/create-commit")
def create_commit(server: GitHubServer, call: Call) -> Reply:
    repo, body = _repo(server, call), call.body
    if not isinstance(repo.objects.get(body["tree"]), Tree):
        raise invalid("Tree SHA does not exist")
    parents = tuple(body.get("parents", []))
    if any(not isinstance(repo.objects.get(p), Commit) for p in parents):
        raise invalid("Parent SHA does not exist or is not a commit object")
    author = _given_person(body.get("author"))
    committer = _given_person(body.get("committer")) or author or _caller(server, call)
    commit = Commit(
        body["tree"],
        parents,
        body["message"],
        author or committer,
        committer,
        verified=author is None and "committer" not in body and "signature" not in body,
    )
    sha = repo.store(commit)
    shaped = server.shapes.git_commit(repo, sha)
    return _created(shaped["url"], shaped)


@operation("git/get-tree")
def get_tree(server: GitHubServer, call: Call) -> Reply:
    """`tree_sha` may be a tree, a commit or a branch name; any `recursive` value recurses."""
    repo, name = _repo(server, call), call.params["tree_sha"]
    if not isinstance(repo.objects.get(name), Tree):
        commit = repo.resolve(name)
        if commit is None:
            raise GitError(404, "Not Found")
        name = repo.commit(commit).tree
    return Reply(200, server.shapes.tree(repo, name, recursive="recursive" in call.query))


@operation("git/create-tree")
def create_tree(server: GitHubServer, call: Call) -> Reply:
    """Entries are applied on top of `base_tree`: `sha: null` deletes, a tree replaces a dir."""
    repo, body = _repo(server, call), call.body
    base = body.get("base_tree")
    if base is not None and not isinstance(repo.objects.get(base), Tree):
        raise invalid("base_tree is not a valid tree oid")
    flat = repo.flatten(base) if base else {}
    for index, entry in enumerate(body["tree"]):
        path = entry.get("path", "").strip("/")
        if not path or ("sha" in entry) == ("content" in entry):
            raise invalid(f"tree.{index} must have a path and either sha or content")
        flat = {p: leaf for p, leaf in flat.items() if p != path and not p.startswith(path + "/")}
        kind = entry.get("type", "blob")
        if "content" in entry:
            flat[path] = Leaf(entry["mode"], kind, repo.store(Blob(entry["content"].encode())))
        elif entry["sha"] is None:
            continue
        elif kind == "tree" and isinstance(repo.objects.get(entry["sha"]), Tree):
            flat |= {f"{path}/{p}": leaf for p, leaf in repo.flatten(entry["sha"]).items()}
        elif kind == "commit" or isinstance(repo.objects.get(entry["sha"]), Blob):
            flat[path] = Leaf(entry["mode"], kind, entry["sha"])
        else:
            raise invalid(f"tree.sha {entry['sha']} is not a valid {kind}")
    shaped = server.shapes.tree(repo, repo.write_tree(flat), recursive=False)
    return _created(shaped["url"], shaped)


@operation("git/create-blob")
def create_blob(server: GitHubServer, call: Call) -> Reply:
    repo, body = _repo(server, call), call.body
    encoding = body.get("encoding", "utf-8")
    if encoding not in ("utf-8", "base64"):
        raise invalid(f"encoding must be utf-8 or base64, not {encoding}")
    data = base64.b64decode(body["content"]) if encoding == "base64" else body["content"].encode()
    shaped = server.shapes.blob(repo, repo.store(Blob(data)))
    return _created(shaped["url"], shaped)


# --- pull requests and issues ----------------------------------------------------------------


@operation("pulls/list")
def list_pulls(server: GitHubServer, call: Call) -> Reply:
    """Filters as GitHub's: `state` (default open), `head=owner:branch`, `base`; paginated."""
    repo, query = _repo(server, call), call.query
    state = query.get("state", "open")
    pulls = [p for p in repo.pulls.values() if state == "all" or p.state == state]
    if "head" in query:
        owner, _, branch = query["head"].rpartition(":")
        if owner and owner.lower() != repo.owner.login.lower():
            pulls = []
        pulls = [p for p in pulls if p.head == branch]
    if "base" in query:
        pulls = [p for p in pulls if p.base == query["base"]]
    by_updated = query.get("sort") in ("updated", "popularity", "long-running")
    descending = query.get("direction", "asc" if by_updated else "desc") == "desc"
    pulls.sort(key=lambda p: (p.updated_at if by_updated else p.created_at, p.number))
    if descending:
        pulls.reverse()
    return server.paginate(call, [server.shapes.pull(repo, p, full=False) for p in pulls])


@operation("pulls/create")
def create_pull(server: GitHubServer, call: Call) -> Reply:
    repo, body = _repo(server, call), call.body
    owner, _, head = body["head"].rpartition(":")
    failed = "Validation Failed"
    if "title" not in body:
        raise invalid(
            failed, errors=[{"resource": "PullRequest", "field": "title", "code": "missing_field"}]
        )
    for field_name, branch in (("base", body["base"]), ("head", head)):
        if f"refs/heads/{branch}" not in repo.refs or (
            field_name == "head" and owner and owner.lower() != repo.owner.login.lower()
        ):
            raise invalid(
                failed, errors=[{"resource": "PullRequest", "field": field_name, "code": "invalid"}]
            )
    if any(
        p.head == head and p.base == body["base"] and p.state == "open" for p in repo.pulls.values()
    ):
        message = f"A pull request already exists for {repo.owner.login}:{head}."
        raise invalid(
            failed, errors=[{"resource": "PullRequest", "code": "custom", "message": message}]
        )
    head_sha, base_sha = repo.refs[f"refs/heads/{head}"], repo.refs[f"refs/heads/{body['base']}"]
    if head_sha in repo.ancestors(base_sha):
        message = f"No commits between {body['base']} and {head}"
        raise invalid(
            failed, errors=[{"resource": "PullRequest", "code": "custom", "message": message}]
        )
    user = _actor(call)
    now = utcnow()
    pull = Pull(
        number=len(repo.pulls) + 1,
        id=server.next_id(),
        title=body["title"],
        body=body.get("body"),
        head=head,
        base=body["base"],
        user=user,
        head_sha=head_sha,
        created_at=now,
        updated_at=now,
        draft=body.get("draft", False),
        maintainer_can_modify=body.get("maintainer_can_modify", False),
    )
    repo.pulls[pull.number] = pull
    shaped = server.shapes.pull(repo, pull)
    return _created(shaped["url"], shaped)


@operation("pulls/get")
def get_pull(server: GitHubServer, call: Call) -> Reply:
    repo = _repo(server, call)
    return Reply(200, server.shapes.pull(repo, _pull(repo, call.params["pull_number"])))


@operation("pulls/update")
def update_pull(server: GitHubServer, call: Call) -> Reply:
    repo, body = _repo(server, call), call.body
    pull = _pull(repo, call.params["pull_number"])
    if body.get("state") == "open" and pull.merged_at is not None:
        raise invalid("state cannot be changed. The pull request has been merged.")
    if "base" in body and f"refs/heads/{body['base']}" not in repo.refs:
        raise invalid(
            "Validation Failed",
            errors=[{"resource": "PullRequest", "field": "base", "code": "invalid"}],
        )
    pull.title = body.get("title", pull.title)
    pull.body = body.get("body", pull.body)
    pull.base = body.get("base", pull.base)
    pull.maintainer_can_modify = body.get("maintainer_can_modify", pull.maintainer_can_modify)
    pull.updated_at = utcnow()
    if body.get("state") == "closed" and pull.state == "open":
        pull.head_sha = head_of(repo, pull)
        pull.state, pull.closed_at = "closed", pull.updated_at
    elif body.get("state") == "open":
        pull.state, pull.closed_at = "open", None
    return Reply(200, server.shapes.pull(repo, pull))


@operation("pulls/check-if-merged")
def check_merged(server: GitHubServer, call: Call) -> Reply:
    repo = _repo(server, call)
    merged = _pull(repo, call.params["pull_number"]).merged_at is not None
    return Reply(204 if merged else 404)


@operation("issues/add-labels")
def add_labels(server: GitHubServer, call: Call) -> Reply:
    """The body may be `{"labels": [...]}` or a bare list (PyGithub sends the list)."""
    repo = _repo(server, call)
    pull = _pull(repo, call.params["issue_number"])
    items = call.body["labels"] if isinstance(call.body, dict) else call.body
    for item in items:
        name = item["name"] if isinstance(item, dict) else item
        if name not in repo.labels:
            repo.labels[name] = Label(server.next_id(), name)
        if name not in pull.labels:
            pull.labels.append(name)
    return Reply(200, [server.shapes.label(repo, repo.labels[n]) for n in pull.labels])


@operation("issues/create-comment")
def create_comment(server: GitHubServer, call: Call) -> Reply:
    repo = _repo(server, call)
    pull = _pull(repo, call.params["issue_number"])
    comment = Comment(server.next_id(), call.body["body"], _actor(call), utcnow())
    pull.comments.append(comment)
    shaped = server.shapes.comment(repo, pull, comment)
    return _created(shaped["url"], shaped)


# --- apps and rate limits --------------------------------------------------------------------


@operation("apps/get-repo-installation")
def get_repo_installation(server: GitHubServer, call: Call) -> Reply:
    repo = _repo(server, call)
    for installation in server.installations.values():
        if installation.app is call.app and installation.account is repo.owner:
            return Reply(200, server.shapes.installation(installation))
    raise GitError(404, "Not Found")


@operation("apps/create-installation-access-token")
def create_access_token(server: GitHubServer, call: Call) -> Reply:
    installation = server.installations.get(call.params["installation_id"])
    if installation is None or installation.app is not call.app:
        raise GitError(404, "Not Found")
    body = call.body or {}
    for name in body.get("repositories", []):
        if server.find_repo(installation.account.login, name) is None:
            raise invalid(f"There is at least one repository that does not exist: {name}")
    permissions = body.get("permissions") or {"contents": "write", "pull_requests": "write"}
    token = "ghs_" + secrets.token_urlsafe(27)
    expires_at = utcnow() + server.token_lifetime
    server.tokens[token] = Credential(
        installation.app.bot, installation, expires_at, dict(permissions)
    )
    return Reply(201, server.shapes.installation_token(token, expires_at, permissions))


@operation("rate-limit/get")
def rate_limit(server: GitHubServer, call: Call) -> Reply:
    remaining = server.remaining(call.token)
    return Reply(200, server.shapes.rate_limit(remaining, server.RATE_LIMIT, reset_time()))


def error_reply(exc: GitError) -> Reply:
    return Reply(exc.status, error(exc.message, **exc.extra))
