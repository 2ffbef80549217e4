"""Issue 11 on the rendered objects: every committed stack, run as the language host runs it,
declares per-component identities, network isolation (default deny, then only the traffic each
component needs), pods that pass Pod Security Admission `restricted`, disruption that never blocks
a drain, rollouts and shutdowns that keep requests, and an API key that is only ever a file.
Each failure names the object and the rule. The builders' own cases (calls, artifacts, the
ingress class) are in test_hardening_builders."""

from __future__ import annotations

import json
from typing import Any

import pytest

from components.network_policy import GMP_COLLECTORS
from spec.environment import load_environment

from .conftest import COMMITTED_STACKS, REPO, stack_config
from .program_run import ProgramRun, run_program
from .test_autoscaling import min_pods
from .test_stacks import by_kind, catalogue, deployments

GOOGLE_FRONT_ENDS = [{"ipBlock": {"cidr": "35.191.0.0/16"}}, {"ipBlock": {"cidr": "130.211.0.0/22"}}]
DNS = {
    "to": [
        {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
            "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
        }
    ],
    "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
}
METADATA = [
    {"to": [{"ipBlock": {"cidr": "169.254.169.254/32"}}], "ports": [{"protocol": "TCP", "port": 80}]},
    {"to": [{"ipBlock": {"cidr": "169.254.169.252/32"}}], "ports": [{"protocol": "TCP", "port": 988}]},
]
GOOGLE_APIS = {
    "to": [
        {"ipBlock": {"cidr": "199.36.153.8/30"}},
        {
            "ipBlock": {
                "cidr": "0.0.0.0/0",
                "except": ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16"],
            }
        },
    ],
    "ports": [{"protocol": "TCP", "port": 443}],
}
# Pod Security Standards, `restricted`: the volume types it allows.
RESTRICTED_VOLUMES = {
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
}


@pytest.fixture(scope="module", params=COMMITTED_STACKS)
def run(request: pytest.FixtureRequest) -> ProgramRun:
    """One run of the program per committed stack, as test_stacks runs it."""
    return run_program(REPO, request.param)


def k8s(name: str) -> str:
    return name.replace("_", "-")


def traffic_sources(stack: str) -> list[dict[str, Any]]:
    """Who the stack's routing sends traffic from, written out: Google's load balancers for GKE's
    external Gateway, else the controller's namespace."""
    env = load_environment(REPO, stack)
    routing = env.config.routing
    if routing.kind == "gateway" and env.config.is_gke and routing.class_name is None and not routing.internal:
        return GOOGLE_FRONT_ENDS
    namespace = routing.controller_namespace
    return [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}}}]


def pinned(stack: str) -> dict[str, dict[str, Any]]:
    """Pinned component -> its catalogue file, read straight off the files."""
    return {p["name"]: catalogue(p["name"]) for p in stack_config(REPO, stack)["mlops:components"]}


def policies(run: ProgramRun) -> dict[str, dict[str, Any]]:
    return {p["metadata"]["name"]: p for p in by_kind(run, "NetworkPolicy")}


