"""Where an image's source lives: OCI labels and annotations, buildpacks project metadata,
and the remote of a ``.git`` directory that was shipped by mistake."""

from __future__ import annotations

import json
import re

from app.analysis import secrets
from app.analysis.view import ImageView
from app.models import SourceHint

SOURCE = "org.opencontainers.image.source"
REVISION = "org.opencontainers.image.revision"
PROJECT = "io.buildpacks.project.metadata"
# A label holds one URL, so its user-info runs to the last "@" before the path, spaces and all.
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/?#]+@")
_REMOTE = re.compile(r'(?ms)^\[remote "origin"\][^\[]*?^\s*url\s*=\s*(\S+)')


def _clean(value: str | None) -> str | None:
    """A source URL as reports may show it: no credentials, no tokens."""
    if not value:
        return None
    return secrets.scrub(_USERINFO.sub(r"\1", value))[0]


def hint(view: ImageView) -> SourceHint:
    merged = {**view.config.labels, **view.annotations}
    if merged.get(SOURCE):
        return SourceHint(repository=_clean(merged[SOURCE]), revision=_clean(merged.get(REVISION)))
    try:
        project = json.loads(merged.get(PROJECT, "{}"))
        source = project.get("source") or {}
        repository = (source.get("metadata") or {}).get("repository")
        commit = (source.get("version") or {}).get("commit")
        if repository:
            return SourceHint(repository=_clean(str(repository)), revision=_clean(commit))
    except (ValueError, AttributeError):
        pass
    for _layer, hit in view.hits("capture"):
        if hit.path.endswith(".git/config"):
            path = hit.path
            match = _REMOTE.search(view.captured(path) or "")
            if match:
                context = path.removesuffix(".git/config").rstrip("/") or None
                return SourceHint(repository=match.group(1), context=context)
    return SourceHint()
