"""The pom.xml edit for Jib's container user, on the real poms of the corpus."""

from __future__ import annotations

import difflib
import posixpath
import re
from pathlib import Path

import pytest
from lxml import etree

from app.remediation import jib_maven, xmltext
from tests.conftest import FIXTURES
from tests.remediation.support import context

CORPUS = FIXTURES / "corpus" / "maven"
GOLDEN = FIXTURES / "golden" / "jib-maven"
USER = "65532:65532"
JIB_POMS = sorted(p for p in CORPUS.glob("*.xml") if "jib-maven-plugin" in p.read_text())
NS = {"m": "http://maven.apache.org/POM/4.0.0"}
USER_SETTING = ("jib.container.user", ("container", "user"))
BASE_SETTING = ("jib.from.image", ("from", "image"))
CLI = "(command line)"
# Lines the fix may add or change: the three container/user elements, or a property value.
ALLOWED = re.compile(
    r"^\s*(</?configuration>|</?container>|<user>65532:65532</user>|"
    r"<jib\.container\.user>65532:65532</jib\.container\.user>|<[\w.-]+>65532:65532</[\w.-]+>)\s*$"
)


def hardened_parse(text: str) -> etree._Element:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    return etree.fromstring(text.encode(), parser)


def effective_users(text: str) -> list[str]:
    """What Jib would run as, for every build the single POM allows (see maven_effective)."""
    return list(maven_effective({"pom.xml": text}, "pom.xml", *USER_SETTING).values())


def fix_user(text: str, *rules: str) -> str | None:
    """The single pom after the fix of ``rules`` (root-user by default); None if untouched."""
    result = jib_maven.fix(context({"pom.xml": text}, *(rules or ("root-user",))))
    if not result.edits:
        return None if not result.fixed else text
    [edit] = result.edits
    return edit.new


def test_corpus_has_jib_poms() -> None:
    assert len(JIB_POMS) >= 15


@pytest.mark.parametrize("pom", JIB_POMS, ids=lambda p: p.name[:60])
def test_corpus_pom_fix_is_minimal_valid_idempotent_and_effective(pom: Path) -> None:
    before = pom.read_text()
    after = fix_user(before)
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
    assert fix_user(after) == after
    users = effective_users(after)
    assert users and set(users) == {USER}


def test_pom_without_jib_is_left_alone() -> None:
    pom = (
        CORPUS / "GoogleContainerTools__jib__examples_multi-module_hello-service_pom.xml"
    ).read_text()
    result = jib_maven.fix(context({"pom.xml": pom}, "root-user"))
    assert not jib_maven.applies(context({"pom.xml": pom}, "root-user"))
    assert result.edits == () and "no jib-maven-plugin" in result.notes[0]


@pytest.mark.parametrize("golden", sorted(GOLDEN.glob("*.xml")), ids=lambda p: p.name[:60])
def test_golden_files(golden: Path) -> None:
    assert fix_user((CORPUS / golden.name).read_text()) == golden.read_text()


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
    fixed = fix_user(text)
    assert "<jib.container.user>65532:65532</jib.container.user>" in fixed
    assert "<user>0</user>" in fixed  # ignored by Jib while the property exists; left as is
    assert effective_users(fixed) == [USER]


def test_reference_is_changed_at_its_definition() -> None:
    text = pom(
        "\n        <configuration>\n          <container>\n            <user>${run.as}</user>\n"
        "          </container>\n        </configuration>",
        "\n    <run.as>root</run.as>",
    )
    fixed = fix_user(text)
    assert "<run.as>65532:65532</run.as>" in fixed
    assert "<user>${run.as}</user>" in fixed


def test_self_closing_configuration_and_user() -> None:
    fixed = fix_user(pom("\n        <configuration/>"))
    assert effective_users(fixed) == [USER]
    text = pom(
        "\n        <configuration>\n          <container>\n            <user/>\n"
        "          </container>\n        </configuration>"
    )
    fixed = fix_user(text)
    assert "<user>65532:65532</user>" in fixed and effective_users(fixed) == [USER]


