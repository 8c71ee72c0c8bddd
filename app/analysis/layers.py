"""The layer walk: one streaming pass over a layer blob, reading only what rules asked for.

A layer is untrusted data. It is never written to disk or held whole in memory: the blob is
hashed while it streams (and rejected if the digest does not match), decompressed on the
fly (python-isal for gzip when installed, zstandard for zstd), and read as a tar stream.
Each entry is recorded by path and type; file *contents* are read only when an inspector
wants that path, and only up to a cap. Everything hostile is bounded: path traversal names
are clamped to the image root, names and metadata headers are size-capped, and entry
count, expanded bytes and the expansion ratio have limits. Breaking a limit or a corrupt
stream ends the walk with ``error`` set, which the rules report as ``unreadable-layer``.
"""

from __future__ import annotations

import hashlib
import io
import posixpath
import tarfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import BinaryIO, Protocol

try:  # python-isal decompresses gzip two to three times faster than zlib
    from isal import igzip as _gzip
    from isal.igzip_lib import IsalError

    _GZIP_ERRORS: tuple[type[Exception], ...] = (IsalError, zlib.error)
except ImportError:  # pragma: no cover - isal is a dependency; this keeps a plain install working
    import gzip as _gzip  # type: ignore[no-redef]

    _GZIP_ERRORS = (zlib.error,)

import zstandard

FILE, DIR, SYMLINK, HARDLINK, DEVICE, FIFO = "file", "dir", "symlink", "hardlink", "device", "fifo"
WHITEOUT_PREFIX = ".wh."
OPAQUE = ".wh..wh..opq"
_GZIP_MAGIC = b"\x1f\x8b"
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
MAX_HEADER = 1024 * 1024  # PAX / GNU long-name metadata per entry


@dataclass(frozen=True, slots=True)
class WalkLimits:
    max_entries: int = 1_000_000
    max_expanded: int = 16 * 1024**3  # bytes of tar one layer may expand to
    max_ratio: int = 200  # expanded / compressed, enforced once ratio_floor bytes are out
    ratio_floor: int = 128 * 1024**2
    max_name: int = 4096  # a path longer than PATH_MAX is skipped
    max_read: int = 1024 * 1024  # content read for an inspector, per file


@dataclass(frozen=True, slots=True)
class Entry:
    path: str  # relative to the image root, normalized, never escaping it
    kind: str
    size: int = 0
    mode: int = 0
    uid: int = 0
    link: str | None = None  # symlink target as written; hardlink target as a normalized path


@dataclass(frozen=True, slots=True)
class Hit:
    """What an inspector saw in a file. ``detail`` is redacted; ``text`` is kept only for files
    that hold no secrets by nature (passwd, os-release, a git config's remote)."""

    rule: str
    path: str
    detail: str
    text: str | None = None


class Inspector(Protocol):
    def wants(self, path: str, size: int) -> bool: ...

    def inspect(self, path: str, data: bytes) -> list[Hit]: ...


@dataclass(slots=True)
class LayerFacts:
    digest: str
    entries: list[Entry] = field(default_factory=list)
    whiteouts: list[str] = field(default_factory=list)  # lower-layer paths this layer deletes
    opaque: list[str] = field(default_factory=list)  # directories whose lower content it hides
    hits: list[Hit] = field(default_factory=list)
    error: str | None = None
    compressed_bytes: int = 0
    expanded_bytes: int = 0


class LayerError(Exception):
    """The layer broke a limit or is corrupt; the walk stops with this as its reason."""


class _Hashing(io.RawIOBase):
    """Counts and hashes the compressed bytes as they stream past."""

    def __init__(self, raw: BinaryIO) -> None:
        self.raw = raw
        self.sha256 = hashlib.sha256()
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        data = self.raw.read(len(buffer))
        if not data:
            return 0
        self.sha256.update(data)
        self.count += len(data)
        buffer[: len(data)] = data
        return len(data)

    def drain(self) -> None:
        while self.read(1024 * 1024):
            pass


class _Bounded(io.RawIOBase):
    """Counts the expanded bytes and stops a decompression bomb."""

    def __init__(self, inner: BinaryIO, source: _Hashing, limits: WalkLimits) -> None:
        self.inner = inner
        self.source = source
        self.limits = limits
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        data = self.inner.read(len(buffer))
        if not data:
            return 0
        self.count += len(data)
        if self.count > self.limits.max_expanded:
            raise LayerError(f"expands to more than {self.limits.max_expanded} bytes")
        if self.count > self.limits.ratio_floor and self.count > self.limits.max_ratio * max(
            self.source.count, 1
        ):
            raise LayerError(
                f"expansion ratio over {self.limits.max_ratio}:1 (a compression bomb?)"
            )
        buffer[: len(data)] = data
        return len(data)


