"""The Gradle scripts' edit for Jib's container user and base, on the real scripts of the corpus."""

from __future__ import annotations

import difflib
import re
from pathlib import Path

import pytest

from app.remediation import jib_gradle
from app.remediation.base import FixContext, FixResult
from tests.conftest import FIXTURES
from tests.remediation.support import context

CORPUS = FIXTURES / "corpus"
GOLDEN = FIXTURES / "golden" / "jib-gradle"
USER = "65532:65532"
TOOL = "jib-gradle-plugin"
DISTROLESS = re.compile(r"^gcr\.io/distroless/java(17|21|25)-debian13:nonroot$")
SCRIPTS = sorted([*CORPUS.glob("gradle-groovy/*.gradle"), *CORPUS.glob("gradle-kotlin/*.kts")])
STELLIO_ROOT = "stellio-hub__stellio-context-broker__build.gradle.kts"
CATALOG = '[plugins]\njib = { id = "com.google.cloud.tools.jib", version = "3.4.0" }\n'
# Lines a fix may add: the blocks around the setting, the setting, closing braces, a blank.
ALLOWED_USER = re.compile(
    r"""^\s*(jib \{|container \{|\}|(jib\.container\.)?user = (['"])65532:65532\3|)\s*$"""
)
ALLOWED_BASE = re.compile(
    r"""^\s*(jib \{|from \{|\}|(jib\.from\.|from\.)?image = (['"])(docker://|registry://)?"""
    r"""gcr\.io/distroless/java\d+-debian13:nonroot\3|)\s*$"""
)


# --- an independent evaluator: a naive tokenizer, a block stack per line, last one wins ----

TOKEN = re.compile(
    r'"""[\s\S]*?"""|\'\'\'[\s\S]*?\'\'\'|"(?:[^"\\\n]|\\.)*"|\'(?:[^\'\\\n]|\\.)*\''
    r"|//[^\n]*|/\*[\s\S]*?\*/|[^\"'/]+|/"
)
OUTER = {"subprojects", "allprojects", "configure", "project", "afterEvaluate"}


def code_and_strings(text: str) -> tuple[str, list[str]]:
    """Comments removed, each string literal replaced by a placeholder ``@n@``."""
    strings: list[str] = []
    out = []
    for token in TOKEN.findall(text):
        if token.startswith(("//", "/*")):
            out.append("\n" * token.count("\n"))
        elif token[0] in "'\"":
            strings.append(token)
            out.append(f"@{len(strings) - 1}@")
        else:
            out.append(token)
    return "".join(out), strings


def braces_balance(text: str) -> bool:
    code, _ = code_and_strings(text)
    depth = 0
    for char in code:
        depth += {"{": 1, "}": -1}.get(char, 0)
        if depth < 0:
            return False
    return depth == 0


def effective(text: str, path: str) -> str | None:
    """The value ``path`` ends up with: string content, "<expr>" for anything else, or None."""
    code, strings = code_and_strings(text)
    stack: list[str] = []
    value = None
    for line in code.splitlines():
        scope = ".".join(n for n in stack if n not in OUTER and n != "if")
        head = re.match(r"\s*([\w.]+?)(?:\.set\((.*)\)|\s*=\s*(.*)|\s+(@\d+@))\s*$", line)
        if head:
            target = f"{scope}.{head[1]}" if scope else head[1]
            raw = next(g for g in head.groups()[1:] if g is not None).strip()
            literal = re.fullmatch(r"@(\d+)@", raw)
            if target == path:
                content = strings[int(literal[1])][1:-1] if literal else "<expr>"
                value = content if "$" not in content else "<expr>"
        for match in re.finditer(r"([\w.]*)\s*(?:\([^()]*\))?\s*\{|\}", line):
            if match[0] == "}":
                stack.pop()
            else:
                stack.append(match[1])
    return value


# --- the corpus ------------------------------------------------------------------------------


