"""Google Cloud buildpacks: keep source, build files, .git and secrets out of the image.

Facts from research/remediation.md §2: ``GOOGLE_CLEAR_SOURCE=true`` makes the Go, C++ and
Java (Maven or Gradle only) buildpacks delete the sources from /workspace after building;
no other language has a clear-source buildpack, and interpreted apps run from their
sources anyway. Google's Go docs warn that clearing breaks apps that read templates or
static files from the source tree at run time, unless the binary embeds them. Files that
must not reach /workspace at all are left out of the build with project.toml ``exclude``,
which pack forbids next to an ``include`` allowlist.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass

from app.models import Finding
from app.remediation import project_toml
from app.remediation.base import FixContext, FixResult, Outcome, edit
from app.remediation.project_toml import ProjectTomlError

name = "gcp-buildpacks"
CLEAR_SOURCE = "GOOGLE_CLEAR_SOURCE"
DEVMODE = "GOOGLE_DEVMODE"  # disables clear-source (research/remediation.md §2.1)
TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})
WORKSPACE = "/workspace"  # the app directory in a buildpacks image: the build context
SOURCE_RULES = ("source-code", "build-files", "vcs-directory")
LOOKED_AT = frozenset({*SOURCE_RULES, "secret-file"})
MAVEN_GRADLE = frozenset({"pom.xml", "build.gradle", "build.gradle.kts"})
# Marker files at the app's root, in the order their languages win.
MARKERS: tuple[tuple[str, frozenset[str]], ...] = (
    ("go", frozenset({"go.mod"})),
    ("java", MAVEN_GRADLE),
    ("cpp", frozenset({"CMakeLists.txt"})),
    ("nodejs", frozenset({"package.json"})),
    ("python", frozenset({"requirements.txt", "pyproject.toml", "Pipfile"})),
)
LABELS = {
    "go": "Go",
    "java": "Java",
    "cpp": "C++",
    "nodejs": "Node.js",
    "python": "Python",
    "ruby": "Ruby",
    "php": "PHP",
    "dotnet": ".NET",
}
CLEARABLE = frozenset({"go", "java", "cpp"})
ASSET_DIRS = frozenset({"templates", "static", "assets", "public", "web"})
ASSET_SUFFIXES = (".html", ".tmpl", ".gohtml")
NOT_APP_DIRS = frozenset({"vendor", "testdata", "node_modules"})
_EMBED = re.compile(r"^//go:embed\s+(.+)$", re.MULTILINE)
_EMBED_PATTERN = re.compile(r'"([^"]*)"|`([^`]*)`|(\S+)')
_RUNTIME_VERSION = re.compile(r"[\d.]+$")


@dataclass(frozen=True, slots=True)
class App:
    language: str | None  # a LABELS key (or GOOGLE_RUNTIME as given); None when unknown
    evidence: str  # the marker file or GOOGLE_RUNTIME that told

    @property
    def label(self) -> str:
        if self.language is None:
            return "unknown language"
        return LABELS.get(self.language, self.language)


def applies(ctx: FixContext) -> bool:
    return ctx.platform.builder.kind == "gcp-buildpacks"


def language(ctx: FixContext) -> App:
    """The app's language, from GOOGLE_RUNTIME in project.toml or marker files at its root."""
    text = ctx.read("project.toml")
    try:
        env = project_toml.build_env(text) if text is not None else {}
    except ProjectTomlError:
        env = {}
    return _detect(_files(ctx), env)


def fix(ctx: FixContext) -> FixResult:
    rules = ctx.rules & LOOKED_AT
    if not rules:
        return FixResult()
    path = ctx.path("project.toml")
    original = ctx.tree.read(path)
    try:
        env = project_toml.build_env(original) if original is not None else {}
        ignored = project_toml.ignored_keys(original) if original is not None else ()
    except ProjectTomlError as exc:
        return FixResult(outcomes=(Outcome(tuple(sorted(rules)), False, f"{path}: {exc}"),))
    files = _files(ctx)
    app = _detect(files, env)
    text, outcomes = original, []
    vcs_by_exclude = "vcs-directory" in rules
    source = tuple(r for r in SOURCE_RULES if r in rules)
    if source:
        blocker = _clear_source_blocker(ctx, app, files)
        reason = f"{ctx.where}: {blocker}" if blocker else _clear_source_defeated(path, env)
        if reason is None:
            vcs_by_exclude = False
            try:
                text, detail = _clear_source(path, text, app)
            except ProjectTomlError as exc:
                outcomes.append(Outcome(source, False, f"{path}: left unchanged: {exc}"))
            else:
                note = _ignored_note(ignored, text, original)
                outcomes.append(Outcome(source, True, detail + note))
        elif code := tuple(r for r in source if r != "vcs-directory"):
            outcomes.append(Outcome(code, False, reason))
    wanted = {
        rule: [f for f in ctx.active if f.rule == rule]
        for rule, on in (("vcs-directory", vcs_by_exclude), ("secret-file", "secret-file" in rules))
        if on
    }
    if wanted:
        text, excluded = _exclude(path, text, wanted)
        outcomes.extend(
            Outcome(
                o.rules,
                o.done,
                o.detail + (_ignored_note(ignored, text, original) if o.done else ""),
            )
            for o in excluded
        )
    return FixResult(
        edits=edit(path, original, text) if text is not None else (), outcomes=tuple(outcomes)
    )


