"""Chat hears what changed for a tag, once: new findings, a fix branch or PR, findings gone.
Against the real registry and store, through the pipeline."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from app.demo import oci
from app.demo.chat import ChatReceiver
from app.demo.registry import LocalRegistry
from app.jobs.pipeline import process_event
from app.models import Finding, PushEvent, Severity
from app.store import history, repo
from app.store.db import Database
from tests.support.git import make_repo

POM = (Path(__file__).parents[2] / "app/demo/sample/pom.xml").read_text()
SOURCE = "https://github.com/acme/orders"


@pytest.fixture
def push(
    tmp_path: Path, registry: LocalRegistry, make_settings
) -> Iterator[tuple[Callable[..., list[dict]], ChatReceiver]]:
    make_repo(tmp_path / "repos", "acme/orders", {"pom.xml": POM})
    with ChatReceiver() as chat:
        settings = make_settings(
            registries=[
                {"name": "local", "sender": "distribution", "url": registry.url,
                 "webhook": {"token": "t"}}
            ],
            scm={"local": {"root": str(tmp_path / "repos")}},
            notify=[{"type": "webhook", "url": chat.url, "secret": "s"}],
        )  # fmt: skip
        db = Database(settings.database_url)
        db.migrate()
        pusher = oci.Pusher(registry.url)
        deliveries = iter(range(1000))

        def run(image: oci.Image | str, tag: str = "1.0") -> list[dict]:
            """Push (or name a pushed digest), process, and return the messages it caused."""
            digest = image if isinstance(image, str) else pusher.image("acme/orders", image, tag)
            event = PushEvent(
                "local", "distribution", registry.host, "acme/orders", digest, tag,
                oci.OCI_MANIFEST, f"d{next(deliveries)}", datetime.now(UTC),
            )  # fmt: skip
            with db.session() as session:
                queued = repo.record_events(session, [event]).queued  # none for a redelivery
            seen = len(chat.messages)
            for event_id in queued:
                process_event(settings, db, event_id)
            return [m["body"] for m in chat.messages[seen:]]

        yield run, chat
        db.dispose()


def root(app: bytes) -> oci.Image:
    return oci.jib_image(source=SOURCE, app=app)


def test_each_change_is_told_once_and_nothing_else(push) -> None:
    run, _chat = push
    [first] = run(root(b"one"))
    assert (first["kind"], first["events"]) == ("findings", ["findings", "pr"])
    assert [f["rule"] for f in first["findings"]] == ["root-user"]

    assert run(root(b"one")) == []  # the same digest again
    assert run(root(b"one"), tag="stable") == []  # the same digest under another tag
    assert run(root(b"two")) == []  # a rebuild with the same findings; the branch is unchanged

    [fixed] = run(oci.jib_image(user="65532:65532", source=SOURCE, app=b"three"))
    assert (fixed["kind"], fixed["events"]) == ("fixed", ["fixed"])
    assert [f["rule"] for f in fixed["fixed"]] == ["root-user"] and fixed["findings"] == []

    [again] = run(root(b"four"))
    assert again["kind"] == "findings"
    assert [(f["rule"], f["status"]) for f in again["findings"]] == [("root-user", "new")]

    assert run(root(b"five"), tag="1.1") == []  # a new version tag with the same findings


def test_a_clean_first_push_says_nothing(push) -> None:
    run, chat = push
    assert run(oci.jib_image(user="65532:65532", app=b"clean")) == []
    assert chat.messages == []


def test_a_multi_platform_push_is_told_once(push, registry: LocalRegistry) -> None:
    run, _chat = push
    amd64 = root(b"amd64")
    arm64 = oci.image(list(amd64.layers), user="", architecture="arm64")
    platforms = {"linux/amd64": amd64, "linux/arm64": arm64}
    index = oci.Pusher(registry.url).index("acme/orders", platforms, "multi")
    [told] = run(index, tag="multi")
    assert told["kind"] == "findings" and len(told["findings"]) == 1


def test_a_rescan_compares_with_the_findings_it_had(settings) -> None:
    db = Database(settings.database_url)
    db.migrate()
    kept, gone, appeared = (
        Finding(rule, Severity.HIGH, "t", "e", f"/{rule}", layer=f"sha256:{rule}")
        for rule in ("kept", "gone", "appeared")
    )
    rebuilt = Finding("kept", Severity.HIGH, "t", "e", "/kept", layer="sha256:other-layer")
    with db.session() as session:
        change = history.change(
            session, "local", "acme/orders", "1.0", "sha256:" + "1" * 64, 1,
            (rebuilt, appeared), previous=(kept, gone),
        )  # fmt: skip
    db.dispose()
    assert (change.new, change.fixed, change.first) == ((appeared,), (gone,), False)
