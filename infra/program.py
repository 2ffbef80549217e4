"""The program's composition: a validated environment in, GKE worker groups and Kubernetes
workloads out, and the stack outputs. Each concept is a ComponentResource in `components/`,
built from the same pure arguments the tooling renders offline (`components.render`)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pulumi

from components.artifact_access import ArtifactReader, ArtifactReaderArgs
from components.component_service import ComponentService
from components.edge import Edge, EdgeArgs
from components.foundation import Foundation, FoundationArgs
from components.manifests import keyed_hash
from components.monitors import Monitors, MonitorsArgs
from components.render import canary_args, environment_site, monitoring_objects, service_args, worker_group_args
from components.routes import Routes, RoutesArgs
from components.routing import component_routes, gateway_site, protected_routes, routing_objects
from components.security_policy import RateLimit, RateLimitArgs
from components.source_image import SourceImage, SourceImageArgs, context_hash
from components.worker_group import WorkerGroup
from infra.config import StackInputs
from infra.providers import kubernetes_provider
from infra.references import platform_outputs, promotion_guard, shared_gateway_guard
from spec.environment import Environment
from spec.worker_types import WORKER_TYPES


def generated_api_key() -> pulumi.Output[str]:
    """An API key made once and kept in the stack's state (a `random` RandomPassword)."""
    import pulumi_random

    generated = pulumi_random.RandomPassword("api-key", length=40, special=False)
    # Secret by construction (not only by the provider's schema), so it is never shown in clear.
    return pulumi.Output.secret(generated.result)


def in_registry(component: str, image: pulumi.Output[str], registry: pulumi.Output[str]) -> pulumi.Output[str]:
    """The image, once it is known to live in the platform's registry: the only one its nodes may
    pull from (their service account reads that repository and nothing else)."""

    def check(values: list[str]) -> str:
        found, allowed = values
        if not found.startswith(f"{allowed}/"):
            raise pulumi.RunError(
                f"config/components/{component}.yaml: image: {found.split('@')[0]} is outside the platform's "
                f"registry {allowed}: the nodes cannot pull it; use {allowed}/<name>"
            )
        return found

    return pulumi.Output.all(image, registry).apply(check)


def source_images(inputs: StackInputs) -> dict[str, SourceImage]:
    """One SourceImage per `version: source` pin, pushed to the repository the catalogue names."""
    built = [c for c in inputs.env.components if c.built]
    if not built:
        return {}
    import pulumi_gcp as gcp

    # The deployer's own short-lived token: the registry accepts it as the password of
    # `oauth2accesstoken`; no key is stored anywhere.
    token = gcp.organizations.get_client_config_output().access_token
    images = {}
    for c in built:
        build = c.catalogue.build
        assert build is not None  # the environment refuses a source pin without a build
        context = inputs.root / build.context
        dockerfile = inputs.root / build.dockerfile if build.dockerfile else None
        missing = [p for p in (context, dockerfile or context / "Dockerfile") if not p.exists()]
        if missing:
            where = "build.dockerfile" if dockerfile is not None and missing[-1] == dockerfile else "build.context"
            raise pulumi.RunError(
                f"config/components/{c.name}.yaml: {where}: {missing[0].relative_to(inputs.root)} does not exist: "
                "point it at the component's source tree (a directory with a Dockerfile)"
            )
        images[c.name] = SourceImage(
            c.name,
            SourceImageArgs(
                repository=c.catalogue.image,
                context=str(context),
                dockerfile=str(dockerfile) if dockerfile else None,
                build_args=dict(build.args),
                tag=f"{inputs.commit}-{context_hash(context, dockerfile)[:12]}",
                registry_password=token,
            ),
        )
    return images


def artifact_readers(env: Environment, platform: dict[str, Any] | None) -> None:
    """Read access to its folder of the artifact bucket for each component that declares one."""
    readers = [c for c in env.components if c.catalogue.artifacts is not None]
    if not readers or not env.config.is_gke:  # Workload Identity is GKE's
        return
    import pulumi_gcp as gcp

    cluster = env.config.cluster
    # The environment refuses artifact readers where no bucket is known.
    bucket = platform["artifact_bucket"] if platform is not None else cluster.artifact_bucket  # type: ignore[union-attr]
    cluster_project = platform["cluster_project"] if platform is not None else env.gcp_project
    number = gcp.organizations.get_project_output(project_id=cluster_project).number
    for c in readers:
        assert c.catalogue.artifacts is not None
        ArtifactReader(
            c.name,
            ArtifactReaderArgs(
                bucket=bucket,
                prefix=c.catalogue.artifacts.prefix,
                gcp_project=cluster_project,
                project_number=number,
                namespace=env.namespace,
                service_account=c.k8s_name,
            ),
        )


