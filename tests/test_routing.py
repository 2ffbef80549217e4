"""Routing (issues 11 and 12): GKE's Gateway by default, HTTPS with a Google-managed certificate on
a reserved address, HTTP redirected; an Ingress on request; the old key says how to move."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from components.gcp_names import edge_names
from mlops.cli import app
from spec.environment import load_environment
from spec.errors import ConfigError

from .conftest import REPO, edit_stack
from .program_run import run_program


class TestEdge:
    """The Google Cloud side of an environment's Gateway, declared under the names the Gateway uses."""

    @pytest.fixture(scope="class")
    def run(self):
        return run_program(REPO, "production")

    def test_a_reserved_global_address_under_the_gateways_name(self, run) -> None:
        [address] = run.of_type("gcp:compute/globalAddress:GlobalAddress")
        [gateway] = [r.inputs for r in run.kubernetes_objects() if r.kind == "Gateway"]
        assert address.inputs["name"] == gateway["spec"]["addresses"][0]["value"]
        assert address.inputs["addressType"] == "EXTERNAL"

    def test_a_managed_certificate_for_the_host_through_dns_authorization(self, run) -> None:
        [auth] = run.of_type("gcp:certificatemanager/dnsAuthorization:DnsAuthorization")
        [certificate] = run.of_type("gcp:certificatemanager/certificate:Certificate")
        assert auth.inputs["domain"] == "ml.acme.example"
        assert certificate.inputs["managed"]["domains"] == ["ml.acme.example"]
        assert certificate.inputs["managed"]["dnsAuthorizations"] == [f"{auth.name}-id"]

    def test_the_certificate_map_is_the_one_the_gateway_names(self, run) -> None:
        [certificate_map] = run.of_type("gcp:certificatemanager/certificateMap:CertificateMap")
        [entry] = run.of_type("gcp:certificatemanager/certificateMapEntry:CertificateMapEntry")
        [gateway] = [r.inputs for r in run.kubernetes_objects() if r.kind == "Gateway"]
        assert certificate_map.inputs["name"] == gateway["metadata"]["annotations"]["networking.gke.io/certmap"]
        assert entry.inputs["hostname"] == "ml.acme.example"

    def test_production_protects_its_address_certificate_and_gateway(self, run) -> None:
        for type_ in ("gcp:compute/globalAddress:GlobalAddress", "gcp:certificatemanager/certificate:Certificate"):
            assert all(r.protect for r in run.of_type(type_)), type_
        [gateway] = [r for r in run.kubernetes_objects() if r.kind == "Gateway"]
        assert gateway.protect
        assert not any(r.protect for r in run.kubernetes_objects() if r.kind == "HTTPRoute")

    def test_dns_records_are_exported(self, run) -> None:
        records = run.outputs["dns_records"]
        assert records[0]["name"] == "ml.acme.example." and records[0]["type"] == "A"

    def test_names_fit_google_clouds_limit(self) -> None:
        for name in edge_names("a" * 63):
            assert len(name) <= 63


class TestConfiguration:
    def test_the_old_ingress_key_says_how_to_move(self, project: Path) -> None:
        edit_stack(project, "uat", lambda c: c.__setitem__("mlops:ingress", {"host": "ml.acme.example"}))
        with pytest.raises(
            ConfigError, match=r"Pulumi.uat.yaml: mlops:ingress: is now mlops:routing: write mlops:routing: \{host"
        ):
            load_environment(project, "uat")

    def test_an_ingress_needs_its_class_controller_and_certificate(self, project: Path) -> None:
        edit_stack(project, "uat", lambda c: c["mlops:routing"].update(kind="ingress"))
        with pytest.raises(ConfigError, match=r"an Ingress needs class_name, controller_namespace, tls_secret"):
            load_environment(project, "uat")

    def test_gkes_own_ingress_is_refused(self, project: Path) -> None:
        routing = {"kind": "ingress", "host": "x.example", "class_name": "gce", "controller_namespace": "kube-system"}
        edit_stack(project, "uat", lambda c: c.__setitem__("mlops:routing", {**routing, "tls_secret": "t"}))
        with pytest.raises(ConfigError, match=r"cannot strip the URL prefix: use kind: gateway"):
            load_environment(project, "uat")

    def test_an_internal_gateway_comes_from_the_proxy_subnet(self, project: Path) -> None:
        edit_stack(
            project,
            "uat",
            lambda c: c["mlops:routing"].update(internal=True, proxy_source_ranges=["10.129.0.0/23"], tls_secret="t"),
        )
        run = run_program(project, "uat")
        [gateway] = [r.inputs for r in run.kubernetes_objects() if r.kind == "Gateway"]
        assert gateway["spec"]["gatewayClassName"] == "gke-l7-rilb"
        assert not run.of_type("gcp:certificatemanager/certificate:Certificate")
        policy = next(r.inputs for r in run.kubernetes_objects() if r.name == "document_tagging-network-policy")
        assert policy["spec"]["ingress"][0]["from"] == [{"ipBlock": {"cidr": "10.129.0.0/23"}}]

    def test_two_stacks_may_not_serve_the_same_host(self, project: Path, monkeypatch) -> None:
        edit_stack(project, "uat", lambda c: c["mlops:routing"].update(host="ml.acme.example"))
        monkeypatch.chdir(project)
        result = CliRunner().invoke(app, ["validate"], catch_exceptions=False)
        assert result.exit_code == 2
        assert "mlops:routing.host: 'production' serves ml.acme.example already" in result.output


