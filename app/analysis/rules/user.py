"""Non-root: a production container should never run as uid 0, and should say so by number."""

from __future__ import annotations

from app.analysis import captures
from app.analysis.user import is_root, name_of, uid_in_passwd
from app.analysis.view import ImageView
from app.models import Finding, Severity

ROOT_USER = "root-user"
NON_NUMERIC_USER = "non-numeric-user"
IDS = (ROOT_USER, NON_NUMERIC_USER)
inspectors = (captures,)


def judge(view: ImageView) -> list[Finding]:
    user = view.config.user
    if is_root(user):
        shown = repr(user) if user else "empty (defaults to root)"
        return [
            Finding(ROOT_USER, Severity.HIGH, "Container runs as root", f"config User is {shown}")
        ]
    name = name_of(user)
    if name.isdigit():
        return []
    uid = uid_in_passwd(name, view.captured("etc/passwd"))
    if uid == 0:
        return [
            Finding(
                ROOT_USER,
                Severity.HIGH,
                "Container runs as root",
                f"config User {user!r} is uid 0 in the image's /etc/passwd",
                path="etc/passwd",
            )
        ]
    known = f"uid {uid} in /etc/passwd" if uid is not None else "not in the image's /etc/passwd"
    return [
        Finding(
            NON_NUMERIC_USER,
            Severity.LOW,
            "User is a name Kubernetes runAsNonRoot cannot verify",
            f"config User {user!r} ({known}); use the numeric uid",
        )
    ]