def _clear_source(path: str, text: str | None, app: App) -> tuple[str | None, str]:
    new = project_toml.set_build_env(text, CLEAR_SOURCE, "true")
    table = project_toml.env_table(new)
    created = " (a new schema 0.2 project.toml)" if text is None else ""
    return new, (
        f"{path}: {CLEAR_SOURCE}=true in [[{table}]]{created}: Google's {app.label} "
        "buildpack deletes the sources from /workspace after the build, so the image keeps "
        "only the built app"
    )


def _clear_source_defeated(path: str, env: dict[str, str]) -> str | None:
    """Why project.toml's own env keeps the source in the image; None if setting it helps.

    The clear-source buildpacks opt out under GOOGLE_DEVMODE, and an image with its sources
    although project.toml clears them was built with the variable overridden.
    """
    devmode = env.get(DEVMODE, "")
    if _enabled(devmode):
        return (
            f"{path} sets {DEVMODE}={devmode}: devmode disables clearing the source (the "
            f"clear-source buildpacks opt out), so {CLEAR_SOURCE} does nothing; build the "
            f"image without {DEVMODE}"
        )
    current = env.get(CLEAR_SOURCE, "")
    if _enabled(current):
        return (
            f"{path} already sets {CLEAR_SOURCE}={current}, yet the image has its sources: "
            "the build overrides it (pack --env, gcloud --set-build-env-vars or --pack env=, "
            f"or {DEVMODE}=true in the build environment, which disables clearing the "
            "source); remove the override from the build"
        )
    return None


def _enabled(value: str) -> bool:
    """Go's strconv.ParseBool true, as the buildpacks parse these variables."""
    return value in TRUE


def _exclude(
    path: str, text: str | None, wanted: dict[str, list[Finding]]
) -> tuple[str | None, list[Outcome]]:
    patterns: dict[str, list[str]] = {}
    problems: dict[str, list[str]] = {}
    for rule, findings in wanted.items():
        for finding in findings:
            relative = _in_workspace(finding.path)
            if relative is None:
                problems.setdefault(rule, []).append(_not_excludable(finding.path))
            elif rule == "vcs-directory":
                patterns.setdefault(rule, []).append(posixpath.basename(relative))
            else:
                patterns.setdefault(rule, []).append(relative)
    everything = [p for rule in wanted for p in patterns.get(rule, ())]
    try:
        # an existing file is always checked, so that an include allowlist is explained
        new = project_toml.add_excludes(text, everything) if everything or text else text
        table = project_toml.settings_table(new)
    except ProjectTomlError as exc:
        return text, [Outcome((rule,), False, f"{path}: not excluded: {exc}") for rule in wanted]
    outcomes = []
    for rule in wanted:
        added = list(dict.fromkeys(patterns.get(rule, ())))
        parts = list(dict.fromkeys(problems.get(rule, ())))
        if added:
            what = "the repository metadata" if rule == "vcs-directory" else "the secret file"
            parts.insert(
                0,
                f"{path}: {', '.join(added)} in [{table}] exclude: pack leaves excluded files "
                f"out of /workspace, so {what} no longer reaches the image",
            )
        outcomes.append(Outcome((rule,), rule not in problems, "; ".join(parts)))
    return new, outcomes


def _not_excludable(path: str | None) -> str:
    if not path:
        return "a finding names no path, so there is nothing to exclude for it"
    return (
        f"/{path.lstrip('/')} is outside {WORKSPACE} (the app directory), so project.toml "
        "cannot exclude it: a buildpack or the run image put it there"
    )


def _in_workspace(path: str | None) -> str | None:
    """``workspace/conf/key.pem`` → ``/conf/key.pem``, anchored at the app dir; else None."""
    if not path:
        return None
    absolute = posixpath.normpath("/" + path.lstrip("/"))
    if not absolute.startswith(WORKSPACE + "/"):
        return None
    return absolute[len(WORKSPACE) :]


def _ignored_note(ignored: tuple[str, ...], new: str | None, old: str | None) -> str:
    if not ignored or new == old or old is None:
        return ""
    version = project_toml.schema_version(old)
    return (
        f" (pack reads this file as schema {version} and ignores its {', '.join(ignored)}, "
        "which belong to another schema's tables)"
    )


