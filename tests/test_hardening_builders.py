"""Issue 11 in the builders, on temporary copies of the project: `calls` opens exactly caller ->
callee, `artifacts.prefix` is a folder of the bucket and alone opens Google APIs, the ingress class
decides who may come in, and the program declares exactly what the builders render."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
from pydantic import ValidationError

from components.manifests import ComponentServiceArgs, service, service_account, workload_identity_member
from components.network_policy import network_policy
from components.render import component_manifests, service_args
from spec.catalogue import ArtifactsConfig, CatalogueComponent
from spec.environment import load_environment
from spec.errors import ConfigError

from .conftest import K8S_VERSION, REPO, Runner, edit_stack, edit_yaml, load_yaml
from .test_hardening import GOOGLE_APIS, GOOGLE_FRONT_ENDS


def with_catalogue(root: Path, name: str, **changes: Any) -> None:
    edit_yaml(root / "config" / "components" / f"{name}.yaml", lambda data: data.update(changes))


def add_component(root: Path, name: str) -> None:
    """A catalogue component no stack pins (a copy of document_tagging under another name)."""
    entry = load_yaml(root / "config" / "components" / "document_tagging.yaml")
    (root / "config" / "components" / f"{name}.yaml").write_text(json.dumps({**entry, "name": name}, default=str))


def base_args(**changes: Any) -> ComponentServiceArgs:
    values: dict[str, Any] = {
        "project": "p",
        "environment": "integration",
        "namespace": "p-integration",
        "component": "tagger",
        "k8s_name": "tagger",
        "type": "model",
        "version": 1,
        "label": None,
        "image": f"example.com/tagger@sha256:{'0' * 64}",
        "port": 8080,
        "health_path": "/health",
        "replicas": 2,
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "128Mi"}},
        "low_latency_mode": False,
    }
    return ComponentServiceArgs(**{**values, **changes})


class TestCalls:
    """`calls` opens exactly caller -> callee, on the callee's port, within one environment."""

    def test_a_declared_call_opens_both_ends(self, project: Path) -> None:
        with_catalogue(project, "nlp_document_classifier", calls=["document_tagging", "not_pinned_anywhere"])
        add_component(project, "not_pinned_anywhere")
        env = load_environment(project, "integration")
        app = component_manifests(env, env.by_name["nlp_document_classifier"])
        model = component_manifests(env, env.by_name["document_tagging"])
        other = component_manifests(env, env.by_name["sentiment_analysis"])
        callee = {"matchLabels": {"app.kubernetes.io/name": "document-tagging", "mlops.dev/environment": "integration"}}
        caller = {
            "matchLabels": {"app.kubernetes.io/name": "nlp-document-classifier", "mlops.dev/environment": "integration"}
        }
        app_egress = app["nlp_document_classifier-network-policy"]["spec"]["egress"]
        assert app_egress[3:] == [{"to": [{"podSelector": callee}], "ports": [{"protocol": "TCP", "port": 8080}]}]
        model_ingress = model["document_tagging-network-policy"]["spec"]["ingress"]
        assert model_ingress[1:2] == [{"from": [{"podSelector": caller}], "ports": [{"protocol": "TCP", "port": 8080}]}]
        # The caller is told where to call, by component name; the callee which callers to count.
        [app_container] = app["nlp_document_classifier-deployment"]["spec"]["template"]["spec"]["containers"]
        [model_container] = model["document_tagging-deployment"]["spec"]["template"]["spec"]["containers"]
        app_env = {e["name"]: e.get("value") for e in app_container["env"]}
        model_env = {e["name"]: e.get("value") for e in model_container["env"]}
        assert json.loads(app_env["MLOPS_COMPONENT_URLS"]) == {"document_tagging": "http://document-tagging"}
        assert model_env["MLOPS_CALLERS"] == "nlp_document_classifier"
        # The other model is called by nobody: the load balancer and the metrics collectors only.
        assert len(other["sentiment_analysis-network-policy"]["spec"]["ingress"]) == 2

    def test_an_unknown_call_is_one_line_naming_the_catalogue_file(self, project: Path) -> None:
        with_catalogue(project, "nlp_document_classifier", calls=["document_taging"])
        with pytest.raises(ConfigError) as caught:
            load_environment(project, "integration")
        message = str(caught.value)
        assert "\n" not in message
        assert message.startswith("config/components/nlp_document_classifier.yaml: calls: "), message
        assert "did you mean 'document_tagging'" in message

    @pytest.mark.parametrize("calls", [["Bad Name"], ["document_tagging", "document_tagging"]])
    def test_calls_must_be_distinct_component_names(self, calls: list[str]) -> None:
        entry = load_yaml(REPO / "config" / "components" / "nlp_document_classifier.yaml")
        with pytest.raises(ValidationError):
            CatalogueComponent.model_validate({**entry, "calls": calls})


