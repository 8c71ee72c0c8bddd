"""The analyzer against the real registry: platforms, attestations, whiteouts, the cache."""

from __future__ import annotations

import gc
import json
import multiprocessing
import os
import threading
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest

from app.analysis import AnalysisError, Analyzer, Ignore
from app.analysis.analyze import _Layers, _start_method
from app.analysis.layers import WalkLimits
from app.demo import oci
from app.demo.registry import LocalRegistry
from app.registry import RegistryClient, RegistryError, RepositorySource
from app.registry.client import _CLIENTS, RegistryBlobOpener
from app.store.cache import StoreFactsCache
from app.store.db import Database
from tests.support import tars
from tests.support.gate import BlobGate

PEM = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n-----END OPENSSH PRIVATE KEY-----\n"
UBUNTU = [
    tars.file(
        "etc/os-release", 'PRETTY_NAME="Ubuntu 22.04.4 LTS"\nID=ubuntu\nVERSION_ID="22.04"\n'
    ),
    tars.file("bin/bash", "\x7fELF" + "x" * 2000),
    tars.symlink("bin/sh", "bash"),
    tars.file("usr/bin/apt", "\x7fELF"),
    tars.file("etc/passwd", "root:x:0:0::/root:/bin/bash\n"),
]


def analyzer(registry: LocalRegistry, repository: str, cache=None) -> Analyzer:
    return Analyzer(RepositorySource(RegistryClient(registry.url), repository), cache=cache)


def push_index(
    registry: LocalRegistry, repository: str, extra_entries: list[dict]
) -> tuple[str, oci.Image, oci.Image]:
    pusher = oci.Pusher(registry.url)
    amd64 = oci.image([tars.oci_layer(UBUNTU)], user="1000")
    arm64 = oci.image(
        [tars.oci_layer([*UBUNTU, tars.file("arm", "1")])], user="0", architecture="arm64"
    )
    for img in (amd64, arm64):
        pusher.image(repository, img)
    entries = [
        amd64.manifest.descriptor(platform={"os": "linux", "architecture": "amd64"}),
        arm64.manifest.descriptor(
            platform={"os": "linux", "architecture": "arm64", "variant": "v8"}
        ),
        *extra_entries,
    ]
    index = oci.Blob(
        oci.OCI_INDEX,
        json.dumps({"schemaVersion": 2, "mediaType": oci.OCI_INDEX, "manifests": entries}).encode(),
    )
    return pusher.manifest(repository, "multi", index), amd64, arm64


def test_every_platform_of_an_index_and_no_attestation(registry: LocalRegistry) -> None:
    pusher = oci.Pusher(registry.url)
    attestation = oci.image([tars.oci_layer([tars.file("provenance.json", "{}")])])
    pusher.image("acme/multi", attestation)
    unknown = attestation.manifest.descriptor(
        platform={"os": "unknown", "architecture": "unknown"},
        annotations={"vnd.docker.reference.type": "attestation-manifest"},
    )
    digest, amd64, arm64 = push_index(registry, "acme/multi", [unknown])
    top, targets = analyzer(registry, "acme/multi").targets("multi")
    assert top.digest == digest
    assert [(t.platform, t.manifest.digest) for t in targets] == [
        ("linux/amd64", amd64.digest),
        ("linux/arm64/v8", arm64.digest),
    ]
    _, only = analyzer(registry, "acme/multi").targets("multi", platform="linux/arm64")
    assert [t.platform for t in only] == ["linux/arm64/v8"]
    with pytest.raises(AnalysisError, match="no image for windows/amd64"):
        analyzer(registry, "acme/multi").targets("multi", platform="windows/amd64")
    report = analyzer(registry, "acme/multi").report("acme/multi:multi", top, targets)
    rules = {p.platform: sorted({f.rule for f in p.findings}) for p in report.platforms}
    assert rules == {
        "linux/amd64": ["non-minimal-base", "package-manager", "shell"],
        "linux/arm64/v8": ["non-minimal-base", "package-manager", "root-user", "shell"],
    }
    assert (
        report.platforms[0].base.distro == "ubuntu" and report.platforms[0].base.version == "22.04"
    )


