"""Issue 12, item 1: a Gateway shared through the platform stack. The platform declares one
external Gateway on GKE's managed class with a wildcard certificate for its domain, a reserved
address and an HTTP -> HTTPS redirect, in a restricted namespace, on the cluster's own provider;
an environment that attaches to it (`mlops:routing.gateway: gateway-infra/mlops-gateway`) labels
its namespace so the Gateway admits its routes, and declares no Gateway, address or certificate
of its own. Both sides run as their programs do, on Pulumi's mocks."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from components.shared_gateway import REFERENCE
from spec.errors import ProgramError

from .conftest import edit_stack
from .crd_validate import validate_custom
from .platform_run import PLATFORM, run_platform
from .program_run import ProgramRun, run_program
from .test_stacks import by_kind

DOMAIN = "ml.acme.example"


@pytest.fixture(scope="module")
def platform() -> ProgramRun:
    return run_platform()


def objects(run: ProgramRun, kind: str) -> list[dict[str, Any]]:
    return by_kind(run, kind)


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector["matchLabels"].items())


class TestThePlatformDeclaresIt:
    def test_one_gateway_on_the_managed_external_class_admitting_labelled_namespaces(
        self, platform: ProgramRun
    ) -> None:
        [gateway] = objects(platform, "Gateway")
        validate_custom(gateway)
        assert f"{gateway['metadata']['namespace']}/{gateway['metadata']['name']}" == REFERENCE
        assert gateway["spec"]["gatewayClassName"] == "gke-l7-global-external-managed"
        https, http = gateway["spec"]["listeners"]
        assert (https["protocol"], https["port"], https["hostname"]) == ("HTTPS", 443, f"*.{DOMAIN}")
        assert https["allowedRoutes"]["namespaces"] == {
            "from": "Selector",
            "selector": {"matchLabels": {"mlops.dev/shared-gateway": "attached"}},
        }
        assert http["allowedRoutes"]["namespaces"] == {"from": "Same"}  # only the redirect
        assert gateway["spec"]["addresses"] == [{"type": "NamedAddress", "value": "gateway-infra-shared-gateway-ip"}]
        assert gateway["metadata"]["annotations"] == {"networking.gke.io/certmap": "gateway-infra-shared-certificates"}

    def test_http_is_redirected_for_every_host(self, platform: ProgramRun) -> None:
        [redirect] = objects(platform, "HTTPRoute")
        validate_custom(redirect)
        assert redirect["spec"]["hostnames"] == [f"*.{DOMAIN}"]
        assert redirect["spec"]["rules"][0]["filters"][0]["requestRedirect"] == {"scheme": "https", "statusCode": 301}

    def test_a_wildcard_certificate_in_the_map_the_gateway_names(self, platform: ProgramRun) -> None:
        [certificate] = platform.of_type("gcp:certificatemanager/certificate:Certificate")
        assert certificate.inputs["managed"]["domains"] == [DOMAIN, f"*.{DOMAIN}"]
        entries = platform.of_type("gcp:certificatemanager/certificateMapEntry:CertificateMapEntry")
        assert sorted(e.inputs["hostname"] for e in entries) == sorted([DOMAIN, f"*.{DOMAIN}"])
        [certificate_map] = platform.of_type("gcp:certificatemanager/certificateMap:CertificateMap")
        assert certificate_map.inputs["name"] == "gateway-infra-shared-certificates"

    def test_restricted_namespace_on_the_clusters_provider_and_protected(self, platform: ProgramRun) -> None:
        [namespace] = [n for n in objects(platform, "Namespace") if n["metadata"]["name"] == "gateway-infra"]
        assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
        [provider] = platform.of_type("pulumi:providers:kubernetes")
        assert "gke-gcloud-auth-plugin" in provider.inputs["kubeconfig"]
        for obj in platform.kubernetes_objects():
            assert obj.provider == provider.name, obj.name
        protected = {r.name for r in platform.resources if r.protect}
        assert {"shared-gateway-namespace", "shared-gateway-gateway", "shared-gateway-edge-address"} <= protected

    def test_outputs_name_it_for_the_environments(self, platform: ProgramRun) -> None:
        assert platform.outputs["gateway"] == REFERENCE
        assert platform.outputs["gateway_domain"] == DOMAIN
        names = [r["name"] for r in platform.outputs["gateway_dns_records"]]
        assert names[:2] == [f"{DOMAIN}.", f"*.{DOMAIN}."]

    def test_without_a_domain_there_is_none(self, tmp_path: Path) -> None:
        copy = tmp_path / "platform"
        shutil.copytree(PLATFORM, copy)
        text = (copy / "Pulumi.shared.yaml").read_text()
        start = text.index("  platform:gateway:")
        end = text.index("  platform:labels:")
        (copy / "Pulumi.shared.yaml").write_text(text[:start] + text[end:])
        run = run_platform(copy)
        assert not run.kubernetes_objects() and not run.of_type("pulumi:providers:kubernetes")
        assert "gateway" not in run.outputs

    def test_a_bad_domain_is_one_line(self) -> None:
        with pytest.raises(ProgramError) as caught:
            run_platform(overrides={"platform:gateway": {"domain": "ML_example"}})
        assert str(caught.value) == (
            "platform/Pulumi.shared.yaml: platform:gateway.domain: 'ML_example' is not a DNS domain "
            "(example: ml.acme.example)"
        )


class TestAnEnvironmentAttaches:
    def test_its_routes_are_admitted_and_it_has_no_gateway_of_its_own(
        self, project: Path, platform: ProgramRun
    ) -> None:
        host = f"integration.{DOMAIN}"
        edit_stack(project, "integration", lambda c: c["mlops:routing"].update(host=host, gateway=REFERENCE))
        run = run_program(project, "integration")
        assert not objects(run, "Gateway")
        assert not run.of_type("gcp:certificatemanager/certificate:Certificate")
        [namespace] = objects(run, "Namespace")
        [shared] = objects(platform, "Gateway")
        https = shared["spec"]["listeners"][0]
        assert selects(https["allowedRoutes"]["namespaces"]["selector"], namespace["metadata"]["labels"])
        for route in objects(run, "HTTPRoute"):
            [parent] = route["spec"]["parentRefs"]
            assert f"{parent['namespace']}/{parent['name']}" == REFERENCE and parent["sectionName"] == https["name"]
            assert route["spec"]["hostnames"] == [host]  # one level under the listener's *.domain

    def test_an_environment_with_its_own_gateway_is_not_labelled(self, project: Path) -> None:
        [namespace] = objects(run_program(project, "integration"), "Namespace")
        assert "mlops.dev/shared-gateway" not in namespace["metadata"]["labels"]


class TestOnThePlatformTheProgramChecksTheGateway:
    """A stack on the platform (`mlops:platform`) that names the platform's shared Gateway: the
    program reads `gateway` and `gateway_domain` through the StackReference it already has, and
    fails in one line when the platform runs none or the host is not one its certificate covers."""

    def run(self, project: Path, host: str, gateway: str, outputs: dict[str, Any]) -> ProgramRun:
        from .test_promotion_guard import PLATFORM, PLATFORM_OUTPUTS, use_platform

        use_platform(project, "integration")
        edit_stack(project, "integration", lambda c: c["mlops:routing"].update(host=host, gateway=gateway))
        return run_program(project, "integration", stack_outputs={PLATFORM: {**PLATFORM_OUTPUTS, **outputs}})

    def test_a_host_under_the_domain_attaches(self, project: Path) -> None:
        shared = {"gateway": REFERENCE, "gateway_domain": DOMAIN}
        run = self.run(project, f"integration.{DOMAIN}", REFERENCE, shared)
        assert objects(run, "HTTPRoute") and not objects(run, "Gateway")

    def test_a_host_the_certificate_does_not_cover_is_one_line(self, project: Path) -> None:
        shared = {"gateway": REFERENCE, "gateway_domain": DOMAIN}
        with pytest.raises(ProgramError) as caught:
            self.run(project, "integration.other.example", REFERENCE, shared)
        assert str(caught.value) == (
            "Pulumi.integration.yaml: mlops:routing.host: 'integration.other.example' is not one level under the "
            f"shared Gateway's domain '{DOMAIN}' (its certificate covers *.{DOMAIN}): use integration.{DOMAIN}"
        )

    def test_a_platform_without_a_shared_gateway_is_one_line(self, project: Path) -> None:
        with pytest.raises(ProgramError) as caught:
            self.run(project, f"integration.{DOMAIN}", REFERENCE, {})
        assert str(caught.value).startswith(
            "Pulumi.integration.yaml: mlops:routing.gateway: the platform stack acme/platform/shared runs no shared "
            "Gateway: set platform:gateway"
        )

    def test_another_teams_gateway_is_not_judged(self, project: Path) -> None:
        run = self.run(project, "ml.other.example", "infra/edge", {"gateway": REFERENCE, "gateway_domain": DOMAIN})
        [route, *_] = objects(run, "HTTPRoute")
        assert route["spec"]["parentRefs"][0]["namespace"] == "infra"
