"""Write images to disk as an OCI image layout or a (legacy) docker-save archive."""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from pathlib import Path

from app.demo import oci


def _blobs(img: oci.Image) -> list[oci.Blob]:
    return [img.manifest, img.config, *(layer.blob for layer in img.layers)]


def oci_layout(path: Path, img: oci.Image, tag: str = "latest") -> Path:
    (path / "blobs" / "sha256").mkdir(parents=True)
    for blob in _blobs(img):
        (path / "blobs" / "sha256" / blob.digest.split(":")[1]).write_bytes(blob.data)
    (path / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    index = {
        "schemaVersion": 2,
        "mediaType": oci.OCI_INDEX,
        "manifests": [
            img.manifest.descriptor(annotations={"org.opencontainers.image.ref.name": tag})
        ],
    }
    (path / "index.json").write_text(json.dumps(index))
    return path


def docker_archive(path: Path, img: oci.Image, tag: str = "acme/app:1") -> Path:
    """The pre-Docker-25 `docker save` format: manifest.json, <id>.json, <id>/layer.tar."""
    members: dict[str, bytes] = {}
    config_name = img.config.digest.split(":")[1] + ".json"
    members[config_name] = img.config.data
    layer_names = []
    for number, layer in enumerate(img.layers):
        name = f"{number:064x}/layer.tar"
        members[name] = gzip.decompress(layer.blob.data)
        layer_names.append(name)
    members["manifest.json"] = json.dumps(
        [{"Config": config_name, "RepoTags": [tag], "Layers": layer_names}]
    ).encode()
    with tarfile.open(path, "w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path
