"""What the Maven fixers (Jib, Spring Boot's build-image) both need to know about a POM."""

from __future__ import annotations

import re

from app.remediation import xmltext

REFERENCE = re.compile(r"^\$\{(?P<name>[^}]+)\}$")  # a value that is one ${property}, whole


def value(doc: xmltext.XmlDocument, node: xmltext.Node | None) -> str:
    """An element's trimmed text; '' for a missing or empty (``<x/>``) element."""
    if node is None or node.self_closing:
        return ""
    return doc.text(node).strip()


def project_property(doc: xmltext.XmlDocument, key: str) -> xmltext.Node | None:
    """``<properties><key>`` of the project itself (profiles' properties are not included)."""
    properties = doc.root.child("properties")
    return properties.child(key) if properties is not None else None


def plugins(doc: xmltext.XmlDocument, artifact: str) -> list[xmltext.Node]:
    """Every declaration of the plugin ``artifact``: build, pluginManagement and profiles."""
    return [p for p in doc.root.iter("plugin") if value(doc, p.child("artifactId")) == artifact]


def descend(node: xmltext.Node, *tags: str) -> xmltext.Node | None:
    """The element at ``tags`` below ``node`` (the first child of each name), or None."""
    for tag in tags:
        child = node.child(tag)
        if child is None:
            return None
        node = child
    return node


def preferred(declarations: list[xmltext.Node]) -> xmltext.Node:
    """The declaration the build runs: ``<build><plugins>`` over ``<pluginManagement>``."""
    for plugin in declarations:
        if plugin.path()[-3:-1] == ["build", "plugins"]:
            return plugin
    return declarations[0]
