"""Pure builders of the Kubernetes manifests of one component (no Pulumi import): the
ComponentResources declare exactly these dicts, and tools (diff, status) render them directly."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Literal

from components.labels import COMPONENT_LABEL, common_labels, selector_labels
from components.pod_spec import APP_CONFIG_KEY, pod_spec

ENVIRONMENT_CONFIG_NAME = "environment-config"
# stable or canary: which of a component's two versions a pod runs (metrics and dashboards split on it).
TRACK_LABEL = "mlops.dev/track"
API_KEY_SECRET_NAME = "mlops-api-key"
SERVICE_PORT = 80
# Stands for a value the program derives from secrets (known only at deploy time).
SECRET_DERIVED = "<derived from secrets>"


def to_config_text(data: Any) -> str:
    """The text of a config file the pods read (app config, environment config): JSON, which is
    also YAML, so apps read it with `json` or any YAML parser. Keys sorted: equal data, equal text."""
    return json.dumps(data, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def content_hash(data: Any) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:16]


def keyed_hash(key: str, data: Any) -> str:
    """A hash of secret data that reveals nothing without `key` (the stack's API key): it may
    stand in clear on a pod template, where a plain hash of a short password could be guessed."""
    import hmac

    text = json.dumps(data, sort_keys=True, default=str).encode()
    return hmac.new(key.encode(), text, hashlib.sha256).hexdigest()[:16]


@dataclass(frozen=True)
class Callee:
    """A component this one calls (catalogue `calls`, pinned in the same environment): its name,
    its pods and the port they listen on."""

    name: str
    k8s_name: str
    port: int

    @property
    def url(self) -> str:
        """Its Service, by its name in the namespace both run in (port 80)."""
        return f"http://{self.k8s_name}"


@dataclass(frozen=True)
class Autoscaling:
    """The `autoscale` setting: a HorizontalPodAutoscaler's range and CPU target."""

    min: int
    max: int
    cpu_target_percent: int


@dataclass(frozen=True)
class ComponentServiceArgs:
    project: str
    environment: str
    namespace: Any
    component: str
    k8s_name: str
    type: Literal["app", "model"]
    version: int | str  # a catalogue version's id, or `source-<id>` for an image built from source
    label: str | None
    image: Any  # registry/name@sha256:...; for a source build, the build's digest (an Output)
    port: int
    health_path: str
    # The fixed count; with autoscaling its minimum, which is what the disruption budget and the
    # topology spread go by.
    replicas: int
    resources: dict[str, dict[str, str]]
    low_latency_mode: bool
    app_config: dict[str, Any] = field(default_factory=dict)
    # A hash of the environment config on the pod template: a change restarts the pods. A plain
    # content hash, or (secret environment config) a keyed hash the program computes.
    environment_config_hash: Any = ""
    environment_config_name: str = ENVIRONMENT_CONFIG_NAME
    # The environment config holds secrets: it is a Secret, mounted as a file, never an env var.
    environment_config_secret: bool = False
    api_key_secret: str | None = None
    # Scheduling: node selector for the worker group, and the taint value to tolerate.
    node_selector: dict[str, str] | None = None
    worker_group: str | None = None
    # Who reaches the component from outside the namespace: the address ranges of Google's load
    # balancers (or of a proxy-only subnet), or the namespace of an in-cluster controller.
    traffic_cidrs: tuple[str, ...] = ()
    traffic_namespace: str | None = None
    # The catalogue's `calls`, both ways, limited to components pinned in the environment.
    calls: tuple[Callee, ...] = ()
    callers: tuple[str, ...] = ()  # catalogue names of the components that call this one
    # The folder of the platform's artifact bucket the component reads (catalogue `artifacts.prefix`,
    # ending in '/'): its ServiceAccount is what a Workload Identity binding grants it to.
    artifacts_prefix: str | None = None
    # stable, or canary: the second version beside it (its own Deployment and Service, named
    # `<name>-canary`, running as the stable track's ServiceAccount: the same identity).
    track: Literal["stable", "canary"] = "stable"
    shared_service_account: str | None = None
    # A HorizontalPodAutoscaler owns the replica count (None: `replicas` is fixed).
    autoscaling: Autoscaling | None = None

    @property
    def service_account(self) -> str:
        """The component's own Kubernetes ServiceAccount (its Workload Identity), named after it."""
        return self.k8s_name


def resource_args(manifest: dict[str, Any]) -> dict[str, Any]:
    """A manifest as keyword arguments of its Pulumi resource (apiVersion and kind are implied;
    top-level fields by their Python names: stringData is string_data)."""
    return {_snake(k): v for k, v in manifest.items() if k not in ("apiVersion", "kind")}


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name)


def component_labels(args: ComponentServiceArgs) -> dict[str, str]:
    return {
        **common_labels(args.project, args.environment),
        "app.kubernetes.io/name": args.k8s_name,
        "app.kubernetes.io/component": args.type,
        COMPONENT_LABEL: args.component,
    }


def versioned_labels(args: ComponentServiceArgs) -> dict[str, str]:
    return {**component_labels(args), "app.kubernetes.io/version": str(args.version), TRACK_LABEL: args.track}


