"""Edge: what an environment's Gateway needs from Google Cloud - a reserved global IP address (so
DNS never has to change) and a Google-managed certificate for the host through Certificate Manager
(DNS authorization, a certificate, a certificate map with one entry). The Gateway names both, so
their names are fixed here and known offline (`edge_names`).

Two DNS records make it work, both exported as `dns_records`: the host's A record to the address,
and the CNAME that proves the domain to Certificate Manager (it issues and renews from then on)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi

from components.gcp_names import edge_names


@dataclass(frozen=True)
class EdgeArgs:
    gcp_project: Any
    host: str
    namespace: str
    labels: dict[str, str]
    # Also every name one level under the host (`*.<host>`): the platform's shared Gateway serves
    # each environment's own host under one domain with one certificate.
    wildcard: bool = False


class Edge(pulumi.ComponentResource):
    address: pulumi.Output[str]
    dns_records: pulumi.Output[list[dict[str, str]]]

    def __init__(self, name: str, args: EdgeArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("mlops:routing:Edge", name, None, opts)
        import pulumi_gcp as gcp

        child = pulumi.ResourceOptions(parent=self)
        address_name, map_name = edge_names(args.namespace)
        hosts = [args.host, *([f"*.{args.host}"] if args.wildcard else [])]
        labels = {k.replace(".", "_").replace("/", "_"): v for k, v in args.labels.items()}
        address = gcp.compute.GlobalAddress(
            f"{name}-address",
            name=address_name,
            project=args.gcp_project,
            address_type="EXTERNAL",
            ip_version="IPV4",
            labels=labels,
            opts=child,
        )
        authorization = gcp.certificatemanager.DnsAuthorization(
            f"{name}-dns-authorization",
            name=f"{map_name}-dns",
            project=args.gcp_project,
            domain=args.host,
            labels=labels,
            opts=child,
        )
        certificate = gcp.certificatemanager.Certificate(
            f"{name}-certificate",
            name=f"{map_name}-host",
            project=args.gcp_project,
            scope="DEFAULT",
            managed=gcp.certificatemanager.CertificateManagedArgs(
                domains=hosts,
                dns_authorizations=[authorization.id],
            ),
            labels=labels,
            opts=child,
        )
        certificate_map = gcp.certificatemanager.CertificateMap(
            f"{name}-certificate-map", name=map_name, project=args.gcp_project, labels=labels, opts=child
        )
        gcp.certificatemanager.CertificateMapEntry(
            f"{name}-certificate-map-entry",
            name=f"{map_name}-host",
            project=args.gcp_project,
            map=certificate_map.name,
            hostname=args.host,
            certificates=[certificate.id],
            labels=labels,
            opts=child,
        )
        if args.wildcard:
            gcp.certificatemanager.CertificateMapEntry(
                f"{name}-certificate-map-entry-wildcard",
                name=f"{map_name}-wildcard",
                project=args.gcp_project,
                map=certificate_map.name,
                hostname=f"*.{args.host}",
                certificates=[certificate.id],
                labels=labels,
                opts=child,
            )
        self.address = address.address
        self.dns_records = pulumi.Output.all(address.address, authorization.dns_resource_records).apply(
            lambda values: _records(hosts, values[0], values[1])
        )
        self.register_outputs({"address": self.address, "dns_records": self.dns_records})


def _records(hosts: list[str], address: str, proofs: Any) -> list[dict[str, str]]:
    records = [{"name": f"{host}.", "type": "A", "data": address} for host in hosts]
    for proof in proofs or []:
        get = proof.get if isinstance(proof, dict) else lambda key, p=proof: getattr(p, key, None)
        records.append({"name": str(get("name")), "type": str(get("type")), "data": str(get("data"))})
    return records