def restricted_violations(pod: dict[str, Any]) -> list[str]:
    """What Pod Security Admission `restricted` (latest) would reject in a pod spec."""
    found = []
    context = pod.get("securityContext", {})
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        if pod.get(key):
            found.append(f"{key} is set")
    for volume in pod.get("volumes", []):
        kind = next(k for k in volume if k != "name")
        if kind not in RESTRICTED_VOLUMES:
            found.append(f"volume {volume['name']} is {kind}")
    pod_seccomp = context.get("seccompProfile", {}).get("type")
    for container in pod["containers"] + pod.get("initContainers", []):
        name, own = container["name"], container.get("securityContext", {})
        if own.get("privileged"):
            found.append(f"container {name} is privileged")
        if own.get("allowPrivilegeEscalation") is not False:
            found.append(f"container {name} allows privilege escalation")
        capabilities = own.get("capabilities", {})
        if "ALL" not in capabilities.get("drop", []):
            found.append(f"container {name} does not drop ALL capabilities")
        if set(capabilities.get("add", [])) - {"NET_BIND_SERVICE"}:
            found.append(f"container {name} adds capabilities")
        if own.get("runAsNonRoot", context.get("runAsNonRoot")) is not True:
            found.append(f"container {name} may run as root")
        if own.get("runAsUser", context.get("runAsUser")) == 0:
            found.append(f"container {name} runs as user 0")
        if own.get("seccompProfile", {}).get("type", pod_seccomp) not in ("RuntimeDefault", "Localhost"):
            found.append(f"container {name} has no RuntimeDefault seccomp profile")
        if any(port.get("hostPort") for port in container.get("ports", [])):
            found.append(f"container {name} uses a host port")
    return found


class TestIdentity:
    """Each component runs as its own ServiceAccount, and no pod carries an API token."""

    def test_a_service_account_per_component_without_tokens(self, run: ProgramRun) -> None:
        accounts = {a["metadata"]["name"]: a for a in by_kind(run, "ServiceAccount")}
        found = deployments(run)
        assert sorted(accounts) == sorted(found), "ServiceAccounts: exactly one per component"
        for name, deployment in found.items():
            pod = deployment["spec"]["template"]["spec"]
            assert pod["serviceAccountName"] == name, f"Deployment {name}: pod does not run as its own ServiceAccount"
            assert pod["automountServiceAccountToken"] is False, f"Deployment {name}: pod mounts an API token"
            account = accounts[name]
            assert account["automountServiceAccountToken"] is False, f"ServiceAccount {name}: token automounted"
            assert account["metadata"]["namespace"] == f"document-tagging-{run.stack}", f"ServiceAccount {name}"


class TestNetworkIsolation:
    """Default deny both ways, then per component only: the ingress controller and declared
    callers in, on its port; DNS, the metadata server, declared callees and (artifacts only)
    Google APIs out."""

    def test_the_namespace_denies_everything_by_default(self, run: ProgramRun) -> None:
        spec = policies(run)["mlops-default-deny"]["spec"]
        assert spec == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}, (
            "NetworkPolicy mlops-default-deny: not a default deny for Ingress and Egress"
        )

    def test_each_component_has_its_own_policy_both_ways(self, run: ProgramRun) -> None:
        found = policies(run)
        for name, deployment in deployments(run).items():
            policy = found.get(name)
            assert policy is not None, f"Deployment {name}: no NetworkPolicy of its own"
            spec = policy["spec"]
            assert spec["podSelector"] == {"matchLabels": deployment["spec"]["selector"]["matchLabels"]}, (
                f"NetworkPolicy {name}: does not select exactly the component's pods"
            )
            assert spec["policyTypes"] == ["Ingress", "Egress"], f"NetworkPolicy {name}: not both ways"

    def test_in_only_from_the_load_balancer_declared_callers_and_collectors_on_the_port(self, run: ProgramRun) -> None:
        outside = traffic_sources(run.stack)
        components = pinned(run.stack)
        for name, entry in components.items():
            port = [{"protocol": "TCP", "port": entry["port"]}]
            callers = sorted(k8s(c) for c, e in components.items() if name in e.get("calls", []))
            expected = [{"from": outside, "ports": port}]
            if callers:
                selectors = [{"podSelector": {"matchLabels": self.selector(c, run.stack)}} for c in callers]
                expected.append({"from": selectors, "ports": port})
            expected.append({"from": [GMP_COLLECTORS], "ports": port})
            assert policies(run)[k8s(name)]["spec"]["ingress"] == expected, (
                f"NetworkPolicy {k8s(name)}: ingress is not exactly the load balancer, declared callers and "
                "the metrics collectors"
            )

    def test_out_only_to_dns_metadata_declared_callees_and_google_apis_for_artifacts(self, run: ProgramRun) -> None:
        components = pinned(run.stack)
        for name, entry in components.items():
            expected = [DNS, *METADATA]
            for callee in sorted(set(entry.get("calls", []))):
                if callee in components:
                    pods = {"podSelector": {"matchLabels": self.selector(k8s(callee), run.stack)}}
                    expected.append({"to": [pods], "ports": [{"protocol": "TCP", "port": components[callee]["port"]}]})
            if entry.get("artifacts"):
                expected.append(GOOGLE_APIS)
            assert policies(run)[k8s(name)]["spec"]["egress"] == expected, (
                f"NetworkPolicy {k8s(name)}: egress is not exactly DNS, metadata server, declared calls"
                + (" and Google APIs" if entry.get("artifacts") else "")
            )

    def test_no_rule_is_open_to_every_port_or_peer(self, run: ProgramRun) -> None:
        for name, policy in policies(run).items():
            for direction, peers in (("ingress", "from"), ("egress", "to")):
                for rule in policy["spec"].get(direction, []):
                    assert rule.get("ports"), f"NetworkPolicy {name}: an {direction} rule allows every port"
                    assert rule.get(peers), f"NetworkPolicy {name}: an {direction} rule allows every peer"
                    assert {} not in rule[peers], f"NetworkPolicy {name}: an empty {direction} peer"

    @staticmethod
    def selector(k8s_name: str, stack: str) -> dict[str, str]:
        return {"app.kubernetes.io/name": k8s_name, "mlops.dev/environment": stack}