class TestArtifactReaders:
    """A component with `artifacts` may read its folder of the artifact bucket, as its own
    Kubernetes ServiceAccount, and nothing else."""

    def test_the_platforms_bucket_its_folder_its_service_account(self, project: Path) -> None:
        from .program_run import PROJECT_NUMBER
        from .test_hardening_builders import with_catalogue
        from .test_promotion_guard import PLATFORM, PLATFORM_OUTPUTS, use_platform

        with_catalogue(project, "sentiment_analysis", artifacts={"prefix": "models/sentiment"})
        use_platform(project, "integration")
        run = run_program(project, "integration", stack_outputs={PLATFORM: PLATFORM_OUTPUTS})
        [binding] = run.of_type("gcp:storage/bucketIAMMember:BucketIAMMember")
        assert binding.parent == "sentiment_analysis" and binding.parent_type == "mlops:identity:ArtifactReader"
        assert binding.inputs["bucket"] == "acme-ml-artifacts"
        assert binding.inputs["role"] == "roles/storage.objectViewer"
        assert binding.inputs["member"] == (
            f"principal://iam.googleapis.com/projects/{PROJECT_NUMBER}/locations/global/workloadIdentityPools/"
            "acme-ml-platform.svc.id.goog/subject/ns/document-tagging-integration/sa/sentiment-analysis"
        )
        assert binding.inputs["condition"]["expression"] == (
            'resource.name.startsWith("projects/_/buckets/acme-ml-artifacts/objects/models/sentiment/")'
        )
        [account] = [r.inputs for r in run.kubernetes_objects() if r.kind == "ServiceAccount" and "sentiment" in r.name]
        assert account["metadata"]["name"] == "sentiment-analysis"

    def test_a_named_cluster_needs_the_bucket(self, project: Path) -> None:
        from .test_hardening_builders import with_catalogue

        with_catalogue(project, "sentiment_analysis", artifacts={"prefix": "models/sentiment"})
        edit_stack(project, "integration", lambda c: c["mlops:cluster"].pop("artifact_bucket"))
        with pytest.raises(ConfigError, match=r"mlops:cluster.artifact_bucket: 'sentiment_analysis' reads model"):
            load_environment(project, "integration")
        edit_stack(project, "integration", lambda c: c["mlops:cluster"].update(artifact_bucket="acme-models"))
        run = run_program(project, "integration")
        [binding] = run.of_type("gcp:storage/bucketIAMMember:BucketIAMMember")
        assert binding.inputs["bucket"] == "acme-models"


# Which strict check each kind the program declares gets (issue 12, item 5).
CHECKS = {
    "kubernetes-validate strict (Kubernetes 1.34 schema)": {
        "Namespace",
        "ConfigMap",
        "Secret",
        "ServiceAccount",
        "Deployment",
        "Service",
        "NetworkPolicy",
        "PodDisruptionBudget",
        "HorizontalPodAutoscaler",
        "Ingress",
    },
    "vendored CRD schema, strict (Gateway API v1.3.0 standard channel)": {"Gateway", "HTTPRoute"},
    "vendored CRD schema, strict (GoogleCloudPlatform/gke-gateway-api)": {
        "HealthCheckPolicy",
        "GCPBackendPolicy",
        "GCPSessionAffinityFilter",
    },
    "vendored CRD schema, strict (GoogleCloudPlatform/prometheus-engine)": {"PodMonitoring", "Rules"},
}


def test_every_declared_kind_has_a_named_strict_check() -> None:
    from .crd_validate import is_custom

    kinds: dict[str, bool] = {}
    for stack in ("integration", "uat", "production"):
        for obj in run_program(REPO, stack).kubernetes_objects():
            kinds[obj.kind] = is_custom(obj.inputs)
    checked = set().union(*CHECKS.values())
    assert set(kinds) <= checked, f"kinds without a named check: {set(kinds) - checked}"
    for kind, custom in kinds.items():
        builtin = kind in CHECKS["kubernetes-validate strict (Kubernetes 1.34 schema)"]
        assert custom != builtin, kind


def test_routes_attach_to_a_shared_gateway(project: Path) -> None:
    """`gateway: namespace/name`: no Gateway, redirect, address or certificate of the environment's
    own; its routes attach to the shared one, and several environments may share its host."""
    for stack in ("integration", "uat"):
        edit_stack(
            project,
            stack,
            lambda c: c["mlops:routing"].update(host="ml.acme.example", gateway="platform-gateway/shared"),
        )
    run = run_program(project, "integration")
    assert not [r for r in run.kubernetes_objects() if r.kind == "Gateway"]
    assert not run.of_type("gcp:certificatemanager/certificate:Certificate")
    routes = [r.inputs for r in run.kubernetes_objects() if r.kind == "HTTPRoute"]
    assert routes and all(
        r["spec"]["parentRefs"]
        == [{"kind": "Gateway", "name": "shared", "namespace": "platform-gateway", "sectionName": "https"}]
        for r in routes
    )
    from .crd_validate import validate_custom

    for route in routes:
        validate_custom(route)
    from mlops.validate import chain_problems

    envs = {s: load_environment(project, s) for s in ("integration", "uat", "production")}
    assert not [p for p in chain_problems(project, envs) if "routing.host" in p.key]
