"""The state behind the fake GitHub: accounts, repositories with real git objects, pull requests.

Git objects are hashed exactly as git hashes them (`blob <len>\\0...`, sorted tree entries,
`tree/parent/author/committer` commit headers), so SHAs are real: a tree built here has the same
SHA as `git write-tree` over the same files, and a bot that compares SHAs sees what it would see
against GitHub.

`GitHub` is also the "human" side of the fake: tests call `create_repo`, `commit_as`,
`close_pull`, `merge_pull`... directly to play the people the bot shares repositories with.
"""

from __future__ import annotations

import hashlib
import itertools
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


def utcnow() -> datetime:
    """Whole seconds: GitHub's timestamps have no fraction."""
    return datetime.now(UTC).replace(microsecond=0)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Person:
    """A git author or committer."""

    name: str
    email: str
    date: datetime

    def line(self) -> str:
        return f"{self.name} <{self.email}> {int(self.date.timestamp())} +0000"


@dataclass(frozen=True)
class Blob:
    data: bytes

    def encode(self) -> bytes:
        return self.data


@dataclass(frozen=True)
class Leaf:
    """A tree entry that is not a subtree: a file, a symlink or a submodule."""

    mode: str
    type: str
    sha: str


@dataclass(frozen=True)
class Tree:
    """Entries by name; a subtree is a `Leaf` of type `tree` and mode `040000`."""

    entries: tuple[tuple[str, Leaf], ...]

    def ordered(self) -> list[tuple[str, Leaf]]:
        """git's order: by name bytes, a subtree sorting as if its name ended with "/"."""
        return sorted(
            self.entries, key=lambda e: (e[0] + "/" if e[1].type == "tree" else e[0]).encode()
        )

    def encode(self) -> bytes:
        return b"".join(
            f"{leaf.mode.lstrip('0')} {name}".encode() + b"\0" + bytes.fromhex(leaf.sha)
            for name, leaf in self.ordered()
        )


@dataclass(frozen=True)
class Commit:
    tree: str
    parents: tuple[str, ...]
    message: str
    author: Person
    committer: Person
    verified: bool

    def encode(self) -> bytes:
        lines = [f"tree {self.tree}", *(f"parent {p}" for p in self.parents)]
        lines += [f"author {self.author.line()}", f"committer {self.committer.line()}"]
        return ("\n".join(lines) + "\n\n" + self.message).encode()


GitObject = Blob | Tree | Commit
KIND = {Blob: "blob", Tree: "tree", Commit: "commit"}


def object_sha(obj: GitObject) -> str:
    body = obj.encode()
    header = f"{KIND[type(obj)]} {len(body)}\0".encode()
    return hashlib.sha1(header + body, usedforsecurity=False).hexdigest()


class GitError(Exception):
    """A git-level refusal; the server turns it into GitHub's 404/409/422."""

    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.extra = extra


@dataclass
class Account:
    login: str
    id: int
    type: str = "User"


@dataclass
class Comment:
    id: int
    body: str
    user: Account
    created_at: datetime


@dataclass
class Pull:
    number: int
    id: int
    title: str
    body: str | None
    head: str
    base: str
    user: Account
    head_sha: str
    created_at: datetime
    updated_at: datetime
    draft: bool = False
    maintainer_can_modify: bool = False
    state: str = "open"
    closed_at: datetime | None = None
    merged_at: datetime | None = None
    merged_by: Account | None = None
    merge_commit_sha: str | None = None
    labels: list[str] = field(default_factory=list)
    comments: list[Comment] = field(default_factory=list)


@dataclass
class Label:
    id: int
    name: str
    color: str = "ededed"
    description: str | None = None


@dataclass
class App:
    """A GitHub App: JWTs it signs are checked with `public_key` (PEM)."""

    id: int
    slug: str
    public_key: str
    owner: Account
    bot: Account
    created_at: datetime


@dataclass
class Installation:
    id: int
    app: App
    account: Account
    created_at: datetime


@dataclass
class Credential:
    """What a token stands for: a user, or an installation (limited to its account's repos)."""

    account: Account
    installation: Installation | None = None
    expires_at: datetime | None = None
    permissions: dict[str, str] = field(default_factory=dict)

    def can_see(self, repo: Repo) -> bool:
        return self.installation is None or self.installation.account is repo.owner


