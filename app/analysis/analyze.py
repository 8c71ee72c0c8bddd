"""From a reference to reports: resolve platforms, gather facts once per blob, judge.

Facts are gathered per config digest and per layer digest, and a cache keyed by those
digests (the store's, for the service and ``tightship scan`` alike) means a base layer
shared by a thousand images is walked once, and a digest scanned before costs no blob
bytes at all: only its manifest is read.
"""

from __future__ import annotations

import gc
import json
import multiprocessing
import threading
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import BinaryIO, Protocol

from app.analysis import base, builder, rules, source
from app.analysis.config import ConfigFacts, from_config
from app.analysis.layers import DownloadError, LayerFacts, WalkLimits, walk_layer
from app.analysis.view import ImageView
from app.models import Finding, PlatformReport, Report
from app.registry import Manifest, RegistryError, mediatypes
from app.registry.client import DIGEST

FACTS_VERSION = 2  # bump when an inspector changes what it records: cached facts are redone
PROCESS_THRESHOLD = 64 * 1024**2  # compressed bytes of uncached layers worth worker processes
_FOREIGN = "foreign"  # Windows base layers live on Microsoft's servers, not in the registry
_SIGNATURE_TAG = (".sig", ".att", ".sbom")
_UNKNOWN = "unknown"  # the os and architecture BuildKit gives its attestations


class AnalysisError(Exception):
    """The image cannot be analyzed (not an image, no matching platform, unusable config)."""


class NotAnImage(AnalysisError):
    """A Helm chart, signature, attestation or SBOM: acknowledged, never analyzed."""


class ImageSource(Protocol):
    """Where manifests and blobs come from: a registry, an OCI layout, a docker archive."""

    def manifest(self, reference: str) -> Manifest: ...

    def blob(self, digest: str) -> bytes: ...

    def open_blob(self, digest: str) -> BinaryIO: ...

    def opener(self) -> Callable[[str], BinaryIO]:
        """A picklable ``open_blob`` for walking layers in worker processes."""
        ...


class FactsCache(Protocol):
    def get(self, kind: str, digest: str) -> dict | None: ...

    def put(self, kind: str, digest: str, data: dict) -> None: ...


@dataclass(frozen=True, slots=True)
class Target:
    """One platform image of what was pushed or asked for."""

    platform: str | None  # None for a plain manifest: its config says which platform it is
    manifest: Manifest


@dataclass(frozen=True, slots=True)
class Ignore:
    """``RULE`` or ``RULE:path-glob`` from --ignore or the config."""

    rule: str
    glob: str | None = None

    @classmethod
    def parse(cls, text: str) -> Ignore:
        rule, _, glob = text.partition(":")
        if rule not in rules.RULE_IDS and rule != "*":
            raise ValueError(f"unknown rule {rule!r}; rules: {', '.join(rules.RULE_IDS)}")
        return cls(rule, glob or None)

    def matches(self, finding: Finding) -> bool:
        if self.rule not in ("*", finding.rule):
            return False
        return self.glob is None or fnmatchcase(
            "/" + (finding.path or "").lstrip("/"), "/" + self.glob.lstrip("/")
        )


@dataclass
class Stats:
    blob_bytes: int = 0
    layers_walked: int = 0
    layers_cached: int = 0


Progress = Callable[[str, int, int], None]  # (what, done, total)


