"""What a Tightship pull request says: short, reviewable, and never a secret's value.

Evidence comes from the report, where secrets are already redacted to a kind and a short
fingerprint; the text adds what changed for this builder, how to check it locally, and the
image digest the PR answers.
"""

from __future__ import annotations

from app.models import Report
from app.remediation.plan import ROTATE, RULES_DOC, SECRET_RULES, PlanResult

MAX_BODY = 60_000  # GitHub refuses bodies over 65,536 characters
VERIFY = {
    "jib": "`mvn compile jib:dockerBuild` (or `gradle jibDockerBuild`), then "
    "`tightship scan docker-archive:…` or a push to a test tag",
    "dockerfile": "`docker build -t check .` and `docker run --rm check`, then "
    "`tightship scan` the pushed test tag",
    "gcp-buildpacks": "`pack build check --builder gcr.io/buildpacks/builder`, then "
    "`tightship scan`",
    "paketo": "`pack build check` (or `mvn spring-boot:build-image`), then `tightship scan`",
}


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def body(report: Report, planned: PlanResult) -> str:
    plan = planned.plan
    assert plan is not None  # noqa: S101 (only called with a plan)
    kind = report.platforms[0].builder.kind if report.platforms else "unknown"
    lines = [
        f"Tightship found {len(planned.decisions)} issue(s) in `{report.reference}` and proposes "
        f"the smallest change to the {kind} build that fixes {', '.join(plan.rules)}.",
        "",
        "| rule | severity | evidence | fixed here |",
        "|---|---|---|---|",
        *(
            f"| `{d.finding.rule}` | {d.finding.severity} | {_cell(d.finding.evidence)} | "
            f"{'yes' if d.done else 'no'} |"
            for d in planned.decisions
        ),
        "",
        "### What changed and why",
        "",
        *(f"- {_cell(note)}" for note in plan.notes),
        "",
        f"Each rule is explained in Tightship's `{RULES_DOC}`.",
    ]
    if any(d.finding.rule in SECRET_RULES for d in planned.decisions):
        lines += ["", f"**{ROTATE}**"]
    not_done = [d for d in planned.decisions if not d.done]
    if not_done:
        lines += ["", "### Not changed here", ""]
        lines += [f"- `{d.finding.rule}`: {_cell(d.detail)}" for d in not_done]
    lines += [
        "",
        "### Check it locally",
        "",
        f"Build the image with {VERIFY.get(kind, 'your usual build')}; the findings above "
        "should be gone.",
        "",
        f"Image digest: `{report.digest}`",
    ]
    text = "\n".join(lines)
    return text if len(text) <= MAX_BODY else text[: MAX_BODY - 40] + "\n\n…(truncated)"


def merged_comment(report: Report, remaining: list[str]) -> str:
    rules = ", ".join(f"`{r}`" for r in remaining)
    return (
        f"This PR was merged, but `{report.reference}` (`{report.digest}`) still has {rules}. "
        "Either the image was built from a commit before this fix, or the fix did not take "
        "effect: Tightship's next scan will tell."
    )
