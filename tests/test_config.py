from __future__ import annotations

from pathlib import Path

import pytest

from app.config import ConfigError, load_settings

ROOT = Path(__file__).parent.parent

VALID = """
registries:
  - name: local
    sender: distribution
    url: http://127.0.0.1:5000
    webhook: {token: "${REGISTRY_TOKEN}"}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return path


def test_builtin_defaults_without_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings(env={})
    assert settings.registries == []
    assert settings.server.port == 8080
    assert settings.database_url == "sqlite:///var/tightship.db"
    assert settings.repos_root == Path("var/repos")
    assert settings.remediation.user == "65532:65532"


def test_example_config_is_valid_and_documents_the_issue_keys() -> None:
    env = {"LOCAL_REGISTRY_TOKEN": "t", "SLACK_WEBHOOK_URL": "https://hooks.example/x"}
    settings = load_settings(ROOT / "config.example.yaml", env=env)
    assert settings.registries[0].name == "local"
    assert settings.registries[0].webhook.token.get_secret_value() == "t"
    assert settings.scm.local.root == Path("var/repos")
    assert settings.repositories.mapped("127.0.0.1:5000/acme/orders-api").repo == "acme/orders"
    assert settings.notify[0].url.get_secret_value() == "https://hooks.example/x"


def test_interpolation_and_default(tmp_path: Path) -> None:
    path = write(tmp_path, VALID + 'notify:\n  - {type: slack, url: "${HOOK:-http://chat/x}"}\n')
    settings = load_settings(path, env={"REGISTRY_TOKEN": "s3cret"})
    assert settings.registries[0].webhook.token.get_secret_value() == "s3cret"
    assert settings.notify[0].url.get_secret_value() == "http://chat/x"


def test_interpolated_value_cannot_inject_yaml(tmp_path: Path) -> None:
    path = write(tmp_path, VALID)
    settings = load_settings(path, env={"REGISTRY_TOKEN": "x}\nserver: {port: 1"})
    assert settings.server.port == 8080
    assert settings.registries[0].webhook.token.get_secret_value() == "x}\nserver: {port: 1"


@pytest.mark.parametrize(
    ("text", "env", "message"),
    [
        (VALID, {}, "registries.0.webhook.token: environment variable REGISTRY_TOKEN is not set"),
        (
            VALID.replace("distribution", "nexus"),
            {"REGISTRY_TOKEN": "t"},
            "registries.0.sender: unknown sender 'nexus'",
        ),
        (
            VALID.replace("http://127.0.0.1:5000", "ftp://x"),
            {"REGISTRY_TOKEN": "t"},
            "registries.0.url: 'ftp://x' is not an http(s) URL",
        ),
        ("server: {port: 99999}\n", {}, "server.port: Input should be less than or equal to 65535"),
        ("remediation: {user: nobody}\n", {}, "remediation.user: 'nobody' is not numeric"),
        ("remediation: {user: '0:0'}\n", {}, "remediation.user: uid 0 is root"),
        ("serverr: {}\n", {}, "serverr: Extra inputs are not permitted"),
        (
            VALID.replace('webhook: {token: "${REGISTRY_TOKEN}"}', "webhook: {}"),
            {},
            "webhook.token is required",
        ),
        ("registries: [\n", {}, "not valid YAML"),
        ("- a\n- b\n", {}, "the top level must be a mapping"),
    ],
)
def test_invalid_config_names_the_key(
    tmp_path: Path, text: str, env: dict[str, str], message: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_settings(path, env=env)
    assert message in str(caught.value)
    assert str(caught.value).startswith(str(path))


def test_environment_overrides_win(tmp_path: Path) -> None:
    path = write(tmp_path, "server: {port: 9000}\nstorage: {database_url: 'sqlite:///a.db'}\n")
    env = {
        "PORT": "9100",
        "DATABASE_URL": "postgresql://db/x",
        "REDIS_URL": "redis://r:6379/0",
        "TIGHTSHIP_DATA_DIR": str(tmp_path / "data"),
    }
    settings = load_settings(path, env=env)
    assert settings.server.port == 9100
    assert settings.database_url == "postgresql://db/x"
    assert settings.storage.redis_url == "redis://r:6379/0"
    assert settings.data_dir == tmp_path / "data"
    assert settings.repos_root == tmp_path / "data" / "repos"


def test_config_file_resolution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "config.yaml").write_text("server: {port: 8001}\n")
    other = tmp_path / "other.yaml"
    other.write_text("server: {port: 8002}\n")
    monkeypatch.delenv("TIGHTSHIP_CONFIG", raising=False)
    assert load_settings(env={}).server.port == 8001
    monkeypatch.setenv("TIGHTSHIP_CONFIG", str(other))
    assert load_settings(env={}).server.port == 8002
    assert load_settings(tmp_path / "config.yaml", env={}).server.port == 8001


def test_duplicate_registry_names_are_refused(tmp_path: Path) -> None:
    entry = "  - {name: r, sender: distribution, url: 'http://h', webhook: {token: t}}\n"
    path = write(tmp_path, "registries:\n" + entry + entry)
    with pytest.raises(ConfigError, match="registry names must be unique: r"):
        load_settings(path, env={})


def test_allow_and_map_globs(make_settings) -> None:
    settings = make_settings(
        repositories={
            "allow": ["acme/*"],
            "map": [{"image": "h/acme/api*", "repo": "acme/api", "path": "svc/"}],
        }
    )
    assert settings.repositories.allowed("acme/orders")
    assert settings.repositories.allowed("ACME/Orders")
    assert not settings.repositories.allowed("evil/orders")
    rule = settings.repositories.mapped("h/acme/api-v2")
    assert rule is not None and rule.path == "svc"
    assert settings.repositories.mapped("h/acme/web") is None
