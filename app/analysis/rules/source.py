"""No source: compiled languages' source, tests and build files do not belong in a runtime image.

Only the application's own layers are judged (a base image's headers are not the app's
source), and dependency trees (node_modules, site-packages, vendor …) are left alone.
Interpreted code that *is* the app (.py, .js, .rb, .php) is not source; its tests are.
"""

from __future__ import annotations

import posixpath
import re
from collections import Counter, defaultdict

from app.analysis.layers import FILE
from app.analysis.view import ImageView
from app.models import Finding, Severity

SOURCE_CODE = "source-code"
BUILD_FILES = "build-files"
IDS = (SOURCE_CODE, BUILD_FILES)
inspectors = ()

COMPILED = frozenset(
    {
        ".java",
        ".kt",
        ".scala",
        ".groovy",
        ".go",
        ".rs",
        ".c",
        ".cc",
        ".cpp",
        ".cxx",
        ".h",
        ".hh",
        ".hpp",
        ".cs",
        ".fs",
        ".vb",
        ".ts",
        ".tsx",
        ".swift",
        ".m",
        ".mm",
        ".dart",
        ".zig",
        ".hs",
    }
)
INTERPRETED = frozenset({".py", ".js", ".mjs", ".cjs", ".rb", ".php", ".pl", ".lua"})
TEST_DIRS = frozenset({"test", "tests", "__tests__", "spec", "specs", "testdata"})
BUILD_NAMES = frozenset(
    {
        "pom.xml",
        "build.gradle",
        "build.gradle.kts",
        "settings.gradle",
        "settings.gradle.kts",
        "gradlew",
        "gradlew.bat",
        "go.mod",
        "Cargo.toml",
        "Makefile",
        "makefile",
        "GNUmakefile",
        "cloudbuild.yaml",
        "cloudbuild.yml",
        "project.toml",
        "skaffold.yaml",
        "Jenkinsfile",
        ".gitlab-ci.yml",
        "CMakeLists.txt",
        "build.sbt",
        "BUILD.bazel",
        "WORKSPACE",
        "MODULE.bazel",
        ".dockerignore",
        ".gcloudignore",
        "mvnw",
        "mvnw.cmd",
    }
)
_COMPOSE = re.compile(r"^(docker-)?compose(\.[\w-]+)?\.ya?ml$")
# `docker build -f` and `podman build -f` take any name; these are the conventions for one
# per environment or service: Dockerfile.prod, prod.Dockerfile, api.dockerfile, Containerfile.dev.
# A lowercase dockerfile.<ext> is left out: that is code (a dockerfile.py parser), not a build.
_CONTAINERFILE = re.compile(
    r"^(?:(?:Docker|Container)file(?:\..+)?|dockerfile|containerfile|.+\.(?:[Dd]ocker|[Cc]ontainer)file)$"
)
MAX_FINDINGS = 20


def _is_source(path: str) -> bool:
    base = posixpath.basename(path)
    extension = posixpath.splitext(base)[1]
    if extension in COMPILED:
        return not base.endswith(".d.ts")
    if extension in INTERPRETED:
        return bool(TEST_DIRS & set(path.split("/")[:-1]))
    return False


def _is_build_file(path: str) -> bool:
    parts = path.split("/")
    base = parts[-1]
    return (
        base in BUILD_NAMES
        or bool(_CONTAINERFILE.match(base))
        or bool(_COMPOSE.match(base))
        or ".github" in parts[:-1]
    )


def _root_of(path: str) -> str:
    """Group a file under the directory that names its tree (src/main/java → its parent)."""
    parts = path.split("/")[:-1]
    for marker in ("src", ".github", "test", "tests"):
        if marker in parts:
            return "/".join(parts[: parts.index(marker) + 1])
    return "/".join(parts[:2]) or "/"


def judge(view: ImageView) -> list[Finding]:
    sources: dict[str, Counter[str]] = defaultdict(Counter)
    examples: dict[str, str] = {}
    builds: dict[str, list[str]] = defaultdict(list)
    layers: dict[str, str] = {}
    for path, entry, layer in view.paths:
        if entry is None or entry.kind != FILE or not view.is_app_path(path, layer):
            continue
        if _is_source(path):
            root = _root_of(path)
            sources[root][posixpath.splitext(path)[1]] += 1
            examples.setdefault(root, path)
            layers.setdefault(root, view.layer_digests[layer])
        elif _is_build_file(path):
            directory = posixpath.dirname(path) or "/"
            builds[directory].append(posixpath.basename(path))
            layers.setdefault(directory, view.layer_digests[layer])
    findings = []
    for root, counts in sorted(sources.items())[:MAX_FINDINGS]:
        kinds = ", ".join(f"{ext} {n}" for ext, n in counts.most_common(4))
        findings.append(
            Finding(
                SOURCE_CODE,
                Severity.MEDIUM,
                "Source code in the runtime image",
                f"{sum(counts.values())} source files ({kinds}), e.g. /{examples[root]}",
                path=root,
                layer=layers[root],
            )
        )
    for directory, names in sorted(builds.items())[:MAX_FINDINGS]:
        findings.append(
            Finding(
                BUILD_FILES,
                Severity.LOW,
                "Build files in the runtime image",
                ", ".join(sorted(names)[:10]),
                path=directory,
                layer=layers[directory],
            )
        )
    return findings
