"""The one interface every fixer implements: a context in, edits and per-rule outcomes out.

A fixer never writes anything itself. It reads the source tree and returns whole-file edits
plus, for each rule it looked at, whether the edit resolves it or why it cannot; the plan
stage turns that into a diff for ``tightship fix`` or a branch for a pull request.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

from app.models import FileEdit, Finding, PlatformReport
from app.remediation.bases import BaseMap


class SourceTree(Protocol):
    """Read access to a repository at one revision, whatever hosts it."""

    def read(self, path: str) -> str | None:
        """The file's text, or None if it does not exist."""
        ...

    def paths(self) -> Iterable[str]:
        """Every file's '/'-separated path relative to the repository root."""
        ...


@dataclass(frozen=True, slots=True)
class Outcome:
    """What happened to the findings of some rules: fixed by the edits, or why not."""

    rules: tuple[str, ...]
    done: bool
    detail: str


@dataclass(frozen=True, slots=True)
class FixResult:
    edits: tuple[FileEdit, ...] = ()
    outcomes: tuple[Outcome, ...] = ()

    @property
    def fixed(self) -> tuple[str, ...]:
        """Rule ids the edits (or the files as they already are) resolve."""
        return tuple(sorted({r for o in self.outcomes if o.done for r in o.rules}))

    @property
    def notes(self) -> tuple[str, ...]:
        return tuple(o.detail for o in self.outcomes)


@dataclass(frozen=True, slots=True)
class FixContext:
    platform: PlatformReport
    tree: SourceTree
    root: str  # the build's sub-directory of the repository ('' for the root)
    user: str = "65532:65532"  # numeric uid:gid to run as
    bases: BaseMap = field(default_factory=BaseMap)
    findings: tuple[Finding, ...] | None = None  # the platform's, minus ignored ones

    @property
    def active(self) -> tuple[Finding, ...]:
        return self.platform.findings if self.findings is None else self.findings

    @property
    def rules(self) -> frozenset[str]:
        return frozenset(f.rule for f in self.active)

    @property
    def where(self) -> str:
        """The build's directory as a note names it."""
        return self.root.strip("/") or "the repository root"

    def path(self, name: str) -> str:
        return join(self.root, name)

    def read(self, name: str) -> str | None:
        return self.tree.read(self.path(name))


class Fixer(Protocol):
    name: str

    def applies(self, ctx: FixContext) -> bool:
        """True when this fixer owns the build that produced the image."""
        ...

    def fix(self, ctx: FixContext) -> FixResult: ...


def join(root: str, name: str) -> str:
    root = root.strip("/")
    return f"{root}/{name}" if root else name


def edit(path: str, old: str | None, new: str) -> tuple[FileEdit, ...]:
    """Zero or one edit: a file whose text would not change is not an edit."""
    return () if old == new else (FileEdit(path=path, old=old, new=new),)
