"""deploy/: the image's Dockerfile and build context, the Kubernetes base and the compose file.

Nothing here can build an image or start a cluster, so the files are checked for what makes
them work and keeps them tight: every YAML document parses; the Deployments have the replicas,
probes, strategy, Secret references and securityContext the operations guide promises; the
config the ConfigMap is made from is one Tightship accepts and binds where the probes look;
compose wires the registry's notifications to web's webhook; hadolint and Tightship's own
Dockerfile fixer find nothing in the Dockerfile; and the .dockerignore lets only the package in.
"""

from __future__ import annotations

import json
import os
import posixpath
import re
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import dockerfile as buildkit
import pytest
from ruamel.yaml import YAML

from app.analysis import secrets
from app.config import _VAR, load_settings
from app.remediation import dockerfile, dockerignore
from tests.remediation.support import context, finding

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
KUBE = DEPLOY / "kubernetes"
DOCKERFILE = DEPLOY / "Dockerfile"
COMPOSE = DEPLOY / "compose.yaml"
HADOLINT = Path(sys.executable).parent / "hadolint"
UID = 65532
DISTROLESS = "gcr.io/distroless/python3-debian13:nonroot"
# What the processes read from the Secret: the queue and store URLs carry passwords.
SECRET_KEYS = {
    "DATABASE_URL",
    "REDIS_URL",
    "LOCAL_REGISTRY_TOKEN",
    "GITHUB_TOKEN",
    "SLACK_WEBHOOK_URL",
}
PROCESSES = {"web", "worker", "clock"}


def load_all(path: Path) -> list[Any]:
    return [doc for doc in YAML(typ="safe").load_all(path.read_text()) if doc is not None]


def yaml_files() -> list[Path]:
    return sorted(p for p in DEPLOY.rglob("*") if p.suffix in (".yaml", ".yml"))


@pytest.fixture(scope="module")
def kustomization() -> dict[str, Any]:
    [doc] = load_all(KUBE / "kustomization.yaml")
    return doc


@pytest.fixture(scope="module")
def resources(kustomization: dict[str, Any]) -> list[dict[str, Any]]:
    docs = []
    for name in kustomization["resources"]:
        docs += load_all(KUBE / name)
    return docs