def rate_limits(env: Environment, platform: dict[str, Any] | None, protect: bool) -> list[RateLimit]:
    """A Cloud Armor security policy per component with `rate_limit` (the environment allows one on
    GKE's external Gateway only); production's are protected like its Gateway."""
    return [
        RateLimit(
            f"{c.name}-rate-limit",
            RateLimitArgs(
                gcp_project=platform["cluster_project"] if platform is not None else env.gcp_project,
                namespace=env.namespace,
                component=c.k8s_name,
                requests_per_minute=c.rate_limit.requests_per_minute,
                labels={"mlops-dev-project": env.project, "mlops-dev-environment": env.name},
            ),
            opts=pulumi.ResourceOptions(protect=protect),
        )
        for c in env.components
        if c.rate_limit is not None
    ]


def deploy(inputs: StackInputs) -> dict[str, Any]:
    """Declare the environment; returns the stack outputs to export."""
    env = inputs.env
    platform = platform_outputs(env)
    provider = kubernetes_provider(env.config, env.gcp_project, platform)
    guard = promotion_guard(env)
    images = source_images(inputs)
    # Production (the end of the chain) can never lose its namespace or node pools to a typo.
    protect = env.ends_chain
    api_key = inputs.api_key if inputs.api_key is not None else generated_api_key()

    pools = {
        name: WorkerGroup(name, args, opts=pulumi.ResourceOptions(protect=protect))
        for name, args in worker_group_args(env, platform).items()
    }
    foundation = Foundation(
        env.name,
        FoundationArgs(
            site=environment_site(env),
            environment_config=inputs.environment_config_text,
            environment_config_secret=env.environment_config_secret,
            api_key=api_key,
        ),
        opts=pulumi.ResourceOptions(providers=[provider], protect=protect),
    )
    namespace = foundation.namespace_name
    config_hash = None
    if env.environment_config_secret:
        # A change of secret environment config restarts the pods like any other; the hash on
        # the pod template is keyed with the API key, so it reveals nothing of the secrets.
        keyed = pulumi.Output.all(api_key, inputs.environment_config_text).apply(lambda v: keyed_hash(v[0], v[1]))
        config_hash = pulumi.Output.unsecret(keyed)

    services: dict[str, ComponentService] = {}
    canaries: dict[str, ComponentService] = {}
    for component in env.components:
        depends = [pools[component.worker_group]] if component.worker_group in pools else []
        args = service_args(env, component, namespace)
        if config_hash is not None:
            args = dataclasses.replace(args, environment_config_hash=config_hash)
        if component.name in images:
            built = images[component.name].image
            if platform is not None:
                built = in_registry(component.name, built, platform["registry"])
            args = dataclasses.replace(args, image=built)
        if guard is not None:
            # Nothing of a component changes before the promotion guard has passed.
            args = dataclasses.replace(args, image=pulumi.Output.all(guard, args.image).apply(lambda v: v[1]))
        services[component.name] = ComponentService(
            component.name,
            args,
            opts=pulumi.ResourceOptions(
                providers=[provider], depends_on=[foundation.environment_config, foundation.api_key, *depends]
            ),
        )
        if component.canary is not None:
            # The canary track: its own version beside the stable one, as the stable's identity.
            track = canary_args(env, component, namespace, args)
            canaries[component.name] = ComponentService(
                f"{component.name}-canary",
                dataclasses.replace(track, shared_service_account=services[component.name].service_account_name),
                opts=pulumi.ResourceOptions(
                    providers=[provider], depends_on=[foundation.environment_config, foundation.api_key, *depends]
                ),
            )

    artifact_readers(env, platform)

    edge = None
    if gateway_site(env, namespace).certificate_map is not None:
        # The Gateway's address and certificate; production's are protected like its namespace.
        edge = Edge(
            f"{env.name}-edge",
            EdgeArgs(
                gcp_project=platform["cluster_project"] if platform is not None else env.gcp_project,
                host=env.config.routing.host,
                namespace=env.namespace,
                labels={"mlops-dev-project": env.project, "mlops-dev-environment": env.name},
            ),
            opts=pulumi.ResourceOptions(protect=protect),
        )
    limits = rate_limits(env, platform, protect)
    objects = dict(routing_objects(env))
    for c in env.components:
        canary = canaries[c.name].service.metadata.name if c.name in canaries else None
        objects.update(component_routes(env, c, services[c.name].service.metadata.name, canary))
    depends: list[Any] = [*([edge] if edge is not None else []), *limits]
    gateway_ok = shared_gateway_guard(env, platform)
    if gateway_ok is not None:
        # Routes attach to the platform's Gateway only once it is known to serve this host.
        depends.append(gateway_ok.apply(lambda _: foundation))
    Routes(
        f"{env.name}-routes",
        RoutesArgs(objects=objects, protected=protected_routes(env)),
        # A backend policy names its Cloud Armor policy, which must exist first.
        opts=pulumi.ResourceOptions(providers=[provider], depends_on=depends),
    )
    monitoring = monitoring_objects(env)
    if monitoring:
        # Scrapes and alerts: each component's PodMonitoring, the environment's Rules.
        Monitors(
            f"{env.name}-monitoring",
            MonitorsArgs(objects=monitoring),
            opts=pulumi.ResourceOptions(providers=[provider], depends_on=[foundation]),
        )
    outputs = stack_outputs(env, pools, {name: image.image for name, image in images.items()})
    outputs["namespace"] = namespace
    if edge is not None:
        # What to put in DNS: the host's A record, and the CNAME that lets Certificate Manager issue.
        outputs["address"] = edge.address
        outputs["dns_records"] = edge.dns_records
    if inputs.api_key is None:
        outputs["api_key"] = api_key
    return outputs


