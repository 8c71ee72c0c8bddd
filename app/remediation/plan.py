"""From a Report to a FixPlan: pick the fixer that owns the build, collect its edits."""

from __future__ import annotations

import re

from app.models import FixPlan, Report
from app.remediation.base import SourceTree
from app.remediation.fixers import FIXERS

BRANCH_PREFIX = "tightship/"


def branch_for(image_repository: str) -> str:
    """One branch per image repository, so a later push updates it instead of adding one."""
    slug = re.sub(r"[^a-z0-9._-]+", "-", image_repository.lower()).strip("-.")
    return BRANCH_PREFIX + (slug or "image")


def plan(
    report: Report,
    tree: SourceTree,
    repository: str,
    root: str,
    image_repository: str,
    user: str,
) -> tuple[FixPlan | None, tuple[str, ...]]:
    """The plan (None when there is nothing to change) and notes on what was decided."""
    platform = report.platforms[0]
    fixer = next((f for f in FIXERS if f.applies(platform, tree, root)), None)
    if fixer is None:
        where = f"{repository}/{root}".rstrip("/")
        return None, (f"no fixer for a {platform.builder.kind} build in {where} yet",)
    result = fixer.fix(platform, tree, root, user)
    if not result.edits:
        return None, result.notes
    findings = [f for f in report.findings if f.rule in result.fixed]
    lines = [
        f"Tightship analyzed `{report.reference}` (`{report.digest}`) and found:",
        "",
        *(f"- **{f.rule}** ({f.severity}): {f.title}: {f.evidence}" for f in findings),
        "",
        f"This change, for the {platform.builder.kind} build ({fixer.name}):",
        "",
        *(f"- {note}" for note in result.notes),
    ]
    titles = ", ".join(sorted(result.fixed))
    fix_plan = FixPlan(
        repository=repository,
        branch=branch_for(image_repository),
        title=f"Tighten {image_repository}: fix {titles}",
        body="\n".join(lines),
        edits=result.edits,
        rules=tuple(sorted(result.fixed)),
        notes=result.notes,
    )
    return fix_plan, result.notes
