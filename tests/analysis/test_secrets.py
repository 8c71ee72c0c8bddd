"""Secrets judged by what they are: whole URL passwords redacted, addresses and placeholders
left alone, one finding per credential."""

from __future__ import annotations

import json

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from app.analysis import secrets, source
from tests.support import images, tars
from tests.support.images import config, findings

LEAKED = "p@ssw0rd-leak-XYZ"  # a password holding "@", as real ones do
URL = f"postgres://admin:{LEAKED}@db.internal/orders"
CERTIFICATE = (
    "-----BEGIN CERTIFICATE-----\nMIIDdzCCAl+gAwIBAgIEAgAAuTANBgkqhkiG9w0BAQUFADBaMQswCQYDVQQGEwJJ"
    "\n-----END CERTIFICATE-----\n"
)


def test_a_url_password_holding_an_at_sign_is_redacted_whole_everywhere() -> None:
    env = [f"DATABASE_URL={URL}"]
    history = [{"created_by": f"RUN /bin/sh -c psql {URL} -c 'select 1' # buildkit"}]
    cfg = config(env=env, history=history)
    view = images.view([[]], cfg)
    found = findings([[]], cfg)
    assert {f.rule for f in found} >= {"secret-env", "secret-in-history"}
    shown = [json.dumps(view.config.to_dict()), *(f.evidence for f in found)]
    for text in shown:
        for piece in (LEAKED, "ssw0rd", "leak-XYZ"):
            assert piece not in text
    [step] = [f.evidence for f in found if f.rule == "secret-in-history"]
    assert "psql postgres://admin:<redacted " in step  # the text around it is intact


def test_a_url_password_ends_where_the_value_holding_the_url_does() -> None:
    text, [secret] = secrets.scrub('{"a": "redis://u:pw@cache:6379", "b": "ops@example.com"}')
    assert (
        text
        == f'{{"a": "redis://u:<redacted {secret.fingerprint}>@cache:6379", "b": "ops@example.com"}}'
    )
    assert secret.fingerprint == secrets.fingerprint("pw")


def test_a_url_password_may_hold_commas_and_semicolons() -> None:
    text, [secret] = secrets.scrub("DATABASE_URL=postgres://app:Summer,2024;x!@db:5432/app")
    assert text == f"DATABASE_URL=postgres://app:<redacted {secret.fingerprint}>@db:5432/app"
    view = images.view(
        [
            [
                tars.file(
                    "app/.git/config",
                    '[remote "origin"]\n\turl = https://alice:Hunter2,xyz@github.com/a/b\n',
                )
            ]
        ]
    )
    assert view.captured("app/.git/config") == '[remote "origin"]\nurl = https://github.com/a/b'


def test_a_short_url_password_is_redacted_in_its_url_only() -> None:
    text, found = secrets.scrub("RUN curl https://ci:p@repo.example/x && pip install pkg")
    assert text == "RUN curl https://ci:<redacted " + found[0].fingerprint + ">@repo.example/x" + (
        " && pip install pkg"
    )


@given(
    password=st.text(
        alphabet=st.characters(codec="ascii", categories=("L", "N", "P", "S")).filter(
            lambda c: c not in "/?#\"'`"
        ),
        min_size=8,
        max_size=40,
    )
)
def test_no_url_password_survives_scrubbing(password: str) -> None:
    assume(password[0] not in ":@" and password not in "https://user:@host.example/path")
    text, found = secrets.scrub(f"git clone https://user:{password}@host.example/path")
    redacted = f"<redacted {secrets.fingerprint(password)}>"
    assert text == f"git clone https://user:{redacted}@host.example/path"  # whole, and only it
    assert "credentials in a URL" in [s.kind for s in found]


def test_remote_and_label_urls_lose_user_info_holding_an_at_sign() -> None:
    remote = "https://bot:p@ss-TAIL-SECRET@github.com/acme/app"
    git_config = f'[remote "origin"]\n\turl = {remote}\n'
    view = images.view([[tars.file("app/.git/config", git_config)]])
    assert (
        view.captured("app/.git/config") == '[remote "origin"]\nurl = https://github.com/acme/app'
    )
    labelled = images.view([[]], config(labels={"org.opencontainers.image.source": remote}))
    assert source.hint(labelled).repository == "https://github.com/acme/app"


