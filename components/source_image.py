"""SourceImage: a component's image built from its source tree with pulumi-docker, pushed to the
Artifact Registry repository the catalogue names, and deployed by the digest the registry returns
(never by tag). Only integration and challengers build (`version: source`); `mlops version add
--from-stack` registers the digest as a catalogue version, so promotion moves digests and never
rebuilds."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

import pulumi

# Files that never belong in an image's build context hash (they change without the source changing).
SKIPPED = {".git", "__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache", ".venv", "node_modules"}


@dataclass(frozen=True)
class SourceImageArgs:
    repository: str  # registry host/path/name, without tag (the catalogue's `image`)
    context: str  # absolute path of the build context
    tag: str  # <commit>-<context hash>: a new tag per content, as the registry's immutable tags require
    registry_password: pulumi.Input[str]  # an OAuth access token (a secret)
    dockerfile: str | None = None  # absolute path; None: Dockerfile in the context
    build_args: dict[str, str] = field(default_factory=dict)
    platform: str = "linux/amd64"  # GKE nodes' architecture, whatever machine builds

    @property
    def registry_server(self) -> str:
        return self.repository.split("/", 1)[0]


def context_hash(context: Path, dockerfile: Path | None = None) -> str:
    """A hash of a build context's files (paths and contents) and of the Dockerfile: the same
    source always gets the same tag, any change a new one."""
    digest = hashlib.sha256()
    for directory, subdirectories, files in os.walk(context):
        subdirectories[:] = sorted(d for d in subdirectories if d not in SKIPPED)
        for name in sorted(files):
            path = Path(directory) / name
            digest.update(str(path.relative_to(context)).encode() + b"\0")
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    if dockerfile is not None and not dockerfile.is_relative_to(context):
        digest.update(b"dockerfile\0" + dockerfile.read_bytes())
    return digest.hexdigest()


class SourceImage(pulumi.ComponentResource):
    """`image`: registry/path/name@sha256:... of the pushed build."""

    image: pulumi.Output[str]

    def __init__(self, name: str, args: SourceImageArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("mlops:build:SourceImage", name, None, opts)
        import pulumi_docker as docker

        if not Path(args.context).is_dir():
            raise ValueError(f"component '{name}': build context {args.context} is not a directory")
        built = docker.Image(
            f"{name}-image",
            image_name=f"{args.repository}:{args.tag}",
            build=docker.DockerBuildArgs(
                context=args.context,
                dockerfile=args.dockerfile,
                args=args.build_args or None,
                platform=args.platform,
            ),
            # Artifact Registry takes a short-lived OAuth token; no key file exists anywhere.
            registry=docker.RegistryArgs(
                server=args.registry_server,
                username="oauth2accesstoken",
                password=pulumi.Output.secret(args.registry_password),
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.image = built.repo_digest
        self.register_outputs({"image": self.image})