@dataclass
class Analyzer:
    source: ImageSource
    cache: FactsCache | None = None
    limits: WalkLimits = field(default_factory=WalkLimits)
    ignores: tuple[Ignore, ...] = ()
    progress: Progress | None = None
    # Processes walking big uncached layers: this one and processes - 1 workers (1: this one
    # only). One per core: on two cores a third walker measured 15% slower, not faster.
    processes: int = 2
    process_threshold: int = PROCESS_THRESHOLD
    start_method: str | None = None  # "fork" or "forkserver"; None: chosen per process

    stats: Stats = field(default_factory=Stats)
    _configs: dict[str, ConfigFacts] = field(default_factory=dict)
    _layers: dict[str, LayerFacts] = field(default_factory=dict)
    _image: set[str] = field(default_factory=set)  # the layers of the platform being analyzed
    _refused: set[str] = field(default_factory=set)  # layers its entry budget left unread
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _workers: ProcessPoolExecutor | None = None
    _frozen: bool = False

    def targets(self, reference: str, platform: str = "all") -> tuple[Manifest, list[Target]]:
        """The platform images behind ``reference``; attestations and signatures are skipped."""
        if reference.endswith(_SIGNATURE_TAG) and reference.startswith("sha256-"):
            raise NotAnImage(f"{reference} is a cosign signature or attestation, not an image")
        top = self.source.manifest(reference)
        if not top.is_index:
            self._require_image(top)
            return top, [Target(None, top)]
        found = []
        for entry in _entries(top):
            if (
                not DIGEST.match(str(entry.get("digest")))
                or entry.get("mediaType") not in mediatypes.IMAGE_MANIFESTS  # indexes, artifacts
                or _is_attestation(entry)
            ):
                continue
            name = _platform_name(entry)
            if name == f"{_UNKNOWN}/{_UNKNOWN}" or (name and not _platform_matches(name, platform)):
                continue  # BuildKit's attestations; other platforms
            child = self.source.manifest(str(entry["digest"]))
            if child.is_index or child.data.get("subject") is not None:
                continue
            if name is None:  # the platform is optional in an index: the image's config says
                try:
                    self._require_image(child)
                except NotAnImage:
                    continue  # an artifact beside the images
                name = self.config_facts(child).platform
                if not _platform_matches(name, platform):
                    continue
            else:
                self._require_image(child)
            found.append(Target(name, child))
        if not found:
            wanted = "any platform" if platform == "all" else platform
            raise AnalysisError(f"index {top.digest} has no image for {wanted}")
        return top, found

    def _require_image(self, manifest: Manifest) -> None:
        """Raise NotAnImage unless ``manifest`` is an image: not a Helm chart or another
        artifact, nor a signature, attestation or SBOM pushed by digest (buildx pushes its
        attestation manifests so, and they name an image config type too). Filesystem layers
        settle it from the manifest; only a manifest without any has its config read."""
        _require_image_config(manifest)
        types = [
            str(layer.get("mediaType"))
            for layer in manifest.data.get("layers") or []
            if isinstance(layer, dict)
        ]
        if any(t.startswith(mediatypes.IMAGE_LAYER_PREFIXES) for t in types):
            return
        if types and all(t in mediatypes.ATTESTATION_LAYERS for t in types):
            raise NotAnImage(
                f"manifest {manifest.digest} is a signature, attestation or SBOM "
                f"({types[0]!r} layers), not an image"
            )
        if self.config_facts(manifest).os == _UNKNOWN:
            raise NotAnImage(
                f"manifest {manifest.digest} is an attestation (its config says os "
                "'unknown'), not an image"
            )

    def config_facts(self, manifest: Manifest) -> ConfigFacts:
        descriptor = manifest.data["config"]
        digest = str(descriptor.get("digest"))
        if digest in self._configs:  # read already to tell the image's platform
            return self._configs[digest]
        cached = self._cached("config", digest)
        if cached is not None:
            facts = self._configs[digest] = ConfigFacts.from_dict(cached)
            return facts
        raw = self.source.blob(digest)
        self.stats.blob_bytes += len(raw)
        try:
            config = json.loads(raw)
        except (ValueError, RecursionError) as exc:
            raise AnalysisError(f"image config {digest} is not usable JSON") from exc
        if not isinstance(config, dict):
            raise AnalysisError(f"image config {digest} is not a JSON object")
        facts = self._configs[digest] = from_config(config)
        self._store("config", digest, facts.to_dict())
        return facts

    def layer_facts(
        self, descriptor: dict, index: int, total: int, overlap: bool = True
    ) -> LayerFacts:
        """A layer's facts, walked here unless known; ``overlap`` as for ``walk_layer``."""
        digest = str(descriptor.get("digest"))
        if self._known(digest):
            return self._layers[digest]
        if _FOREIGN in str(descriptor.get("mediaType", "")):
            facts = LayerFacts(digest, error="foreign layer: hosted outside the registry, not read")
        else:
            media_type = str(descriptor.get("mediaType", ""))

            def walk() -> LayerFacts:
                self._progress(digest, index, total)
                with self.source.open_blob(digest) as stream:
                    return _walk(stream, digest, media_type, self.limits, overlap)

            return self._budgeted(digest, walk)
        self._keep(facts)
        return facts

    def _keep(self, facts: LayerFacts) -> None:
        self._layers[facts.digest] = facts

    def _image_entries(self) -> int:
        """Entries held for the image being analyzed (its layers' facts at hand); before the
        first image (warm_up loading cached facts ahead), all that is held."""
        with self._lock:
            digests = self._image or set(self._layers)
            return sum(len(f.entries) for d in digests if (f := self._layers.get(d)))

    def _start_image(self, digests: set[str]) -> None:
        """Let go of the facts of layers the previous platform used and this one does not (and
        of any the previous budget refused), so that the entry budget is one image's, and the
        memory too. Shared layers stay at hand, as do cached ones warm_up loaded ahead."""
        with self._lock:
            for digest in (self._image - digests) | self._refused:
                self._layers.pop(digest, None)
            self._image, self._refused = digests, set()

    def _budgeted(self, digest: str, walk: Callable[[], LayerFacts]) -> LayerFacts:
        """Walk a layer, unless the image's layers already hold the entry budget: then it is
        not read (a finding, not cached: the layer may be fine in a smaller image). The check
        comes before each walk, so a hostile image holds at most the budget plus the layers
        being walked when it is reached, each within its own cap."""
        budget, held = self.limits.max_image_entries, self._image_entries()
        if held < budget:
            facts = walk()
            self._record_walk(facts)
            return facts
        facts = LayerFacts(
            digest,
            error=f"not read: the image's other layers already hold {held:,} entries, "
            f"the most one analysis keeps ({budget:,})",
        )
        with self._lock:
            self._refused.add(digest)
        self._keep(facts)
        return facts

    def _known(self, digest: str) -> bool:
        """Whether this layer's facts are at hand: walked already in this analysis, or in the
        cache (loaded once, here: the cache holds compressed JSON worth parsing only once; not
        once the image holds its budget of entries, as a walk would not be)."""
        if digest in self._layers:
            return True
        if self._image_entries() >= self.limits.max_image_entries:
            return False
        cached = self._cached("layer", digest)
        if cached is None:
            return False
        with self._lock:
            self.stats.layers_cached += 1
        self._keep(layer_from_dict(cached))
        return True

    def _walk_elsewhere(self, descriptors: list[dict]) -> None:
        """Walk big uncached layers in this process and in worker processes at once.

        Parsing a tar stream is Python and holds the GIL; a process per core is what lets a
        second core help (threads measured 1.15 cores busy). Every walker takes the biggest
        layer left, so the small ones fill in at the end and the walkers finish together
        instead of one waiting on a big layer another could have started. Small images are
        walked in this process alone: starting a worker would cost more than it saves.
        """
        unique = {str(d.get("digest")): d for d in descriptors}  # a layer repeated: once
        pending = [
            d
            for digest, d in unique.items()
            if _FOREIGN not in str(d.get("mediaType", "")) and not self._known(digest)
        ]
        size = sum(int(d.get("size") or 0) for d in pending)
        if self.processes < 2 or len(pending) < 2 or size < self.process_threshold:
            return
        layers = _Layers(sorted(pending, key=lambda d: -int(d.get("size") or 0)))
        pool = self._pool()
        opener = self.source.opener()

        def elsewhere() -> None:
            while (item := layers.take()) is not None:
                index, descriptor = item
                digest = str(descriptor["digest"])
                media_type = str(descriptor.get("mediaType", ""))

                def walk(
                    digest: str = digest, index: int = index, media_type: str = media_type
                ) -> LayerFacts:
                    self._progress(digest, index, layers.total)
                    future = pool.submit(_walk_blob, opener, digest, media_type, self.limits)
                    return layer_from_dict(future.result())

                self._budgeted(digest, walk)

        def here() -> None:
            while (item := layers.take()) is not None:
                index, descriptor = item
                # a walker per core already: its own decompression thread would only add
                # hand-offs
                self.layer_facts(descriptor, index, layers.total, overlap=False)

        with ThreadPoolExecutor(max_workers=self.processes - 1) as feeders:
            futures = [feeders.submit(layers.guard, elsewhere) for _ in range(self.processes - 1)]
            try:
                layers.guard(here)
            finally:
                for future in futures:
                    future.result()  # re-raises a walker's error once all have stopped

    def _progress(self, digest: str, index: int, total: int) -> None:
        if self.progress:
            self.progress(f"layer {index + 1}/{total} {digest[7:19]}", index, total)

    def _pool(self) -> ProcessPoolExecutor:
        """The worker processes, started now. Forks happen here, in the thread deciding to
        fork, before any walker thread exists; the first start from the fork server waits
        for it to import Tightship (about 0.2 s), so that is left to a thread while this
        one goes on."""
        if self._workers is None:
            context = _start_method(self.start_method)
            pool = self._workers = ProcessPoolExecutor(
                max_workers=self.processes - 1, mp_context=context
            )

            def start() -> None:
                for _ in range(self.processes - 1):
                    pool.submit(_started)

            if context.get_start_method() == "fork":
                # CPython's advice for forking pools: the heap as it stands (the interpreter,
                # the imports) leaves the collector's view, so neither the child nor this
                # process spends collections walking it, and the child does not copy the
                # pages a collection would touch. Measured 5% faster; undone in close().
                gc.freeze()
                self._frozen = True
                start()
            else:
                threading.Thread(target=start, name="start-layer-walkers", daemon=True).start()
        return self._workers

    def warm_up(self, manifests: Iterable[Manifest]) -> None:
        """Start the worker processes early, when the layers are big enough to be walked by
        them: while the config is fetched."""
        if self.processes < 2:
            return
        layers = {
            str(layer.get("digest")): int(layer.get("size") or 0)
            for manifest in manifests
            for layer in manifest.data.get("layers") or []
            if isinstance(layer, dict)
        }
        size = sum(n for digest, n in layers.items() if not self._known(digest))
        if size >= self.process_threshold:
            self._pool()

    def close(self) -> None:
        if self._workers is not None:
            self._workers.shutdown(wait=True, cancel_futures=True)
            self._workers = None
        if self._frozen:
            gc.unfreeze()
            self._frozen = False

    def _record_walk(self, facts: LayerFacts) -> None:
        with self._lock:
            self.stats.blob_bytes += facts.compressed_bytes
            self.stats.layers_walked += 1
        if self.cache is not None:
            self._store("layer", facts.digest, layer_to_dict(facts))
        self._keep(facts)

    def analyze(self, target: Target) -> PlatformReport:
        manifest = target.manifest
        config = self.config_facts(manifest)
        descriptors = [d for d in manifest.data.get("layers") or [] if isinstance(d, dict)]
        self._start_image({str(d.get("digest")) for d in descriptors})
        self._walk_elsewhere(descriptors)
        unique: dict[str, tuple[int, dict]] = {}
        for index, descriptor in enumerate(descriptors):
            unique.setdefault(str(descriptor.get("digest")), (index, descriptor))
        with ThreadPoolExecutor(max_workers=2) as pool:  # inflate overlaps parsing a little
            walked = dict(
                zip(
                    unique,
                    pool.map(
                        lambda item: self.layer_facts(item[1], item[0], len(descriptors)),
                        unique.values(),
                    ),
                    strict=True,
                )
            )  # a layer repeated in the image is walked once
        layers = [walked[str(d.get("digest"))] for d in descriptors]
        annotations = manifest.data.get("annotations")
        view = ImageView(
            platform=target.platform or config.platform,
            digest=manifest.digest,
            config=config,
            layers=layers,
            layer_digests=[str(d.get("digest")) for d in descriptors],
            annotations=annotations if isinstance(annotations, dict) else {},
        )
        view.builder = builder.detect(config)
        view.app_layers = builder.app_layers(config, view.builder, len(layers))
        findings = [f for f in rules.judge(view) if not any(i.matches(f) for i in self.ignores)]
        return PlatformReport(
            platform=view.platform,
            digest=manifest.digest,
            user=config.user,
            builder=view.builder,
            base=base.identify(view),
            source=source.hint(view),
            findings=tuple(findings),
        )

    def report(self, name: str, top: Manifest, targets: Iterable[Target]) -> Report:
        targets = list(targets)
        self.warm_up(t.manifest for t in targets)
        try:
            platforms = tuple(self.analyze(t) for t in targets)
        finally:
            self.close()
        return Report(reference=name, digest=top.digest, platforms=platforms)

    def _cached(self, kind: str, digest: str) -> dict | None:
        if self.cache is None:
            return None
        data = self.cache.get(kind, digest)
        if not data or data.pop("version", None) != FACTS_VERSION:
            return None
        return data

    def _store(self, kind: str, digest: str, data: dict) -> None:
        if self.cache is not None and DIGEST.match(digest):
            self.cache.put(kind, digest, {**data, "version": FACTS_VERSION})


