"""Paketo buildpacks: move Java and Go apps to the tiny builder, whose run image has no shell
and no package manager.

Facts from research/remediation.md §3: the tiny builder covers Java, Java Native Image and Go
only; Paketo run images run as uid 1002 unless the run image is replaced. pack takes the
builder from project.toml (unless ``--builder`` is given); Spring Boot's ``build-image``
goal reads its own ``<configuration><image><builder>``, where the XML wins over the
``spring-boot.build-image.builder`` property, and a ``<runImage>`` set there would keep the
old run image under the new builder.
"""

from __future__ import annotations

import re

from app.models import FileEdit
from app.remediation import project_toml, xmltext
from app.remediation.base import FixContext, FixResult, Outcome, edit
from app.remediation.gcp_buildpacks import App, language
from app.remediation.project_toml import ProjectTomlError

name = "paketo"
MINIMAL_RULES = ("non-minimal-base", "shell", "package-manager")
TINY_LANGUAGES = ("java", "go")
BOOT_PLUGIN = "spring-boot-maven-plugin"
BUILDER_PROPERTY = "spring-boot.build-image.builder"
RUN_IMAGE_PROPERTY = "spring-boot.build-image.runImage"
GRADLE_FILES = ("build.gradle", "build.gradle.kts")
_GRADLE_BOOT = re.compile(r"bootBuildImage|org\.springframework\.boot")
_REFERENCE = re.compile(r"^\$\{(?P<name>[^}]+)\}$")


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
            f"{_where(ctx)}: {_described(app)}: Paketo's tiny builder covers Java and Go only, "
            "so the builder stays",
        )
    choice = ctx.bases.named(f"paketo-{app.language}")
    if choice is None or not choice.image:
        why = f" ({choice.why})" if choice is not None and choice.why else ""
        return [], Outcome(
            rules, False, f"no minimal Paketo builder is configured for {app.label}{why}"
        )
    image = choice.image
    for gradle in GRADLE_FILES:
        script = ctx.read(gradle)
        if script is not None and _GRADLE_BOOT.search(script):
            return [], Outcome(
                rules,
                False,
                f"{ctx.path(gradle)}: Spring Boot's bootBuildImage chooses the builder in this "
                f"Gradle build, which Tightship does not edit yet; nothing changed. Set "
                f"builder to {image} in the bootBuildImage task",
            )
    edits: list[FileEdit] = []
    details: list[str] = []
    done = True
    pom_path = ctx.path("pom.xml")
    pom = ctx.tree.read(pom_path)
    boot = False
    if pom is not None and BOOT_PLUGIN in pom:
        try:
            new = set_spring_boot_builder(pom, image)
        except (xmltext.XmlError, NotEdited) as exc:
            boot, done = True, False
            details.append(f"{pom_path}: left unchanged: {exc}")
        else:
            boot = new is not None
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


def _described(app: App) -> str:
    if app.language is None:
        return "the app's language is unknown"
    return f"a {app.label} app ({app.evidence})"


def _where(ctx: FixContext) -> str:
    return ctx.root.strip("/") or "the repository root"


def set_spring_boot_builder(pom: str, image: str) -> str | None:
    """The pom with spring-boot-maven-plugin's image builder set to ``image``.

    None when the plugin is absent. A ``${…}`` builder is changed where the property is
    defined; with no XML builder, a ``spring-boot.build-image.builder`` property is edited.
    Raises NotEdited when a run image is configured, which the new builder would not replace.
    """
    source = pom.encode("utf-8")
    doc = xmltext.parse(source)
    project = doc.root
    properties = project.child("properties")
    plugins = [p for p in project.iter("plugin") if _artifact(doc, p) == BOOT_PLUGIN]
    if not plugins:
        return None
    configured = [p for p in plugins if p.child("configuration") is not None]
    targets = configured or [_preferred(plugins)]
    run_images = [
        node
        for node in (
            *(_path(p, "configuration", "image", "runImage") for p in targets),
            _property(properties, RUN_IMAGE_PROPERTY),
        )
        if node is not None and not node.self_closing and doc.text(node).strip()
    ]
    if run_images:
        node = run_images[0]
        raise NotEdited(
            f"<{node.tag}>{doc.text(node).strip()}</{node.tag}> is set: the new builder would "
            "still run the app on that run image; change both by hand"
        )
    builders = [b for p in targets if (b := _path(p, "configuration", "image", "builder"))]
    defined = _property(properties, BUILDER_PROPERTY)
    if not builders and defined is not None:
        unchanged = doc.text(defined).strip() == image
        return _apply(doc, [] if unchanged else [xmltext.set_text(doc, defined, image)])
    splices = {
        (s.start, s.end): s  # two plugins may share one ${property}: edit it once
        for p in targets
        if (s := _builder_splice(doc, p, properties, image)) is not None
    }
    return _apply(doc, list(splices.values()))


def _builder_splice(
    doc: xmltext.XmlDocument, plugin: xmltext.Node, properties: xmltext.Node | None, image: str
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
    current = "" if element.self_closing else doc.text(element).strip()
    reference = _REFERENCE.match(current)
    definition = _property(properties, reference["name"]) if reference else None
    if definition is not None:
        # Change the value where it is defined, not the reference to it.
        if doc.text(definition).strip() == image:
            return None
        return xmltext.set_text(doc, definition, image)
    return None if current == image else xmltext.set_text(doc, element, image)


def _property(properties: xmltext.Node | None, key: str) -> xmltext.Node | None:
    return properties.child(key) if properties is not None else None


def _path(node: xmltext.Node, *tags: str) -> xmltext.Node | None:
    for tag in tags:
        found = node.child(tag)
        if found is None:
            return None
        node = found
    return node


def _preferred(plugins: list[xmltext.Node]) -> xmltext.Node:
    """With no configuration anywhere, configure the plugin the build actually runs."""
    for plugin in plugins:
        if plugin.path()[-3:-1] == ["build", "plugins"]:
            return plugin
    return plugins[0]


def _artifact(doc: xmltext.XmlDocument, plugin: xmltext.Node) -> str:
    artifact = plugin.child("artifactId")
    return doc.text(artifact).strip() if artifact is not None else ""


def _apply(doc: xmltext.XmlDocument, splices: list[xmltext.Splice]) -> str:
    return xmltext.apply(doc.source, splices).decode("utf-8")
