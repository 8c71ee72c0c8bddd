"""Images on disk, for ``tightship scan`` offline: an OCI image layout directory, or the
tarball ``docker save`` writes (both its OCI-layout form, Docker 25+, and the older one).

Files are read in place and never extracted; every blob named by a digest is checked
against it, exactly as registry reads are.
"""

from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
import posixpath
import tarfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from app.registry import mediatypes
from app.registry.client import (
    DIGEST,
    MAX_CONFIG_BYTES,
    MAX_MANIFEST_BYTES,
    DigestMismatchError,
    Manifest,
    RegistryError,
    digest_of,
)

REF_NAME = "org.opencontainers.image.ref.name"
LEGACY_LAYER = "application/vnd.docker.image.rootfs.diff.tar"
MAX_LINKS = 8  # a member that is a link to a link …: Docker writes one at most


# `docker save | gzip` and friends: tarfile reads these transparently, and so must a member.
_COMPRESSED: tuple[tuple[bytes, type[io.BufferedIOBase]], ...] = (
    (b"\x1f\x8b", gzip.GzipFile),
    (b"BZh", bz2.BZ2File),
    (b"\xfd7zXZ\x00", lzma.LZMAFile),
)


def _stream_opener(path: Path) -> Callable[[Path], BinaryIO]:
    """How to open the archive's tar stream: the file itself, or its decompression."""
    with path.open("rb") as handle:
        magic = handle.read(6)
    for prefix, decompressed in _COMPRESSED:
        if magic.startswith(prefix):
            return lambda path: decompressed(path, "rb")  # type: ignore[call-arg,return-value]
    return lambda path: path.open("rb")


class _Member(io.RawIOBase):
    """One archive member, read through a file handle of its own.

    tarfile's members share the archive's file object and seek it before each read, so two
    layers walked at once on two threads read each other's bytes. A handle per member keeps
    each read where it belongs (for a compressed archive, a decompression of its own, which
    skips forward to the member).
    """

    def __init__(
        self, path: Path, start: int, size: int, opener: Callable[[Path], BinaryIO]
    ) -> None:
        self._file = opener(path)
        self._file.seek(start)
        self._left = size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        wanted = min(len(buffer), self._left)
        if wanted <= 0:
            return 0
        got = self._file.readinto(memoryview(buffer)[:wanted])
        self._left -= got
        return got

    def close(self) -> None:
        self._file.close()
        super().close()