def _clear_source_blocker(ctx: FixContext, app: App, files: list[str]) -> str | None:
    """Why GOOGLE_CLEAR_SOURCE would not work or would break the app; None if it is safe."""
    if app.language is None:
        return (
            "the app's language is unknown (no go.mod, pom.xml, build.gradle, CMakeLists.txt, "
            "package.json, requirements.txt, pyproject.toml or Pipfile, no GOOGLE_RUNTIME), "
            f"and {CLEAR_SOURCE} only works for Go, Java with Maven or Gradle, and C++"
        )
    if app.language not in CLEARABLE:
        return (
            f"the {app.label} app ({app.evidence}) runs from its sources in /workspace, so "
            f"they stay in the image; {CLEAR_SOURCE} has no effect on {app.label} (only Go, "
            "Java with Maven or Gradle, and C++ have a clear-source buildpack)"
        )
    if app.language == "java" and not MAVEN_GRADLE & set(files):
        return (
            f"a Java app ({app.evidence}) without pom.xml, build.gradle or build.gradle.kts: "
            f"Google's Java clear-source buildpack runs only for Maven and Gradle projects, so "
            f"{CLEAR_SOURCE} would do nothing"
        )
    if app.language == "go":
        unembedded = _unembedded_assets(ctx, files)
        if unembedded:
            shown = ", ".join(unembedded[:3]) + (", …" if len(unembedded) > 3 else "")
            return (
                f"{CLEAR_SOURCE} not set: the Go app reads files from its source tree at run "
                f"time ({shown}) and does not embed them with //go:embed, so clearing the "
                "source would delete them (Google's Go buildpack docs warn about templates and "
                f"static files); embed them, then set {CLEAR_SOURCE}=true"
            )
    return None


def _files(ctx: FixContext) -> list[str]:
    """Every file under the build's directory, relative to it."""
    root = ctx.root.strip("/")
    if not root:
        return sorted(ctx.tree.paths())
    prefix = root + "/"
    return sorted(p[len(prefix) :] for p in ctx.tree.paths() if p.startswith(prefix))


def _detect(files: list[str], env: dict[str, str]) -> App:
    runtime = env.get("GOOGLE_RUNTIME", "").strip().lower()
    if runtime:
        return App(_RUNTIME_VERSION.sub("", runtime) or runtime, f"GOOGLE_RUNTIME={runtime}")
    top = {f for f in files if "/" not in f}
    for key, markers in MARKERS:
        found = sorted(markers & top)
        if found:
            return App(key, found[0])
    return App(None, "")


def _unembedded_assets(ctx: FixContext, files: list[str]) -> list[str]:
    assets = [f for f in files if _is_asset(f)]
    if not assets:
        return []
    embeds = [
        (posixpath.dirname(f), pattern)
        for f in files
        if f.endswith(".go") and not f.endswith("_test.go") and _in_app(f)
        for pattern in _embed_patterns(ctx.tree.read(ctx.path(f)) or "")
    ]
    return [a for a in assets if not any(_embedded(a, d, p) for d, p in embeds)]


def _in_app(path: str) -> bool:
    return not any(part in NOT_APP_DIRS or part.startswith(".") for part in path.split("/")[:-1])


def _is_asset(path: str) -> bool:
    parts = path.split("/")
    if not _in_app(path) or parts[-1].endswith(".go") or parts[-1] in ("go.mod", "go.sum"):
        return False
    return path.endswith(ASSET_SUFFIXES) or any(p in ASSET_DIRS for p in parts[:-1])


def _embed_patterns(source: str) -> list[str]:
    return [
        next(g for g in match.groups() if g is not None)
        for line in _EMBED.finditer(source)
        for match in _EMBED_PATTERN.finditer(line[1])
    ]


def _embedded(asset: str, directory: str, pattern: str) -> bool:
    """Whether ``//go:embed pattern`` in a file of ``directory`` includes ``asset``.

    A pattern names files or directories (path.Match globs); a directory brings its whole
    tree except names starting with '.' or '_', unless the pattern has the ``all:`` prefix.
    """
    everything = pattern.startswith("all:")
    full = posixpath.normpath(posixpath.join(directory, pattern.removeprefix("all:")))
    matcher = re.compile(_go_glob(full))
    parts = asset.split("/")
    for depth in range(len(parts), 0, -1):
        if matcher.fullmatch("/".join(parts[:depth])):
            below = parts[depth:]
            return everything or not any(p.startswith((".", "_")) for p in below)
    return False


def _go_glob(pattern: str) -> str:
    """A regular expression for Go's path.Match: '*' and '?' never cross '/'."""
    out, i = [], 0
    while i < len(pattern):
        char = pattern[i]
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[" and (close := pattern.find("]", i + 2)) > 0:
            body = pattern[i + 1 : close]
            out.append("[" + ("^" + body[1:] if body.startswith("^") else body) + "]")
            i = close
        else:
            out.append(re.escape(char))
        i += 1
    return "".join(out)
