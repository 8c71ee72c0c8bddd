"""Every rule, positive and negative, including the false positives users complain about."""

from __future__ import annotations

import base64
import json

import pytest

from app.models import Severity
from tests.support import images, tars
from tests.support.images import config, findings

PASSWD = (
    "root:x:0:0:root:/root:/bin/sh\ntoor:x:0:0::/:/bin/sh\napp:x:1000:1000::/app:/sbin/nologin\n"
)
GHP = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
PEM = (
    "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun"
    "\nVTLw7onLRnrq0/IzW7yWR7QkrmBL7jTKEn5u+qKhbwKfBstIs+bMY2Zkp18gnTxK\n"
    "-----END RSA PRIVATE KEY-----\n"
)
CA_CERT = "-----BEGIN CERTIFICATE-----\nMIIDdzCCAl+gAwIBAgIEAgAAuTANBgkqhkiG9w0BAQUFADBaMQswCQYDVQQGEwJJ\n-----END CERTIFICATE-----\n"


def rules_of(layers, cfg=None) -> list[str]:
    return sorted({f.rule for f in findings(layers, cfg)})


# --- root-user and non-numeric-user ---------------------------------------------------


@pytest.mark.parametrize("user", ["", "root", "0", "0:0", "0:1000", "root:staff"])
def test_root_users(user: str) -> None:
    [finding] = findings([[tars.file("etc/passwd", PASSWD)]], config(user=user), "root-user")
    assert finding.severity is Severity.HIGH


def test_a_name_that_passwd_maps_to_uid_0_is_root() -> None:
    [finding] = findings([[tars.file("etc/passwd", PASSWD)]], config(user="toor"), "root-user")
    assert "uid 0" in finding.evidence


@pytest.mark.parametrize(
    ("user", "expected"),
    [
        ("65532", []),
        ("1000:1000", []),
        ("app", ["non-numeric-user"]),
        ("nobody", ["non-numeric-user"]),
    ],
)
def test_non_root_users(user: str, expected: list[str]) -> None:
    found = findings([[tars.file("etc/passwd", PASSWD)]], config(user=user))
    assert sorted({f.rule for f in found if "user" in f.rule}) == expected


# --- source-code, build-files, vcs-directory ------------------------------------------

JIB_HISTORY = [
    {"created_by": "/bin/sh -c #(nop) ADD file:x in /"},
    {"author": "Jib", "created_by": "jib-maven-plugin:3.4.4", "comment": "classes"},
]


def test_source_in_the_app_layer_but_not_in_the_base() -> None:
    base = [tars.file("usr/include/stdio.h", "x"), tars.file("usr/share/doc/a/Makefile", "x")]
    app = [
        tars.file("app/src/main/java/com/acme/Main.java", "class Main {}"),
        tars.file("app/src/main/java/com/acme/Util.java", "class U {}"),
        tars.file("app/pom.xml", "<project/>"),
        tars.file("app/types.d.ts", "x"),
    ]
    found = findings([base, app], config(history=JIB_HISTORY, layers=2))
    [source] = [f for f in found if f.rule == "source-code"]
    assert source.path == "app/src" and source.evidence.startswith("2 source files (.java 2)")
    [build] = [f for f in found if f.rule == "build-files"]
    assert build.path == "app" and build.evidence == "pom.xml"


@pytest.mark.parametrize(
    "path",
    [
        "app/node_modules/lib/index.ts",
        "usr/lib/python3/dist-packages/x/settings.py",
        "app/app.py",
        "app/static/app.js",
        "usr/local/go/src/fmt/print.go",
    ],
)
def test_what_is_not_the_apps_source(path: str) -> None:
    assert findings([[tars.file(path, "x")]], rule="source-code") == []


def test_tests_of_interpreted_apps_are_source() -> None:
    [finding] = findings(
        [[tars.file("app/tests/test_api.py", "def test(): pass")]], rule="source-code"
    )
    assert finding.path == "app/tests"


@pytest.mark.parametrize(
    "path",
    [
        "workspace/main.go",
        "src/Dockerfile",
        "app/docker-compose.prod.yml",
        "app/.github/workflows/ci.yml",
        "workspace/project.toml",
    ],
)
def test_buildpack_and_dockerfile_leftovers(path: str) -> None:
    assert rules_of([[tars.file(path, "x")]], config(user="65532")) in (
        ["source-code"],
        ["build-files"],
    )