class TestPodSecurity:
    """The namespace enforces Pod Security Admission `restricted`, and every pod passes it."""

    def test_namespace_enforces_warns_and_audits_restricted(self, run: ProgramRun) -> None:
        (namespace,) = by_kind(run, "Namespace")
        labels = namespace["metadata"]["labels"]
        for mode in ("enforce", "warn", "audit"):
            assert labels.get(f"pod-security.kubernetes.io/{mode}") == "restricted", (
                f"Namespace {namespace['metadata']['name']}: Pod Security Admission {mode} is not restricted"
            )
        assert labels["pod-security.kubernetes.io/enforce-version"] == "latest"

    def test_every_pod_passes_restricted(self, run: ProgramRun) -> None:
        for name, deployment in deployments(run).items():
            pod = deployment["spec"]["template"]["spec"]
            assert restricted_violations(pod) == [], f"Deployment {name}: fails Pod Security restricted"

    def test_read_only_root_with_a_writable_tmp_and_a_fixed_user(self, run: ProgramRun) -> None:
        for name, deployment in deployments(run).items():
            pod = deployment["spec"]["template"]["spec"]
            assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, f"Deployment {name}"
            assert pod["securityContext"]["runAsUser"] == pod["securityContext"]["runAsGroup"] == 10001, name
            volumes = {v["name"]: v for v in pod["volumes"]}
            for container in pod["containers"]:
                assert container["securityContext"]["readOnlyRootFilesystem"] is True, (
                    f"Deployment {name}: container {container['name']} has a writable root filesystem"
                )
                tmp = [m for m in container["volumeMounts"] if m["mountPath"] == "/tmp"]
                assert len(tmp) == 1 and "emptyDir" in volumes[tmp[0]["name"]], (
                    f"Deployment {name}: container {container['name']} has no emptyDir at /tmp"
                )

    def test_the_checker_rejects_what_restricted_rejects(self) -> None:
        pod = {
            "hostNetwork": True,
            "volumes": [{"name": "root", "hostPath": {"path": "/"}}],
            "containers": [{"name": "x", "securityContext": {"privileged": True, "runAsUser": 0}}],
        }
        assert len(restricted_violations(pod)) == 8


