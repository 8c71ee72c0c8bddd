"""Which source repository an image's fix goes to, and whether Tightship may write there.

A config map rule beats the image's label, and either way the repository must match
``repositories.allow``: an image label is written by whoever built the image, so it must
never be enough to make Tightship write somewhere.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from app.config import RepositoriesSettings
from app.models import SourceHint

_OWNER_REPO = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")


@dataclass(frozen=True, slots=True)
class RepoTarget:
    repository: str  # owner/repo
    path: str  # sub-directory holding the build files ('' for the root)
    via: str  # how it was chosen, for the record


@dataclass(frozen=True, slots=True)
class Refusal:
    reason: str


def repository_from_url(url: str) -> str | None:
    """``owner/repo`` from https://host/owner/repo(.git), git@host:owner/repo.git and the like."""
    url = url.strip()
    if url.startswith("git@") and ":" in url:
        path = url.split(":", 1)[1]
    else:
        path = urlsplit(url if "://" in url else f"https://{url}").path
    path = path.strip("/").removesuffix(".git")
    parts = path.split("/")
    if len(parts) < 2:
        return None
    candidate = "/".join(parts[:2])
    if not _OWNER_REPO.fullmatch(candidate) or {".", ".."} & set(parts[:2]):
        return None
    return candidate


def choose(
    repositories: RepositoriesSettings, image: str, source: SourceHint
) -> RepoTarget | Refusal:
    rule = repositories.mapped(image)
    if rule is not None:
        target = RepoTarget(repository=rule.repo, path=rule.path, via=f"map rule {rule.image!r}")
    elif source.repository:
        repository = repository_from_url(source.repository)
        if repository is None:
            return Refusal(f"image label source {source.repository!r} names no owner/repo")
        target = RepoTarget(repository=repository, path="", via="image label")
    else:
        return Refusal("no map rule matches the image and it has no source label")
    if not repositories.allowed(target.repository):
        return Refusal(f"{target.repository} (from the {target.via}) is not in repositories.allow")
    return target