def test_an_index_entry_without_a_platform_takes_it_from_the_image_config(
    registry: LocalRegistry,
) -> None:
    """The platform field of an index entry is optional; only an artifact is skipped."""
    pusher = oci.Pusher(registry.url)
    plain = oci.image([tars.oci_layer([*UBUNTU, tars.file("armv7", "1")])], architecture="arm")
    config = {**json.loads(plain.config.data), "variant": "v7"}
    armv7 = oci.Image(
        config=oci.Blob(oci.OCI_CONFIG, json.dumps(config).encode()), layers=plain.layers
    )
    chart = oci.Image(config=oci.Blob("application/vnd.cncf.helm.config.v1+json", b"{}"), layers=())
    for img in (armv7, chart):
        pusher.image("acme/noplatform", img)
    extra = [armv7.manifest.descriptor(), chart.manifest.descriptor()]
    _, amd64, arm64 = push_index(registry, "acme/noplatform", extra)
    top, targets = analyzer(registry, "acme/noplatform").targets("multi")
    assert [(t.platform, t.manifest.digest) for t in targets] == [
        ("linux/amd64", amd64.digest),
        ("linux/arm64/v8", arm64.digest),
        ("linux/arm/v7", armv7.digest),
    ]
    _, only = analyzer(registry, "acme/noplatform").targets("multi", platform="linux/arm")
    assert [t.platform for t in only] == ["linux/arm/v7"]
    report = analyzer(registry, "acme/noplatform").report("x", top, targets)
    assert report.platforms[2].platform == "linux/arm/v7"


def test_signatures_and_artifacts_are_not_images(registry: LocalRegistry) -> None:
    with pytest.raises(AnalysisError, match="cosign signature"):
        analyzer(registry, "acme/x").targets("sha256-" + "a" * 64 + ".sig")
    chart = oci.Image(config=oci.Blob("application/vnd.cncf.helm.config.v1+json", b"{}"), layers=())
    oci.Pusher(registry.url).image("acme/chart", chart, tag="1")
    with pytest.raises(AnalysisError, match="is an artifact"):
        analyzer(registry, "acme/chart").targets("1")


def test_whiteouts_across_pushed_layers(registry: LocalRegistry) -> None:
    layers = [
        tars.oci_layer(
            [*UBUNTU, tars.file("root/.ssh/id_ed25519", PEM), tars.file("app/.git/HEAD", "x")]
        ),
        tars.oci_layer(
            [tars.whiteout("root/.ssh/id_ed25519"), tars.opaque("app"), tars.file("app/run", "x")],
            "zstd",
        ),
        tars.oci_layer(
            [tars.whiteout("bin/bash"), tars.whiteout("bin/sh"), tars.whiteout("usr/bin/apt")],
            "none",
        ),
    ]
    img = oci.image(layers, user="65532")
    oci.Pusher(registry.url).image("acme/wh", img, tag="1")
    source = analyzer(registry, "acme/wh")
    top, targets = source.targets("1")
    [platform] = source.report("acme/wh:1", top, targets).platforms
    assert [(f.rule, f.path) for f in platform.findings] == [
        ("secret-in-deleted-layer", "root/.ssh/id_ed25519")
    ]
    assert platform.findings[0].layer == layers[0].blob.digest
    assert platform.base.minimal is True


