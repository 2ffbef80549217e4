"""Environment -> its routing objects, without Pulumi: how requests reach the components (GKE's
Gateway and its routes, or Ingresses), the load balancer's address ranges the network policies let
in, and the backend policies (health checks, Cloud Armor, sticky canaries). The program declares
them through `Routes`; `mlops plan` renders the same."""

from __future__ import annotations

import dataclasses
from typing import Any

from components import gateway, manifests
from components.backend_policy import backend_policy
from components.gateway import EXTERNAL_CLASS, INTERNAL_CLASS, GatewayRoute, GatewaySite
from components.gcp_names import edge_names, security_policy_name
from components.manifests import SERVICE_PORT, IngressSite, Route
from components.network_policy import GOOGLE_FRONT_ENDS
from spec.environment import Environment, ResolvedComponent, route_prefix

# How long a sticky canary keeps a client on the track it first got.
STICKY_SECONDS = 86400  # the longest the load balancer allows: a day of clean comparison per client


def route(env: Environment, c: ResolvedComponent, service: Any) -> Route:
    return Route(
        component=c.name,
        k8s_name=c.k8s_name,
        prefix=route_prefix(env.project, env.name, c),
        service=service,
        port=SERVICE_PORT,
    )


def traffic_cidrs(env: Environment) -> tuple[str, ...]:
    """Where the load balancer connects to the pods from: Google's front ends for GKE's external
    Gateway, the proxy-only subnet for its internal one; none (a controller's namespace instead)
    for an Ingress or a Gateway that is not GKE's."""
    routing = env.config.routing
    if routing.kind != "gateway" or not env.config.is_gke or routing.class_name is not None:
        return ()
    return tuple(routing.proxy_source_ranges) if routing.internal else GOOGLE_FRONT_ENDS


def ingress_site(env: Environment, namespace: Any) -> IngressSite:
    routing = env.config.routing
    return IngressSite(
        project=env.project,
        environment=env.name,
        namespace=namespace,
        host=routing.host,
        class_name=routing.class_name or "",
        tls_secret=routing.tls_secret,
    )


def gateway_site(env: Environment, namespace: Any) -> GatewaySite:
    """On GKE's external class, the certificate and address come from Google Cloud (`Edge`, under
    names known offline); otherwise from a TLS Secret."""
    routing = env.config.routing
    managed = env.config.is_gke and routing.class_name is None and not routing.internal and routing.gateway is None
    address, certificate_map = edge_names(env.namespace) if managed else (None, None)
    return GatewaySite(
        project=env.project,
        environment=env.name,
        namespace=namespace,
        host=routing.host,
        gateway_class=routing.class_name or (INTERNAL_CLASS if routing.internal else EXTERNAL_CLASS),
        certificate_map=certificate_map,
        address=address,
        tls_secret=None if managed else routing.tls_secret,
        shared_gateway=routing.gateway,
    )


def gateway_route(env: Environment, c: ResolvedComponent, service: Any) -> GatewayRoute:
    """The component's `route`, with the health path its health check policy uses."""
    return GatewayRoute(**vars(route(env, c, service)), health_path=c.catalogue.health_path)


def routing_objects(env: Environment) -> dict[str, dict[str, Any]]:
    """The environment's own routing objects, by logical name: the Gateway and its HTTP -> HTTPS
    redirect (none for an Ingress: each component has its own)."""
    if env.config.routing.kind != "gateway" or env.config.routing.gateway is not None:
        return {}  # an Ingress per component, or routes attached to a shared Gateway
    site = gateway_site(env, env.namespace)
    return {
        f"{env.name}-routes-gateway": gateway.gateway(site),
        f"{env.name}-routes-https-redirect": gateway.redirect_route(site),
    }


def component_routes(
    env: Environment, c: ResolvedComponent, service: Any, canary_service: Any = None
) -> dict[str, dict[str, Any]]:
    """One component's routing objects, by logical name: its HTTPRoute (weighted between the two
    tracks when it runs a canary) and, on GKE, the health check policies from the catalogue's
    health_path, the backend policies (the Cloud Armor policy of a rate limit) and a sticky
    canary's session affinity filter; or its Ingress."""
    if env.config.routing.kind != "gateway":
        return {
            f"{env.name}-routes-{c.name}": manifests.ingress(route(env, c, service), ingress_site(env, env.namespace))
        }
    site = gateway_site(env, env.namespace)
    stable = gateway_route(env, c, service)
    canary = None
    tracks = [(c.name, stable)]
    if c.canary is not None and c.pin.canary is not None:
        canary = (canary_service, c.pin.canary.weight)
        track = dataclasses.replace(stable, k8s_name=f"{c.k8s_name}-canary", service=canary_service)
        tracks.append((f"{c.name}-canary", track))
    on_gke = env.config.is_gke and env.config.routing.class_name is None
    sticky = on_gke and c.pin.canary is not None and c.pin.canary.sticky and canary is not None
    found: dict[str, dict[str, Any]] = {}
    if sticky:
        stickiness = gateway.session_affinity_filter(stable, site, STICKY_SECONDS)
        found[f"{env.name}-routes-{c.name}-sticky"] = stickiness
    found[f"{env.name}-routes-{c.name}"] = gateway.http_route(
        stable, site, canary, stickiness["metadata"]["name"] if sticky else None
    )
    if on_gke:
        # The environment refuses a rate limit anywhere but on GKE's external Gateway.
        security_policy = security_policy_name(env.namespace, c.k8s_name) if c.rate_limit is not None else None
        for name, track in tracks:
            found[f"{env.name}-routes-{name}-health"] = gateway.health_check_policy(track, site)
            policy = backend_policy(track, site, security_policy=security_policy)
            if policy is not None:
                found[f"{env.name}-routes-{name}-backend"] = policy
    return found


def protected_routes(env: Environment) -> frozenset[str]:
    """Production's Gateway: its address is what DNS points at."""
    return frozenset({f"{env.name}-routes-gateway"} if env.ends_chain and routing_objects(env) else set())