@dataclass
class Repo:
    """A repository: its object store, refs (`refs/heads/main` -> sha) and pull requests."""

    id: int
    owner: Account
    name: str
    default_branch: str
    created_at: datetime
    private: bool = False
    objects: dict[str, GitObject] = field(default_factory=dict)
    refs: dict[str, str] = field(default_factory=dict)
    pulls: dict[int, Pull] = field(default_factory=dict)
    labels: dict[str, Label] = field(default_factory=dict)

    @property
    def full_name(self) -> str:
        return f"{self.owner.login}/{self.name}"

    def store(self, obj: GitObject) -> str:
        sha = object_sha(obj)
        self.objects[sha] = obj
        return sha

    def flatten(self, tree_sha: str, prefix: str = "") -> dict[str, Leaf]:
        """Every non-tree entry under a tree, by full path."""
        tree = self.objects[tree_sha]
        assert isinstance(tree, Tree)
        flat: dict[str, Leaf] = {}
        for name, leaf in tree.entries:
            if leaf.type == "tree":
                flat |= self.flatten(leaf.sha, f"{prefix}{name}/")
            else:
                flat[prefix + name] = leaf
        return flat

    def write_tree(self, flat: dict[str, Leaf]) -> str:
        """Store the nested trees for a path -> leaf mapping and return the root tree's SHA."""
        here: dict[str, Leaf] = {}
        below: dict[str, dict[str, Leaf]] = {}
        for path, leaf in flat.items():
            head, _, rest = path.partition("/")
            if rest:
                below.setdefault(head, {})[rest] = leaf
            else:
                here[head] = leaf
        for name, sub in below.items():
            here[name] = Leaf("040000", "tree", self.write_tree(sub))
        return self.store(Tree(tuple(here.items())))

    def walk(self, tree_sha: str, recursive: bool, prefix: str = "") -> Iterator[tuple[str, Leaf]]:
        """Entries as `GET /git/trees` lists them: subtrees first-class, then their contents."""
        tree = self.objects[tree_sha]
        assert isinstance(tree, Tree)
        for name, leaf in tree.ordered():
            yield prefix + name, leaf
            if recursive and leaf.type == "tree":
                yield from self.walk(leaf.sha, recursive, f"{prefix}{name}/")

    def lookup(self, tree_sha: str, path: str) -> Leaf | None:
        """The entry at `path` (a file or a directory) under a tree."""
        leaf = Leaf("040000", "tree", tree_sha)
        for name in path.strip("/").split("/"):
            tree = self.objects.get(leaf.sha)
            if not isinstance(tree, Tree):
                return None
            found = dict(tree.entries).get(name)
            if found is None:
                return None
            leaf = found
        return leaf

    def commit(self, sha: str) -> Commit:
        obj = self.objects.get(sha)
        if not isinstance(obj, Commit):
            raise GitError(404, "Not Found")
        return obj

    def resolve(self, ref: str) -> str | None:
        """A branch name, `heads/x`, `refs/heads/x` or a commit SHA, to a commit SHA."""
        for candidate in (ref, f"refs/{ref}", f"refs/heads/{ref}"):
            if candidate in self.refs:
                return self.refs[candidate]
        return ref if isinstance(self.objects.get(ref), Commit) else None

    def ancestors(self, sha: str) -> set[str]:
        """`sha` and every commit reachable from it."""
        seen, todo = set(), [sha]
        while todo:
            current = todo.pop()
            if current not in seen:
                seen.add(current)
                todo += self.commit(current).parents
        return seen

    def merge_base(self, one: str, other: str) -> str | None:
        mine = self.ancestors(one)
        queue = [other]
        for current in queue:
            if current in mine:
                return current
            queue += self.commit(current).parents
        return None

    def files(self, commit_sha: str) -> dict[str, Leaf]:
        return self.flatten(self.commit(commit_sha).tree)

    def read(self, leaf: Leaf) -> bytes:
        blob = self.objects[leaf.sha]
        assert isinstance(blob, Blob)
        return blob.data

    def commit_files(
        self, parent: str | None, files: dict[str, str | None], message: str, who: Person
    ) -> str:
        """A commit on top of `parent` that writes (or, for None, deletes) some files."""
        flat = self.files(parent) if parent else {}
        for path, text in files.items():
            if text is None:
                flat.pop(path, None)
            else:
                flat[path] = Leaf("100644", "blob", self.store(Blob(text.encode())))
        tree = self.write_tree(flat)
        parents = (parent,) if parent else ()
        return self.store(Commit(tree, parents, message, who, who, verified=False))


