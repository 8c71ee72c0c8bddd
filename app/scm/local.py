"""The local code host: branches in git checkouts under a root directory.

Everything goes through git plumbing with a private index file, so the checkout's working
tree, its index and its checked-out branch are never touched, and uncommitted work stays
exactly as it was.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from app.models import FixPlan

TRAILER = "Tightship-Fingerprint"


class ScmError(Exception):
    pass


@dataclass(frozen=True, slots=True)
class Outcome:
    status: str  # created, updated, unchanged, refused
    commit: str | None
    detail: str


def check_path(path: str) -> None:
    """Tightship writes build files inside the repository, never CI config or git internals."""
    parts = path.split("/")
    if path.startswith("/") or ".." in parts or "" in parts:
        raise ScmError(f"refusing to write {path!r}: not a plain relative path")
    if parts[0] in (".git", ".github"):
        raise ScmError(f"refusing to write {path!r}: Tightship never edits {parts[0]}/")


class LocalRepository:
    def __init__(
        self,
        root: Path,
        repository: str,
        author_name: str,
        author_email: str,
        base_branch: str | None = None,
    ) -> None:
        owner, _, name = repository.partition("/")
        if not owner or not name or {".", ".."} & {owner, name} or "/" in name:
            raise ScmError(f"{repository!r} is outside the repositories root")
        path = (root / owner / name).resolve()
        if path.parent.parent != root.resolve():
            raise ScmError(f"{repository!r} is outside the repositories root")
        if not (path / ".git").exists():
            raise ScmError(f"{repository}: no git checkout at {path}")
        self.path = path
        self.author_name = author_name
        self.author_email = author_email
        self.base_branch = base_branch or self._default_branch()
        self.base = self._git("rev-parse", "--verify", f"{self.base_branch}^{{commit}}").strip()

    def _default_branch(self) -> str:
        """Fixes go on the repository's default branch, not whatever happens to be checked out."""
        try:
            return self._git("symbolic-ref", "--short", "refs/remotes/origin/HEAD").strip()
        except ScmError:
            pass
        for candidate in ("main", "master"):
            if self._ref(candidate) is not None:
                return candidate
        return "HEAD"

    def _git(
        self, *args: str, input_bytes: bytes | None = None, env: dict[str, str] | None = None
    ) -> str:
        result = subprocess.run(
            ["git", "-C", str(self.path), *args],
            input=input_bytes,
            capture_output=True,
            env={**os.environ, "GIT_TERMINAL_PROMPT": "0", **(env or {})},
            check=False,
        )
        if result.returncode != 0:
            message = result.stderr.decode(errors="replace").strip()
            raise ScmError(f"git {args[0]} failed in {self.path.name}: {message}")
        return result.stdout.decode("utf-8", errors="surrogateescape")

    def read(self, path: str) -> str | None:
        """The file at the base revision (never the working tree, which may hold other work)."""
        result = subprocess.run(
            ["git", "-C", str(self.path), "cat-file", "blob", f"{self.base}:{path}"],
            capture_output=True,
            check=False,
        )
        if result.returncode != 0:
            return None
        try:
            return result.stdout.decode("utf-8")
        except UnicodeDecodeError:
            return None

    def paths(self) -> list[str]:
        """Every file at the base revision, for fixers that look beyond one build file."""
        listing = self._git("ls-tree", "-r", "-z", "--name-only", self.base)
        return [p for p in listing.split("\0") if p]

    def _ref(self, branch: str) -> str | None:
        try:
            return self._git("rev-parse", "--verify", "--quiet", f"refs/heads/{branch}").strip()
        except ScmError:
            return None

    def apply(self, plan: FixPlan) -> Outcome:
        """Create or update the plan's branch with one commit on the base revision."""
        current = self._ref(plan.branch)
        tree = self._tree_with(plan)
        if current is not None:
            if self._git("rev-parse", f"{current}^{{tree}}").strip() == tree:
                return Outcome("unchanged", current, f"{plan.branch} already holds this fix")
            authors = set(self._git("log", "--format=%ae", f"{self.base}..{current}").split())
            others = sorted(authors - {self.author_email})
            if others:
                return Outcome(
                    "refused",
                    current,
                    f"{plan.branch} has commits by {', '.join(others)}; not overwriting them",
                )
        message = f"{plan.title}\n\n{plan.body}\n\n{TRAILER}: {plan.fingerprint}\n"
        identity = {
            "GIT_AUTHOR_NAME": self.author_name,
            "GIT_AUTHOR_EMAIL": self.author_email,
            "GIT_COMMITTER_NAME": self.author_name,
            "GIT_COMMITTER_EMAIL": self.author_email,
        }
        commit = self._git(
            "commit-tree", tree, "-p", self.base, input_bytes=message.encode(), env=identity
        ).strip()
        # Compare-and-swap: if the branch moved since we looked, git refuses the update.
        # An empty old value means "must not exist yet", in SHA-1 and SHA-256 repositories alike.
        self._git("update-ref", f"refs/heads/{plan.branch}", commit, current or "")
        status = "created" if current is None else "updated"
        return Outcome(status, commit, f"{plan.branch} {status} at {commit[:12]}")

    def _tree_with(self, plan: FixPlan) -> str:
        with tempfile.TemporaryDirectory(prefix="tightship-index-") as tmp:
            env = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
            self._git("read-tree", self.base, env=env)
            for edit in plan.edits:
                check_path(edit.path)
                mode = self._mode(edit.path)
                blob = self._git(
                    "hash-object", "-w", "--stdin", input_bytes=edit.new.encode("utf-8")
                ).strip()
                self._git(
                    "update-index", "--add", "--cacheinfo", f"{mode},{blob},{edit.path}", env=env
                )
            return self._git("write-tree", env=env).strip()

    def _mode(self, path: str) -> str:
        listing = self._git("ls-tree", self.base, "--", path).split()
        return listing[0] if listing else "100644"
