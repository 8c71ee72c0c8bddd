"""Jib with Maven: the container user and the base image, set where Jib will read them.

Jib copies the base image's user, and its default bases (eclipse-temurin) set none, so a
Jib image runs as root unless the build says otherwise. Jib reads ``jib.container.user`` and
``jib.from.image`` from the POM's ``<properties>`` (its own or a parent's) before the
plugin's XML (research/remediation.md §1.2), so where such a property exists it is the only
edit that takes effect. Parents are followed inside the repository, as Maven does with
``<relativePath>``; configuration in a parent's ``<pluginManagement>`` is edited there.
The default build always ends up with the value, and so does every place that would bring
another one back: a profile's properties or plugin configuration, and an execution's
``<configuration>``, which overrides the plugin's.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from app.models import FileEdit
from app.remediation import pom as pom_xml
from app.remediation import xmltext
from app.remediation.base import FixContext, FixResult, Outcome, edit
from app.remediation.pom import descend, preferred

name = "jib-maven"
ARTIFACT = "jib-maven-plugin"
USER_RULES = ("root-user", "non-numeric-user")
BASE_RULES = ("non-minimal-base", "shell", "package-manager")
PREFIXES = ("registry://", "docker://")
_MAX_PARENTS = 10
# Where Maven reads a plugin's declaration, under <project> or a <profile>.
_BUILD_PLUGINS = (
    ("build", "plugins", "plugin"),
    ("build", "pluginManagement", "plugins", "plugin"),
)


@dataclass(frozen=True, slots=True)
class Setting:
    property: str  # the Maven property Jib reads first
    path: tuple[str, ...]  # where it sits under the plugin's <configuration>


USER = Setting("jib.container.user", ("container", "user"))
BASE = Setting("jib.from.image", ("from", "image"))


class Refused(Exception):
    """The setting cannot be changed safely; the message says why."""


@dataclass
class Pom:
    path: str
    doc: xmltext.XmlDocument

    def property(self, key: str) -> xmltext.Node | None:
        return pom_xml.project_property(self.doc, key)

    def plugins(self, artifact: str = ARTIFACT) -> list[xmltext.Node]:
        return pom_xml.plugins(self.doc, artifact)

    def profile_properties(self, key: str) -> list[tuple[str, xmltext.Node]]:
        """``key`` in each ``<profiles><profile><properties>``, with the profile's id."""
        found = []
        profiles = self.doc.root.child("profiles")
        for profile in profiles.children if profiles is not None else []:
            properties = profile.child("properties")
            node = properties.child(key) if properties is not None else None
            if profile.tag == "profile" and node is not None:
                found.append((self.profile_id(profile), node))
        return found

    def profile_id(self, profile: xmltext.Node) -> str:
        return self.value(profile.child("id")) or "default"

    def scope(self, plugin: xmltext.Node) -> str | None:
        """'' for the default build, ``profile <id>`` inside a profile, None elsewhere."""
        path = tuple(plugin.path()[1:])
        if path in _BUILD_PLUGINS:
            return ""
        if path[:2] == ("profiles", "profile") and path[2:] in _BUILD_PLUGINS:
            profile = self.doc.root.child("profiles")
            for candidate in profile.children if profile is not None else []:
                if candidate.start < plugin.start < candidate.end:
                    return f"profile {self.profile_id(candidate)}"
        return None

    def value(self, node: xmltext.Node | None) -> str:
        return pom_xml.value(self.doc, node)


