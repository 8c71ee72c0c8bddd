"""Everything the rules judge about one platform image, assembled once."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property

from app.analysis.config import ConfigFacts
from app.analysis.filesystem import Filesystem
from app.analysis.layers import Entry, Hit, LayerFacts
from app.models import Builder

# Trees that belong to a language runtime or a package, not to the application's own code.
DEPENDENCY_DIRS = frozenset(
    {
        "node_modules",
        "site-packages",
        "dist-packages",
        "vendor",
        ".m2",
        ".gradle",
        "gems",
        "bower_components",
        "jspm_packages",
        ".cache",
    }
)
SYSTEM_PREFIXES = (
    "usr/include/",
    "usr/share/",
    "usr/lib/",
    "usr/libexec/",
    "usr/local/go/",
    "usr/local/include/",
    "usr/local/lib/",
    "usr/local/share/",
    "lib/",
    "lib64/",
    "opt/java/",
    "etc/",
    "var/lib/",
    "proc/",
    "sys/",
    "root/.cache/",
    "layers/",
)
# Go's module cache ($GOPATH/pkg/mod, whatever GOPATH is: /go, /root/go, $HOME/go) holds each
# module as <module path>@<version>/ and its downloads under cache/download/<module>/@v/. A
# directory named go is not a dependency: /go/src/<app> is GOPATH mode's place for the app.
_GO_MODULE_CACHE = re.compile(r"(?:^|/)pkg/mod/[^@]*@[^/]*/")
# /usr/src is where the official golang and node images' docs put the app (WORKDIR
# /usr/src/app); what distribution packages install there is not the app's: kernel headers
# and sources (linux-headers-*, linux-kbuild-*, linux-source-*; RHEL's kernels/), RHEL's
# debugsource trees (debug/), Debian's googletest, gtest, gmock and rust-src (rustc-<version>).
_PACKAGED_SOURCES = re.compile(
    r"usr/src/(?:linux|linux-[^/]*|kernels|debug|googletest|gtest|gmock|rustc-[^/]*)/"
)


@dataclass
class ImageView:
    platform: str
    digest: str
    config: ConfigFacts
    layers: list[LayerFacts]
    layer_digests: list[str]
    annotations: dict[str, str] = field(default_factory=dict)
    builder: Builder = field(default_factory=lambda: Builder("unknown"))
    app_layers: frozenset[int] = frozenset()

    @cached_property
    def fs(self) -> Filesystem:
        return Filesystem.from_layers(self.layers)

    @cached_property
    def paths(self) -> list[tuple[str, Entry | None, int]]:
        """Every path of the final image, parents first: walked once for all the rules."""
        return list(self.fs.walk())

    def hits(self, rule: str) -> list[tuple[int, Hit]]:
        return [
            (i, hit)
            for i, layer in enumerate(self.layers)
            for hit in layer.hits
            if hit.rule == rule
        ]

    def located(self, path: str) -> str | None:
        """Where an entry a layer wrote at ``path`` is in the final tree. A tar path may go
        through a directory symlink (``app`` → ``/srv/app``): runtimes, and ``Filesystem``,
        put the entry where the link leads. The last name is not followed: a link there has
        replaced the file. None when the directory is gone."""
        directory, _, name = path.rpartition("/")
        if not directory:
            return path
        resolved = self.fs.resolve(directory)
        if resolved is None:
            return None
        return f"{resolved}/{name}" if resolved else name

    def current(self, layer: int, path: str) -> bool:
        """True when the file ``layer`` wrote at ``path`` is the one in the final image."""
        located = self.located(path)
        found = self.fs.get(located) if located is not None else None
        return found is not None and found[1] == layer

    @cached_property
    def _captures(self) -> dict[str, str | None]:
        """The captured text files of the final image, by where each is: located once, since
        an image may hold thousands (a .git/config per vendored checkout)."""
        found: dict[str, str | None] = {}
        for layer, hit in self.hits("capture"):
            located = self.located(hit.path)
            if located is not None and self.current(layer, hit.path):
                found[located] = hit.text
        return found

    def captured(self, path: str) -> str | None:
        """A captured text file as the final image has it (links followed)."""
        resolved = self.fs.resolve(path)
        return None if resolved is None else self._captures.get(resolved)

    def is_app_path(self, path: str, layer: int) -> bool:
        """In one of the application's layers, and not a dependency or system tree."""
        if layer not in self.app_layers or path.startswith(SYSTEM_PREFIXES):
            return False
        if path.startswith("usr/src/") and self._packaged_source(path):
            return False
        if "pkg/mod/" in path and _GO_MODULE_CACHE.search(path):  # the literal first: per file
            return False
        return not any(part in DEPENDENCY_DIRS for part in path.split("/")[:-1])

    def _packaged_source(self, path: str) -> bool:
        """Under a tree of /usr/src that a distribution package installs: a known one, or a
        DKMS module's source (``/usr/src/<module>-<version>/dkms.conf``, any name)."""
        if _PACKAGED_SOURCES.match(path):
            return True
        tree = "/".join(path.split("/", 3)[:3])
        return tree != path and self.fs.get(f"{tree}/dkms.conf") is not None
