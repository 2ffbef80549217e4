"""WorkerGroup: machines of one worker type and a size, as a GKE node pool this stack owns."""

from __future__ import annotations

import pulumi
import pulumi_gcp.container as gke

from components.node_pools import WorkerGroupArgs, node_pool

__all__ = ["WorkerGroup", "WorkerGroupArgs"]


class WorkerGroup(pulumi.ComponentResource):
    """A GKE node pool labelled and tainted so that only pods meant for this group land on it."""

    node_pool: gke.NodePool

    def __init__(self, name: str, args: WorkerGroupArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("mlops:workers:WorkerGroup", name, None, opts)
        inputs, ignore = node_pool(name, args)
        self.node_pool = gke.NodePool(
            name, **inputs, opts=pulumi.ResourceOptions(parent=self, ignore_changes=ignore or None)
        )
        self.register_outputs({"node_pool": self.node_pool.name})