class TestArtifacts:
    """`artifacts.prefix`: a folder of the artifact bucket; it alone opens Google APIs."""

    @pytest.mark.parametrize(("given", "kept"), [("models/sentiment", "models/sentiment/"), ("a/b.c/", "a/b.c/")])
    def test_prefix_is_kept_as_a_folder(self, given: str, kept: str) -> None:
        assert ArtifactsConfig(prefix=given).prefix == kept

    @pytest.mark.parametrize("bad", ["/models", "models/../x", "..", "", "a//b", "./a", "a'b", 'a") || true'])
    def test_prefix_outside_the_bucket_or_unquotable_is_refused(self, bad: str) -> None:
        with pytest.raises(ValidationError, match="must be a folder inside the artifact bucket"):
            ArtifactsConfig(prefix=bad)

    def test_artifacts_reach_the_args_and_open_https_to_google(self, project: Path) -> None:
        with_catalogue(project, "sentiment_analysis", artifacts={"prefix": "models/sentiment"})
        edit_stack(project, "integration", lambda c: c["mlops:cluster"].update(artifact_bucket="acme-models"))
        env = load_environment(project, "integration")
        args = service_args(env, env.by_name["sentiment_analysis"], env.namespace)
        assert (args.service_account, args.artifacts_prefix) == ("sentiment-analysis", "models/sentiment/")
        assert network_policy(args)["spec"]["egress"][-1] == GOOGLE_APIS
        others = service_args(env, env.by_name["document_tagging"], env.namespace)
        assert others.artifacts_prefix is None
        assert all(443 not in [p["port"] for p in r["ports"]] for r in network_policy(others)["spec"]["egress"])

    def test_workload_identity_member(self) -> None:
        member = workload_identity_member(123, "acme-ml-platform", "document-tagging-production", "sentiment-analysis")
        assert member == (
            "principal://iam.googleapis.com/projects/123/locations/global/workloadIdentityPools/"
            "acme-ml-platform.svc.id.goog/subject/ns/document-tagging-production/sa/sentiment-analysis"
        )
        assert service_account(base_args())["metadata"]["name"] == "tagger"


class TestTrafficSources:
    """GKE's external Gateway: Google's front ends and health checkers, straight to the pods; an
    internal one: the proxy-only subnet; an Ingress or another controller: its namespace."""

    def test_google_front_ends_for_gkes_gateway(self) -> None:
        args = base_args(traffic_cidrs=("35.191.0.0/16", "130.211.0.0/22"))
        assert network_policy(args)["spec"]["ingress"][0]["from"] == GOOGLE_FRONT_ENDS
        assert "annotations" not in service(args)["metadata"]

    def test_a_controller_namespace_only(self) -> None:
        args = base_args(traffic_namespace="ingress-nginx")
        assert network_policy(args)["spec"]["ingress"][0]["from"] == [
            {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}}
        ]

    def test_no_source_is_refused(self) -> None:
        with pytest.raises(ValueError, match="no source of traffic"):
            network_policy(base_args())

    @pytest.mark.parametrize("routing", ["gateway", "ingress"])
    def test_the_program_declares_what_the_builders_render(
        self, project: Path, offline_engine: Runner, routing: str
    ) -> None:
        """With calls, artifacts and either routing: the program's objects equal the offline render
        and pass strict schema validation."""
        if routing == "ingress":
            ingress = {
                "kind": "ingress",
                "host": "ml.acme.example",
                "class_name": "nginx",
                "controller_namespace": "ingress-nginx",
                "tls_secret": "ml-acme-example-tls",
            }
            edit_stack(project, "integration", lambda c: c.__setitem__("mlops:routing", ingress))
        with_catalogue(project, "nlp_document_classifier", calls=["document_tagging", "sentiment_analysis"])
        with_catalogue(project, "sentiment_analysis", artifacts={"prefix": "models/sentiment"})
        edit_stack(project, "integration", lambda c: c["mlops:cluster"].update(artifact_bucket="acme-models"))
        recorded = {(r.kind, r.name): r.inputs for r in offline_engine(project, "integration").kubernetes_objects()}
        env = load_environment(project, "integration")
        for c in env.components:
            for name, manifest in component_manifests(env, c).items():
                if manifest["kind"] in ("NetworkPolicy", "ServiceAccount", "Service", "Deployment"):
                    assert recorded[(manifest["kind"], name)] == manifest, name
                    kubernetes_validate.validate(manifest, K8S_VERSION, strict=True)