class _Layers:
    """The layers of one image left to walk, biggest first, shared by its walkers. The first
    walker to fail empties it, so that the others stop after the layer they are on."""

    def __init__(self, descriptors: list[dict]) -> None:
        self._items = deque(enumerate(descriptors))
        self.total = len(self._items)
        self._lock = threading.Lock()

    def take(self) -> tuple[int, dict] | None:
        with self._lock:
            return self._items.popleft() if self._items else None

    def guard(self, walk: Callable[[], None]) -> None:
        try:
            walk()
        except BaseException:
            with self._lock:
                self._items.clear()
            raise


def _start_method(method: str | None) -> multiprocessing.context.BaseContext:
    """How worker processes start. A fork costs milliseconds and no imports, but is safe
    only from a process with no other thread (another thread may hold a lock the child
    would inherit held): ``tightship scan``. The service's threaded workers use a fork
    server instead, which imports the walker once and forks from there: still no
    interpreter per pool (spawning one cost 0.2 s of CPU per worker, per big scan)."""
    if method == "fork" or (method is None and threading.active_count() == 1):
        return multiprocessing.get_context("fork")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__])
    return context


def _started() -> None:
    """Nothing: submitting it makes a pool start its processes."""


def _walk_blob(
    opener: Callable[[str], BinaryIO], digest: str, media_type: str, limits: WalkLimits
) -> dict:
    """Runs in a worker process: walk one layer, return its facts as plain data."""
    with opener(digest) as stream:
        return layer_to_dict(_walk(stream, digest, media_type, limits, overlap=False))