def stack_outputs(
    env: Environment, pools: dict[str, WorkerGroup], built: dict[str, pulumi.Output[str]]
) -> dict[str, Any]:
    """`pins` is what promotion and the guard read: {name, type, version, digest}; a source build's
    version is `source` and its digest the registry's."""

    def digest(c: Any) -> Any:
        if c.name in built:
            return built[c.name].apply(lambda image: image.rsplit("@", 1)[-1])
        return c.version.digest

    def image(c: Any) -> Any:
        return built.get(c.name, c.image)

    groups: dict[str, Any] = {}
    for name, group in sorted(env.worker_groups.items()):
        entry: dict[str, Any] = {"owned": not group.existing and env.config.is_gke}
        if group.worker_type:
            entry["worker_type"] = group.worker_type
            entry["machine_type"] = WORKER_TYPES[group.worker_type].machine_type
        if not group.existing:
            entry.update({"size": group.size, "min_size": group.min_size, "max_size": group.max_size})
        if name in pools:
            entry["node_pool"] = pools[name].node_pool.name
        groups[name] = entry
    return {
        "project": env.project,
        "environment": env.name,
        "promotes_to": env.promotes_to,
        # What promotion copies: exactly the pins, in the stack file's order.
        "pins": [
            {"name": c.name, "type": c.type, "version": c.pin.version if c.built else c.version.id, "digest": digest(c)}
            for c in env.components
        ],
        "components": {
            c.name: {
                "type": c.type,
                "version": c.version_key if c.built else c.version.id,
                "label": None if c.built else c.version.label,
                "replicas": c.replicas,
                "autoscale": c.autoscale.model_dump() if c.autoscale is not None else None,
                "rate_limit": c.rate_limit.model_dump() if c.rate_limit is not None else None,
                "canary": (
                    {"version": c.canary.id, "weight": c.pin.canary.weight, "sticky": c.pin.canary.sticky}
                    if c.canary is not None and c.pin.canary is not None
                    else None
                ),
                "worker_group": c.worker_group,
                "low_latency_mode": c.low_latency_mode,
                "image": image(c),
                "url": env.url(c),
            }
            for c in env.components
        },
        "worker_groups": groups,
    }