@pytest.mark.parametrize(
    ("path", "rule"),
    [
        ("usr/src/app/main.go", "source-code"),  # the golang and node images' WORKDIR
        ("usr/src/app/Makefile", "build-files"),
        ("usr/src/app/tests/test_a.py", "source-code"),
        ("go/src/app/main.go", "source-code"),  # GOPATH mode
        ("app/go/main.go", "source-code"),
    ],
)
def test_single_stage_build_directories_hold_the_apps_source(path: str, rule: str) -> None:
    assert rules_of([[tars.file(path, "x")]], config(user="65532")) == [rule]


def test_the_go_module_cache_is_not_the_apps_source() -> None:
    layer = [
        tars.file("go/src/app/main.go", "package main"),
        tars.file("go/src/app/go.mod", "module acme/app"),
        tars.file("go/pkg/mod/github.com/gin-gonic/gin@v1.9.1/gin.go", "package gin"),
        tars.file("go/pkg/mod/github.com/gin-gonic/gin@v1.9.1/Makefile", "all:"),
        tars.file("root/go/pkg/mod/golang.org/x/net@v0.17.0/http2/server.go", "package http2"),
    ]
    found = findings([layer], config(user="65532"))
    assert [(f.rule, f.path, f.evidence) for f in found] == [
        ("source-code", "go/src", "1 source files (.go 1), e.g. /go/src/app/main.go"),
        ("build-files", "go/src/app", "go.mod"),
    ]


def test_sources_that_packages_install_in_usr_src_are_not_the_apps() -> None:
    layer = [
        tars.file("usr/src/app/main.c", "int main(void) { return 0; }"),
        tars.file("usr/src/linux-headers-6.1.0-13-amd64/Makefile", "x"),
        tars.file("usr/src/linux-headers-6.1.0-13-common/include/linux/kernel.h", "x"),
        tars.file("usr/src/kernels/5.14.0-362.el9.x86_64/Makefile", "x"),
        tars.file("usr/src/debug/openssl-3.0.7/ssl/ssl_lib.c", "x"),
        tars.file("usr/src/googletest/googletest/src/gtest.cc", "x"),
        tars.file("usr/src/rustc-1.63.0/library/std/src/lib.rs", "x"),
        tars.file("usr/src/zfs-2.1.11/dkms.conf", 'PACKAGE_NAME="zfs"'),
        tars.file("usr/src/zfs-2.1.11/module/zfs/arc.c", "x"),
    ]
    found = findings([layer], config(user="65532"))
    assert [(f.rule, f.evidence) for f in found] == [
        ("source-code", "1 source files (.c 1), e.g. /usr/src/app/main.c")
    ]


def test_dockerfiles_and_containerfiles_by_their_conventional_names() -> None:
    names = [
        "Dockerfile.prod",
        "Dockerfile.dev",
        "prod.Dockerfile",
        "api.dockerfile",
        "Containerfile",
        "Containerfile.dev",
        "worker.containerfile",
    ]
    layer = [tars.file(f"app/{name}", "FROM scratch") for name in names]
    layer.append(tars.file("app/dockerfile.py", "import ast"))  # a Dockerfile parser is code
    [finding] = findings([layer], config(user="65532"), "build-files")
    assert finding.path == "app" and finding.evidence == ", ".join(sorted(names))


@pytest.mark.parametrize("vcs", [".git", ".svn", ".hg", ".bzr"])
def test_vcs_directories_anywhere(vcs: str) -> None:
    layers = [
        [tars.file(f"app/{vcs}/HEAD", "ref: refs/heads/main"), tars.file(f"app/{vcs}/x/y", "z")]
    ]
    [finding] = findings(layers, rule="vcs-directory")
    assert finding.path == f"app/{vcs}"


def test_a_git_file_counts_and_a_gitignore_does_not() -> None:
    assert findings([[tars.file("app/.git", "gitdir: ../x")]], rule="vcs-directory")
    assert not findings([[tars.file("app/.gitignore", "*.o")]], rule="vcs-directory")


