"""Run the platform program (`platform/`) offline exactly as `tests.program_run` runs the
environment program - config handed over as the CLI hands it, the program's directory as working
directory, `runpy.run_path` under `pulumi.runtime.test` and `set_mocks` - with a mock engine that
also answers what GCP computes and the program reads: a service account's email, a network's and a
subnetwork's id and self link, a cluster's endpoint and CA certificate.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pulumi

from . import program_run
from .program_run import FAKE_CA, FAKE_ENDPOINT, ProgramRun, RecordingMocks

PLATFORM = Path(__file__).resolve().parent.parent / "platform"
COMPUTE_API = "https://www.googleapis.com/compute/v1/"


def platform_stacks(root: Path = PLATFORM) -> list[str]:
    return sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in root.glob("Pulumi.*.yaml"))


class PlatformMocks(RecordingMocks):
    """RecordingMocks, answering like GCP for the outputs the platform program reads."""

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
        resource_id, state = super().new_resource(args)
        inputs, project = args.inputs, args.inputs.get("project")
        if args.typ == "gcp:serviceaccount/account:Account":
            state["email"] = f"{inputs['accountId']}@{project}.iam.gserviceaccount.com"
        elif args.typ == "gcp:compute/network:Network":
            resource_id = f"projects/{project}/global/networks/{inputs['name']}"
            state["selfLink"] = COMPUTE_API + resource_id
        elif args.typ == "gcp:compute/subnetwork:Subnetwork":
            resource_id = f"projects/{project}/regions/{inputs['region']}/subnetworks/{inputs['name']}"
            state["selfLink"] = COMPUTE_API + resource_id
        elif args.typ == "gcp:container/cluster:Cluster":
            state["endpoint"] = FAKE_ENDPOINT
            state["masterAuth"] = {**(inputs.get("masterAuth") or {}), "clusterCaCertificate": FAKE_CA}
        return resource_id, state


def run_platform(
    root: Path = PLATFORM, stack: str = "shared", overrides: Mapping[str, Any] | None = None
) -> ProgramRun:
    """Run the platform program for `stack` under the mocks and record it (raises ProgramError with
    the program's one-line messages when the config is invalid)."""
    return program_run.run_program(root, stack, overrides, mocks_class=PlatformMocks)
