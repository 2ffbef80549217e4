"""Every committed stack, run as the language host runs it, declares what its stack file says,
and every Kubernetes object passes strict schema validation and our production rules."""

from __future__ import annotations

from typing import Any

import kubernetes_validate
import mlops_runtime
import pytest

from .conftest import COMMITTED_STACKS, K8S_VERSION, REPO, load_yaml, stack_config
from .crd_validate import is_custom, validate_custom
from .program_run import ProgramRun, run_program
from .test_autoscaling import min_pods

# DESIGN.md's table, written out independently of spec.worker_types.
MACHINE_TYPES = {
    "2-CPU-13GB-RAM": "n1-highmem-2",
    "4-CPU-26GB-RAM": "n1-highmem-4",
    "8-CPU-52GB-RAM": "n1-highmem-8",
    "16-CPU-104GB-RAM": "n1-highmem-16",
    "32-CPU-208GB-RAM": "n1-highmem-32",
    "2-CPU-16GB-RAM-AMD": "n2d-highmem-2",
    "4-CPU-32GB-RAM-AMD": "n2d-highmem-4",
    "8-CPU-64GB-RAM-AMD": "n2d-highmem-8",
    "16-CPU-128GB-RAM-AMD": "n2d-highmem-16",
    "32-CPU-256GB-RAM-AMD": "n2d-highmem-32",
}


def catalogue(name: str) -> dict[str, Any]:
    return load_yaml(REPO / "config" / "components" / f"{name}.yaml")


def version_of(entry: dict[str, Any], ref: Any) -> dict[str, Any]:
    return next(v for v in entry["versions"] if v["id"] == ref or v.get("label") == ref)


def expected_replicas(stack: str, pin: dict[str, Any]) -> int | None:
    """The layering rule, read straight off the files: component > environment > project > 2 (None: autoscaled)."""
    project = load_yaml(REPO / "Pulumi.yaml")["config"]["mlops:settings"]["value"]
    environment = stack_config(REPO, stack).get("mlops:settings", {})
    for level in (pin.get("settings", {}), environment, project):
        if "replicas" in level or "autoscale" in level:
            return level.get("replicas")
    return 2


@pytest.fixture(scope="module", params=COMMITTED_STACKS)
def run(request: pytest.FixtureRequest) -> ProgramRun:
    return run_program(REPO, request.param)


def by_kind(run: ProgramRun, kind: str) -> list[dict[str, Any]]:
    return [r.inputs for r in run.kubernetes_objects() if r.inputs.get("kind") == kind]


def deployments(run: ProgramRun) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in by_kind(run, "Deployment")}


