"""The planner: a decision for every finding, the repository's policy, the base-image mapping."""

from __future__ import annotations

import dataclasses

import pytest

from app.models import Report
from app.remediation.bases import BaseMap, family, short_name
from app.remediation.plan import PlanResult, plan
from app.remediation.policy import PolicyError, parse
from tests.remediation.support import MemoryTree, finding, platform

DOCKERFILE = 'FROM debian:12\nCOPY . /app\nCMD ["/app/run"]\n'


def report(*rules: str, kind: str = "dockerfile") -> Report:
    findings = [finding(r, path=f"app/{r}") for r in rules]
    one = platform(*findings, kind=kind, tool="buildkit")
    return Report("registry.example/acme/web:1", "sha256:ab", (one,))


def run(files: dict[str, str], rep: Report, **kwargs: object) -> PlanResult:
    return plan(rep, MemoryTree(files), "acme/web", "", "acme/web", **kwargs)  # type: ignore[arg-type]


def test_every_finding_gets_a_decision_and_secrets_say_rotate() -> None:
    result = run({"Dockerfile": DOCKERFILE}, report("root-user", "secret-env", "shell"))
    decisions = {d.finding.rule: d for d in result.decisions}
    assert set(decisions) == {"root-user", "secret-env", "shell"}
    assert decisions["root-user"].done
    assert (
        not decisions["secret-env"].done
        and "Rotate this credential" in decisions["secret-env"].detail
    )
    assert "no automatic fix for secret-env" in decisions["secret-env"].detail
    assert result.plan is not None and result.plan.rules == ("root-user",)
    assert result.plan.branch == "tightship/acme-web"
    assert "Rotate this credential" in result.plan.body and "docs/rules.md" in result.plan.body


def test_findings_of_every_platform_are_fixed_together() -> None:
    amd = platform(finding("root-user"), kind="dockerfile", tool="buildkit")
    arm = dataclasses.replace(
        amd, platform="linux/arm64", findings=(finding("vcs-directory", "a/.git"),)
    )
    rep = Report("r/acme/web:1", "sha256:ab", (amd, arm))
    result = run({"Dockerfile": DOCKERFILE}, rep)
    assert result.plan is not None and set(result.plan.rules) == {"root-user", "vcs-directory"}


def test_policy_disables_ignores_and_sets_the_user() -> None:
    rep = report("root-user", "vcs-directory")
    off = run({"Dockerfile": DOCKERFILE, ".tightship.yaml": "disable: true\n"}, rep)
    assert off.plan is None and off.notes == (".tightship.yaml disables Tightship's fixes",)
    files = {"Dockerfile": DOCKERFILE, ".tightship.yaml": 'user: "1234"\nignore: [vcs-directory]\n'}
    result = run(files, rep)
    assert result.plan is not None
    [edit] = result.plan.edits
    assert "USER 1234\n" in edit.new and [d.finding.rule for d in result.decisions] == ["root-user"]
    broken = run({"Dockerfile": DOCKERFILE, ".tightship.yaml": "user: [\n"}, rep)
    assert broken.plan is None and "not valid YAML" in broken.notes[0]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("- a\n", "must be a mapping"),
        ("colour: blue\n", "colour: Extra inputs are not permitted"),
        ("user: root\n", "is not numeric uid"),
        ('user: "0:0"\n', "uid 0 is root"),
        ("ignore: [no-such-rule]\n", "unknown rule 'no-such-rule'"),
    ],
)
def test_bad_policies_are_refused_with_the_reason(text: str, message: str) -> None:
    with pytest.raises(PolicyError, match=message):
        parse(text)


def test_policy_ignore_globs_match_image_paths() -> None:
    policy = parse('ignore: ["secret-file:/app/testdata/*"]\n')
    assert not policy.keeps(finding("secret-file", "app/testdata/key.pem"))
    assert policy.keeps(finding("secret-file", "app/key.pem"))
    assert policy.keeps(finding("root-user"))


def test_no_fixer_for_the_builder_is_a_decision_per_finding() -> None:
    result = run({}, report("root-user", "shell", kind="ko"))
    assert result.plan is None
    assert all(not d.done and "no fixer handles a ko build" in d.detail for d in result.decisions)


@pytest.mark.parametrize(
    ("reference", "short"),
    [
        ("node", "node:latest"),
        ("docker.io/library/node:22@sha256:" + "a" * 64, "node:22"),
        ("index.docker.io/library/eclipse-temurin:21-jre", "eclipse-temurin:21-jre"),
        ("localhost:5000/team/app", "localhost:5000/team/app:latest"),
        ("gcr.io/distroless/java21-debian13:nonroot", "gcr.io/distroless/java21-debian13:nonroot"),
    ],
)
def test_short_names_are_what_mapping_keys_match(reference: str, short: str) -> None:
    assert short_name(reference) == short


def test_mapping_order_overrides_and_java_releases() -> None:
    bases = BaseMap({"node:*": "config/node"}, {"node:22*": "repo/node"})
    assert bases.for_image("node:22-slim").image == "repo/node"  # the repository's policy wins
    assert bases.for_image("node:24").image == "config/node"
    assert bases.for_image("eclipse-temurin:21-jre").image.endswith("java21-debian13:nonroot")
    assert bases.for_image("corp/thing:1") is None
    defaults = BaseMap()
    assert defaults.for_image("node:22-alpine").image == ""  # musl: no replacement
    assert [defaults.for_java(v).key for v in (8, 11, 14, 17, 20, 21, 25)] == [
        "java8", "java11", "java17", "java17", "java21", "java21", "java25",
    ]  # fmt: skip
    assert defaults.for_java(26).image == "" and "Java 26" in defaults.for_java(26).why
    assert family("gcr.io/distroless/nodejs22-debian13:nonroot") == "node"
    assert family("gcr.io/distroless/static-debian13:nonroot") == "static"
    assert family("cgr.dev/chainguard/node") is None
