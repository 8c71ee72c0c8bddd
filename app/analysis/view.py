"""Everything the rules judge about one platform image, assembled once."""

from __future__ import annotations

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
        "go",
        "gems",
        "bower_components",
        "jspm_packages",
        ".cache",
    }
)
SYSTEM_PREFIXES = (
    "usr/include/",
    "usr/share/",
    "usr/src/",
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

    def current(self, layer: int, path: str) -> bool:
        """True when the file ``layer`` wrote at ``path`` is the one in the final image."""
        found = self.fs.get(path)
        return found is not None and found[1] == layer

    def captured(self, path: str) -> str | None:
        """A captured text file as the final image has it (links followed)."""
        resolved = self.fs.resolve(path)
        if resolved is None:
            return None
        for layer, hit in self.hits("capture"):
            if hit.path == resolved and self.current(layer, resolved):
                return hit.text
        return None

    def is_app_path(self, path: str, layer: int) -> bool:
        """In one of the application's layers, and not a dependency or system tree."""
        if layer not in self.app_layers or path.startswith(SYSTEM_PREFIXES):
            return False
        return not any(part in DEPENDENCY_DIRS for part in path.split("/")[:-1])