class _Files:
    """Read access to named files: a directory, or the members of a tar archive."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.tar = tarfile.open(path) if path.is_file() else None  # noqa: SIM115 - kept open
            if self.tar is not None:
                # The whole listing now, so a truncated or corrupt archive is one clear error
                # here, not a decompressor's exception wherever a member is first looked up.
                self.tar.getmembers()
            self._opener = _stream_opener(path) if self.tar is not None else None
        except (tarfile.TarError, OSError, EOFError, zlib.error, lzma.LZMAError) as exc:
            raise RegistryError(
                f"{path}: not a readable tar archive ({type(exc).__name__}: {exc})"
            ) from None

    def exists(self, name: str) -> bool:
        if self.tar is None:
            return (self.path / name).is_file()
        try:
            self._regular(name)
        except (KeyError, RegistryError):
            return False
        return True

    def _regular(self, name: str) -> tarfile.TarInfo:
        """The member holding ``name``'s bytes, through hard and symbolic links (Docker 25+
        links a legacy ``<id>/layer.tar`` to its blob). Raises KeyError when it is missing."""
        assert self.tar is not None  # noqa: S101 - only called for archives
        member = self.tar.getmember(name)
        for _ in range(MAX_LINKS):
            if member.isreg() and not member.issparse():
                return member
            if member.issym():
                directory = posixpath.dirname(member.name)
                target = posixpath.normpath(posixpath.join(directory, member.linkname))
            elif member.islnk():
                target = member.linkname
            else:
                raise RegistryError(f"{self.path}: {name!r} is not a regular file")
            member = self.tar.getmember(target)
        raise RegistryError(f"{self.path}: {name!r} is a chain of over {MAX_LINKS} links")

    def open(self, name: str) -> BinaryIO:
        if self.tar is None:
            target = (self.path / name).resolve()
            if not target.is_relative_to(self.path.resolve()):
                raise RegistryError(f"{name!r} points outside {self.path}")
            return target.open("rb")
        try:
            member = self._regular(name)
            assert self._opener is not None  # noqa: S101 - set with the archive
            stream = _Member(self.path, member.offset_data, member.size, self._opener)
            return stream  # type: ignore[return-value]
        except KeyError:
            raise RegistryError(f"{self.path}: no file {name!r}") from None
        except (OSError, EOFError) as exc:  # a compressed archive ending before the member
            raise RegistryError(
                f"{self.path}: cannot read {name!r} ({type(exc).__name__})"
            ) from None

    def read(self, name: str, cap: int) -> bytes:
        with self.open(name) as handle:
            data = handle.read(cap + 1)
        if len(data) > cap:
            raise RegistryError(f"{self.path}: {name} is over the {cap}-byte limit")
        return data


class LocalSource:
    """An ``ImageSource`` over an OCI layout or a docker-save archive."""

    def __init__(self, path: str | Path, tag: str | None = None) -> None:
        self.files = _Files(Path(path))
        self.tag = tag
        self._legacy: dict[str, Manifest] = {}
        self._blob_names: dict[str, str] = {}
        if not self.files.exists("index.json"):
            if not self.files.exists("manifest.json"):
                raise RegistryError(f"{path}: neither an OCI layout nor a docker-save archive")
            self._load_legacy()

    def _blob_name(self, digest: str) -> str:
        if digest in self._blob_names:
            return self._blob_names[digest]
        if not DIGEST.match(digest):
            raise RegistryError(f"{digest!r} is not a digest")
        algorithm, hexdigest = digest.split(":", 1)
        return f"blobs/{algorithm}/{hexdigest}"

    def manifest(self, reference: str) -> Manifest:
        if reference in self._legacy:
            return self._legacy[reference]
        if DIGEST.match(reference):
            raw = self.files.read(self._blob_name(reference), MAX_MANIFEST_BYTES)
            if digest_of(raw) != reference:
                raise DigestMismatchError(f"manifest {reference}: content does not match")
            return _parse(raw, reference)
        if self._legacy:
            return next(iter(self._legacy.values()))
        raw = self.files.read("index.json", MAX_MANIFEST_BYTES)
        index = _parse(raw, digest_of(raw), default_type=mediatypes.OCI_INDEX)
        tag = reference or self.tag
        if tag:
            for entry in index.data.get("manifests") or []:
                annotations = (entry.get("annotations") if isinstance(entry, dict) else None) or {}
                named = str(annotations.get("io.containerd.image.name", ""))
                if annotations.get(REF_NAME) == tag or named.endswith(f":{tag}"):
                    return self.manifest(str(entry.get("digest")))
            raise RegistryError(f"no image tagged {tag!r} in {self.files.path}")
        entries = index.data.get("manifests") or []
        if len(entries) == 1 and isinstance(entries[0], dict):
            return self.manifest(str(entries[0].get("digest")))
        return index

    def blob(self, digest: str) -> bytes:
        raw = self.files.read(self._blob_name(digest), MAX_CONFIG_BYTES)
        if DIGEST.match(digest) and digest_of(raw) != digest:
            raise DigestMismatchError(f"blob {digest}: content does not match")
        return raw

    def open_blob(self, digest: str) -> BinaryIO:
        return self.files.open(self._blob_name(digest))

    def opener(self) -> LocalBlobOpener:
        return LocalBlobOpener(str(self.files.path), self.tag)

    def _load_legacy(self) -> None:
        """``docker save`` before Docker 25: manifest.json names a config and layer tars."""
        try:
            listing = json.loads(self.files.read("manifest.json", MAX_MANIFEST_BYTES))
            wanted = [
                i for i in listing if not self.tag or f":{self.tag}" in str(i.get("RepoTags"))
            ]
            item = wanted[0]
            config_name, layer_names = str(item["Config"]), [str(n) for n in item["Layers"]]
        except (ValueError, KeyError, TypeError, AttributeError, IndexError) as exc:
            raise RegistryError(
                f"{self.files.path}: manifest.json is not a docker-save listing"
            ) from exc
        config = self.files.read(config_name, MAX_CONFIG_BYTES)
        config_digest = digest_of(config)
        self._blob_names[config_digest] = config_name
        layers = []
        for name in layer_names:
            # Old archives name layers by an id that is not a content digest; such a layer is
            # addressed by its file name and not cached under a digest it does not have.
            pseudo = f"tar:{name}"
            self._blob_names[pseudo] = name
            layers.append({"mediaType": LEGACY_LAYER, "digest": pseudo, "size": 0})
        data = {
            "schemaVersion": 2,
            "mediaType": mediatypes.DOCKER_MANIFEST,
            "config": {
                "mediaType": mediatypes.DOCKER_CONFIG,
                "digest": config_digest,
                "size": len(config),
            },
            "layers": layers,
        }
        raw = json.dumps(data).encode()
        manifest = Manifest(mediatypes.DOCKER_MANIFEST, digest_of(raw), raw, data)
        self._legacy[manifest.digest] = manifest


_SOURCES: dict[tuple[str, str | None], LocalSource] = {}


@dataclass(frozen=True)
class LocalBlobOpener:
    """Opens this image's blobs from another process."""

    path: str
    tag: str | None

    def __call__(self, digest: str) -> BinaryIO:
        source = _SOURCES.get((self.path, self.tag))
        if source is None:
            source = _SOURCES[(self.path, self.tag)] = LocalSource(self.path, self.tag)
        return source.open_blob(digest)


def _parse(raw: bytes, digest: str, default_type: str | None = None) -> Manifest:
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise RegistryError(f"{digest}: not JSON") from exc
    if not isinstance(data, dict):
        raise RegistryError(f"{digest}: not a JSON object")
    media_type = data.get("mediaType") or default_type
    if media_type is None:
        media_type = mediatypes.OCI_INDEX if "manifests" in data else mediatypes.OCI_MANIFEST
    return Manifest(str(media_type), digest, raw, data)
