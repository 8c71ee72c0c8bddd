"""Whether an image's configured user is root.

Docker and containerd treat an empty user as root, and a group alone does not change the
uid, so ``0:1000`` and ``root:staff`` are root too (Dockle misses ``"0"``). A name other
than ``root`` is looked up in the image's own /etc/passwd.
"""

from __future__ import annotations


def name_of(user: str) -> str:
    return user.strip().split(":", 1)[0].strip()


def is_root(user: str) -> bool:
    name = name_of(user)
    return name in ("", "root") or (name.isdigit() and int(name) == 0)


def uid_in_passwd(name: str, passwd: str | None) -> int | None:
    for line in (passwd or "").splitlines():
        fields = line.split(":")
        if len(fields) >= 3 and fields[0] == name and fields[2].isdigit():
            return int(fields[2])
    return None
