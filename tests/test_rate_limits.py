"""Issue 12, rate limits: `rate_limit: {requests_per_minute}` is a layered setting; it becomes a Cloud
Armor security policy with a per-IP throttle rule returning 429, attached to the component's backend by
a GCPBackendPolicy that names it; only on GKE's external Gateway, refused in one line elsewhere."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from components.backend_policy import backend_policy
from components.gateway import GatewayRoute, GatewaySite
from components.gcp_names import security_policy_name
from components.security_policy import SECURITY_POLICY_TYPE
from spec.environment import load_environment, resolve_settings
from spec.errors import ConfigError
from spec.settings import RateLimit, Settings

from .conftest import REPO, Runner, edit_stack, edit_yaml, set_pin_settings, stack_config
from .crd_validate import validate_custom
from .program_run import ProgramRun, run_program

P, E, C = "project", "environment", "component"
NAMESPACE = "document-tagging-production"


def limit(n: int) -> dict[str, int]:
    return {"requests_per_minute": n}


def backend_policies(run: ProgramRun) -> dict[str, dict[str, Any]]:
    return {
        r.inputs["spec"]["targetRef"]["name"]: r.inputs
        for r in run.kubernetes_objects()
        if r.kind == "GCPBackendPolicy"
    }


class TestLayering:
    @pytest.mark.parametrize(
        ("project", "environment", "component", "expected"),
        [
            ({}, {}, {}, (None, "built-in")),
            ({"rate_limit": limit(10)}, {}, {}, (10, P)),
            ({"rate_limit": limit(10)}, {"rate_limit": limit(20)}, {}, (20, E)),
            ({"rate_limit": limit(10)}, {"rate_limit": limit(20)}, {"rate_limit": limit(30)}, (30, C)),
            ({}, {}, {"rate_limit": limit(30)}, (30, C)),
        ],
    )
    def test_most_specific_wins(self, project, environment, component, expected) -> None:
        resolved = resolve_settings(Settings(**project), Settings(**environment), Settings(**component))["rate_limit"]
        assert (resolved.value.requests_per_minute if resolved.value else None, resolved.source) == expected

    @pytest.mark.parametrize("bad", [0, 100001, "20", 2.5])
    def test_bounds(self, bad: Any) -> None:
        with pytest.raises(ValidationError):
            RateLimit(requests_per_minute=bad)

    def test_inherit_removes_a_level(self, project: Path) -> None:
        """Without the component's own value, the environment's applies (none in production: no limit)."""
        edit_stack(project, "production", set_pin_settings("nlp_document_classifier", replicas=4))
        assert load_environment(project, "production").by_name["nlp_document_classifier"].rate_limit is None
        edit_stack(project, "production", lambda c: c["mlops:settings"].update(rate_limit=limit(50)))
        found = load_environment(project, "production").by_name["nlp_document_classifier"].settings["rate_limit"]
        assert (found.value.requests_per_minute, found.source) == (50, E)


class TestCommittedProduction:
    """Production's web app is limited to 20 requests a minute per client, as the seed's app is."""

    @pytest.fixture(scope="class")
    def run(self) -> ProgramRun:
        return run_program(REPO, "production")

    def test_the_web_app_pin_sets_twenty_a_minute(self) -> None:
        pins = {p["name"]: p for p in stack_config(REPO, "production")["mlops:components"]}
        assert pins["nlp_document_classifier"]["settings"]["rate_limit"] == {"requests_per_minute": 20}

    def test_a_security_policy_with_a_throttle_rule_returning_429(self, run: ProgramRun) -> None:
        [policy] = run.of_type(SECURITY_POLICY_TYPE)
        match_all = {"versionedExpr": "SRC_IPS_V1", "config": {"srcIpRanges": ["*"]}}
        assert policy.inputs["name"] == "document-tagging-production-nlp-document-classifier-rate-limit"
        assert policy.inputs["project"] == "acme-ml-platform"
        assert policy.inputs["type"] == "CLOUD_ARMOR"
        throttle, default = sorted(policy.inputs["rules"], key=lambda rule: rule["priority"])
        assert (throttle["action"], throttle["match"]) == ("throttle", match_all)
        assert throttle["rateLimitOptions"] == {
            "rateLimitThreshold": {"count": 20, "intervalSec": 60},
            "conformAction": "allow",
            "exceedAction": "deny(429)",
            "enforceOnKey": "IP",
        }
        assert (default["action"], default["priority"], default["match"]) == ("allow", 2147483647, match_all)

    def test_it_is_a_rate_limit_component_protected_in_production(self, run: ProgramRun) -> None:
        [policy] = run.of_type(SECURITY_POLICY_TYPE)
        [parent] = [r for r in run.resources if r.name == policy.parent]
        assert (parent.type, parent.name) == ("mlops:routing:RateLimit", "nlp_document_classifier-rate-limit")
        assert policy.protect and parent.protect

    def test_the_backend_policy_names_it_on_the_components_service(self, run: ProgramRun) -> None:
        [policy] = run.of_type(SECURITY_POLICY_TYPE)
        [backend] = backend_policies(run).values()
        assert backend["spec"] == {
            "default": {"securityPolicy": policy.inputs["name"]},
            "targetRef": {"group": "", "kind": "Service", "name": "nlp-document-classifier"},
        }
        assert backend["metadata"]["namespace"] == NAMESPACE
        validate_custom(backend)
        [recorded] = [r for r in run.kubernetes_objects() if r.kind == "GCPBackendPolicy"]
        assert (recorded.name, recorded.parent) == (
            "production-routes-nlp_document_classifier-backend",
            "production-routes",
        )

    def test_only_the_limited_component_has_one(self, run: ProgramRun) -> None:
        assert list(backend_policies(run)) == ["nlp-document-classifier"]
        assert not run_program(REPO, "uat").of_type(SECURITY_POLICY_TYPE)


class TestBuilders:
    SITE = GatewaySite(
        project="document-tagging", environment="production", namespace=NAMESPACE, host="ml.acme.example"
    )
    ROUTE = GatewayRoute(
        "nlp_document_classifier", "nlp-document-classifier", "/x", "nlp-document-classifier", 80, "/h"
    )

    def test_no_policy_without_a_reason(self) -> None:
        assert backend_policy(self.ROUTE, self.SITE) is None

    def test_one_policy_with_the_security_policy(self) -> None:
        policy = backend_policy(self.ROUTE, self.SITE, security_policy="p")
        assert policy is not None
        assert policy["spec"]["default"] == {"securityPolicy": "p"}
        validate_custom(policy)

    def test_the_schema_catches_a_misspelt_field(self) -> None:
        policy = backend_policy(self.ROUTE, self.SITE, security_policy="p")
        assert policy is not None
        policy["spec"]["default"]["securityPolicyName"] = "p"
        with pytest.raises(ValueError, match="securityPolicyName: unknown field"):
            validate_custom(policy)

    @pytest.mark.parametrize("component", ["a", "nlp-document-classifier", "x" * 63])
    def test_security_policy_names_are_gcp_names(self, component: str) -> None:
        name = security_policy_name(NAMESPACE, component)
        assert len(name) <= 63 and name == name.lower() and name[0].isalpha() and name[-1].isalnum()
        assert name == security_policy_name(NAMESPACE, component)

    def test_long_names_stay_distinct(self) -> None:
        assert security_policy_name(NAMESPACE, "x" * 60 + "a") != security_policy_name(NAMESPACE, "x" * 60 + "b")


class TestWhereItApplies:
    """Cloud Armor applies to GKE's external Gateway only: elsewhere one line names the key and the fix."""

    @pytest.mark.parametrize(
        ("routing", "cluster", "reason"),
        [
            (
                {"kind": "ingress", "class_name": "nginx", "controller_namespace": "ingress-nginx", "tls_secret": "t"},
                None,
                "routes through an Ingress",
            ),
            ({"internal": True, "proxy_source_ranges": ["10.129.0.0/23"]}, None, "Gateway is internal"),
            ({"class_name": "istio"}, None, "another controller's"),
            (
                {"controller_namespace": "gw", "tls_secret": "t", "class_name": "envoy"},
                {"kubeconfig_context": "kind-mlops"},
                "not GKE",
            ),
        ],
    )
    def test_refused_elsewhere(self, project: Path, routing: dict, cluster: dict | None, reason: str) -> None:
        def change(config: dict) -> None:
            config["mlops:routing"] = {"host": "ml.acme.example", **routing}
            if cluster is not None:
                config["mlops:cluster"] = cluster
                config["mlops:worker_groups"] = {"production-pool": {"existing": True}}

        edit_stack(project, "production", change)
        with pytest.raises(ConfigError) as caught:
            load_environment(project, "production")
        [problem] = caught.value.problems
        assert problem.key == "mlops:components[nlp_document_classifier].settings.rate_limit"
        assert reason in problem.message and "remove rate_limit" in problem.message

    def test_a_project_level_limit_says_where_it_is_set(self, project: Path) -> None:
        edit_yaml(project / "Pulumi.yaml", lambda d: d["config"]["mlops:settings"]["value"].update(rate_limit=limit(5)))
        edit_stack(
            project, "uat", lambda c: c["mlops:routing"].update(internal=True, proxy_source_ranges=["10.0.0.0/23"])
        )
        with pytest.raises(ConfigError) as caught:
            load_environment(project, "uat")
        [problem] = caught.value.problems
        assert problem.key == "mlops:settings.rate_limit" and "(set in Pulumi.yaml)" in problem.message
        assert "'document_tagging', 'nlp_document_classifier', 'sentiment_analysis'" in problem.message