def layout(script: Path) -> tuple[dict[str, str], str, str]:
    """A repository around the corpus script: (files, module root, path the fix should edit)."""
    text = script.read_text()
    name = "build.gradle.kts" if script.name.endswith(".kts") else "build.gradle"
    if "SsuCore" in script.name:  # a precompiled script plugin, applied by the module
        plugin = "plugin/src/main/kotlin/SsuCore.gradle.kts"
        return {plugin: text, name: 'plugins {\n    id("SsuCore")\n}\n'}, "", plugin
    if script.name.startswith("stellio") and script.name != STELLIO_ROOT:
        module = script.name.split("__")[-1].removesuffix("_build.gradle.kts")
        root = (CORPUS / "gradle-kotlin" / STELLIO_ROOT).read_text()
        return {name: root, f"{module}/{name}": text}, module, f"{module}/{name}"
    files = {name: text}
    if "libs.plugins.jib" in text:
        files["gradle/libs.versions.toml"] = CATALOG
    return files, "", name


def corpus_context(script: Path, *rules: str) -> tuple[FixContext, str]:
    files, root, edited = layout(script)
    return context(files, *rules, tool=TOOL, root=root), edited


JIB_SCRIPTS = [s for s in SCRIPTS if jib_gradle.applies(corpus_context(s)[0])]


def refixed(ctx: FixContext, result: FixResult, *rules: str) -> FixResult:
    files = dict(ctx.tree.files)  # type: ignore[attr-defined]
    files.update({e.path: e.new for e in result.edits})
    return jib_gradle.fix(context(files, *rules, tool=TOOL, root=ctx.root))


def changed_lines(before: str, after: str) -> tuple[list[str], list[str]]:
    diff = [
        line
        for line in difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]
    return [d[1:] for d in diff if d[0] == "+"], [d[1:] for d in diff if d[0] == "-"]


def test_corpus_selection_is_every_script_that_applies_jib() -> None:
    assert len(SCRIPTS) == 22
    assert [s.name for s in SCRIPTS if s not in JIB_SCRIPTS] == [STELLIO_ROOT]  # `apply false`


@pytest.mark.parametrize("script", JIB_SCRIPTS, ids=lambda p: p.name[:60])
def test_corpus_user_fix_is_minimal_balanced_idempotent_and_effective(script: Path) -> None:
    ctx, edited = corpus_context(script, "root-user")
    result = jib_gradle.fix(ctx)
    [edit] = result.edits
    assert edit.path == edited and result.fixed == ("root-user",)
    added, removed = changed_lines(edit.old, edit.new)
    assert added and all(ALLOWED_USER.match(line) for line in added), added
    assert len(removed) <= 1 and all(re.match(r"\s*user\s*=", r) for r in removed), removed
    assert braces_balance(edit.new)
    assert effective(edit.new, "jib.container.user") == USER
    again = refixed(ctx, result, "root-user")
    assert again.edits == () and again.fixed == ("root-user",)
    assert "already sets jib.container.user" in again.notes[0]


BASE_SWITCHED = {
    "GoogleContainerTools__skaffold__examples_jib-gradle_build.gradle",
    "GoogleContainerTools__skaffold__examples_jib-sync_build.gradle",
    "dkamakin__PathFinder__Configuration_build.gradle.kts",  # eclipse-temurin:21 → java21
}


# The golden file was made before a pinned base was looked up in the mapping: its base line
# is what the fix now changes as well.
@pytest.mark.parametrize("script", JIB_SCRIPTS, ids=lambda p: p.name[:60])
def test_corpus_base_fix_switches_only_where_the_base_or_release_allows_it(script: Path) -> None:
    ctx, _ = corpus_context(script, "non-minimal-base")
    result = jib_gradle.fix(ctx)
    [outcome] = result.outcomes
    if script.name not in BASE_SWITCHED:
        assert result.edits == () and not outcome.done
        assert re.search(
            r"Java (8|11)|no Java release|not a plain string|no minimal replacement is mapped"
            r"|sets the entrypoint",
            outcome.detail,
        )
        return
    [edit] = result.edits
    added, removed = changed_lines(edit.old, edit.new)
    assert added and all(ALLOWED_BASE.match(line) for line in added), added
    assert len(removed) <= 1 and all(re.match(r"\s*image\s*=", r) for r in removed), removed
    assert braces_balance(edit.new)
    assert DISTROLESS.match(effective(edit.new, "jib.from.image") or "")
    assert refixed(ctx, result, "non-minimal-base").edits == ()


@pytest.mark.parametrize("script", JIB_SCRIPTS, ids=lambda p: p.name[:60])
def test_corpus_both_fixes_at_once(script: Path) -> None:
    ctx, _ = corpus_context(script, "root-user", "non-minimal-base")
    result = jib_gradle.fix(ctx)
    for edit in result.edits:
        assert braces_balance(edit.new)
        assert effective(edit.new, "jib.container.user") == USER
    again = refixed(ctx, result, "root-user", "non-minimal-base")
    assert again.edits == () and again.fixed == result.fixed


