"""Pure builders of the Kubernetes manifests of one component (no Pulumi import): the
ComponentResources declare exactly these dicts, and tools (diff, status) render them directly."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Literal

from components.labels import WORKER_GROUP_LABEL, common_labels, selector_labels

APP_CONFIG_KEY = "app_config.yaml"
ENVIRONMENT_CONFIG_KEY = "environment_config.yaml"
API_KEY_KEY = "api-key"
ENVIRONMENT_CONFIG_NAME = "environment-config"
API_KEY_SECRET_NAME = "mlops-api-key"
CONFIG_MOUNT = "/etc/mlops"
SERVICE_PORT = 80
# Pods run as this unprivileged user whatever the image declares.
RUN_AS_USER = 10001
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
    }


def versioned_labels(args: ComponentServiceArgs) -> dict[str, str]:
    return {**component_labels(args), "app.kubernetes.io/version": str(args.version)}


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


def deployment(args: ComponentServiceArgs, app_config_name: Any) -> dict[str, Any]:
    selector = selector_labels(args.k8s_name, args.environment)
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": args.k8s_name, "namespace": args.namespace, "labels": versioned_labels(args)},
        "spec": {
            "replicas": args.replicas,
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
                "spec": _pod_spec(args, app_config_name),
            },
        },
    }


def service(args: ComponentServiceArgs, selector: Any = None) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": args.k8s_name, "namespace": args.namespace, "labels": component_labels(args)},
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
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": selector_labels(args.k8s_name, args.environment)}},
    }


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


def _pod_spec(args: ComponentServiceArgs, app_config_name: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "terminationGracePeriodSeconds": 30,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": RUN_AS_USER,
            "runAsGroup": RUN_AS_USER,
            "fsGroup": RUN_AS_USER,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [_container(args, app_config_name)],
        "volumes": [
            {
                "name": "mlops-config",
                "projected": {
                    "sources": [
                        {
                            "configMap": {
                                "name": app_config_name,
                                "items": [{"key": APP_CONFIG_KEY, "path": APP_CONFIG_KEY}],
                            }
                        },
                        {
                            "secret" if args.environment_config_secret else "configMap": {
                                "name": args.environment_config_name,
                                "items": [{"key": ENVIRONMENT_CONFIG_KEY, "path": ENVIRONMENT_CONFIG_KEY}],
                            }
                        },
                        *_api_key_source(args),
                    ]
                },
            },
            # The root filesystem is read-only; /tmp is the one writable place.
            {"name": "tmp", "emptyDir": {"sizeLimit": "1Gi"}},
        ],
    }
    if args.node_selector:
        spec["nodeSelector"] = dict(args.node_selector)
    if args.worker_group:
        spec["tolerations"] = [
            {"key": WORKER_GROUP_LABEL, "operator": "Equal", "value": args.worker_group, "effect": "NoSchedule"}
        ]
    if args.replicas >= 2:
        selector = {"matchLabels": selector_labels(args.k8s_name, args.environment)}
        spec["topologySpreadConstraints"] = [
            # Never two replicas of one revision on one node while another node has none ...
            {
                "maxSkew": 1,
                "topologyKey": "kubernetes.io/hostname",
                "whenUnsatisfiable": "DoNotSchedule",
                "labelSelector": selector,
                "matchLabelKeys": ["pod-template-hash"],
            },
            # ... and across zones where the pool has them.
            {
                "maxSkew": 1,
                "topologyKey": "topology.kubernetes.io/zone",
                "whenUnsatisfiable": "ScheduleAnyway",
                "labelSelector": selector,
                "matchLabelKeys": ["pod-template-hash"],
            },
        ]
    return spec


def _api_key_source(args: ComponentServiceArgs) -> list[dict[str, Any]]:
    """Apps read the API key from a file (never an environment variable: those show in
    `kubectl describe` and are inherited by every child process)."""
    if args.type != "app" or not args.api_key_secret:
        return []
    return [{"secret": {"name": args.api_key_secret, "items": [{"key": API_KEY_KEY, "path": API_KEY_KEY}]}}]


def _container(args: ComponentServiceArgs, app_config_name: Any) -> dict[str, Any]:
    env = [
        {"name": "MLOPS_PROJECT", "value": args.project},
        {"name": "MLOPS_ENVIRONMENT", "value": args.environment},
        {"name": "MLOPS_COMPONENT", "value": args.component},
        {"name": "MLOPS_COMPONENT_TYPE", "value": args.type},
        {"name": "MLOPS_VERSION", "value": str(args.version)},
        {"name": "MLOPS_VERSION_LABEL", "value": args.label or ""},
        {"name": "MLOPS_LOW_LATENCY_MODE", "value": "true" if args.low_latency_mode else "false"},
        {"name": "PORT", "value": str(args.port)},
        {"name": "MLOPS_APP_CONFIG_PATH", "value": f"{CONFIG_MOUNT}/{APP_CONFIG_KEY}"},
        {"name": "MLOPS_ENVIRONMENT_CONFIG_PATH", "value": f"{CONFIG_MOUNT}/{ENVIRONMENT_CONFIG_KEY}"},
        {
            "name": "MLOPS_APP_CONFIG",
            "valueFrom": {"configMapKeyRef": {"name": app_config_name, "key": APP_CONFIG_KEY}},
        },
    ]
    if not args.environment_config_secret:
        env.append(
            {
                "name": "MLOPS_ENVIRONMENT_CONFIG",
                "valueFrom": {"configMapKeyRef": {"name": args.environment_config_name, "key": ENVIRONMENT_CONFIG_KEY}},
            }
        )
    if _api_key_source(args):
        env.append({"name": "MLOPS_API_KEY_PATH", "value": f"{CONFIG_MOUNT}/{API_KEY_KEY}"})
    http = {"path": args.health_path, "port": "http"}
    return {
        "name": args.k8s_name,
        "image": args.image,
        "imagePullPolicy": "IfNotPresent",
        "ports": [{"name": "http", "containerPort": args.port, "protocol": "TCP"}],
        "env": env,
        "resources": args.resources,
        # Models can take minutes to load: the startup probe allows 5 minutes before liveness
        # takes over, so a slow load is not mistaken for a hang.
        "startupProbe": {"httpGet": http, "periodSeconds": 5, "failureThreshold": 60, "timeoutSeconds": 3},
        "readinessProbe": {"httpGet": http, "periodSeconds": 5, "failureThreshold": 3, "timeoutSeconds": 3},
        "livenessProbe": {"httpGet": http, "periodSeconds": 10, "failureThreshold": 3, "timeoutSeconds": 5},
        "securityContext": {
            "runAsNonRoot": True,
            "readOnlyRootFilesystem": True,
            "allowPrivilegeEscalation": False,
            "privileged": False,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "volumeMounts": [
            {"name": "mlops-config", "mountPath": CONFIG_MOUNT, "readOnly": True},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
    }
