"""Cluster wiring: a GKE cluster by name and location, or any cluster by kubeconfig context; owned
and existing worker groups; the API key from config or generated once by the program."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from spec.errors import ProgramError

from .conftest import Runner, edit_stack


def deployments(run) -> dict[str, dict]:
    return {r.inputs["metadata"]["name"]: r.inputs for r in run.resources if r.kind == "Deployment"}


class TestGke:
    def test_provider_reads_the_existing_cluster_and_uses_the_auth_plugin(
        self, project: Path, offline_engine: Runner
    ) -> None:
        run = offline_engine(project, "uat")
        cluster = (
            "gcp:container/getCluster:getCluster",
            {"name": "ml-platform", "location": "europe-west2", "project": "acme-ml-platform"},
        )
        # The cluster once; and the project (its number names the Workload Identity principal of
        # the components that read model artifacts), nothing else.
        assert run.calls.count(cluster) == 1
        assert {c[0] for c in run.calls} == {cluster[0], "gcp:organizations/getProject:getProject"}
        (provider,) = run.of_type("pulumi:providers:kubernetes")
        kubeconfig = json.loads(provider.inputs["kubeconfig"])
        assert kubeconfig["clusters"][0]["cluster"]["server"] == "https://203.0.113.10"
        assert kubeconfig["users"][0]["user"]["exec"]["command"] == "gke-gcloud-auth-plugin"
        assert "token" not in json.dumps(kubeconfig["users"])
        # every Kubernetes object goes through that provider, never an ambient kubeconfig
        for obj in run.kubernetes_objects():
            assert obj.provider == provider.name, obj.name

    def test_node_pool_belongs_to_the_named_cluster(self, project: Path, offline_engine: Runner) -> None:
        (pool,) = offline_engine(project, "uat").of_type("gcp:container/nodePool:NodePool")
        assert (pool.inputs["cluster"], pool.inputs["location"], pool.inputs["project"]) == (
            "ml-platform",
            "europe-west2",
            "acme-ml-platform",
        )
        assert pool.inputs["initialNodeCount"] == 1
        assert sorted(pool.ignore_changes) == ["initialNodeCount", "nodeCount"]

    def test_existing_worker_group_is_referenced_never_managed(self, project: Path, offline_engine: Runner) -> None:
        def change(config: dict) -> None:
            config["mlops:worker_groups"]["default"] = {"existing": True, "node_pool": "default-pool"}
            config["mlops:components"][0]["settings"] = {"worker_group": "default"}

        edit_stack(project, "uat", change)
        run = offline_engine(project, "uat")
        pools = [p.name for p in run.of_type("gcp:container/nodePool:NodePool")]
        assert pools == ["uat-pool"]
        pod = deployments(run)["document-tagging"]["spec"]["template"]["spec"]
        assert pod["nodeSelector"] == {"cloud.google.com/gke-nodepool": "default-pool"}
        assert run.outputs["worker_groups"]["default"]["owned"] is False

    def test_pool_owned_by_another_stack_is_selected_by_its_label(self, project: Path, offline_engine: Runner) -> None:
        def change(config: dict) -> None:
            config["mlops:worker_groups"] = {"integration-pool": {"existing": True}}
            config["mlops:settings"] = {"worker_group": "integration-pool"}

        edit_stack(project, "uat", change)
        run = offline_engine(project, "uat")
        assert not run.of_type("gcp:container/nodePool:NodePool")
        for deployment in deployments(run).values():
            assert deployment["spec"]["template"]["spec"]["nodeSelector"] == {
                "mlops.dev/worker-group": "integration-pool"
            }


KIND_ROUTING = {
    "host": "ml.localtest.me",
    "class_name": "eg",
    "controller_namespace": "envoy-gateway-system",
    "tls_secret": "ml-localtest-me-tls",
}


class TestKubeconfigContext:
    """Any existing cluster (kind, minikube): worker groups become node labels only; its own
    Gateway controller serves the routes with a TLS Secret."""

    def test_no_node_pool_and_a_context_provider(self, project: Path, offline_engine: Runner) -> None:
        edit_stack(
            project,
            "integration",
            lambda c: c.update({"mlops:cluster": {"kubeconfig_context": "kind-mlops"}, "mlops:routing": KIND_ROUTING}),
        )
        run = offline_engine(project, "integration")
        assert not run.of_type("gcp:container/nodePool:NodePool")
        assert run.calls == []
        (provider,) = run.of_type("pulumi:providers:kubernetes")
        assert provider.inputs["context"] == "kind-mlops"
        for deployment in deployments(run).values():
            pod = deployment["spec"]["template"]["spec"]
            assert pod["nodeSelector"] == {"mlops.dev/worker-group": "integration-pool"}
        assert run.outputs["worker_groups"]["integration-pool"]["owned"] is False
        # No Google Cloud edge: the Gateway is the cluster's own class, with the TLS Secret.
        assert not run.of_type("gcp:certificatemanager/certificate:Certificate")
        [gateway] = [r.inputs for r in run.kubernetes_objects() if r.kind == "Gateway"]
        assert gateway["spec"]["gatewayClassName"] == "eg"
        assert gateway["spec"]["listeners"][0]["tls"]["certificateRefs"] == [
            {"kind": "Secret", "name": "ml-localtest-me-tls"}
        ]

    def test_a_gateway_outside_gke_needs_its_class_and_certificate(self, project: Path, offline_engine: Runner) -> None:
        edit_stack(project, "integration", lambda c: c.update({"mlops:cluster": {"kubeconfig_context": "kind-mlops"}}))
        with pytest.raises(ProgramError, match=r"mlops:routing.class_name: a Gateway outside GKE needs class_name"):
            offline_engine(project, "integration")

    def test_gcp_project_is_not_needed(self, project: Path, offline_engine: Runner) -> None:
        def change(config: dict) -> None:
            config["mlops:cluster"] = {"kubeconfig_context": "minikube"}
            config["mlops:routing"] = KIND_ROUTING
            config.pop("gcp:project")

        edit_stack(project, "uat", change)
        assert len(deployments(offline_engine(project, "uat"))) == 3


class TestApiKey:
    def test_configured_key_is_a_secret_in_the_namespace(self, project: Path, offline_engine: Runner) -> None:
        run = offline_engine(project, "uat")
        (secret,) = [r for r in run.resources if r.kind == "Secret"]
        assert secret.inputs["stringData"] == {"api-key": "decrypted-mlops:api_key"}  # the secure: value, decrypted
        assert secret.secret_inputs == {"stringData"}
        assert not run.of_type("random:index/randomPassword:RandomPassword")
        assert "api_key" not in run.outputs

    def test_without_a_key_one_is_generated_once_and_exported(self, project: Path, offline_engine: Runner) -> None:
        edit_stack(project, "uat", lambda c: c.pop("mlops:api_key"))
        run = offline_engine(project, "uat")
        (generated,) = run.of_type("random:index/randomPassword:RandomPassword")
        assert generated.inputs["length"] >= 32
        (secret,) = [r for r in run.resources if r.kind == "Secret"]
        assert secret.inputs["stringData"] == {"api-key": "offline-generated-secret"}
        assert run.outputs["api_key"] == "offline-generated-secret"
        assert "api_key" in run.secret_outputs
        assert secret.secret_inputs == {"stringData"}