class Poms:
    """The module's POM and its parents in the repository, nearest first; re-read after edits."""

    def __init__(self, ctx: FixContext) -> None:
        self.ctx = ctx
        self.module = ctx.path("pom.xml")
        self.texts: dict[str, str] = {}
        self.chain: list[Pom] = []
        self.reload()

    def reload(self) -> None:
        self.chain = []
        path: str | None = self.module
        while path is not None and len(self.chain) < _MAX_PARENTS:
            text = self.texts.get(path)
            if text is None:
                text = self.ctx.tree.read(path)
                if text is None:
                    break
                self.texts[path] = text
            pom = Pom(path, xmltext.parse(text.encode("utf-8")))
            self.chain.append(pom)
            path = self._parent_path(pom)
            if path in {p.path for p in self.chain}:
                break

    @staticmethod
    def _parent_path(pom: Pom) -> str | None:
        parent = pom.doc.root.child("parent")
        if parent is None:
            return None
        relative = parent.child("relativePath")
        if relative is not None and not pom.value(relative):
            return None  # <relativePath/>: the parent comes from a repository, not this tree
        target = pom.value(relative) if relative is not None else "../pom.xml"
        if not target.endswith(".xml"):
            target = posixpath.join(target, "pom.xml")
        path = posixpath.normpath(posixpath.join(posixpath.dirname(pom.path), target))
        return None if path.startswith("../") or path == ".." else path

    def resolve(self, value: str, depth: int = 0) -> str:
        """``${name}`` resolved through the chain's properties (unresolvable ones kept)."""

        def lookup(match: re.Match[str]) -> str:
            for pom in self.chain:
                node = pom.property(match[1])
                if node is not None and depth < 5:
                    return self.resolve(pom.value(node), depth + 1)
            return match[0]

        return re.sub(r"\$\{([^}]+)\}", lookup, value)

    def definition(self, key: str) -> tuple[Pom, xmltext.Node] | None:
        for pom in self.chain:
            node = pom.property(key)
            if node is not None:
                return pom, node
        return None

    def declarations(self) -> Iterator[tuple[Pom, list[xmltext.Node]]]:
        for pom in self.chain:
            plugins = pom.plugins()
            if plugins:
                yield pom, plugins

    def apply(self, splices: dict[str, list[xmltext.Splice]]) -> None:
        for path, items in splices.items():
            pom = next(p for p in self.chain if p.path == path)
            self.texts[path] = xmltext.apply(pom.doc.source, items).decode("utf-8")
        self.reload()

    def edits(self) -> tuple[FileEdit, ...]:
        original = {p: self.ctx.tree.read(p) for p in self.texts}
        return tuple(e for p, t in self.texts.items() for e in edit(p, original[p], t))


def applies(ctx: FixContext) -> bool:
    builder = ctx.platform.builder
    if builder.kind != "jib" or builder.tool not in (None, ARTIFACT):
        return False
    try:
        poms = Poms(ctx)
    except xmltext.XmlError:
        return ARTIFACT in (ctx.read("pom.xml") or "")
    return any(True for _ in poms.declarations())


def fix(ctx: FixContext) -> FixResult:
    user_rules = tuple(r for r in USER_RULES if r in ctx.rules)
    base_rules = tuple(r for r in BASE_RULES if r in ctx.rules)
    if not user_rules and not base_rules:
        return FixResult()
    try:
        poms = Poms(ctx)
    except xmltext.XmlError as exc:
        reason = f"{ctx.path('pom.xml')}: left unchanged, cannot edit it safely: {exc}"
        return FixResult(outcomes=(Outcome(user_rules + base_rules, False, reason),))
    if not poms.chain:
        return FixResult(
            outcomes=(Outcome(user_rules + base_rules, False, f"{poms.module} not found"),)
        )
    outcomes = []
    if base_rules:
        outcomes.append(_switch_base(poms, ctx, base_rules))
    if user_rules:
        outcomes.append(_set_user(poms, ctx.user, user_rules))
    return FixResult(edits=poms.edits(), outcomes=tuple(outcomes))


def _set_user(poms: Poms, user: str, rules: tuple[str, ...]) -> Outcome:
    try:
        where = _set(poms, USER, lambda _current: user)
    except (Refused, xmltext.XmlError) as exc:
        return Outcome(rules, False, f"container user not set: {exc}")
    return Outcome(rules, True, f"Jib container user set to {user} in {where}")


def _switch_base(poms: Poms, ctx: FixContext, rules: tuple[str, ...]) -> Outcome:
    module = poms.chain[0]
    if module.value(module.doc.root.child("packaging")) == "war":
        return Outcome(
            rules,
            False,
            f"{module.path} builds a WAR, which needs a servlet container base; base kept",
        )
    shell = _shell_entrypoint(poms)
    if shell:
        return Outcome(
            rules,
            False,
            f"{shell}; base kept",
        )
    plan = _plan(poms, BASE)
    bare = _bare(plan.default)
    targets = ctx.bases.targets()
    if bare and bare in targets:
        if all(_bare(poms.resolve(p.value(n))) in targets for p, n, _ in plan.places):
            return Outcome(rules, True, f"the Jib base image is already {bare}")
        image, runtime = bare, f"the default build's base {bare}"
    else:
        chosen = ctx.bases.for_jib(bare, lambda: java_release(poms))
        if chosen is None:
            return Outcome(
                rules,
                False,
                "the Java release is not declared in the POMs (maven.compiler.release, "
                "java.version …); base kept",
            )
        if isinstance(chosen, str):
            return Outcome(rules, False, f"{chosen}; base kept, run as a non-root user instead")
        choice, runtime = chosen
        image = choice.image

    def target(current: str) -> str:
        """A place's own mapped replacement, else the default build's choice."""
        if _bare(current) in targets:
            return current
        own = ctx.bases.for_image(_bare(current)) if current else None
        return _keep_prefix(current, own.image if own is not None and own.image else image)

    try:
        where = _set(poms, BASE, target)
    except (Refused, xmltext.XmlError) as exc:
        return Outcome(rules, False, f"base image not switched: {exc}")
    return Outcome(
        rules,
        True,
        f"Jib base image set to {image} in {where} (for {runtime}): no shell, no package manager",
    )