def test_tabs_and_crlf_are_kept() -> None:
    text = pom("").replace("  ", "\t").replace("\n", "\r\n")
    fixed = fix_user(text)
    assert "\r\n\t\t\t\t<configuration>\r\n\t\t\t\t\t<container>\r\n" in fixed
    assert "\n" not in fixed.replace("\r\n", "")


def test_plugin_only_in_a_profile_is_configured_there() -> None:
    text = (CORPUS / "piomin__sample-spring-boot-on-kubernetes__pom.xml").read_text()
    fixed = fix_user(text)
    doc = xmltext.parse(fixed.encode())
    [user] = doc.root.iter("user")
    assert "profile" in user.path()


def test_comments_with_markup_do_not_confuse_offsets() -> None:
    text = pom(
        "\n        <!-- <configuration><container><user>0</user></container> -->"
        "\n        <configuration attr='a>b'>\n          <to><image>x</image></to>\n"
        "        </configuration>"
    )
    fixed = fix_user(text)
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
    result = jib_maven.fix(context({"pom.xml": hostile}, "root-user"))
    assert result.edits == () and result.fixed == ()
    assert "cannot edit it safely" in result.notes[0]


def test_fixer_reads_the_mapped_subdirectory_and_explains_itself() -> None:
    files = {"svc/pom.xml": pom("")}
    assert jib_maven.applies(context(files, "root-user", root="svc"))
    assert not jib_maven.applies(context(files, "root-user", root="svc", tool="jib-gradle-plugin"))
    assert not jib_maven.applies(context(files, "root-user"))
    result = jib_maven.fix(context(files, "root-user", root="svc"))
    [edit] = result.edits
    assert edit.path == "svc/pom.xml" and edit.old == files["svc/pom.xml"]
    assert result.fixed == ("root-user",)
    assert result.notes == (
        "Jib container user set to 65532:65532 in svc/pom.xml (<container><user>)",
    )
    assert jib_maven.fix(context(files, root="svc")).edits == ()


def _chain(files: dict[str, str], module: str) -> list[etree._Element]:
    """The module's POM and its parents in ``files``, nearest first, as Maven follows them."""
    chain = []
    path: str | None = module
    while path in files and len(chain) < 10:
        root = hardened_parse(files[path])
        chain.append(root)
        parent = root.find("m:parent", NS)
        relative = parent.findtext("m:relativePath", "../pom.xml", NS) if parent is not None else ""
        if relative and not relative.endswith(".xml"):
            relative = posixpath.join(relative, "pom.xml")
        path = (
            posixpath.normpath(posixpath.join(posixpath.dirname(path), relative))
            if relative
            else None
        )
    return chain


def maven_effective(
    files: dict[str, str], module: str, key: str, xml: tuple[str, ...]
) -> dict[tuple[str | None, str], str]:
    """Jib's value for a setting in every build of the module, computed with lxml the way
    Maven assembles the model and Jib reads it, independently of the fixer.

    A build is (active profile or None, execution id or the command line). Maven builds each
    POM from the farthest parent down: the POM's own <properties> and plugin configuration,
    then the active profile's over them; a child's over its parent's. <build><plugins>
    configuration wins over <pluginManagement>'s, an execution's <configuration> over the
    plugin's. Jib then takes a ``jib.*`` project property over any plugin XML. Builds that
    declare no jib-maven-plugin at all are left out.
    """
    chain = _chain(files, module)
    conf = "/".join(f"m:{t}" for t in ("configuration", *xml))
    profiles = {
        (p.findtext("m:id", "default", NS) or "").strip()
        for root in chain
        for p in root.iterfind("m:profiles/m:profile", NS)
    }
    results: dict[tuple[str | None, str], str] = {}
    for active in [None, *sorted(profiles)]:
        props: dict[str, str] = {}
        # per section, per execution id (None: the plugin level): the value set last
        sections: dict[str, dict[str | None, str]] = {"managed": {}, "plugins": {}}
        declared = False
        for root in reversed(chain):
            layers = [root] + [
                p
                for p in root.iterfind("m:profiles/m:profile", NS)
                if (p.findtext("m:id", "default", NS) or "").strip() == active
            ]
            for layer in layers:
                for prop in layer.findall("m:properties/*", NS):
                    props[prop.tag.split("}")[-1]] = (prop.text or "").strip()
                for section, where in (
                    ("managed", "m:build/m:pluginManagement/m:plugins/m:plugin"),
                    ("plugins", "m:build/m:plugins/m:plugin"),
                ):
                    for plugin in layer.iterfind(where, NS):
                        if plugin.findtext("m:artifactId", "", NS).strip() != "jib-maven-plugin":
                            continue
                        declared = True
                        value = plugin.findtext(conf, None, NS)
                        if value is not None:
                            sections[section][None] = value.strip()
                        for execution in plugin.iterfind("m:executions/m:execution", NS):
                            value = execution.findtext(conf, None, NS)
                            if value is not None:
                                eid = execution.findtext("m:id", "default", NS).strip()
                                sections[section][eid] = value.strip()
        if not declared:
            continue

        def resolve(value: str, props: dict[str, str] = props) -> str:
            return re.sub(r"\$\{([^}]+)\}", lambda m: props.get(m[1], m[0]), value)

        managed, plugins = sections["managed"], sections["plugins"]
        for eid in {None, *managed, *plugins}:
            chosen = [plugins.get(eid), managed.get(eid), plugins.get(None), managed.get(None)]
            value = props[key] if key in props else next((v for v in chosen if v is not None), "")
            results[(active, eid or CLI)] = resolve(value)
    return results


