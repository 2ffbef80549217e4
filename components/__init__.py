"""Pulumi ComponentResources: one concept each (worker group, component service, routes, foundation)."""

from components.component_service import ComponentService, ComponentServiceArgs
from components.foundation import Foundation, FoundationArgs
from components.routes import Route, Routes, RoutesArgs
from components.worker_group import WorkerGroup, WorkerGroupArgs

__all__ = [
    "ComponentService",
    "ComponentServiceArgs",
    "Foundation",
    "FoundationArgs",
    "Route",
    "Routes",
    "RoutesArgs",
    "WorkerGroup",
    "WorkerGroupArgs",
]
