"""Pulumi ComponentResources, one concept each: WorkerGroup (a node pool), Foundation (what an
environment shares), ComponentService (one app or model), Routes (its ingress). The manifests they
declare are built by the pure functions in `components.manifests`.

Import the submodules directly: this package's import stays free of Pulumi so tools that only
render manifests start fast.
"""