# --- secrets ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "content", "kind"),
    [
        ("app/id_rsa", PEM, "rsa private key"),
        (
            "app/creds/sa.json",
            json.dumps(
                {
                    "type": "service_account",
                    "private_key": "-----BEGIN PRIVATE KEY-----\\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcw\\n-----END PRIVATE KEY-----\\n",
                }
            ),
            "GCP service-account key",
        ),
        (
            "app/sa-min.json",
            '{"type":"service_account","private_key":"-----BEGIN PRIVATE KEY-----\\nMIIEvQIBADANBgkqhkiG9w0BAQEFAA\\n-----END PRIVATE KEY-----\\n"}',
            "GCP service-account key",
        ),
        (
            "root/.aws/credentials",
            "[default]\naws_access_key_id = AKIAIOSFODNN7EXAMPLQ\n"
            "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEYX\n",
            "AWS secret access key",
        ),
        (
            "root/.npmrc",
            "//registry.npmjs.org/:_authToken=abcdef0123456789abcdef\n",
            "npm registry credential",
        ),
        (
            "root/.pypirc",
            "[pypi]\nusername = __token__\npassword = pypi-longsecretvalue\n",
            "PyPI password",
        ),
        ("root/.netrc", "machine github.com login me password s3cretpassw0rd\n", "netrc password"),
        (
            "root/.git-credentials",
            "https://me:ghp_notaformattoken99@github.com\n",
            "git credential",
        ),
        (
            "root/.docker/config.json",
            '{"auths": {"ghcr.io": {"auth": "bWU6c2VjcmV0cGFzc3dvcmQ="}}}',
            "registry credential",
        ),
        (
            "root/.kube/config",
            "apiVersion: v1\nkind: Config\nclusters: []\nusers:\n- name: u\n  user:\n"
            "    token: eyJhbGciOiJSUzI1NiJ9.payload.sig\n",
            "kubeconfig credential",
        ),
        ("app/.env", "DEBUG=1\nDATABASE_PASSWORD=hunter2hunter2\n", ".env DATABASE_PASSWORD"),
        ("app/test/fixtures.txt", f"token {GHP}\n", "GitHub token"),  # Trivy skips "test" paths
        ("app/config.yml", "slack: xoxb-123456789012-abcdefghijkl\n", "Slack token"),
        ("app/keys.txt", "AKIAIOSFODNN7EXAMPLQ", "AWS access key id"),
        ("app/stripe.txt", "sk_live_" + "a1B2c3D4e5F6g7H8i9J0k1L2", "Stripe key"),
        ("app/gl.txt", "glpat-abcdefghij0123456789", "GitLab token"),
        ("app/npm.txt", "npm_" + "a" * 36, "npm token"),
    ],
)
def test_secret_files_by_content(path: str, content: str, kind: str) -> None:
    found = findings([[tars.file(path, content)]], rule="secret-file")
    assert {f.path for f in found} == {path}
    assert any(f.evidence.startswith(kind) for f in found), [f.evidence for f in found]
    assert all("fingerprint" in f.evidence and f.severity is Severity.CRITICAL for f in found)


@pytest.mark.parametrize(
    ("path", "content"),
    [
        ("etc/ssl/certs/ca-certificates.crt", CA_CERT * 3),
        ("usr/share/ca-certificates/mozilla/x.crt", CA_CERT),
        ("app/server.pem", CA_CERT),  # a certificate is public
        ("usr/lib/python3/site-packages/django/conf/settings.py", "SECRET_KEY = ''\n"),
        (
            "app/.env",
            "API_KEY=\nPASSWORD=changeme\nTOKEN=${TOKEN}\nSECRET=<your-secret>\nDB_PASSWORD_FILE=/run/s\n",
        ),
        ("app/README.md", "set GITHUB_TOKEN to your token (ghp_...)\n"),
        (
            "root/.npmrc",
            "registry=https://registry.npmjs.org/\n//registry/:_authToken=${NPM_TOKEN}\n",
        ),
        (
            "app/public.key",
            "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAu1SU1L\n-----END PUBLIC KEY-----\n",
        ),
    ],
)
def test_not_secrets(path: str, content: str) -> None:
    assert findings([[tars.file(path, content)]], rule="secret-file") == []