@pytest.mark.parametrize("golden", sorted(GOLDEN.iterdir()), ids=lambda p: p.name[:60])
def test_golden_files(golden: Path) -> None:
    corpus = next(s for s in SCRIPTS if s.name == golden.name)
    ctx, _ = corpus_context(corpus, "root-user", "non-minimal-base")
    [edit] = jib_gradle.fix(ctx).edits
    assert edit.new == golden.read_text()


def test_there_are_three_goldens() -> None:
    assert len(list(GOLDEN.iterdir())) == 3


# --- hand-written cases ------------------------------------------------------------------------

GROOVY = """plugins {
    id 'java'
    id 'com.google.cloud.tools.jib' version '3.5.4'
}

java {
    toolchain {
        languageVersion = JavaLanguageVersion.of(21)
    }
}

jib {
    from {
        image = 'eclipse-temurin:21-jre'
    }
    container {
        user = 'root'
    }
}
"""

KOTLIN = """plugins {
    java
    id("com.google.cloud.tools.jib") version "3.5.4"
}

kotlin {
    jvmToolchain(17)
}

jib {
    from {
        image = "eclipse-temurin:17-jre"
    }
    container {
        user = "root"
    }
}
"""


NO_FROM = '    from {\n        image = "eclipse-temurin:17-jre"\n    }\n'


def fix(files: dict[str, str], *rules: str, root: str = "", **kw: object) -> FixResult:
    return jib_gradle.fix(context(files, *rules, tool=TOOL, root=root, **kw))  # type: ignore[arg-type]


def fixed_text(result: FixResult, path: str) -> str:
    return next(e.new for e in result.edits if e.path == path)


def test_groovy_block_user_and_base() -> None:
    result = fix({"build.gradle": GROOVY}, "root-user", "non-minimal-base", "shell")
    new = fixed_text(result, "build.gradle")
    assert "user = '65532:65532'" in new
    assert "image = 'gcr.io/distroless/java21-debian13:nonroot'" in new
    assert result.fixed == ("non-minimal-base", "root-user", "shell")
    assert result.notes == (
        "build.gradle: jib.container.user set to 65532:65532",
        "build.gradle: jib.from.image set to gcr.io/distroless/java21-debian13:nonroot for the "
        "current base eclipse-temurin:21-jre",
    )


def test_groovy_dotted_form_is_kept_dotted() -> None:
    text = "plugins {\n  id 'com.google.cloud.tools.jib'\n}\nsourceCompatibility = '17'\n"
    text += "jib.to.image = 'x'\njib.from.image = 'registry://eclipse-temurin:17-jre'\n"
    result = fix({"build.gradle": text}, "root-user", "non-minimal-base")
    new = fixed_text(result, "build.gradle")
    assert new.endswith(
        "jib.from.image = 'registry://gcr.io/distroless/java17-debian13:nonroot'\n"
        "jib.container.user = '65532:65532'\n"
    )


def test_kotlin_block_and_property_setter() -> None:
    result = fix({"build.gradle.kts": KOTLIN}, "non-numeric-user", "non-minimal-base")
    new = fixed_text(result, "build.gradle.kts")
    assert 'user = "65532:65532"' in new
    assert 'image = "gcr.io/distroless/java17-debian13:nonroot"' in new
    setter = KOTLIN.replace('user = "root"', 'user.set("root")')
    new = fixed_text(fix({"build.gradle.kts": setter}, "root-user"), "build.gradle.kts")
    assert 'user.set("65532:65532")' in new


def test_user_from_an_expression_is_refused_with_the_reason() -> None:
    text = KOTLIN.replace('user = "root"', 'user = project.ext["runAs"].toString()')
    result = fix({"build.gradle.kts": text}, "root-user")
    assert result.edits == () and result.fixed == ()
    assert result.notes == (
        "build.gradle.kts: line 15 sets jib.container.user from "
        '`project.ext["runAs"].toString()`, not a plain string; change that value by hand',
    )


