"""Credentials from where crane reads them: DOCKER_CONFIG, auths, credHelpers, credsStore."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import pytest

from app.registry.credentials import Credentials, CredentialsError, lookup


def write_config(directory: Path, config: dict) -> dict[str, str]:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.json").write_text(json.dumps(config))
    return {"DOCKER_CONFIG": str(directory), "PATH": os.environ.get("PATH", "")}


def helper(bin_dir: Path, name: str, script: str) -> None:
    bin_dir.mkdir(parents=True, exist_ok=True)
    path = bin_dir / f"docker-credential-{name}"
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(0o755)


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_auths_forms(tmp_path: Path) -> None:
    env = write_config(
        tmp_path / "d",
        {
            "auths": {
                "reg.example.com": {"auth": b64("me:pw:with:colons")},
                "https://other.example.com/v1/": {"username": "u", "password": "p"},
                "https://index.docker.io/v1/": {"auth": b64("hub:hubpw")},
                "tok.example.com": {"identitytoken": "refresh-token"},
            }
        },
    )
    assert lookup("reg.example.com", env) == Credentials("me", "pw:with:colons")
    assert lookup("other.example.com", env) == Credentials("u", "p")
    assert lookup("index.docker.io", env) == Credentials("hub", "hubpw")
    assert lookup("tok.example.com", env) == Credentials("<token>", "refresh-token")
    assert lookup("unknown.example.com", env) is None
    assert "pw" not in repr(lookup("reg.example.com", env))


def test_cred_helpers_win_then_creds_store(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    helper(
        bin_dir,
        "pass",
        'read server; echo "{\\"Username\\":\\"h-$server\\",\\"Secret\\":\\"s\\"}"\n',
    )
    helper(
        bin_dir,
        "store",
        'read server; if [ "$server" = "stored.example.com" ]; then '
        'echo "{\\"Username\\":\\"st\\",\\"Secret\\":\\"x\\"}"; else '
        'echo "credentials not found in native keychain"; exit 1; fi\n',
    )
    env = write_config(
        tmp_path / "d",
        {
            "credHelpers": {"gcr.io": "pass"},
            "credsStore": "store",
            "auths": {
                "gcr.io": {"auth": b64("ignored:x")},
                "plain.example.com": {"auth": b64("p:q")},
            },
        },
    )
    env["PATH"] = f"{bin_dir}:{env['PATH']}"
    assert lookup("gcr.io", env) == Credentials("h-gcr.io", "s")
    assert lookup("stored.example.com", env) == Credentials("st", "x")
    assert lookup("plain.example.com", env) == Credentials("p", "q")  # store: not found → auths
    assert lookup("nowhere.example.com", env) is None


def test_broken_sources_are_clear_errors(tmp_path: Path) -> None:
    env = write_config(tmp_path / "a", {"credHelpers": {"gcr.io": "missing"}})
    with pytest.raises(CredentialsError, match="docker-credential-missing is not on PATH"):
        lookup("gcr.io", env)
    env = write_config(tmp_path / "b", {"auths": {"r.example.com": {"auth": "!!!"}}})
    with pytest.raises(CredentialsError, match="not base64"):
        lookup("r.example.com", env)
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "config.json").write_text("{nope")
    with pytest.raises(CredentialsError, match="cannot read docker config"):
        lookup("r.example.com", {"DOCKER_CONFIG": str(tmp_path / "c")})
    assert lookup("r.example.com", {"DOCKER_CONFIG": str(tmp_path / "none")}) is None


def test_default_location_is_home_dot_docker(tmp_path: Path) -> None:
    write_config(tmp_path / ".docker", {"auths": {"r.example.com": {"auth": b64("a:b")}}})
    assert lookup("r.example.com", {"HOME": str(tmp_path)}) == Credentials("a", "b")