def test_addresses_and_key_file_paths_in_secret_named_env_are_not_secrets() -> None:
    env = [
        "TOKEN_ENDPOINT=https://auth.example.com/oauth/token",
        "AUTH_TOKEN_URL=https://x.example/y",
        "TOKEN_AUDIENCE=api://default",
        "GOOGLE_APPLICATION_CREDENTIALS=/srv/keys/sa.json",
        "SERVICE_CREDENTIALS=credentials.json",
        "AUTH_TOKEN_URL=https://login.example/72f988bf-86f1-41af-91ab-2d7cd011db47/oauth2/token",
        "B2C_TOKEN_ENDPOINT=https://contoso.b2clogin.com/contoso.onmicrosoft.com/B2C_1_signin/oauth2/v2.0/token",
        "CREDENTIAL_HELPER_URL=https://github.com/awslabs/amazon-ecr-credential-helper/releases/"
        "download/v0.7.1/docker-credential-ecr-login-0.7.1.linux-amd64",
        "DB_PASSWORD=correct-horse-battery",  # still a secret
        "API_TOKEN=https://hooks.example/run?token=abcdef0123456789",  # a query can hold one
        # a capability URL: the path is the token
        "DISCORD_WEBHOOK_TOKEN=https://discord.com/api/webhooks/1234567890123/AbCdEf0123456789xYz-Q",
        "BOT_TOKEN=https://api.telegram.org/bot123456:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/",
    ]
    found = findings([[]], config(env=env), rule="secret-env")
    assert sorted(f.evidence.split(":")[0] for f in found) == [
        "ENV API_TOKEN",
        "ENV BOT_TOKEN",
        "ENV DB_PASSWORD",
        "ENV DISCORD_WEBHOOK_TOKEN",
    ]


@pytest.mark.parametrize(
    ("path", "content"),
    [
        ("root/.npmrc", '//registry.npmjs.org/:_authToken="${NODE_AUTH_TOKEN}"\n'),
        ("root/.pypirc", "[pypi]\nusername = __token__\npassword = ${PYPI_API_TOKEN_VALUE}\n"),
        ("root/.pypirc", "[pypi]\npassword = <your-pypi-api-token-here>\n"),
        ("root/.netrc", "machine github.com login me password ${GITHUB_TOKEN_PLACEHOLDER}\n"),
        (
            "root/.kube/config",
            "apiVersion: v1\nkind: Config\nclusters: []\nusers:\n- name: u\n  user:\n"
            "    token: <service-account-token-here>\n",
        ),
    ],
)
def test_placeholders_in_credential_files_are_not_secrets(path: str, content: str) -> None:
    assert findings([[tars.file(path, content)]], rule="secret-file") == []


@pytest.mark.parametrize(
    ("path", "content", "kind"),
    [
        (
            "root/.docker/config.json",
            '{"auths": {"acme.azurecr.io": {"auth": "", "identitytoken": "eyJhbGciOiJSUzI1NiJ9.e30.c2ln"}}}',
            "registry credential",
        ),
        (
            "root/.kube/config",
            json.dumps(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "clusters": [],
                    "users": [{"name": "u", "user": {"token": "eyJhbGciOiJSUzI1NiJ9.payload.sig"}}],
                }
            ),
            "kubeconfig credential",
        ),
    ],
)
def test_credentials_in_other_shapes_of_known_files(path: str, content: str, kind: str) -> None:
    found = findings([[tars.file(path, content)]], rule="secret-file")
    assert [f.evidence.split(" (")[0] for f in found] == [kind]


def test_a_service_account_key_is_one_finding() -> None:
    key = json.dumps(
        {
            "type": "service_account",
            "private_key": "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7\n-----END PRIVATE KEY-----\n",
        }
    )
    found = findings([[tars.file("app/sa.json", key)]], rule="secret-file")
    assert [f.evidence.split(" (")[0] for f in found] == ["GCP service-account key"]


def test_a_secret_written_again_unchanged_is_reported_once_where_it_is() -> None:
    env = "API_TOKEN=abcdefgh12345678\n"
    layers = [[tars.file("app/.env", env)], [tars.file("app/.env", env)]]  # a chown layer
    found = findings(layers, config(layers=2))
    assert [f.rule for f in found if f.rule.startswith("secret")] == ["secret-file"]
    changed = [
        [tars.file("app/.env", env)],
        [tars.file("app/.env", "API_TOKEN=rotated0987654321\n")],
    ]
    rules = sorted(
        f.rule for f in findings(changed, config(layers=2)) if f.rule.startswith("secret")
    )
    assert rules == ["secret-file", "secret-in-deleted-layer"]  # the old value is still there


@pytest.mark.parametrize("path", ["etc/ssl/certs/site.pem", "app/tls/server.crt"])
def test_a_private_key_combined_with_its_certificate_is_found(path: str) -> None:
    key = (
        "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj"
        "\n-----END PRIVATE KEY-----\n"
    )
    found = findings([[tars.file(path, CERTIFICATE + key)]], rule="secret-file")
    assert [f.evidence.split(" (")[0] for f in found] == ["private key"]
    assert findings([[tars.file(path, CERTIFICATE * 3)]], rule="secret-file") == []
