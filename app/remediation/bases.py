"""Which minimal image replaces a base, as a documented mapping that config can override.

Facts from research/remediation.md §1.6, §3.1 and §4.1 (distroless as of 2026): Java
17/21/25, Node 22/24 and Python 3.13 have Debian 13 distroless images; Java 8/11 and other
Python versions have none; Alpine-built Node and Python apps carry musl binaries that a
glibc image cannot load. Keys are either globs over an image's short name (``node:22*``,
matched without ``docker.io/library/`` and without a digest) or a runtime name used by the
builders that do not name a base themselves (``java21``, ``go-static``, ``paketo-java``).
An empty value means "no minimal replacement": keep the base.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase

DISTROLESS = "gcr.io/distroless"
_NO_JAVA = "distroless has no Java 8 or 11 image any more"
_MUSL = "an Alpine build carries musl binaries that the glibc-based distroless image cannot load"

# (key, replacement, why) in match order: the first glob that matches wins.
DEFAULTS: tuple[tuple[str, str, str], ...] = (
    ("java17", f"{DISTROLESS}/java17-debian13:nonroot", ""),
    ("java21", f"{DISTROLESS}/java21-debian13:nonroot", ""),
    ("java25", f"{DISTROLESS}/java25-debian13:nonroot", ""),
    ("go-static", f"{DISTROLESS}/static-debian13:nonroot", ""),
    ("paketo-java", "paketobuildpacks/builder-jammy-tiny", ""),
    ("paketo-go", "paketobuildpacks/builder-jammy-tiny", ""),
    ("eclipse-temurin:8*", "", _NO_JAVA),
    ("eclipse-temurin:11*", "", _NO_JAVA),
    ("eclipse-temurin:17*", f"{DISTROLESS}/java17-debian13:nonroot", ""),
    ("eclipse-temurin:21*", f"{DISTROLESS}/java21-debian13:nonroot", ""),
    ("eclipse-temurin:25*", f"{DISTROLESS}/java25-debian13:nonroot", ""),
    ("openjdk:8*", "", _NO_JAVA),
    ("openjdk:11*", "", _NO_JAVA),
    ("openjdk:17*", f"{DISTROLESS}/java17-debian13:nonroot", "a vendor change to Temurin"),
    ("openjdk:21*", f"{DISTROLESS}/java21-debian13:nonroot", "a vendor change to Temurin"),
    ("amazoncorretto:8*", "", _NO_JAVA),
    ("amazoncorretto:11*", "", _NO_JAVA),
    ("amazoncorretto:17*", f"{DISTROLESS}/java17-debian13:nonroot", "a vendor change to Temurin"),
    ("amazoncorretto:21*", f"{DISTROLESS}/java21-debian13:nonroot", "a vendor change to Temurin"),
    ("amazoncorretto:25*", f"{DISTROLESS}/java25-debian13:nonroot", "a vendor change to Temurin"),
    ("node:*alpine*", "", _MUSL),
    ("node:22*", f"{DISTROLESS}/nodejs22-debian13:nonroot", ""),
    ("node:24*", f"{DISTROLESS}/nodejs24-debian13:nonroot", ""),
    ("python:*alpine*", "", _MUSL),
    ("python:3.13*", f"{DISTROLESS}/python3-debian13:nonroot", ""),
)


@dataclass(frozen=True, slots=True)
class Choice:
    key: str  # the mapping entry that matched
    image: str  # "" when there is no minimal replacement
    why: str = ""  # a caveat when switching, or the reason there is no replacement


def short_name(reference: str) -> str:
    """``docker.io/library/node:22@sha256:…`` → ``node:22``: the form mapping keys use."""
    name = reference.split("@", 1)[0]
    for prefix in ("docker.io/", "index.docker.io/", "registry-1.docker.io/"):
        name = name.removeprefix(prefix)
    name = name.removeprefix("library/")
    last = name.rsplit("/", 1)[-1]
    return name if ":" in last else f"{name}:latest"


def family(image: str) -> str | None:
    """The runtime a minimal image's entrypoint starts, which decides how CMD is rewritten."""
    name = short_name(image).split(":", 1)[0]
    if not name.startswith(f"{DISTROLESS}/"):
        return None
    flavour = name.removeprefix(f"{DISTROLESS}/")
    for prefix, runtime in (("java", "java"), ("nodejs", "node"), ("python", "python")):
        if flavour.startswith(prefix):
            return runtime
    if flavour.startswith(("static", "base", "cc")):
        return "static"
    return None


class BaseMap:
    """The defaults, with entries from config and then from the repository's policy first."""

    def __init__(self, *overrides: Mapping[str, str]) -> None:
        entries: list[tuple[str, str, str]] = []
        for layer in reversed(overrides):  # the last override given is the most specific
            entries.extend((key, value.strip(), "") for key, value in layer.items())
        entries.extend(DEFAULTS)
        self.entries = tuple(entries)

    def named(self, key: str) -> Choice | None:
        return next((Choice(k, v, w) for k, v, w in self.entries if k == key), None)

    def for_image(self, reference: str) -> Choice | None:
        name = short_name(reference)
        return next((Choice(k, v, w) for k, v, w in self.entries if fnmatchcase(name, k)), None)

    def targets(self) -> frozenset[str]:
        """Every replacement image: a base that is one of these needs no switch."""
        return frozenset(image for _, image, _ in self.entries if image)

    def for_jib(
        self, bare: str, release: Callable[[], int | None]
    ) -> tuple[Choice, str] | str | None:
        """A Jib build's minimal base and what it was chosen for: the current base's entry
        when the build pins one, else its Java release's. A string says why there is none;
        None means the release is not declared (the caller knows where it should be)."""
        if bare:
            choice = self.for_image(bare)
            if choice is None:
                return (
                    f"no minimal replacement is mapped for the base {bare}; add a `bases` "
                    "entry for it (docs/fixes.md)"
                )
            runtime = f"the current base {bare}"
        else:
            number = release()
            if number is None:
                return None
            choice, runtime = self.for_java(number), f"Java {number}"
        if not choice.image:
            why = choice.why or f"the `bases` entry `{choice.key}` maps it to no image"
            return f"{runtime}: {why}"
        return choice, runtime

    def for_java(self, release: int) -> Choice:
        """The minimal image for a Java release: the next LTS that has a distroless image."""
        if release <= 11:
            return Choice(f"java{release}", "", _NO_JAVA)
        for lts in (17, 21, 25):
            if release <= lts:
                return self.named(f"java{lts}") or Choice(f"java{lts}", "", "")
        return Choice(f"java{release}", "", f"distroless has no image for Java {release} yet")