def test_a_secret_deleted_in_a_later_layer_is_still_reported() -> None:
    layers = [
        [tars.file("app/id_rsa", PEM), tars.file("app/other", "x")],
        [tars.whiteout("app/id_rsa")],
    ]
    found = findings(layers, config(layers=2))
    assert [f.rule for f in found if f.rule.startswith("secret")] == ["secret-in-deleted-layer"]
    [deleted] = [f for f in found if f.rule == "secret-in-deleted-layer"]
    assert deleted.path == "app/id_rsa" and deleted.layer is not None


def test_a_secret_file_overwritten_later_is_also_still_extractable() -> None:
    layers = [
        [tars.file("app/.env", "API_TOKEN=abcdefgh12345678\n")],
        [tars.file("app/.env", "DEBUG=1\n")],
    ]
    assert {f.rule for f in findings(layers, config(layers=2))} >= {"secret-in-deleted-layer"}


def test_secret_env_values_and_names() -> None:
    env = [
        "PATH=/usr/bin",
        f"GITHUB_TOKEN={GHP}",
        "DB_PASSWORD=correct-horse-battery",
        "DB_PASSWORD_FILE=/run/secrets/db",
        "API_KEY=",
        "SECRET=changeme",
        "GPG_KEY=A4B2C3D4E5F6",
        "MY_VAR=xoxb-123456789012-abcdefghijkl",
    ]
    found = findings([[]], config(env=env), rule="secret-env")
    assert sorted(f.evidence.split(":")[0] for f in found) == [
        "ENV DB_PASSWORD",
        "ENV GITHUB_TOKEN",
        "ENV MY_VAR",
    ]


def test_secrets_in_history() -> None:
    history = [
        {"created_by": "RUN |1 NPM_TOKEN=npm_" + "b" * 36 + " /bin/sh -c npm ci # buildkit"},
        {"created_by": "/bin/sh -c #(nop)  ENV API_KEY=supersecretvalue1"},
        {"created_by": "RUN |1 VERSION=1.2.3 /bin/sh -c make # buildkit"},
    ]
    found = findings([[], [], []], config(history=history, layers=3), rule="secret-in-history")
    assert len(found) == 2
    assert all("<redacted" in f.evidence for f in found)


# --- shell, package-manager, non-minimal-base, base identification ---------------------

DEBIAN = [
    tars.file(
        "etc/os-release",
        'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n',
    ),
    tars.file("bin/bash", "\x7fELF"),
    tars.symlink("bin/sh", "dash"),
    tars.file("bin/dash", "\x7fELF"),
    tars.file("usr/bin/apt", "\x7fELF"),
    tars.file("usr/bin/dpkg", "\x7fELF"),
    tars.file("var/lib/dpkg/status", "Package: x\n"),
]
DISTROLESS = [
    tars.symlink("etc/os-release", "../usr/lib/os-release"),
    tars.file("usr/lib/os-release", 'PRETTY_NAME="Distroless"\nID=debian\nVERSION_ID="13"\n'),
    tars.file("var/lib/dpkg/status.d/base-files", "Package: base-files\n"),
    tars.file("etc/passwd", "nonroot:x:65532:65532::/home/nonroot:/sbin/nologin\n"),
]


def test_debian_has_a_shell_a_package_manager_and_a_non_minimal_base() -> None:
    found = {f.rule: f for f in findings([DEBIAN])}
    assert {"shell", "package-manager", "non-minimal-base"} <= set(found)
    assert "/bin/sh → /bin/dash" in found["shell"].evidence
    assert found["non-minimal-base"].evidence.startswith(
        "debian 12 with a shell and a package manager"
    )
    identified = images.identify([DEBIAN])
    assert (identified.distro, identified.version, identified.minimal) == ("debian", "12", False)


def test_busybox_through_links_is_a_shell() -> None:
    layers = [
        [
            tars.file("bin/busybox", "\x7fELF"),
            tars.symlink("bin/sh", "/bin/busybox"),
            tars.file("etc/os-release", "ID=alpine\nVERSION_ID=3.20.0\n"),
            tars.file("sbin/apk", "x"),
        ]
    ]
    assert rules_of(layers) == ["non-minimal-base", "package-manager", "root-user", "shell"]
    assert images.identify(layers).distro == "alpine"