def applied(files: dict[str, str], result: jib_maven.FixResult) -> dict[str, str]:
    return {**files, **{e.path: e.new for e in result.edits}}


def test_child_module_user_and_parent_pluginmanagement_base() -> None:
    files = {
        "pom.xml": (
            CORPUS / "GoogleContainerTools__skaffold__examples_jib-multimodule_pom.xml"
        ).read_text(),
        "project1/pom.xml": (
            CORPUS / "GoogleContainerTools__skaffold__examples_jib-multimodule_project1_pom.xml"
        ).read_text(),
    }
    ctx = context(files, "root-user", "non-minimal-base", "shell", root="project1")
    assert jib_maven.applies(ctx)
    result = jib_maven.fix(ctx)
    after = applied(files, result)
    assert {e.path for e in result.edits} == {"pom.xml", "project1/pom.xml"}
    assert set(maven_effective(after, "project1/pom.xml", *USER_SETTING).values()) == {USER}
    # the parent's pluginManagement pins eclipse-temurin:25: its distroless twin, set there
    assert set(maven_effective(after, "project1/pom.xml", *BASE_SETTING).values()) == {
        "gcr.io/distroless/java25-debian13:nonroot"
    }
    assert "<image>gcr.io/distroless/java25-debian13:nonroot</image>" in after["pom.xml"]
    assert set(result.fixed) == {"root-user", "non-minimal-base", "shell"}
    again = jib_maven.fix(context(after, "root-user", "non-minimal-base", "shell", root="project1"))
    assert again.edits == () and set(again.fixed) == set(result.fixed)


def test_java_release_picks_the_distroless_image_and_keeps_a_prefix() -> None:
    text = pom("", "\n    <maven.compiler.release>21</maven.compiler.release>")
    result = jib_maven.fix(context({"pom.xml": text}, "non-minimal-base"))
    [edit] = result.edits
    assert set(maven_effective({"pom.xml": edit.new}, "pom.xml", *BASE_SETTING).values()) == {
        "gcr.io/distroless/java21-debian13:nonroot"
    }
    assert result.fixed == ("non-minimal-base",) and "Java 21" in result.notes[0]
    prefixed = pom(
        "\n        <configuration>\n          <from><image>registry://eclipse-temurin:17-jre"
        "</image></from>\n        </configuration>"
    )
    [edit] = jib_maven.fix(context({"pom.xml": prefixed}, "non-minimal-base")).edits
    assert "<image>registry://gcr.io/distroless/java17-debian13:nonroot</image>" in edit.new


