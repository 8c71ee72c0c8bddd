"""One event through analysis → remediation → scm → notify, against the real registry."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from app.config import Settings
from app.demo import oci
from app.demo.chat import ChatReceiver
from app.demo.registry import LocalRegistry
from app.jobs import pipeline
from app.jobs.pipeline import ScanBusy, process_event
from app.models import PushEvent
from app.registry import RegistryError
from app.scm.github import GitHubError
from app.store import repo
from app.store.cache import StoreFactsCache
from app.store.db import Database
from app.store.schema import EventRow, FixRow, ScanRow
from tests.support.gate import BlobGate
from tests.support.git import git, make_repo
from tests.support.github import TOKEN, GitHubServer, github_server_fixture  # noqa: F401

POM = (Path(__file__).parents[2] / "app/demo/sample/pom.xml").read_text()


@dataclass
class World:
    settings: Settings
    db: Database
    registry: LocalRegistry
    chat: ChatReceiver
    checkout: Path
    pusher: oci.Pusher

    def event(
        self, repository: str, digest: str, tag: str | None = None, delivery: str | None = None
    ) -> int:
        push = PushEvent(
            registry="local",
            sender="distribution",
            host=self.registry.host,
            repository=repository,
            digest=digest,
            tag=tag,
            media_type=oci.OCI_MANIFEST,
            delivery_id=delivery or f"{repository}@{digest}:{tag}",
            received_at=datetime.now(UTC),
        )
        with self.db.session() as session:
            return repo.record_events(session, [push]).queued[0]

    def process(self, event_id: int) -> EventRow:
        process_event(self.settings, self.db, event_id)
        with self.db.session() as session:
            return session.get_one(EventRow, event_id)

    def scans(self) -> list[ScanRow]:
        with self.db.session() as session:
            return list(session.scalars(select(ScanRow).order_by(ScanRow.id)))

    def fixes(self) -> list[FixRow]:
        with self.db.session() as session:
            return list(session.scalars(select(FixRow).order_by(FixRow.id)))


@pytest.fixture
def world(tmp_path: Path, registry: LocalRegistry, make_settings) -> Iterator[World]:
    checkout = make_repo(tmp_path / "repos", "acme/orders", {"pom.xml": POM})
    with ChatReceiver() as chat:
        settings: Settings = make_settings(
            registries=[
                {
                    "name": "local",
                    "sender": "distribution",
                    "url": registry.url,
                    "webhook": {"token": "t"},
                }
            ],
            scm={"local": {"root": str(tmp_path / "repos")}},
            notify=[{"type": "slack", "url": chat.url}],
        )
        db = Database(settings.database_url)
        db.migrate()
        yield World(settings, db, registry, chat, checkout, oci.Pusher(registry.url))
        db.dispose()


def test_root_jib_image_gets_a_fix_branch_and_one_message(world: World) -> None:
    image = oci.jib_image(source="https://github.com/acme/orders", app=b"one")
    digest = world.pusher.image("acme/orders", image, tag="1.0")
    event = world.process(world.event("acme/orders", digest, "1.0"))

    assert (event.status, event.reason) == ("done", None)
    [scan] = world.scans()
    report = json.loads(scan.report)
    assert report["schema"] == "tightship.report/v1"
    [platform] = report["platforms"]
    assert platform["builder"] == {
        "kind": "jib",
        "tool": "jib-maven-plugin",
        "version": "3.4.4",
        "evidence": "history created_by 'jib-maven-plugin:3.4.4', author 'Jib'",
    }
    assert [f["rule"] for f in platform["findings"]] == ["root-user"]
    [fix] = world.fixes()
    assert (fix.status, fix.branch, fix.repository) == (
        "created",
        "tightship/acme-orders",
        "acme/orders",
    )
    diff = git(world.checkout, "diff", "main", "tightship/acme-orders")
    assert "+            <user>65532:65532</user>" in diff
    assert [m["body"]["text"] for m in world.chat.messages] == [
        f"Tightship: 1 finding in {world.registry.host}/acme/orders:1.0"
    ]


def test_the_same_digest_is_analyzed_once(world: World) -> None:
    digest = world.pusher.image(
        "acme/orders", oci.jib_image(source="https://github.com/acme/orders", app=b"two"), tag="2.0"
    )
    first = world.process(world.event("acme/orders", digest, "2.0", "a"))
    again = world.process(world.event("acme/orders", digest, "stable", "b"))  # same image, new tag
    assert first.status == "done"
    assert (again.status, again.reason) == ("done", f"{digest}: already analyzed")
    assert len(world.scans()) == 1 and len(world.fixes()) == 1
    assert len(world.chat.messages) == 1


def test_an_index_is_analyzed_once_per_platform_image(world: World) -> None:
    amd64 = oci.jib_image(source="https://github.com/acme/orders", app=b"amd64")
    arm64 = oci.image(list(amd64.layers), user="", architecture="arm64")
    index_digest = world.pusher.index(
        "acme/orders", {"linux/amd64": amd64, "linux/arm64": arm64}, "multi"
    )
    world.process(world.event("acme/orders", amd64.digest, None))  # platform manifest by digest
    index_event = world.process(world.event("acme/orders", index_digest, "multi"))
    assert index_event.reason == f"{amd64.digest}: already analyzed"
    scans = world.scans()
    assert sorted(s.digest for s in scans) == sorted([amd64.digest, arm64.digest])
    platforms = {json.loads(s.report)["platforms"][0]["platform"] for s in scans}
    assert platforms == {"linux/amd64", "linux/arm64"}


def test_a_non_root_image_is_clean_and_quiet(world: World) -> None:
    digest = world.pusher.image(
        "acme/orders", oci.jib_image(user="65532:65532", app=b"clean"), tag="ok"
    )
    assert world.process(world.event("acme/orders", digest, "ok")).status == "done"
    assert json.loads(world.scans()[0].report)["platforms"][0]["findings"] == []
    assert world.fixes() == [] and world.chat.messages == []


def test_a_label_pointing_outside_the_allow_list_is_refused(world: World) -> None:
    image = oci.jib_image(source="https://github.com/evil/takeover", app=b"evil")
    digest = world.pusher.image("acme/orders", image, tag="evil")
    world.process(world.event("acme/orders", digest, "evil"))
    [fix] = world.fixes()
    assert fix.status == "refused" and "evil/takeover" in fix.detail
    assert "tightship/" not in git(world.checkout, "branch", "--list")
    assert "refused" in json.dumps(world.chat.messages[0]["body"])


def test_a_failing_chat_endpoint_does_not_fail_the_scan(world: World) -> None:
    world.chat.status = 500
    digest = world.pusher.image(
        "acme/orders", oci.jib_image(source="https://github.com/acme/orders", app=b"c"), tag="c"
    )
    assert world.process(world.event("acme/orders", digest, "c")).status == "done"
    assert world.scans()[0].status == "done" and world.fixes()[0].status == "created"


def test_an_artifact_is_acknowledged_as_ignored_not_analyzed(world: World) -> None:
    config = oci.Blob("application/vnd.cncf.helm.config.v1+json", b"{}")
    chart = oci.Image(config=config, layers=())
    digest = world.pusher.image("acme/charts", chart, tag="0.1.0")
    event = world.process(world.event("acme/charts", digest, "0.1.0"))
    assert event.status == "ignored"
    assert (
        "is an artifact ('application/vnd.cncf.helm.config.v1+json'), not an image" in event.reason
    )
    assert world.fixes() == [] and world.chat.messages == []


BUILDKIT_ATTESTATION_CONFIG = {"architecture": "unknown", "os": "unknown", "config": {}}
COSIGN_CONFIG = {"architecture": "", "os": "", "config": {}, "rootfs": {"type": "layers"}}


@pytest.mark.parametrize(
    ("layer_type", "config", "what"),
    [
        (  # buildx pushes each attestation manifest by digest
            "application/vnd.in-toto+json",
            BUILDKIT_ATTESTATION_CONFIG,
            "is a signature, attestation or SBOM ('application/vnd.in-toto+json' layers)",
        ),
        (
            "application/vnd.dev.cosign.simplesigning.v1+json",
            COSIGN_CONFIG,
            "is a signature, attestation or SBOM "
            "('application/vnd.dev.cosign.simplesigning.v1+json' layers)",
        ),
        (
            "application/vnd.dsse.envelope.v1+json",
            COSIGN_CONFIG,
            "is a signature, attestation or SBOM ('application/vnd.dsse.envelope.v1+json' layers)",
        ),
        (  # a layer type not known here: the config's os "unknown" still tells
            "application/vnd.example.statement+json",
            BUILDKIT_ATTESTATION_CONFIG,
            "is an attestation (its config says os 'unknown')",
        ),
    ],
    ids=["buildkit-in-toto", "cosign-signature", "cosign-dsse", "config-os-unknown"],
)
def test_an_attestation_pushed_by_digest_is_ignored_not_analyzed(
    world: World, layer_type: str, config: dict, what: str
) -> None:
    statement = oci.Blob(layer_type, json.dumps({"about": what}).encode())
    attestation = oci.Image(
        config=oci.Blob(oci.OCI_CONFIG, json.dumps(config).encode()),
        layers=(oci.Layer(statement, oci.sha256(statement.data)),),
    )
    digest = world.pusher.image("acme/orders", attestation)  # by digest, no tag
    event = world.process(world.event("acme/orders", digest))
    assert (event.status, event.reason) == ("ignored", f"manifest {digest} {what}, not an image")
    assert world.scans() == [] and world.fixes() == [] and world.chat.messages == []


def test_a_second_run_for_a_finished_event_changes_nothing(world: World) -> None:
    digest = world.pusher.image("acme/orders", oci.jib_image(app=b"twice"), tag="twice")
    event_id = world.event("acme/orders", digest, "twice")
    first = world.process(event_id)
    assert (first.status, first.reason) == ("done", None)
    # the sweeper re-enqueued the event while its first job waited in a long backlog
    again = world.process(event_id)
    assert (again.status, again.reason, again.scan_id, again.processed_at) == (
        first.status,
        first.reason,
        first.scan_id,
        first.processed_at,
    )
    assert len(world.scans()) == 1 and len(world.chat.messages) == 1


def test_a_layer_download_that_breaks_off_is_retried_not_reported(world: World) -> None:
    image = oci.jib_image(source="https://github.com/acme/orders", app=b"cut")
    digest = world.pusher.image("acme/orders", image, tag="cut")
    event_id = world.event("acme/orders", digest, "cut")
    cut = image.layers[1].blob.digest
    with BlobGate(world.registry.url) as gate, gate.cutting(cut):
        registry = world.settings.registries[0].model_copy(update={"url": gate.url})
        through_gate = world.settings.model_copy(update={"registries": [registry]})
        with pytest.raises(RegistryError, match=f"layer {cut}: the download broke off") as raised:
            process_event(through_gate, world.db, event_id)
    assert raised.value.transient  # so the queue runs the job again
    with world.db.session() as session:
        assert session.get_one(EventRow, event_id).status == "queued"
    assert [s.status for s in world.scans()] == ["failed"]  # claimed, freed, not done
    assert StoreFactsCache(world.db).get("layer", cut) is None
    assert world.fixes() == [] and world.chat.messages == []
    assert world.process(event_id).status == "done"  # the retry
    [scan] = world.scans()
    assert [f["rule"] for f in json.loads(scan.report)["platforms"][0]["findings"]] == ["root-user"]


def test_registry_outage_is_retried_and_the_retry_completes(world: World, tmp_path: Path) -> None:
    digest = world.pusher.image(
        "acme/orders", oci.jib_image(source="https://github.com/acme/orders", app=b"r"), tag="r"
    )
    event_id = world.event("acme/orders", digest, "r")
    down = world.settings.model_copy(
        update={
            "registries": [
                world.settings.registries[0].model_copy(update={"url": "http://127.0.0.1:1"})
            ]
        }
    )
    with pytest.raises(RegistryError):  # the queue retries it
        process_event(down, world.db, event_id)
    assert world.process(event_id).status == "done"
    assert world.fixes()[0].status == "created"


def test_a_manifest_gone_from_the_registry_fails_without_retries(world: World) -> None:
    event = world.process(world.event("acme/orders", "sha256:" + "9" * 64, "gone"))
    assert event.status == "failed"
    assert "answered 404" in event.reason
    assert world.scans() == [] and world.chat.messages == []


def test_a_digest_another_job_holds_is_retried_later_not_closed(world: World) -> None:
    digest = world.pusher.image("acme/orders", oci.jib_image(app=b"busy"), tag="busy")
    first = world.event("acme/orders", digest, "busy", "first")
    with world.db.session() as session:
        push = repo.load_event(session, first)
        repo.claim_scan(session, push, digest, timedelta(minutes=15))  # another worker has it
    second = world.event("acme/orders", digest, "busy-too", "second")
    with pytest.raises(ScanBusy):
        process_event(world.settings, world.db, second)
    with world.db.session() as session:
        assert session.get_one(EventRow, second).status == "queued"  # not closed: retried


def test_an_unusable_config_fails_the_event_and_frees_the_claim(world: World) -> None:
    config = oci.Blob(oci.OCI_CONFIG, b"[" * 100_000 + b"]" * 100_000)
    layers = (oci.layer({"app/deep": b"deep"}),)  # so the config is first read by the claimed scan
    digest = world.pusher.image("acme/orders", oci.Image(config=config, layers=layers), tag="deep")
    event = world.process(world.event("acme/orders", digest, "deep"))
    assert event.status == "failed" and "not usable JSON" in event.reason
    [scan] = world.scans()
    assert scan.status == "failed"


def test_a_crashing_fixer_still_records_the_scan_and_sends_the_message(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_args: object) -> None:
        raise FileNotFoundError("git")

    monkeypatch.setattr(pipeline, "_fix", broken)
    image = oci.jib_image(source="https://github.com/acme/orders", app=b"crash")
    digest = world.pusher.image("acme/orders", image, tag="crash")
    assert world.process(world.event("acme/orders", digest, "crash")).status == "done"
    [fix] = world.fixes()
    assert (fix.status, fix.detail) == ("failed", "internal error: FileNotFoundError")
    assert world.scans()[0].status == "done"
    assert len(world.chat.messages) == 1


def test_a_tag_only_event_records_the_digest_it_resolved_to(world: World) -> None:
    digest = world.pusher.image("acme/orders", oci.jib_image(app=b"hub"), tag="from-hub")
    push = PushEvent(
        registry="local",
        sender="dockerhub",
        host=world.registry.host,
        repository="acme/orders",
        digest=None,
        tag="from-hub",
        media_type=None,
        delivery_id="hub-1",
        received_at=datetime.now(UTC),
    )
    with world.db.session() as session:
        [event_id] = repo.record_events(session, [push]).queued
    event = world.process(event_id)
    assert (event.status, event.digest) == ("done", digest)
    assert [s.digest for s in world.scans()] == [digest]


def test_a_push_becomes_one_github_pr_even_when_github_fails_mid_job(
    tmp_path: Path, registry: LocalRegistry, make_settings, github_server: GitHubServer
) -> None:
    github_server.create_repo("acme", "orders", {"pom.xml": POM})
    settings: Settings = make_settings(
        registries=[
            {
                "name": "local",
                "sender": "distribution",
                "url": registry.url,
                "webhook": {"token": "t"},
            }
        ],
        scm={
            "provider": "github",
            "github": {
                "base_url": github_server.url,
                "token": TOKEN,
                "write_interval": 0,
                "max_wait": 0,
            },
        },
    )
    db = Database(settings.database_url)
    db.migrate()
    world = World(settings, db, registry, ChatReceiver(), tmp_path, oci.Pusher(registry.url))
    image = oci.jib_image(source="https://github.com/acme/orders", app=b"gh")
    digest = world.pusher.image("acme/orders", image, tag="1.0")
    event_id = world.event("acme/orders", digest, "1.0")
    github_server.fail_next("POST", "/repos/*/pulls", 502)  # GitHub fails mid-sequence
    with pytest.raises(GitHubError):  # transient: the queue will run the job again
        process_event(settings, db, event_id)
    assert github_server.pulls("acme", "orders") == []
    assert world.process(event_id).status == "done"  # the queue's retry
    [pull] = github_server.pulls("acme", "orders")
    assert "<user>65532:65532</user>" in github_server.file_at(
        "acme", "orders", pull.head, "pom.xml"
    )
    fixes = [f for f in world.fixes() if f.pull_number]
    assert [(f.status, f.pull_number) for f in fixes] == [("created", 1)]
    again = world.event("acme/orders", digest, "stable", "another-delivery")
    world.process(again)
    assert len(github_server.pulls("acme", "orders")) == 1
    db.dispose()


def test_a_running_scan_keeps_its_digest_and_a_dead_one_frees_it(
    settings: Settings, database: Database
) -> None:
    push = PushEvent(
        "local", "distribution", "127.0.0.1:5000", "acme/lease", "sha256:" + "1" * 64, "1",
        None, "lease-1", datetime.now(UTC),
    )  # fmt: skip
    database.migrate()
    lease = timedelta(seconds=0.6)
    with database.session() as session:
        claim = repo.claim_scan(session, push, push.digest or "", lease)
    assert claim.status == "claimed"

    def lease_until() -> datetime:
        with database.session() as session:
            until = session.get_one(ScanRow, claim.scan_id).lease_until
        return until if until.tzinfo else until.replace(tzinfo=UTC)

    first = seen = lease_until()
    with pipeline._Heartbeat(database, claim.scan_id, lease):
        deadline = time.monotonic() + 30
        while seen < first + 2 * lease and time.monotonic() < deadline:  # two leases on
            time.sleep(0.05)
            seen = lease_until()
        assert seen >= first + 2 * lease, "the heartbeat did not renew the lease"
        with database.session() as session:  # a moment the first lease alone had not covered
            assert repo.claim_scan(session, push, push.digest or "", lease, now=seen).status == (
                "busy"
            )
    last = lease_until()
    time.sleep(2 * lease.total_seconds())
    assert lease_until() == last  # the worker is gone: nobody renews
    with database.session() as session:  # so once the lease runs out, another may claim it
        after = last + timedelta(milliseconds=1)
        assert repo.claim_scan(session, push, push.digest or "", lease, now=after).status == (
            "claimed"
        )