class TestDeclaredFromStackFile:
    """The program declares exactly what the stack file and the catalogue say."""

    def test_one_deployment_per_pin_running_the_catalogue_digest(self, run: ProgramRun) -> None:
        pins = stack_config(REPO, run.stack)["mlops:components"]
        found = deployments(run)
        assert sorted(found) == sorted(p["name"].replace("_", "-") for p in pins)
        for pin in pins:
            entry = catalogue(pin["name"])
            version = version_of(entry, pin["version"])
            container = found[pin["name"].replace("_", "-")]["spec"]["template"]["spec"]["containers"][0]
            assert container["image"] == f"{entry['image']}@{version['digest']}"
            env = {e["name"]: e.get("value") for e in container["env"]}
            assert env["MLOPS_VERSION"] == str(version["id"])
            assert env["MLOPS_COMPONENT"] == pin["name"]
            assert env["MLOPS_ENVIRONMENT"] == run.stack

    def test_replicas_follow_layering(self, run: ProgramRun) -> None:
        found = deployments(run)
        for pin in stack_config(REPO, run.stack)["mlops:components"]:
            deployment = found[pin["name"].replace("_", "-")]
            assert deployment["spec"].get("replicas") == expected_replicas(run.stack, pin), pin["name"]

    def test_a_node_pool_of_the_right_machine_type_per_owned_worker_group(self, run: ProgramRun) -> None:
        groups = stack_config(REPO, run.stack)["mlops:worker_groups"]
        owned = {name: g for name, g in groups.items() if not g.get("existing")}
        pools = {p.name: p.inputs for p in run.of_type("gcp:container/nodePool:NodePool")}
        assert sorted(pools) == sorted(owned)
        for name, group in owned.items():
            pool = pools[name]
            assert pool["nodeConfig"]["machineType"] == MACHINE_TYPES[group["worker_type"]]
            assert pool["nodeConfig"]["labels"]["mlops.dev/worker-group"] == name
            assert pool["nodeConfig"]["taints"] == [
                {"key": "mlops.dev/worker-group", "value": name, "effect": "NO_SCHEDULE"}
            ]
            assert pool["management"] == {"autoRepair": True, "autoUpgrade": True}
            assert pool["upgradeSettings"]["maxUnavailable"] == 0
            assert pool["upgradeSettings"]["maxSurge"] >= 1
            assert pool["nodeConfig"]["workloadMetadataConfig"] == {"mode": "GKE_METADATA"}
            assert pool["nodeConfig"]["serviceAccount"].endswith(".iam.gserviceaccount.com")
            # Sizes are nodes in the whole pool: GKE multiplies node_count by the zones (the
            # listed ones, else the region's three) and reads total_* counts as totals.
            zones = len(group.get("zones") or []) or 3
            if "size" in group:
                assert pool["nodeCount"] * zones == group["size"]
                assert pool.get("nodeLocations") == group.get("zones")
            else:
                assert pool["autoscaling"] == {
                    "totalMinNodeCount": group["min_size"],
                    "totalMaxNodeCount": group["max_size"],
                    "locationPolicy": "BALANCED",
                }
                assert pool["initialNodeCount"] * zones >= group["min_size"]

    def test_an_https_route_per_component_at_the_design_url(self, run: ProgramRun) -> None:
        """GKE's Gateway: one HTTPRoute per component on the https listener, the prefix replaced by /."""
        config = stack_config(REPO, run.stack)
        host = config["mlops:routing"]["host"]
        routes: dict[str, tuple[str, str]] = {}
        for route in by_kind(run, "HTTPRoute"):
            if route["metadata"]["name"] == "https-redirect":
                continue
            assert route["spec"]["hostnames"] == [host]
            assert route["spec"]["parentRefs"] == [{"kind": "Gateway", "name": "mlops-gateway", "sectionName": "https"}]
            [rule] = route["spec"]["rules"]
            assert rule["filters"] == [
                {
                    "type": "URLRewrite",
                    "urlRewrite": {"path": {"type": "ReplacePrefixMatch", "replacePrefixMatch": "/"}},
                },
                # Outside clients cannot claim to be a component (mlops_runtime's caller header).
                {"type": "RequestHeaderModifier", "requestHeaderModifier": {"remove": [mlops_runtime.CALLER_HEADER]}},
            ]
            [match] = rule["matches"]
            assert match["path"]["type"] == "PathPrefix"
            [backend] = rule["backendRefs"]
            routes[match["path"]["value"]] = (backend["name"], backend["port"])
        expected = {}
        for pin in config["mlops:components"]:
            kind = "apps" if pin["type"] == "app" else "models"
            prefix = f"/api/v1/projects/document-tagging/environments/{run.stack}/{kind}/{pin['name']}"
            expected[prefix] = (pin["name"].replace("_", "-"), 80)
        assert routes == expected

    def test_one_gateway_https_with_a_managed_certificate_and_http_redirected(self, run: ProgramRun) -> None:
        host = stack_config(REPO, run.stack)["mlops:routing"]["host"]
        [gateway] = by_kind(run, "Gateway")
        assert gateway["spec"]["gatewayClassName"] == "gke-l7-global-external-managed"
        listeners = {listener["name"]: listener for listener in gateway["spec"]["listeners"]}
        assert (listeners["https"]["protocol"], listeners["https"]["port"]) == ("HTTPS", 443)
        assert (listeners["http"]["protocol"], listeners["http"]["port"]) == ("HTTP", 80)
        assert gateway["metadata"]["annotations"]["networking.gke.io/certmap"].endswith("-certificates")
        assert gateway["spec"]["addresses"][0]["type"] == "NamedAddress"
        [redirect] = [r for r in by_kind(run, "HTTPRoute") if r["metadata"]["name"] == "https-redirect"]
        assert redirect["spec"]["parentRefs"][0]["sectionName"] == "http"
        assert redirect["spec"]["rules"] == [
            {"filters": [{"type": "RequestRedirect", "requestRedirect": {"scheme": "https", "statusCode": 301}}]}
        ]
        # Only the redirect listens on port 80: no component is reachable over plain HTTP.
        assert [r for r in by_kind(run, "HTTPRoute") if r["spec"]["parentRefs"][0]["sectionName"] == "http"] == [
            redirect
        ]
        certificates = run.of_type("gcp:certificatemanager/certificate:Certificate")
        assert [c.inputs["managed"]["domains"] for c in certificates] == [[host]]

    def test_health_checks_follow_the_catalogue(self, run: ProgramRun) -> None:
        policies = {p["spec"]["targetRef"]["name"]: p for p in by_kind(run, "HealthCheckPolicy")}
        for pin in stack_config(REPO, run.stack)["mlops:components"]:
            check = policies[pin["name"].replace("_", "-")]["spec"]["default"]["config"]["httpHealthCheck"]
            assert check["requestPath"] == catalogue(pin["name"])["health_path"]

    def test_environment_config_in_a_configmap(self, run: ProgramRun) -> None:
        from ruamel.yaml import YAML

        maps = {c["metadata"]["name"]: c for c in by_kind(run, "ConfigMap")}
        data = YAML(typ="safe").load(maps["environment-config"]["data"]["environment_config.yaml"])
        assert data == stack_config(REPO, run.stack)["mlops:environment_config"]

    def test_app_config_of_the_pinned_version_in_an_immutable_configmap(self, run: ProgramRun) -> None:
        from ruamel.yaml import YAML

        maps = {c["metadata"]["name"]: c for c in by_kind(run, "ConfigMap")}
        for pin in stack_config(REPO, run.stack)["mlops:components"]:
            version = version_of(catalogue(pin["name"]), pin["version"])
            config_map = maps[f"{pin['name'].replace('_', '-')}-app-config-{version['id']}"]
            assert config_map["immutable"] is True
            assert YAML(typ="safe").load(config_map["data"]["app_config.yaml"]) == version.get("app_config", {})

    def test_namespace_secret_and_network_policy(self, run: ProgramRun) -> None:
        namespace = f"document-tagging-{run.stack}"
        assert [n["metadata"]["name"] for n in by_kind(run, "Namespace")] == [namespace]
        for obj in run.kubernetes_objects():
            if obj.inputs["kind"] != "Namespace":
                assert obj.inputs["metadata"]["namespace"] == namespace, obj.name
        (secret,) = by_kind(run, "Secret")
        assert set(secret["stringData"]) == {"api-key"}
        # The namespace denies everything; each component's own policy allows its traffic (test_hardening).
        policies = {p["metadata"]["name"]: p for p in by_kind(run, "NetworkPolicy")}
        assert policies["mlops-default-deny"]["spec"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}

    def test_only_apps_receive_the_api_key_and_only_as_a_file(self, run: ProgramRun) -> None:
        for pin in stack_config(REPO, run.stack)["mlops:components"]:
            pod = deployments(run)[pin["name"].replace("_", "-")]["spec"]["template"]["spec"]
            container = pod["containers"][0]
            names = {e["name"]: e for e in container["env"]}
            sources = pod["volumes"][0]["projected"]["sources"]
            key_files = [s["secret"] for s in sources if s.get("secret", {}).get("name") == "mlops-api-key"]
            assert not any("secretKeyRef" in e.get("valueFrom", {}) for e in container["env"])
            if pin["type"] == "app":
                assert key_files == [{"name": "mlops-api-key", "items": [{"key": "api-key", "path": "api-key"}]}]
                assert names["MLOPS_API_KEY_PATH"]["value"] == "/etc/mlops/api-key"
            else:
                assert key_files == []
                assert "MLOPS_API_KEY_PATH" not in names

    def test_services_select_their_deployments_pods(self, run: ProgramRun) -> None:
        found = deployments(run)
        services = {s["metadata"]["name"]: s for s in by_kind(run, "Service")}
        assert sorted(services) == sorted(found)
        for name, service in services.items():
            selector = found[name]["spec"]["selector"]["matchLabels"]
            assert service["spec"]["selector"] == selector
            pod_labels = found[name]["spec"]["template"]["metadata"]["labels"]
            assert selector.items() <= pod_labels.items()

    def test_stack_outputs(self, run: ProgramRun) -> None:
        config = stack_config(REPO, run.stack)
        outputs = run.outputs
        assert outputs["project"] == "document-tagging"
        assert outputs["environment"] == run.stack
        assert outputs["namespace"] == f"document-tagging-{run.stack}"
        assert outputs.get("promotes_to") == config.get("mlops:environment", {}).get("promotes_to")
        expected_pins = [
            {
                "name": p["name"],
                "type": p["type"],
                "version": version_of(catalogue(p["name"]), p["version"])["id"],
                "digest": version_of(catalogue(p["name"]), p["version"])["digest"],
            }
            for p in config["mlops:components"]
        ]
        assert outputs["pins"] == expected_pins
        assert set(outputs["components"]) == {p["name"] for p in config["mlops:components"]}
        for pin in config["mlops:components"]:
            entry = outputs["components"][pin["name"]]
            assert entry["url"].startswith(f"https://{config['mlops:routing']['host']}/api/v1/projects/")
            assert entry["url"].endswith(f"/{pin['name']}/")
            assert entry["replicas"] == expected_replicas(run.stack, pin)
        assert set(outputs["worker_groups"]) == set(config["mlops:worker_groups"])