def app_config_map(args: ComponentServiceArgs) -> dict[str, Any]:
    # The app config travels with the version: one immutable ConfigMap per version, so pods of
    # the old version keep reading their own config until the rollout replaces them.
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": f"{args.k8s_name}-app-config-{args.version}",
            "namespace": args.namespace,
            "labels": versioned_labels(args),
        },
        "data": {APP_CONFIG_KEY: to_config_text(args.app_config)},
        "immutable": True,
    }


def deployment(args: ComponentServiceArgs, app_config_name: Any, service_account_name: Any = None) -> dict[str, Any]:
    """`service_account_name`: the program passes the ServiceAccount's name as an Output, so the
    pods are created after their identity exists."""
    selector = selector_labels(args.k8s_name, args.environment)
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": args.k8s_name, "namespace": args.namespace, "labels": versioned_labels(args)},
        "spec": {
            # Under an autoscaler the Deployment leaves replicas out: the autoscaler owns the count,
            # and `pulumi up` must not set it back.
            **({} if args.autoscaling else {"replicas": args.replicas}),
            "revisionHistoryLimit": 5,
            "selector": {"matchLabels": selector},
            # Never below the desired replicas during a rollout: surge one pod at a time.
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
            "template": {
                "metadata": {
                    "labels": {**versioned_labels(args), **selector},
                    # A change of environment config restarts the pods (env vars are read at
                    # start); app config changes arrive with the version's own ConfigMap.
                    "annotations": {"mlops.dev/environment-config-hash": args.environment_config_hash},
                },
                "spec": pod_spec(args, app_config_name, service_account_name or args.service_account),
            },
        },
    }


def service(args: ComponentServiceArgs, selector: Any = None) -> dict[str, Any]:
    # GKE's Gateway controller load-balances to the pods themselves (container-native, through
    # network endpoint groups it manages), from the ranges the network policy lets in.
    metadata: dict[str, Any] = {"name": args.k8s_name, "namespace": args.namespace, "labels": component_labels(args)}
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata,
        "spec": {
            "type": "ClusterIP",
            "selector": selector if selector is not None else selector_labels(args.k8s_name, args.environment),
            "ports": [{"name": "http", "port": SERVICE_PORT, "targetPort": "http", "protocol": "TCP"}],
        },
    }


def disruption_budget(args: ComponentServiceArgs) -> dict[str, Any] | None:
    if args.replicas < 2:
        return None
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": args.k8s_name, "namespace": args.namespace, "labels": component_labels(args)},
        "spec": {
            "maxUnavailable": 1,
            "selector": {"matchLabels": selector_labels(args.k8s_name, args.environment)},
            # A pod that is not ready protects nothing: evicting it must never block a node drain
            # or a cluster upgrade (the default lets a crash-looping pod hold the budget).
            "unhealthyPodEvictionPolicy": "AlwaysAllow",
        },
    }


def service_account(args: ComponentServiceArgs) -> dict[str, Any]:
    """The component's own identity: what a Workload Identity binding grants bucket access to.
    No token is mounted from it (the components never call the Kubernetes API)."""
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": args.service_account, "namespace": args.namespace, "labels": component_labels(args)},
        "automountServiceAccountToken": False,
    }


def workload_identity_member(project_number: Any, gcp_project: Any, namespace: str, service_account: str) -> Any:
    """The IAM principal of a Kubernetes ServiceAccount under Workload Identity Federation for GKE
    (the cluster project's pool `<project>.svc.id.goog`): granted roles directly on a resource, no
    Google service account to impersonate, no key."""
    return (
        f"principal://iam.googleapis.com/projects/{project_number}/locations/global/workloadIdentityPools/"
        f"{gcp_project}.svc.id.goog/subject/ns/{namespace}/sa/{service_account}"
    )


@dataclass(frozen=True)
class Route:
    component: str
    k8s_name: str
    prefix: str  # without trailing slash
    service: Any
    port: int


@dataclass(frozen=True)
class IngressSite:
    """What every Ingress of one environment shares: where and how its routes are served."""

    project: str
    environment: str
    namespace: Any
    host: str
    class_name: str
    tls_secret: str | None = None


def ingress(route: Route, site: IngressSite) -> dict[str, Any]:
    spec: dict[str, Any] = {"ingressClassName": site.class_name}
    if site.tls_secret:
        spec["tls"] = [{"hosts": [site.host], "secretName": site.tls_secret}]
    spec["rules"] = [
        {
            "host": site.host,
            "http": {
                "paths": [
                    {
                        "path": f"{route.prefix}(/|$)(.*)",
                        "pathType": "ImplementationSpecific",
                        "backend": {"service": {"name": route.service, "port": {"number": route.port}}},
                    }
                ]
            },
        }
    ]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {
            "name": route.k8s_name,
            "namespace": site.namespace,
            "labels": {**common_labels(site.project, site.environment), "app.kubernetes.io/name": route.k8s_name},
            "annotations": {
                # ingress-nginx: match the prefix, forward only what follows it.
                "nginx.ingress.kubernetes.io/use-regex": "true",
                "nginx.ingress.kubernetes.io/rewrite-target": "/$2",
                # Tell the component where it is mounted, so its UI can build links.
                "nginx.ingress.kubernetes.io/x-forwarded-prefix": route.prefix,
            },
        },
        "spec": spec,
    }
