"""Tightship scaled out on real parts: PostgreSQL, Redis, 2 gunicorn workers, 2 Huey worker
processes and a clock, fed by docker-registry's own push notifications.

200 images (all on one shared base layer, some multi-arch) are pushed; every platform digest
must be analyzed exactly once, no fix branch made twice, no event lost. Then a worker is
killed with SIGKILL in the middle of a scan, and another one must finish its job.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis
import requests
from sqlalchemy import create_engine, text

from app.demo import make_sample_repository, oci
from app.demo.registry import LocalRegistry, free_port
from tests.conftest import postgres_schema
from tests.support.git import git

pytestmark = pytest.mark.e2e
REPOSITORIES = 40
TAGS = 5
MULTI_ARCH = 10  # of the 200 pushes, these are an index of two platform images


@dataclass
class Cluster:
    url: str
    database_url: str
    registry: LocalRegistry
    checkout: Path
    workdir: Path
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def rows(self, sql: str, **params: object) -> list[tuple]:
        engine = create_engine(self.database_url)
        try:
            with engine.connect() as connection:
                return [tuple(r) for r in connection.execute(text(sql), params)]
        finally:
            engine.dispose()

    def logs(self) -> str:
        return "\n".join(
            f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}"
            for p in sorted(self.workdir.glob("*.log"))
        )


def wait_for(predicate: Callable[[], object], timeout: float, what: str, cluster: Cluster) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}\n{cluster.logs()}")


def start(cluster: Cluster, name: str, args: list[str], env: dict[str, str]) -> None:
    log = (cluster.workdir / f"{name}.log").open("ab")
    cluster.processes[name] = subprocess.Popen(
        args, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )


@pytest.fixture(scope="module")
def cluster(
    tmp_path_factory: pytest.TempPathFactory, postgres_url: str, redis_url: str
) -> Iterator[Cluster]:
    workdir = tmp_path_factory.mktemp("distributed")
    port, token = free_port(), secrets.token_urlsafe(24)
    queue = redis.Redis.from_url(redis_url)
    queue.flushdb()
    registry = LocalRegistry(
        workdir / "registry", notify_url=f"http://127.0.0.1:{port}/webhooks/local", token=token
    )
    checkout = make_sample_repository(workdir / "repos")
    config = workdir / "config.yaml"
    config.write_text(
        f"""data_dir: {workdir / "var"}
server: {{port: {port}}}
registries:
  - {{name: local, sender: distribution, url: "{registry.url}", webhook: {{token: "{token}"}}}}
scm: {{provider: local, local: {{root: "{workdir / "repos"}"}}}}
repositories:
  allow: ["acme/*"]
  map: [{{image: "*/acme/*", repo: acme/orders}}]
jobs: {{lease_seconds: 4, sweep_seconds: 1, stranded_after_seconds: 1}}
"""
    )
    with postgres_schema(postgres_url) as schema, registry:
        database_url = f"{postgres_url}?options=-csearch_path%3D{schema}"
        env = {
            **{k: v for k, v in os.environ.items() if k not in ("PORT", "TIGHTSHIP_DATA_DIR")},
            "TIGHTSHIP_CONFIG": str(config),
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "WEB_CONCURRENCY": "2",
        }
        subprocess.run([sys.executable, "-m", "app", "migrate"], env=env, check=True, timeout=60)
        running = Cluster(f"http://127.0.0.1:{port}", database_url, registry, checkout, workdir)
        me = [sys.executable, "-m", "app"]
        gunicorn = [sys.executable, "-m", "gunicorn", "-c", "python:app.gunicorn_conf"]
        try:
            start(running, "web", [*gunicorn, "app:create_app()"], env)
            start(running, "worker-1", [*me, "worker", "--threads", "2"], env)
            start(running, "worker-2", [*me, "worker", "--threads", "2"], env)
            start(running, "clock", [*me, "clock"], env)
            wait_for(lambda: _ready(running.url), 60, "the web processes", running)
            yield running
        finally:
            for process in running.processes.values():
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
            queue.flushdb()


def _ready(url: str) -> bool:
    try:
        return requests.get(f"{url}/readyz", timeout=1).status_code == 200
    except requests.RequestException:
        return False


def test_200_images_are_each_analyzed_once_with_no_branch_made_twice(cluster: Cluster) -> None:
    pusher = oci.Pusher(cluster.registry.url)
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

    wait_for(settled, 300, "every pushed image to be analyzed", cluster)
    scans = cluster.rows("SELECT repository, digest, status, attempts FROM scans")
    assert {(r, d) for r, d, _, _ in scans} == digests  # each digest: one scan, no strays
    assert len(scans) == len(digests) and {s for _, _, s, _ in scans} == {"done"}
    statuses = dict(cluster.rows("SELECT status, count(*) FROM events GROUP BY status"))
    assert set(statuses) <= {"done", "ignored"} and statuses["done"] >= REPOSITORIES * TAGS
    # one branch per image repository, each exactly one commit on main, created once
    branches = git(cluster.checkout, "branch", "--format=%(refname:short)").split()
    expected = {f"tightship/acme-svc-{n:02d}" for n in range(REPOSITORIES)}
    assert expected <= set(branches)
    for branch in expected:
        assert git(cluster.checkout, "rev-list", "--count", f"main..{branch}").strip() == "1"
    created = cluster.rows(
        "SELECT branch, count(*) FROM fixes WHERE status = 'created' GROUP BY branch"
    )
    assert dict(created) == dict.fromkeys(expected, 1)


def test_a_worker_killed_mid_scan_leaves_its_job_to_another(cluster: Cluster) -> None:
    worker_1, worker_2 = cluster.processes["worker-1"], cluster.processes["worker-2"]
    big = oci.image(
        [oci.layer({"app/blob.bin": os.urandom(64 * 1024 * 1024)})],
        user="",
        history=[
            {"created_by": "COPY blob.bin /app/ # buildkit", "comment": "buildkit.dockerfile.v0"}
        ],
    )

    def scan() -> list[tuple]:
        return cluster.rows("SELECT status, attempts FROM scans WHERE digest = :d", d=big.digest)

    os.killpg(worker_2.pid, signal.SIGSTOP)  # so that worker 1 takes the next job
    try:
        oci.Pusher(cluster.registry.url, timeout=120).image("acme/big", big, tag="1")
        wait_for(scan, 60, "worker 1 to start the big scan", cluster)
        assert scan()[0][0] == "running"
        os.killpg(worker_1.pid, signal.SIGKILL)  # mid-scan, with its analysis processes
        worker_1.wait(timeout=10)
    finally:
        os.killpg(worker_2.pid, signal.SIGCONT)

    def events() -> set[str]:
        return {
            s for (s,) in cluster.rows("SELECT status FROM events WHERE repository = 'acme/big'")
        }

    wait_for(lambda: events() == {"done"}, 120, "worker 2 to finish the job", cluster)
    assert scan()[0] == ("done", 2)  # claimed again once worker 1's lease ran out
