"""ArtifactReader: a component that reads model artifacts (catalogue `artifacts.prefix`) may read
that folder of the artifact bucket and nothing else - `roles/storage.objectViewer` on the bucket
for its own Kubernetes ServiceAccount (Workload Identity Federation for GKE), conditioned on the
object name. The bucket uses uniform bucket-level access, which IAM conditions require."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi

from components.manifests import workload_identity_member

READER_ROLE = "roles/storage.objectViewer"


@dataclass(frozen=True)
class ArtifactReaderArgs:
    bucket: Any
    prefix: str  # ends in '/', so models/a/ never matches models/ab/
    gcp_project: Any  # the cluster's project (its workload pool)
    project_number: Any
    namespace: str
    service_account: str


def read_condition(bucket: str, prefix: str) -> str:
    return f'resource.name.startsWith("projects/_/buckets/{bucket}/objects/{prefix}")'


class ArtifactReader(pulumi.ComponentResource):
    def __init__(self, name: str, args: ArtifactReaderArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("mlops:identity:ArtifactReader", name, None, opts)
        import pulumi_gcp as gcp

        if not args.prefix.endswith("/") or args.prefix.startswith("/"):
            raise ValueError(f"component '{name}': artifacts prefix must be relative and end in '/', got {args.prefix}")
        member = pulumi.Output.all(args.project_number, args.gcp_project).apply(
            lambda v: workload_identity_member(v[0], v[1], args.namespace, args.service_account)
        )
        gcp.storage.BucketIAMMember(
            f"{name}-artifact-reader",
            bucket=args.bucket,
            role=READER_ROLE,
            member=member,
            condition=gcp.storage.BucketIAMMemberConditionArgs(
                title=f"{name} reads {args.prefix}"[:100],
                expression=pulumi.Output.from_input(args.bucket).apply(lambda b: read_condition(b, args.prefix)),
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({})
