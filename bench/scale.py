"""Scale-out: analyzed images per minute with 1 and 2 worker processes, and intake latency
while the workers are busy.

Needs PostgreSQL and Redis (the machine's: postgresql://postgres@127.0.0.1:5432/test and
redis://127.0.0.1:6379/14 unless --database-url / --redis-url say otherwise) and Debian's
docker-registry. For each worker count, on a fresh store (cold layer cache): the same N
images (one shared base layer, a distinct application layer each) are announced with
Distribution push notifications in batches, and the clock runs until every one is analyzed;
then N more manifests that reuse those layers (new configs, so new digests: a warm layer
cache) are announced the same way. A prober sends one ignored delivery every 100 ms all along
and records how long the web took to answer it.

    .venv/bin/python bench/scale.py [--images 200]
"""

from __future__ import annotations

import argparse
import json
import secrets
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import redis
import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, text  # noqa: E402

from app.demo import make_sample_repository, oci  # noqa: E402
from app.demo.cluster import Cluster, running, write_config  # noqa: E402
from app.demo.registry import LocalRegistry, free_port  # noqa: E402

BATCH = 20  # events per notification envelope, as a busy registry sends them


def push_images(registry: LocalRegistry, count: int, label: str) -> list[tuple[str, str, str]]:
    """(repository, tag, digest) of ``count`` images; ``label`` makes the configs differ."""
    pusher = oci.Pusher(registry.url)
    pushed = []
    for number in range(count):
        repository = f"acme/svc-{number % 40:02d}"
        image = oci.jib_image(source="https://github.com/acme/orders", app=f"{number}".encode())
        config = json.loads(image.config.data)
        config["config"]["Labels"]["bench.run"] = label
        image = oci.Image(
            config=oci.Blob(oci.OCI_CONFIG, json.dumps(config).encode()), layers=image.layers
        )
        tag = f"{label}-{number}"
        pushed.append((repository, tag, pusher.image(repository, image, tag=tag)))
    return pushed


def envelope(host: str, items: list[tuple[str, str, str]], action: str = "push") -> bytes:
    events = [
        {
            "id": f"{action}-{secrets.token_hex(8)}",
            "timestamp": "2026-11-26T00:00:00Z",
            "action": action,
            "target": {
                "mediaType": oci.OCI_MANIFEST,
                "size": 1000,
                "digest": digest,
                "repository": repository,
                "tag": tag,
            },
            "request": {"host": host, "method": "PUT" if action == "push" else "GET"},
            "actor": {"name": "bench"},
        }
        for repository, tag, digest in items
    ]
    return json.dumps({"events": events}).encode()


class Prober(threading.Thread):
    """One ignored delivery (a pull) every 100 ms: intake latency while workers are busy."""

    def __init__(self, url: str, token: str, host: str) -> None:
        super().__init__(daemon=True)
        self.url, self.token, self.host = url, token, host
        self.latencies: list[float] = []
        self.stop = threading.Event()

    def run(self) -> None:
        session = requests.Session()
        while not self.stop.wait(0.1):
            body = envelope(self.host, [("acme/probe", "x", "sha256:" + "0" * 64)], "pull")
            started = time.perf_counter()
            session.post(
                f"{self.url}/webhooks/local",
                data=body,
                headers={
                    "Authorization": f"Bearer {self.token}",
                    "Content-Type": "application/json",
                },
                timeout=30,
            )
            self.latencies.append(time.perf_counter() - started)


def announce_and_wait(
    cluster: Cluster, token: str, host: str, items: list[tuple[str, str, str]]
) -> float:
    done_before = _done(cluster)
    started = time.perf_counter()
    for first in range(0, len(items), BATCH):
        response = requests.post(
            f"{cluster.url}/webhooks/local",
            data=envelope(host, items[first : first + BATCH]),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            timeout=30,
        )
        response.raise_for_status()
    cluster.wait_for(
        lambda: _done(cluster) >= done_before + len(items), 1800, "every image analyzed"
    )
    return time.perf_counter() - started


def _done(cluster: Cluster) -> int:
    return int(cluster.rows("SELECT count(*) FROM scans WHERE status = 'done'")[0][0])  # type: ignore[arg-type]


def run(workers: int, images: int, args: argparse.Namespace, registry: LocalRegistry) -> dict:
    workdir = Path(tempfile.mkdtemp(prefix=f"tightship-scale-{workers}-"))
    port, token = free_port(), secrets.token_urlsafe(24)
    make_sample_repository(workdir / "repos")
    config = write_config(workdir, registry, port, token)
    schema = f"scale_{secrets.token_hex(4)}"
    admin = create_engine(args.database_url)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    redis.Redis.from_url(args.redis_url).flushdb()
    try:
        database_url = f"{args.database_url}?options=-csearch_path%3D{schema}"
        with running(
            workdir, config, database_url, args.redis_url, port, workers=workers
        ) as cluster:
            cold_images = push_images(registry, images, f"cold{workers}")
            warm_images = push_images(registry, images, f"warm{workers}")
            prober = Prober(cluster.url, token, registry.host)
            prober.start()
            cold = announce_and_wait(cluster, token, registry.host, cold_images)
            warm = announce_and_wait(cluster, token, registry.host, warm_images)
            prober.stop.set()
            prober.join()
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
    latencies = sorted(prober.latencies)
    return {
        "workers": workers,
        "cold_per_min": images / cold * 60,
        "warm_per_min": images / warm * 60,
        "probe_p50_ms": statistics.median(latencies) * 1000,
        "probe_p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
        "probes": len(latencies),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/14")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch, LocalRegistry(Path(scratch)) as registry:
        results = [run(workers, args.images, args, registry) for workers in (1, 2)]
    print(f"{args.images} images, each worker process with 2 threads, 2 gunicorn workers")
    header = ("workers", "cold img/min", "warm img/min", "intake p50 ms", "p99 ms")
    print(" ".join(f"{h:>{w}}" for h, w in zip(header, (7, 13, 13, 14, 8), strict=True)))
    for r in results:
        print(
            f"{r['workers']:>7} {r['cold_per_min']:>13.0f} {r['warm_per_min']:>13.0f} "
            f"{r['probe_p50_ms']:>14.1f} {r['probe_p99_ms']:>8.1f}"
        )
    one, two = results
    print(
        f"2 vs 1 worker: cold {two['cold_per_min'] / one['cold_per_min']:.2f}x, "
        f"warm {two['warm_per_min'] / one['warm_per_min']:.2f}x; "
        f"warm vs cold (2 workers): {two['warm_per_min'] / two['cold_per_min']:.2f}x"
    )


if __name__ == "__main__":
    main()
