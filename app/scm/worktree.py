"""A checkout's working tree as a fixer's source tree, and the place ``tightship fix`` writes.

``tightship fix`` edits files a person has open, so a write happens only if the file is
still exactly what the plan was computed from, goes through a temporary file and a rename
(never a half-written build file), keeps the file's mode, and never follows a link out of
the checkout.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from app.models import FileEdit
from app.scm.local import ScmError, check_path

SKIPPED_DIRS = frozenset({".git", ".hg", ".svn", "node_modules", ".venv", "__pycache__"})
MAX_FILE = 4 * 1024 * 1024  # build files are small; anything bigger is not one


class WorkTree:
    def __init__(self, root: Path) -> None:
        if not root.is_dir():
            raise ScmError(f"{root} is not a directory")
        self.root = root.resolve()

    def _inside(self, path: str) -> Path | None:
        target = (self.root / path).resolve()
        return target if target.is_relative_to(self.root) else None

    def read(self, path: str) -> str | None:
        target = self._inside(path)
        if target is None or not target.is_file() or target.stat().st_size > MAX_FILE:
            return None
        try:
            return target.read_bytes().decode("utf-8")
        except (OSError, UnicodeDecodeError):
            return None

    def paths(self) -> Iterator[str]:
        for directory, dirs, files in os.walk(self.root):
            dirs[:] = sorted(d for d in dirs if d not in SKIPPED_DIRS)
            relative = Path(directory).relative_to(self.root)
            for name in sorted(files):
                yield (relative / name).as_posix()

    def write_all(self, edits: tuple[FileEdit, ...]) -> None:
        """Every edit or none: all are checked first, and a failure part-way undoes the rest."""
        for item in edits:
            self._check(item)
        done: list[FileEdit] = []
        try:
            for item in edits:
                self.write(item)
                done.append(item)
        except BaseException:
            for item in reversed(done):
                self._undo(item)
            raise

    def _undo(self, edit: FileEdit) -> None:
        target = self._inside(edit.path)
        if target is None:
            return
        if edit.old is None:
            target.unlink(missing_ok=True)
        else:
            self.write(FileEdit(edit.path, edit.new, edit.old))

    def _check(self, edit: FileEdit) -> Path:
        check_path(edit.path)
        target = self._inside(edit.path)
        if target is None:
            raise ScmError(f"refusing to write {edit.path}: it leads outside {self.root}")
        if edit.old is None and os.path.lexists(target):
            # read() gives None for a file it cannot use (not UTF-8, too big) as for one that
            # is not there: a plan to create it must not replace what a person has
            raise ScmError(
                f"refusing to create {edit.path}: something that is not a text file is there"
            )
        if self.read(edit.path) != edit.old:
            raise ScmError(f"{edit.path} changed since it was read; run tightship fix again")
        return target

    def write(self, edit: FileEdit) -> None:
        target = self._check(edit)
        target.parent.mkdir(parents=True, exist_ok=True)
        mode = target.stat().st_mode & 0o7777 if target.exists() else 0o644
        fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(edit.new.encode("utf-8"))
            os.chmod(temporary, mode)
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
