"""Paketo: the tiny builder for Java and Go, in project.toml or Spring Boot's Maven or Gradle plugin."""

from __future__ import annotations

import difflib
import re
import tomllib
from pathlib import Path

import pytest
from lxml import etree

from app.remediation import paketo, xmltext
from app.remediation.base import FixResult
from tests.conftest import FIXTURES
from tests.remediation.support import context

MAVEN = FIXTURES / "corpus" / "maven"
BOOT_POMS = sorted(p for p in MAVEN.glob("*.xml") if "spring-boot-maven-plugin" in p.read_text())
TINY = "paketobuildpacks/builder-jammy-tiny"
MINIMAL = ("non-minimal-base", "shell", "package-manager")
NS = {"m": "http://maven.apache.org/POM/4.0.0"}
GO = {"go.mod": "module m\n", "main.go": "package main\n"}


def fix(files: dict[str, str], *rules: str, bases: dict[str, str] | None = None) -> FixResult:
    ctx = context(files, *rules, kind="paketo", tool="lifecycle", bases=bases)
    assert paketo.applies(ctx)
    return paketo.fix(ctx)


def boot_pom(configuration: str = "", properties: str = "") -> str:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <properties>
    <java.version>21</java.version>{properties}
  </properties>
  <build>
    <plugins>
      <plugin>
        <groupId>org.springframework.boot</groupId>
        <artifactId>spring-boot-maven-plugin</artifactId>{configuration}
      </plugin>
    </plugins>
  </build>