def test_from_image_property_in_the_parent_is_edited_there() -> None:
    parent = pom("", "\n    <jib.from.image>eclipse-temurin:21-jre</jib.from.image>")
    child = (
        '<project xmlns="http://maven.apache.org/POM/4.0.0">\n  <parent>\n'
        "    <artifactId>p</artifactId>\n  </parent>\n  <artifactId>c</artifactId>\n</project>\n"
    )
    files = {"pom.xml": parent, "svc/pom.xml": child}
    result = jib_maven.fix(context(files, "non-minimal-base", root="svc"))
    [edit] = result.edits
    assert edit.path == "pom.xml"
    assert "<jib.from.image>gcr.io/distroless/java21-debian13:nonroot</jib.from.image>" in edit.new
    # an empty <relativePath/> means the parent comes from a repository: not followed
    detached = child.replace(
        "</artifactId>\n  </parent>", "</artifactId>\n    <relativePath/>\n  </parent>", 1
    )
    ctx = context({"pom.xml": parent, "svc/pom.xml": detached}, "non-minimal-base", root="svc")
    assert not jib_maven.applies(ctx)


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("jhipster__jhipster-sample-app__pom.xml", "entrypoint runs bash"),
        (
            "GoogleContainerTools__jib__jib-maven-plugin_src_test_resources_maven_projects_war_servlet25_pom.xml",
            "builds a WAR",
        ),
        (
            "GoogleContainerTools__jib__examples_spring-boot_pom.xml",
            "Java 8: distroless has no Java 8 or 11",
        ),
    ],
)
def test_base_is_kept_when_a_distroless_base_would_break_the_app(name: str, reason: str) -> None:
    text = (CORPUS / name).read_text()
    result = jib_maven.fix(context({"pom.xml": text}, "root-user", "non-minimal-base"))
    base, user = result.outcomes
    assert not base.done and reason in base.detail and "base kept" in base.detail
    assert user.done and result.fixed == ("root-user",)
    [edit] = result.edits
    assert maven_effective({"pom.xml": edit.new}, "pom.xml", *BASE_SETTING) == (
        maven_effective({"pom.xml": text}, "pom.xml", *BASE_SETTING)
    )


def test_an_inherited_entrypoint_keeps_the_base() -> None:
    text = pom(
        "\n        <configuration><container><entrypoint>INHERIT</entrypoint></container>"
        "</configuration>",
        "\n    <maven.compiler.release>21</maven.compiler.release>",
    )
    result = jib_maven.fix(context({"pom.xml": text}, "non-minimal-base"))
    assert result.edits == () and "INHERIT" in result.notes[0] and "base kept" in result.notes[0]


def test_unmapped_base_is_explained_and_a_config_mapping_is_honoured() -> None:
    text = pom("\n        <configuration><from><image>corp/java:21</image></from></configuration>")
    result = jib_maven.fix(context({"pom.xml": text}, "non-minimal-base"))
    assert (
        result.edits == ()
        and "no minimal replacement is mapped for the base corp/java:21" in result.notes[0]
    )
    mapped = jib_maven.fix(
        context({"pom.xml": text}, "non-minimal-base", bases={"corp/java:*": "corp/java-min:21"})
    )
    [edit] = mapped.edits
    assert "<image>corp/java-min:21</image>" in edit.new and mapped.fixed == ("non-minimal-base",)


def test_user_from_a_property_defined_outside_the_repository_is_refused() -> None:
    text = pom(
        "\n        <configuration><container><user>${corp.user}</user></container></configuration>"
    )
    result = jib_maven.fix(context({"pom.xml": text}, "root-user"))
    assert result.edits == () and result.fixed == ()
    assert "defined outside this repository" in result.notes[0]


def test_a_script_entrypoint_keeps_the_base() -> None:
    text = pom(
        "\n        <configuration>\n          <container>\n            <entrypoint>"
        "<arg>/entrypoint.sh</arg></entrypoint>\n          </container>\n"
        "          <extraDirectories><paths><path>src/main/jib</path></paths></extraDirectories>"
        "\n        </configuration>",
    )
    result = jib_maven.fix(context({"pom.xml": text}, "root-user", "non-minimal-base"))
    base, user = result.outcomes
    assert not base.done and base.detail == (
        "the Jib entrypoint runs /entrypoint.sh, which may need a shell the distroless base "
        "does not have; base kept"
    )
    assert user.done
    [edit] = result.edits
    assert set(maven_effective({"pom.xml": edit.new}, "pom.xml", *BASE_SETTING).values()) == {""}


