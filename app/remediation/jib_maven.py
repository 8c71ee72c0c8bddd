"""Jib with Maven: set the container user in pom.xml.

Jib copies the base image's user, and its default bases (eclipse-temurin) set none, so a
Jib image runs as root unless the build says otherwise. Jib reads ``jib.container.user``
from the POM's ``<properties>`` before the plugin's ``<container><user>`` (Maven property
precedence, research/remediation.md §1.2), so where that property exists it is the only
edit that takes effect.
"""

from __future__ import annotations

import re

from app.models import FileEdit, PlatformReport
from app.remediation import xmltext
from app.remediation.base import FixResult, SourceTree

name = "jib-maven"
ARTIFACT = "jib-maven-plugin"
USER_PROPERTY = "jib.container.user"
_REFERENCE = re.compile(r"^\$\{(?P<name>[^}]+)\}$")


def applies(platform: PlatformReport, tree: SourceTree, root: str) -> bool:
    if platform.builder.kind != "jib" or platform.builder.tool not in (None, ARTIFACT):
        return False
    pom = tree.read(_join(root, "pom.xml"))
    return pom is not None and ARTIFACT in pom


def fix(platform: PlatformReport, tree: SourceTree, root: str, user: str) -> FixResult:
    rules = {f.rule for f in platform.findings}
    if "root-user" not in rules:
        return FixResult()
    path = _join(root, "pom.xml")
    text = tree.read(path)
    if text is None:
        return FixResult(notes=(f"{path} not found",))
    try:
        new = set_container_user(text, user)
    except xmltext.XmlError as exc:
        return FixResult(notes=(f"{path}: left unchanged, cannot edit it safely: {exc}",))
    if new is None:
        return FixResult(notes=(f"{path} declares no {ARTIFACT}",))
    if new == text:
        return FixResult(fixed=("root-user",), notes=(f"{path} already sets user {user}",))
    return FixResult(
        edits=(FileEdit(path=path, old=text, new=new),),
        fixed=("root-user",),
        notes=(f"{path}: Jib container user set to {user}",),
    )


def set_container_user(pom: str, user: str) -> str | None:
    """The pom with Jib's effective container user set to ``user``; None if Jib is absent."""
    source = pom.encode("utf-8")
    doc = xmltext.parse(source)
    project = doc.root
    properties = project.child("properties")
    defined = properties.child(USER_PROPERTY) if properties else None
    if defined is not None:
        return _apply(doc, [xmltext.set_text(doc, defined, user)])
    plugins = [p for p in project.iter("plugin") if _artifact(doc, p) == ARTIFACT]
    if not plugins:
        return None
    configured = [p for p in plugins if p.child("configuration") is not None]
    targets = configured or [_preferred(plugins)]
    splices = {
        (s.start, s.end): s  # two plugins may share one ${property}: edit it once
        for p in targets
        if (s := _user_splice(doc, p, properties, user)) is not None
    }
    return _apply(doc, list(splices.values()))


def _user_splice(
    doc: xmltext.XmlDocument, plugin: xmltext.Node, properties: xmltext.Node | None, user: str
) -> xmltext.Splice | None:
    configuration = plugin.child("configuration")
    if configuration is None:
        return xmltext.append_child(doc, plugin, ["configuration", "container", "user"], user)
    container = configuration.child("container")
    if container is None:
        return xmltext.append_child(doc, configuration, ["container", "user"], user)
    element = container.child("user")
    if element is None:
        return xmltext.append_child(doc, container, ["user"], user)
    current = "" if element.self_closing else doc.text(element).strip()
    reference = _REFERENCE.match(current)
    if reference and properties is not None:
        definition = properties.child(reference["name"])
        if definition is not None:
            # Change the value where it is defined, not the reference to it.
            return (
                None
                if doc.text(definition).strip() == user
                else (xmltext.set_text(doc, definition, user))
            )
    return None if current == user else xmltext.set_text(doc, element, user)


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


def _join(root: str, name: str) -> str:
    return f"{root.strip('/')}/{name}" if root.strip("/") else name