@pytest.mark.parametrize(
    ("layers", "distro"),
    [
        ([DISTROLESS], "distroless"),
        (
            [[tars.file("etc/os-release", 'ID=wolfi\nPRETTY_NAME="Wolfi"\nVERSION_ID=20230201\n')]],
            "wolfi",
        ),
        (
            [
                [
                    tars.file(
                        "etc/os-release", 'PRETTY_NAME="Paketo Buildpacks Tiny Jammy"\nID=ubuntu\n'
                    )
                ]
            ],
            "paketo-tiny",
        ),
        (
            [
                [
                    tars.file("etc/os-release", 'ID=ubuntu\nVERSION_ID="24.04"\n'),
                    tars.file("var/lib/chisel/manifest.wall", "x"),
                ]
            ],
            "ubuntu-chiseled",
        ),
        ([[tars.file("app/server", "\x7fELF")]], "scratch"),
    ],
)
def test_minimal_bases_are_recognised_and_quiet(layers, distro: str) -> None:
    identified = images.identify(layers)
    assert (identified.distro, identified.minimal) == (distro, True)
    assert not {"shell", "package-manager", "non-minimal-base"} & set(
        rules_of(layers, config(user="65532"))
    )


def test_a_link_loop_or_a_link_outside_the_root_is_not_a_shell() -> None:
    layers = [[tars.symlink("bin/sh", "sh"), tars.symlink("bin/bash", "../../../../host/bin/bash")]]
    assert "shell" not in rules_of(layers)


# --- unreadable layers ------------------------------------------------------------------


def test_an_unreadable_layer_is_a_finding() -> None:
    view = images.view([[tars.file("a", "b")]])
    view.layers[0].error = "corrupt or truncated layer: EOFError"
    from app.analysis import rules

    [finding] = [f for f in rules.judge(view) if f.rule == "unreadable-layer"]
    assert finding.layer == view.layer_digests[0] and "EOFError" in finding.evidence


# --- found by review: credentials hiding in places meant to be kept --------------------------


@pytest.mark.timeout(30)  # the old private-key pattern backtracked quadratically here
def test_many_begin_markers_without_an_end_are_not_a_hang() -> None:
    from app.analysis import secrets

    data = b"-----BEGIN RSA PRIVATE KEY-----\n" * (1024 * 1024 // 32)
    assert secrets.in_file("app/keys.txt", data) == []


def test_a_git_config_keeps_only_remote_urls_and_its_extraheader_is_a_secret() -> None:
    token = base64.b64encode(b"x-access-token:ghs_" + b"Q" * 36).decode()
    config_text = (
        f'[core]\n\tbare = false\n[remote "origin"]\n\turl = https://bot:pw@github.com/acme/app\n'
        f'[http "https://github.com/"]\n\textraheader = AUTHORIZATION: basic {token}\n'
    )
    view = images.view([[tars.file("app/.git/config", config_text)]])
    from app.analysis import rules

    found = rules.judge(view)
    assert any(f.rule == "secret-file" and "extraheader" in f.evidence for f in found)
    captured = view.captured("app/.git/config")
    assert captured == '[remote "origin"]\nurl = https://github.com/acme/app'
    assert token not in str(view.layers[0].hits)


def test_source_urls_lose_their_credentials() -> None:
    from app.analysis import source

    cfg = config(
        labels={
            "org.opencontainers.image.source": "https://ci-bot:S3cr3tpassw0rd@git.example.com/acme/app.git"
        }
    )
    hint = source.hint(images.view([[]], cfg))
    assert hint.repository == "https://git.example.com/acme/app.git"


def test_credentials_in_env_urls_and_aws_keys_starting_with_a_slash() -> None:
    env = [
        "DATABASE_URL=postgres://app:hunter2hunter2@db:5432/app",
        "PLAIN_URL=https://example.com/x",
        "AWS_SECRET_ACCESS_KEY=/wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "CERT_PATH=/run/secrets/cert",
    ]
    view = images.view([[]], config(env=env))
    flagged = sorted(name for name, _ in view.config.env_secrets)
    assert flagged == ["AWS_SECRET_ACCESS_KEY", "DATABASE_URL"]
    assert "hunter2hunter2" not in str(view.config.to_dict())
