"""Label and selector conventions shared by every component (one place, so they cannot drift)."""

from __future__ import annotations

WORKER_GROUP_LABEL = "mlops.dev/worker-group"
GKE_NODE_POOL_LABEL = "cloud.google.com/gke-nodepool"
ENVIRONMENT_LABEL = "mlops.dev/environment"
# The catalogue name of the component a pod runs, on both tracks (stable and canary): what its
# PodMonitoring selects, so the two versions' metrics can be compared.
COMPONENT_LABEL = "mlops.dev/component"


def common_labels(project: str, environment: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/part-of": project,
        "app.kubernetes.io/managed-by": "pulumi",
        ENVIRONMENT_LABEL: environment,
    }


def selector_labels(k8s_name: str, environment: str) -> dict[str, str]:
    """Pod selector of a component. Never includes the version: a Deployment's selector is
    immutable, and a version change must roll pods, not replace the Deployment."""
    return {"app.kubernetes.io/name": k8s_name, ENVIRONMENT_LABEL: environment}


# On an environment's namespace when its routes attach to a shared Gateway: the platform's shared
# Gateway accepts routes from namespaces with this label only.
SHARED_GATEWAY_LABEL = "mlops.dev/shared-gateway"
SHARED_GATEWAY_ACCESS = "attached"
