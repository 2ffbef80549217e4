"""ComponentService: one pinned app or model - its Deployment, Service, app-config ConfigMap and,
with two or more replicas, a PodDisruptionBudget.

Child names derive from the component's name, never from a list position, so reordering pins
changes no URN. The Deployment's selector never contains the version, so a version change rolls
the pods in place instead of replacing the Deployment.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import pulumi
import pulumi_kubernetes as k8s

from components.foundation import API_KEY_KEY, ENVIRONMENT_CONFIG_KEY, content_hash, to_yaml
from components.labels import WORKER_GROUP_LABEL, common_labels, selector_labels

APP_CONFIG_KEY = "app_config.yaml"
CONFIG_MOUNT = "/etc/mlops"
SERVICE_PORT = 80
# Pods run as this unprivileged user whatever the image declares.
RUN_AS_USER = 10001


@dataclass(frozen=True)
class ComponentServiceArgs:
    project: str
    environment: str
    namespace: pulumi.Input[str]
    component: str
    k8s_name: str
    type: Literal["app", "model"]
    version: int
    label: str | None
    image: str
    port: int
    health_path: str
    replicas: int
    resources: dict[str, dict[str, str]]
    low_latency_mode: bool
    app_config: dict[str, Any] = field(default_factory=dict)
    environment_config: dict[str, Any] = field(default_factory=dict)
    environment_config_map: str = "environment-config"
    api_key_secret: str | None = None
    # Scheduling: node selector for the worker group, and the taint value to tolerate.
    node_selector: dict[str, str] | None = None
    worker_group: str | None = None


class ComponentService(pulumi.ComponentResource):
    deployment: k8s.apps.v1.Deployment
    service: k8s.core.v1.Service
    app_config: k8s.core.v1.ConfigMap
    disruption_budget: k8s.policy.v1.PodDisruptionBudget | None

    def __init__(self, name: str, args: ComponentServiceArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("mlops:workloads:ComponentService", name, None, opts)
        if args.replicas < 1:
            raise ValueError(f"component '{args.component}': replicas must be at least 1, got {args.replicas}")
        if not args.image.split("@", 1)[-1].startswith("sha256:"):
            raise ValueError(f"component '{args.component}': image must be pinned by digest, got {args.image}")
        child = pulumi.ResourceOptions(parent=self)
        labels = {
            **common_labels(args.project, args.environment),
            "app.kubernetes.io/name": args.k8s_name,
            "app.kubernetes.io/component": args.type,
        }
        selector = selector_labels(args.k8s_name, args.environment)
        versioned = {**labels, "app.kubernetes.io/version": str(args.version)}

        # The app config travels with the version: one immutable ConfigMap per version, so pods
        # of the old version keep reading their own config until the rollout replaces them.
        self.app_config = k8s.core.v1.ConfigMap(
            f"{name}-app-config",
            metadata={
                "name": f"{args.k8s_name}-app-config-{args.version}",
                "namespace": args.namespace,
                "labels": versioned,
            },
            data={APP_CONFIG_KEY: to_yaml(args.app_config)},
            immutable=True,
            opts=child,
        )
        app_config_name = self.app_config.metadata.name

        self.deployment = k8s.apps.v1.Deployment(
            f"{name}-deployment",
            metadata={"name": args.k8s_name, "namespace": args.namespace, "labels": versioned},
            spec={
                "replicas": args.replicas,
                "revisionHistoryLimit": 5,
                "selector": {"matchLabels": selector},
                # Never below the desired replicas during a rollout: surge one pod at a time.
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
                "template": {
                    "metadata": {
                        "labels": {**versioned, **selector},
                        # A change of environment config restarts the pods (env vars are read
                        # at start); app config changes arrive with the version's own ConfigMap.
                        "annotations": {"mlops.dev/environment-config-hash": content_hash(args.environment_config)},
                    },
                    "spec": _pod_spec(args, app_config_name),
                },
            },
            opts=child,
        )
        self.service = k8s.core.v1.Service(
            f"{name}-service",
            metadata={"name": args.k8s_name, "namespace": args.namespace, "labels": labels},
            spec={
                "type": "ClusterIP",
                # Derived from the Deployment's own selector so the two can never drift apart.
                "selector": self.deployment.spec.selector.match_labels,
                "ports": [{"name": "http", "port": SERVICE_PORT, "targetPort": "http", "protocol": "TCP"}],
            },
            opts=child,
        )
        self.disruption_budget = None
        if args.replicas >= 2:
            self.disruption_budget = k8s.policy.v1.PodDisruptionBudget(
                f"{name}-disruption-budget",
                metadata={"name": args.k8s_name, "namespace": args.namespace, "labels": labels},
                spec={"maxUnavailable": 1, "selector": {"matchLabels": selector}},
                opts=child,
            )
        self.register_outputs({"deployment": self.deployment.metadata.name, "service": self.service.metadata.name})


def _pod_spec(args: ComponentServiceArgs, app_config_name: pulumi.Input[str]) -> dict[str, Any]:
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
                            "configMap": {
                                "name": args.environment_config_map,
                                "items": [{"key": ENVIRONMENT_CONFIG_KEY, "path": ENVIRONMENT_CONFIG_KEY}],
                            }
                        },
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


def _container(args: ComponentServiceArgs, app_config_name: pulumi.Input[str]) -> dict[str, Any]:
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
        {
            "name": "MLOPS_ENVIRONMENT_CONFIG",
            "valueFrom": {"configMapKeyRef": {"name": args.environment_config_map, "key": ENVIRONMENT_CONFIG_KEY}},
        },
    ]
    if args.type == "app" and args.api_key_secret:
        env.append(
            {"name": "MLOPS_API_KEY", "valueFrom": {"secretKeyRef": {"name": args.api_key_secret, "key": API_KEY_KEY}}}
        )
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
