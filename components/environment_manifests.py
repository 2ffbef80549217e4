"""Pure builders of what one environment shares (no Pulumi import): its namespace, environment
config, API key Secret and network policy. `Foundation` declares exactly these dicts, and
`mlops plan` renders them without running the program."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from components.labels import common_labels
from components.manifests import (
    API_KEY_KEY,
    API_KEY_SECRET_NAME,
    ENVIRONMENT_CONFIG_KEY,
    ENVIRONMENT_CONFIG_NAME,
)

NETWORK_POLICY_NAME = "mlops-allow-namespace-and-ingress"


@dataclass(frozen=True)
class EnvironmentSite:
    """Where an environment lives: its project, name, namespace and the ingress controller's
    namespace (the only outside namespace allowed in)."""

    project: str
    environment: str
    namespace: str
    ingress_controller_namespace: str

    @property
    def labels(self) -> dict[str, str]:
        return common_labels(self.project, self.environment)

    def metadata(self, name: str, namespace: Any) -> dict[str, Any]:
        return {"name": name, "namespace": namespace, "labels": self.labels}


def namespace(site: EnvironmentSite) -> dict[str, Any]:
    labels = {
        **site.labels,
        # Pod Security Admission: reject any pod that is not "restricted".
        "pod-security.kubernetes.io/enforce": "restricted",
        "pod-security.kubernetes.io/enforce-version": "latest",
    }
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
    # Default deny for ingress: only pods of this namespace and the ingress controller reach
    # the components. Kubelet probes are not subject to NetworkPolicy.
    controller = {"matchLabels": {"kubernetes.io/metadata.name": site.ingress_controller_namespace}}
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": site.metadata(NETWORK_POLICY_NAME, namespace_name),
        "spec": {
            "podSelector": {},
            "policyTypes": ["Ingress"],
            "ingress": [{"from": [{"podSelector": {}}, {"namespaceSelector": controller}]}],
        },
    }
