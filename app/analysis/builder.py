"""Which tool built an image, and which of its layers are the application's own.

Fingerprints from research/analysis.md §2: Jib, ko and apko sign their history entries;
Cloud Native Buildpacks leave ``io.buildpacks.*`` labels (Paketo and Google's builders
told apart by stack and buildpack ids); Dockerfiles leave BuildKit or classic-builder
history lines; Bazel's rules leave almost nothing, which is itself the tell.
"""

from __future__ import annotations

import json
import re

from app.analysis.config import ConfigFacts, Step
from app.models import Builder

_JIB = re.compile(
    r"^(?P<tool>jib(?:-maven-plugin|-gradle-plugin|-cli|-core)?)(?::(?P<version>\S*))?$"
)
_CNB_LIFECYCLE = "io.buildpacks.lifecycle.metadata"
_CNB_BUILD = "io.buildpacks.build.metadata"
_CNB_STACK = "io.buildpacks.stack.id"
_CNB_BASE = "io.buildpacks.base.id"
_BASE_END = re.compile(r"^(/bin/sh -c #\(nop\) +)?(CMD|ENTRYPOINT)\b")


def detect(config: ConfigFacts) -> Builder:
    for step in config.history:
        match = _JIB.match(step.created_by.strip())
        if match or step.author == "Jib":
            version = match["version"] if match else None
            return Builder(
                kind="jib",
                tool=match["tool"] if match else None,
                version=None if version in (None, "", "null") else version,
                evidence=f"history created_by {step.created_by.strip()!r}, author {step.author!r}",
            )
    if _CNB_LIFECYCLE in config.labels or _CNB_BUILD in config.labels:
        return _buildpacks(config)
    for step in config.history:
        if step.author == "ko" or step.created_by.startswith("ko build"):
            return Builder("ko", "ko", None, f"history created_by {step.created_by!r}")
    if any(name == "KO_DATA_PATH" for name, _ in config.env):
        return Builder("ko", "ko", None, "env KO_DATA_PATH")
    if config.author == "github.com/chainguard-dev/apko" or any(
        s.created_by == "apko" for s in config.history
    ):
        return Builder("apko", "apko", None, "config author / history created_by apko")
    if any(s.author == "Bazel" or s.created_by.startswith("bazel build") for s in config.history):
        return Builder("bazel", "rules_docker", None, "history author Bazel")
    for step in reversed(config.history):
        if step.comment == "buildkit.dockerfile.v0" or step.created_by.endswith("# buildkit"):
            return Builder("dockerfile", "buildkit", None, f"history {step.created_by[:80]!r}")
    if any(step.created_by.startswith("/bin/sh -c") for step in config.history):
        return Builder("dockerfile", "classic", None, "history /bin/sh -c entries")
    if not config.history:
        return Builder(
            "bazel", "rules_oci", None, "no history at all (rules_oci and crane add none)"
        )
    return Builder("unknown")


def _buildpacks(config: ConfigFacts) -> Builder:
    stack = config.labels.get(_CNB_STACK) or config.labels.get(_CNB_BASE) or ""
    ids: list[str] = []
    version = None
    try:
        build = json.loads(config.labels.get(_CNB_BUILD, "{}"))
        ids = [str(b.get("id")) for b in build.get("buildpacks") or [] if isinstance(b, dict)]
        version = (build.get("launcher") or {}).get("version")
    except (ValueError, AttributeError):
        pass
    evidence = f"labels {_CNB_LIFECYCLE}; stack {stack or 'unknown'}"
    if stack.startswith("google.") or any(i.startswith("google.") for i in ids):
        return Builder("gcp-buildpacks", "lifecycle", version, evidence)
    if (
        "paketo" in stack
        or stack.startswith("io.buildpacks.stacks.")
        or any(i.startswith("paketo-buildpacks/") for i in ids)
    ):
        return Builder("paketo", "lifecycle", version, evidence)
    return Builder("buildpacks", "lifecycle", version, evidence)


def app_layers(config: ConfigFacts, builder: Builder, layer_count: int) -> frozenset[int]:
    """Indices of the layers the application's build added (not its base image's)."""
    everything = frozenset(range(layer_count))
    steps = config.layer_steps()
    if builder.kind in ("jib", "ko"):
        author = "Jib" if builder.kind == "jib" else "ko"
        own = frozenset(i for i, s in enumerate(steps) if s is not None and s.author == author)
        return own or everything
    if builder.kind in ("paketo", "gcp-buildpacks", "buildpacks"):
        try:
            metadata = json.loads(config.labels.get(_CNB_LIFECYCLE, "{}"))
            top = (metadata.get("runImage") or {}).get("topLayer")
        except (ValueError, AttributeError):
            top = None
        if top in config.diff_ids:
            return frozenset(range(config.diff_ids.index(top) + 1, layer_count))
        return everything
    if builder.kind == "dockerfile":
        return frozenset(_after_base(config.history, steps)) or everything
    return everything


def _after_base(history: tuple[Step, ...], steps: list[Step | None]) -> list[int]:
    """Layers after the base image's last CMD/ENTRYPOINT (Trivy's GuessBaseImageIndex idea)."""
    layer_of_step: dict[int, int] = {}
    layer = 0
    for index, step in enumerate(history):
        if not step.empty_layer:
            layer_of_step[index] = layer
            layer += 1
    last_layer_step = max(layer_of_step, default=-1)
    boundary = None
    for index, step in enumerate(history):
        if step.empty_layer and _BASE_END.match(step.created_by) and index < last_layer_step:
            boundary = index
    if boundary is None or None in steps:
        return []
    return [layer_of_step[i] for i in layer_of_step if i > boundary]