def _walk(
    stream: BinaryIO, digest: str, media_type: str, limits: WalkLimits, overlap: bool
) -> LayerFacts:
    """``walk_layer``, with the two failures that say nothing about the image raised as
    RegistryError: bytes that are not the blob the digest names, and a download that broke
    off (transient: the queue retries the job, ``tightship scan`` exits 2). Neither may
    become an ``unreadable-layer`` finding, nor facts cached for the digest."""
    try:
        return walk_layer(stream, digest, media_type, rules.inspectors(), limits, overlap)
    except DownloadError as exc:
        raise RegistryError(f"{exc}; try again", True) from exc
    except ValueError as exc:
        raise RegistryError(str(exc)) from exc


def layer_to_dict(facts: LayerFacts) -> dict:
    return {
        "digest": facts.digest,
        "entries": [[e.path, e.kind, e.size, e.mode, e.uid, e.link] for e in facts.entries],
        "whiteouts": facts.whiteouts,
        "opaque": facts.opaque,
        "hits": [[h.rule, h.path, h.detail, h.text] for h in facts.hits],
        "error": facts.error,
        "compressed_bytes": facts.compressed_bytes,
        "expanded_bytes": facts.expanded_bytes,
    }


def layer_from_dict(data: dict) -> LayerFacts:
    from app.analysis.layers import Entry, Hit

    return LayerFacts(
        digest=data["digest"],
        entries=[Entry(*e) for e in data["entries"]],
        whiteouts=list(data["whiteouts"]),
        opaque=list(data["opaque"]),
        hits=[Hit(*h) for h in data["hits"]],
        error=data["error"],
        compressed_bytes=data["compressed_bytes"],
        expanded_bytes=data["expanded_bytes"],
    )


