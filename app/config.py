"""Typed settings: a YAML file with ``${VAR}`` interpolation, then environment overrides.

Secrets never live in the file itself; the file names environment variables and the
values are substituted after parsing, so a value can never change the YAML structure.
Every problem is reported as one ``ConfigError`` that names the key, because a service
that half-starts on a bad config is worse than one that refuses to start.
"""

from __future__ import annotations

import os
import re
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from app.models import Severity

CONFIG_ENV = "TIGHTSHIP_CONFIG"
DEFAULT_CONFIG_FILE = Path("config.yaml")
_VAR = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}")
_USER = re.compile(r"^(?P<uid>\d+)(?::(?P<gid>\d+))?$")


class ConfigError(Exception):
    """A configuration that Tightship refuses to start with; the message names the key."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ServerSettings(_Model):
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)


class StorageSettings(_Model):
    database_url: str | None = None
    redis_url: str | None = None


class OidcSettings(_Model):
    """A Google-signed OIDC token (Pub/Sub push): who may call, and where its keys are."""

    audience: str
    email: str
    jwks_url: str | None = "https://www.googleapis.com/oauth2/v3/certs"
    jwks_file: Path | None = None

    @model_validator(mode="after")
    def _one_key_source(self) -> OidcSettings:
        if self.jwks_file is not None:
            return self.model_copy(update={"jwks_url": None})
        if not self.jwks_url:
            raise ValueError("jwks_url or jwks_file is required")
        return self


class SnsSettings(_Model):
    topic_arns: Annotated[list[str], Field(min_length=1)]


class WebhookSettings(_Model):
    token: SecretStr | None = None  # a shared token (Bearer, a header, or ?token= in the URL)
    header: str | None = None  # the header carrying the token, for senders with custom headers
    secret: SecretStr | None = None  # an HMAC-SHA256 signing secret
    oidc: OidcSettings | None = None
    sns: SnsSettings | None = None

    @field_validator("token", "secret")
    @classmethod
    def _not_empty(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value():
            raise ValueError("is empty: an empty secret proves nothing (is its variable unset?)")
        return value


class RegistryAuth(_Model):
    username: str
    password: SecretStr


class RegistrySettings(_Model):
    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9._-]{0,62}$")]
    sender: str
    url: str
    insecure: bool = False  # https without certificate verification (a self-signed registry)
    webhook: WebhookSettings = WebhookSettings()
    auth: RegistryAuth | None = None
    include: list[str] = []  # repository globs to analyze (empty: all)
    exclude: list[str] = []  # repository globs to acknowledge and ignore

    @field_validator("sender")
    @classmethod
    def _known_sender(cls, value: str) -> str:
        from app.intake import SENDERS

        if value not in SENDERS:
            known = ", ".join(sorted(SENDERS))
            raise ValueError(f"unknown sender {value!r}; known senders: {known}")
        return value

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"{value!r} is not an http(s) URL with a host")
        if "@" in parts.netloc:
            raise ValueError("put registry credentials under auth:, not in the URL")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _webhook_is_authenticated(self) -> RegistrySettings:
        """Each sender says what proves a delivery authentic; without it, refuse to start:
        an unauthenticated webhook would let anyone trigger scans and fixes."""
        from app.intake import SENDERS

        problem = SENDERS[self.sender].check(self)
        if problem:
            raise ValueError(problem)
        return self

    def wanted(self, repository: str) -> bool:
        if self.include and not any(fnmatchcase(repository, g) for g in self.include):
            return False
        return not any(fnmatchcase(repository, g) for g in self.exclude)

    @property
    def host(self) -> str:
        """The canonical host images of this registry are named by (never a payload's claim)."""
        return urlsplit(self.url).netloc

    @property
    def plain_http(self) -> bool:
        return urlsplit(self.url).scheme == "http"


class LocalScmSettings(_Model):
    root: Path | None = None  # default: <data_dir>/repos
    base_branch: str | None = None  # default: origin's HEAD, else main, else master


class GitHubAppSettings(_Model):
    id: int
    private_key: SecretStr | None = None  # PEM text (e.g. "${GITHUB_APP_PRIVATE_KEY}")
    private_key_file: Path | None = None

    @model_validator(mode="after")
    def _one_key(self) -> GitHubAppSettings:
        if (self.private_key is None) == (self.private_key_file is None):
            raise ValueError("give exactly one of private_key and private_key_file")
        return self

    def key(self) -> str:
        if self.private_key is not None:
            return self.private_key.get_secret_value()
        assert self.private_key_file is not None  # noqa: S101 (the validator guarantees it)
        return self.private_key_file.read_text(encoding="utf-8")


class GitHubSettings(_Model):
    base_url: str = "https://api.github.com"  # GitHub Enterprise Server: https://HOST/api/v3
    token: SecretStr | None = None
    app: GitHubAppSettings | None = None
    labels: list[str] = ["tightship", "security"]
    max_open_per_repository: int = Field(5, ge=1)
    max_new_per_hour: int = Field(10, ge=1)
    write_interval: float = Field(1.0, ge=0)  # seconds between content-creating calls
    max_wait: float = Field(60.0, ge=0)  # longest rate-limit wait in a job; longer: retry later

    @model_validator(mode="after")
    def _one_credential(self) -> GitHubSettings:
        if self.token is not None and self.app is not None:
            raise ValueError("give a token or an app, not both")
        return self

    @property
    def has_credentials(self) -> bool:
        return self.token is not None or self.app is not None


class ScmSettings(_Model):
    provider: Literal["local", "github"] = "local"
    # full: branches and pull requests; plan: fix plans written under the data dir, nothing
    # pushed (the default for GitHub without credentials); report: findings only.
    mode: Literal["full", "plan", "report"] | None = None
    local: LocalScmSettings = LocalScmSettings()
    github: GitHubSettings = GitHubSettings()
    author_name: str = "Tightship"
    author_email: str = "tightship@localhost"

    @property
    def effective_mode(self) -> str:
        if self.mode is not None:
            return self.mode
        if self.provider == "github" and not self.github.has_credentials:
            return "plan"
        return "full"


class RepoMapRule(_Model):
    image: str
    repo: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")]
    path: str = ""

    @field_validator("repo")
    @classmethod
    def _no_dot_names(cls, value: str) -> str:
        if any(part in (".", "..") for part in value.split("/")):
            raise ValueError(f"{value!r} is not an owner/repo name")
        return value

    @field_validator("path")
    @classmethod
    def _relative(cls, value: str) -> str:
        value = value.strip("/")
        if ".." in Path(value).parts:
            raise ValueError("path must stay inside the repository")
        return value


class RepositoriesSettings(_Model):
    allow: list[str] = []
    map: list[RepoMapRule] = []

    def allowed(self, repo: str) -> bool:
        return any(fnmatchcase(repo.lower(), glob.lower()) for glob in self.allow)

    def mapped(self, image: str) -> RepoMapRule | None:
        return next((rule for rule in self.map if fnmatchcase(image, rule.image)), None)


NotifyEvent = Literal["findings", "pr", "fixed", "digest"]
NOTIFY_EVENTS: tuple[NotifyEvent, ...] = ("findings", "pr", "fixed", "digest")


class _Channel(_Model):
    """A chat destination and what it wants to hear (docs: config.example.yaml, notify:)."""

    url: SecretStr  # the webhook URL is a bearer credential: never logged, never in a message
    min_severity: Severity = Severity.LOW
    registries: list[str] = []  # globs over registry names or hosts (empty: all)
    repositories: list[str] = []  # globs over image repositories, e.g. "acme/*" (empty: all)
    events: Annotated[list[NotifyEvent], Field(min_length=1)] = list(NOTIFY_EVENTS)

    def wants(self, registry: str | None, host: str | None, repository: str | None) -> bool:
        names = [n for n in (registry, host) if n]
        if self.registries and not any(fnmatchcase(n, g) for n in names for g in self.registries):
            return False
        return not self.repositories or any(
            fnmatchcase(repository or "", g) for g in self.repositories
        )


class SlackChannel(_Channel):
    type: Literal["slack"]


class GoogleChatChannel(_Channel):
    type: Literal["google_chat"]


class TeamsChannel(_Channel):
    type: Literal["teams"]  # a Teams Workflows webhook ("When a Teams webhook request is received")


class WebhookChannel(_Channel):
    type: Literal["webhook"]
    secret: SecretStr  # signs each body (HMAC-SHA256; app/notify/webhook.py says what is signed)

    @field_validator("secret")
    @classmethod
    def _not_empty(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value():
            raise ValueError("is empty: an empty secret proves nothing (is its variable unset?)")
        return value


NotifyChannel = Annotated[
    SlackChannel | GoogleChatChannel | TeamsChannel | WebhookChannel, Field(discriminator="type")
]


def numeric_non_root(value: str) -> str:
    """A run-as user Kubernetes ``runAsNonRoot`` can verify: numeric uid[:gid], uid not 0."""
    match = _USER.match(value)
    if not match:
        raise ValueError(
            f"{value!r} is not numeric uid[:gid]; Kubernetes runAsNonRoot can only "
            "verify numeric users"
        )
    if int(match["uid"]) == 0:
        raise ValueError("uid 0 is root")
    return value


NumericUser = Annotated[str, AfterValidator(numeric_non_root)]


class RemediationSettings(_Model):
    user: NumericUser = "65532:65532"
    # Base image mapping entries that win over the defaults (docs/fixes.md).
    bases: dict[str, str] = {}


class AnalysisSettings(_Model):
    ignore: list[str] = []  # RULE or RULE:path-glob, as tightship scan --ignore

    @field_validator("ignore")
    @classmethod
    def _known_rules(cls, value: list[str]) -> list[str]:
        from app.analysis import Ignore

        for item in value:
            Ignore.parse(item)
        return value

    def ignores(self) -> tuple[Any, ...]:
        from app.analysis import Ignore

        return tuple(Ignore.parse(item) for item in self.ignore)


class JobsSettings(_Model):
    # A scan holds its digest for this long and renews the hold while it works, so a worker
    # killed mid-scan frees the digest within one lease (not a fixed worst case).
    lease_seconds: float = Field(120.0, ge=1)
    # How often the clock re-enqueues events whose job was lost with a dead worker.
    sweep_seconds: float = Field(60.0, ge=1)
    # An event queued this long beyond a lease without finishing has lost its job.
    stranded_after_seconds: float = Field(30.0, ge=0)


class ApiSettings(_Model):
    """The dashboard, the JSON API and /metrics: closed unless a token is set or ``open``."""

    token: SecretStr | None = None  # Bearer for the API and /metrics, the login for the pages
    open: bool = False  # serve pages, the read API and /metrics without authentication
    public_url: str | None = None  # the dashboard's address, for links in chat messages
    secret_key: SecretStr | None = None  # signs the session cookie (default: from the token)

    @field_validator("token", "secret_key")
    @classmethod
    def _blank_is_none(cls, value: SecretStr | None) -> SecretStr | None:
        """``${TIGHTSHIP_API_TOKEN:-}`` with the variable unset means no token: closed."""
        if value is not None and not value.get_secret_value().strip():
            return None
        return value


class RescanSettings(_Model):
    # Every tracked tag, on this cron (minute hour day month weekday), in this time zone.
    cron: str = "0 6 * * mon"
    timezone: str = "UTC"
    digest_delay_minutes: float = Field(30.0, ge=0)  # the weekly digest, after the rescans

    @model_validator(mode="after")
    def _valid_schedule(self) -> RescanSettings:
        from app.jobs.crontab import cron_trigger

        try:
            cron_trigger(self.cron, self.timezone)
        except (ValueError, LookupError) as exc:
            raise ValueError(f"cron {self.cron!r} in {self.timezone!r}: {exc}") from None
        return self


class Settings(_Model):
    data_dir: Path = Path("var")
    jobs: JobsSettings = JobsSettings()
    rescan: RescanSettings = RescanSettings()
    server: ServerSettings = ServerSettings()
    storage: StorageSettings = StorageSettings()
    registries: list[RegistrySettings] = []
    scm: ScmSettings = ScmSettings()
    repositories: RepositoriesSettings = RepositoriesSettings()
    notify: list[NotifyChannel] = []
    remediation: RemediationSettings = RemediationSettings()
    analysis: AnalysisSettings = AnalysisSettings()
    api: ApiSettings = ApiSettings()

    @model_validator(mode="after")
    def _unique_registry_names(self) -> Settings:
        names = [r.name for r in self.registries]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"registry names must be unique: {', '.join(duplicates)}")
        return self

    @property
    def database_url(self) -> str:
        return self.storage.database_url or f"sqlite:///{self.data_dir / 'tightship.db'}"

    @property
    def repos_root(self) -> Path:
        return self.scm.local.root or self.data_dir / "repos"

    def registry(self, name: str) -> RegistrySettings | None:
        return next((r for r in self.registries if r.name == name), None)


def _interpolate(value: Any, path: str, env: dict[str, str]) -> Any:
    if isinstance(value, dict):
        return {
            k: _interpolate(v, f"{path}.{k}" if path else str(k), env) for k, v in value.items()
        }
    if isinstance(value, list):
        return [_interpolate(v, f"{path}.{i}", env) for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match[str]) -> str:
        name, default = match["name"], match["default"]
        if name in env:
            return env[name]
        if default is not None:
            return default
        raise ConfigError(f"{path}: environment variable {name} is not set")

    return _VAR.sub(substitute, value)


def _apply_env(data: dict[str, Any], env: dict[str, str]) -> dict[str, Any]:
    overrides = {
        "PORT": ("server", "port"),
        "DATABASE_URL": ("storage", "database_url"),
        "REDIS_URL": ("storage", "redis_url"),
    }
    for var, (section, key) in overrides.items():
        if env.get(var):
            data.setdefault(section, {})
            if not isinstance(data[section], dict):
                raise ConfigError(f"{section}: must be a mapping")
            data[section][key] = env[var]
    if env.get("TIGHTSHIP_DATA_DIR"):
        data["data_dir"] = env["TIGHTSHIP_DATA_DIR"]
    return data


def describe(error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        loc = ".".join(str(p) for p in item["loc"] if not str(p).startswith("function-after"))
        message = item["msg"].removeprefix("Value error, ")
        lines.append(f"{loc or '(top level)'}: {message}")
    return "; ".join(lines)


def resolve_config_path(explicit: str | os.PathLike[str] | None) -> Path | None:
    """--config wins, then $TIGHTSHIP_CONFIG, then ./config.yaml; None means built-in defaults."""
    if explicit:
        return Path(explicit)
    if os.environ.get(CONFIG_ENV):
        return Path(os.environ[CONFIG_ENV])
    return DEFAULT_CONFIG_FILE if DEFAULT_CONFIG_FILE.is_file() else None


def load_settings(
    path: str | os.PathLike[str] | None = None, env: dict[str, str] | None = None
) -> Settings:
    env = dict(os.environ) if env is None else env
    config_path = resolve_config_path(path)
    data: Any = {}
    if config_path is not None:
        try:
            text = config_path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"{config_path}: cannot read: {exc.strerror}") from exc
        try:
            data = YAML(typ="safe").load(text) or {}
        except YAMLError as exc:
            raise ConfigError(f"{config_path}: not valid YAML: {exc}") from exc
        if not isinstance(data, dict):
            raise ConfigError(f"{config_path}: the top level must be a mapping")
    prefix = f"{config_path}: " if config_path else ""
    try:
        data = _apply_env(_interpolate(data, "", env), env)
        return Settings.model_validate(data)
    except ConfigError as exc:
        raise ConfigError(f"{prefix}{exc}") from None
    except ValidationError as exc:
        raise ConfigError(f"{prefix}{describe(exc)}") from None
