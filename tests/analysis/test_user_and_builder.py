"""The root-user decision, Jib detection on real configs, and the source hint."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.analysis import builder, source
from app.analysis.facts import ImageFacts
from app.analysis.rules import RULES
from app.analysis.user import is_root
from app.models import Builder, Severity
from tests.conftest import FIXTURES

IMAGES = FIXTURES / "images"


def facts(config: dict, annotations: dict | None = None) -> ImageFacts:
    return ImageFacts(
        platform="linux/amd64", digest="sha256:00", config=config, annotations=annotations or {}
    )


def load(relative: str) -> ImageFacts:
    return facts(json.loads((IMAGES / relative).read_text()))


@pytest.mark.parametrize(
    "user", ["", "root", "0", "0:0", "0:1000", "root:root", "root:staff", " 0 ", "00", "root:"]
)
def test_root_users(user: str) -> None:
    assert is_root(user)


@pytest.mark.parametrize(
    "user", ["65532", "65532:65532", "nonroot", "1000:0", "app", "nobody", "10", "rootless", "0x0"]
)
def test_non_root_users(user: str) -> None:
    assert not is_root(user)


@given(uid=st.integers(min_value=1, max_value=2**31), gid=st.integers(min_value=0, max_value=2**31))
def test_any_nonzero_uid_is_not_root_whatever_the_group(uid: int, gid: int) -> None:
    assert not is_root(f"{uid}:{gid}")
    assert is_root(f"0:{gid}")


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        (
            "jib/jib-gradle-plugin-1.4.1-snapshot.config.json",
            Builder("jib", "jib-gradle-plugin", "1.4.1-SNAPSHOT"),
        ),
        ("jib/jib-core-on-busybox.config.json", Builder("jib", "jib-core", None)),
        ("jib/jib-core-testjson-containerconfig.json", Builder("jib", "jib", None)),
        ("dockerfile/dockle-testdata-nginx.config.json", Builder("unknown")),
        ("dockerfile/dockle-testdata-add_with_arg_statement.config.json", Builder("unknown")),
        ("dockerfile/dockle-testdata-apk_cache.config.json", Builder("unknown")),
        ("dockerfile/dockle-testdata-root_default.config.json", Builder("unknown")),
        ("buildpacks/lifecycle-extended-run-image-kaniko.config.json", Builder("unknown")),
    ],
)
def test_builder_detection_on_real_configs(fixture: str, expected: Builder) -> None:
    detected = builder.detect(load(fixture))
    assert (detected.kind, detected.tool, detected.version) == (
        expected.kind,
        expected.tool,
        expected.version,
    )
    if detected.kind == "jib":
        assert "created_by" in (detected.evidence or "")


def test_jib_maven_plugin_version_is_read() -> None:
    config = {
        "history": [
            {"created_by": "/bin/sh -c #(nop) ADD file:x in /"},
            {"author": "Jib", "created_by": "jib-maven-plugin:3.4.4", "comment": "classes"},
        ]
    }
    assert builder.detect(facts(config)) == Builder(
        kind="jib",
        tool="jib-maven-plugin",
        version="3.4.4",
        evidence="history created_by 'jib-maven-plugin:3.4.4', author 'Jib'",
    )


def test_a_shell_command_mentioning_jib_is_not_jib() -> None:
    config = {"history": [{"created_by": "/bin/sh -c echo jib-maven-plugin:3.4.4"}]}
    assert builder.detect(facts(config)).kind == "unknown"


@pytest.mark.parametrize(
    ("fixture", "root"),
    [
        ("jib/jib-gradle-plugin-1.4.1-snapshot.config.json", True),  # no User at all
        ("jib/jib-core-on-busybox.config.json", True),
        ("jib/jib-core-testjson-containerconfig.json", False),  # User "tomcat"
        ("dockerfile/dockle-testdata-root_default.config.json", True),
        ("buildpacks/lifecycle-extended-run-image-kaniko.config.json", True),  # User "root"
    ],
)
def test_root_user_rule_on_real_configs(fixture: str, root: bool) -> None:
    findings = RULES["root-user"](load(fixture))
    assert bool(findings) is root
    for finding in findings:
        assert finding.severity is Severity.HIGH
        assert finding.evidence.startswith("config User is")


def test_source_hint_from_label_and_annotation() -> None:
    labelled = facts(
        {
            "config": {
                "Labels": {
                    "org.opencontainers.image.source": "https://github.com/acme/orders",
                    "org.opencontainers.image.revision": "3f2a9c1",
                }
            }
        }
    )
    assert source.hint(labelled).repository == "https://github.com/acme/orders"
    assert source.hint(labelled).revision == "3f2a9c1"
    annotated = facts({"config": {}}, {"org.opencontainers.image.source": "https://x/a/b"})
    assert source.hint(annotated).repository == "https://x/a/b"
    assert source.hint(facts({"config": {"Labels": None}})).repository is None
