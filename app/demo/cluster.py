"""Tightship scaled out on one machine: gunicorn, N Huey worker processes and a clock on
PostgreSQL and Redis, as a deployment runs them (the distributed test and bench/scale.py).

Each process gets its own session so that a test can stop or kill one with everything it
started (the analysis worker processes included).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import requests
from sqlalchemy import create_engine, text

from app.demo.registry import LocalRegistry


@dataclass
class Cluster:
    url: str
    database_url: str
    workdir: Path
    env: dict[str, str]
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def start(self, name: str, args: list[str]) -> None:
        log = (self.workdir / f"{name}.log").open("ab")
        self.processes[name] = subprocess.Popen(
            args, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def signal(self, name: str, signum: int) -> None:
        """Signal a process and whatever it started (its analysis workers)."""
        os.killpg(self.processes[name].pid, signum)

    def stop(self) -> None:
        for process in self.processes.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)

    def rows(self, sql: str, **params: object) -> list[tuple[object, ...]]:
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

    def wait_for(self, predicate: Callable[[], object], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.25)
        raise TimeoutError(f"timed out after {timeout}s waiting for {what}\n{self.logs()}")


def write_config(
    workdir: Path,
    registry: LocalRegistry,
    port: int,
    token: str,
    extra: str = "",
    pull_url: str | None = None,
) -> Path:
    """``pull_url``, when given, is where workers fetch images from instead of the registry
    itself (a proxy in front of it); pushes and notifications still go to the registry."""
    config = workdir / "config.yaml"
    url = pull_url or registry.url
    config.write_text(
        f"""data_dir: {workdir / "var"}
server: {{port: {port}}}
registries:
  - {{name: local, sender: distribution, url: "{url}", webhook: {{token: "{token}"}}}}
scm: {{provider: local, local: {{root: "{workdir / "repos"}"}}}}
repositories:
  allow: ["acme/*"]
  map: [{{image: "*/acme/*", repo: acme/orders}}]
{extra}"""
    )
    return config


@contextlib.contextmanager
def running(
    workdir: Path,
    config: Path,
    database_url: str,
    redis_url: str,
    port: int,
    workers: int = 2,
    web_processes: int = 2,
) -> Iterator[Cluster]:
    """Migrate, then run web, ``workers`` worker processes and a clock until the block ends."""
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("PORT", "TIGHTSHIP_DATA_DIR")},
        "TIGHTSHIP_CONFIG": str(config),
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "WEB_CONCURRENCY": str(web_processes),
    }
    me = [sys.executable, "-m", "app"]
    subprocess.run([*me, "migrate"], env=env, check=True, timeout=60, capture_output=True)
    cluster = Cluster(f"http://127.0.0.1:{port}", database_url, workdir, env)
    gunicorn = [sys.executable, "-m", "gunicorn", "-c", "python:app.gunicorn_conf"]
    try:
        cluster.start("web", [*gunicorn, "app:create_app()"])
        for number in range(1, workers + 1):
            cluster.start(f"worker-{number}", [*me, "worker", "--threads", "2"])
        cluster.start("clock", [*me, "clock"])
        cluster.wait_for(lambda: _ready(cluster.url), 60, "the web processes")
        yield cluster
    finally:
        cluster.stop()


def _ready(url: str) -> bool:
    try:
        return requests.get(f"{url}/readyz", timeout=1).status_code == 200
    except requests.RequestException:
        return False
