"""Monitors: what Google Managed Prometheus needs from an environment - one PodMonitoring per
component (both tracks scraped) and the environment's alert Rules. The manifests come from
`components.render.monitoring_objects` (pure builders in `components.monitoring`), so `mlops plan`
shows exactly what is declared here."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi

from components.custom_objects import custom_resource


@dataclass(frozen=True)
class MonitorsArgs:
    # Logical name -> manifest; a component's PodMonitoring is named after the component, so
    # adding or removing one touches only its own (and the Rules, which list every component).
    objects: dict[str, dict[str, Any]]


class Monitors(pulumi.ComponentResource):
    objects: dict[str, pulumi.CustomResource]

    def __init__(self, name: str, args: MonitorsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("mlops:monitoring:Monitors", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.objects = {
            logical: custom_resource(logical, manifest, child) for logical, manifest in sorted(args.objects.items())
        }
        self.register_outputs({})