def test_subprojects_block_in_the_root_script_is_edited() -> None:
    root = (
        "subprojects {\n"
        "    apply plugin: 'com.google.cloud.tools.jib'\n"
        "    sourceCompatibility = 21\n"
        "    jib {\n"
        '        to.image = "example/${project.name}"\n'
        "    }\n"
        "}\n"
    )
    files = {"build.gradle": root, "svc/build.gradle": "dependencies {\n}\n"}
    ctx = context(files, "root-user", "non-minimal-base", tool=TOOL, root="svc")
    assert jib_gradle.applies(ctx)
    result = jib_gradle.fix(ctx)
    [edit] = result.edits
    assert edit.path == "build.gradle"
    assert edit.new == root.replace(
        '"example/${project.name}"\n',
        '"example/${project.name}"\n'
        "        container {\n            user = '65532:65532'\n        }\n"
        "        from {\n            image = 'gcr.io/distroless/java21-debian13:nonroot'\n        }\n",
    )
    # the module's own jib block comes later in evaluation and wins, so it is edited instead
    files["svc/build.gradle"] = "jib {\n    to.image = 'x'\n}\n"
    [edit] = fix(files, "root-user", root="svc").edits
    assert edit.path == "svc/build.gradle"


def test_precompiled_script_plugin_is_edited() -> None:
    plugin = 'plugins {\n    id("com.google.cloud.tools.jib")\n}\n\njib {\n    to {\n        image = "x"\n    }\n}\n'
    files = {
        "buildSrc/src/main/kotlin/com/acme/jib-conventions.gradle.kts": "package com.acme\n\n"
        + plugin,
        "svc/build.gradle.kts": 'plugins {\n    id("com.acme.jib-conventions")\n}\n',
    }
    ctx = context(files, "root-user", tool=TOOL, root="svc")
    assert jib_gradle.applies(ctx)
    [edit] = jib_gradle.fix(ctx).edits
    assert edit.path == "buildSrc/src/main/kotlin/com/acme/jib-conventions.gradle.kts"
    assert effective(edit.new, "jib.container.user") == USER
    # an unrelated convention plugin does not make the module a Jib build
    files["svc/build.gradle.kts"] = 'plugins {\n    id("other")\n}\n'
    assert not jib_gradle.applies(context(files, "root-user", tool=TOOL, root="svc"))


def test_system_property_in_gradle_properties_wins_and_is_reported() -> None:
    files = {
        "build.gradle": GROOVY,
        "gradle.properties": "org.gradle.jvmargs=-Xmx1g\nsystemProp.jib.container.user=root\n",
    }
    result = fix(files, "root-user")
    assert result.edits == () and result.fixed == ()
    assert result.notes == (
        "gradle.properties: systemProp.jib.container.user=root overrides the build script (Jib "
        "reads the system property first); change it there to 65532:65532",
    )
    files["gradle.properties"] = "systemProp.jib.from.image = eclipse-temurin:21-jre\n"
    result = fix(files, "root-user", "non-minimal-base")
    assert [e.path for e in result.edits] == ["build.gradle"]
    assert result.fixed == ("root-user",)
    assert "systemProp.jib.from.image=eclipse-temurin:21-jre overrides" in result.notes[1]


def test_war_projects_keep_their_base() -> None:
    text = GROOVY.replace("id 'java'", "id 'war'")
    result = fix({"build.gradle": text}, "root-user", "non-minimal-base")
    assert "distroless" not in fixed_text(result, "build.gradle")
    assert result.fixed == ("root-user",)
    assert "builds a WAR (war plugin)" in result.notes[1]


@pytest.mark.parametrize(
    "entrypoint",
    ["entrypoint = ['sh', '-c', 'java -jar app.jar']", "entrypoint = 'INHERIT'"],
)
def test_shell_or_inherited_entrypoint_keeps_the_base(entrypoint: str) -> None:
    text = GROOVY.replace("user = 'root'", f"user = 'root'\n        {entrypoint}")
    result = fix({"build.gradle": text}, "shell")
    assert result.edits == () and result.fixed == ()
    assert "sets the entrypoint to" in result.notes[0] and "no shell" in result.notes[0]


def test_kotlin_bash_entrypoint_keeps_the_base() -> None:
    text = KOTLIN.replace('user = "root"', 'entrypoint = listOf("/bin/bash", "-c", "run")')
    result = fix({"build.gradle.kts": text}, "non-minimal-base")
    assert result.edits == () and "entrypoint" in result.notes[0]


