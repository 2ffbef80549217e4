"""The platform program (`platform/`): run as the language host runs it, under Pulumi's mocks, it
declares the shared network, cluster, registry, bucket and node identity with every hardening
setting, protects what cannot be recreated, and exports the output contract the environment stacks
read. (Its stack files, bad config and layout: test_platform_project.py.)"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from components.platform import NODE_PROJECT_ROLES, OUTPUT_NAMES
from components.shared_gateway import OUTPUT_NAMES as GATEWAY_OUTPUTS

from .conftest import edit_yaml
from .platform_run import COMPUTE_API, PLATFORM, run_platform
from .program_run import FAKE_CA, FAKE_ENDPOINT, ProgramRun, RecordedResource

CLUSTER = "gcp:container/cluster:Cluster"
NETWORK = "gcp:compute/network:Network"
SUBNETWORK = "gcp:compute/subnetwork:Subnetwork"
ROUTER = "gcp:compute/router:Router"
NAT = "gcp:compute/routerNat:RouterNat"
REPOSITORY = "gcp:artifactregistry/repository:Repository"
REPOSITORY_MEMBER = "gcp:artifactregistry/repositoryIamMember:RepositoryIamMember"
PROJECT_MEMBER = "gcp:projects/iAMMember:IAMMember"
BUCKET = "gcp:storage/bucket:Bucket"
ACCOUNT = "gcp:serviceaccount/account:Account"
COMPONENT = "mlops:platform:SharedPlatform"
NODES = "ml-platform-nodes@acme-ml-platform.iam.gserviceaccount.com"


@pytest.fixture(scope="module")
def shared() -> ProgramRun:
    """The committed shared stack, run once for the tests that only read it."""
    return run_platform()


@pytest.fixture()
def platform_copy(tmp_path: Path) -> Path:
    """A throw-away copy of the platform project, to edit its stack file."""
    root = tmp_path / "platform"
    shutil.copytree(PLATFORM, root, ignore=shutil.ignore_patterns("__pycache__"))
    return root


def one(run: ProgramRun, type_: str) -> RecordedResource:
    (found,) = run.of_type(type_)
    return found


def cluster(run: ProgramRun) -> dict[str, Any]:
    return one(run, CLUSTER).inputs


class TestNetwork:
    """The cluster has a network of its own: one subnetwork, VPC-native ranges, NAT for egress."""

    def test_network_has_no_automatic_subnetworks(self, shared: ProgramRun) -> None:
        network = one(shared, NETWORK).inputs
        assert network["autoCreateSubnetworks"] is False
        assert network["name"] == "ml-platform"

    def test_subnetwork_carries_pod_and_service_ranges_and_private_google_access(self, shared: ProgramRun) -> None:
        subnet = one(shared, SUBNETWORK).inputs
        assert subnet["network"] == "projects/acme-ml-platform/global/networks/ml-platform"
        assert (subnet["region"], subnet["ipCidrRange"]) == ("europe-west2", "10.10.0.0/20")
        assert {r["rangeName"]: r["ipCidrRange"] for r in subnet["secondaryIpRanges"]} == {
            "pods": "10.16.0.0/14",
            "services": "10.20.0.0/20",
        }
        assert subnet["privateIpGoogleAccess"] is True

    def test_cloud_nat_gives_the_private_nodes_egress(self, shared: ProgramRun) -> None:
        router, nat = one(shared, ROUTER).inputs, one(shared, NAT).inputs
        assert router["network"] == "projects/acme-ml-platform/global/networks/ml-platform"
        assert (nat["router"], nat["region"]) == (router["name"], "europe-west2")
        assert nat["natIpAllocateOption"] == "AUTO_ONLY"
        assert nat["sourceSubnetworkIpRangesToNat"] == "LIST_OF_SUBNETWORKS"
        assert nat["subnetworks"] == [
            {
                "name": "projects/acme-ml-platform/regions/europe-west2/subnetworks/ml-platform-subnet",
                "sourceIpRangesToNats": ["ALL_IP_RANGES"],
            }
        ]


class TestClusterPlacement:
    """A regional, VPC-native Standard cluster in the platform's own subnetwork."""

    def test_regional_in_the_configured_project(self, shared: ProgramRun) -> None:
        inputs = cluster(shared)
        assert (inputs["name"], inputs["location"], inputs["project"]) == (
            "ml-platform",
            "europe-west2",
            "acme-ml-platform",
        )
        assert "enableAutopilot" not in inputs

    def test_vpc_native_on_the_subnetwork_s_secondary_ranges(self, shared: ProgramRun) -> None:
        inputs = cluster(shared)
        ranges = {r["rangeName"] for r in one(shared, SUBNETWORK).inputs["secondaryIpRanges"]}
        policy = inputs["ipAllocationPolicy"]
        assert {policy["clusterSecondaryRangeName"], policy["servicesSecondaryRangeName"]} == ranges
        assert inputs["networkingMode"] == "VPC_NATIVE"
        assert inputs["network"] == COMPUTE_API + "projects/acme-ml-platform/global/networks/ml-platform"
        assert inputs["subnetwork"].endswith("/regions/europe-west2/subnetworks/ml-platform-subnet")

    def test_resource_labels_name_the_owner_and_the_configured_labels(self, shared: ProgramRun) -> None:
        labels = {"team": "ml-platform", "cost-centre": "ml", "managed-by": "pulumi", "mlops-platform": "ml-platform"}
        assert cluster(shared)["resourceLabels"] == labels
        assert one(shared, REPOSITORY).inputs["labels"] == labels
        assert one(shared, BUCKET).inputs["labels"] == labels