def _decompressed(source: _Hashing, media_type: str) -> BinaryIO:
    buffered = io.BufferedReader(source, 1024 * 1024)
    magic = buffered.peek(4)[:4]
    if magic.startswith(_GZIP_MAGIC) or (media_type.endswith("gzip") and not magic):
        return _gzip.GzipFile(fileobj=buffered, mode="rb")  # type: ignore[return-value]
    if magic.startswith(_ZSTD_MAGIC):
        return zstandard.ZstdDecompressor().stream_reader(buffered, read_size=1024 * 1024)  # type: ignore[return-value]
    return buffered  # an uncompressed tar


def normalize(name: str) -> str:
    """The path inside the image root; ``..`` cannot climb out of it."""
    path = posixpath.normpath("/" + name.replace("\\", "/")).lstrip("/")
    return "" if path == "." else path


class _BoundedTarInfo(tarfile.TarInfo):
    """tarfile reads PAX and GNU long-name headers whole; cap them before it does."""

    def _proc_pax(self, tar: tarfile.TarFile) -> tarfile.TarInfo:
        if self.size > MAX_HEADER:
            raise LayerError(f"a PAX header of {self.size} bytes is over the limit")
        return super()._proc_pax(tar)  # type: ignore[misc]

    def _proc_gnulong(self, tar: tarfile.TarFile) -> tarfile.TarInfo:
        if self.size > MAX_HEADER:
            raise LayerError(f"a long-name header of {self.size} bytes is over the limit")
        return super()._proc_gnulong(tar)  # type: ignore[misc]


def _kind(member: tarfile.TarInfo) -> str:
    if member.isreg():
        return FILE
    if member.isdir():
        return DIR
    if member.issym():
        return SYMLINK
    if member.islnk():
        return HARDLINK
    if member.isdev():
        return FIFO if member.isfifo() else DEVICE
    return FILE  # unknown types are treated as opaque files


def walk_layer(
    raw: BinaryIO,
    digest: str,
    media_type: str,
    inspectors: Sequence[Inspector],
    limits: WalkLimits | None = None,
) -> LayerFacts:
    """Walk one layer blob. Raises DigestMismatch-style ValueError if the bytes are not the
    blob the digest names; any other problem is returned as ``LayerFacts.error``."""
    limits = limits or WalkLimits()
    facts = LayerFacts(digest=digest)
    source = _Hashing(raw)
    try:
        bounded = _Bounded(_decompressed(source, media_type), source, limits)
        stream = io.BufferedReader(bounded, 1024 * 1024)
        with tarfile.open(
            fileobj=stream, mode="r|", tarinfo=_BoundedTarInfo, bufsize=1024 * 1024
        ) as tar:
            _read_entries(tar, facts, inspectors, limits)
        facts.expanded_bytes = bounded.count
    except LayerError as exc:
        facts.error = str(exc)
    except (
        tarfile.TarError,
        EOFError,
        OSError,
        zstandard.ZstdError,
        ValueError,
        *_GZIP_ERRORS,
    ) as exc:
        facts.error = f"corrupt or truncated layer: {type(exc).__name__}: {str(exc)[:200]}"
    # The digest covers the whole blob: read what the tar reader left (padding, or the rest of
    # a layer abandoned at a limit) so a tampered blob is always caught.
    try:
        source.drain()
    except OSError as exc:
        facts.error = facts.error or f"layer download failed: {type(exc).__name__}"
    facts.compressed_bytes = source.count
    actual = "sha256:" + source.sha256.hexdigest()
    if digest.startswith("sha256:") and actual != digest:
        raise ValueError(f"layer {digest}: content has digest {actual}")
    return facts


def _read_entries(
    tar: tarfile.TarFile, facts: LayerFacts, inspectors: Sequence[Inspector], limits: WalkLimits
) -> None:
    count = 0
    while (member := tar.next()) is not None:
        tar.members.clear()  # stream mode keeps every member otherwise; millions would not fit
        count += 1
        if count > limits.max_entries:
            raise LayerError(f"more than {limits.max_entries} entries")
        if len(member.name) > limits.max_name:
            continue
        path = normalize(member.name)
        if not path:
            continue
        directory, base = posixpath.split(path)
        if base == OPAQUE:
            facts.opaque.append(directory)
            continue
        if base.startswith(WHITEOUT_PREFIX):
            facts.whiteouts.append(posixpath.join(directory, base[len(WHITEOUT_PREFIX) :]))
            continue
        kind = _kind(member)
        link = None
        if kind == SYMLINK:
            link = member.linkname[: limits.max_name]
        elif kind == HARDLINK:
            link = normalize(member.linkname[: limits.max_name])
        entry = Entry(path, kind, member.size if kind == FILE else 0, member.mode, member.uid, link)
        facts.entries.append(entry)
        if kind != FILE:
            continue
        wanting = [i for i in inspectors if i.wants(path, member.size)]
        if wanting:
            handle = tar.extractfile(member)
            data = handle.read(min(member.size, limits.max_read)) if handle else b""
            for inspector in wanting:
                facts.hits.extend(inspector.inspect(path, data))
