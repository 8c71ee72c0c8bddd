"""Jib with Gradle: set the container user and a distroless base in the build scripts.

A Jib image with no ``jib.container.user`` runs as root (its default bases set no USER,
research/remediation.md §1.5). The Gradle plugin reads a system property before the DSL
(§1.2), so a ``systemProp.jib.*`` line in gradle.properties wins over any script edit: then
the fix is to change that line, and this fixer says so instead of editing a script Jib
ignores. The setting is written where the configuration in effect lives: the module's
script, the root script's ``subprojects {}``/``allprojects {}``, or a precompiled script
plugin the module applies (§1.4). The base is switched (§1.6) as for Maven: to the `bases`
mapping entry of the current base, or, when the build sets none, to the distroless image of
its declared Java release; never for a WAR, an entrypoint that does not start ``java``, or a
base that is not a plain string. Kotlin's ``configure<JibExtension> {`` is a ``jib`` block.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from app.remediation import gradle_script
from app.remediation.base import FixContext, FixResult, Outcome, edit

name = "jib-gradle"
PLUGIN = "com.google.cloud.tools.jib"
TOOL = "jib-gradle-plugin"
USER_RULES = ("root-user", "non-numeric-user")
BASE_RULES = ("non-minimal-base", "shell", "package-manager")
USER = ("jib", "container", "user")
BASE = ("jib", "from", "image")
ENTRYPOINT = ("jib", "container", "entrypoint")
ROOT_SCOPES = ("subprojects", "allprojects", "configure")
SCRIPTS = ("build.gradle.kts", "build.gradle")
KEPT_PREFIXES = ("registry://", "docker://")
_PRECOMPILED = re.compile(
    r"(?:^|/)buildSrc/src/main/(?:groovy|kotlin)/(?:.+/)?[^/]+\.gradle(?:\.kts)?$"
    r"|(?:^|/)src/main/kotlin/(?:.+/)?[^/]+\.gradle\.kts$"
)
_PACKAGE = re.compile(r"^[ \t]*package[ \t]+([\w.]+)", re.M)
# What may come before an entrypoint's first word: ``[``, ``listOf(`` … or nothing.
_LIST_START = re.compile(r"\s*(?:(?:\[|(?:listOf|mutableListOf|arrayOf)\s*\()\s*)?")
_SET = r"\s*(?:=\s*|\.set\s*\(\s*)"
_VERSION = (
    r"""(?:JavaVersion\.VERSION_(?:1_)?(?P<a>\d+)"""
    r"""|JavaVersion\.toVersion\(\s*['"]?(?:1\.)?(?P<b>\d+)[\d.]*['"]?\s*\)"""
    r"""|['"]?(?:1\.)?(?P<c>\d+)(?:\.\d+)*['"]?)"""
)
_RELEASES = (
    re.compile(rf"\b(?:sourceCompatibility|targetCompatibility){_SET}{_VERSION}"),
    re.compile(rf"\blanguageVersion{_SET}JavaLanguageVersion\.of\(\s*['\"]?(?P<a>\d+)"),
    re.compile(r"\bjvmToolchain\s*\(\s*(?P<a>\d+)"),
    re.compile(rf"\bjvmTarget{_SET}(?:JvmTarget\.JVM_(?:1_)?(?P<a>\d+)|['\"](?:1\.)?(?P<b>\d+))"),
    re.compile(rf"\boptions\.release{_SET}(?P<a>\d+)"),
)


@dataclass(slots=True)
class _Source:
    """One script that can hold Jib configuration for the module, and how to edit it."""

    path: str
    text: str | None  # None: the module has no script yet
    kotlin: bool
    within: tuple[str, ...] = ()  # a root script configures modules only inside these blocks
    script: gradle_script.Script | None = None
    error: str = ""

    def __post_init__(self) -> None:
        try:
            self.script = gradle_script.parse(self.text or "", self.kotlin)
        except gradle_script.ScriptError as exc:
            self.error = str(exc)

    def plugins(self, catalog: dict[str, str]) -> set[str]:
        """Plugin ids this script applies to the module, version-catalog aliases resolved."""
        if self.script is None:
            return set()
        ids = set()
        for plugin in self.script.plugins():
            outer = [n for n in plugin.scope if n != "plugins"]
            reaches = (
                any(n in self.within for n in outer)
                if self.within
                else all(n in gradle_script.TRANSPARENT for n in outer)
            )
            if reaches:
                ids.add(catalog.get(plugin.id, plugin.id))
        return ids

    def assigns(self, path: Sequence[str]) -> bool:
        return self.script is not None and bool(self.script.assignments(path, self.within))

    def configures_jib(self) -> bool:
        if self.script is None:
            return "jib" in (self.text or "")  # unreadable: pick it, so the reason is reported
        return bool(
            self.script.blocks_at(["jib"], self.within) or self.script.dotted("jib", self.within)
        )


@dataclass(slots=True)
class _Build:
    """The module's script, the root script and the precompiled plugins the module applies."""

    module: _Source
    root: _Source | None
    plugins: list[_Source]
    properties: list[tuple[str, str]]  # (path, text) of gradle.properties files
    applied: set[str] = field(default_factory=set)  # plugin ids reaching the module

    @property
    def sources(self) -> list[_Source]:
        return [s for s in (self.module, self.root, *self.plugins) if s is not None]

    def target(self, path: Sequence[str]) -> _Source:
        """The script whose edit of ``path`` takes effect.

        The last one Gradle evaluates that already sets it (root ``subprojects {}`` runs
        first, then the module's plugins, then the module's own body); else the first one
        holding Jib configuration; else the module's own script.
        """
        for source in (self.module, *self.plugins, self.root):
            if source is not None and source.assigns(path):
                return source
        for source in (self.module, self.root, *self.plugins):
            if source is not None and source.text is not None and source.configures_jib():
                return source
        return self.module

    def system_property(self, key: str) -> tuple[str, str] | None:
        """(file, value) of ``systemProp.<key>`` in gradle.properties, which Jib reads first."""
        pattern = re.compile(
            rf"^[ \t]*systemProp\.{re.escape(key)}(?:[ \t]*[=:][ \t]*|[ \t]+|$)(?P<v>.*?)[ \t\r]*$",
            re.M,
        )
        for path, text in self.properties:
            if (match := pattern.search(text)) is not None:
                return path, match["v"]
        return None


def applies(ctx: FixContext) -> bool:
    builder = ctx.platform.builder
    if builder.kind != "jib" or builder.tool not in (None, TOOL):
        return False
    build = _load(ctx)
    return build is not None and (
        PLUGIN in build.applied or any(s.error and PLUGIN in (s.text or "") for s in build.sources)
    )


def fix(ctx: FixContext) -> FixResult:
    rules = ctx.rules
    user_rules = tuple(r for r in USER_RULES if r in rules)
    base_rules = tuple(r for r in BASE_RULES if r in rules)
    if not user_rules and not base_rules:
        return FixResult()
    build = _load(ctx)
    if build is None:
        detail = f"{ctx.path('build.gradle')}(.kts) not found"
        return FixResult(
            outcomes=tuple(Outcome(r, False, detail) for r in (user_rules, base_rules) if r)
        )
    pending: dict[str, str] = {}
    outcomes = []
    if user_rules:
        outcomes.append(_set(build, pending, user_rules, USER, ctx.user))
    if base_rules:
        outcomes.append(_switch_base(ctx, build, pending, base_rules))
    originals = {s.path: s.text for s in build.sources}
    edits = tuple(e for path, new in pending.items() for e in edit(path, originals[path], new))
    return FixResult(edits=edits, outcomes=tuple(outcomes))


def _set(
    build: _Build, pending: dict[str, str], rules: tuple[str, ...], path: Sequence[str], value: str
) -> Outcome:
    key = ".".join(path)
    override = build.system_property(key)
    if override is not None:
        file, current = override
        if current == value:
            return Outcome(rules, True, f"{file}: systemProp.{key} is already {value}")
        return Outcome(rules, False, _overridden(file, current, key=key, wanted=value))
    source = build.target(path)
    if source.error:
        return Outcome(
            rules, False, f"{source.path}: left unchanged, cannot read it safely: {source.error}"
        )
    text = pending.get(source.path, source.text or "")
    result = gradle_script.set_value(text, source.kotlin, path, value, source.within)
    if result.text is None:
        return Outcome(rules, False, f"{source.path}: {result.reason}")
    if result.text == text:
        return Outcome(rules, True, f"{source.path} already sets {key} to {value}")
    pending[source.path] = result.text
    return Outcome(rules, True, f"{source.path}: {key} set to {value}")


def _overridden(file: str, current: str, key: str, wanted: str) -> str:
    return (
        f"{file}: systemProp.{key}={current} overrides the build script (Jib reads the "
        f"system property first); change it there to {wanted}"
    )


def _switch_base(
    ctx: FixContext, build: _Build, pending: dict[str, str], rules: tuple[str, ...]
) -> Outcome:
    def refuse(why: str) -> Outcome:
        return Outcome(rules, False, f"base image left as is: {why}")

    key = ".".join(BASE)
    override = build.system_property(key)
    if override is not None:
        return refuse(_overridden(*override, key=key, wanted="a distroless Java image"))
    if "war" in build.applied:
        return refuse(
            f"{build.module.path} builds a WAR (war plugin), which needs a servlet container "
            "base; distroless Java has none"
        )
    if (entrypoint := _entrypoint_needs_base(build)) is not None:
        return refuse(entrypoint)
    source = build.target(BASE)
    if source.error:
        return refuse(f"{source.path} cannot be read safely: {source.error}")
    text = pending.get(source.path, source.text or "")
    script = gradle_script.parse(text, source.kotlin)
    current = ""  # the base the script sets last, "" for Jib's default
    for statement in script.assignments(BASE, source.within):
        lit = script.literal(statement)
        if lit is None:
            return refuse(f"{source.path}: {script.not_plain(statement, BASE)}")
        current = script.string(lit)
    prefix = next((p for p in KEPT_PREFIXES if current.startswith(p)), "")
    if "://" in current and not prefix:
        return refuse(f"{source.path} takes the base from `{current}`, not from a registry")
    bare = current.removeprefix(prefix)
    if bare in ctx.bases.targets():
        return Outcome(rules, True, f"{source.path} already uses {current}")
    chosen = ctx.bases.for_jib(bare, lambda: _java_release(build))
    if chosen is None:
        return refuse(
            "no Java release is declared (sourceCompatibility, targetCompatibility, "
            "toolchain or jvmTarget), so the distroless Java image to use is unknown"
        )
    if isinstance(chosen, str):
        return refuse(f"{chosen}; keep it and run as a non-root user instead")
    choice, runtime = chosen
    image = prefix + choice.image
    result = gradle_script.set_value(text, source.kotlin, BASE, image, source.within)
    if result.text is None:
        return refuse(f"{source.path}: {result.reason}")
    caveat = f" ({choice.why})" if choice.why else ""
    pending[source.path] = result.text
    return Outcome(
        rules, True, f"{source.path}: jib.from.image set to {image} for {runtime}{caveat}"
    )


def _entrypoint_needs_base(build: _Build) -> str | None:
    """Why the configured entrypoint may not run on distroless, which has only ``java``.

    Only an entrypoint that starts ``java`` (or ``…/java``) is known to work there: a shell,
    a ``#!/bin/sh`` script (``/entrypoint.sh``, or one copied in from ``extraDirectories``)
    or ``INHERIT`` (the base's own entrypoint) needs what the current base has.
    """
    for source in build.sources:
        script = source.script
        for statement in script.assignments(ENTRYPOINT, source.within) if script else ():
            where = (
                f"{source.path} line {script.line(statement.start)} sets the entrypoint to "
                f"`{script.value_text(statement)}`"
            )
            start, end = statement.value
            first = script.first_literal(start, end)
            if first is None or not _LIST_START.fullmatch(script.masked, start, first.start):
                return (
                    f"{where}, which is not a list of plain strings, so what it runs is "
                    "unknown; distroless has no shell"
                )
            word = next(iter(script.string(first).split()), "")
            if word == "INHERIT":
                return (
                    f"{where}, which runs the base image's own entrypoint; distroless has a "
                    "different one and no shell"
                )
            if word != "java" and not word.endswith("/java"):
                return (
                    f"{where}, which starts `{word}`, not java: a shell or a script needs the "
                    "base image's shell; distroless has no shell"
                )
    return None


def _java_release(build: _Build) -> int | None:
    """The highest Java release the scripts compile for or run on: the runtime must reach it."""
    found = []
    for source in build.sources:
        script = source.script
        if script is None:
            continue
        for pattern in _RELEASES:
            for match in pattern.finditer(source.text or ""):
                if not script.is_code(match.start()):
                    continue
                scope = script.scope_names(match.start())
                if source.within and not any(n in source.within for n in scope):
                    continue
                number = next(v for v in match.groupdict().values() if v is not None)
                found.append(int(number))
    return max(found) if found else None


def _load(ctx: FixContext) -> _Build | None:
    """The scripts that configure the module; None when it has no Gradle script at all."""
    tree = ctx.tree
    module = _script(tree.read, [ctx.path(n) for n in SCRIPTS])
    root = None
    if ctx.root.strip("/"):
        root = _script(tree.read, list(SCRIPTS), within=ROOT_SCOPES)
    if module is None:
        if root is None:
            return None
        kotlin = root.kotlin
        module = _Source(ctx.path(SCRIPTS[0] if kotlin else SCRIPTS[1]), None, kotlin)
    catalog = _catalog(tree.read("gradle/libs.versions.toml"))
    applied = module.plugins(catalog) | (root.plugins(catalog) if root else set())
    plugins = []
    for path in sorted(tree.paths()):
        if not _PRECOMPILED.search(path) or (text := tree.read(path)) is None:
            continue
        source = _Source(path, text, path.endswith(".kts"))
        if _plugin_id(path, text) in applied:
            plugins.append(source)
    for source in plugins:
        applied |= source.plugins(catalog)
    properties = []
    for path in dict.fromkeys((ctx.path("gradle.properties"), "gradle.properties")):
        if (text := tree.read(path)) is not None:
            properties.append((path, text))
    return _Build(module, root, plugins, properties, applied)


def _script(
    read: Callable[[str], str | None], paths: list[str], within: tuple[str, ...] = ()
) -> _Source | None:
    for path in paths:
        text = read(path)
        if text is not None:
            return _Source(path, text, path.endswith(".kts"), within)
    return None


def _plugin_id(path: str, text: str) -> str:
    """A precompiled script plugin's id: its file name, after its package in Kotlin."""
    stem = path.rsplit("/", 1)[-1].removesuffix(".kts").removesuffix(".gradle")
    package = _PACKAGE.search(text) if path.endswith(".kts") else None
    return f"{package[1]}.{stem}" if package else stem


def _catalog(text: str | None) -> dict[str, str]:
    """``alias:libs.plugins.x`` → plugin id, from gradle/libs.versions.toml's [plugins]."""
    if text is None:
        return {}
    try:
        plugins = tomllib.loads(text).get("plugins", {})
    except tomllib.TOMLDecodeError:
        return {}
    if not isinstance(plugins, dict):  # "plugins = [...]": not a catalog Gradle reads either
        return {}
    aliases = {}
    for key, entry in plugins.items():
        plugin = entry.get("id") if isinstance(entry, dict) else str(entry).split(":", 1)[0]
        if plugin:
            accessor = re.sub(r"[-_.]", ".", key)
            aliases[f"alias:libs.plugins.{accessor}"] = plugin
    return aliases
