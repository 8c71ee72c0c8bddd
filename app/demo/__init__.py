"""``tightship demo``: a real registry push to a fix branch, in seconds, on this machine.

It starts Debian's docker-registry with notifications pointing at a Tightship started on
free local ports, makes a sample Jib project in a git checkout, pushes a Jib-style image
that runs as root, and prints the branch and diff Tightship made.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

from app.demo import oci
from app.demo.chat import ChatReceiver
from app.demo.registry import LocalRegistry, free_port

SAMPLE_POM = Path(__file__).with_name("sample") / "pom.xml"
BRANCH = "tightship/acme-orders"


def make_sample_repository(root: Path) -> Path:
    """acme/orders: a git checkout holding the Jib helloworld pom (no container user)."""
    checkout = root / "acme" / "orders"
    checkout.mkdir(parents=True)
    shutil.copy(SAMPLE_POM, checkout / "pom.xml")
    identity = ["-c", "user.name=Demo", "-c", "user.email=demo@example.com"]
    for args in (
        ["init", "-q", "-b", "main"],
        ["add", "pom.xml"],
        [*identity, "commit", "-qm", "Jib app"],
    ):
        subprocess.run(["git", "-C", str(checkout), *args], check=True)
    return checkout


def write_config(workdir: Path, registry: LocalRegistry, port: int, chat_url: str) -> Path:
    config = workdir / "config.yaml"
    config.write_text(
        f"""data_dir: {workdir / "var"}
server: {{port: {port}}}
registries:
  - name: local
    sender: distribution
    url: {registry.url}
    webhook: {{token: "${{TIGHTSHIP_WEBHOOK_TOKEN}}"}}
scm:
  provider: local
  local: {{root: {workdir / "repos"}}}
repositories:
  allow: ["acme/*"]
notify:
  - {{type: slack, url: "{chat_url}"}}
"""
    )
    return config


def _wait(predicate: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}")


def run_demo(keep: bool = False) -> int:
    workdir = Path(tempfile.mkdtemp(prefix="tightship-demo-"))
    token = secrets.token_urlsafe(24)
    port = free_port()
    print(f"demo workspace: {workdir}")
    registry = LocalRegistry(
        workdir / "registry", notify_url=f"http://127.0.0.1:{port}/webhooks/local", token=token
    )
    checkout = make_sample_repository(workdir / "repos")
    server: subprocess.Popen[bytes] | None = None
    with ChatReceiver() as chat, registry:
        config = write_config(workdir, registry, port, chat.url)
        env = {**os.environ, "TIGHTSHIP_WEBHOOK_TOKEN": token}
        for variable in ("DATABASE_URL", "REDIS_URL", "PORT", "TIGHTSHIP_DATA_DIR"):
            env.pop(variable, None)
        log = (workdir / "tightship.log").open("ab")
        server = subprocess.Popen(
            [sys.executable, "-m", "app", "--config", str(config), "serve"],
            env=env,
            stdout=log,
            stderr=log,
        )
        try:
            _wait(lambda: _ready(port), 30, "Tightship to be ready")
            print(f"registry {registry.url}, Tightship http://127.0.0.1:{port}")
            image = oci.jib_image(source="https://github.com/acme/orders")
            started = time.monotonic()
            digest = oci.Pusher(registry.url).image("acme/orders", image, tag="1.0")
            print(f"pushed {registry.host}/acme/orders:1.0 ({digest}), a Jib image running as root")
            _wait(lambda: _branch(checkout) is not None, 60, f"branch {BRANCH}")
            print(f"Tightship made branch {BRANCH} in {time.monotonic() - started:.1f}s:\n")
            subprocess.run(
                ["git", "-C", str(checkout), "--no-pager", "log", "-1", "--stat", BRANCH],
                check=True,
            )
            subprocess.run(
                ["git", "-C", str(checkout), "--no-pager", "diff", f"main..{BRANCH}"], check=True
            )
            chat.received.wait(10)
            for message in chat.messages:
                print(f"\nchat message: {message['body']['text']}")
            if keep:
                print(f"\nstill running (Ctrl-C to stop); logs in {workdir / 'tightship.log'}")
                server.wait()
            return 0
        except (TimeoutError, requests.RequestException) as exc:
            print(f"demo failed: {exc}; see {workdir / 'tightship.log'}", file=sys.stderr)
            return 1
        finally:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()


def _ready(port: int) -> bool:
    try:
        return requests.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200
    except requests.RequestException:
        return False


def _branch(checkout: Path) -> str | None:
    result = subprocess.run(
        ["git", "-C", str(checkout), "rev-parse", "--verify", "--quiet", f"refs/heads/{BRANCH}"],
        capture_output=True,
        text=True,
        check=False,
    )
    return result.stdout.strip() or None
