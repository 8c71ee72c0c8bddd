"""The gate passes a real registry's answers through unchanged and holds only the named blob."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
import requests

from app.demo import oci
from app.demo.registry import LocalRegistry
from tests.support.gate import BlobGate

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def pushed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[BlobGate, oci.Image]]:
    image = oci.image([oci.layer({"a": b"held"}), oci.layer({"b": b"free"})])
    with LocalRegistry(tmp_path_factory.mktemp("registry")) as registry:
        oci.Pusher(registry.url).image("acme/gate", image, tag="1")
        with BlobGate(registry.url) as gate:
            yield gate, image


def blob(gate: BlobGate, digest: str) -> requests.Response:
    return requests.get(f"{gate.url}/v2/acme/gate/blobs/{digest}", timeout=10)


def test_answers_pass_through_byte_for_byte(pushed: tuple[BlobGate, oci.Image]) -> None:
    gate, image = pushed
    manifest = requests.get(
        f"{gate.url}/v2/acme/gate/manifests/1",
        headers={"Accept": oci.OCI_MANIFEST},
        timeout=10,
    )
    assert manifest.content == image.manifest.data
    assert blob(gate, image.layers[0].blob.digest).content == image.layers[0].blob.data
    missing = blob(gate, "sha256:" + "0" * 64)
    assert missing.status_code == 404


def test_a_held_blob_waits_for_release_while_others_pass(
    pushed: tuple[BlobGate, oci.Image],
) -> None:
    gate, image = pushed
    held, free = (layer.blob for layer in image.layers)
    answers: list[bytes] = []
    with gate.holding(held.digest) as asked:
        fetch = threading.Thread(target=lambda: answers.append(blob(gate, held.digest).content))
        fetch.start()
        assert asked.wait(10)
        assert blob(gate, free.digest).content == free.data  # only the named blob is held
        fetch.join(timeout=0.5)
        assert fetch.is_alive() and answers == []
    fetch.join(timeout=10)
    assert answers == [held.data]


def test_a_cut_blob_is_announced_whole_and_broken_off_halfway(
    pushed: tuple[BlobGate, oci.Image],
) -> None:
    gate, image = pushed
    cut, free = (layer.blob for layer in image.layers)
    with gate.cutting(cut.digest):
        assert blob(gate, free.digest).content == free.data  # only the named blob is cut
        with pytest.raises(requests.exceptions.ChunkedEncodingError, match="IncompleteRead"):
            blob(gate, cut.digest)
    assert blob(gate, cut.digest).content == cut.data