class TestDisruption:
    """Drains and upgrades never blocked, zones spread, rollouts and shutdowns keep requests."""

    def test_budgets_let_unhealthy_pods_go(self, run: ProgramRun) -> None:
        for budget in by_kind(run, "PodDisruptionBudget"):
            assert budget["spec"].get("unhealthyPodEvictionPolicy") == "AlwaysAllow", (
                f"PodDisruptionBudget {budget['metadata']['name']}: PDB without unhealthyPodEvictionPolicy AlwaysAllow"
            )

    def test_replicated_components_spread_across_zones(self, run: ProgramRun) -> None:
        for name, deployment in deployments(run).items():
            if min_pods(run, deployment) < 2:
                continue
            spread = deployment["spec"]["template"]["spec"].get("topologySpreadConstraints", [])
            zones = [c for c in spread if c["topologyKey"] == "topology.kubernetes.io/zone"]
            assert len(zones) == 1, f"Deployment {name}: {min_pods(run, deployment)} pods or more, no zone spread"
            assert zones[0]["maxSkew"] == 1 and zones[0]["whenUnsatisfiable"] == "ScheduleAnyway", name
            assert zones[0]["labelSelector"] == deployment["spec"]["selector"], (
                f"Deployment {name}: zone spread does not select the component's pods"
            )

    def test_rollouts_surge_and_never_go_below_desired(self, run: ProgramRun) -> None:
        for name, deployment in deployments(run).items():
            strategy = deployment["spec"]["strategy"]
            assert strategy["type"] == "RollingUpdate", f"Deployment {name}: not a rolling update"
            assert strategy["rollingUpdate"]["maxUnavailable"] == 0, f"Deployment {name}: maxUnavailable is not 0"
            assert strategy["rollingUpdate"]["maxSurge"] in (1, "25%"), f"Deployment {name}: no surge"

    def test_shutdown_lets_in_flight_requests_finish(self, run: ProgramRun) -> None:
        for name, deployment in deployments(run).items():
            pod = deployment["spec"]["template"]["spec"]
            grace = pod["terminationGracePeriodSeconds"]
            for container in pod["containers"]:
                sleep = container.get("lifecycle", {}).get("preStop", {}).get("sleep", {}).get("seconds", 0)
                assert 0 < sleep < grace, f"Deployment {name}: no preStop sleep within the grace period {grace}s"

    def test_readiness_on_the_health_path(self, run: ProgramRun) -> None:
        for component, entry in pinned(run.stack).items():
            container = deployments(run)[k8s(component)]["spec"]["template"]["spec"]["containers"][0]
            probe = container["readinessProbe"]
            assert probe["httpGet"] == {"path": entry["health_path"], "port": "http"}, (
                f"Deployment {k8s(component)}: readiness probe is not the catalogue's health_path"
            )
            assert probe["periodSeconds"] <= 10 and probe["failureThreshold"] >= 2, k8s(component)


class TestApiKey:
    """The API key reaches apps as a mounted file only: never in an environment variable."""

    def test_no_container_environment_holds_the_key(self, run: ProgramRun) -> None:
        (secret,) = [s for s in by_kind(run, "Secret") if s["metadata"]["name"] == "mlops-api-key"]
        key = secret["stringData"]["api-key"]
        assert key
        for name, deployment in deployments(run).items():
            for container in deployment["spec"]["template"]["spec"]["containers"]:
                where = f"Deployment {name}: container {container['name']}"
                assert "envFrom" not in container, f"{where}: envFrom could carry the API key"
                for variable in container["env"]:
                    assert key not in str(variable.get("value", "")), f"{where}: env {variable['name']} holds the key"
                    assert "secretKeyRef" not in variable.get("valueFrom", {}), (
                        f"{where}: env {variable['name']} reads a Secret"
                    )
        for obj in run.kubernetes_objects():
            if obj.kind != "Secret":
                assert key not in json.dumps(obj.inputs), f"{obj.kind} {obj.name}: holds the API key in clear"