def test_java_11_sets_the_user_and_explains_the_base() -> None:
    # with no base set, the Java release decides
    text = KOTLIN.replace("jvmToolchain(17)", "jvmToolchain(11)").replace(NO_FROM, "")
    result = fix({"build.gradle.kts": text}, "root-user", "non-minimal-base")
    new = fixed_text(result, "build.gradle.kts")
    assert 'user = "65532:65532"' in new and "from" not in new
    assert result.fixed == ("root-user",)
    assert result.notes[1] == (
        "base image left as is: Java 11: distroless has no Java 8 or 11 image any more; keep it "
        "and run as a non-root user instead"
    )


def test_unknown_release_and_non_literal_base_are_refused() -> None:
    text = GROOVY.replace("languageVersion = JavaLanguageVersion.of(21)", "")
    text = text.replace("    from {\n        image = 'eclipse-temurin:21-jre'\n    }\n", "")
    result = fix({"build.gradle": text}, "non-minimal-base")
    assert result.edits == () and "no Java release is declared" in result.notes[0]
    text = GROOVY.replace("'eclipse-temurin:21-jre'", "baseImage")
    result = fix({"build.gradle": text}, "non-minimal-base")
    assert result.edits == () and "sets jib.from.image from `baseImage`" in result.notes[0]


def test_docker_prefix_is_kept_and_an_existing_target_is_done() -> None:
    text = KOTLIN.replace('"eclipse-temurin:17-jre"', '"docker://eclipse-temurin:17-jre"')
    result = fix({"build.gradle.kts": text}, "non-minimal-base")
    new = fixed_text(result, "build.gradle.kts")
    assert 'image = "docker://gcr.io/distroless/java17-debian13:nonroot"' in new
    again = fix({"build.gradle.kts": new}, "non-minimal-base")
    assert again.edits == () and again.fixed == ("non-minimal-base",)
    assert "already uses docker://gcr.io/distroless/java17-debian13:nonroot" in again.notes[0]
    tar = KOTLIN.replace('"eclipse-temurin:17-jre"', '"tar://base.tar"')
    assert "not from a registry" in fix({"build.gradle.kts": tar}, "non-minimal-base").notes[0]


def test_crlf_and_tabs_are_kept() -> None:
    text = GROOVY.replace("        user = 'root'\n", "").replace("    ", "\t").replace("\n", "\r\n")
    new = fixed_text(fix({"build.gradle": text}, "root-user"), "build.gradle")
    assert "\t\tuser = '65532:65532'\r\n\t}\r\n" in new
    assert "\n" not in new.replace("\r\n", "")
    added, removed = changed_lines(text, new)
    assert removed == [] and [a.strip() for a in added] == ["user = '65532:65532'"]


def test_braces_in_comments_and_strings_do_not_confuse_the_matcher() -> None:
    text = (
        "plugins { id 'com.google.cloud.tools.jib' }\n"
        "// jib { container { user = 'ignored' } }\n"
        "def banner = \"}}} ${ ['{'].join('}') } {{\"\n"
        "/* } */ jib { /* { */\n"
        "    to.image = '}'  // }\n"
        "}\n"
    )
    new = fixed_text(fix({"build.gradle": text}, "root-user"), "build.gradle")
    assert new == text.replace(
        "// }\n}\n", "// }\n    container {\n        user = '65532:65532'\n    }\n}\n"
    )


def test_version_catalog_alias_applies_the_plugin() -> None:
    files = {"build.gradle.kts": "plugins {\n    alias(libs.plugins.jib)\n}\n"}
    assert not jib_gradle.applies(context(files, tool=TOOL))
    files["gradle/libs.versions.toml"] = CATALOG
    assert jib_gradle.applies(context(files, tool=TOOL))
    assert not jib_gradle.applies(context(files, tool="jib-maven-plugin"))
    assert not jib_gradle.applies(context(files, kind="dockerfile", tool=None))


@pytest.mark.parametrize("catalog", ['plugins = ["jib"]', 'plugins = "jib"', "plugins = 3"])
def test_a_catalog_whose_plugins_are_not_a_table_is_no_catalog(catalog: str) -> None:
    files = {
        "build.gradle.kts": "plugins {\n    alias(libs.plugins.jib)\n}\n",
        "gradle/libs.versions.toml": catalog,
    }
    assert not jib_gradle.applies(context(files, tool=TOOL))


