"""Pure builder of a component's HorizontalPodAutoscaler (no Pulumi import): with the `autoscale`
setting, the autoscaler keeps the Deployment between `min` and `max` pods by their CPU use, and the
Deployment leaves `replicas` out (`components.manifests.deployment`), so the two never fight."""

from __future__ import annotations

from typing import Any

from components.manifests import ComponentServiceArgs, component_labels

# Kubernetes' own default, written out because it is the point: a load that dips for less than five
# minutes never removes pods, so a bursty component does not flap.
SCALE_DOWN_WINDOW_SECONDS = 300


def horizontal_pod_autoscaler(args: ComponentServiceArgs, deployment: Any = None) -> dict[str, Any] | None:
    """The autoscaler of the component's Deployment (None without `autoscale`). `deployment`: the
    program passes the Deployment's name as an Output, so the autoscaler follows it."""
    scaling = args.autoscaling
    if scaling is None:
        return None
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": args.k8s_name, "namespace": args.namespace, "labels": component_labels(args)},
        "spec": {
            "scaleTargetRef": {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "name": deployment if deployment is not None else args.k8s_name,
            },
            "minReplicas": scaling.min,
            "maxReplicas": scaling.max,
            # Utilization is of the CPU the pods request (the catalogue requires requests).
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": scaling.cpu_target_percent},
                    },
                }
            ],
            # Scale up as fast as Kubernetes allows; scale down one pod a minute, after the window:
            # the same one-at-a-time pace as the disruption budget.
            "behavior": {
                "scaleDown": {
                    "stabilizationWindowSeconds": SCALE_DOWN_WINDOW_SECONDS,
                    "policies": [{"type": "Pods", "value": 1, "periodSeconds": 60}],
                }
            },
        },
    }
