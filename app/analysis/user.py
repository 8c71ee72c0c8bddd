"""Whether an image's configured user is root.

Docker and containerd treat an empty user as root, and a group alone does not change the
uid, so ``0:1000`` and ``root:staff`` are root too. (Dockle misses ``"0"``.) Names other
than ``root`` need the image's /etc/passwd to decide, which the layer walk adds later.
"""

from __future__ import annotations


def is_root(user: str) -> bool:
    name = user.strip().split(":", 1)[0].strip()
    return name in ("", "root") or (name.isdigit() and int(name) == 0)
