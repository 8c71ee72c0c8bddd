"""Images on disk: a ``docker save`` archive read by several layer walks at once."""

from __future__ import annotations

import bz2
import gzip
import hashlib
import io
import os
import tarfile
import threading
from pathlib import Path

import pytest

from app.demo import oci
from app.registry.client import RegistryError
from app.registry.local import LocalSource
from tests.support.layout import docker_archive


def big_image(layers: int = 4, size: int = 2 * 1024 * 1024) -> oci.Image:
    return oci.image([oci.layer({f"app/{n}.bin": os.urandom(size)}) for n in range(layers)])


COMPRESSIONS = {"none": lambda data: data, "gzip": gzip.compress, "bzip2": bz2.compress}


@pytest.mark.parametrize("compression", sorted(COMPRESSIONS))
def test_concurrent_reads_of_an_archive_each_get_their_own_layer(
    tmp_path: Path, compression: str
) -> None:
    """The analyzer walks two layers at once on threads; both come from the one archive file,
    so a shared file offset would hand each walk the other's bytes. `docker save | gzip`
    archives are read as they are."""
    img = big_image()
    path = docker_archive(tmp_path / "image.tar", img)
    path.write_bytes(COMPRESSIONS[compression](path.read_bytes()))
    source = LocalSource(path)
    manifest = source.manifest("")
    names = [str(layer["digest"]) for layer in manifest.data["layers"]]
    expected = {
        name: hashlib.sha256(gzip.decompress(layer.blob.data)).hexdigest()
        for name, layer in zip(names, img.layers, strict=True)
    }
    results: dict[str, str] = {}
    start = threading.Barrier(len(names))

    def read(name: str) -> None:
        digest = hashlib.sha256()
        with source.open_blob(name) as stream:
            start.wait()
            while chunk := stream.read(4096):  # small reads: many chances to interleave
                digest.update(chunk)
        results[name] = digest.hexdigest()

    threads = [threading.Thread(target=read, args=(name,)) for name in names]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert results == expected


def archive(path: Path, members: list[tarfile.TarInfo], data: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w") as tar:
        for info in members:
            content = data.get(info.name)
            if content is not None:
                info.size = len(content)
            tar.addfile(info, io.BytesIO(content) if content is not None else None)
    return path


def member(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, link
    return info


def listing(*layers: str) -> bytes:
    return (
        b'[{"Config": "config.json", "RepoTags": ["acme/app:1"], "Layers": ['
        + b", ".join(f'"{name}"'.encode() for name in layers)
        + b"]}]"
    )


def test_layers_linked_to_their_blob_are_read_through_the_links(tmp_path: Path) -> None:
    """Docker 25+ writes each legacy ``<id>/layer.tar`` as a symbolic link to its blob."""
    layer = oci.layer({"app/a.txt": b"linked"})
    blob = f"blobs/sha256/{layer.diff_id.split(':')[1]}"
    tar = gzip.decompress(layer.blob.data)
    path = archive(
        tmp_path / "image.tar",
        [
            member("config.json"),
            member(blob),
            member("one/layer.tar", tarfile.SYMTYPE, f"../{blob}"),
            member("two/layer.tar", tarfile.LNKTYPE, blob),
            member("manifest.json"),
        ],
        {
            "config.json": oci.image([layer]).config.data,
            blob: tar,
            "manifest.json": listing("one/layer.tar", "two/layer.tar"),
        },
    )
    source = LocalSource(path)
    for descriptor in source.manifest("").data["layers"]:
        with source.open_blob(str(descriptor["digest"])) as stream:
            assert stream.read() == tar


@pytest.mark.parametrize(
    ("layer", "members", "message"),
    [
        ("gone/layer.tar", [], "no file 'gone/layer.tar'"),
        ("dir/layer.tar", [member("dir/layer.tar", tarfile.DIRTYPE)], "not a regular file"),
        ("dev/layer.tar", [member("dev/layer.tar", tarfile.CHRTYPE)], "not a regular file"),
        (
            "a/layer.tar",
            [
                member("a/layer.tar", tarfile.SYMTYPE, "../b/layer.tar"),
                member("b/layer.tar", tarfile.SYMTYPE, "../a/layer.tar"),
            ],
            "chain of over 8 links",
        ),
        (
            "out/layer.tar",
            [member("out/layer.tar", tarfile.SYMTYPE, "../../../etc/passwd")],
            "no file",
        ),
    ],
)
def test_a_layer_that_is_not_a_file_in_the_archive_is_a_clear_error(
    tmp_path: Path, layer: str, members: list[tarfile.TarInfo], message: str
) -> None:
    path = archive(
        tmp_path / "image.tar",
        [member("config.json"), *members, member("manifest.json")],
        {"config.json": b"{}", "manifest.json": listing(layer)},
    )
    source = LocalSource(path)
    [descriptor] = source.manifest("").data["layers"]
    with pytest.raises(RegistryError, match=message):
        source.open_blob(str(descriptor["digest"]))


def test_a_member_cut_short_by_a_truncated_archive_ends_early(tmp_path: Path) -> None:
    """The read ends where the file does; the digest check then refuses the layer."""
    img = big_image(layers=1, size=256 * 1024)
    path = docker_archive(tmp_path / "image.tar", img)
    source = LocalSource(path)
    [descriptor] = source.manifest("").data["layers"]
    with path.open("r+b") as handle:
        handle.truncate(path.stat().st_size // 2)
    with source.open_blob(str(descriptor["digest"])) as stream:
        data = stream.read()
    assert 0 < len(data) < len(gzip.decompress(img.layers[0].blob.data))


@pytest.mark.parametrize("compression", sorted(COMPRESSIONS))
def test_a_truncated_archive_is_a_clear_error(tmp_path: Path, compression: str) -> None:
    path = docker_archive(tmp_path / "image.tar", big_image(layers=2, size=256 * 1024))
    data = COMPRESSIONS[compression](path.read_bytes())
    path.write_bytes(data[: len(data) * 3 // 4])
    with pytest.raises(RegistryError, match="not a readable tar archive"):
        LocalSource(path)
