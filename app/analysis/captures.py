"""Small system files the rules read as text: they hold no secrets by nature.

``/etc/passwd`` maps user names to uids, ``os-release`` names the base, and a shipped
``.git/config`` names the source repository. Credentials in a remote URL are cut out
before the text is kept (the secrets rule reports them separately).
"""

from __future__ import annotations

import re

from app.analysis.layers import Hit
from app.analysis.secrets import URL_USERINFO

RULE = "capture"
MAX_CAPTURE = 64 * 1024
EXACT = frozenset({"etc/passwd", "etc/os-release", "usr/lib/os-release", "lib/os-release"})
_REMOTE_URL = re.compile(r'(?m)^\s*(\[remote "[^"\n]*"\]|url\s*=\s*\S+)\s*$')


def wants(path: str, size: int) -> bool:
    # Any small file named passwd: /etc/passwd may be a link (to usr/lib/passwd, a Nix store
    # path …), and a single streaming pass cannot know where a later layer's link will lead.
    return size <= MAX_CAPTURE and (path in EXACT or path.endswith((".git/config", "/passwd")))


def inspect(path: str, data: bytes) -> list[Hit]:
    text = data.decode("utf-8", "replace")
    if path.endswith(".git/config"):
        # Only the remotes' section names and URLs: a git config can also hold credentials
        # (actions/checkout's http extraheader), which must never be stored.
        lines = [m.group(1) for m in _REMOTE_URL.finditer(text)]
        text = URL_USERINFO.sub(r"\1", "\n".join(lines))
    return [Hit(RULE, path, "captured", text=text)]