def test_the_cache_makes_a_known_digest_free_and_shares_base_layers(
    registry: LocalRegistry, tmp_path: Path
) -> None:
    db = Database(f"sqlite:///{tmp_path / 'cache.db'}")
    db.migrate()
    base = tars.oci_layer(UBUNTU + [tars.file(f"usr/lib/x/{i}", "y" * 100) for i in range(200)])
    first = oci.image([base, tars.oci_layer([tars.file("app/a", "1")])])
    second = oci.image([base, tars.oci_layer([tars.file("app/b", "2")])])
    pusher = oci.Pusher(registry.url)
    pusher.image("acme/cached", first, tag="1")
    pusher.image("acme/cached", second, tag="2")

    def scan(tag: str) -> Analyzer:
        run = analyzer(registry, "acme/cached", StoreFactsCache(db))
        top, targets = run.targets(tag)
        run.report(tag, top, targets)
        return run

    cold = scan("1")
    assert cold.stats.layers_walked == 2 and cold.stats.blob_bytes > len(base.blob.data)
    warm = scan("1")
    assert (warm.stats.blob_bytes, warm.stats.layers_walked, warm.stats.layers_cached) == (0, 0, 2)
    shared = scan("2")
    assert shared.stats.layers_walked == 1
    assert shared.stats.blob_bytes == len(second.layers[1].blob.data) + len(second.config.data)
    db.dispose()


def test_ignores_by_rule_and_path(registry: LocalRegistry) -> None:
    img = oci.image([tars.oci_layer([*UBUNTU, tars.file("app/test/id_rsa", PEM)])])
    oci.Pusher(registry.url).image("acme/ign", img, tag="1")
    run = analyzer(registry, "acme/ign")
    run.ignores = (Ignore.parse("shell"), Ignore.parse("secret-file:app/test/*"))
    top, targets = run.targets("1")
    rules = {f.rule for f in run.report("x", top, targets).findings}
    assert "shell" not in rules and "secret-file" not in rules and "package-manager" in rules
    with pytest.raises(ValueError, match="unknown rule 'nope'"):
        Ignore.parse("nope")


@pytest.mark.parametrize("method", ["fork", "forkserver"])
def test_worker_processes_find_what_this_process_finds(
    registry: LocalRegistry, method: str
) -> None:
    layers = [
        tars.oci_layer([*UBUNTU, tars.file("app/id", PEM)]),
        tars.oci_layer(
            [tars.file("app/.git/config", '[remote "origin"]\n\turl = https://github.com/acme/x\n')]
        ),
        tars.oci_layer([tars.whiteout("app/id")]),
    ]
    oci.Pusher(registry.url).image("acme/procs", oci.image(layers), tag="1")
    reports = []
    frozen = gc.get_freeze_count()
    for processes in (1, 2):
        run = analyzer(registry, "acme/procs")
        run.processes, run.process_threshold, run.start_method = processes, 0, method
        top, targets = run.targets("1")
        reports.append(run.report("x", top, targets))
        assert run.stats.layers_walked == 3
        assert gc.get_freeze_count() == frozen  # the collector is left as it was found
    assert reports[0] == reports[1]
    assert reports[0].platforms[0].source.repository == "https://github.com/acme/x"


def test_walkers_fork_only_from_a_process_without_other_threads() -> None:
    assert _start_method("fork").get_start_method() == "fork"
    assert _start_method("forkserver").get_start_method() == "forkserver"
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:  # another thread may hold a lock a forked child would inherit held
        assert _start_method(None).get_start_method() == "forkserver"
    finally:
        stop.set()
        other.join()


def test_a_forked_walker_opens_its_own_registry_connections(registry: LocalRegistry) -> None:
    """A fork copies this process's pooled client; reading a blob through its sockets from
    two processes would interleave the streams."""
    layer = tars.oci_layer([tars.file("app/x", "x")])
    oci.Pusher(registry.url).image("acme/forked", oci.image([layer]), tag="1")
    opener = RepositorySource(RegistryClient(registry.url), "acme/forked").opener()
    opener(layer.blob.digest).close()  # this process now holds a pooled client
    parent = _CLIENTS[opener.client_args]
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("fork")) as pool:
        inherited, read = pool.submit(_clients_in_child, opener, layer.blob.digest).result()
    assert (inherited, read) == (0, layer.blob.data)
    assert _CLIENTS[opener.client_args] is parent