@pytest.fixture(scope="module")
def deployments(resources: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    found = {
        d["metadata"]["name"].removeprefix("tightship-"): d
        for d in resources
        if d["kind"] == "Deployment"
    }
    assert set(found) == PROCESSES
    return found


@pytest.fixture(scope="module")
def config_file(kustomization: dict[str, Any]) -> Path:
    [generator] = kustomization["configMapGenerator"]
    [entry] = generator["files"]
    return KUBE / entry.split("=", 1)[-1]  # "key=path" or "path"


def dummy_env() -> dict[str, str]:
    return {
        "DATABASE_URL": "postgresql://tightship:pw@postgres/tightship",
        "REDIS_URL": "redis://redis:6379/0",
        "LOCAL_REGISTRY_TOKEN": "token-for-the-test",
        "GITHUB_TOKEN": "github-token-for-the-test",
        "SLACK_WEBHOOK_URL": "https://chat.invalid/hook",
    }


def required_vars(path: Path) -> set[str]:
    """The ${VAR}s in a config file's values without a default: start-up fails without them."""

    def strings(value: Any) -> list[str]:
        if isinstance(value, dict):
            return [s for v in value.values() for s in strings(v)]
        if isinstance(value, list):
            return [s for v in value for s in strings(v)]
        return [value] if isinstance(value, str) else []

    [doc] = load_all(path)
    return {m["name"] for s in strings(doc) for m in _VAR.finditer(s) if m["default"] is None}


def interpolated(value: str) -> str:
    """A compose value with every ${VAR…} replaced, as compose would, by a plain word."""
    return re.sub(r"\$\{[^}]*\}", "value", value)


def container(deployment: dict[str, Any]) -> dict[str, Any]:
    [only] = deployment["spec"]["template"]["spec"]["containers"]
    return only


def env_of(item: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in item.get("env", [])}


def port_number(item: dict[str, Any], port: int | str) -> int:
    if isinstance(port, int):
        return port
    [number] = [p["containerPort"] for p in item["ports"] if p["name"] == port]
    return number


# --- every YAML file ----------------------------------------------------------------------


@pytest.mark.parametrize("path", yaml_files(), ids=lambda p: str(p.relative_to(DEPLOY)))
def test_every_yaml_document_parses(path: Path) -> None:
    docs = load_all(path)
    assert docs and all(isinstance(d, dict) for d in docs)


@pytest.mark.parametrize(
    "path", sorted(p for p in DEPLOY.rglob("*") if p.is_file()), ids=lambda p: p.name
)
def test_no_secret_is_committed(path: Path) -> None:
    relative = str(path.relative_to(ROOT))
    assert secrets.in_file(relative, path.read_bytes()) == []
    for doc in load_all(path) if path.suffix in (".yaml", ".yml") else []:
        assert doc.get("kind") != "Secret", f"{relative}: Secrets are created by the operator"


# --- Kubernetes ---------------------------------------------------------------------------


def test_kustomization_resources_and_config_generator(
    kustomization: dict[str, Any], config_file: Path
) -> None:
    for name in kustomization["resources"]:
        assert (KUBE / name).is_file(), name
    [generator] = kustomization["configMapGenerator"]
    assert generator["name"] == "tightship-config"
    # kustomize's default load restrictor only reads files inside the kustomization directory.
    assert config_file.is_file()
    assert config_file.resolve().is_relative_to(KUBE.resolve())
    assert [i["name"] for i in kustomization["images"]] == ["tightship"]


def test_the_config_is_one_tightship_starts_with(config_file: Path) -> None:
    settings = load_settings(config_file, env=dummy_env())
    assert settings.server.host == "0.0.0.0"  # noqa: S104 (reachable by the probes and the Service)
    assert str(settings.data_dir) == "/var/lib/tightship"
    assert settings.scm.provider == "github"  # the image has no git for the local provider
    assert settings.storage.database_url == dummy_env()["DATABASE_URL"]
    assert settings.storage.redis_url == dummy_env()["REDIS_URL"]
    assert required_vars(config_file) <= SECRET_KEYS


def test_gunicorn_binds_where_the_probes_and_the_service_look(
    config_file: Path, deployments: dict[str, dict[str, Any]], resources: list[dict[str, Any]]
) -> None:
    env = {**os.environ, **dummy_env(), "TIGHTSHIP_CONFIG": str(config_file)}
    env.pop("PORT", None)
    bind = subprocess.run(
        [sys.executable, "-c", "import app.gunicorn_conf as c; print(c.bind)"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.strip()
    web = container(deployments["web"])
    port = port_number(web, "http")
    assert bind == f"0.0.0.0:{port}"
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert port_number(web, web[probe]["httpGet"]["port"]) == port
    [service] = [r for r in resources if r["kind"] == "Service"]
    assert port_number(web, service["spec"]["ports"][0]["targetPort"]) == port
    labels = deployments["web"]["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()


def test_web_worker_and_clock(deployments: dict[str, dict[str, Any]]) -> None:
    web, worker, clock = (deployments[n] for n in ("web", "worker", "clock"))
    assert web["spec"]["replicas"] == 2
    assert worker["spec"]["replicas"] >= 2
    assert clock["spec"]["replicas"] == 1
    assert clock["spec"]["strategy"]["type"] == "Recreate"  # never two clocks at once
    probes = container(web)
    assert probes["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert probes["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert probes["startupProbe"]["httpGet"]["path"] == "/healthz"
    assert container(web)["command"] == ["/venv/bin/python3", "-m", "gunicorn"]
    assert container(web)["args"] == ["-c", "python:app.gunicorn_conf", "app:create_app()"]
    assert container(worker)["args"][0] == "worker"
    assert container(clock)["args"] == ["clock"]
    for deployment in deployments.values():
        selector = deployment["spec"]["selector"]["matchLabels"]
        assert selector.items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
        assert container(deployment)["image"] == "tightship"


@pytest.mark.parametrize("process", sorted(PROCESSES))
def test_security_context(deployments: dict[str, dict[str, Any]], process: str) -> None:
    pod = deployments[process]["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False
    for level in (pod["securityContext"], container(deployments[process])["securityContext"]):
        assert level["runAsNonRoot"] is True
        assert level["runAsUser"] == UID and isinstance(level["runAsUser"], int)
        assert level["runAsGroup"] == UID and isinstance(level["runAsGroup"], int)
        assert level["seccompProfile"] == {"type": "RuntimeDefault"}
    own = container(deployments[process])["securityContext"]
    assert own["readOnlyRootFilesystem"] is True
    assert own["allowPrivilegeEscalation"] is False
    assert own.get("privileged", False) is False
    assert own["capabilities"] == {"drop": ["ALL"]}


@pytest.mark.parametrize("process", sorted(PROCESSES))
def test_secrets_config_and_writable_paths(
    deployments: dict[str, dict[str, Any]], config_file: Path, process: str
) -> None:
    pod = deployments[process]["spec"]["template"]["spec"]
    item = container(deployments[process])
    env = env_of(item)
    # Every secret comes from the Secret by reference, and every variable the config needs is set.
    for name in SECRET_KEYS:
        assert "value" not in env[name], name
        assert env[name]["valueFrom"]["secretKeyRef"] == {"name": "tightship-secrets", "key": name}
    for name, entry in env.items():
        if secrets.secret_name(name) or name.endswith("_URL"):
            assert "valueFrom" in entry, f"{name} must come from the Secret"
    assert required_vars(config_file) <= set(env)
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: m for m in item["volumeMounts"]}
    # The config file is the generated ConfigMap, mounted where TIGHTSHIP_CONFIG points.
    config_path = env["TIGHTSHIP_CONFIG"]["value"]
    config_mount = mounts[posixpath.dirname(config_path)]
    assert config_mount["readOnly"] is True
    assert volumes[config_mount["name"]]["configMap"]["name"] == "tightship-config"
    assert posixpath.basename(config_path) == config_file.name
    # A read-only root: what must be written is an emptyDir (the data dir and /tmp).
    data_dir = env["TIGHTSHIP_DATA_DIR"]["value"]
    assert str(load_settings(config_file, env=dummy_env()).data_dir) == data_dir
    for path in (data_dir, "/tmp"):
        assert "emptyDir" in volumes[mounts[path]["name"]], path
    resources = item["resources"]
    for kind in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(resources[kind]), (process, kind)


# --- compose ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    [doc] = load_all(COMPOSE)
    return doc


def test_compose_runs_the_distributed_setup(compose: dict[str, Any], config_file: Path) -> None:
    services = compose["services"]
    assert {"web", "worker", "clock", "postgres", "redis", "registry"} <= set(services)
    assert services["worker"]["deploy"]["replicas"] == 2
    assert services["worker"]["command"][0] == "worker"
    assert services["clock"]["command"] == ["clock"]
    assert services["web"]["command"] == ["-c", "python:app.gunicorn_conf", "app:create_app()"]
    for name in PROCESSES:
        service = services[name]
        env = service["environment"]
        database, queue = (urlsplit(interpolated(env[k])) for k in ("DATABASE_URL", "REDIS_URL"))
        assert database.scheme == "postgresql" and database.hostname == "postgres"
        assert queue.scheme == "redis" and queue.hostname == "redis"
        assert required_vars(config_file) <= set(env)
        # the same config file as the ConfigMap, where TIGHTSHIP_CONFIG points
        mounts = [v.split(":") for v in service["volumes"]]
        [(source, _target, mode)] = [m for m in mounts if m[1] == env["TIGHTSHIP_CONFIG"]]
        assert (COMPOSE.parent / source).resolve() == config_file.resolve() and mode == "ro"
        assert service["read_only"] is True and service["cap_drop"] == ["ALL"]
        assert service["build"] == {"context": "..", "dockerfile": "deploy/Dockerfile"}
        assert (COMPOSE.parent / service["build"]["context"] / "deploy/Dockerfile").is_file()
        assert {"migrate", "redis"} <= set(service["depends_on"])


def test_compose_keeps_secrets_in_the_environment(compose: dict[str, Any]) -> None:
    from_env = re.compile(r"^\$\{[A-Z_]+:\?[^}]*\}$")
    for name, service in compose["services"].items():
        for key, value in (service.get("environment") or {}).items():
            value = str(value)
            if key in SECRET_KEYS - {"DATABASE_URL", "REDIS_URL"} or secrets.secret_name(key):
                assert from_env.match(value), f"{name}: {key} must come from the environment"
            credential = re.search(r"://[^/@:]+:([^@]*)@", value)
            if credential:
                assert from_env.match(credential[1]), f"{name}: {key} holds a password"


def test_registry_notifications_go_to_the_web_webhook(
    compose: dict[str, Any], config_file: Path
) -> None:
    registry = compose["services"]["registry"]
    assert registry["image"].startswith("registry:2")
    # deploy/registry/config.yml is mounted where Distribution reads its config ...
    [mount] = [
        v for v in registry["volumes"] if v.split(":")[1] == "/etc/docker/registry/config.yml"
    ]
    source = (COMPOSE.parent / mount.split(":")[0]).resolve()
    assert source == (DEPLOY / "registry" / "config.yml").resolve()
    [file_config] = load_all(source)
    # ... and its endpoint list is replaced through the environment (parsed as YAML by
    # Distribution) so that it names the web service instead of 127.0.0.1.
    endpoints = YAML(typ="safe").load(registry["environment"]["REGISTRY_NOTIFICATIONS_ENDPOINTS"])
    [endpoint] = endpoints
    url = urlsplit(endpoint["url"])
    settings = load_settings(config_file, env=dummy_env())
    assert url.hostname == "web" and url.port == settings.server.port
    assert url.path.startswith("/webhooks/")
    sender = settings.registry(url.path.removeprefix("/webhooks/"))
    assert sender is not None and sender.sender == "distribution"
    assert urlsplit(sender.url).hostname == "registry"  # web pulls from the same registry
    [authorization] = endpoint["headers"]["Authorization"]
    assert authorization.startswith("Bearer ${LOCAL_REGISTRY_TOKEN")
    assert "${LOCAL_REGISTRY_TOKEN}" in config_file.read_text()  # the token web checks
    # Distribution 2.8 applies ignore.actions only with a media type listed: the file's block.
    [file_endpoint] = file_config["notifications"]["endpoints"]
    assert endpoint["ignore"] == file_endpoint["ignore"]
    assert endpoint["ignore"]["mediatypes"]
    assert urlsplit(file_endpoint["url"]).path == url.path
    assert compose["services"]["web"]["ports"] and "registry" in compose["volumes"]


# --- the image ----------------------------------------------------------------------------


def test_hadolint_finds_nothing() -> None:
    result = subprocess.run(
        [str(HADOLINT), "-f", "json", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert json.loads(result.stdout) == [], result.stdout
    assert result.returncode == 0


def test_tightships_dockerfile_fixer_changes_nothing() -> None:
    files = {
        "deploy/Dockerfile": DOCKERFILE.read_text(),
        ".dockerignore": (ROOT / ".dockerignore").read_text(),
    }
    rules = ("root-user", "non-numeric-user", "non-minimal-base", "shell", "package-manager")
    ctx = context(files, *rules, kind="dockerfile", tool="buildkit", root="deploy")
    assert dockerfile.applies(ctx)
    result = dockerfile.fix(ctx)
    assert result.edits == ()
    assert set(result.fixed) == set(rules)  # already so: distroless, numeric non-root USER
    # Nothing of the build context reaches the final stage, so there is nothing to ignore.
    leaks = (finding("vcs-directory", "/.git"), finding("build-files", evidence="Dockerfile"))
    ctx = context(files, *leaks, kind="dockerfile", tool="buildkit", root="deploy")
    assert dockerfile.fix(ctx).edits == ()


def stages() -> list[tuple[str, list[Any]]]:
    result: list[tuple[str, list[Any]]] = []
    for command in buildkit.parse_string(DOCKERFILE.read_text()):
        if command.cmd.upper() == "FROM":
            result.append((command.value[0], []))
        else:
            result[-1][1].append(command)
    return result


def test_final_stage_is_distroless_with_a_venv_made_against_debians_python() -> None:
    *builders, (final_base, final) = stages()
    assert final_base == DISTROLESS
    [(build_base, build)] = builders
    # The venv's python3 links to the interpreter that made it: Debian's /usr/bin/python3,
    # which distroless python3-debian13 has (python:3.13 images keep theirs in /usr/local).
    assert build_base.startswith("debian:trixie")
    script = " ".join(" ".join(c.value) for c in build if c.cmd.upper() == "RUN")
    assert "python3-venv" in script and "python3 -m venv /venv" in script
    assert "--no-cache-dir" in script and "pip uninstall --yes pip" in script
    # Only the venv and the empty data directory cross over; never the build context.
    copies = [c for c in final if c.cmd.upper() == "COPY"]
    assert copies and all("--from=build" in c.flags for c in copies)
    assert {c.value[0] for c in copies} == {"/venv", "/data"}
    [user] = [c.value[0] for c in final if c.cmd.upper() == "USER"]
    assert user == f"{UID}:{UID}"
    for keyword in ("ENTRYPOINT", "CMD"):
        [instruction] = [c for c in final if c.cmd.upper() == keyword]
        assert instruction.json, f"{keyword} must be exec form: distroless has no shell"
    [entrypoint] = [c.value for c in final if c.cmd.upper() == "ENTRYPOINT"]
    assert entrypoint == ("/venv/bin/python3", "-m", "app")


def test_dockerignore_lets_only_the_package_in() -> None:
    rules = dockerignore.patterns((ROOT / ".dockerignore").read_text())
    for path in (
        "tests",
        "tests/test_deploy.py",
        ".git",
        ".git/HEAD",
        "var",
        "var/tightship.db",
        ".venv/bin/python",
        "deploy/Dockerfile",
        "docs/operations.md",
        "config.yaml",
        "tightship.egg-info/PKG-INFO",
        "app/__pycache__/cli.cpython-313.pyc",
        "app/store/__pycache__/db.cpython-311.pyc",
        ".ruff_cache/x",
        "Makefile",
    ):
        assert dockerignore.excluded(rules, path), path
    for path in ("pyproject.toml", "README.md", "app", "app/cli.py", "app/store/migrations/env.py"):
        assert not dockerignore.excluded(rules, path), path
    # Whatever the Dockerfile copies from the context is in it.
    for _base, commands in stages():
        for command in commands:
            if command.cmd.upper() == "COPY" and not any(
                f.startswith("--from") for f in command.flags
            ):
                for source in command.value[:-1]:
                    assert not dockerignore.excluded(rules, source), source
                    assert (ROOT / source).exists(), source


def test_every_file_the_package_needs_at_run_time_is_packaged() -> None:
    """An installed Tightship (the image runs `pip install .`) has only what package-data
    names besides the modules: a template or stylesheet left out is a 500 in production."""
    import tomllib
    from fnmatch import fnmatch

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    package_data = config["tool"]["setuptools"]["package-data"]
    missing = []
    for path in sorted((ROOT / "app").rglob("*")):
        if not path.is_file() or path.suffix in (".py", ".pyc") or "__pycache__" in path.parts:
            continue
        relative = path.relative_to(ROOT)
        packaged = any(
            fnmatch(str(relative.relative_to(Path(*package.split(".")))), glob)
            for package, globs in package_data.items()
            if relative.is_relative_to(Path(*package.split(".")))
            for glob in globs
        )
        if not packaged:
            missing.append(str(relative))
    assert missing == []
