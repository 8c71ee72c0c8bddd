"""No secrets: in files (by content), in ENV, in build history, or in a layer "deleted" later.

Never an automatic fix: the finding says what kind of secret, where, and a short
fingerprint, so the owner can find and rotate it. The value never leaves the image.
"""

from __future__ import annotations

import posixpath

from app.analysis import secrets
from app.analysis.layers import Hit
from app.analysis.view import ImageView
from app.models import Finding, Severity

SECRET_FILE = "secret-file"  # noqa: S105 - rule ids, not passwords
SECRET_ENV = "secret-env"  # noqa: S105
SECRET_IN_HISTORY = "secret-in-history"  # noqa: S105
SECRET_IN_DELETED_LAYER = "secret-in-deleted-layer"  # noqa: S105
IDS = (SECRET_FILE, SECRET_ENV, SECRET_IN_HISTORY, SECRET_IN_DELETED_LAYER)
RULE = "secret"

# Binary and bulky formats: tokens would be compressed or encoded inside them. Certificate
# files are read: a .crt or a PEM under /etc/ssl/certs often carries its private key too
# (HAProxy and nginx take them combined), and certificates alone are never reported.
_SKIP_EXTENSIONS = frozenset(
    {
        ".jar",
        ".war",
        ".ear",
        ".zip",
        ".gz",
        ".tgz",
        ".xz",
        ".bz2",
        ".zst",
        ".7z",
        ".so",
        ".a",
        ".o",
        ".class",
        ".pyc",
        ".png",
        ".jpg",
        ".jpeg",
        ".gif",
        ".ico",
        ".webp",
        ".svg",
        ".woff",
        ".woff2",
        ".ttf",
        ".otf",
        ".pdf",
        ".mo",
        ".db",
        ".sqlite",
        ".wasm",
        ".node",
        ".dll",
        ".exe",
        ".bin",
        ".map",
    }
)
# Trees of package metadata and signed public material, where "keys" are public by design.
_SKIP_PREFIXES = (
    "usr/share/doc/",
    "usr/share/man/",
    "usr/share/locale/",
    "usr/share/zoneinfo/",
    "usr/share/ca-certificates/",
    "usr/lib/jvm/",
    "opt/java/openjdk/legal/",
    "usr/share/keyrings/",
    "etc/apt/trusted.gpg.d/",
    "proc/",
    "sys/",
)


class _Inspector:
    text_only = True

    def wants(self, path: str, size: int) -> bool:
        if not 16 <= size <= secrets.MAX_SCAN_BYTES or path.startswith(_SKIP_PREFIXES):
            return False
        return posixpath.splitext(path)[1].lower() not in _SKIP_EXTENSIONS

    def inspect(self, path: str, data: bytes) -> list[Hit]:
        return [Hit(RULE, path, str(secret)) for secret in secrets.in_file(path, data)]


inspectors = (_Inspector(),)


def judge(view: ImageView) -> list[Finding]:
    findings = []
    # (where the file is now, what it holds): a layer writing it again unchanged (a chown
    # layer) leaves one secret, reported where it is, not also as "deleted" below it
    hits = [(layer, hit, view.located(hit.path)) for layer, hit in view.hits(RULE)]
    now = {(layer, hit.path): view.current(layer, hit.path) for layer, hit, _ in hits}
    present = {(where, hit.detail) for layer, hit, where in hits if now[layer, hit.path]}
    for layer, hit, where in hits:
        if now[layer, hit.path]:
            rule, title = SECRET_FILE, "Secret in a file"
        elif (where, hit.detail) in present:
            continue
        else:
            rule = SECRET_IN_DELETED_LAYER
            title = "Secret in a layer, deleted or replaced later but still extractable"
        findings.append(
            Finding(
                rule,
                Severity.CRITICAL,
                title,
                hit.detail,
                path=hit.path,
                layer=view.layer_digests[layer],
            )
        )
    for name, secret in view.config.env_secrets:
        findings.append(
            Finding(
                SECRET_ENV, Severity.CRITICAL, "Secret in an ENV variable", f"ENV {name}: {secret}"
            )
        )
    for index, secret in view.config.history_secrets:
        step = view.config.history[index].created_by
        findings.append(
            Finding(
                SECRET_IN_HISTORY,
                Severity.HIGH,
                "Secret in the build history",
                f"history step {index}: {secret}; {step[:120]}",
            )
        )
    return findings