def _clients_in_child(opener: RegistryBlobOpener, digest: str) -> tuple[int, bytes]:
    inherited = len(_CLIENTS)
    with opener(digest) as blob:
        return inherited, blob.read()


@pytest.mark.parametrize("tampered", [0, 2], ids=["the biggest layer", "the smallest layer"])
def test_a_tampered_blob_stops_every_walker(registry: LocalRegistry, tampered: int) -> None:
    """This process and a worker each take the biggest layer left, the worker usually the
    first: a blob whose bytes are not what its digest names is refused by whichever walker
    reads it, taken first or last."""
    layers = [
        # distinct per case: the registry stores a blob once, whatever repository pushed it
        tars.oci_layer([tars.file(f"app/{tampered}/{size}/f{i}", "x" * size) for i in range(20)])
        for size in (40_000, 20_000, 1_000)
    ]
    oci.Pusher(registry.url).image("acme/tampered", oci.image(layers), tag="1")
    digest = layers[tampered].blob.digest.removeprefix("sha256:")
    data = registry.config.parent / "storage/docker/registry/v2/blobs/sha256" / digest[:2]
    swapped = layers[(tampered + 1) % 3].blob.data  # a valid layer, but not this one
    (data / digest / "data").write_bytes(swapped)
    run = analyzer(registry, "acme/tampered")
    run.processes, run.process_threshold = 2, 0
    top, targets = run.targets("1")
    with pytest.raises(RegistryError, match=f"layer sha256:{digest}: content has digest"):
        run.report("x", top, targets)


@pytest.mark.parametrize("processes", [1, 2], ids=["this process", "worker processes"])
def test_a_layer_download_that_breaks_off_is_a_transient_error_and_not_cached(
    registry: LocalRegistry, tmp_path: Path, processes: int
) -> None:
    """A dropped connection says nothing about the image: no ``unreadable-layer`` finding and
    no facts for the digest, but an error the queue retries (from a worker process too)."""
    layers = [
        tars.oci_layer([tars.file(f"app/{processes}/{size}/f{i}", "x" * size) for i in range(20)])
        for size in (40_000, 20_000)
    ]
    oci.Pusher(registry.url).image("acme/cut", oci.image(layers), tag=str(processes))
    db = Database(f"sqlite:///{tmp_path / 'cache.db'}")
    db.migrate()
    cut = [layer.blob.digest for layer in layers]
    with BlobGate(registry.url) as gate, gate.cutting(*cut):
        run = Analyzer(
            RepositorySource(RegistryClient(gate.url), "acme/cut"), cache=StoreFactsCache(db)
        )
        run.processes, run.process_threshold = processes, 0
        top, targets = run.targets(str(processes))
        with pytest.raises(RegistryError, match="the download broke off") as raised:
            run.report("x", top, targets)
    assert raised.value.transient
    assert [StoreFactsCache(db).get("layer", digest) for digest in cut] == [None, None]
    db.dispose()


@pytest.mark.parametrize("processes", [1, 2])
def test_an_image_holding_too_many_entries_stops_being_read(
    registry: LocalRegistry, tmp_path: Path, processes: int
) -> None:
    """Each layer within its own cap, together past the image's budget: no walk starts once
    the image holds the budget, so what is held stays within it plus the walks under way
    (two), and the layers left unread are findings that say why, not cached."""
    layers = [
        tars.oci_layer([tars.file(f"app/{n}/f{i}", "x" * (1000 * (4 - n))) for i in range(40)])
        for n in range(4)
    ]  # 40 entries each
    oci.Pusher(registry.url).image("acme/many", oci.image(layers), tag=str(processes))
    db = Database(f"sqlite:///{tmp_path / 'cache.db'}")
    db.migrate()
    run = analyzer(registry, "acme/many", StoreFactsCache(db))
    run.processes, run.process_threshold = processes, 0
    run.limits = WalkLimits(max_entries=50, max_image_entries=60)
    top, targets = run.targets(str(processes))
    report = run.report("x", top, targets)
    unread = {f.layer: f.evidence for f in report.findings if f.rule == "unreadable-layer"}
    assert 1 <= len(unread) <= 2  # two walks start at once; no third after the budget is held
    assert all(e.startswith("not read:") and "keeps (60)" in e for e in unread.values())
    assert run._image_entries() <= 60 + 2 * 50
    cache = StoreFactsCache(db)
    cached = {layer.blob.digest for layer in layers if cache.get("layer", layer.blob.digest)}
    assert len(cached) == 4 - len(unread) and not cached & set(unread)
    db.dispose()


