"""Builder detection on every real config in tests/fixtures/images/, and the app layers."""

from __future__ import annotations

import json

import pytest

from app.analysis import builder
from app.analysis.config import from_config
from app.models import Builder
from tests.conftest import FIXTURES

IMAGES = FIXTURES / "images"


def detect(config: dict) -> Builder:
    return builder.detect(from_config(config))


@pytest.mark.parametrize(
    ("fixture", "kind", "tool", "version"),
    [
        (
            "jib/jib-gradle-plugin-1.4.1-snapshot.config.json",
            "jib",
            "jib-gradle-plugin",
            "1.4.1-SNAPSHOT",
        ),
        ("jib/jib-core-on-busybox.config.json", "jib", "jib-core", None),
        ("jib/jib-core-testjson-containerconfig.json", "jib", "jib", None),
        ("dockerfile/dockle-testdata-nginx.config.json", "dockerfile", "classic", None),
        (
            "dockerfile/dockle-testdata-add_with_arg_statement.config.json",
            "dockerfile",
            "buildkit",
            None,
        ),
        ("dockerfile/dockle-testdata-apk_cache.config.json", "dockerfile", "classic", None),
        ("dockerfile/dockle-testdata-root_default.config.json", "dockerfile", "classic", None),
        # a CNB run image extended by kaniko, without lifecycle labels: not an app image
        ("buildpacks/lifecycle-extended-run-image-kaniko.config.json", "unknown", None, None),
    ],
)
def test_builder_detection_on_real_configs(
    fixture: str, kind: str, tool: str | None, version: str | None
) -> None:
    detected = detect(json.loads((IMAGES / fixture).read_text()))
    assert (detected.kind, detected.tool, detected.version) == (kind, tool, version)
    if kind != "unknown":
        assert detected.evidence


def labels(**values: object) -> dict:
    return {
        "config": {
            "Labels": {k: v if isinstance(v, str) else json.dumps(v) for k, v in values.items()}
        },
        "history": [{"created_by": "Application Layer"}],
    }


@pytest.mark.parametrize(
    ("config", "kind"),
    [
        (
            labels(
                **{
                    "io.buildpacks.lifecycle.metadata": {},
                    "io.buildpacks.stack.id": "io.buildpacks.stacks.jammy",
                }
            ),
            "paketo",
        ),
        (
            labels(
                **{"io.buildpacks.lifecycle.metadata": {}, "io.buildpacks.stack.id": "google.22"}
            ),
            "gcp-buildpacks",
        ),
        (
            labels(
                **{
                    "io.buildpacks.lifecycle.metadata": {},
                    "io.buildpacks.build.metadata": {"buildpacks": [{"id": "google.java.maven"}]},
                }
            ),
            "gcp-buildpacks",
        ),
        (
            labels(
                **{"io.buildpacks.lifecycle.metadata": {}, "io.buildpacks.stack.id": "heroku-24"}
            ),
            "buildpacks",
        ),
        ({"history": [{"author": "ko", "created_by": "ko build ko://example.com/app"}]}, "ko"),
        ({"author": "github.com/chainguard-dev/apko", "history": [{"created_by": "apko"}]}, "apko"),
        ({"history": [{"author": "Bazel", "created_by": "bazel build ..."}]}, "bazel"),
        ({"history": []}, "bazel"),
        (
            {
                "history": [
                    {"created_by": "COPY . /app # buildkit", "comment": "buildkit.dockerfile.v0"}
                ]
            },
            "dockerfile",
        ),
        ({"history": [{"created_by": "/bin/sh -c echo jib-maven-plugin:3.4.4"}]}, "dockerfile"),
    ],
)
def test_builder_kinds(config: dict, kind: str) -> None:
    assert detect(config).kind == kind


def test_app_layers_per_builder() -> None:
    jib = from_config(
        {
            "history": [
                {"created_by": "/bin/sh -c #(nop) ADD file:a in /"},
                {"created_by": '/bin/sh -c #(nop)  CMD ["bash"]', "empty_layer": True},
                {
                    "author": "Jib",
                    "created_by": "jib-maven-plugin:3.4.4",
                    "comment": "dependencies",
                },
                {"author": "Jib", "created_by": "jib-maven-plugin:3.4.4", "comment": "classes"},
            ],
            "rootfs": {"diff_ids": ["sha256:a", "sha256:b", "sha256:c"]},
        }
    )
    assert builder.app_layers(jib, builder.detect(jib), 3) == {1, 2}

    dockerfile = from_config(
        {
            "history": [
                {"created_by": "/bin/sh -c #(nop) ADD file:a in /"},
                {"created_by": '/bin/sh -c #(nop)  CMD ["bash"]', "empty_layer": True},
                {
                    "created_by": "RUN /bin/sh -c apt-get install -y x # buildkit",
                    "comment": "buildkit.dockerfile.v0",
                },
                {"created_by": "COPY . /app # buildkit", "comment": "buildkit.dockerfile.v0"},
                {
                    "created_by": 'CMD ["/app/run"]',
                    "comment": "buildkit.dockerfile.v0",
                    "empty_layer": True,
                },
            ],
            "rootfs": {"diff_ids": ["sha256:a", "sha256:b", "sha256:c"]},
        }
    )
    assert builder.app_layers(dockerfile, builder.detect(dockerfile), 3) == {1, 2}

    top = "sha256:" + "b" * 64
    cnb = from_config(
        {
            "config": {
                "Labels": {
                    "io.buildpacks.lifecycle.metadata": json.dumps({"runImage": {"topLayer": top}})
                }
            },
            "rootfs": {"diff_ids": ["sha256:" + "a" * 64, top, "sha256:" + "c" * 64]},
        }
    )
    assert builder.app_layers(cnb, builder.detect(cnb), 3) == {2}
    assert builder.app_layers(from_config({"history": []}), builder.Builder("unknown"), 2) == {0, 1}