class TestMinimalChange:
    """A rate limit belongs to its component: changing or adding one touches nothing else."""

    def test_changing_the_limit_changes_only_its_security_policy(self, project: Path, offline_engine: Runner) -> None:
        before = {r.urn: r.inputs for r in offline_engine(project, "production").resources}
        edit_stack(project, "production", set_pin_settings("nlp_document_classifier", replicas=4, rate_limit=limit(60)))
        after = {r.urn: r.inputs for r in offline_engine(project, "production").resources}
        assert before.keys() == after.keys()
        assert [u for u in after if before[u] != after[u]] == [
            u for u in after if u.endswith(f"{SECURITY_POLICY_TYPE}::nlp_document_classifier-rate-limit-policy")
        ]

    def test_adding_a_limit_adds_only_its_policies(self, project: Path, offline_engine: Runner) -> None:
        before = {r.urn: r for r in offline_engine(project, "uat").resources}
        edit_stack(project, "uat", set_pin_settings("document_tagging", rate_limit=limit(100)))
        after = {r.urn: r for r in offline_engine(project, "uat").resources}
        assert all(before[u].inputs == after[u].inputs for u in before)
        added = {(after[u].type, after[u].name, after[u].protect) for u in after.keys() - before.keys()}
        assert added == {
            ("mlops:routing:RateLimit", "document_tagging-rate-limit", False),
            (SECURITY_POLICY_TYPE, "document_tagging-rate-limit-policy", False),
            ("kubernetes:networking.gke.io/v1:GCPBackendPolicy", "uat-routes-document_tagging-backend", False),
        }