@pytest.mark.parametrize(
    "entrypoint",
    [
        "<arg>java</arg><arg>-cp</arg><arg>/app/classes</arg>",
        "<arg>/usr/bin/java</arg><arg>-jar</arg><arg>/app.jar</arg>",
    ],
)
def test_a_java_entrypoint_allows_the_switch(entrypoint: str) -> None:
    text = pom(
        f"\n        <configuration><container><entrypoint>{entrypoint}</entrypoint>"
        "</container></configuration>"
    )
    result = jib_maven.fix(context({"pom.xml": text}, "non-minimal-base"))
    assert result.fixed == ("non-minimal-base",)
    [edit] = result.edits
    assert set(maven_effective({"pom.xml": edit.new}, "pom.xml", *BASE_SETTING).values()) == {
        "gcr.io/distroless/java17-debian13:nonroot"
    }


@pytest.mark.parametrize(
    "entrypoint",
    [
        "<entrypoint><arg>/opt/run</arg></entrypoint>",
        "<entrypoint>node,server.js</entrypoint>",
    ],
)
def test_any_other_entrypoint_program_keeps_the_base(entrypoint: str) -> None:
    text = pom(f"\n        <configuration><container>{entrypoint}</container></configuration>")
    result = jib_maven.fix(context({"pom.xml": text}, "non-minimal-base"))
    assert result.edits == () and "may need a shell" in result.notes[0]


def profiles(*bodies: str) -> str:
    return (
        "\n  <profiles>"
        + "".join(f"\n    <profile>{b}\n    </profile>" for b in bodies)
        + ("\n  </profiles>")
    )


def jib_plugin(configuration: str) -> str:
    return (
        "<build><plugins><plugin><groupId>com.google.cloud.tools</groupId>"
        f"<artifactId>jib-maven-plugin</artifactId>{configuration}</plugin></plugins></build>"
    )


def with_profiles(text: str, *bodies: str) -> str:
    return text.replace("\n</project>", profiles(*bodies) + "\n</project>")


# Each POM runs as root (or on eclipse-temurin) in at least one build before the fix.
EFFECTIVE_CASES = {
    "profile-sets-root-default-unconfigured": with_profiles(
        pom(""),
        "<id>docker</id>"
        + jib_plugin(
            "<configuration><container><user>0</user></container>"
            "<from><image>eclipse-temurin:17-jre</image></from></configuration>"
        ),
    ),
    "execution-overrides-plugin": pom(
        "\n        <configuration><container><user>1000</user></container>"
        "<from><image>eclipse-temurin:17-jre</image></from></configuration>"
        "\n        <executions><execution><id>build</id><phase>package</phase>"
        "<goals><goal>build</goal></goals><configuration><container><user>root</user>"
        "</container><from><image>eclipse-temurin:21-jre</image></from></configuration>"
        "</execution></executions>"
    ),
    "profile-properties": with_profiles(
        pom("\n        <configuration/>"),
        "<id>ci</id><activation><activeByDefault>true</activeByDefault></activation>"
        "<properties><jib.container.user>root</jib.container.user>"
        "<jib.from.image>eclipse-temurin:17-jre</jib.from.image></properties>",
    ),
    "root-property-and-profile-property": with_profiles(
        pom(
            "",
            "\n    <jib.container.user>root</jib.container.user>"
            "\n    <jib.from.image>eclipse-temurin:17-jre</jib.from.image>",
        ),
        "<id>a</id><properties><jib.container.user>0:0</jib.container.user></properties>",
        "<id>b</id>"
        + jib_plugin("<configuration><container><user>0</user></container></configuration>"),
    ),
    "pluginmanagement-and-profile-execution": with_profiles(
        pom("").replace(
            "<build>",
            "<build>\n    <pluginManagement><plugins><plugin>"
            "<artifactId>jib-maven-plugin</artifactId><configuration><container>"
            "<user>root</user></container></configuration></plugin></plugins>"
            "</pluginManagement>",
        ),
        "<id>release</id>"
        + jib_plugin(
            "<executions><execution><configuration><container><user>0</user></container>"
            "</configuration></execution></executions>"
        ),
    ),
}