class TestSchema:
    """Every Kubernetes object passes the real Kubernetes schema, strictly (no unknown fields)."""

    def test_every_object_validates_strictly(self, run: ProgramRun) -> None:
        objects = run.kubernetes_objects()
        assert objects
        for obj in objects:
            if is_custom(obj.inputs):
                validate_custom(obj.inputs)  # Gateway API and GKE policies: their CRDs' schemas
            else:
                kubernetes_validate.validate(obj.inputs, K8S_VERSION, strict=True)

    def test_strict_validation_rejects_an_unknown_field(self, run: ProgramRun) -> None:
        deployment = dict(next(iter(deployments(run).values())))
        deployment["spec"] = {**deployment["spec"], "replica": 2}
        with pytest.raises(kubernetes_validate.ValidationError):
            kubernetes_validate.validate(deployment, K8S_VERSION, strict=True)


class TestSecurityRules:
    """Restricted pods: non-root, read-only root filesystem, no privilege escalation, probes, requests."""

    def test_pods_are_restricted(self, run: ProgramRun) -> None:
        for name, deployment in deployments(run).items():
            pod = deployment["spec"]["template"]["spec"]
            assert pod["securityContext"]["runAsNonRoot"] is True, name
            assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
            assert pod["automountServiceAccountToken"] is False
            for container in pod["containers"]:
                context = container["securityContext"]
                assert context["runAsNonRoot"] is True
                assert context["readOnlyRootFilesystem"] is True
                assert context["allowPrivilegeEscalation"] is False
                assert context["capabilities"] == {"drop": ["ALL"]}
                for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
                    assert container[probe]["httpGet"]["port"] == "http", (name, probe)
                assert {"cpu", "memory"} <= set(container["resources"]["requests"])
                assert "memory" in container["resources"]["limits"]

    def test_probes_hit_the_catalogue_health_path(self, run: ProgramRun) -> None:
        for pin in stack_config(REPO, run.stack)["mlops:components"]:
            container = deployments(run)[pin["name"].replace("_", "-")]["spec"]["template"]["spec"]["containers"][0]
            assert container["readinessProbe"]["httpGet"]["path"] == catalogue(pin["name"])["health_path"]

    def test_rollouts_never_go_below_desired_replicas(self, run: ProgramRun) -> None:
        for deployment in deployments(run).values():
            assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0

    def test_pods_land_only_on_their_worker_group(self, run: ProgramRun) -> None:
        for deployment in deployments(run).values():
            pod = deployment["spec"]["template"]["spec"]
            group = pod["nodeSelector"]["mlops.dev/worker-group"]
            assert pod["tolerations"] == [
                {"key": "mlops.dev/worker-group", "operator": "Equal", "value": group, "effect": "NoSchedule"}
            ]

    def test_replicated_components_spread_and_have_a_disruption_budget(self, run: ProgramRun) -> None:
        budgets = {b["metadata"]["name"]: b for b in by_kind(run, "PodDisruptionBudget")}
        for name, deployment in deployments(run).items():
            pod = deployment["spec"]["template"]["spec"]
            if min_pods(run, deployment) >= 2:
                assert budgets[name]["spec"]["selector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"]
                keys = [c["topologyKey"] for c in pod["topologySpreadConstraints"]]
                assert "kubernetes.io/hostname" in keys
            else:
                assert name not in budgets
                assert "topologySpreadConstraints" not in pod


