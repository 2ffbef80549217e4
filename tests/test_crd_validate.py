"""The strict validator for custom resources (tests/crd_validate.py) accepts the Gateway API and GKE
policy objects the program is about to declare, and rejects broken ones naming the object and the
JSON path of the problem."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from typing import Any

import pytest

from .crd_validate import SCHEMA_DIR, is_custom, validate_custom

NAMESPACE = "document-tagging-integration"


def gateway(**spec: Any) -> dict[str, Any]:
    """A GKE external Gateway: HTTPS with a Certificate Manager map, and plain HTTP to redirect."""
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "Gateway",
        "metadata": {
            "name": "ml",
            "namespace": NAMESPACE,
            "labels": {"app.kubernetes.io/managed-by": "pulumi"},
            "annotations": {"networking.gke.io/certmap": "ml-acme-example"},
        },
        "spec": {
            "gatewayClassName": "gke-l7-global-external-managed",
            "addresses": [{"type": "NamedAddress", "value": "ml-acme-example-ip"}],
            "listeners": [
                {"name": "https", "protocol": "HTTPS", "port": 443, "hostname": "ml.acme.example"},
                {"name": "http", "protocol": "HTTP", "port": 80, "hostname": "ml.acme.example"},
            ],
            **spec,
        },
    }


def http_route() -> dict[str, Any]:
    """A component's route: its URL prefix rewritten to `/`, traffic split between two Services."""
    prefix = "/api/v1/projects/document-tagging/environments/integration/models/document_tagging"
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": "document-tagging", "namespace": NAMESPACE},
        "spec": {
            "parentRefs": [{"name": "ml", "sectionName": "https"}],
            "hostnames": ["ml.acme.example"],
            "rules": [
                {
                    "matches": [{"path": {"type": "PathPrefix", "value": prefix}}],
                    "filters": [
                        {
                            "type": "URLRewrite",
                            "urlRewrite": {"path": {"type": "ReplacePrefixMatch", "replacePrefixMatch": "/"}},
                        }
                    ],
                    "backendRefs": [
                        {"name": "document-tagging", "port": 80, "weight": 90},
                        {"name": "document-tagging-challenger", "port": 80, "weight": 10},
                    ],
                    "timeouts": {"request": "30s"},
                }
            ],
        },
    }


def redirect_route() -> dict[str, Any]:
    """Plain HTTP answers with a permanent redirect to HTTPS."""
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": "https-redirect", "namespace": NAMESPACE},
        "spec": {
            "parentRefs": [{"name": "ml", "sectionName": "http"}],
            "rules": [
                {"filters": [{"type": "RequestRedirect", "requestRedirect": {"scheme": "https", "statusCode": 301}}]}
            ],
        },
    }


def health_check_policy() -> dict[str, Any]:
    return {
        "apiVersion": "networking.gke.io/v1",
        "kind": "HealthCheckPolicy",
        "metadata": {"name": "document-tagging", "namespace": NAMESPACE},
        "spec": {
            "default": {
                "checkIntervalSec": 10,
                "timeoutSec": 5,
                "healthyThreshold": 1,
                "unhealthyThreshold": 3,
                "config": {"type": "HTTP", "httpHealthCheck": {"port": 8080, "requestPath": "/healthz"}},
            },
            "targetRef": {"group": "", "kind": "Service", "name": "document-tagging"},
        },
    }


def backend_policy() -> dict[str, Any]:
    return {
        "apiVersion": "networking.gke.io/v1",
        "kind": "GCPBackendPolicy",
        "metadata": {"name": "nlp-document-classifier", "namespace": NAMESPACE},
        "spec": {
            "default": {
                "timeoutSec": 60,
                "securityPolicy": "ml-edge-policy",
                "sessionAffinity": {"type": "GENERATED_COOKIE", "cookieTtlSec": 3600},
                "logging": {"enabled": True, "sampleRate": 500000},
            },
            "targetRef": {"group": "", "kind": "Service", "name": "nlp-document-classifier"},
        },
    }


def gateway_policy() -> dict[str, Any]:
    return {
        "apiVersion": "networking.gke.io/v1",
        "kind": "GCPGatewayPolicy",
        "metadata": {"name": "ml", "namespace": NAMESPACE},
        "spec": {
            "default": {"sslPolicy": "ml-modern-tls"},
            "targetRef": {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "ml"},
        },
    }


