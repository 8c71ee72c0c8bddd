"""Registry credentials from where crane and docker read them.

``$DOCKER_CONFIG/config.json`` (default ``~/.docker/config.json``): ``credHelpers`` for the
host first, then ``credsStore``, then ``auths`` (``auth`` as base64 ``user:password``, or
``username``/``password``, or an ``identitytoken``). Helpers are run as
``docker-credential-<name> get`` with the server on stdin, as the docker CLI does.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.registry.reference import DEFAULT_REGISTRY

DOCKER_HUB_KEY = "https://index.docker.io/v1/"  # how docker login names Docker Hub
HELPER_TIMEOUT = 20.0


class CredentialsError(Exception):
    """A credential source is configured but failed; the message never holds the secret."""


@dataclass(frozen=True, slots=True)
class Credentials:
    username: str
    password: str

    def __repr__(self) -> str:  # never show the secret, even in a traceback
        return f"Credentials(username={self.username!r}, password=<redacted>)"


def config_path(env: dict[str, str] | None = None) -> Path:
    env = dict(os.environ) if env is None else env
    directory = env.get("DOCKER_CONFIG") or str(Path(env.get("HOME", "~")).expanduser() / ".docker")
    return Path(directory) / "config.json"


def _host_of(key: str) -> str:
    """auths keys may be URLs (https://host/v1/); compare by host, as docker does."""
    key = key.removeprefix("https://").removeprefix("http://")
    return key.split("/", 1)[0]


def _server_key(registry: str) -> str:
    return DOCKER_HUB_KEY if registry == DEFAULT_REGISTRY else registry


def lookup(registry: str, env: dict[str, str] | None = None) -> Credentials | None:
    """Credentials for ``registry`` (a host[:port]), or None for anonymous access."""
    path = config_path(env)
    try:
        config: Any = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise CredentialsError(f"{path}: cannot read docker config: {type(exc).__name__}") from None
    if not isinstance(config, dict):
        raise CredentialsError(f"{path}: not a JSON object")
    hosts = {registry, "docker.io"} if registry == DEFAULT_REGISTRY else {registry}
    helpers = config.get("credHelpers") if isinstance(config.get("credHelpers"), dict) else {}
    for key, helper in helpers.items():
        if _host_of(key) in hosts and isinstance(helper, str):
            return _from_helper(helper, _server_key(registry), env)
    if isinstance(config.get("credsStore"), str) and config["credsStore"]:
        found = _from_helper(config["credsStore"], _server_key(registry), env)
        if found is not None:
            return found
    auths = config.get("auths") if isinstance(config.get("auths"), dict) else {}
    for key, entry in auths.items():
        if _host_of(key) in hosts and isinstance(entry, dict):
            return _from_auth_entry(entry, path)
    return None


def _from_auth_entry(entry: dict[str, Any], path: Path) -> Credentials | None:
    if entry.get("identitytoken"):
        return Credentials("<token>", str(entry["identitytoken"]))
    if entry.get("auth"):
        try:
            decoded = base64.b64decode(str(entry["auth"]), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise CredentialsError(f"{path}: an auths entry is not base64 user:password") from None
        username, colon, password = decoded.partition(":")
        if not colon:
            raise CredentialsError(f"{path}: an auths entry is not base64 user:password")
        return Credentials(username, password)
    if entry.get("username") and entry.get("password"):
        return Credentials(str(entry["username"]), str(entry["password"]))
    return None


def _from_helper(helper: str, server: str, env: dict[str, str] | None) -> Credentials | None:
    program = f"docker-credential-{helper}"
    path = (env or os.environ).get("PATH")
    executable = shutil.which(program, path=path)
    if executable is None:
        raise CredentialsError(f"credential helper {program} is not on PATH")
    try:
        result = subprocess.run(
            [executable, "get"],
            input=server.encode(),
            capture_output=True,
            timeout=HELPER_TIMEOUT,
            env=dict(os.environ) if env is None else env,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise CredentialsError(f"{program} did not answer within {HELPER_TIMEOUT}s") from None
    if result.returncode != 0:
        # "credentials not found" is how helpers say "anonymous"; anything else is a failure.
        if b"not found" in result.stdout.lower() + result.stderr.lower():
            return None
        raise CredentialsError(f"{program} get failed with exit code {result.returncode}")
    try:
        answer = json.loads(result.stdout)
        return Credentials(str(answer["Username"]), str(answer["Secret"]))
    except (ValueError, KeyError, TypeError):
        raise CredentialsError(f"{program} get did not answer with Username and Secret") from None
