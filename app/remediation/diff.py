"""A file edit as a unified diff: what `tightship fix` prints and plan mode writes."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from app.models import FileEdit


def unified(edits: Iterable[FileEdit]) -> str:
    """``git apply``-able text; a created file diffs from /dev/null, and a last line without a
    newline still ends its diff line (so one file's diff never runs into the next)."""
    out = []
    for edit in edits:
        old = (edit.old or "").splitlines(keepends=True)
        source = f"a/{edit.path}" if edit.old is not None else "/dev/null"
        lines = difflib.unified_diff(
            old, edit.new.splitlines(keepends=True), source, f"b/{edit.path}"
        )
        out.extend(line if line.endswith("\n") else line + "\n" for line in lines)
    return "".join(out)
