"""What a fixer is given and what it returns."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from app.models import FileEdit, PlatformReport


class SourceTree(Protocol):
    """Read access to a repository at one revision, whatever hosts it."""

    def read(self, path: str) -> str | None:
        """The file's text, or None if it does not exist."""
        ...


@dataclass(frozen=True, slots=True)
class FixResult:
    edits: tuple[FileEdit, ...] = ()
    fixed: tuple[str, ...] = ()  # rule ids these edits (or the files as they are) resolve
    notes: tuple[str, ...] = ()  # what was done, or why nothing could be


class Fixer(Protocol):
    name: str

    def applies(self, platform: PlatformReport, tree: SourceTree, root: str) -> bool:
        """True when this fixer owns the build that produced the image."""
        ...

    def fix(
        self, platform: PlatformReport, tree: SourceTree, root: str, user: str
    ) -> FixResult: ...
