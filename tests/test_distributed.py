"""Tightship scaled out on real parts: PostgreSQL, Redis, 2 gunicorn workers, 2 Huey worker
processes and a clock, fed by docker-registry's own push notifications.

200 images (all on one shared base layer, some multi-arch) are pushed; every platform digest
must be analyzed exactly once, no fix branch made twice, no event lost. Then a worker is
killed with SIGKILL in the middle of a scan, and another one must finish its job. Workers
pull through a gate (``tests.support.gate``) so that the test can hold a scan in the middle.
"""

from __future__ import annotations

import os
import secrets
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

from app.demo import make_sample_repository, oci
from app.demo.cluster import Cluster, running, write_config
from app.demo.registry import LocalRegistry, free_port
from tests.conftest import postgres_schema
from tests.support.gate import BlobGate
from tests.support.git import git

pytestmark = pytest.mark.e2e
REPOSITORIES = 40
TAGS = 5
MULTI_ARCH = 10  # of the 200 pushes, these are an index of two platform images


@dataclass
class Scaled:
    cluster: Cluster
    registry: LocalRegistry
    checkout: Path
    gate: BlobGate


@pytest.fixture(scope="module")
def scaled(
    tmp_path_factory: pytest.TempPathFactory, postgres_url: str, redis_url: str
) -> Iterator[Scaled]:
    workdir = tmp_path_factory.mktemp("distributed")
    port, token = free_port(), secrets.token_urlsafe(24)
    queue = redis.Redis.from_url(redis_url)
    queue.flushdb()
    registry = LocalRegistry(
        workdir / "registry", notify_url=f"http://127.0.0.1:{port}/webhooks/local", token=token
    )
    checkout = make_sample_repository(workdir / "repos")
    timings = "jobs: {lease_seconds: 4, sweep_seconds: 1, stranded_after_seconds: 1}\n"
    with postgres_schema(postgres_url) as schema, registry, BlobGate(registry.url) as gate:
        config = write_config(workdir, registry, port, token, timings, pull_url=gate.url)
        database_url = f"{postgres_url}?options=-csearch_path%3D{schema}"
        try:
            with running(workdir, config, database_url, redis_url, port, workers=2) as cluster:
                yield Scaled(cluster, registry, checkout, gate)
        finally:
            queue.flushdb()


def test_200_images_are_each_analyzed_once_with_no_branch_made_twice(scaled: Scaled) -> None:
    cluster = scaled.cluster
    pusher = oci.Pusher(scaled.registry.url)
    digests: set[tuple[str, str]] = set()
    for number in range(REPOSITORIES * TAGS):
        repository = f"acme/svc-{number % REPOSITORIES:02d}"
        amd64 = oci.jib_image(source="https://github.com/acme/orders", app=f"{number}".encode())
        if number < MULTI_ARCH:
            arm64 = oci.image(list(amd64.layers), user="", architecture="arm64")
            pusher.index(repository, {"linux/amd64": amd64, "linux/arm64": arm64}, f"v{number}")
            digests |= {(repository, amd64.digest), (repository, arm64.digest)}
        else:
            pusher.image(repository, amd64, tag=f"v{number}")
            digests.add((repository, amd64.digest))
    assert len(digests) == REPOSITORIES * TAGS + MULTI_ARCH

    def settled() -> bool:
        open_events = cluster.rows("SELECT count(*) FROM events WHERE status = 'queued'")[0][0]
        done = cluster.rows("SELECT count(*) FROM scans WHERE status = 'done'")[0][0]
        return open_events == 0 and done >= len(digests)

    cluster.wait_for(settled, 300, "every pushed image to be analyzed")
    scans = cluster.rows("SELECT repository, digest, status, attempts FROM scans")
    assert {(r, d) for r, d, _, _ in scans} == digests  # each digest: one scan, no strays
    assert len(scans) == len(digests) and {s for _, _, s, _ in scans} == {"done"}
    statuses = dict(cluster.rows("SELECT status, count(*) FROM events GROUP BY status"))
    assert set(statuses) <= {"done", "ignored"} and statuses["done"] >= REPOSITORIES * TAGS
    # one branch per image repository, each exactly one commit on main, created once
    branches = git(scaled.checkout, "branch", "--format=%(refname:short)").split()
    expected = {f"tightship/acme-svc-{n:02d}" for n in range(REPOSITORIES)}
    assert expected <= set(branches)
    for branch in expected:
        assert git(scaled.checkout, "rev-list", "--count", f"main..{branch}").strip() == "1"
    created = cluster.rows(
        "SELECT branch, count(*) FROM fixes WHERE status = 'created' GROUP BY branch"
    )
    assert dict(created) == dict.fromkeys(expected, 1)


def test_a_worker_killed_mid_scan_leaves_its_job_to_another(scaled: Scaled) -> None:
    cluster = scaled.cluster
    big = oci.image(
        [oci.layer({"app/blob.bin": os.urandom(1024 * 1024)})],
        user="",
        history=[
            {"created_by": "COPY blob.bin /app/ # buildkit", "comment": "buildkit.dockerfile.v0"}
        ],
    )

    def scan() -> list[tuple]:
        return cluster.rows("SELECT status, attempts FROM scans WHERE digest = :d", d=big.digest)

    cluster.signal("worker-2", signal.SIGSTOP)  # so that worker 1 takes the next job
    try:
        with scaled.gate.holding(big.layers[0].blob.digest) as asked:
            oci.Pusher(scaled.registry.url).image("acme/big", big, tag="1")
            assert asked.wait(60), f"no worker fetched the layer\n{cluster.logs()}"
            assert scan() == [("running", 1)]  # worker 1 claimed it, and waits for the layer
            cluster.signal("worker-1", signal.SIGKILL)  # mid-scan, with its analysis processes
            cluster.processes["worker-1"].wait(timeout=10)
    finally:
        cluster.signal("worker-2", signal.SIGCONT)

    def events() -> set[str]:
        return {
            s for (s,) in cluster.rows("SELECT status FROM events WHERE repository = 'acme/big'")
        }

    cluster.wait_for(lambda: events() == {"done"}, 120, "worker 2 to finish the job")
    assert scan()[0] == ("done", 2)  # claimed again once worker 1's lease ran out
