"""Entry point of the platform project (`platform/Pulumi.yaml`): read the stack's config, validate
it once, declare the shared platform, export its outputs (the contract the environment stacks
read through pulumi.StackReference).

This directory has no __init__.py on purpose: a package named `platform` would shadow Python's
own `platform` module for everything that imports it.
"""

import pulumi
import pulumi_kubernetes as k8s

from components.kubeconfig import gke_kubeconfig
from components.platform import SharedPlatform, SharedPlatformArgs
from components.shared_gateway import SharedGateway, SharedGatewayArgs
from spec.errors import ConfigError, Problem
from spec.platform_config import NAMESPACE, PLATFORM_KEYS, STRUCTURED_KEYS, platform_config
from spec.project import stack_file_name

display = f"platform/{stack_file_name(pulumi.get_stack())}"
settings, gcp_settings = pulumi.Config(NAMESPACE), pulumi.Config("gcp")
values = {f"{NAMESPACE}:{key}": settings.get(key) for key in PLATFORM_KEYS if key not in STRUCTURED_KEYS}
for key in STRUCTURED_KEYS:
    try:
        values[f"{NAMESPACE}:{key}"] = settings.get_object(key)
    except pulumi.ConfigTypeError:
        problem = Problem(display, f"{NAMESPACE}:{key}", "is not structured data: write it as a YAML list or mapping")
        raise pulumi.RunError(str(ConfigError([problem]))) from None
values.update({"gcp:project": gcp_settings.get("project"), "gcp:region": gcp_settings.get("region")})
try:
    config = platform_config(values, display)
except ConfigError as exc:
    # One line per problem, as `pulumi up` shows a RunError: no traceback.
    raise pulumi.RunError(str(exc)) from None

outputs = SharedPlatform("platform", SharedPlatformArgs(config)).outputs
if config.gateway is not None:
    # The shared Gateway lives in the cluster: a provider for it, built from the cluster's outputs.
    kubeconfig = pulumi.Output.all(
        outputs["cluster_name"], outputs["cluster_endpoint"], outputs["cluster_ca_certificate"]
    ).apply(lambda values: gke_kubeconfig(values[0], values[1], values[2]))
    provider = k8s.Provider("platform-cluster", kubeconfig=kubeconfig)
    shared = SharedGateway(
        "shared-gateway",
        SharedGatewayArgs(
            project=pulumi.get_project(),
            stack=pulumi.get_stack(),
            gcp_project=config.project,
            domain=config.gateway.domain,
            labels=config.resource_labels,
        ),
        opts=pulumi.ResourceOptions(providers=[provider]),
    )
    outputs = {
        **outputs,
        "gateway": shared.reference,
        "gateway_domain": config.gateway.domain,
        "gateway_address": shared.address,
        "gateway_dns_records": shared.dns_records,
    }
for name, value in outputs.items():
    pulumi.export(name, value)