@pytest.mark.parametrize("name", sorted(EFFECTIVE_CASES))
def test_every_build_runs_non_root_after_the_fix(name: str) -> None:
    text = EFFECTIVE_CASES[name]
    before = maven_effective({"pom.xml": text}, "pom.xml", *USER_SETTING)
    assert set(before.values()) != {USER}
    result = jib_maven.fix(context({"pom.xml": text}, "root-user"))
    [edit] = result.edits
    after = maven_effective({"pom.xml": edit.new}, "pom.xml", *USER_SETTING)
    assert after.keys() == before.keys() and set(after.values()) == {USER}, after
    assert result.fixed == ("root-user",)
    assert jib_maven.fix(context({"pom.xml": edit.new}, "root-user")).edits == ()


@pytest.mark.parametrize(
    "name", [n for n, t in sorted(EFFECTIVE_CASES.items()) if "eclipse-temurin" in t]
)
def test_every_build_gets_the_new_base(name: str) -> None:
    text = EFFECTIVE_CASES[name]
    result = jib_maven.fix(context({"pom.xml": text}, "non-minimal-base"))
    [edit] = result.edits
    after = maven_effective({"pom.xml": edit.new}, "pom.xml", *BASE_SETTING)
    distroless = {"gcr.io/distroless/java17-debian13:nonroot"}
    if name == "execution-overrides-plugin":  # each place keeps its own Java release
        distroless = {
            "gcr.io/distroless/java17-debian13:nonroot",
            "gcr.io/distroless/java21-debian13:nonroot",
        }
        assert after[(None, "build")] == "gcr.io/distroless/java21-debian13:nonroot"
    assert set(after.values()) == distroless, after
    assert result.fixed == ("non-minimal-base",)
    again = jib_maven.fix(context({"pom.xml": edit.new}, "non-minimal-base"))
    assert again.edits == () and "already" in again.notes[0]


def test_the_oracle_sees_each_build() -> None:
    effective = maven_effective(
        {"pom.xml": EFFECTIVE_CASES["profile-sets-root-default-unconfigured"]},
        "pom.xml",
        *USER_SETTING,
    )
    assert effective == {(None, CLI): "", ("docker", CLI): "0"}
    effective = maven_effective(
        {"pom.xml": EFFECTIVE_CASES["execution-overrides-plugin"]}, "pom.xml", *USER_SETTING
    )
    assert effective == {(None, CLI): "1000", (None, "build"): "root"}


def test_default_build_and_profile_are_both_edited_and_named() -> None:
    text = EFFECTIVE_CASES["profile-sets-root-default-unconfigured"]
    [note] = jib_maven.fix(context({"pom.xml": text}, "root-user")).notes
    assert note == (
        "Jib container user set to 65532:65532 in pom.xml (<container><user> in profile docker), "
        "pom.xml (<container><user>)"
    )


def test_a_pom_nested_absurdly_deep_is_refused_not_crashed() -> None:
    depth = 3000
    text = pom("", "\n    " + "<x>" * depth + "</x>" * depth)
    ctx = context({"pom.xml": text}, "root-user", "non-minimal-base")
    assert jib_maven.applies(ctx)
    result = jib_maven.fix(ctx)
    assert result.edits == () and result.fixed == ()
    [note] = result.notes
    assert "cannot edit it safely" in note and "nested too deeply" in note


def test_a_bases_entry_that_maps_to_nothing_is_named_in_the_reason() -> None:
    text = pom("", "\n    <maven.compiler.release>17</maven.compiler.release>")
    result = jib_maven.fix(context({"pom.xml": text}, "non-minimal-base", bases={"java17": ""}))
    assert result.edits == ()
    assert result.notes == (
        "Java 17: the `bases` entry `java17` maps it to no image; base kept, run as a non-root "
        "user instead",
    )
