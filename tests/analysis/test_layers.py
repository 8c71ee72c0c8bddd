"""The layer walk: entries, whiteouts, links, selective reads, and hostile layers bounded."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import tarfile
from functools import partial

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.analysis import layers
from app.analysis.layers import (
    DEVICE,
    DIR,
    FILE,
    HARDLINK,
    SYMLINK,
    DownloadError,
    Hit,
    LayerError,
    LayerFacts,
    WalkLimits,
    _checksum,
    _number,
    normalize,
    walk_layer,
)
from tests.support import tars


class Reads:
    """An inspector that records which files it was given, and how much of each."""

    def __init__(self, *paths: str) -> None:
        self.paths = set(paths)
        self.seen: dict[str, bytes] = {}

    def wants(self, path: str, size: int) -> bool:
        return path in self.paths

    def inspect(self, path: str, data: bytes) -> list[Hit]:
        self.seen[path] = data
        return [Hit("test", path, f"{len(data)} bytes")]


@pytest.fixture(autouse=True, params=[True, False], ids=["decompressing on a thread", "inline"])
def overlap(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> bool:
    """Every walk test runs both ways a walk decompresses (see ``_Pipeline``)."""
    monkeypatch.setitem(globals(), "walk_layer", partial(layers.walk_layer, overlap=request.param))
    return request.param


def walk(items: list[tars.Item], how: str = "gzip", inspectors=(), limits=None) -> LayerFacts:
    data, digest = tars.blob(items, how)
    return walk_layer(
        io.BytesIO(data),
        digest,
        f"application/vnd.oci.image.layer.v1.tar+{how}",
        list(inspectors),
        limits,
    )


@pytest.mark.parametrize("how", ["gzip", "zstd", "none"])
def test_entries_of_every_kind_and_compression(how: str) -> None:
    facts = walk(
        [
            tars.directory("./etc/"),
            tars.file("./etc/passwd", "root:x:0:0::/root:/bin/sh\n"),
            tars.symlink("bin/sh", "busybox"),
            tars.hardlink("bin/ash", "bin/busybox"),
            tars.device("dev/null"),
            tars.whiteout("var/cache/apt"),
            tars.opaque("opt/app"),
        ],
        how,
    )
    assert facts.error is None
    assert [(e.path, e.kind) for e in facts.entries] == [
        ("etc", DIR),
        ("etc/passwd", FILE),
        ("bin/sh", SYMLINK),
        ("bin/ash", HARDLINK),
        ("dev/null", DEVICE),
    ]
    assert facts.entries[2].link == "busybox" and facts.entries[3].link == "bin/busybox"
    assert facts.whiteouts == ["var/cache/apt"]
    assert facts.opaque == ["opt/app"]
    assert facts.expanded_bytes > 0 and facts.compressed_bytes > 0


def test_only_wanted_files_are_read_and_only_up_to_the_cap() -> None:
    reads = Reads("etc/os-release", "big")
    facts = walk(
        [
            tars.file("etc/os-release", "ID=debian\n"),
            tars.file("other", "x" * 100),
            tars.file("big", "y" * 5000),
        ],
        inspectors=[reads],
        limits=WalkLimits(max_read=1000),
    )
    assert reads.seen == {"etc/os-release": b"ID=debian\n", "big": b"y" * 1000}
    assert [h.detail for h in facts.hits] == ["10 bytes", "1000 bytes"]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("../../etc/shadow", "etc/shadow"),
        ("/abs/path", "abs/path"),
        ("a/../../b", "b"),
        ("./x/./y/", "x/y"),
        ("..", ""),
        ("a\\b", "a/b"),
    ],
)
def test_traversal_names_stay_inside_the_root(name: str, expected: str) -> None:
    assert normalize(name) == expected


class _Dropping(io.RawIOBase):
    """A blob whose connection drops after ``keep`` bytes: one error, then nothing more."""

    def __init__(self, data: bytes, keep: int) -> None:
        self.data, self.keep, self.at, self.dropped = data, keep, 0, False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        if self.at >= self.keep:
            if self.dropped:
                return 0
            self.dropped = True
            raise ConnectionResetError("connection reset by peer")
        piece = self.data[self.at : min(self.at + len(buffer), self.keep)]
        buffer[: len(piece)] = piece
        self.at += len(piece)
        return len(piece)


@pytest.mark.parametrize("keep", [0, 5_000, 60_000], ids=["at once", "early", "late"])
def test_a_dropped_download_is_a_failed_download_not_corruption(keep: int) -> None:
    data, digest = tars.blob([tars.file(f"f{i}", os.urandom(20_000)) for i in range(5)])
    with pytest.raises(DownloadError, match=r"the download broke off.*connection reset by peer"):
        walk_layer(_Dropping(data, keep), digest, "tar+gzip", [])


def test_a_tampered_blob_is_rejected() -> None:
    data, digest = tars.blob([tars.file("a", "b")])
    with pytest.raises(ValueError, match="content has digest"):
        walk_layer(io.BytesIO(data + b"\0"), digest, "tar+gzip", [])


def test_truncated_and_corrupt_streams_are_an_error_not_a_crash() -> None:
    data, _ = tars.blob([tars.file("a", "x" * 100_000)])
    for broken in (
        data[: len(data) // 2],
        data[:10] + b"\xff" * 200 + data[210:],
        b"\x1f\x8bnot gzip",
    ):
        digest = "sha256:" + hashlib.sha256(broken).hexdigest()
        facts = walk_layer(io.BytesIO(broken), digest, "tar+gzip", [])
        assert facts.error and "corrupt or truncated" in facts.error


@pytest.mark.timeout(60)  # a hang guard, not a performance assertion
def test_a_gzip_bomb_stops_at_the_ratio_limit() -> None:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        info = tarfile.TarInfo("zeros")
        info.size = 512 * 1024 * 1024
        tar.addfile(info, io.BytesIO(bytes(info.size)))
    bomb = gzip.compress(raw.getvalue(), compresslevel=9)
    digest = "sha256:" + hashlib.sha256(bomb).hexdigest()
    facts = walk_layer(
        io.BytesIO(bomb),
        digest,
        "tar+gzip",
        [],
        WalkLimits(ratio_floor=16 * 1024**2, max_ratio=100),
    )
    assert facts.error and "expansion ratio" in facts.error
    assert facts.expanded_bytes < 64 * 1024**2  # the full 512 MiB expansion is never done


def test_expanded_size_and_entry_count_are_capped() -> None:
    facts = walk([tars.file("a", "x" * 10_000)], limits=WalkLimits(max_expanded=5_000))
    assert facts.error and "expands to more than" in facts.error
    many = [tars.file(f"f{i}") for i in range(50)]
    facts = walk(many, limits=WalkLimits(max_entries=20))
    assert facts.error == "more than 20 entries" and len(facts.entries) == 20


def test_huge_metadata_headers_are_refused_before_they_are_read() -> None:
    raw = bytearray(tars.tar_bytes([tars.file("x", "1")], format=tarfile.PAX_FORMAT))
    header = tarfile.TarInfo("././@PaxHeader")
    header.type, header.size = tarfile.XHDTYPE, 10 * 1024**3  # claims 10 GiB of PAX records
    data = header.tobuf(tarfile.GNU_FORMAT) + bytes(raw)
    blob = gzip.compress(data)
    facts = walk_layer(io.BytesIO(blob), "sha256:" + hashlib.sha256(blob).hexdigest(), "gzip", [])
    assert facts.error and "metadata header of 10737418240 bytes" in facts.error


def test_long_names_and_many_entries_stream_through() -> None:
    long = "d/" * 300 + "file"  # 604 characters: a PAX path
    items = [tars.file(long, "x"), *(tars.file(f"n/{i}") for i in range(20_000))]
    facts = walk(items)
    assert facts.error is None
    assert facts.entries[0].path == long and len(facts.entries) == 20_001
    too_long = walk([tars.file("x" * 5000)], limits=WalkLimits(max_name=4096))
    assert too_long.entries == []  # skipped, and said: what it hid is unknown
    assert too_long.error == "entries with names over 4096 characters"


def _raw_header(name: str, size_field: bytes, kind: bytes = b"0") -> bytes:
    header = bytearray(512)
    header[0 : len(name)] = name.encode()
    header[100:108] = b"0000644\0"
    header[124:136] = size_field.ljust(12, b"\0")
    header[156:157] = kind
    header[257:263] = b"ustar\0"
    header[148:156] = b" " * 8
    header[148:156] = f"{sum(header):06o}\0 ".encode()
    return bytes(header)


@pytest.mark.timeout(30)  # these used to loop forever
@pytest.mark.parametrize(("size", "kind"), [(b"-1000", b"x"), (b"-1000", b"0"), (b"+1_0", b"0")])
def test_signed_or_odd_sizes_are_corruption_not_a_loop(size: bytes, kind: bytes) -> None:
    data = gzip.compress(_raw_header("a", size, kind) + bytes(1024))
    facts = walk_layer(io.BytesIO(data), "sha256:" + hashlib.sha256(data).hexdigest(), "gzip", [])
    assert facts.error and "malformed number" in facts.error


def test_every_zstd_frame_and_gzip_member_is_read() -> None:
    import zstandard

    first = tars.tar_bytes([tars.file("a", "1")]).rstrip(b"\0")  # no end-of-archive marker:
    first = first.ljust(-(-len(first) // 512) * 512, b"\0")  # the archive goes on in part two
    second = tars.tar_bytes([tars.file("app/.env", "TOKEN=ghp_" + "A1" * 18)])
    for blob in (
        zstandard.ZstdCompressor().compress(first) + zstandard.ZstdCompressor().compress(second),
        gzip.compress(first) + gzip.compress(second),
    ):
        facts = walk_layer(
            io.BytesIO(blob), "sha256:" + hashlib.sha256(blob).hexdigest(), "x", [Reads("app/.env")]
        )
        assert [e.path for e in facts.entries] == ["a", "app/.env"] and facts.error is None


def test_sha512_digests_are_verified_and_unknown_ones_refused() -> None:
    data, _ = tars.blob([tars.file("a", "b")])
    good = "sha512:" + hashlib.sha512(data).hexdigest()
    assert walk_layer(io.BytesIO(data), good, "gzip", []).error is None
    with pytest.raises(ValueError, match="content has digest"):
        walk_layer(io.BytesIO(data), "sha512:" + "0" * 128, "gzip", [])
    with pytest.raises(ValueError, match="not a digest"):
        walk_layer(io.BytesIO(data), "md5:abc", "gzip", [])


def test_a_zstd_bomb_stops_at_the_ratio_limit_with_bounded_bursts() -> None:
    import zstandard

    size = 256 * 1024**2
    bomb = zstandard.ZstdCompressor(level=19).compress(
        _raw_header("zeros", f"{size:o}".encode()) + bytes(size)
    )
    digest = "sha256:" + hashlib.sha256(bomb).hexdigest()
    facts = walk_layer(io.BytesIO(bomb), digest, "zstd", [], WalkLimits(ratio_floor=8 * 1024**2))
    assert facts.error and "expansion ratio" in facts.error
    assert facts.expanded_bytes <= 8 * 1024**2 + 4 * 1024**2  # stopped within one burst


def test_malformed_pax_sizes_are_corruption() -> None:
    for value in ("\u00b2", "9" * 5000):
        record = f" size={value}\n".encode()
        record = f"{len(record) + len(str(len(record) + 5))}".encode() + record
        data = gzip.compress(
            _raw_header("././@PaxHeader", f"{len(record):o}".encode(), b"x")
            + record.ljust(512 * ((len(record) + 511) // 512), b"\0")
            + _raw_header("a", b"0")
            + bytes(1024)
        )
        facts = walk_layer(
            io.BytesIO(data), "sha256:" + hashlib.sha256(data).hexdigest(), "gzip", []
        )
        assert facts.error and ("PAX" in facts.error or "malformed" in facts.error)


@given(st.binary(min_size=8, max_size=8).filter(lambda field: field[0] < 0x80))
def test_header_numbers_are_what_tarfile_reads_or_corruption(field: bytes) -> None:
    """Any 8-byte text field (base-256 ones start with a high bit): a number Tightship reads
    is the number tarfile reads; what it refuses is corruption (tarfile also takes signs and
    underscores, which no tar writer produces), never another exception."""
    try:
        number = _number(field)
    except LayerError:
        return
    assert number == tarfile.nti(field)


@given(
    st.integers(min_value=0, max_value=8**6 - 1),  # six digits and two bytes of ending
    st.sampled_from([b"\0", b" ", b" \0", b"\0\0"]),
    st.booleans(),
)
def test_every_octal_field_a_writer_produces_is_read(number: int, end: bytes, pad: bool) -> None:
    digits = f"{number:o}".encode()
    field = digits.rjust(8 - len(end), b" " if pad else b"0") + end
    assert _number(field) == number


@given(st.binary(min_size=512, max_size=512))
def test_header_checksums_are_the_plain_byte_sum(header: bytes) -> None:
    assert _checksum(header) == sum(header[:148]) + 8 * 32 + sum(header[156:])
