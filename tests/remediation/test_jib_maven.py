"""The pom.xml edit for Jib's container user, on the real poms of the corpus."""

from __future__ import annotations

import difflib
import re
from pathlib import Path

import pytest
from lxml import etree

from app.models import BaseImage, Builder, Finding, PlatformReport, Severity, SourceHint
from app.remediation import jib_maven, xmltext
from tests.conftest import FIXTURES

CORPUS = FIXTURES / "corpus" / "maven"
GOLDEN = FIXTURES / "golden" / "jib-maven"
USER = "65532:65532"
JIB_POMS = sorted(p for p in CORPUS.glob("*.xml") if "jib-maven-plugin" in p.read_text())
NS = {"m": "http://maven.apache.org/POM/4.0.0"}
# Lines the fix may add or change: the three container/user elements, or a property value.
ALLOWED = re.compile(
    r"^\s*(</?configuration>|</?container>|<user>65532:65532</user>|"
    r"<jib\.container\.user>65532:65532</jib\.container\.user>|<[\w.-]+>65532:65532</[\w.-]+>)\s*$"
)


def hardened_parse(text: str) -> etree._Element:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    return etree.fromstring(text.encode(), parser)


def effective_users(text: str) -> list[str]:
    """What Jib would run as, per jib-maven-plugin declaration, after property precedence."""
    root = hardened_parse(text)
    properties = {
        el.tag.split("}")[-1]: (el.text or "").strip() for el in root.findall("m:properties/*", NS)
    }
    if "jib.container.user" in properties:
        return [properties["jib.container.user"]]
    users = []
    for plugin in root.iterfind(".//m:plugin", NS):
        if (plugin.findtext("m:artifactId", namespaces=NS) or "").strip() != "jib-maven-plugin":
            continue
        if plugin.find("m:configuration", NS) is None:
            continue
        value = (plugin.findtext("m:configuration/m:container/m:user", namespaces=NS) or "").strip()
        reference = re.fullmatch(r"\$\{(.+)\}", value)
        users.append(properties.get(reference[1], value) if reference else value)
    return users


def test_corpus_has_jib_poms() -> None:
    assert len(JIB_POMS) >= 15


@pytest.mark.parametrize("pom", JIB_POMS, ids=lambda p: p.name[:60])
def test_corpus_pom_fix_is_minimal_valid_idempotent_and_effective(pom: Path) -> None:
    before = pom.read_text()
    after = jib_maven.set_container_user(before, USER)
    assert after is not None and after != before
    hardened_parse(after)  # still well-formed
    diff = [
        line
        for line in difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]
    added = [line[1:] for line in diff if line.startswith("+")]
    removed = [line[1:] for line in diff if line.startswith("-")]
    assert added and all(ALLOWED.match(line) for line in added), added
    # at most the one user (or property) line whose value was replaced
    assert len(removed) <= 1 and all(re.search(r"<(user|[\w.-]+)>[^<]*</", r) for r in removed)
    assert jib_maven.set_container_user(after, USER) == after
    users = effective_users(after)
    assert users and set(users) == {USER}


def test_pom_without_jib_is_left_alone() -> None:
    pom = (
        CORPUS / "GoogleContainerTools__jib__examples_multi-module_hello-service_pom.xml"
    ).read_text()
    assert jib_maven.set_container_user(pom, USER) is None


@pytest.mark.parametrize("golden", sorted(GOLDEN.glob("*.xml")), ids=lambda p: p.name[:60])
def test_golden_files(golden: Path) -> None:
    assert (
        jib_maven.set_container_user((CORPUS / golden.name).read_text(), USER) == golden.read_text()
    )


def pom(body: str, properties: str = "") -> str:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <properties>
    <java.version>17</java.version>{properties}
  </properties>
  <build>
    <plugins>
      <plugin>
        <groupId>com.google.cloud.tools</groupId>
        <artifactId>jib-maven-plugin</artifactId>{body}
      </plugin>
    </plugins>
  </build>