</project>
"""


def effective_builders(pom: str) -> list[str]:
    """The builder each configured spring-boot-maven-plugin uses, ${…} resolved."""
    root = etree.fromstring(pom.encode(), etree.XMLParser(resolve_entities=False, no_network=True))
    properties = {
        el.tag.split("}")[-1]: (el.text or "").strip() for el in root.findall("m:properties/*", NS)
    }
    builders = []
    for plugin in root.iterfind(".//m:plugin", NS):
        if plugin.findtext("m:artifactId", namespaces=NS).strip() != "spring-boot-maven-plugin":
            continue
        value = (plugin.findtext("m:configuration/m:image/m:builder", namespaces=NS) or "").strip()
        reference = re.fullmatch(r"\$\{(.+)\}", value)
        value = properties.get(reference[1], value) if reference else value
        builders.append(value or properties.get("spring-boot.build-image.builder", ""))
    return builders


def test_applies_only_to_paketo_builds() -> None:
    assert not paketo.applies(context(GO, "shell", kind="gcp-buildpacks", tool="lifecycle"))
    assert fix(GO, "source-code") == FixResult()


def test_go_app_gets_a_project_toml_with_the_tiny_builder() -> None:
    result = fix(GO, *MINIMAL)
    [edit] = result.edits
    assert edit.path == "project.toml" and edit.old is None
    assert tomllib.loads(edit.new) == {
        "_": {"schema-version": "0.2"},
        "io": {"buildpacks": {"builder": TINY}},
    }
    [only] = result.outcomes
    assert only.rules == MINIMAL and only.done
    assert only.detail.startswith(f"project.toml: builder is {TINY} in [io.buildpacks]")
    assert "no shell and no package manager (Go)" in only.detail


def test_java_without_spring_boot_edits_the_existing_project_toml() -> None:
    text = '[project]\nid = "x"\n\n[build]\nbuilder = "paketobuildpacks/builder-jammy-base"\n'
    result = fix({"build.gradle": "plugins { id 'java' }\n", "project.toml": text}, "shell")
    [edit] = result.edits
    assert edit.new == text.replace("builder-jammy-base", "builder-jammy-tiny")


def test_spring_boot_pom_gets_the_builder_and_no_project_toml() -> None:
    pom = boot_pom("\n        <configuration>\n          <layers/>\n        </configuration>")
    result = fix({"pom.xml": pom}, "non-minimal-base")
    [edit] = result.edits
    assert edit.path == "pom.xml"
    assert (
        "          <layers/>\n          <image>\n            <builder>"
        f"{TINY}</builder>\n          </image>\n        </configuration>" in edit.new
    )
    assert effective_builders(edit.new) == [TINY]
    assert result.outcomes[0].done and "spring-boot-maven-plugin <image><builder>" in (
        result.outcomes[0].detail
    )


def test_spring_boot_builder_reference_is_changed_at_its_property() -> None:
    pom = boot_pom(
        "\n        <configuration>\n          <image>\n            <builder>${boot.builder}</builder>"
        "\n          </image>\n        </configuration>",
        "\n    <boot.builder>paketobuildpacks/builder-jammy-base:latest</boot.builder>",
    )
    new = paketo.set_spring_boot_builder(pom, TINY)
    assert new == pom.replace("builder-jammy-base:latest", "builder-jammy-tiny")
    assert "<builder>${boot.builder}</builder>" in new
    assert paketo.set_spring_boot_builder(new, TINY) == new


def test_spring_boot_builder_property_is_edited_when_no_xml_sets_it() -> None:
    pom = boot_pom("", "\n    <spring-boot.build-image.builder>b</spring-boot.build-image.builder>")
    new = paketo.set_spring_boot_builder(pom, TINY)
    assert new == pom.replace(">b<", f">{TINY}<")
    assert effective_builders(new) == [TINY]


def test_spring_boot_existing_builder_is_replaced() -> None:
    pom = boot_pom(
        "\n        <configuration>\n          <image>\n            <builder>old</builder>\n"
        "            <env><BP_JVM_VERSION>21</BP_JVM_VERSION></env>\n          </image>\n"
        "        </configuration>"
    )
    assert paketo.set_spring_boot_builder(pom, TINY) == pom.replace(">old<", f">{TINY}<")


@pytest.mark.parametrize(
    ("configuration", "properties"),
    [
        (
            "\n        <configuration><image><runImage>my/run:1</runImage></image></configuration>",
            "",
        ),
        ("", "\n    <spring-boot.build-image.runImage>r</spring-boot.build-image.runImage>"),
    ],
)
def test_run_image_set_is_refused(configuration: str, properties: str) -> None:
    pom = boot_pom(configuration, properties)
    with pytest.raises(paketo.NotEdited, match="run image"):
        paketo.set_spring_boot_builder(pom, TINY)
    result = fix({"pom.xml": pom}, "shell")
    assert result.edits == ()
    assert not result.outcomes[0].done and "left unchanged" in result.outcomes[0].detail


def test_spring_boot_with_project_toml_sets_both() -> None:
    result = fix({"pom.xml": boot_pom(), "project.toml": '[_]\nschema-version = "0.3"\n'}, "shell")
    assert sorted(e.path for e in result.edits) == ["pom.xml", "project.toml"]
    detail = result.outcomes[0].detail
    assert "spring-boot:build-image" in detail and "pack" in detail


@pytest.mark.parametrize("pom", BOOT_POMS, ids=lambda p: p.name[:60])
def test_corpus_spring_boot_poms(pom: Path) -> None:
    before = pom.read_text()
    after = paketo.set_spring_boot_builder(before, TINY)
    assert after is not None and after != before
    builders = effective_builders(after)
    assert builders and TINY in builders
    diff = difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
    changed = [line for line in diff if line[:1] in "+-" and not line.startswith(("+++", "---"))]
    assert all(line.startswith("+") for line in changed)
    assert all(
        re.fullmatch(rf"\+\s*(</?configuration>|</?image>|<builder>{TINY}</builder>)", line)
        for line in changed
    ), changed
    assert paketo.set_spring_boot_builder(after, TINY) == after


def test_pom_without_the_plugin_in_markup_falls_back_to_project_toml() -> None:
    pom = "<project><!-- spring-boot-maven-plugin later --></project>"
    result = fix({"pom.xml": pom}, "shell")
    assert [e.path for e in result.edits] == ["project.toml"]
    assert paketo.set_spring_boot_builder(pom, TINY) is None


def test_broken_pom_and_project_toml_are_refused() -> None:
    result = fix({"pom.xml": "<project><spring-boot-maven-plugin>"}, "shell")
    assert result.edits == () and "not well-formed" in result.outcomes[0].detail
    result = fix({**GO, "project.toml": "[io.buildpacks\n"}, "shell")
    assert result.edits == () and "not valid TOML" in result.outcomes[0].detail
    with pytest.raises(xmltext.XmlError):
        paketo.set_spring_boot_builder("<!DOCTYPE x []><project/>", TINY)


@pytest.mark.parametrize(
    ("files", "shown"),
    [
        ({"package.json": "{}"}, "a Node.js app (package.json)"),
        ({"requirements.txt": ""}, "a Python app (requirements.txt)"),
        ({"README.md": ""}, "the app's language is unknown"),
    ],
)
def test_other_languages_keep_their_builder(files: dict[str, str], shown: str) -> None:
    result = fix(files, *MINIMAL)
    assert result.edits == ()
    [only] = result.outcomes
    assert not only.done and shown in only.detail and "Java and Go only" in only.detail


GROOVY_BOOT = "plugins {\n    id 'org.springframework.boot' version '3.5.0'\n}\n\n"
KOTLIN_BOOT = 'plugins {\n    id("org.springframework.boot") version "3.5.0"\n}\n\n'
KOTLIN_BOOT2 = KOTLIN_BOOT.replace("3.5.0", "2.7.18")
KOTLIN_TASK = f'tasks.named<{paketo.TASK_CLASS}>("bootBuildImage")'
# (script name, before, after): every form of bootBuildImage configuration.
GRADLE_CASES = [
    (  # Groovy block without a builder: added to it
        "build.gradle",
        GROOVY_BOOT + "bootBuildImage {\n    imageName = 'app'\n}\n",
        GROOVY_BOOT + f"bootBuildImage {{\n    imageName = 'app'\n    builder = '{TINY}'\n}}\n",
    ),
    (  # Groovy block with a builder in double quotes: replaced in them
        "build.gradle",
        GROOVY_BOOT + 'bootBuildImage {\n    builder = "old"\n    imageName = "app"\n}\n',
        GROOVY_BOOT + f'bootBuildImage {{\n    builder = "{TINY}"\n    imageName = "app"\n}}\n',
    ),
    (  # Groovy tasks.named
        "build.gradle",
        GROOVY_BOOT + "tasks.named('bootBuildImage') {\n    builder = 'old'\n}\n",
        GROOVY_BOOT + f"tasks.named('bootBuildImage') {{\n    builder = '{TINY}'\n}}\n",
    ),
    (  # Groovy tasks.named without a builder; its other setting in command form
        "build.gradle",
        GROOVY_BOOT + "tasks.named('bootBuildImage') {\n    imageName 'app'\n}\n",
        GROOVY_BOOT
        + f"tasks.named('bootBuildImage') {{\n    imageName 'app'\n    builder = '{TINY}'\n}}\n",
    ),
    (  # Kotlin Boot 3: builder is a Property
        "build.gradle.kts",
        KOTLIN_BOOT
        + 'tasks.named<BootBuildImage>("bootBuildImage") {\n    builder.set("old")\n}\n',
        KOTLIN_BOOT
        + f'tasks.named<BootBuildImage>("bootBuildImage") {{\n    builder.set("{TINY}")\n}}\n',
    ),
    (  # Kotlin Boot 3 block without a builder: a setter is added
        "build.gradle.kts",
        KOTLIN_BOOT
        + 'tasks.named<BootBuildImage>("bootBuildImage") {\n    imageName.set("app")\n}\n',
        KOTLIN_BOOT + 'tasks.named<BootBuildImage>("bootBuildImage") {\n    imageName.set("app")\n'
        f'    builder.set("{TINY}")\n}}\n',
    ),
    (  # Kotlin Boot 2: builder is a String, assigned
        "build.gradle.kts",
        KOTLIN_BOOT2
        + 'tasks.getByName<BootBuildImage>("bootBuildImage") {\n    builder = "old"\n}\n',
        KOTLIN_BOOT2
        + f'tasks.getByName<BootBuildImage>("bootBuildImage") {{\n    builder = "{TINY}"\n}}\n',
    ),
    (  # Kotlin type-safe accessor, empty one-line block
        "build.gradle.kts",
        KOTLIN_BOOT + "tasks.bootBuildImage {}\n",
        KOTLIN_BOOT + f'tasks.bootBuildImage {{ builder.set("{TINY}") }}\n',
    ),
    (  # Groovy without a block (a commented one does not count): a block is appended
        "build.gradle",
        GROOVY_BOOT + "// bootBuildImage { builder = 'x' }\n",
        GROOVY_BOOT
        + f"// bootBuildImage {{ builder = 'x' }}\n\nbootBuildImage {{\n    builder = '{TINY}'\n}}\n",
    ),
    (  # Kotlin without a block: tasks.named with the task class, so no accessor is needed
        "build.gradle.kts",
        KOTLIN_BOOT.rstrip("\n"),
        KOTLIN_BOOT + f'{KOTLIN_TASK} {{\n    builder.set("{TINY}")\n}}',
    ),
    (  # Kotlin Boot 2 without a block: an assignment in the appended block
        "build.gradle.kts",
        KOTLIN_BOOT2,
        KOTLIN_BOOT2 + f'{KOTLIN_TASK} {{\n    builder = "{TINY}"\n}}\n',
    ),
]


@pytest.mark.parametrize(("script", "before", "after"), GRADLE_CASES)
def test_gradle_boot_build_gets_the_builder(script: str, before: str, after: str) -> None:
    result = fix({script: before}, "non-minimal-base")
    [change] = result.edits
    assert (change.path, change.old, change.new) == (script, before, after)
    [only] = result.outcomes
    assert only.done
    assert only.detail.startswith(f"{script}: the bootBuildImage task's builder is {TINY}")
    again = fix({script: after}, "non-minimal-base")
    assert again.edits == () and "builder is already" in again.outcomes[0].detail


def test_gradle_windows_line_endings_are_kept() -> None:
    before = GROOVY_BOOT.replace("\n", "\r\n") + "bootBuildImage {\r\n\timageName = 'app'\r\n}\r\n"
    after = paketo.set_boot_builder(before, False, TINY).text
    assert after == before.replace("'app'\r\n", f"'app'\r\n\tbuilder = '{TINY}'\r\n")
    appended = paketo.set_boot_builder(KOTLIN_BOOT.replace("\n", "\r\n"), True, TINY).text
    assert appended == KOTLIN_BOOT.replace("\n", "\r\n") + (
        f'{KOTLIN_TASK} {{\r\n    builder.set("{TINY}")\r\n}}\r\n'
    )


def test_gradle_builders_in_every_task_block_are_replaced() -> None:
    before = GROOVY_BOOT + (
        "bootBuildImage { builder = 'a' }\n"
        "tasks { bootBuildImage { builder 'b' } }\n"
        "tasks.named('bootBuildImage', BootBuildImage) { builder = 'c' }\n"
        "tasks.named(other) { builder = 'd' }\n"
    )
    after = paketo.set_boot_builder(before, False, TINY).text
    assert after == before.replace("'a'", f"'{TINY}'").replace("'b'", f"'{TINY}'").replace(
        "'c'", f"'{TINY}'"
    )


@pytest.mark.parametrize(
    ("script", "text", "reason"),
    [
        (
            "build.gradle",
            GROOVY_BOOT + "bootBuildImage {\n    builder = findProperty('builder')\n}\n",
            "line 6 sets bootBuildImage.builder from `findProperty('builder')`, not a plain string",
        ),
        (
            "build.gradle.kts",
            KOTLIN_BOOT + 'tasks.named<BootBuildImage>("bootBuildImage") {\n'
            '    builder.set("${registry}/builder")\n}\n',
            'line 6 sets tasks.bootBuildImage.builder from `"${registry}/builder"`',
        ),
        (
            "build.gradle",
            GROOVY_BOOT + "tasks.named('bootBuildImage') {\n    runImage = 'my/run:1'\n}\n",
            "line 6 sets runImage to `'my/run:1'`: the new builder would still run the app on that "
            "run image",
        ),
        (
            "build.gradle.kts",
            KOTLIN_BOOT + f'tasks.bootBuildImage {{\n    builder.set("{TINY}")\n'
            '    runImage.set("my/run:1")\n}\n',
            'line 7 sets runImage to `"my/run:1"`',
        ),
        ("build.gradle", GROOVY_BOOT + "bootBuildImage {\n", "cannot read the script safely"),
    ],
)
def test_gradle_builder_that_cannot_be_set_is_refused(script: str, text: str, reason: str) -> None:
    result = fix({script: text}, "shell")
    assert result.edits == ()
    [only] = result.outcomes
    assert not only.done
    assert only.detail.startswith(f"{script}: left unchanged: ") and reason in only.detail


def test_gradle_boot_build_with_project_toml_sets_both() -> None:
    files = {"build.gradle": GROOVY_BOOT, "project.toml": '[_]\nschema-version = "0.3"\n'}
    result = fix(files, "shell")
    assert [e.path for e in result.edits] == ["build.gradle", "project.toml"]
    assert result.outcomes[0].done and "read by pack" in result.outcomes[0].detail


def test_empty_kotlin_script_gets_only_the_block() -> None:
    assert paketo.set_boot_builder("", True, TINY).text == (
        f'{KOTLIN_TASK} {{\n    builder.set("{TINY}")\n}}\n'
    )


def test_root_user_is_explained_not_edited() -> None:
    result = fix(GO, "root-user")
    assert result.edits == ()
    [only] = result.outcomes
    assert only.rules == ("root-user",) and not only.done
    assert "uid 1002" in only.detail and "Nothing changed" in only.detail


def test_base_map_without_a_tiny_builder() -> None:
    result = fix(GO, "shell", bases={"paketo-go": ""})
    assert result.edits == ()
    assert "no minimal Paketo builder is configured for Go" in result.outcomes[0].detail
    result = fix(GO, "shell", bases={"paketo-go": "my/tiny"})
    assert "my/tiny" in result.edits[0].new


def test_builder_already_set_is_not_rewritten() -> None:
    text = f'[build]\nbuilder = "{TINY}"\n'
    result = fix({**GO, "project.toml": text}, "shell")
    assert result.edits == ()
    assert result.outcomes[0].done and "builder is already" in result.outcomes[0].detail