def test_unreadable_script_is_reported_not_edited() -> None:
    files = {"build.gradle": "plugins { id 'com.google.cloud.tools.jib' }\njib {\n"}
    ctx = context(files, "root-user", tool=TOOL)
    assert jib_gradle.applies(ctx)
    result = jib_gradle.fix(ctx)
    assert result.edits == () and "cannot read it safely: unbalanced '{'" in result.notes[0]


def test_no_rules_no_edits_and_missing_scripts() -> None:
    assert fix({"build.gradle": GROOVY}) == FixResult()
    assert fix({"build.gradle": GROOVY}, "secrets") == FixResult()
    missing = fix({}, "root-user")
    assert missing.edits == () and "not found" in missing.notes[0]


def test_module_without_a_script_gets_one_when_the_root_applies_jib() -> None:
    root = 'subprojects {\n    apply(plugin = "com.google.cloud.tools.jib")\n}\n'
    result = fix({"build.gradle.kts": root}, "root-user", root="svc")
    [edit] = result.edits
    assert edit.path == "svc/build.gradle.kts" and edit.old is None
    assert edit.new == 'jib {\n    container {\n        user = "65532:65532"\n    }\n}\n'


# --- the base: the current one's mapping entry first, the Java release only without one -------

CUSTOM_BASE = """plugins {
    id 'java'
    id 'com.google.cloud.tools.jib' version '3.5.4'
}

sourceCompatibility = JavaVersion.VERSION_17

jib {
    from {
        image = 'corp.example/java-with-agent:21'
    }
}
"""


def test_an_unmapped_custom_base_is_kept_not_replaced_by_the_release() -> None:
    result = fix({"build.gradle": CUSTOM_BASE}, "root-user", "non-minimal-base")
    assert "corp.example/java-with-agent:21" in fixed_text(result, "build.gradle")
    assert "distroless" not in fixed_text(result, "build.gradle")
    assert result.fixed == ("root-user",)
    assert result.notes[1] == (
        "base image left as is: no minimal replacement is mapped for the base "
        "corp.example/java-with-agent:21; add a `bases` entry for it (docs/fixes.md); keep it "
        "and run as a non-root user instead"
    )
    # a `bases` entry for it is used, whatever the release says
    mapped = fix(
        {"build.gradle": CUSTOM_BASE},
        "non-minimal-base",
        bases={"corp.example/java-with-agent:*": "corp.example/java-minimal:21"},
    )
    assert "image = 'corp.example/java-minimal:21'" in fixed_text(mapped, "build.gradle")
    assert mapped.notes == (
        "build.gradle: jib.from.image set to corp.example/java-minimal:21 for the current base "
        "corp.example/java-with-agent:21",
    )


def test_a_never_switch_entry_keeps_the_base() -> None:
    result = fix({"build.gradle": GROOVY}, "non-minimal-base", bases={"eclipse-temurin:21*": ""})
    assert result.edits == () and result.fixed == ()
    assert result.notes == (
        "base image left as is: the current base eclipse-temurin:21-jre: the `bases` entry "
        "`eclipse-temurin:21*` maps it to no image; keep it and run as a non-root user instead",
    )


def test_the_pinned_base_decides_over_the_release() -> None:
    text = GROOVY.replace("'eclipse-temurin:21-jre'", "'registry://eclipse-temurin:11-jre'")
    result = fix({"build.gradle": text}, "non-minimal-base")
    assert result.edits == () and "distroless has no Java 8 or 11 image" in result.notes[0]
    text = GROOVY.replace("JavaLanguageVersion.of(21)", "JavaLanguageVersion.of(11)")
    text = text.replace("'eclipse-temurin:21-jre'", "'eclipse-temurin:25-jre'")
    new = fixed_text(fix({"build.gradle": text}, "non-minimal-base"), "build.gradle")
    assert "image = 'gcr.io/distroless/java25-debian13:nonroot'" in new


def test_a_base_that_is_a_mapped_target_is_done_without_a_release() -> None:
    text = CUSTOM_BASE.replace(
        "'corp.example/java-with-agent:21'", "'gcr.io/distroless/java21-debian13:nonroot'"
    ).replace("sourceCompatibility = JavaVersion.VERSION_17\n", "")
    result = fix({"build.gradle": text}, "non-minimal-base")
    assert result.edits == () and result.fixed == ("non-minimal-base",)
    assert result.notes == ("build.gradle already uses gcr.io/distroless/java21-debian13:nonroot",)
    custom = fix(
        {"build.gradle": CUSTOM_BASE.replace("java-with-agent", "java-minimal")},
        "non-minimal-base",
        bases={"corp.example/java-with-agent:*": "corp.example/java-minimal:21"},
    )
    assert custom.edits == () and custom.fixed == ("non-minimal-base",)


