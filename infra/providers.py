"""The Kubernetes provider for the environment's cluster: an existing GKE cluster (endpoint and CA
looked up, credentials from the GKE auth plugin) or any cluster by kubeconfig context."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.kubeconfig import gke_kubeconfig
from spec.schema import StackConfig


def _ca_certificate(master_auth: Any) -> str:
    # The SDK hands typed results to a real run; the mock engine hands plain dicts.
    if isinstance(master_auth, dict):
        return master_auth.get("cluster_ca_certificate") or master_auth["clusterCaCertificate"]
    return master_auth.cluster_ca_certificate


def kubernetes_provider(
    config: StackConfig, gcp_project: str | None, platform: Mapping[str, Any] | None
) -> k8s.Provider:
    """The provider for the platform stack's cluster (`platform`: its outputs), a GKE cluster named
    in the stack file, or a kubeconfig context."""
    if platform is not None:
        kubeconfig = pulumi.Output.all(
            platform["cluster_name"], platform["cluster_endpoint"], platform["cluster_ca_certificate"]
        ).apply(lambda values: gke_kubeconfig(values[0], values[1], values[2]))
        return k8s.Provider("cluster", kubeconfig=kubeconfig)
    cluster = config.cluster
    assert cluster is not None  # the schema requires mlops:platform or mlops:cluster
    if not cluster.is_gke:
        return k8s.Provider("cluster", context=cluster.kubeconfig_context)
    import pulumi_gcp.container as gke

    found = gke.get_cluster_output(name=cluster.name, location=cluster.location, project=gcp_project)
    kubeconfig = pulumi.Output.all(found.endpoint, found.master_auths).apply(
        lambda values: gke_kubeconfig(cluster.name or "", values[0], _ca_certificate(values[1][0]))
    )
    return k8s.Provider("cluster", kubeconfig=kubeconfig)
