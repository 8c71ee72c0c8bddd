"""Image references, parsed exactly as go-containerregistry (and so crane) parses them.

Operators paste references from crane, skopeo and CI logs; if Tightship read ``ubuntu`` or
``localhost/app`` differently from those tools it would scan a different image than the one
they meant. The rules, from ggcr's ``pkg/name``:

- the first path component is a registry only if it contains ``.`` or ``:`` (so
  ``localhost/app`` is Docker Hub's ``localhost/app``, but ``localhost:5000/app`` is local);
- ``docker.io`` means ``index.docker.io``, and one-component Hub names get ``library/``;
- repositories use ``a-z0-9_-./`` only (upper case is an error), 2 to 255 characters;
- tags use ``[A-Za-z0-9_.-]``, 1 to 127 characters, default ``latest``;
- digests are ``sha256:`` and 64 lower-case hex digits; ``repo:tag@digest`` keeps the digest.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

DEFAULT_REGISTRY = "index.docker.io"
DEFAULT_TAG = "latest"
_REPOSITORY_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_-./")
_TAG_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.")
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_AUTHORITY = re.compile(
    r"^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*"
    r"|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$"
)
_LOCAL_NAME = re.compile(r"^(?:localhost|.*\.localhost|.*\.local)(?::\d{1,5})?$")


class ReferenceError(ValueError):
    """The reference is not one crane would accept; the message says which part and why."""


@dataclass(frozen=True, slots=True)
class Reference:
    registry: str
    repository: str
    tag: str | None = None
    digest: str | None = None

    @property
    def identifier(self) -> str:
        """What to ask the registry for: the digest when there is one, else the tag."""
        return self.digest or self.tag or DEFAULT_TAG

    @property
    def name(self) -> str:
        return f"{self.registry}/{self.repository}"

    def __str__(self) -> str:
        if self.digest:
            return f"{self.name}@{self.digest}"
        return f"{self.name}:{self.tag or DEFAULT_TAG}"

    @property
    def scheme(self) -> str:
        return "http" if plain_http_allowed(self.registry) else "https"


def plain_http_allowed(registry: str) -> bool:
    """Loopback and ``*.local``/``*.localhost`` names; anything else must be marked insecure."""
    if _LOCAL_NAME.match(registry):
        return True
    host = (
        registry.rsplit(":", 1)[0] if not registry.startswith("[") else registry[1:].split("]")[0]
    )
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_element(kind: str, value: str, chars: frozenset[str], low: int, high: int) -> None:
    if not low <= len(value) <= high:
        raise ReferenceError(
            f"{kind} must be between {low} and {high} characters in length: {value!r}"
        )
    bad = sorted(set(value) - chars)
    if bad:
        shown = "".join(bad[:5])
        if kind == "repository" and any(c.isupper() for c in bad):
            raise ReferenceError(f"repository can only contain lower case characters: {value!r}")
        raise ReferenceError(f"{kind} {value!r} contains characters not allowed: {shown!r}")


def _repository(name: str) -> tuple[str, str]:
    if not name:
        raise ReferenceError("a repository name must be specified")
    registry, repository = "", name
    first, slash, rest = name.partition("/")
    if slash and ("." in first or ":" in first):
        registry, repository = first, rest
    _check_element("repository", repository, _REPOSITORY_CHARS, 2, 255)
    if registry and not _AUTHORITY.match(registry):
        raise ReferenceError(f"registry {registry!r} is not a valid host[:port]")
    registry = registry or DEFAULT_REGISTRY
    if registry == "docker.io":
        registry = DEFAULT_REGISTRY
    if registry == DEFAULT_REGISTRY and "/" not in repository:
        repository = f"library/{repository}"
    return registry, repository


def _tagged(name: str) -> Reference:
    base, tag = name, ""
    head, colon, last = name.rpartition(":")
    if colon and "/" not in last:
        base, tag = head, last
    if tag:
        _check_element("tag", tag, _TAG_CHARS, 1, 127)
    registry, repository = _repository(base)
    return Reference(registry, repository, tag=tag or DEFAULT_TAG)


def parse_reference(text: str) -> Reference:
    """A tag or digest reference, defaults applied, or ReferenceError."""
    text = text.strip()
    if "@" not in text:
        return _tagged(text)
    parts = text.split("@")
    if len(parts) != 2:
        raise ReferenceError(f"a digest must contain exactly one '@' separator: {text!r}")
    base, digest = parts
    if not _DIGEST.match(digest):
        raise ReferenceError(f"digest must be sha256: and 64 lower-case hex digits: {digest!r}")
    try:
        tagged = _tagged(base)
    except ReferenceError:
        registry, repository = _repository(base)
        return Reference(registry, repository, digest=digest)
    explicit = tagged.tag if base.rpartition(":")[2] == tagged.tag else None
    return Reference(tagged.registry, tagged.repository, tag=explicit, digest=digest)