def test_the_entry_budget_is_each_platforms_and_shared_layers_are_walked_once(
    registry: LocalRegistry, tmp_path: Path
) -> None:
    """Platforms analyzed one after another let go of each other's layers (memory stays one
    image's), but keep the ones they share, and the cached ones loaded for those to come."""
    shared, own_a, own_b = (
        tars.oci_layer([tars.file(f"app/{name}/f{i}", name * 1000) for i in range(40)])
        for name in ("s", "a", "b")
    )
    amd64 = oci.image([shared, own_a])
    arm64 = oci.image([shared, own_b], architecture="arm64")
    pusher = oci.Pusher(registry.url)
    for img in (amd64, arm64):
        pusher.image("acme/budget", img)
    entries = [
        amd64.manifest.descriptor(platform={"os": "linux", "architecture": "amd64"}),
        arm64.manifest.descriptor(platform={"os": "linux", "architecture": "arm64"}),
    ]
    index = json.dumps({"schemaVersion": 2, "mediaType": oci.OCI_INDEX, "manifests": entries})
    pusher.manifest("acme/budget", "multi", oci.Blob(oci.OCI_INDEX, index.encode()))
    db = Database(f"sqlite:///{tmp_path / 'cache.db'}")
    db.migrate()
    # Cold, with room for one platform's two layers (42 entries each) and not three: the
    # second platform walks its own after letting go of the first's. Then every layer from
    # the cache, with room for all three, which warm_up loads at once: none loaded twice.
    for walked, cached, budget in ((3, 0, 80), (0, 3, 130)):
        run = analyzer(registry, "acme/budget", StoreFactsCache(db))
        run.processes = 2  # so that warm_up looks at every platform's layers first
        run.limits = WalkLimits(max_image_entries=budget)
        top, targets = run.targets("multi")
        report = run.report("x", top, targets)
        unread = [f for p in report.platforms for f in p.findings if f.rule == "unreadable-layer"]
        assert unread == []
        assert (run.stats.layers_walked, run.stats.layers_cached) == (walked, cached)
    db.dispose()


@pytest.mark.parametrize("processes", [1, 2])
def test_a_layer_repeated_in_an_image_is_walked_once(
    registry: LocalRegistry, processes: int
) -> None:
    # the repeated layer is the biggest: both walkers would take a copy of it at once
    repeated = tars.oci_layer([tars.file("app/data", os.urandom(200_000).hex())])
    layers = [repeated, tars.oci_layer([*UBUNTU]), repeated]
    oci.Pusher(registry.url).image("acme/repeated", oci.image(layers), tag="1")
    run = analyzer(registry, "acme/repeated")
    run.processes, run.process_threshold = processes, 0
    top, targets = run.targets("1")
    run.report("x", top, targets)
    assert run.stats.layers_walked == 2
    config = targets[0].manifest.data["config"]["size"]
    assert run.stats.blob_bytes == config + len(layers[0].blob.data) + len(layers[1].blob.data)


def test_a_failing_walker_leaves_the_others_nothing_to_take() -> None:
    layers = _Layers([{"digest": f"sha256:{i}"} for i in range(5)])
    assert layers.take() == (0, {"digest": "sha256:0"})

    def fail() -> None:
        raise RegistryError("layer sha256:0: content has digest sha256:1")

    with pytest.raises(RegistryError):
        layers.guard(fail)
    assert layers.take() is None
