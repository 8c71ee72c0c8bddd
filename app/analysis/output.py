"""Reports as people and tools read them: a table, the versioned JSON contract, SARIF 2.1.0.

The JSON is ``tightship.report/v1`` (docs/report.md); fields are only ever added to it.
SARIF follows the 2.1.0 schema that GitHub code scanning accepts: one rule per rule id with
its help link, and one result per finding located at the image path (or the image itself
for findings about its configuration).
"""

from __future__ import annotations

import json
from typing import Any

from app.analysis.rules import RULE_IDS
from app.models import Report, Severity

SEVERITY_ORDER = [Severity.LOW, Severity.MEDIUM, Severity.HIGH, Severity.CRITICAL]
RULES_DOC = "https://github.com/tightship/tightship/blob/main/docs/rules.md"
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_LEVEL = {
    Severity.LOW: "note",
    Severity.MEDIUM: "warning",
    Severity.HIGH: "error",
    Severity.CRITICAL: "error",
}
_SCORE = {
    Severity.LOW: "2.0",
    Severity.MEDIUM: "5.0",
    Severity.HIGH: "8.0",
    Severity.CRITICAL: "9.5",
}


def at_or_above(severity: Severity, threshold: Severity) -> bool:
    return SEVERITY_ORDER.index(severity) >= SEVERITY_ORDER.index(threshold)


def to_json(report: Report) -> str:
    return json.dumps(report.to_dict(), indent=2)


def to_table(report: Report) -> str:
    lines = [f"{report.reference} ({report.digest})"]
    for platform in report.platforms:
        builder = platform.builder
        made_by = " ".join(p for p in (builder.kind, builder.tool, builder.version) if p)
        base = platform.base.distro or "unknown base"
        if platform.base.version:
            base += f" {platform.base.version}"
        lines.append("")
        lines.append(
            f"{platform.platform}  {platform.digest[:19]}  built by {made_by}  on {base}"
            f"  user {platform.user or '(root)'}"
        )
        if platform.source.repository:
            lines.append(f"  source {platform.source.repository}")
        if not platform.findings:
            lines.append("  no findings")
            continue
        width = max(len(f.rule) for f in platform.findings)
        for finding in sorted(
            platform.findings, key=lambda f: (-SEVERITY_ORDER.index(f.severity), f.rule)
        ):
            where = f" /{finding.path}" if finding.path else ""
            lines.append(
                f"  {finding.severity.value.upper():8} {finding.rule:{width}}{where}: "
                f"{finding.evidence}"
            )
    return "\n".join(lines)


def to_sarif(report: Report, version: str) -> str:
    seen: dict[str, tuple[str, Severity]] = {}
    for platform in report.platforms:
        for finding in platform.findings:
            seen.setdefault(finding.rule, (finding.title, finding.severity))
    rules = []
    for rule_id in RULE_IDS:
        properties: dict[str, Any] = {"tags": ["container", "security"]}
        if rule_id in seen:  # GitHub ranks alerts by the rule's security-severity
            properties["security-severity"] = _SCORE[seen[rule_id][1]]
        rules.append(
            {
                "id": rule_id,
                "name": "".join(part.title() for part in rule_id.split("-")),
                "shortDescription": {"text": seen.get(rule_id, (rule_id,))[0]},
                "helpUri": f"{RULES_DOC}#{rule_id}",
                "properties": properties,
            }
        )
    index = {rule["id"]: i for i, rule in enumerate(rules)}
    results: list[dict[str, Any]] = []
    for platform in report.platforms:
        for finding in platform.findings:
            uri = finding.path or report.reference.split("/", 1)[-1]
            results.append(
                {
                    "ruleId": finding.rule,
                    "ruleIndex": index[finding.rule],
                    "level": _LEVEL[finding.severity],
                    "message": {
                        "text": f"{finding.title}: {finding.evidence} ({platform.platform})"
                    },
                    "locations": [
                        {
                            "physicalLocation": {
                                "artifactLocation": {"uri": uri},
                                "region": {"startLine": 1},
                            },
                            "message": {"text": f"{report.reference}@{platform.digest}"},
                        }
                    ],
                    "partialFingerprints": {"tightship/v1": finding.fingerprint},
                    "properties": {"layer": finding.layer, "platform": platform.platform},
                }
            )
    sarif = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "Tightship",
                        "version": version,
                        "informationUri": "https://github.com/tightship/tightship",
                        "rules": rules,
                    }
                },
                "results": results,
                "properties": {"reference": report.reference, "digest": report.digest},
            }
        ],
    }
    return json.dumps(sarif, indent=2)
