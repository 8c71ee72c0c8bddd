"""Minimal base: no shell and no package manager in the runtime image.

Each is found by path, following links inside the image (``/bin/sh`` → busybox counts),
and named with the base the image is built on, so the fix can say what to switch to.
"""

from __future__ import annotations

from app.analysis import base, captures
from app.analysis.view import ImageView
from app.models import Finding, Severity

SHELL = "shell"
PACKAGE_MANAGER = "package-manager"
NON_MINIMAL_BASE = "non-minimal-base"
IDS = (SHELL, PACKAGE_MANAGER, NON_MINIMAL_BASE)
inspectors = (captures,)

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


def _present(view: ImageView, candidates: tuple[str, ...]) -> list[tuple[str, str]]:
    """(path, what it resolves to) for each candidate that is a real file in the image."""
    found = []
    for path in candidates:
        resolved = view.fs.resolve(path)
        if resolved is None:
            continue
        entry = view.fs.get(resolved)
        if entry is not None and entry[0] is not None and entry[0].kind == "file":
            found.append((path, resolved))
    return found


def judge(view: ImageView) -> list[Finding]:
    shells = base.present(view, base.SHELLS)
    managers = base.present(view, base.PACKAGE_MANAGERS)
    findings = []
    if shells:
        shown = ", ".join(f"/{p}" + (f" → /{r}" if r != p else "") for p, r in shells[:4])
        findings.append(
            Finding(SHELL, Severity.LOW, "Shell in the runtime image", shown, path=shells[0][0])
        )
    if managers:
        shown = ", ".join(f"/{p}" for p, _ in managers[:4])
        findings.append(
            Finding(
                PACKAGE_MANAGER,
                Severity.LOW,
                "Package manager in the runtime image",
                shown,
                path=managers[0][0],
            )
        )
    if shells or managers:
        what = base.describe(base.identify(view))
        findings.append(
            Finding(
                NON_MINIMAL_BASE,
                Severity.MEDIUM,
                "Base image is not minimal",
                f"{what} with {'a shell' if shells else ''}"
                f"{' and ' if shells and managers else ''}"
                f"{'a package manager' if managers else ''}",
            )
        )
    return findings