def _require_image_config(manifest: Manifest) -> None:
    descriptor = manifest.data.get("config")
    if not isinstance(descriptor, dict) or not DIGEST.match(str(descriptor.get("digest"))):
        raise AnalysisError(f"manifest {manifest.digest} has no usable config descriptor")
    config_type = descriptor.get("mediaType")
    if config_type not in mediatypes.IMAGE_CONFIGS:
        raise NotAnImage(
            f"manifest {manifest.digest} is an artifact ({config_type!r}), not an image"
        )


def _entries(index: Manifest) -> list[dict]:
    entries = index.data.get("manifests")
    return [e for e in entries if isinstance(e, dict)] if isinstance(entries, list) else []


def _platform_name(entry: dict) -> str | None:
    """The platform an index entry declares, or None: the field is optional."""
    platform = entry.get("platform")
    if not isinstance(platform, dict):
        return None
    name = f"{platform.get('os')}/{platform.get('architecture')}"
    variant = platform.get("variant")
    return f"{name}/{variant}" if variant else name


def _is_attestation(entry: dict) -> bool:
    annotations = entry.get("annotations")
    return isinstance(annotations, dict) and (
        annotations.get("vnd.docker.reference.type") == "attestation-manifest"
    )


def _platform_matches(name: str, wanted: str) -> bool:
    return wanted == "all" or name == wanted or name.startswith(wanted + "/")
