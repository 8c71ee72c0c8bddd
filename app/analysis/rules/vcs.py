"""No version-control metadata: a shipped .git holds the whole history, secrets ever committed
included, and tells an attacker where the source lives."""

from __future__ import annotations

from app.analysis import captures
from app.analysis.view import ImageView
from app.models import Finding, Severity

VCS_DIRECTORY = "vcs-directory"
IDS = (VCS_DIRECTORY,)
inspectors = (captures,)
VCS = frozenset({".git", ".svn", ".hg", ".bzr"})


def judge(view: ImageView) -> list[Finding]:
    findings = []
    seen: set[str] = set()
    for path, _entry, layer in view.paths:
        if path.rpartition("/")[2] in VCS:
            parts = path.split("/")
            if any("/".join(parts[:i]) in seen for i in range(1, len(parts))):
                continue  # a repository nested in one already reported
            seen.add(path)
            findings.append(
                Finding(
                    VCS_DIRECTORY,
                    Severity.MEDIUM,
                    "Version-control metadata in the image",
                    f"/{path} ({parts[-1][1:]})",
                    path=path,
                    layer=view.layer_digests[layer],
                )
            )
    return findings
