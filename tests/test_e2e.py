"""End to end on real parts: docker-registry → its real notification → `tightship serve`
(gunicorn + Huey worker + clock) → the registry read back → a fix branch → a chat message."""

from __future__ import annotations

import json
import os
import secrets
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from app.demo import make_sample_repository, oci, write_config
from app.demo.chat import ChatReceiver
from app.demo.registry import LocalRegistry, free_port
from tests.support.git import git

pytestmark = pytest.mark.e2e


@dataclass
class Service:
    url: str
    token: str
    registry: LocalRegistry
    chat: ChatReceiver
    checkout: Path
    workdir: Path
    log: Path

    def query(self, sql: str, *args: object) -> list[tuple]:
        with sqlite3.connect(self.workdir / "var" / "tightship.db") as connection:
            return connection.execute(sql, args).fetchall()


def wait_for(predicate: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def ready(url: str) -> bool:
    try:
        return requests.get(f"{url}/readyz", timeout=1).status_code == 200
    except requests.RequestException:
        return False


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    workdir = tmp_path_factory.mktemp("e2e")
    port, token = free_port(), secrets.token_urlsafe(24)
    registry = LocalRegistry(
        workdir / "registry", notify_url=f"http://127.0.0.1:{port}/webhooks/local", token=token
    )
    checkout = make_sample_repository(workdir / "repos")
    log = workdir / "tightship.log"
    with ChatReceiver() as chat, registry:
        config = write_config(workdir, registry, port, chat.url)
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("DATABASE_URL", "REDIS_URL", "PORT", "TIGHTSHIP_DATA_DIR")
        }
        env["TIGHTSHIP_WEBHOOK_TOKEN"] = token
        with log.open("ab") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "app", "--config", str(config), "serve"],
                env=env,
                stdout=out,
                stderr=out,
            )
        url = f"http://127.0.0.1:{port}"
        try:
            wait_for(lambda: ready(url) or process.poll() is not None, 60, "tightship serve")
            assert process.poll() is None, log.read_text()[-3000:]
            yield Service(url, token, registry, chat, checkout, workdir, log)
        finally:
            process.terminate()
            process.wait(timeout=30)


def branch_exists(checkout: Path, branch: str) -> bool:
    return bool(
        subprocess.run(
            [
                "git",
                "-C",
                str(checkout),
                "rev-parse",
                "--verify",
                "--quiet",
                f"refs/heads/{branch}",
            ],
            capture_output=True,
            check=False,
        ).stdout
    )


def test_a_real_push_becomes_a_fix_branch_and_one_chat_message(service: Service) -> None:
    image = oci.jib_image(source="https://github.com/acme/orders")
    digest = oci.Pusher(service.registry.url).image("acme/orders", image, tag="1.0")

    wait_for(lambda: branch_exists(service.checkout, "tightship/acme-orders"), 60, "the fix branch")
    diff = git(service.checkout, "diff", "main", "tightship/acme-orders")
    assert diff.count("\n+ ") == 3 and "-" not in "".join(
        line[0] for line in diff.splitlines()[4:] if line[:1] in "+-"
    )
    assert "+            <user>65532:65532</user>" in diff
    assert git(service.checkout, "status", "--porcelain") == ""
    assert git(service.checkout, "symbolic-ref", "--short", "HEAD").strip() == "main"

    # the registry's own notification is what arrived, and it was processed once (the branch
    # comes before the event is marked done, so wait for that too)
    def events() -> list[tuple]:
        return service.query(
            "SELECT sender, tag, digest, status FROM events WHERE repository = 'acme/orders'"
        )

    wait_for(lambda: [e[3] for e in events()] == ["done"], 60, "the event to be done")
    assert events() == [("distribution", "1.0", digest, "done")]
    wait_for(lambda: service.chat.messages, 60, "the chat message")
    time.sleep(1.0)  # a duplicate would arrive within this time
    [message] = service.chat.messages
    assert (
        message["body"]["text"]
        == f"Tightship: 1 finding in {service.registry.host}/acme/orders:1.0"
    )
    assert "tightship/acme-orders" in json.dumps(message["body"]["blocks"])


def test_a_multi_arch_push_analyzes_each_platform_manifest_once(service: Service) -> None:
    amd64 = oci.jib_image(app=b"amd64")
    arm64 = oci.image(list(amd64.layers), architecture="arm64")
    oci.Pusher(service.registry.url).index(
        "acme/multi", {"linux/amd64": amd64, "linux/arm64": arm64}, "2.0"
    )

    def settled() -> bool:
        rows = service.query("SELECT status FROM events WHERE repository = 'acme/multi'")
        return len(rows) == 3 and all(status == "done" for (status,) in rows)

    wait_for(settled, 60, "three manifest events (two platforms, one index) processed")
    scans = service.query("SELECT digest, status FROM scans WHERE repository = 'acme/multi'")
    assert sorted(scans) == sorted([(amd64.digest, "done"), (arm64.digest, "done")])


def test_forged_and_malformed_deliveries_change_nothing(service: Service) -> None:
    before = service.query("SELECT count(*) FROM events")
    body = json.dumps(
        {
            "events": [
                {
                    "id": "forged-1",
                    "action": "push",
                    "target": {
                        "mediaType": oci.OCI_MANIFEST,
                        "repository": "acme/orders",
                        "digest": "sha256:" + "0" * 64,
                    },
                }
            ]
        }
    )
    url = f"{service.url}/webhooks/local"
    forged = requests.post(url, data=body, headers={"Authorization": "Bearer nope"}, timeout=5)
    assert (forged.status_code, forged.json()) == (401, {"error": "unauthorized"})
    auth = {"Authorization": f"Bearer {service.token}"}
    malformed = requests.post(url, data="{oops", headers=auth, timeout=5)
    assert malformed.status_code == 400 and "not JSON" in malformed.json()["error"]
    chunks = (b"x" * 65536 for _ in range(20))  # chunked, no Content-Length, 1.25 MiB
    huge = requests.post(url, data=chunks, headers=auth, timeout=5)
    assert huge.status_code == 413
    assert service.query("SELECT count(*) FROM events") == before


def test_logs_are_json_lines_without_the_webhook_token(service: Service) -> None:
    requests.post(
        f"{service.url}/webhooks/local?token={service.token}",
        data="{}",
        headers={"Authorization": f"Bearer {service.token}"},
        timeout=5,
    )
    text = service.log.read_text()
    assert service.token not in text
    lines = [line for line in text.splitlines() if line.strip()]
    assert lines
    for line in lines:
        assert isinstance(json.loads(line), dict), line