</project>
"""


def test_property_wins_over_the_plugin_xml() -> None:
    text = pom(
        "\n        <configuration><container><user>0</user></container></configuration>",
        "\n    <jib.container.user>root</jib.container.user>",
    )
    fixed = jib_maven.set_container_user(text, USER)
    assert "<jib.container.user>65532:65532</jib.container.user>" in fixed
    assert "<user>0</user>" in fixed  # ignored by Jib while the property exists; left as is
    assert effective_users(fixed) == [USER]


def test_reference_is_changed_at_its_definition() -> None:
    text = pom(
        "\n        <configuration>\n          <container>\n            <user>${run.as}</user>\n"
        "          </container>\n        </configuration>",
        "\n    <run.as>root</run.as>",
    )
    fixed = jib_maven.set_container_user(text, USER)
    assert "<run.as>65532:65532</run.as>" in fixed
    assert "<user>${run.as}</user>" in fixed


def test_self_closing_configuration_and_user() -> None:
    fixed = jib_maven.set_container_user(pom("\n        <configuration/>"), USER)
    assert effective_users(fixed) == [USER]
    text = pom(
        "\n        <configuration>\n          <container>\n            <user/>\n"
        "          </container>\n        </configuration>"
    )
    fixed = jib_maven.set_container_user(text, USER)
    assert "<user>65532:65532</user>" in fixed and effective_users(fixed) == [USER]


def test_tabs_and_crlf_are_kept() -> None:
    text = pom("").replace("  ", "\t").replace("\n", "\r\n")
    fixed = jib_maven.set_container_user(text, USER)
    assert "\r\n\t\t\t\t<configuration>\r\n\t\t\t\t\t<container>\r\n" in fixed
    assert "\n" not in fixed.replace("\r\n", "")


def test_plugin_only_in_a_profile_is_configured_there() -> None:
    text = (CORPUS / "piomin__sample-spring-boot-on-kubernetes__pom.xml").read_text()
    fixed = jib_maven.set_container_user(text, USER)
    doc = xmltext.parse(fixed.encode())
    [user] = doc.root.iter("user")
    assert "profile" in user.path()


def test_comments_with_markup_do_not_confuse_offsets() -> None:
    text = pom(
        "\n        <!-- <configuration><container><user>0</user></container> -->"
        "\n        <configuration attr='a>b'>\n          <to><image>x</image></to>\n"
        "        </configuration>"
    )
    fixed = jib_maven.set_container_user(text, USER)
    assert "<!-- <configuration><container><user>0</user></container> -->" in fixed
    assert effective_users(fixed) == [USER]


@pytest.mark.parametrize(
    "hostile",
    [
        '<?xml version="1.0"?>\n<!DOCTYPE project [<!ENTITY a "aaaa">]>\n<project>&a;</project>',
        '<?xml version="1.0"?>\n<!DOCTYPE project SYSTEM "file:///etc/passwd">\n<project/>',
        "<project><build>",
    ],
)
def test_dtds_entities_and_broken_xml_are_refused(hostile: str) -> None:
    with pytest.raises(xmltext.XmlError):
        jib_maven.set_container_user(hostile, USER)


class Tree:
    def __init__(self, files: dict[str, str]) -> None:
        self.files = files

    def read(self, path: str) -> str | None:
        return self.files.get(path)


def platform(
    rules: tuple[str, ...] = ("root-user",), tool: str = "jib-maven-plugin"
) -> PlatformReport:
    return PlatformReport(
        platform="linux/amd64",
        digest="sha256:00",
        user="",
        builder=Builder("jib", tool, "3.4.4"),
        base=BaseImage(),
        source=SourceHint(),
        findings=tuple(Finding(r, Severity.HIGH, "t", "e") for r in rules),
    )


def test_fixer_reads_the_mapped_subdirectory_and_explains_itself() -> None:
    tree = Tree({"svc/pom.xml": pom("")})
    assert jib_maven.applies(platform(), tree, "svc")
    assert not jib_maven.applies(platform(tool="jib-gradle-plugin"), tree, "svc")
    assert not jib_maven.applies(platform(), tree, "")
    result = jib_maven.fix(platform(), tree, "svc", USER)
    [edit] = result.edits
    assert edit.path == "svc/pom.xml" and edit.old == tree.files["svc/pom.xml"]
    assert result.fixed == ("root-user",)
    assert result.notes == ("svc/pom.xml: Jib container user set to 65532:65532",)
    broken = jib_maven.fix(platform(), Tree({"pom.xml": "<project><!DOCTYPE x>"}), "", USER)
    assert broken.edits == () and "cannot edit it safely" in broken.notes[0]
    assert jib_maven.fix(platform(rules=()), tree, "svc", USER).edits == ()