def ends_chain(stack: str) -> bool:
    return "promotes_to" not in stack_config(REPO, stack).get("mlops:environment", {})


class TestProductionRules:
    """The stack that ends the chain: at least 2 pods, a PodDisruptionBudget per component,
    rollouts with maxUnavailable 0, and node pools and namespace protected from deletion.
    Stacks that promote further are never protected (a challenger or UAT must stay disposable)."""

    def test_the_chain_ends_in_production(self) -> None:
        assert [s for s in COMMITTED_STACKS if ends_chain(s)] == ["production"]

    def test_replicas_budgets_and_rollouts(self, run: ProgramRun) -> None:
        found = deployments(run)
        budgets = {b["metadata"]["name"] for b in by_kind(run, "PodDisruptionBudget")}
        assert found
        for name, deployment in found.items():
            assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
            if ends_chain(run.stack):
                assert min_pods(run, deployment) >= 2 and name in budgets

    def test_protection(self, run: ProgramRun) -> None:
        kinds = ("gcp:container/nodePool:NodePool", "kubernetes:core/v1:Namespace")
        guarded = [r for r in run.resources if r.type in kinds]
        assert len(guarded) >= 2
        if ends_chain(run.stack):
            assert all(r.protect for r in guarded)
        else:
            assert not any(r.protect for r in run.resources)


