"""WorkerGroup: machines of one worker type and a size, as a GKE node pool this stack owns."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_gcp.container as gke

from components.labels import WORKER_GROUP_LABEL
from infra.worker_types import WORKER_TYPES


@dataclass(frozen=True)
class WorkerGroupArgs:
    cluster: str
    location: str
    gcp_project: str
    worker_type: str
    size: int | None = None
    min_size: int | None = None
    max_size: int | None = None
    disk_size_gb: int = 100
    labels: dict[str, str] | None = None


class WorkerGroup(pulumi.ComponentResource):
    """A GKE node pool labelled and tainted so that only pods meant for this group land on it."""

    node_pool: gke.NodePool

    def __init__(self, name: str, args: WorkerGroupArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("mlops:workers:WorkerGroup", name, None, opts)
        if args.worker_type not in WORKER_TYPES:
            raise ValueError(f"worker group '{name}': unknown worker type '{args.worker_type}'")
        if (args.size is None) == (args.min_size is None or args.max_size is None):
            raise ValueError(f"worker group '{name}': give size, or min_size and max_size")
        machine = WORKER_TYPES[args.worker_type].machine_type
        labels = {**(args.labels or {}), WORKER_GROUP_LABEL: name}

        if args.size is not None:
            sizing: dict = {"node_count": args.size}
            ignore: list[str] = []
        else:
            sizing = {
                "initial_node_count": args.min_size,
                "autoscaling": gke.NodePoolAutoscalingArgs(min_node_count=args.min_size, max_node_count=args.max_size),
            }
            # The autoscaler owns the current size; initial_node_count is create-only and would
            # otherwise force a replacement of the pool on every drift.
            ignore = ["initialNodeCount", "nodeCount"]

        # No explicit pool name: Pulumi appends a suffix, so a change that needs a new pool (a new
        # machine type) creates the new pool before the old one is drained and deleted.
        self.node_pool = gke.NodePool(
            name,
            cluster=args.cluster,
            location=args.location,
            project=args.gcp_project,
            **sizing,
            management=gke.NodePoolManagementArgs(auto_repair=True, auto_upgrade=True),
            # Surge upgrades: one new node joins before any old node is drained, never fewer
            # nodes than the pool's size.
            upgrade_settings=gke.NodePoolUpgradeSettingsArgs(strategy="SURGE", max_surge=1, max_unavailable=0),
            node_config=gke.NodePoolNodeConfigArgs(
                machine_type=machine,
                disk_size_gb=args.disk_size_gb,
                disk_type="pd-balanced",
                image_type="COS_CONTAINERD",
                labels=labels,
                taints=[gke.NodePoolNodeConfigTaintArgs(key=WORKER_GROUP_LABEL, value=name, effect="NO_SCHEDULE")],
                # Pods reach Google APIs through Workload Identity, never the node's credentials.
                workload_metadata_config=gke.NodePoolNodeConfigWorkloadMetadataConfigArgs(mode="GKE_METADATA"),
                metadata={"disable-legacy-endpoints": "true"},
                oauth_scopes=["https://www.googleapis.com/auth/cloud-platform"],
                shielded_instance_config=gke.NodePoolNodeConfigShieldedInstanceConfigArgs(
                    enable_secure_boot=True, enable_integrity_monitoring=True
                ),
            ),
            opts=pulumi.ResourceOptions(parent=self, ignore_changes=ignore or None),
        )
        self.register_outputs({"node_pool": self.node_pool.name})
