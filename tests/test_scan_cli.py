"""`tightship scan`: formats, exit codes, offline sources, and no secret in any output."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.demo import oci
from app.demo.registry import LocalRegistry
from tests.support import tars
from tests.support.gate import BlobGate
from tests.support.layout import docker_archive, oci_layout

SECRET_TOKEN = "ghp_" + "Zz9Yy8Xx7Ww6Vv5Uu4Tt3Ss2Rr1Qq0Pp9Oo8"
SECRET_PASSWORD = "correct-horse-battery-staple-42"
SECRET_KEY_BODY = "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZWQy"
PEM = f"-----BEGIN OPENSSH PRIVATE KEY-----\n{SECRET_KEY_BODY}\n-----END OPENSSH PRIVATE KEY-----\n"
PLANTED = (SECRET_TOKEN, SECRET_PASSWORD, SECRET_KEY_BODY)


def leaky_image() -> oci.Image:
    layers = [
        tars.oci_layer(
            [
                tars.file("etc/os-release", "ID=debian\nVERSION_ID=12\n"),
                tars.file("bin/sh", "\x7fELF"),
                tars.file("app/id_ed25519", PEM),
                tars.file("app/.env", f"DB_PASSWORD={SECRET_PASSWORD}\n"),
            ]
        ),
        tars.oci_layer([tars.file("app/config.txt", f"token={SECRET_TOKEN}\n")]),
        tars.oci_layer([tars.whiteout("app/id_ed25519")]),
    ]
    history = [
        {
            "created_by": f"RUN |1 GH_TOKEN={SECRET_TOKEN} /bin/sh -c make # buildkit",
            "comment": "buildkit.dockerfile.v0",
        },
        {"created_by": "COPY . /app # buildkit"},
        {"created_by": "RUN rm /app/id_ed25519 # buildkit"},
    ]
    img = oci.image(layers, user="", history=history)
    config = json.loads(img.config.data)
    config["config"]["Env"].append(f"API_TOKEN={SECRET_TOKEN}")
    config["config"]["Env"].append(f"DATABASE_PASSWORD={SECRET_PASSWORD}")
    return oci.Image(
        config=oci.Blob(oci.OCI_CONFIG, json.dumps(config).encode()), layers=img.layers
    )


def run_scan(*args: str, data: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "TIGHTSHIP_DATA_DIR": str(data),
        "HOME": str(data),
        "TIGHTSHIP_LOG_LEVEL": "DEBUG",
    }
    env.pop("DATABASE_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "app", "scan", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def pushed(registry: LocalRegistry) -> str:
    oci.Pusher(registry.url).image("acme/leaky", leaky_image(), tag="1.0")
    clean = oci.image([tars.oci_layer([tars.file("app/server", "\x7fELF")])], user="65532")
    oci.Pusher(registry.url).image("acme/clean", clean, tag="1.0")
    return registry.host


def test_table_json_and_sarif_never_show_a_planted_secret(pushed: str, tmp_path: Path) -> None:
    outputs = {}
    for output_format in ("table", "json", "sarif"):
        result = run_scan(f"{pushed}/acme/leaky:1.0", "--format", output_format, data=tmp_path)
        assert result.returncode == 1, result.stderr
        outputs[output_format] = result.stdout + result.stderr
    everything = "\n".join(outputs.values())
    for secret in PLANTED:
        assert secret not in everything
    # and not in the facts cache either
    for secret in PLANTED:
        assert secret.encode() not in (tmp_path / "tightship.db").read_bytes()
    report = json.loads(
        run_scan(f"{pushed}/acme/leaky:1.0", "--format", "json", data=tmp_path).stdout
    )
    rules = {f["rule"] for f in report["platforms"][0]["findings"]}
    assert {
        "secret-file",
        "secret-env",
        "secret-in-history",
        "secret-in-deleted-layer",
        "root-user",
        "shell",
    } <= rules


def test_json_is_the_documented_contract(pushed: str, tmp_path: Path) -> None:
    result = run_scan(f"{pushed}/acme/leaky:1.0", "--format", "json", data=tmp_path)
    report = json.loads(result.stdout)
    assert report["schema"] == "tightship.report/v1"
    assert report["reference"] == f"{pushed}/acme/leaky:1.0"
    [platform] = report["platforms"]
    assert set(platform) == {"platform", "digest", "user", "builder", "base", "source", "findings"}
    assert set(platform["builder"]) == {"kind", "tool", "version", "evidence"}
    assert set(platform["base"]) == {"distro", "version", "minimal", "name"}
    assert set(platform["findings"][0]) == {
        "rule",
        "severity",
        "title",
        "path",
        "layer",
        "evidence",
    }
    assert platform["builder"]["kind"] == "dockerfile"
    assert platform["base"] == {"distro": "debian", "version": "12", "minimal": False, "name": None}


def test_sarif_is_valid_2_1_0(pushed: str, tmp_path: Path) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema_path = Path(__file__).parent / "fixtures/sarif/sarif-schema-2.1.0.json"
    sarif = json.loads(
        run_scan(f"{pushed}/acme/leaky:1.0", "--format", "sarif", data=tmp_path).stdout
    )
    jsonschema.validate(sarif, json.loads(schema_path.read_text()))
    run = sarif["runs"][0]
    assert run["tool"]["driver"]["name"] == "Tightship"
    rule_ids = [r["id"] for r in run["tool"]["driver"]["rules"]]
    assert all(rule_ids[r["ruleIndex"]] == r["ruleId"] for r in run["results"])
    assert all(
        r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in run["results"]
    )


@pytest.mark.parametrize(
    ("ref", "fail_on", "code"),
    [
        ("acme/clean:1.0", "low", 0),
        ("acme/leaky:1.0", "critical", 1),
        ("acme/leaky:1.0", "high", 1),
    ],
)
def test_exit_codes(pushed: str, tmp_path: Path, ref: str, fail_on: str, code: int) -> None:
    assert run_scan(f"{pushed}/{ref}", "--fail-on", fail_on, data=tmp_path).returncode == code


def test_errors_exit_2_with_a_message(pushed: str, tmp_path: Path) -> None:
    for args, message in [
        (["Bad/Name"], "repository can only contain lower case"),
        ([f"{pushed}/acme/missing:1"], "answered 404"),
        (["oci-layout:/nonexistent"], "neither an OCI layout"),
        ([f"{pushed}/acme/clean:1.0", "--ignore", "nope"], "unknown rule 'nope'"),
    ]:
        result = run_scan(*args, data=tmp_path)
        assert result.returncode == 2 and message in result.stderr, result.stderr
        assert "Traceback" not in result.stderr


def test_a_layer_download_that_breaks_off_exits_2_not_1(
    registry: LocalRegistry, tmp_path: Path
) -> None:
    """A dropped connection is no finding (``unreadable-layer``, exit 1) and leaves nothing in
    the facts cache: the next run reads the layer and reports what it holds."""
    img = oci.image([tars.oci_layer([tars.file("app/server", "\x7fELF" + "cut" * 2000)])], user="1")
    oci.Pusher(registry.url).image("acme/cut", img, tag="1")
    with BlobGate(registry.url) as gate:
        ref = f"{gate.url.removeprefix('http://')}/acme/cut:1"
        with gate.cutting(img.layers[0].blob.digest):
            broken = run_scan(ref, data=tmp_path)
        assert broken.returncode == 2, broken.stderr
        assert f"layer {img.layers[0].blob.digest}: the download broke off" in broken.stderr
        assert "Traceback" not in broken.stderr
        again = run_scan(ref, "--format", "json", data=tmp_path)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["platforms"][0]["findings"] == []


def test_ignore_drops_findings(pushed: str, tmp_path: Path) -> None:
    result = run_scan(
        f"{pushed}/acme/leaky:1.0",
        "--format",
        "json",
        "--ignore",
        "secret-file",
        "--ignore",
        "shell:/bin/*",
        data=tmp_path,
    )
    rules = {f["rule"] for f in json.loads(result.stdout)["platforms"][0]["findings"]}
    assert "secret-file" not in rules and "shell" not in rules and "secret-env" in rules


def test_offline_oci_layout_and_docker_archive(tmp_path: Path) -> None:
    img = leaky_image()
    layout = oci_layout(tmp_path / "layout", img)
    archive = docker_archive(tmp_path / "image.tar", img)
    for ref in (f"oci-layout:{layout}", f"docker-archive:{archive}"):
        result = run_scan(ref, "--format", "json", data=tmp_path / "data")
        assert result.returncode == 1, result.stderr
        assert result.stdout, f"{ref}: no report; stderr:\n{result.stderr[-3000:]}"
        report = json.loads(result.stdout)
        rules = {f["rule"] for f in report["platforms"][0]["findings"]}
        assert {"secret-file", "secret-in-deleted-layer", "root-user"} <= rules, ref
    tampered = tmp_path / "layout" / "blobs" / "sha256" / img.layers[1].blob.digest.split(":")[1]
    data = bytearray(tampered.read_bytes())
    data[len(data) // 2] ^= 0xFF
    tampered.write_bytes(bytes(data))
    result = run_scan(f"oci-layout:{layout}", "--no-cache", data=tmp_path / "data2")
    assert result.returncode == 2 and "content has digest" in result.stderr


def test_webhook_path_logs_and_store_hold_no_planted_secret(
    registry: LocalRegistry, make_settings, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from datetime import UTC, datetime

    from app.jobs.pipeline import process_event
    from app.models import PushEvent
    from app.store import repo
    from app.store.db import Database

    caplog.set_level(logging.DEBUG)
    digest = oci.Pusher(registry.url).image("acme/leaky", leaky_image(), tag="1.0")
    settings = make_settings(
        registries=[
            {
                "name": "local",
                "sender": "distribution",
                "url": registry.url,
                "webhook": {"token": "t"},
            }
        ]
    )
    db = Database(settings.database_url)
    db.migrate()
    event = PushEvent(
        "local",
        "distribution",
        registry.host,
        "acme/leaky",
        digest,
        "1.0",
        oci.OCI_MANIFEST,
        "e1",
        datetime.now(UTC),
    )
    with db.session() as session:
        [event_id] = repo.record_events(session, [event]).queued
    process_event(settings, db, event_id)
    db.dispose()
    stored = Path(settings.database_url.removeprefix("sqlite:///")).read_bytes()
    logs = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    for secret in PLANTED:
        assert secret.encode() not in stored
        assert secret not in logs
    assert b"secret-in-deleted-layer" in stored


def test_scan_uses_docker_config_credentials(tmp_path: Path) -> None:
    import base64

    import bcrypt

    htpasswd = tmp_path / "htpasswd"
    htpasswd.write_text(f"ci:{bcrypt.hashpw(b'pw-123456', bcrypt.gensalt(rounds=4)).decode()}\n")
    with LocalRegistry(tmp_path / "reg", htpasswd=htpasswd) as locked:
        pusher = oci.Pusher(locked.url)
        pusher.session.auth = ("ci", "pw-123456")
        pusher.image(
            "acme/private", oci.image([tars.oci_layer([tars.file("a", "b")])], user="1"), tag="1"
        )
        denied = run_scan(f"{locked.host}/acme/private:1", data=tmp_path / "d1")
        assert denied.returncode == 2 and "wants credentials" in denied.stderr
        docker = tmp_path / "d2" / ".docker"
        docker.mkdir(parents=True)
        auth = base64.b64encode(b"ci:pw-123456").decode()
        (docker / "config.json").write_text(json.dumps({"auths": {locked.host: {"auth": auth}}}))
        allowed = run_scan(f"{locked.host}/acme/private:1", data=tmp_path / "d2")
        assert allowed.returncode == 0, allowed.stderr


def test_a_corrupt_docker_archive_is_an_error_not_a_traceback(tmp_path: Path) -> None:
    broken = tmp_path / "image.tar"
    broken.write_bytes(b"this is not a tar archive" * 100)
    result = run_scan(f"docker-archive:{broken}", data=tmp_path / "data")
    assert result.returncode == 2 and "not a readable tar archive" in result.stderr
    assert "Traceback" not in result.stderr