class TestClusterAccess:
    """Who reaches the cluster and as whom: private nodes, named networks, IAM and Workload Identity only."""

    def test_workload_identity_pool_is_the_project_s(self, shared: ProgramRun) -> None:
        assert cluster(shared)["workloadIdentityConfig"] == {"workloadPool": "acme-ml-platform.svc.id.goog"}

    def test_private_nodes_with_the_configured_control_plane_range(self, shared: ProgramRun) -> None:
        assert cluster(shared)["privateClusterConfig"] == {
            "enablePrivateNodes": True,
            "enablePrivateEndpoint": False,
            "masterIpv4CidrBlock": "172.16.0.16/28",
        }

    def test_only_the_configured_networks_reach_the_control_plane(self, shared: ProgramRun) -> None:
        assert cluster(shared)["masterAuthorizedNetworksConfig"] == {
            "cidrBlocks": [
                {"cidrBlock": "203.0.113.0/24", "displayName": "office"},
                {"cidrBlock": "198.51.100.0/28", "displayName": "ci-runners"},
            ]
        }

    def test_an_empty_list_still_enables_authorized_networks(self, platform_copy: Path) -> None:
        run = run_platform(platform_copy, overrides={"platform:master_authorized_networks": []})
        assert cluster(run)["masterAuthorizedNetworksConfig"] == {"cidrBlocks": []}

    def test_no_legacy_abac_no_client_certificate_no_basic_auth(self, shared: ProgramRun) -> None:
        inputs = cluster(shared)
        assert inputs["enableLegacyAbac"] is False
        assert inputs["masterAuth"] == {"clientCertificateConfig": {"issueClientCertificate": False}}


class TestClusterOperations:
    """Upgrades, routing, observability and network policy are on from the first day."""

    def test_release_channel_from_config_default_regular(self, shared: ProgramRun, platform_copy: Path) -> None:
        assert cluster(shared)["releaseChannel"] == {"channel": "REGULAR"}
        edit_yaml(platform_copy / "Pulumi.shared.yaml", lambda d: d["config"].pop("platform:release_channel"))
        assert cluster(run_platform(platform_copy))["releaseChannel"] == {"channel": "REGULAR"}
        stable = run_platform(platform_copy, overrides={"platform:release_channel": "STABLE"})
        assert cluster(stable)["releaseChannel"] == {"channel": "STABLE"}

    def test_gateway_api_standard_channel(self, shared: ProgramRun) -> None:
        assert cluster(shared)["gatewayApiConfig"] == {"channel": "CHANNEL_STANDARD"}

    def test_managed_prometheus_logging_and_monitoring(self, shared: ProgramRun) -> None:
        inputs = cluster(shared)
        assert inputs["monitoringConfig"]["managedPrometheus"] == {"enabled": True}
        assert inputs["monitoringService"] == "monitoring.googleapis.com/kubernetes"
        assert inputs["loggingService"] == "logging.googleapis.com/kubernetes"
        assert set(inputs["loggingConfig"]["enableComponents"]) == {"SYSTEM_COMPONENTS", "WORKLOADS"}

    def test_dataplane_v2_and_shielded_nodes(self, shared: ProgramRun) -> None:
        inputs = cluster(shared)
        assert inputs["datapathProvider"] == "ADVANCED_DATAPATH"
        assert inputs["enableShieldedNodes"] is True
        # Dataplane V2 enforces NetworkPolicy itself: the Calico add-on must not be asked for as well.
        assert "networkPolicy" not in inputs