class GitHub:
    """Everything the fake GitHub knows, and the API tests use to act as people on it.

    All access goes through `lock`: the HTTP server is threaded and tests poke the same state.
    """

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.accounts: dict[str, Account] = {}
        self.repos: dict[str, Repo] = {}
        self.apps: dict[int, App] = {}
        self.installations: dict[int, Installation] = {}
        self.tokens: dict[str, Credential] = {}
        self._ids = itertools.count(1001)

    def next_id(self) -> int:
        return next(self._ids)

    def account(self, login: str, kind: str = "User") -> Account:
        """The account with this login, made on first use (logins are case-insensitive)."""
        with self.lock:
            key = login.lower()
            if key not in self.accounts:
                self.accounts[key] = Account(login, self.next_id(), kind)
            return self.accounts[key]

    def add_token(self, token: str, login: str = "octocat") -> None:
        """A personal access token for `login`, accepted as `token X` or `Bearer X`."""
        with self.lock:
            self.tokens[token] = Credential(self.account(login))

    def add_app(self, app_id: int, public_key: str, slug: str = "tightship") -> App:
        """Register a GitHub App; its JWTs are verified with `public_key` (PEM text)."""
        with self.lock:
            owner = self.account(f"{slug}-developers", "Organization")
            bot = self.account(f"{slug}[bot]", "Bot")
            self.apps[app_id] = App(app_id, slug, public_key, owner, bot, utcnow())
            return self.apps[app_id]

    def install_app(self, app_id: int, owner: str) -> Installation:
        """Install the app on every repository of `owner`; returns the installation."""
        with self.lock:
            account = self.account(owner)
            installation = Installation(self.next_id(), self.apps[app_id], account, utcnow())
            self.installations[installation.id] = installation
            return installation

    def person(self, login: str) -> Person:
        account = self.account(login)
        return Person(login, f"{account.id}+{login}@users.noreply.github.com", utcnow())

    def repo(self, owner: str, name: str) -> Repo:
        """The repository `owner/name`; KeyError when there is none."""
        with self.lock:
            return self.repos[f"{owner}/{name}".lower()]

    def find_repo(self, owner: str, name: str) -> Repo | None:
        with self.lock:
            return self.repos.get(f"{owner}/{name}".lower())

    def create_repo(
        self,
        owner: str,
        name: str,
        files: dict[str, str],
        default_branch: str = "main",
        private: bool = False,
    ) -> Repo:
        """A repository whose default branch has one commit holding `files`."""
        with self.lock:
            repo = Repo(
                self.next_id(), self.account(owner), name, default_branch, utcnow(), private
            )
            self.repos[repo.full_name.lower()] = repo
            sha = repo.commit_files(None, dict(files), "Initial commit", self.person(owner))
            repo.refs[f"refs/heads/{default_branch}"] = sha
            return repo

    def commit_as(
        self, owner: str, repo: str, branch: str, files: dict[str, str | None], author: str
    ) -> str:
        """Someone else pushes a commit on `branch` (made if missing, from the default branch)."""
        with self.lock:
            target = self.repo(owner, repo)
            ref = f"refs/heads/{branch}"
            parent = target.refs.get(ref) or target.refs[f"refs/heads/{target.default_branch}"]
            message = f"Change by {author}"
            sha = target.commit_files(parent, files, message, self.person(author))
            target.refs[ref] = sha
            return sha

    def file_at(self, owner: str, repo: str, ref: str, path: str) -> str | None:
        """The text of `path` at a branch or commit, or None when it is not there."""
        with self.lock:
            target = self.repo(owner, repo)
            sha = target.resolve(ref)
            if sha is None:
                raise KeyError(f"no ref {ref!r} in {target.full_name}")
            leaf = target.files(sha).get(path)
            return None if leaf is None else target.read(leaf).decode()

    def pulls(self, owner: str, repo: str) -> list[Pull]:
        with self.lock:
            return sorted(self.repo(owner, repo).pulls.values(), key=lambda p: p.number)

    def close_pull(self, owner: str, repo: str, number: int) -> Pull:
        """A maintainer closes the pull request without merging it."""
        with self.lock:
            pull = self.repo(owner, repo).pulls[number]
            pull.state, pull.closed_at = "closed", utcnow()
            pull.updated_at = pull.closed_at
            return pull

    def merge_pull(self, owner: str, repo: str, number: int, by: str | None = None) -> Pull:
        """A maintainer merges: a merge commit on the base branch, files merged three ways.

        A file changed on both sides since the merge base is a conflict (ValueError), as the
        merge button would refuse it.
        """
        with self.lock:
            target = self.repo(owner, repo)
            pull = target.pulls[number]
            base_sha = target.refs[f"refs/heads/{pull.base}"]
            head_sha = target.refs.get(f"refs/heads/{pull.head}", pull.head_sha)
            common = target.merge_base(base_sha, head_sha)
            ancestor = target.files(common) if common else {}
            ours, theirs = target.files(base_sha), target.files(head_sha)
            merged = dict(ours)
            for path in set(ancestor) | set(theirs):
                if theirs.get(path) == ancestor.get(path):
                    continue
                if ours.get(path) not in (ancestor.get(path), theirs.get(path)):
                    raise ValueError(f"merge conflict in {path}")
                if path in theirs:
                    merged[path] = theirs[path]
                else:
                    merged.pop(path, None)
            merger = self.person(by or owner)
            message = f"Merge pull request #{number} from {target.owner.login}/{pull.head}"
            commit = Commit(
                target.write_tree(merged), (base_sha, head_sha), message, merger, merger, False
            )
            pull.merge_commit_sha = target.store(commit)
            target.refs[f"refs/heads/{pull.base}"] = pull.merge_commit_sha
            pull.head_sha = head_sha
            pull.state = "closed"
            pull.merged_at = pull.closed_at = pull.updated_at = utcnow()
            pull.merged_by = self.account(by or owner)
            return pull
