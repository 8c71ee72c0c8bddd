"""What the Maven fixers (Jib, Spring Boot's build-image) both need to know about a POM."""

from __future__ import annotations

from app.remediation import xmltext


def descend(node: xmltext.Node, *tags: str) -> xmltext.Node | None:
    """The element at ``tags`` below ``node`` (the first child of each name), or None."""
    for tag in tags:
        child = node.child(tag)
        if child is None:
            return None
        node = child
    return node


def preferred(plugins: list[xmltext.Node]) -> xmltext.Node:
    """The declaration the build runs: ``<build><plugins>`` over ``<pluginManagement>``."""
    for plugin in plugins:
        if plugin.path()[-3:-1] == ["build", "plugins"]:
            return plugin
    return plugins[0]
