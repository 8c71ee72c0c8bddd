"""From a pushed manifest digest to a Report: resolve the platform, read the config, judge."""

from __future__ import annotations

import json
from dataclasses import dataclass

from app.analysis import builder, source
from app.analysis.facts import ImageFacts
from app.analysis.rules import RULES
from app.models import BaseImage, PlatformReport, Report
from app.registry import Manifest, RegistryClient, mediatypes
from app.registry.client import DIGEST

DEFAULT_PLATFORM = "linux/amd64"


class AnalysisError(Exception):
    """The image cannot be analyzed (not an image, no matching platform, bad config)."""


@dataclass(frozen=True, slots=True)
class Target:
    """The platform manifest that a pushed manifest or index resolves to."""

    platform: str | None  # None for a plain manifest: the config says which it is
    manifest: Manifest


def resolve(client: RegistryClient, repository: str, reference: str) -> Target:
    manifest = client.manifest(repository, reference)
    if not manifest.is_index:
        return Target(platform=None, manifest=manifest)
    entries = manifest.data.get("manifests")
    for entry in entries if isinstance(entries, list) else []:
        platform = entry.get("platform") if isinstance(entry, dict) else None
        if not isinstance(platform, dict):
            continue
        name = f"{platform.get('os')}/{platform.get('architecture')}"
        if name == DEFAULT_PLATFORM and entry.get("mediaType") in mediatypes.IMAGE_MANIFESTS:
            digest = entry.get("digest")
            if not isinstance(digest, str) or not DIGEST.match(digest):
                raise AnalysisError(
                    f"index {manifest.digest}: {DEFAULT_PLATFORM} entry has no digest"
                )
            child = client.manifest(repository, digest)
            if child.is_index:
                raise AnalysisError(f"{DEFAULT_PLATFORM} entry of the index is itself an index")
            return Target(platform=DEFAULT_PLATFORM, manifest=child)
    raise AnalysisError(f"index {manifest.digest} has no {DEFAULT_PLATFORM} image")


def analyze(
    client: RegistryClient, repository: str, target: Target, name: str, pushed_digest: str
) -> Report:
    """Judge one resolved platform image; ``name`` is how the report names the image."""
    config_descriptor = target.manifest.data.get("config")
    if not isinstance(config_descriptor, dict):
        raise AnalysisError(f"manifest {target.manifest.digest} has no config descriptor")
    config_type = config_descriptor.get("mediaType")
    if config_type not in mediatypes.IMAGE_CONFIGS:
        raise AnalysisError(
            f"manifest {target.manifest.digest} is an artifact ({config_type!r}), not an image"
        )
    try:
        config = json.loads(client.blob(repository, str(config_descriptor.get("digest"))))
    except (ValueError, RecursionError) as exc:
        raise AnalysisError(f"image config of {target.manifest.digest} is not usable JSON") from exc
    if not isinstance(config, dict):
        raise AnalysisError(f"image config of {target.manifest.digest} is not a JSON object")
    platform = target.platform or f"{config.get('os')}/{config.get('architecture')}"
    annotations = target.manifest.data.get("annotations")
    facts = ImageFacts(
        platform=platform,
        digest=target.manifest.digest,
        config=config,
        annotations=annotations if isinstance(annotations, dict) else {},
    )
    findings = tuple(finding for rule in RULES.values() for finding in rule(facts))
    platform_report = PlatformReport(
        platform=platform,
        digest=facts.digest,
        user=facts.user,
        builder=builder.detect(facts),
        base=BaseImage(),
        source=source.hint(facts),
        findings=findings,
    )
    return Report(reference=name, digest=pushed_digest, platforms=(platform_report,))