def test_package_manager_findings_get_the_base_switch() -> None:
    result = fix({"build.gradle": GROOVY}, "package-manager")
    assert "gcr.io/distroless/java21-debian13:nonroot" in fixed_text(result, "build.gradle")
    assert result.fixed == ("package-manager",)


# --- the entrypoint: only `java` is known to run on distroless --------------------------------


@pytest.mark.parametrize(
    ("entrypoint", "word"),
    [
        ("entrypoint = ['/entrypoint.sh']", "/entrypoint.sh"),
        ("entrypoint = ['run.sh', '--fast']", "run.sh"),
        ("entrypoint = ['/app/bin/start']", "/app/bin/start"),  # copied from extraDirectories
        ("entrypoint = '/docker-entrypoint.sh'", "/docker-entrypoint.sh"),
    ],
)
def test_an_entrypoint_that_is_not_java_keeps_the_base(entrypoint: str, word: str) -> None:
    text = GROOVY.replace("user = 'root'", f"user = 'root'\n        {entrypoint}")
    text = text.replace("jib {\n", "jib {\n    extraDirectories.paths = ['src/main/jib']\n")
    result = fix({"build.gradle": text}, "non-minimal-base")
    assert result.edits == () and result.fixed == ()
    assert result.notes == (
        f"base image left as is: build.gradle line {text[: text.index(entrypoint)].count(chr(10)) + 1} "
        f"sets the entrypoint to `{entrypoint.split(' = ')[1]}`, which starts `{word}`, not java: "
        "a shell or a script needs the base image's shell; distroless has no shell",
    )


def test_an_entrypoint_from_an_expression_keeps_the_base() -> None:
    text = KOTLIN.replace('user = "root"', 'entrypoint = listOf(launcher, "-jar")')
    result = fix({"build.gradle.kts": text}, "non-minimal-base")
    assert result.edits == ()
    assert "which is not a list of plain strings" in result.notes[0]


@pytest.mark.parametrize(
    "entrypoint",
    [
        "entrypoint = ['java', '-jar', '/app/app.jar']",
        "entrypoint = ['/usr/bin/java', '-cp', '/app/libs/*', 'Main']",
        "entrypoint = [ 'java' ]",
    ],
)
def test_a_java_entrypoint_allows_the_switch(entrypoint: str) -> None:
    text = GROOVY.replace("user = 'root'", f"user = 'root'\n        {entrypoint}")
    result = fix({"build.gradle": text}, "non-minimal-base")
    assert "java21-debian13" in fixed_text(result, "build.gradle")
    kotlin = KOTLIN.replace('user = "root"', 'entrypoint = listOf("java", "-jar", "app.jar")')
    assert "java17-debian13" in fixed_text(
        fix({"build.gradle.kts": kotlin}, "non-minimal-base"), "build.gradle.kts"
    )


# --- Kotlin's typed extension block ------------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    ["configure<JibExtension>", "configure<com.google.cloud.tools.jib.gradle.JibExtension>"],
)
def test_configure_jib_extension_is_the_jib_block(header: str) -> None:
    text = (
        "import com.google.cloud.tools.jib.gradle.JibExtension\n\n"
        'plugins {\n    id("com.google.cloud.tools.jib")\n}\n\n'
        f'{header} {{\n    container {{\n        user = "root"\n    }}\n}}\n'
    )
    result = fix({"build.gradle.kts": text}, "root-user")
    assert fixed_text(result, "build.gradle.kts") == text.replace('"root"', '"65532:65532"')
    assert result.notes == ("build.gradle.kts: jib.container.user set to 65532:65532",)
    # with no user yet, it is added inside that block, not in a second jib block
    bare = text.replace('    container {\n        user = "root"\n    }\n', '    to.image = "x"\n')
    new = fixed_text(fix({"build.gradle.kts": bare}, "root-user"), "build.gradle.kts")
    assert new == bare.replace(
        '    to.image = "x"\n',
        '    to.image = "x"\n    container {\n        user = "65532:65532"\n    }\n',
    )