class TestClusterLifecycle:
    """The cluster cannot be deleted by accident, and owns no node pool after its creation."""

    def test_deletion_protection_and_protect(self, shared: ProgramRun) -> None:
        assert cluster(shared)["deletionProtection"] is True
        assert one(shared, CLUSTER).protect is True

    def test_exactly_the_unrecreatable_resources_are_protected(self, shared: ProgramRun) -> None:
        platform = [r.type for r in shared.resources if r.protect and not r.name.startswith("shared-gateway")]
        assert sorted(platform) == sorted([BUCKET, CLUSTER, REPOSITORY])
        # The shared Gateway's address (in DNS), certificates, namespace and Gateway (tests/test_shared_gateway.py).
        gateway = {r.name for r in shared.resources if r.name.startswith("shared-gateway") and r.protect}
        assert gateway >= {"shared-gateway-edge-address", "shared-gateway-namespace", "shared-gateway-gateway"}

    def test_default_node_pool_is_removed_and_no_pool_is_declared(self, shared: ProgramRun) -> None:
        inputs = cluster(shared)
        assert (inputs["removeDefaultNodePool"], inputs["initialNodeCount"]) == (True, 1)
        assert "nodePools" not in inputs
        assert not shared.of_type("gcp:container/nodePool:NodePool")

    def test_the_temporary_default_pool_runs_as_the_node_account_and_is_ignored_after(self, shared: ProgramRun) -> None:
        node_config = cluster(shared)["nodeConfig"]
        assert node_config["serviceAccount"] == NODES
        assert node_config["workloadMetadataConfig"] == {"mode": "GKE_METADATA"}
        assert node_config["shieldedInstanceConfig"] == {"enableSecureBoot": True, "enableIntegrityMonitoring": True}
        assert one(shared, CLUSTER).ignore_changes == ["nodeConfig"]


class TestRegistry:
    """A Docker repository whose tags never move and whose untagged images expire."""

    def test_docker_with_immutable_tags(self, shared: ProgramRun) -> None:
        repository = one(shared, REPOSITORY).inputs
        assert (repository["repositoryId"], repository["location"], repository["format"]) == (
            "ml-images",
            "europe-west2",
            "DOCKER",
        )
        assert repository["dockerConfig"] == {"immutableTags": True}
        assert one(shared, REPOSITORY).protect is True

    def test_cleanup_deletes_untagged_images_after_the_configured_days(
        self, shared: ProgramRun, platform_copy: Path
    ) -> None:
        def policies(run: ProgramRun) -> list[dict[str, Any]]:
            repository = one(run, REPOSITORY).inputs
            assert repository["cleanupPolicyDryRun"] is False
            return repository["cleanupPolicies"]

        expected = {"id": "delete-untagged", "action": "DELETE", "condition": {"tagState": "UNTAGGED"}}
        assert policies(shared) == [{**expected, "condition": {"tagState": "UNTAGGED", "olderThan": "14d"}}]
        longer = run_platform(platform_copy, overrides={"platform:untagged_image_retention_days": 30})
        assert policies(longer) == [{**expected, "condition": {"tagState": "UNTAGGED", "olderThan": "30d"}}]


class TestBucket:
    """Model artifacts: never public, IAM only, versioned, old versions expire, never force-deleted."""

    def test_uniform_access_and_public_access_prevention(self, shared: ProgramRun) -> None:
        bucket = one(shared, BUCKET).inputs
        assert (bucket["name"], bucket["location"]) == ("acme-ml-platform-ml-artifacts", "EUROPE-WEST2")
        assert bucket["uniformBucketLevelAccess"] is True
        assert bucket["publicAccessPrevention"] == "enforced"

    def test_versioned_and_noncurrent_versions_expire(self, shared: ProgramRun, platform_copy: Path) -> None:
        bucket = one(shared, BUCKET).inputs
        assert bucket["versioning"] == {"enabled": True}
        rule = {"action": {"type": "Delete"}, "condition": {"withState": "ARCHIVED", "daysSinceNoncurrentTime": 30}}
        assert bucket["lifecycleRules"] == [rule]
        week = run_platform(platform_copy, overrides={"platform:noncurrent_version_retention_days": 7})
        assert one(week, BUCKET).inputs["lifecycleRules"][0]["condition"]["daysSinceNoncurrentTime"] == 7

    def test_never_force_destroyed_and_protected(self, shared: ProgramRun) -> None:
        assert one(shared, BUCKET).inputs["forceDestroy"] is False
        assert one(shared, BUCKET).protect is True


