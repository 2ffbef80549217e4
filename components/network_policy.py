"""Pure builder of one component's NetworkPolicy (no Pulumi import): everything the component may
send and receive, in one object, on top of the namespace's default deny (`Foundation`).

In: the ingress controller, the components that declare a call to this one, and Managed
Prometheus's collectors, on its container port only. Out: DNS, the GKE metadata server, the
components it declares calls to (on their ports), and Google APIs over HTTPS when it reads model
artifacts. Nothing else. Kubelet probes are not subject to NetworkPolicy.
"""

from __future__ import annotations

from typing import Any

from components.labels import selector_labels
from components.manifests import ComponentServiceArgs, component_labels
from spec.resolved import k8s_name

# Where Google's front ends and health checkers connect from (GKE's Gateway, container-native,
# sends traffic straight to the pods' port from these).
GOOGLE_FRONT_ENDS = ("35.191.0.0/16", "130.211.0.0/22")
# GKE's metadata server: 169.254.169.254:80 is what clients call; under Dataplane V2 the
# Workload Identity server behind it is reached at 169.254.169.252:988 (GKE's documented allows).
METADATA_SERVER = (("169.254.169.254/32", 80), ("169.254.169.252/32", 988))
# private.googleapis.com: Google APIs over Private Google Access, where DNS points there. The
# public rule below covers it too; it is named so that narrowing that rule keeps artifact reads.
PRIVATE_GOOGLE_APIS = "199.36.153.8/30"
# Storage's public VIPs are many and change: where DNS resolves them (the default, also with
# Private Google Access on the platform's subnet) they cannot be listed. So HTTPS to any public
# address is allowed, never to a private or link-local one, where the cluster's own services
# live. HTTPS only, and only for components that read artifacts.
NOT_PUBLIC = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16")
# Google Managed Prometheus: its collectors scrape each pod's metrics from their own namespace.
GMP_COLLECTORS = {
    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "gmp-system"}},
    "podSelector": {"matchLabels": {"app.kubernetes.io/name": "collector"}},
}
KUBE_DNS = {
    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
    "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
}


def network_policy(args: ComponentServiceArgs) -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": args.k8s_name, "namespace": args.namespace, "labels": component_labels(args)},
        "spec": {
            "podSelector": {"matchLabels": selector_labels(args.k8s_name, args.environment)},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": _ingress(args),
            "egress": _egress(args),
        },
    }


def ingress_sources(args: ComponentServiceArgs) -> list[dict[str, Any]]:
    """Who reaches the component from outside the namespace."""
    if args.traffic_cidrs:
        return [{"ipBlock": {"cidr": cidr}} for cidr in args.traffic_cidrs]
    if not args.traffic_namespace:
        raise ValueError(
            f"component '{args.component}': no source of traffic: give the controller's namespace "
            "(mlops:routing.controller_namespace)"
        )
    return [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": args.traffic_namespace}}}]


def _tcp(port: int) -> list[dict[str, Any]]:
    return [{"protocol": "TCP", "port": port}]


def _ingress(args: ComponentServiceArgs) -> list[dict[str, Any]]:
    rules = [{"from": ingress_sources(args), "ports": _tcp(args.port)}]
    if args.callers:
        callers = [
            {"podSelector": {"matchLabels": selector_labels(k8s_name(name), args.environment)}} for name in args.callers
        ]
        rules.append({"from": callers, "ports": _tcp(args.port)})
    # Metrics are served on the component's own port (its PodMonitoring scrapes `http`).
    rules.append({"from": [GMP_COLLECTORS], "ports": _tcp(args.port)})
    return rules


def _egress(args: ComponentServiceArgs) -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = [
        {"to": [KUBE_DNS], "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]},
        *({"to": [{"ipBlock": {"cidr": cidr}}], "ports": _tcp(port)} for cidr, port in METADATA_SERVER),
    ]
    for callee in args.calls:
        # After the Service's address translation: the callee's pods on their container port.
        pods = {"podSelector": {"matchLabels": selector_labels(callee.k8s_name, args.environment)}}
        rules.append({"to": [pods], "ports": _tcp(callee.port)})
    if args.artifacts_prefix is not None:
        google = [
            {"ipBlock": {"cidr": PRIVATE_GOOGLE_APIS}},
            {"ipBlock": {"cidr": "0.0.0.0/0", "except": list(NOT_PUBLIC)}},
        ]
        rules.append({"to": google, "ports": _tcp(443)})
    return rules
