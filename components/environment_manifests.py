"""Pure builders of what one environment shares (no Pulumi import): its namespace, environment
config, API key Secret and default-deny network policy. `Foundation` declares exactly these dicts, and
`mlops plan` renders them without running the program."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from components.labels import SHARED_GATEWAY_ACCESS, SHARED_GATEWAY_LABEL, common_labels
from components.manifests import API_KEY_SECRET_NAME, ENVIRONMENT_CONFIG_NAME
from components.pod_spec import API_KEY_KEY, ENVIRONMENT_CONFIG_KEY

NETWORK_POLICY_NAME = "mlops-default-deny"


@dataclass(frozen=True)
class EnvironmentSite:
    """Where an environment lives: its project, name and namespace."""

    project: str
    environment: str
    namespace: str
    # Its routes attach to a shared Gateway (mlops:routing.gateway), which admits labelled namespaces.
    shared_gateway: bool = False

    @property
    def labels(self) -> dict[str, str]:
        return common_labels(self.project, self.environment)

    def metadata(self, name: str, namespace: Any) -> dict[str, Any]:
        return {"name": name, "namespace": namespace, "labels": self.labels}


def namespace(site: EnvironmentSite) -> dict[str, Any]:
    # Pod Security Admission: reject any pod that is not "restricted" (by the rules of the
    # cluster's own version), and say so in warnings and the audit log as well.
    labels = {**site.labels}
    for mode in ("enforce", "warn", "audit"):
        labels[f"pod-security.kubernetes.io/{mode}"] = "restricted"
        labels[f"pod-security.kubernetes.io/{mode}-version"] = "latest"
    if site.shared_gateway:
        labels[SHARED_GATEWAY_LABEL] = SHARED_GATEWAY_ACCESS
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": site.namespace, "labels": labels}}


def environment_config_map(site: EnvironmentSite, namespace_name: Any, text: str) -> dict[str, Any]:
    """The environment config as YAML text, when it holds no secret."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": site.metadata(ENVIRONMENT_CONFIG_NAME, namespace_name),
        "data": {ENVIRONMENT_CONFIG_KEY: text},
    }


def environment_config_secret(site: EnvironmentSite, namespace_name: Any, text: Any) -> dict[str, Any]:
    """The environment config as YAML text, when it holds a secret: a Secret of the same name."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": site.metadata(ENVIRONMENT_CONFIG_NAME, namespace_name),
        "type": "Opaque",
        "stringData": {ENVIRONMENT_CONFIG_KEY: text},
    }


def api_key_secret(site: EnvironmentSite, namespace_name: Any, key: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": site.metadata(API_KEY_SECRET_NAME, namespace_name),
        "type": "Opaque",
        "stringData": {API_KEY_KEY: key},
    }


def network_policy(site: EnvironmentSite, namespace_name: Any) -> dict[str, Any]:
    """Default deny, both ways, for every pod of the namespace: a pod gets only what its own
    component's policy allows (`components.network_policy`), and a pod that is no component's
    (a debugging shell, a job) gets nothing, not even DNS."""
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": site.metadata(NETWORK_POLICY_NAME, namespace_name),
        "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
    }
