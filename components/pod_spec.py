"""Pure builder of one component's pod (no Pulumi import): a pod that passes Pod Security Admission
`restricted`, reads its config and API key from mounted files, and stops without dropping
in-flight requests. `manifests.deployment` wraps it in the Deployment's template."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from components.labels import WORKER_GROUP_LABEL, selector_labels

if TYPE_CHECKING:
    from components.manifests import ComponentServiceArgs

APP_CONFIG_KEY = "app_config.yaml"
ENVIRONMENT_CONFIG_KEY = "environment_config.yaml"
API_KEY_KEY = "api-key"
CONFIG_MOUNT = "/etc/mlops"
# Pods run as this unprivileged user whatever the image declares.
RUN_AS_USER = 10001
# A terminating pod is removed from the Service's endpoints while it keeps serving: the preStop
# sleep covers the time the endpoint change takes to reach every proxy and load balancer, then
# SIGTERM lets the server finish what it has (uvicorn's graceful shutdown is 20 s), all within
# the grace period. The native sleep action needs no `sleep` binary in the image (GA in 1.34).
PRE_STOP_SLEEP_SECONDS = 5
TERMINATION_GRACE_SECONDS = 30


def pod_spec(args: ComponentServiceArgs, app_config_name: Any, service_account_name: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "serviceAccountName": service_account_name,
        # The components never call the Kubernetes API: no token in the pod (GKE's metadata
        # server gives Workload Identity tokens without it).
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "terminationGracePeriodSeconds": TERMINATION_GRACE_SECONDS,
        # Pod Security Admission `restricted`: non-root, RuntimeDefault seccomp (the namespace enforces it).
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": RUN_AS_USER,
            "runAsGroup": RUN_AS_USER,
            "fsGroup": RUN_AS_USER,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [_container(args)],
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
            # ... and across zones where the pool has them (a zonal pool still schedules).
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


def _container(args: ComponentServiceArgs) -> dict[str, Any]:
    # What the runtime helper (apps/mlops_runtime) reads, and nothing else: a test holds the two
    # to the same list. Config and the API key are files (mounted below), never values here.
    env = [
        {"name": "MLOPS_PROJECT", "value": args.project},
        {"name": "MLOPS_ENVIRONMENT", "value": args.environment},
        {"name": "MLOPS_COMPONENT", "value": args.component},
        {"name": "MLOPS_COMPONENT_TYPE", "value": args.type},
        {"name": "MLOPS_VERSION", "value": str(args.version)},
        {"name": "MLOPS_VERSION_LABEL", "value": args.label or ""},
        {"name": "MLOPS_TRACK", "value": args.track},
        {"name": "MLOPS_LOW_LATENCY_MODE", "value": "true" if args.low_latency_mode else "false"},
        {"name": "PORT", "value": str(args.port)},
        {"name": "MLOPS_APP_CONFIG_PATH", "value": f"{CONFIG_MOUNT}/{APP_CONFIG_KEY}"},
        {"name": "MLOPS_ENVIRONMENT_CONFIG_PATH", "value": f"{CONFIG_MOUNT}/{ENVIRONMENT_CONFIG_KEY}"},
    ]
    if args.calls:
        urls = {callee.name: callee.url for callee in args.calls}
        env.append({"name": "MLOPS_COMPONENT_URLS", "value": json.dumps(urls, sort_keys=True)})
    if args.callers:
        env.append({"name": "MLOPS_CALLERS", "value": ",".join(args.callers)})
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
        # Traffic only to a pod that answers its health path: out of the endpoints within 15 s of failing.
        "readinessProbe": {"httpGet": http, "periodSeconds": 5, "failureThreshold": 3, "timeoutSeconds": 3},
        "livenessProbe": {"httpGet": http, "periodSeconds": 10, "failureThreshold": 3, "timeoutSeconds": 5},
        "lifecycle": {"preStop": {"sleep": {"seconds": PRE_STOP_SLEEP_SECONDS}}},
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": RUN_AS_USER,
            "runAsGroup": RUN_AS_USER,
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
