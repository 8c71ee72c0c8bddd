"""Manifest and config media types, named once."""

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"

IMAGE_MANIFESTS = frozenset({DOCKER_MANIFEST, OCI_MANIFEST})
INDEXES = frozenset({DOCKER_MANIFEST_LIST, OCI_INDEX})
IMAGE_CONFIGS = frozenset({DOCKER_CONFIG, OCI_CONFIG})
ACCEPT = ", ".join([OCI_INDEX, DOCKER_MANIFEST_LIST, OCI_MANIFEST, DOCKER_MANIFEST])

# Layers of manifests that describe an image instead of being one: BuildKit's in-toto
# attestations, cosign's signatures (simple signing), attestations (DSSE) and SBOMs.
ATTESTATION_LAYERS = frozenset(
    {
        "application/vnd.in-toto+json",
        "application/vnd.dsse.envelope.v1+json",
        "application/vnd.dev.cosign.simplesigning.v1+json",
        "text/spdx",
        "text/spdx+json",
        "spdx+json",  # what older cosign releases wrote for SPDX JSON
        "application/vnd.cyclonedx+json",
        "application/vnd.cyclonedx+xml",
        "application/vnd.syft+json",
    }
)
# Filesystem layers (OCI's, plain or non-distributable, and Docker's rootfs diffs).
IMAGE_LAYER_PREFIXES = ("application/vnd.oci.image.layer.", "application/vnd.docker.image.rootfs.")
