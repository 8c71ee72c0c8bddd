"""From a Report to a FixPlan: pick the fixer that owns the build, collect its edits, and say
for every finding what was done or why nothing could be."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass

from app.models import Finding, FixPlan, Report
from app.remediation import policy
from app.remediation.base import FixContext, FixResult, Outcome, SourceTree
from app.remediation.bases import BaseMap
from app.remediation.fixers import FIXERS

BRANCH_PREFIX = "tightship/"
RULES_DOC = "docs/rules.md"
SECRET_RULES = frozenset(
    {"secret-file", "secret-env", "secret-in-history", "secret-in-deleted-layer"}
)
ROTATE = (
    "Rotate this credential: anyone who pulled the image has it, and no change to the build "
    "takes it back."
)


@dataclass(frozen=True, slots=True)
class Decision:
    """One finding and what the plan does about it."""

    finding: Finding
    done: bool
    detail: str


@dataclass(frozen=True, slots=True)
class PlanResult:
    plan: FixPlan | None  # None when nothing is to change
    decisions: tuple[Decision, ...]
    notes: tuple[str, ...]  # about the whole plan: no fixer, a policy that stops it …


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
    user: str = "65532:65532",
    bases: Mapping[str, str] | None = None,
) -> PlanResult:
    if not report.platforms:
        return PlanResult(None, (), ("the report holds no platform",))
    try:
        repo_policy = policy.parse(tree.read(policy.FILENAME))
    except policy.PolicyError as exc:
        return PlanResult(None, (), (f"{exc}; nothing changed",))
    if repo_policy.disable:
        return PlanResult(None, (), (f"{policy.FILENAME} disables Tightship's fixes",))
    findings = tuple(f for f in report.findings if repo_policy.keeps(f))
    ignored = len(report.findings) - len(findings)
    notes = (f"{policy.FILENAME} ignores {ignored} finding(s)",) if ignored else ()
    platform = dataclasses.replace(report.platforms[0], findings=findings)
    ctx = FixContext(
        platform=platform,
        tree=tree,
        root=root.strip("/"),
        user=repo_policy.user or user,
        bases=BaseMap(bases or {}, repo_policy.bases),
    )
    fixer = next((f for f in FIXERS if f.applies(ctx)), None)
    if fixer is None:
        where = f"{repository}/{ctx.root}".rstrip("/")
        reason = f"no fixer handles a {platform.builder.kind} build in {where}"
        decisions = tuple(Decision(f, False, reason) for f in findings)
        return PlanResult(None, _with_rotation(decisions), (*notes, reason))
    result = fixer.fix(ctx)
    decisions = _with_rotation(_decide(findings, result, platform.builder.kind))
    if not result.edits:
        return PlanResult(None, decisions, notes)
    fix_plan = FixPlan(
        repository=repository,
        branch=branch_for(image_repository),
        title=f"Tighten {image_repository}: fix {', '.join(result.fixed)}",
        body=_body(report, decisions, result, fixer.name, platform.builder.kind),
        edits=result.edits,
        rules=result.fixed,
        notes=result.notes,
    )
    return PlanResult(fix_plan, decisions, notes)


def _decide(findings: tuple[Finding, ...], result: FixResult, kind: str) -> tuple[Decision, ...]:
    by_rule: dict[str, Outcome] = {}
    for outcome in result.outcomes:
        for rule in outcome.rules:
            by_rule.setdefault(rule, outcome)
    decisions = []
    for finding in findings:
        outcome = by_rule.get(finding.rule)
        if outcome is None:
            decisions.append(
                Decision(finding, False, f"no automatic fix for {finding.rule} in a {kind} build")
            )
        else:
            decisions.append(Decision(finding, outcome.done, outcome.detail))
    return tuple(decisions)


def _with_rotation(decisions: tuple[Decision, ...]) -> tuple[Decision, ...]:
    """A secret is never fixed by an edit alone: whatever the edit did, the owner must rotate."""
    return tuple(
        dataclasses.replace(d, detail=f"{d.detail}. {ROTATE}")
        if d.finding.rule in SECRET_RULES
        else d
        for d in decisions
    )


def _body(
    report: Report, decisions: tuple[Decision, ...], result: FixResult, fixer: str, kind: str
) -> str:
    lines = [
        f"Tightship analyzed `{report.reference}` (`{report.digest}`) and found:",
        "",
        *(
            f"- **{d.finding.rule}** ({d.finding.severity}): {d.finding.title}: "
            f"{d.finding.evidence}"
            for d in decisions
        ),
        "",
        f"This change, for the {kind} build ({fixer}):",
        "",
        *(f"- {o.detail}" for o in result.outcomes),
        "",
        f"Why each rule matters: {RULES_DOC}.",
    ]
    if any(d.finding.rule in SECRET_RULES for d in decisions):
        lines += ["", f"**{ROTATE}**"]
    return "\n".join(lines)