class TestNodeServiceAccount:
    """Nodes run as an account that writes logs and metrics and reads one repository, nothing more."""

    def test_account_id_and_project(self, shared: ProgramRun) -> None:
        account = one(shared, ACCOUNT).inputs
        assert (account["accountId"], account["project"]) == ("ml-platform-nodes", "acme-ml-platform")

    def test_project_roles_are_exactly_the_writers_and_the_viewer(self, shared: ProgramRun) -> None:
        members = shared.of_type(PROJECT_MEMBER)
        assert (
            sorted(m.inputs["role"] for m in members)
            == sorted(NODE_PROJECT_ROLES)
            == [
                "roles/logging.logWriter",
                "roles/monitoring.metricWriter",
                "roles/monitoring.viewer",
                "roles/stackdriver.resourceMetadata.writer",
            ]
        )
        assert {(m.inputs["project"], m.inputs["member"]) for m in members} == {
            ("acme-ml-platform", f"serviceAccount:{NODES}")
        }

    def test_registry_reader_on_the_repository_only(self, shared: ProgramRun) -> None:
        (reader,) = shared.of_type(REPOSITORY_MEMBER)
        assert reader.inputs == {
            "project": "acme-ml-platform",
            "location": "europe-west2",
            "repository": "ml-images",
            "role": "roles/artifactregistry.reader",
            "member": f"serviceAccount:{NODES}",
        }
        assert not [m for m in shared.of_type(PROJECT_MEMBER) if "artifactregistry" in m.inputs["role"]]


class TestComponent:
    """One ComponentResource, every resource its child, stable names."""

    def test_every_resource_is_a_child_of_the_shared_platform(self, shared: ProgramRun) -> None:
        component = one(shared, COMPONENT)
        assert (component.name, component.parent) == ("platform", "")
        # The shared Gateway is its own component, on the cluster's provider (tests/test_shared_gateway.py).
        rest = [
            r
            for r in shared.resources
            if r is not component and not r.name.startswith(("shared-gateway", "platform-cluster"))
        ]
        assert {(r.parent, r.parent_type) for r in rest} == {("platform", COMPONENT)}

    def test_every_gcp_resource_names_its_project(self, shared: ProgramRun) -> None:
        """Never the provider's default project, which may be another one on the deployer's machine."""
        gcp = [r for r in shared.resources if r.type.startswith("gcp:")]
        assert gcp and {r.inputs.get("project") for r in gcp} == {"acme-ml-platform"}

    def test_child_names_do_not_depend_on_config(self, shared: ProgramRun, platform_copy: Path) -> None:
        renamed = run_platform(
            platform_copy, overrides={"platform:cluster_name": "other", "platform:registry_id": "other-images"}
        )
        assert sorted(r.urn for r in renamed.resources) == sorted(r.urn for r in shared.resources)


class TestOutputs:
    """The outputs the environment stacks read through pulumi.StackReference: a contract."""

    def test_names_are_exactly_the_contract(self, shared: ProgramRun) -> None:
        assert sorted(shared.outputs) == sorted([*OUTPUT_NAMES, *GATEWAY_OUTPUTS])
        assert shared.secret_outputs == set()

    def test_values(self, shared: ProgramRun) -> None:
        assert shared.outputs == {
            "cluster_name": "ml-platform",
            "cluster_location": "europe-west2",
            "cluster_project": "acme-ml-platform",
            "cluster_endpoint": FAKE_ENDPOINT,
            "cluster_ca_certificate": FAKE_CA,
            "workload_pool": "acme-ml-platform.svc.id.goog",
            "registry": "europe-west2-docker.pkg.dev/acme-ml-platform/ml-images",
            "registry_host": "europe-west2-docker.pkg.dev",
            "artifact_bucket": "acme-ml-platform-ml-artifacts",
            "node_service_account": NODES,
            "network": COMPUTE_API + "projects/acme-ml-platform/global/networks/ml-platform",
            "gateway": "gateway-infra/mlops-gateway",
            "gateway_domain": "ml.acme.example",
            # Known once GCP reserves it; the mocks leave it unset.
            "gateway_address": None,
            "gateway_dns_records": [
                {"name": "ml.acme.example.", "type": "A", "data": None},
                {"name": "*.ml.acme.example.", "type": "A", "data": None},
            ],
        }
