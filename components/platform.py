"""SharedPlatform: what every environment stack of a project shares - a private VPC-native GKE
Standard cluster in its own network (egress through Cloud NAT), the Artifact Registry Docker
repository images are pushed to and deployed from by digest, the bucket for model artifacts, and
the least-privilege service account the environments' node pools run as.

The platform creates no node pools: each environment stack owns its worker groups. Settings
that are dangerous to change say so where they are set (see docs/platform.md for the cost of each).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_gcp as gcp

from spec.platform_config import PlatformConfig

__all__ = ["NODE_PROJECT_ROLES", "OUTPUT_NAMES", "SharedPlatform", "SharedPlatformArgs"]

# What a node needs on the project: write its logs and metrics, read monitoring config, report
# resource metadata. Reading images is granted on the one repository, never on the project.
NODE_PROJECT_ROLES = (
    "roles/logging.logWriter",
    "roles/monitoring.metricWriter",
    "roles/monitoring.viewer",
    "roles/stackdriver.resourceMetadata.writer",
)
REGISTRY_READER = "roles/artifactregistry.reader"
# Names of the subnetwork's secondary ranges (the cluster's ip_allocation_policy names them).
PODS_RANGE = "pods"
SERVICES_RANGE = "services"
CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"
# The stack outputs: a contract, read by the environment stacks through pulumi.StackReference.
OUTPUT_NAMES = (
    "cluster_name",
    "cluster_location",
    "cluster_project",
    "cluster_endpoint",
    "cluster_ca_certificate",
    "workload_pool",
    "registry",
    "registry_host",
    "artifact_bucket",
    "node_service_account",
    "network",
)


@dataclass(frozen=True)
class SharedPlatformArgs:
    """The validated `platform:` config (spec.platform_config)."""

    config: PlatformConfig


class SharedPlatform(pulumi.ComponentResource):
    """The network, cluster, registry, bucket and node identity one project's environments share."""

    network: gcp.compute.Network
    subnetwork: gcp.compute.Subnetwork
    node_service_account: gcp.serviceaccount.Account
    registry: gcp.artifactregistry.Repository
    cluster: gcp.container.Cluster
    bucket: gcp.storage.Bucket
    outputs: dict[str, pulumi.Output[Any]]

    def __init__(self, name: str, args: SharedPlatformArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("mlops:platform:SharedPlatform", name, None, opts)
        config = args.config
        self._declare_network(name, config)
        self._declare_node_identity(name, config)
        self._declare_registry(name, config)
        self._declare_cluster(name, config)
        self._declare_bucket(name, config)
        registry_host = pulumi.Output.concat(self.registry.location, "-docker.pkg.dev")
        self.outputs = {
            "cluster_name": self.cluster.name,
            "cluster_location": self.cluster.location,
            "cluster_project": self.cluster.project,
            "cluster_endpoint": self.cluster.endpoint,
            "cluster_ca_certificate": self.cluster.master_auth.cluster_ca_certificate,
            "workload_pool": self.cluster.workload_identity_config.workload_pool,
            "registry": pulumi.Output.concat(
                registry_host, "/", self.registry.project, "/", self.registry.repository_id
            ),
            "registry_host": registry_host,
            "artifact_bucket": self.bucket.name,
            "node_service_account": self.node_service_account.email,
            "network": self.network.self_link,
        }
        self.register_outputs(self.outputs)

    def _declare_network(self, name: str, config: PlatformConfig) -> None:
        child = pulumi.ResourceOptions(parent=self)
        self.network = gcp.compute.Network(
            f"{name}-network",
            name=config.cluster_name,
            project=config.project,
            description=f"The network of GKE cluster {config.cluster_name}",
            # Only the subnetwork below: no /20 in every region that nobody plans for.
            auto_create_subnetworks=False,
            routing_mode="REGIONAL",
            opts=child,
        )
        self.subnetwork = gcp.compute.Subnetwork(
            f"{name}-subnet",
            name=f"{config.cluster_name}-subnet",
            project=config.project,
            region=config.region,
            network=self.network.id,
            ip_cidr_range=config.subnet_cidr,
            # VPC-native: pods and Services get addresses from these ranges, routable in the VPC.
            secondary_ip_ranges=[
                gcp.compute.SubnetworkSecondaryIpRangeArgs(range_name=PODS_RANGE, ip_cidr_range=config.pods_cidr),
                gcp.compute.SubnetworkSecondaryIpRangeArgs(
                    range_name=SERVICES_RANGE, ip_cidr_range=config.services_cidr
                ),
            ],
            # Nodes without public addresses still reach Google APIs (Artifact Registry, GCS).
            private_ip_google_access=True,
            opts=child,
        )
        router = gcp.compute.Router(
            f"{name}-router",
            name=f"{config.cluster_name}-router",
            project=config.project,
            region=config.region,
            network=self.network.id,
            opts=child,
        )
        # Private nodes have no external address: Cloud NAT is their only way out (public
        # registries, model hubs), for this subnetwork's nodes and pods only.
        gcp.compute.RouterNat(
            f"{name}-nat",
            name=f"{config.cluster_name}-nat",
            project=config.project,
            region=config.region,
            router=router.name,
            nat_ip_allocate_option="AUTO_ONLY",
            source_subnetwork_ip_ranges_to_nat="LIST_OF_SUBNETWORKS",
            subnetworks=[
                gcp.compute.RouterNatSubnetworkArgs(name=self.subnetwork.id, source_ip_ranges_to_nats=["ALL_IP_RANGES"])
            ],
            log_config=gcp.compute.RouterNatLogConfigArgs(enable=True, filter="ERRORS_ONLY"),
            opts=child,
        )

    def _declare_node_identity(self, name: str, config: PlatformConfig) -> None:
        child = pulumi.ResourceOptions(parent=self)
        self.node_service_account = gcp.serviceaccount.Account(
            f"{name}-nodes",
            account_id=config.node_account_id,
            project=config.project,
            display_name=f"GKE nodes of {config.cluster_name}",
            description="Node pools of the ML platform: write logs and metrics, read images of its registry",
            opts=child,
        )
        member = pulumi.Output.concat("serviceAccount:", self.node_service_account.email)
        for role in NODE_PROJECT_ROLES:
            gcp.projects.IAMMember(
                f"{name}-nodes-{role.removeprefix('roles/').replace('.', '-')}",
                project=config.project,
                role=role,
                member=member,
                opts=child,
            )

    def _declare_registry(self, name: str, config: PlatformConfig) -> None:
        self.registry = gcp.artifactregistry.Repository(
            f"{name}-registry",
            repository_id=config.registry_id,
            project=config.project,
            location=config.region,
            format="DOCKER",
            description="Images of the ML platform's apps and models, deployed by digest",
            # A tag, once pushed, names one image for ever: a commit's tag cannot be moved to a
            # different build behind the catalogue's back.
            docker_config=gcp.artifactregistry.RepositoryDockerConfigArgs(immutable_tags=True),
            cleanup_policy_dry_run=False,
            cleanup_policies=[
                gcp.artifactregistry.RepositoryCleanupPolicyArgs(
                    id="delete-untagged",
                    action="DELETE",
                    condition=gcp.artifactregistry.RepositoryCleanupPolicyConditionArgs(
                        tag_state="UNTAGGED", older_than=f"{config.untagged_image_retention_days}d"
                    ),
                )
            ],
            labels=config.resource_labels,
            # Deleting the repository deletes every image the environments run by digest.
            opts=pulumi.ResourceOptions(parent=self, protect=True),
        )
        gcp.artifactregistry.RepositoryIamMember(
            f"{name}-nodes-registry-reader",
            project=config.project,
            location=self.registry.location,
            repository=self.registry.repository_id,
            role=REGISTRY_READER,
            member=pulumi.Output.concat("serviceAccount:", self.node_service_account.email),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _declare_cluster(self, name: str, config: PlatformConfig) -> None:
        container = gcp.container
        self.cluster = container.Cluster(
            f"{name}-cluster",
            name=config.cluster_name,
            project=config.project,
            # A region: a control plane replica and nodes in each of its zones.
            location=config.region,
            description="The ML platform's cluster: each environment stack adds its own node pools",
            network=self.network.self_link,
            subnetwork=self.subnetwork.self_link,
            networking_mode="VPC_NATIVE",
            ip_allocation_policy=container.ClusterIpAllocationPolicyArgs(
                cluster_secondary_range_name=PODS_RANGE, services_secondary_range_name=SERVICES_RANGE
            ),
            # GKE cannot create a cluster without a node pool: it makes one node per zone, which
            # is removed once the cluster exists. Those nodes run as the platform's node account,
            # not the Compute Engine default (often Editor, and disabled in many organizations).
            remove_default_node_pool=True,
            initial_node_count=1,
            node_config=container.ClusterNodeConfigArgs(
                service_account=self.node_service_account.email,
                oauth_scopes=[CLOUD_PLATFORM_SCOPE],
                shielded_instance_config=container.ClusterNodeConfigShieldedInstanceConfigArgs(
                    enable_secure_boot=True, enable_integrity_monitoring=True
                ),
                workload_metadata_config=container.ClusterNodeConfigWorkloadMetadataConfigArgs(mode="GKE_METADATA"),
            ),
            workload_identity_config=container.ClusterWorkloadIdentityConfigArgs(workload_pool=config.workload_pool),
            # Nodes get internal addresses only; the control plane keeps a public endpoint that
            # only the authorized networks reach. Changing master_cidr replaces the cluster.
            private_cluster_config=container.ClusterPrivateClusterConfigArgs(
                enable_private_nodes=True,
                enable_private_endpoint=False,
                master_ipv4_cidr_block=config.master_cidr,
            ),
            master_authorized_networks_config=container.ClusterMasterAuthorizedNetworksConfigArgs(
                cidr_blocks=[
                    container.ClusterMasterAuthorizedNetworksConfigCidrBlockArgs(
                        cidr_block=allowed.cidr, display_name=allowed.name
                    )
                    for allowed in config.master_authorized_networks
                ]
            ),
            release_channel=container.ClusterReleaseChannelArgs(channel=config.release_channel),
            gateway_api_config=container.ClusterGatewayApiConfigArgs(channel="CHANNEL_STANDARD"),
            logging_service="logging.googleapis.com/kubernetes",
            logging_config=container.ClusterLoggingConfigArgs(enable_components=["SYSTEM_COMPONENTS", "WORKLOADS"]),
            monitoring_service="monitoring.googleapis.com/kubernetes",
            monitoring_config=container.ClusterMonitoringConfigArgs(
                # POD: kube-state metrics of pods (container restarts), which the environments' alert
                # rules read; without it their restart alert never fires.
                enable_components=["SYSTEM_COMPONENTS", "POD"],
                managed_prometheus=container.ClusterMonitoringConfigManagedPrometheusArgs(enabled=True),
            ),
            enable_shielded_nodes=True,
            # Dataplane V2 (eBPF) enforces the environments' NetworkPolicies without Calico.
            datapath_provider="ADVANCED_DATAPATH",
            # Access is IAM and RBAC only: no ABAC, no client certificate (basic auth no longer exists).
            enable_legacy_abac=False,
            master_auth=container.ClusterMasterAuthArgs(
                client_certificate_config=container.ClusterMasterAuthClientCertificateConfigArgs(
                    issue_client_certificate=False
                )
            ),
            deletion_protection=True,
            resource_labels=config.resource_labels,
            opts=pulumi.ResourceOptions(
                parent=self,
                protect=True,
                # node_config only shapes the default pool removed at creation; the provider reads
                # it back empty afterwards and would otherwise replace the cluster on every update.
                ignore_changes=["nodeConfig"],
            ),
        )

    def _declare_bucket(self, name: str, config: PlatformConfig) -> None:
        self.bucket = gcp.storage.Bucket(
            f"{name}-artifacts",
            name=config.artifact_bucket,
            project=config.project,
            location=config.region.upper(),
            storage_class="STANDARD",
            # IAM only (no object ACLs), and never public whatever a future IAM binding says.
            uniform_bucket_level_access=True,
            public_access_prevention="enforced",
            # An overwritten or deleted model artifact can be restored until its noncurrent
            # version expires.
            versioning=gcp.storage.BucketVersioningArgs(enabled=True),
            lifecycle_rules=[
                gcp.storage.BucketLifecycleRuleArgs(
                    action=gcp.storage.BucketLifecycleRuleActionArgs(type="Delete"),
                    condition=gcp.storage.BucketLifecycleRuleConditionArgs(
                        with_state="ARCHIVED", days_since_noncurrent_time=config.noncurrent_version_retention_days
                    ),
                )
            ],
            force_destroy=False,
            labels=config.resource_labels,
            opts=pulumi.ResourceOptions(parent=self, protect=True),
        )
