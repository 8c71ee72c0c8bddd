"""Paketo buildpacks: move Java and Go apps to the tiny builder, whose run image has no shell
and no package manager.

Facts from research/remediation.md §3: the tiny builder covers Java, Java Native Image and Go
only; Paketo run images run as uid 1002 unless the run image is replaced. pack takes the
builder from project.toml (unless ``--builder`` is given); Spring Boot's ``build-image``
goal reads its own ``<configuration><image><builder>``, where the XML wins over the
``spring-boot.build-image.builder`` property, and a ``<runImage>`` set there would keep the
old run image under the new builder. Its Gradle task ``bootBuildImage`` has the same
``builder`` and ``runImage`` settings; in Kotlin they are ``Property`` objects since Boot 3
(``builder.set("…")``) and plain strings in Boot 2 (``builder = "…"``).
"""

from __future__ import annotations

import re

from app.models import FileEdit
from app.remediation import gradle_script, project_toml, xmltext
from app.remediation import pom as pom_xml
from app.remediation.base import FixContext, FixResult, Outcome, edit
from app.remediation.gcp_buildpacks import App, language
from app.remediation.pom import descend, preferred
from app.remediation.project_toml import ProjectTomlError

name = "paketo"
MINIMAL_RULES = ("non-minimal-base", "shell", "package-manager")
TINY_LANGUAGES = ("java", "go")
BOOT_PLUGIN = "spring-boot-maven-plugin"
BUILDER_PROPERTY = "spring-boot.build-image.builder"
RUN_IMAGE_PROPERTY = "spring-boot.build-image.runImage"
GRADLE_FILES = ("build.gradle", "build.gradle.kts")
TASK = "bootBuildImage"
TASK_CLASS = "org.springframework.boot.gradle.tasks.bundling.BootBuildImage"
# ``bootBuildImage {`` (Groovy); ``tasks.bootBuildImage {``, ``tasks.named("bootBuildImage") {``
# or ``tasks { bootBuildImage {`` (both DSLs).
TASK_PATHS = ((TASK,), ("tasks", TASK))
_GRADLE_BOOT = re.compile(r"bootBuildImage|org\.springframework\.boot")
_BOOT_VERSION = re.compile(
    r"""org\.springframework\.boot['"][ \t]*\)?[ \t]*\.?[ \t]*(?P<keyword>version)"""
    r"""[ \t]*\(?[ \t]*['"](?P<major>\d+)\."""
)


class NotEdited(ValueError):
    """The build file is valid but changing the builder there would not work."""


def applies(ctx: FixContext) -> bool:
    return ctx.platform.builder.kind == "paketo"


def fix(ctx: FixContext) -> FixResult:
    edits, outcomes = [], []
    minimal = tuple(r for r in MINIMAL_RULES if r in ctx.rules)
    if minimal:
        found, outcome = _tiny_builder(ctx, minimal)
        edits.extend(found)
        outcomes.append(outcome)
    if "root-user" in ctx.rules:
        user = ctx.platform.user or "root"
        outcomes.append(
            Outcome(
                ("root-user",),
                False,
                "Paketo images run as the non-root user cnb (uid 1002) unless the run image was "
                f"replaced; this one runs as {user}, so its run image is not Paketo's: set the "
                "run image back (pack --run-image, <runImage> of spring-boot-maven-plugin, "
                "runImage of bootBuildImage). Nothing changed",
            )
        )
    return FixResult(edits=tuple(edits), outcomes=tuple(outcomes))


