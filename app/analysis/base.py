"""What an image is built on, from its filesystem and metadata (research/analysis.md §3)."""

from __future__ import annotations

import shlex

from app.analysis.view import ImageView
from app.models import BaseImage

BASE_NAME = "org.opencontainers.image.base.name"
SHELLS = (
    "bin/sh",
    "bin/bash",
    "bin/ash",
    "bin/dash",
    "bin/zsh",
    "bin/busybox",
    "busybox/sh",
    "usr/bin/bash",
    "usr/bin/zsh",
    "usr/bin/dash",
)
PACKAGE_MANAGERS = (
    "usr/bin/apt",
    "usr/bin/apt-get",
    "usr/bin/dpkg",
    "sbin/apk",
    "usr/sbin/apk",
    "usr/bin/yum",
    "usr/bin/dnf",
    "usr/bin/microdnf",
    "usr/bin/rpm",
    "bin/rpm",
    "usr/bin/zypper",
)
_MINIMAL_IDS = {"wolfi": "wolfi", "chainguard": "chainguard"}


def os_release(text: str | None) -> dict[str, str]:
    fields: dict[str, str] = {}
    for line in (text or "").splitlines():
        key, equals, value = line.partition("=")
        if not equals or not key.strip().isidentifier():
            continue
        try:
            parsed = shlex.split(value)
        except ValueError:
            parsed = [value.strip("\"'")]
        fields[key.strip()] = parsed[0] if parsed else ""
    return fields


def present(view: ImageView, candidates: tuple[str, ...]) -> list[tuple[str, str]]:
    """(path, what it resolves to) for each candidate that is a real file in the image;
    links are followed inside the image, so /bin/sh → busybox counts."""
    found = []
    for path in candidates:
        resolved = view.fs.resolve(path)
        if resolved is None:
            continue
        entry = view.fs.get(resolved)
        if entry is not None and entry[0] is not None and entry[0].kind == "file":
            found.append((path, resolved))
    return found


def identify(view: ImageView) -> BaseImage:
    release = os_release(view.captured("etc/os-release") or view.captured("usr/lib/os-release"))
    pretty = release.get("PRETTY_NAME", "")
    distro_id = release.get("ID", "").lower()
    version = release.get("VERSION_ID") or None
    name = view.annotations.get(BASE_NAME) or view.config.labels.get(BASE_NAME) or None
    has_shell = bool(present(view, SHELLS))
    has_manager = bool(present(view, PACKAGE_MANAGERS))
    minimal = not (has_shell or has_manager)
    if pretty == "Distroless" or (
        view.fs.get("var/lib/dpkg/status.d") is not None
        and view.fs.get("var/lib/dpkg/status") is None
        and distro_id == "debian"
    ):
        return BaseImage("distroless", version, minimal, name)
    if distro_id in _MINIMAL_IDS:
        return BaseImage(_MINIMAL_IDS[distro_id], version, minimal, name)
    if pretty.startswith("Paketo Buildpacks Tiny"):
        return BaseImage("paketo-tiny", version, minimal, name)
    if distro_id == "ubuntu" and view.fs.get("var/lib/chisel/manifest.wall") is not None:
        return BaseImage("ubuntu-chiseled", version, minimal, name)
    if distro_id:
        return BaseImage(distro_id, version, minimal, name)
    return BaseImage("scratch" if minimal else None, None, minimal, name)


def describe(base: BaseImage) -> str:
    label = base.distro or "an unidentified base"
    if base.version:
        label += f" {base.version}"
    return f"{label} ({base.name})" if base.name else label
