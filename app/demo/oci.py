"""Build small OCI images in memory and push them through a registry's HTTP API.

The demo and the tests use this to make real images without a container engine; the
registry verifies every digest on push, so an image this module gets wrong is refused.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from dataclasses import dataclass, field
from typing import Any

import requests

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Blob:
    media_type: str
    data: bytes

    @property
    def digest(self) -> str:
        return sha256(self.data)

    def descriptor(self, **extra: Any) -> dict[str, Any]:
        return {
            "mediaType": self.media_type,
            "digest": self.digest,
            "size": len(self.data),
            **extra,
        }


@dataclass(frozen=True)
class Layer:
    blob: Blob
    diff_id: str


def layer(files: dict[str, bytes]) -> Layer:
    """A gzipped tar layer holding ``files`` (path → content), reproducible byte for byte."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path, content in sorted(files.items()):
            info = tarfile.TarInfo(path.lstrip("/"))
            info.size, info.mode, info.mtime = len(content), 0o644, 1
            tar.addfile(info, io.BytesIO(content))
    tar_bytes = raw.getvalue()
    return Layer(
        blob=Blob(OCI_LAYER_GZIP, gzip.compress(tar_bytes, mtime=0)), diff_id=sha256(tar_bytes)
    )


@dataclass(frozen=True)
class Image:
    config: Blob
    layers: tuple[Layer, ...]
    manifest: Blob = field(init=False)

    def __post_init__(self) -> None:
        manifest = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": self.config.descriptor(),
            "layers": [layer.blob.descriptor() for layer in self.layers],
        }
        object.__setattr__(self, "manifest", Blob(OCI_MANIFEST, json.dumps(manifest).encode()))

    @property
    def digest(self) -> str:
        return self.manifest.digest


def image(
    layers: list[Layer],
    *,
    user: str = "",
    history: list[dict[str, Any]] | None = None,
    labels: dict[str, str] | None = None,
    architecture: str = "amd64",
) -> Image:
    config = {
        "architecture": architecture,
        "os": "linux",
        "created": "1970-01-01T00:00:00Z",
        "config": {
            "User": user,
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "Labels": labels or {},
        },
        "rootfs": {"type": "layers", "diff_ids": [layer.diff_id for layer in layers]},
        "history": history or [],
    }
    return Image(config=Blob(OCI_CONFIG, json.dumps(config).encode()), layers=tuple(layers))


def jib_image(
    *, user: str = "", source: str | None = None, version: str = "3.4.4", app: bytes = b"demo"
) -> Image:
    """An image shaped like jib-maven-plugin's output on an Ubuntu-based Temurin base."""
    base = layer({"etc/os-release": b'PRETTY_NAME="Ubuntu 22.04.4 LTS"\nID=ubuntu\n'})
    classes = layer({"app/classes/com/acme/Main.class": app})
    history = [
        {"created": "2024-01-01T00:00:00Z", "created_by": "/bin/sh -c #(nop) ADD file:0 in / "},
        {
            "created": "1970-01-01T00:00:00Z",
            "author": "Jib",
            "created_by": f"jib-maven-plugin:{version}",
            "comment": "classes",
        },
    ]
    labels = {"org.opencontainers.image.source": source} if source else {}
    return image([base, classes], user=user, history=history, labels=labels)


class Pusher:
    """Pushes blobs and manifests with the Distribution API (monolithic uploads)."""

    def __init__(self, registry_url: str, timeout: float = 30.0) -> None:
        self.base = registry_url.rstrip("/")
        self.session = requests.Session()
        self.timeout = timeout

    def blob(self, repository: str, blob: Blob) -> None:
        url = f"{self.base}/v2/{repository}/blobs/{blob.digest}"
        if self.session.head(url, timeout=self.timeout).status_code == 200:
            return
        start = self.session.post(
            f"{self.base}/v2/{repository}/blobs/uploads/", timeout=self.timeout
        )
        start.raise_for_status()
        location = start.headers["Location"]
        if location.startswith("/"):
            location = self.base + location
        separator = "&" if "?" in location else "?"
        done = self.session.put(
            f"{location}{separator}digest={blob.digest}",
            data=blob.data,
            headers={"Content-Type": "application/octet-stream"},
            timeout=self.timeout,
        )
        done.raise_for_status()

    def manifest(self, repository: str, reference: str, manifest: Blob) -> str:
        response = self.session.put(
            f"{self.base}/v2/{repository}/manifests/{reference}",
            data=manifest.data,
            headers={"Content-Type": manifest.media_type},
            timeout=self.timeout,
        )
        response.raise_for_status()
        return response.headers.get("Docker-Content-Digest", manifest.digest)

    def image(self, repository: str, img: Image, tag: str | None = None) -> str:
        for item in (*[layer.blob for layer in img.layers], img.config):
            self.blob(repository, item)
        return self.manifest(repository, tag or img.digest, img.manifest)

    def index(self, repository: str, images: dict[str, Image], tag: str) -> str:
        """Push each platform image by digest, then the index by tag, as buildx does."""
        entries = []
        for platform, img in images.items():
            self.image(repository, img)
            os_name, arch = platform.split("/", 1)
            entries.append(img.manifest.descriptor(platform={"os": os_name, "architecture": arch}))
        index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}
        return self.manifest(repository, tag, Blob(OCI_INDEX, json.dumps(index).encode()))