def _bare(image: str) -> str:
    return image.split("://", 1)[1] if image.startswith(PREFIXES) else image


def _keep_prefix(current: str, image: str) -> str:
    prefix = next((p for p in PREFIXES if current.startswith(p)), "")
    return prefix + image


@dataclass
class Plan:
    """Where a setting is decided: the elements to change, and where to add it if needed."""

    default: str  # the value the default build uses now, resolved ('' when left to Jib)
    places: list[tuple[Pom, xmltext.Node, str]]  # existing elements, with a label each
    add: tuple[Pom, list[xmltext.Node]] | None  # plugins to give the setting, in one POM


def _plan(poms: Poms, setting: Setting) -> Plan:
    """Every place Jib may read ``setting`` from, for the default build and each profile.

    Per POM (nearest first) an active profile's properties and plugin configuration win over
    the POM's own, and the first POM that defines the property, or configures the element
    in its default build, overrides its parents. Execution-level configuration overrides
    the plugin's in every POM of the chain, so it is always included.
    """
    xml_path = "".join(f"<{tag}>" for tag in setting.path)
    places: list[tuple[Pom, xmltext.Node, str]] = []
    for pom in poms.chain:
        for profile, node in pom.profile_properties(setting.property):
            places.append((pom, node, f"property {setting.property} in profile {profile}"))
        node = pom.property(setting.property)
        if node is not None:
            places.append((pom, node, f"property {setting.property}"))
            return Plan(poms.resolve(pom.value(node)), places, None)
    executions = [
        (pom, element, _execution_label(pom, ex, xml_path, scope))
        for pom in poms.chain
        for plugin in pom.plugins()
        if (scope := pom.scope(plugin)) is not None
        for ex in _children(plugin, "executions", "execution")
        if (element := descend(ex, "configuration", *setting.path)) is not None
    ]
    path = ("configuration", *setting.path)
    for pom in poms.chain:
        scoped = [(p, scope) for p in pom.plugins() if (scope := pom.scope(p)) is not None]
        for plugin, scope in scoped:
            element = descend(plugin, *path)
            if scope and element is not None:
                places.append((pom, element, f"{xml_path} in {scope}"))
        defaults = {p: e for p, scope in scoped if not scope and (e := descend(p, *path))}
        if defaults:
            places.extend((pom, e, xml_path) for e in defaults.values())
            runs = defaults[preferred(list(defaults))]
            return Plan(poms.resolve(pom.value(runs)), places + executions, None)
    return Plan("", places + executions, _addition(poms, path))


def _execution_label(pom: Pom, execution: xmltext.Node, xml_path: str, scope: str) -> str:
    label = f"{xml_path} in execution {pom.value(execution.child('id')) or 'default'}"
    return f"{label} of {scope}" if scope else label


def _addition(poms: Poms, path: tuple[str, ...]) -> tuple[Pom, list[xmltext.Node]] | None:
    """The plugins to add ``path`` to: the nearest default build's, else its profiles'."""
    for default in (True, False):
        for pom in poms.chain:
            plugins = [
                p
                for p in pom.plugins()
                if (scope := pom.scope(p)) is not None
                and (scope == "") is default
                and descend(p, *path) is None
            ]
            if not plugins:
                continue
            if not default:
                return pom, plugins  # every profile that runs Jib
            configured = [p for p in plugins if p.child("configuration") is not None]
            return pom, configured or [preferred(plugins)]
    return None


Value = Callable[[str], str]  # the current (resolved) value → the value to set