def pod_monitoring(port: Any = "metrics") -> dict[str, Any]:
    return {
        "apiVersion": "monitoring.googleapis.com/v1",
        "kind": "PodMonitoring",
        "metadata": {"name": "document-tagging", "namespace": NAMESPACE},
        "spec": {
            "selector": {"matchLabels": {"app.kubernetes.io/name": "document-tagging"}},
            "endpoints": [{"port": port, "interval": "30s", "path": "/metrics"}],
        },
    }


VALID: dict[str, Callable[[], dict[str, Any]]] = {
    "gateway": gateway,
    "http_route": http_route,
    "redirect_route": redirect_route,
    "health_check_policy": health_check_policy,
    "backend_policy": backend_policy,
    "gateway_policy": gateway_policy,
    "pod_monitoring": pod_monitoring,
}


def changed(obj: dict[str, Any], change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    broken = copy.deepcopy(obj)
    change(broken)
    return broken


def rejected(obj: dict[str, Any], where: str) -> str:
    """Validate, expect a failure whose message starts with `<Kind> <name>: <where>: `; return it."""
    with pytest.raises(ValueError) as caught:
        validate_custom(obj)
    message = str(caught.value)
    assert message.startswith(f"{obj['kind']} {obj['metadata']['name']}: {where}: "), message
    return message


class TestValidObjectsPass:
    """The objects the program will declare, written the way GKE documents them, are accepted."""

    @pytest.mark.parametrize("factory", VALID.values(), ids=list(VALID))
    def test_accepted(self, factory: Callable[[], dict[str, Any]]) -> None:
        obj = factory()
        assert is_custom(obj)
        validate_custom(obj)

    def test_validation_does_not_change_the_object(self) -> None:
        """Defaults are applied to a copy: the recorded inputs stay what the program declared."""
        obj = http_route()
        before = json.dumps(obj, sort_keys=True)
        validate_custom(obj)
        assert json.dumps(obj, sort_keys=True) == before

    def test_int_or_string_port_takes_a_number_or_a_name(self) -> None:
        validate_custom(pod_monitoring(port=9090))
        validate_custom(pod_monitoring(port="metrics"))
        rejected(pod_monitoring(port=9090.5), "$.spec.endpoints[0].port")

    def test_defaults_apply_before_validation(self) -> None:
        """An address without `type` defaults to IPAddress, so its value must then be an IP."""
        validate_custom(gateway(addresses=[{"value": "203.0.113.7"}]))
        message = rejected(gateway(addresses=[{"value": "ml-acme-example-ip"}]), "$.spec.addresses[0]")
        assert "fits none of the allowed forms" in message and "$.spec.addresses[0].value" in message


class TestUnknownFieldsFail:
    """Strict: a field the schema does not declare is an error, at any depth, as in kubernetes-validate strict."""

    def test_in_a_listener(self) -> None:
        obj = changed(gateway(), lambda o: o["spec"]["listeners"][0].update(tls_mode="Terminate"))
        message = rejected(obj, "$.spec.listeners[0].tls_mode")
        assert "unknown field" in message and "protocol" in message

    def test_in_a_route_rule(self) -> None:
        obj = changed(http_route(), lambda o: o["spec"]["rules"][0].update(timeout="30s"))
        rejected(obj, "$.spec.rules[0].timeout")

    def test_in_a_backend_policy(self) -> None:
        obj = changed(backend_policy(), lambda o: o["spec"]["default"]["sessionAffinity"].update(ttl=60))
        rejected(obj, "$.spec.default.sessionAffinity.ttl")

    def test_in_metadata(self) -> None:
        obj = changed(gateway_policy(), lambda o: o["metadata"].update(labelz={"a": "b"}))
        rejected(obj, "$.metadata.labelz")

    def test_at_the_top(self) -> None:
        obj = changed(health_check_policy(), lambda o: o.update(specs={}))
        rejected(obj, "$.specs")

    def test_experimental_channel_fields_are_not_in_the_standard_schema(self) -> None:
        """GKE installs the standard channel: an experimental field (session persistence) is refused."""
        obj = changed(http_route(), lambda o: o["spec"]["rules"][0].update(sessionPersistence={"type": "Cookie"}))
        rejected(obj, "$.spec.rules[0].sessionPersistence")


class TestWrongValuesFail:
    """Enums, types, formats, bounds and list uniqueness are checked."""

    def test_path_match_type(self) -> None:
        obj = changed(http_route(), lambda o: o["spec"]["rules"][0]["matches"][0]["path"].update(type="Prefix"))
        assert "'Prefix' is not one of" in rejected(obj, "$.spec.rules[0].matches[0].path.type")

    def test_session_affinity_type(self) -> None:
        obj = changed(backend_policy(), lambda o: o["spec"]["default"]["sessionAffinity"].update(type="COOKIE"))
        rejected(obj, "$.spec.default.sessionAffinity.type")

    def test_redirect_status_code(self) -> None:
        obj = changed(
            redirect_route(), lambda o: o["spec"]["rules"][0]["filters"][0]["requestRedirect"].update(statusCode=308)
        )
        rejected(obj, "$.spec.rules[0].filters[0].requestRedirect.statusCode")

    def test_port_as_a_string(self) -> None:
        obj = changed(gateway(), lambda o: o["spec"]["listeners"][1].update(port="80"))
        rejected(obj, "$.spec.listeners[1].port")

    def test_backend_weight_bound(self) -> None:
        obj = changed(http_route(), lambda o: o["spec"]["rules"][0]["backendRefs"][0].update(weight=-1))
        rejected(obj, "$.spec.rules[0].backendRefs[0].weight")

    def test_health_check_needs_exactly_type_and_one_protocol(self) -> None:
        def both(o: dict[str, Any]) -> None:
            o["spec"]["default"]["config"]["tcpHealthCheck"] = {"port": 8080}

        rejected(changed(health_check_policy(), both), "$.spec.default.config")

    def test_scrape_interval_is_a_go_duration(self) -> None:
        obj = changed(pod_monitoring(), lambda o: o["spec"]["endpoints"][0].update(interval="PT30S"))
        rejected(obj, "$.spec.endpoints[0].interval")

    def test_label_values_follow_kubernetes_syntax(self) -> None:
        obj = changed(gateway(), lambda o: o["metadata"]["labels"].update(team="ML Platform"))
        rejected(obj, "$.metadata.labels.team")

    def test_listener_names_are_unique(self) -> None:
        obj = changed(gateway(), lambda o: o["spec"]["listeners"][1].update(name="https"))
        assert "duplicate key" in rejected(obj, "$.spec.listeners[1]")


class TestMissingRequiredFails:
    """A required field that is absent is named by its own path."""

    def test_gateway_class(self) -> None:
        obj = changed(gateway(), lambda o: o["spec"].pop("gatewayClassName"))
        assert "required field is missing" in rejected(obj, "$.spec.gatewayClassName")

    def test_policy_target_group(self) -> None:
        obj = changed(health_check_policy(), lambda o: o["spec"]["targetRef"].pop("group"))
        rejected(obj, "$.spec.targetRef.group")

    def test_backend_name(self) -> None:
        obj = changed(http_route(), lambda o: o["spec"]["rules"][0]["backendRefs"][1].pop("name"))
        rejected(obj, "$.spec.rules[0].backendRefs[1].name")

    def test_object_name(self) -> None:
        obj = changed(gateway_policy(), lambda o: o["metadata"].pop("name"))
        with pytest.raises(ValueError, match=re.escape("GCPGatewayPolicy <unnamed>: $.metadata.name: required")):
            validate_custom(obj)


class TestWhichObjectsAreCustom:
    """Objects of the vendored API groups go through this validator; built-in kinds do not."""

    @pytest.mark.parametrize(
        ("api_version", "kind"),
        [("v1", "Service"), ("apps/v1", "Deployment"), ("networking.k8s.io/v1", "Ingress")],
    )
    def test_built_in_kinds_are_not_custom(self, api_version: str, kind: str) -> None:
        assert not is_custom({"apiVersion": api_version, "kind": kind, "metadata": {"name": "x"}})

    def test_an_unvendored_kind_of_a_vendored_group_says_what_to_do(self) -> None:
        route = {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "GRPCRoute", "metadata": {"name": "rpc"}}
        assert is_custom(route)
        with pytest.raises(ValueError, match=r"^GRPCRoute rpc: no vendored schema .*fetch\.md"):
            validate_custom(route)


class TestVendoredSchemas:
    """Every vendored schema says where it came from, and fetch.md documents it."""

    def test_each_names_its_source_commit_and_is_listed_in_fetch_md(self) -> None:
        files = sorted(SCHEMA_DIR.glob("*.json"))
        assert len(files) == 8
        fetch = (SCHEMA_DIR / "fetch.md").read_text()
        for path in files:
            source = json.loads(path.read_text())["_source"]
            assert re.match(r"^[\w.-]+/[\w.-]+@[0-9a-f]{40}:\S+ \(", source), path.name
            assert path.name in fetch, path.name
