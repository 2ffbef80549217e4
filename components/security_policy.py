"""RateLimit: a component's `rate_limit` as a Cloud Armor security policy - a throttle rule that
lets each client IP address make `requests_per_minute` requests a minute and answers the rest with
429, and the default rule letting everything else through. GKE's Gateway attaches it to the
component's backend through a GCPBackendPolicy (`components.backend_policy`), which names the policy:
so its name is fixed here and known offline (`security_policy_name`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi

from components.gcp_names import security_policy_name

SECURITY_POLICY_TYPE = "gcp:compute/securityPolicy:SecurityPolicy"
THROTTLE_PRIORITY = 1000
# Every Cloud Armor policy has a default rule at the lowest priority, evaluated last.
DEFAULT_RULE_PRIORITY = 2147483647
# Rate limits count over an interval; a minute is one of the intervals Cloud Armor accepts.
INTERVAL_SECONDS = 60


@dataclass(frozen=True)
class RateLimitArgs:
    gcp_project: Any
    namespace: str
    component: str  # the component's Kubernetes name
    requests_per_minute: int
    labels: dict[str, str]


def security_policy_args(args: RateLimitArgs) -> dict[str, Any]:
    """The arguments of `gcp.compute.SecurityPolicy`, as the Pulumi Python SDK takes them."""
    match_all = {"versioned_expr": "SRC_IPS_V1", "config": {"src_ip_ranges": ["*"]}}
    return {
        "name": security_policy_name(args.namespace, args.component),
        "project": args.gcp_project,
        "type": "CLOUD_ARMOR",
        "description": f"{args.component} in {args.namespace}: {args.requests_per_minute} requests a minute per IP",
        "labels": {k.replace(".", "_").replace("/", "_"): v for k, v in args.labels.items()},
        "rules": [
            {
                "priority": THROTTLE_PRIORITY,
                "action": "throttle",
                "description": "over the limit: 429",
                "match": match_all,
                "rate_limit_options": {
                    "rate_limit_threshold": {"count": args.requests_per_minute, "interval_sec": INTERVAL_SECONDS},
                    "conform_action": "allow",
                    "exceed_action": "deny(429)",
                    "enforce_on_key": "IP",
                },
            },
            {
                "priority": DEFAULT_RULE_PRIORITY,
                "action": "allow",
                "description": "default rule",
                "match": match_all,
            },
        ],
    }


class RateLimit(pulumi.ComponentResource):
    security_policy: pulumi.CustomResource
    policy_name: pulumi.Output[str]

    def __init__(self, name: str, args: RateLimitArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("mlops:routing:RateLimit", name, None, opts)
        import pulumi_gcp as gcp

        self.security_policy = gcp.compute.SecurityPolicy(
            f"{name}-policy", **security_policy_args(args), opts=pulumi.ResourceOptions(parent=self)
        )
        self.policy_name = self.security_policy.name
        self.register_outputs({"policy_name": self.policy_name})
