"""Build tar layers with any entry a real (or hostile) layer can hold."""

from __future__ import annotations

import gzip
import hashlib
import io
import tarfile
from dataclasses import dataclass

import zstandard


@dataclass(frozen=True)
class Item:
    name: str
    data: bytes = b""
    kind: bytes = tarfile.REGTYPE
    link: str = ""
    mode: int = 0o644
    uid: int = 0


def file(name: str, data: bytes | str = b"", mode: int = 0o644) -> Item:
    return Item(name, data.encode() if isinstance(data, str) else data, mode=mode)


def directory(name: str) -> Item:
    return Item(name, kind=tarfile.DIRTYPE, mode=0o755)


def symlink(name: str, target: str) -> Item:
    return Item(name, kind=tarfile.SYMTYPE, link=target, mode=0o777)


def hardlink(name: str, target: str) -> Item:
    return Item(name, kind=tarfile.LNKTYPE, link=target)


def device(name: str) -> Item:
    return Item(name, kind=tarfile.CHRTYPE)


def whiteout(path: str) -> Item:
    head, _, base = path.rpartition("/")
    return file(f"{head}/.wh.{base}" if head else f".wh.{base}")


def opaque(directory_path: str) -> Item:
    return file(f"{directory_path}/.wh..wh..opq")


def tar_bytes(items: list[Item], format: int = tarfile.PAX_FORMAT) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=format) as tar:
        for item in items:
            info = tarfile.TarInfo(item.name)
            info.type, info.mode, info.uid, info.linkname = (
                item.kind,
                item.mode,
                item.uid,
                item.link,
            )
            info.size = len(item.data) if item.kind == tarfile.REGTYPE else 0
            info.mtime = 1
            tar.addfile(info, io.BytesIO(item.data) if info.size else None)
    return out.getvalue()


def compress(raw: bytes, how: str = "gzip") -> bytes:
    if how == "gzip":
        return gzip.compress(raw, compresslevel=1, mtime=0)
    if how == "zstd":
        return zstandard.ZstdCompressor().compress(raw)
    return raw


def blob(items: list[Item], how: str = "gzip") -> tuple[bytes, str]:
    data = compress(tar_bytes(items), how)
    return data, "sha256:" + hashlib.sha256(data).hexdigest()


def oci_layer(items: list[Item], how: str = "gzip"):
    """An ``app.demo.oci.Layer`` holding these entries, ready to push to a registry."""
    from app.demo import oci

    raw = tar_bytes(items)
    media = {
        "gzip": oci.OCI_LAYER_GZIP,
        "zstd": "application/vnd.oci.image.layer.v1.tar+zstd",
        "none": "application/vnd.oci.image.layer.v1.tar",
    }[how]
    return oci.Layer(blob=oci.Blob(media, compress(raw, how)), diff_id=oci.sha256(raw))