def _tiny_builder(ctx: FixContext, rules: tuple[str, ...]) -> tuple[list[FileEdit], Outcome]:
    app = language(ctx)
    if app.language not in TINY_LANGUAGES:
        return [], Outcome(
            rules,
            False,
            f"{ctx.where}: {_described(app)}: Paketo's tiny builder covers Java and Go only, "
            "so the builder stays",
        )
    choice = ctx.bases.named(f"paketo-{app.language}")
    if choice is None or not choice.image:
        why = f" ({choice.why})" if choice is not None and choice.why else ""
        return [], Outcome(
            rules, False, f"no minimal Paketo builder is configured for {app.label}{why}"
        )
    image = choice.image
    edits: list[FileEdit] = []
    details: list[str] = []
    done = True
    gradle = _gradle_builder(ctx, image)
    boot = gradle is not None
    if gradle is not None:
        found, detail, done = gradle
        edits.extend(found)
        details.append(detail)
    pom_path = ctx.path("pom.xml")
    pom = ctx.tree.read(pom_path)
    if pom is not None and BOOT_PLUGIN in pom:
        try:
            new = set_spring_boot_builder(pom, image)
        except (xmltext.XmlError, NotEdited) as exc:
            boot, done = True, False
            details.append(f"{pom_path}: left unchanged: {exc}")
        else:
            boot = boot or new is not None
            if new is not None:
                edits.extend(edit(pom_path, pom, new))
                state = "already " if new == pom else ""
                details.append(
                    f"{pom_path}: {BOOT_PLUGIN} <image><builder> is {state}{image} (read by "
                    "spring-boot:build-image)"
                )
    toml_path = ctx.path("project.toml")
    toml = ctx.tree.read(toml_path)
    if toml is not None or not boot:
        try:
            new_toml = project_toml.set_builder(toml, image)
            table = project_toml.settings_table(new_toml)
        except ProjectTomlError as exc:
            done = False
            details.append(f"{toml_path}: left unchanged: {exc}")
        else:
            edits.extend(edit(toml_path, toml, new_toml))
            state = "already " if new_toml == toml else ""
            details.append(
                f"{toml_path}: builder is {state}{image} in [{table}] (read by pack unless "
                "--builder is given)"
            )
    reason = f": the tiny builder's run image has no shell and no package manager ({app.label})"
    return edits, Outcome(rules, done, "; ".join(details) + (reason if done else ""))


def _gradle_builder(ctx: FixContext, image: str) -> tuple[list[FileEdit], str, bool] | None:
    """(edits, detail, done) for the first Spring Boot Gradle script; None without one."""
    for name in GRADLE_FILES:
        path = ctx.path(name)
        script = ctx.tree.read(path)
        if script is None or not _GRADLE_BOOT.search(script):
            continue
        result = set_boot_builder(script, name.endswith(".kts"), image)
        if result.text is None:
            return [], f"{path}: left unchanged: {result.reason}", False
        state = "already " if result.text == script else ""
        detail = f"{path}: the {TASK} task's builder is {state}{image}"
        return list(edit(path, script, result.text)), detail, True
    return None


def _described(app: App) -> str:
    if app.language is None:
        return "the app's language is unknown"
    return f"a {app.label} app ({app.evidence})"


def set_spring_boot_builder(pom: str, image: str) -> str | None:
    """The pom with spring-boot-maven-plugin's image builder set to ``image``.

    None when the plugin is absent. A ``${…}`` builder is changed where the property is
    defined; with no XML builder, a ``spring-boot.build-image.builder`` property is edited.
    Raises NotEdited when a run image is configured, which the new builder would not replace.
    """
    source = pom.encode("utf-8")
    doc = xmltext.parse(source)
    plugins = pom_xml.plugins(doc, BOOT_PLUGIN)
    if not plugins:
        return None
    configured = [p for p in plugins if p.child("configuration") is not None]
    targets = configured or [preferred(plugins)]
    run_images = [
        node
        for node in (
            *(descend(p, "configuration", "image", "runImage") for p in targets),
            pom_xml.project_property(doc, RUN_IMAGE_PROPERTY),
        )
        if pom_xml.value(doc, node)
    ]
    if run_images:
        node = run_images[0]
        raise NotEdited(
            f"<{node.tag}>{pom_xml.value(doc, node)}</{node.tag}> is set: the new builder would "
            "still run the app on that run image; change both by hand"
        )
    builders = [b for p in targets if (b := descend(p, "configuration", "image", "builder"))]
    defined = pom_xml.project_property(doc, BUILDER_PROPERTY)
    if not builders and defined is not None:
        unchanged = pom_xml.value(doc, defined) == image
        return _apply(doc, [] if unchanged else [xmltext.set_text(doc, defined, image)])
    splices = {
        (s.start, s.end): s  # two plugins may share one ${property}: edit it once
        for p in targets
        if (s := _builder_splice(doc, p, image)) is not None
    }
    return _apply(doc, list(splices.values()))