def test_every_environment_is_on_a_different_version_set() -> None:
    """The example gives a promotion something to do at each step of the chain."""
    pins = {s: [(p["name"], p["version"]) for p in stack_config(REPO, s)["mlops:components"]] for s in COMMITTED_STACKS}
    resolved = {s: sorted((n, version_of(catalogue(n), v)["id"]) for n, v in p) for s, p in pins.items()}
    assert len({tuple(v) for v in resolved.values()}) == len(COMMITTED_STACKS)


EDGE_TYPES = {
    "gcp:compute/globalAddress:GlobalAddress",
    "gcp:certificatemanager/dnsAuthorization:DnsAuthorization",
    "gcp:certificatemanager/certificate:Certificate",
    "gcp:certificatemanager/certificateMap:CertificateMap",
    "gcp:certificatemanager/certificateMapEntry:CertificateMapEntry",
    "gcp:compute/securityPolicy:SecurityPolicy",  # a rate limit's Cloud Armor policy: tests/test_rate_limits.py
}


def test_plan_writes_exactly_what_the_program_declares(run: ProgramRun) -> None:
    """`mlops plan` renders from the pure builders without running the program; every object it
    writes equals what the program declares under Pulumi's mocks (Secret values masked on both
    sides), with the same options, and it leaves nothing out."""
    from mlops.plan import document, masked, planned, wire_names
    from spec.environment import load_environment

    recorded = {(r.type, r.name): r for r in run.resources if r.custom}
    declared = planned(load_environment(REPO, run.stack))
    assert declared
    for obj in declared:
        program = recorded.pop((obj.type, obj.name))
        if program.is_kubernetes_object:
            assert masked(obj) == masked(type(obj)(obj.type, obj.name, obj.group, program.inputs)), obj.name
        else:
            assert wire_names(obj.inputs) == program.inputs, obj.name
            assert document(obj)[1]["inputs"] == program.inputs
        assert obj.protect == program.protect, obj.name
        assert obj.ignore_changes == program.ignore_changes, obj.name
    # What the plan leaves out: the provider and generated values, nothing else. The Google Cloud side
    # of the Gateway (address, certificate: `Edge`; Cloud Armor policies) and the artifact readers'
    # bucket grants (test_routing.py TestArtifactReaders) have their own tests.
    assert {t for t, _ in recorded} <= {
        "pulumi:providers:kubernetes",
        "random:index/randomPassword:RandomPassword",
        "gcp:storage/bucketIAMMember:BucketIAMMember",
        *EDGE_TYPES,
    }
