"""What this stack reads from other stacks, through `pulumi.StackReference` only: the platform
stack's shared infrastructure, and, in a stack that another promotes into, the pins the upstream
and this stack last deployed (the promotion guard). Stack names are <org>/<project>/<stack>; the
organization is `mlops:pulumi_org`, else the one this stack runs in."""

from __future__ import annotations

from typing import Any

import pulumi

from components.render import PLATFORM_OUTPUTS
from components.shared_gateway import REFERENCE as SHARED_GATEWAY
from spec.environment import Environment
from spec.errors import ConfigError
from spec.guard import unverified_moves


def organization(env: Environment) -> str:
    return env.config.pulumi_org or pulumi.get_organization()


# Optional outputs of the platform stack: only a platform with a shared Gateway has them.
SHARED_GATEWAY_OUTPUTS = ("gateway", "gateway_domain")


def platform_outputs(env: Environment) -> dict[str, pulumi.Output[Any]] | None:
    """The platform stack's outputs by name, or None when the stack names its own cluster. A
    missing output stops the run with the engine's message naming it; the shared Gateway's
    (`gateway`, `gateway_domain`) are optional: a platform may run none."""
    if env.config.platform is None:
        return None
    platform = pulumi.StackReference(env.config.platform)
    found = {key: platform.require_output(key) for key in PLATFORM_OUTPUTS}
    for key in SHARED_GATEWAY_OUTPUTS:
        found[key] = platform.get_output(key)
    return found


def shared_gateway_guard(env: Environment, platform: dict[str, Any] | None) -> pulumi.Output[bool] | None:
    """True once the routes may attach: a stack on the platform that names the platform's shared
    Gateway must find one there, and serve a host its wildcard certificate covers (one level under
    its domain); the run fails with one line otherwise. None where the routes attach to no shared
    Gateway of the platform (their own Gateway, or one the platform stack does not run)."""
    routing = env.config.routing
    if platform is None or routing.kind != "gateway" or routing.gateway is None:
        return None
    display = f"Pulumi.{env.name}.yaml"

    def check(values: list[Any]) -> bool:
        gateway, domain = values
        if gateway is None and routing.gateway == SHARED_GATEWAY:
            raise pulumi.RunError(
                f"{display}: mlops:routing.gateway: the platform stack {env.config.platform} runs no shared "
                "Gateway: set platform:gateway: {domain: ...} in its stack file, or name another Gateway"
            )
        if gateway == routing.gateway and domain and not _one_level_under(routing.host, str(domain)):
            raise pulumi.RunError(
                f"{display}: mlops:routing.host: '{routing.host}' is not one level under the shared Gateway's "
                f"domain '{domain}' (its certificate covers *.{domain}): use {env.name}.{domain}"
            )
        return True

    return pulumi.Output.all(platform["gateway"], platform["gateway_domain"]).apply(check)


def _one_level_under(host: str, domain: str) -> bool:
    label, _, rest = host.partition(".")
    return rest == domain and bool(label) and label != "*"


def promotion_guard(env: Environment) -> pulumi.Output[bool] | None:
    """True once every pin this update moves is what the upstream runs now; the run fails with one
    line per offending pin otherwise. None where nothing promotes into this stack. Workloads wait
    on it, so a refused pin changes nothing."""
    upstream = env.config.environment.upstream
    if upstream is None:
        return None
    org, project = organization(env), pulumi.get_project()
    upstream_name = f"{org}/{project}/{upstream}"
    upstream_pins = pulumi.StackReference(upstream_name).get_output("pins")
    # This stack's own last deployment, read the same way (nothing yet on a first deployment).
    own_pins = pulumi.StackReference(f"{org}/{project}/{pulumi.get_stack()}").get_output("pins")

    def check(values: list[Any]) -> bool:
        problems, exempted = unverified_moves(env, upstream_name, values[0], values[1])
        if problems:
            raise pulumi.RunError(str(ConfigError(problems)))
        for name in exempted:
            pulumi.log.warn(
                f"'{name}' moves without the promotion guard (mlops:promotion.unverified): a recorded hotfix"
            )
        return True

    return pulumi.Output.all(upstream_pins, own_pins).apply(check)