def _builder_splice(
    doc: xmltext.XmlDocument, plugin: xmltext.Node, image: str
) -> xmltext.Splice | None:
    configuration = plugin.child("configuration")
    if configuration is None:
        return xmltext.append_child(doc, plugin, ["configuration", "image", "builder"], image)
    image_node = configuration.child("image")
    if image_node is None:
        return xmltext.append_child(doc, configuration, ["image", "builder"], image)
    element = image_node.child("builder")
    if element is None:
        return xmltext.append_child(doc, image_node, ["builder"], image)
    current = pom_xml.value(doc, element)
    reference = pom_xml.REFERENCE.match(current)
    definition = pom_xml.project_property(doc, reference["name"]) if reference else None
    if definition is not None:
        # Change the value where it is defined, not the reference to it.
        if doc.text(definition).strip() == image:
            return None
        return xmltext.set_text(doc, definition, image)
    return None if current == image else xmltext.set_text(doc, element, image)


def set_boot_builder(text: str, kotlin: bool, image: str) -> gradle_script.Edit:
    """The Gradle script with the bootBuildImage task's builder set to ``image``.

    String-literal builders are replaced in their own quotes; any other builder value, or a
    runImage set for the task (the new builder would keep it), is refused with a reason. With
    no builder, one is added to the last bootBuildImage block; without a block, Groovy gets
    ``bootBuildImage { builder = '…' }`` and Kotlin a ``tasks.named<BootBuildImage>`` block.
    Kotlin writes ``builder.set("…")`` unless the script declares Spring Boot 1 or 2.
    """
    try:
        script = gradle_script.parse(text, kotlin)
    except gradle_script.ScriptError as exc:
        return gradle_script.Edit(None, f"cannot read the script safely: {exc}")
    for path in TASK_PATHS:
        for statement in script.assignments((*path, "runImage")):
            return gradle_script.Edit(
                None,
                f"line {script.line(statement.start)} sets runImage to "
                f"`{script.value_text(statement)}`: the new builder would still run the app on "
                "that run image; change both by hand",
            )
    assigned = [path for path in TASK_PATHS if script.assignments((*path, "builder"))]
    if assigned:
        for path in assigned:
            result = gradle_script.set_value(text, kotlin, (*path, "builder"), image)
            if result.text is None:
                return result
            text = result.text
        return gradle_script.Edit(text)
    blocks = [(block.open, path) for path in TASK_PATHS for block in script.blocks_at(path)]
    if blocks:
        path = max(blocks)[1]  # set_value adds the builder to the last block of that path
    elif kotlin:
        text, path = _append_block(script, f'tasks.named<{TASK_CLASS}>("{TASK}")'), TASK_PATHS[1]
    else:
        path = TASK_PATHS[0]  # after dotted bootBuildImage.… lines, else a new block
    major = _boot_major(script)
    setter = kotlin and (major is None or major >= 3)
    return gradle_script.set_value(text, kotlin, (*path, "builder"), image, setter=setter)


def _boot_major(script: gradle_script.Script) -> int | None:
    """The Spring Boot major version the script's plugin declaration names, if it names one."""
    for match in _BOOT_VERSION.finditer(script.text):
        if script.is_code(match.start("keyword")):
            return int(match["major"])
    return None


def _append_block(script: gradle_script.Script, header: str) -> str:
    """The script with an empty ``header {}`` block after its last line, for set_value to fill."""
    text, nl = script.text, script.newline
    block = f"{header} {{{nl}}}"
    if not text.strip():
        return block + nl
    if not text.endswith("\n"):
        return text + nl + nl + block  # the file had no final newline; neither does it now
    return text + ("" if text.endswith(nl + nl) else nl) + block + nl


def _apply(doc: xmltext.XmlDocument, splices: list[xmltext.Splice]) -> str:
    return xmltext.apply(doc.source, splices).decode("utf-8")