def _set(poms: Poms, setting: Setting, value: Value) -> str:
    """Make Jib's effective ``setting`` ``value(current)``; returns where that was done."""
    plan = _plan(poms, setting)
    if plan.add is None and not plan.places:
        raise Refused(f"no {ARTIFACT} in {poms.module} or its parents in this repository")
    splices: dict[str, dict[int, xmltext.Splice]] = {}
    where = [_change(poms, pom, node, value, splices, label) for pom, node, label in plan.places]
    if plan.add is not None:
        pom, plugins = plan.add
        xml_path = "".join(f"<{tag}>" for tag in setting.path)
        for plugin in plugins:
            splice = _append(pom, plugin, ["configuration", *setting.path], value(""))
            splices.setdefault(pom.path, {})[splice.start] = splice
            scope = pom.scope(plugin)
            where.append(f"{pom.path} ({xml_path}{f' in {scope}' if scope else ''})")
    return _commit(poms, splices, where)


def _change(
    poms: Poms,
    pom: Pom,
    node: xmltext.Node,
    value: Value,
    splices: dict[str, dict[int, xmltext.Splice]],
    label: str,
) -> str:
    """Queue the change of one element's value, following a ``${name}`` to its definition."""
    current = pom.value(node)
    reference = pom_xml.REFERENCE.match(current)
    if reference:
        definition = poms.definition(reference["name"])
        if definition is None:
            raise Refused(
                f"{pom.path}: {label} reads ${{{reference['name']}}}, which is defined outside "
                "this repository"
            )
        pom, node = definition
        label = f"property {reference['name']}"
        current = pom.value(node)
    new = value(poms.resolve(current))
    if new != current:
        splices.setdefault(pom.path, {})[node.start] = xmltext.set_text(pom.doc, node, new)
    return f"{pom.path} ({label})"


def _commit(poms: Poms, splices: dict[str, dict[int, xmltext.Splice]], places: list[str]) -> str:
    poms.apply({path: list(items.values()) for path, items in splices.items() if items})
    return ", ".join(dict.fromkeys(places))


def _append(pom: Pom, parent: xmltext.Node, path: list[str], value: str) -> xmltext.Splice:
    """Add ``path`` under ``parent``, reusing the elements of it that already exist."""
    node = parent
    while len(path) > 1 and (child := node.child(path[0])) is not None:
        node, path = child, path[1:]
    return xmltext.append_child(pom.doc, node, path, value)


def _children(node: xmltext.Node, *path: str) -> list[xmltext.Node]:
    """The elements at ``path`` below ``node``, every match at each level."""
    found = [node]
    for tag in path:
        found = [c for n in found for c in n.children if c.tag == tag]
    return found


def _shell_entrypoint(poms: Poms) -> str | None:
    """Why the configured entrypoint may not run on distroless; None if it runs ``java``.

    Distroless Java has ``java`` and nothing else to run: no shell for ``bash -c …`` or a
    ``#!/bin/sh`` script such as ``/entrypoint.sh`` from extraDirectories.
    """
    for pom in poms.chain:
        key = "jib.container.entrypoint"
        values = [pom.value(pom.property(key))]
        values += [pom.value(node) for _, node in pom.profile_properties(key)]
        for plugin in pom.plugins():
            for owner in (plugin, *_children(plugin, "executions", "execution")):
                entry = descend(owner, "configuration", "container", "entrypoint")
                if entry is not None:
                    first = entry.children[0] if entry.children else entry
                    values.append(pom.value(first))
        for value in values:
            if poms.resolve(value).strip() == "INHERIT":
                return "the Jib entrypoint is INHERIT: it would run the new base's own entrypoint"
            word = re.split(r"[,\s]+", poms.resolve(value).strip(), maxsplit=1)[0]
            if word and posixpath.basename(word) != "java":
                return (
                    f"the Jib entrypoint runs {word}, which may need a shell the distroless "
                    "base does not have"
                )
    return None


def java_release(poms: Poms) -> int | None:
    """The Java release the module compiles for, as Maven's compiler plugin would read it."""
    candidates: list[str] = []
    for pom in poms.chain:
        for plugin in pom.plugins("maven-compiler-plugin"):
            for key in ("release", "target"):
                candidates.append(pom.value(descend(plugin, "configuration", key)))
    for key in ("maven.compiler.release", "maven.compiler.target", "java.version"):
        found = poms.definition(key)
        if found is not None:
            candidates.append(found[0].value(found[1]))
    for candidate in candidates:
        match = re.fullmatch(r"(?:1\.)?(\d+)", poms.resolve(candidate).strip())
        if match:
            return int(match[1])
    return None
