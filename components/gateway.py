"""Pure builders of an environment's Gateway API objects (no Pulumi import): one Gateway on GKE's
own Gateway controller, HTTPS only in effect (port 80 answers with a redirect), one HTTPRoute per
component on the DESIGN.md URL scheme with the prefix stripped, and GKE's HealthCheckPolicy from
the catalogue's `health_path`. Ingress-nginx was retired in March 2026; this is the default route
in, and `mlops:routing.kind: ingress` keeps an Ingress for clusters with another controller."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from components.labels import common_labels

GATEWAY_API = "gateway.networking.k8s.io/v1"
GKE_NETWORKING_GROUP = "networking.gke.io"
GKE_NETWORKING = f"{GKE_NETWORKING_GROUP}/v1"
# GKE's classes: a global external Application Load Balancer, or a regional internal one.
EXTERNAL_CLASS = "gke-l7-global-external-managed"
INTERNAL_CLASS = "gke-l7-rilb"
GATEWAY_NAME = "mlops-gateway"
HTTPS_LISTENER = "https"
HTTP_LISTENER = "http"
CERTMAP_ANNOTATION = "networking.gke.io/certmap"


@dataclass(frozen=True)
class GatewaySite:
    """What an environment's Gateway needs. On GKE the certificate comes from a Certificate Manager
    map (`certificate_map`) and the address is a reserved static IP (`address`), both made by the
    program under names known offline; elsewhere a TLS Secret (`tls_secret`) holds the certificate."""

    project: str
    environment: str
    namespace: Any
    host: str
    gateway_class: str = EXTERNAL_CLASS
    certificate_map: str | None = None
    address: str | None = None
    tls_secret: str | None = None
    # A Gateway shared by several environments ("namespace/name"), which routes attach to instead
    # of the environment's own: its owner (a platform team) holds the address and certificates.
    shared_gateway: str | None = None
    # Which namespaces' routes the HTTPS listener accepts (Gateway API `allowedRoutes.namespaces`):
    # its own by default; the platform's shared Gateway, the namespaces labelled for it.
    route_namespaces: dict[str, Any] | None = None


@dataclass(frozen=True)
class GatewayRoute:
    """One component behind the Gateway."""

    component: str
    k8s_name: str
    prefix: str  # the DESIGN.md path, no trailing slash
    service: Any  # the Service's name
    port: int
    health_path: str


def _metadata(site: GatewaySite, name: str, annotations: dict[str, str] | None = None) -> dict[str, Any]:
    found: dict[str, Any] = {
        "name": name,
        "namespace": site.namespace,
        "labels": common_labels(site.project, site.environment),
    }
    if annotations:
        found["annotations"] = annotations
    return found


def gateway(site: GatewaySite) -> dict[str, Any]:
    https: dict[str, Any] = {
        "name": HTTPS_LISTENER,
        "protocol": "HTTPS",
        "port": 443,
        "hostname": site.host,
        "allowedRoutes": {"namespaces": site.route_namespaces or {"from": "Same"}},
    }
    if site.tls_secret is not None:
        https["tls"] = {"mode": "Terminate", "certificateRefs": [{"kind": "Secret", "name": site.tls_secret}]}
    spec: dict[str, Any] = {
        "gatewayClassName": site.gateway_class,
        "listeners": [
            https,
            # Only the redirect route attaches here: plain HTTP never reaches a component.
            {
                "name": HTTP_LISTENER,
                "protocol": "HTTP",
                "port": 80,
                "hostname": site.host,
                "allowedRoutes": {"namespaces": {"from": "Same"}},
            },
        ],
    }
    if site.address is not None:
        spec["addresses"] = [{"type": "NamedAddress", "value": site.address}]
    annotations = {CERTMAP_ANNOTATION: site.certificate_map} if site.certificate_map else None
    return {
        "apiVersion": GATEWAY_API,
        "kind": "Gateway",
        "metadata": _metadata(site, GATEWAY_NAME, annotations),
        "spec": spec,
    }


def _parent(section: str, shared: str | None = None) -> list[dict[str, Any]]:
    if shared is not None:
        namespace, name = shared.split("/", 1)
        return [{"kind": "Gateway", "name": name, "namespace": namespace, "sectionName": section}]
    return [{"kind": "Gateway", "name": GATEWAY_NAME, "sectionName": section}]


def redirect_route(site: GatewaySite) -> dict[str, Any]:
    """HTTP -> HTTPS for every path, with a permanent redirect."""
    return {
        "apiVersion": GATEWAY_API,
        "kind": "HTTPRoute",
        "metadata": _metadata(site, "https-redirect"),
        "spec": {
            "parentRefs": _parent(HTTP_LISTENER),
            "hostnames": [site.host],
            "rules": [
                {"filters": [{"type": "RequestRedirect", "requestRedirect": {"scheme": "https", "statusCode": 301}}]}
            ],
        },
    }


TRACK_HEADER = "X-Mlops-Track"
# What a component calling another sends (mlops_runtime.CALLER_HEADER; a test holds the two equal).
CALLER_HEADER = "X-Mlops-Caller"


def _rule(
    prefix: str, backends: list[dict[str, Any]], track: str | None = None, sticky: str | None = None
) -> dict[str, Any]:
    match: dict[str, Any] = {"path": {"type": "PathPrefix", "value": prefix}}
    if track is not None:
        match["headers"] = [{"type": "Exact", "name": TRACK_HEADER, "value": track}]
    filters: list[dict[str, Any]] = [
        {"type": "URLRewrite", "urlRewrite": {"path": {"type": "ReplacePrefixMatch", "replacePrefixMatch": "/"}}},
        # Only components inside the environment say who they are (metrics label calls by caller,
        # and alerts judge them): a client outside cannot pass itself off as one.
        {"type": "RequestHeaderModifier", "requestHeaderModifier": {"remove": [CALLER_HEADER]}},
    ]
    if sticky is not None:
        extension = {"group": GKE_NETWORKING_GROUP, "kind": "GCPSessionAffinityFilter", "name": sticky}
        filters.append({"type": "ExtensionRef", "extensionRef": extension})
    return {"matches": [match], "filters": filters, "backendRefs": backends}


def http_route(
    route: GatewayRoute, site: GatewaySite, canary: tuple[Any, int] | None = None, sticky: str | None = None
) -> dict[str, Any]:
    """`https://<host><prefix>/...` to the component's Service, the prefix replaced by `/` (so
    `<prefix>/predict` arrives as `/predict`). With a canary (its Service, its weight in percent):
    the traffic is split by weight, and a tester pins a track with `X-Mlops-Track: canary|stable`
    (a rule with a header match wins over the path-only one). `sticky`: the session affinity
    filter (`session_affinity_filter`) on the split, so a client stays on the track it first got."""
    stable = {"name": route.service, "port": route.port}
    if canary is None:
        rules = [_rule(route.prefix, [stable])]
    else:
        service, weight = canary
        other = {"name": service, "port": route.port}
        rules = [
            _rule(route.prefix, [{**stable, "weight": 100 - weight}, {**other, "weight": weight}], sticky=sticky),
            _rule(route.prefix, [other], "canary"),
            _rule(route.prefix, [stable], "stable"),
        ]
    return {
        "apiVersion": GATEWAY_API,
        "kind": "HTTPRoute",
        "metadata": _metadata(site, route.k8s_name),
        "spec": {"parentRefs": _parent(HTTPS_LISTENER, site.shared_gateway), "hostnames": [site.host], "rules": rules},
    }


def session_affinity_filter(route: GatewayRoute, site: GatewaySite, ttl_seconds: int) -> dict[str, Any]:
    """Stateful cookie affinity on a route's split (GKE's `GCPSessionAffinityFilter`): the load
    balancer sets a `GSSA` cookie naming the pod that answered first, and sends the client's later
    requests there while it is healthy; across a weighted split that is the same track. (A
    backend policy's generated cookie would act only within one backend, after the split.)"""
    return {
        "apiVersion": GKE_NETWORKING,
        "kind": "GCPSessionAffinityFilter",
        "metadata": _metadata(site, f"{route.k8s_name}-sticky"),
        "spec": {"statefulGeneratedCookie": {"cookieTtlSeconds": ttl_seconds}},
    }


def health_check_policy(route: GatewayRoute, site: GatewaySite) -> dict[str, Any]:
    """The load balancer checks the component where the catalogue says it answers, not at `/`."""
    return {
        "apiVersion": GKE_NETWORKING,
        "kind": "HealthCheckPolicy",
        "metadata": _metadata(site, f"{route.k8s_name}-health"),
        "spec": {
            "default": {
                "config": {
                    "type": "HTTP",
                    "httpHealthCheck": {"portSpecification": "USE_SERVING_PORT", "requestPath": route.health_path},
                }
            },
            "targetRef": {"group": "", "kind": "Service", "name": route.service},
        },
    }
