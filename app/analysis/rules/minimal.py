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
