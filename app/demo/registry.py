"""Run Debian's ``docker-registry`` (CNCF Distribution 2.8) with notifications to Tightship."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

import requests

REGISTRY_BINARY = "docker-registry"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def registry_config(
    storage: Path,
    port: int,
    notify_url: str | None,
    token: str | None,
    htpasswd: Path | None = None,
) -> str:
    lines = [
        "version: 0.1",
        "log: {level: warn, formatter: text}",
        "storage:",
        f"  filesystem: {{rootdirectory: {storage}}}",
        "  delete: {enabled: true}",
        "http:",
        f"  addr: 127.0.0.1:{port}",
        "  secret: tightship-local-registry",
    ]
    if htpasswd is not None:
        lines += ["auth:", "  htpasswd:", "    realm: tightship-test", f"    path: {htpasswd}"]
    if notify_url:
        lines += [
            "notifications:",
            "  endpoints:",
            "    - name: tightship",
            f"      url: {notify_url}",
            f'      headers: {{Authorization: ["Bearer {token}"]}}',
            "      timeout: 2s",
            "      threshold: 3",
            "      backoff: 1s",
            # Distribution 2.8 applies ignore.actions only when a media type is listed too.
            "      ignore:",
            "        mediatypes: [application/octet-stream]",
            "        actions: [pull]",
        ]
    return "\n".join(lines) + "\n"


class LocalRegistry:
    """A registry process on a free loopback port, storing under ``workdir``."""

    def __init__(
        self,
        workdir: Path,
        notify_url: str | None = None,
        token: str | None = None,
        htpasswd: Path | None = None,
    ) -> None:
        if shutil.which(REGISTRY_BINARY) is None:
            raise RuntimeError(
                f"{REGISTRY_BINARY} is not installed (Debian: apt-get install docker-registry)"
            )
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.host = f"127.0.0.1:{self.port}"
        workdir.mkdir(parents=True, exist_ok=True)
        self.config = workdir / "registry.yml"
        self.config.write_text(
            registry_config(
                workdir / "storage",
                self.port,
                notify_url,
                token,
                htpasswd,
            )
        )
        self.log_path = workdir / "registry.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60.0) -> LocalRegistry:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [REGISTRY_BINARY, "serve", str(self.config)], stdout=log, stderr=log
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"registry exited: {self.log_path.read_text()[-2000:]}")
            try:
                if requests.get(f"{self.url}/v2/", timeout=1).status_code in (200, 401):
                    return self
            except requests.RequestException:  # not listening yet, or slow to answer
                time.sleep(0.05)
        raise RuntimeError(f"registry did not answer on {self.url} within {timeout}s")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self) -> LocalRegistry:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()
