"""Names of the Google Cloud resources that Kubernetes objects refer to (the Gateway's address and
certificate map, a backend's Cloud Armor policy): fixed here, pure, so offline renders know them
and the tooling never imports Pulumi to compute them."""

from __future__ import annotations

import hashlib


def edge_names(namespace: str) -> tuple[str, str]:
    """(address name, certificate map name): GCP names, at most 63 characters."""
    digest = hashlib.sha256(namespace.encode()).hexdigest()[:8]
    base = namespace if len(namespace) <= 50 else f"{namespace[:41]}-{digest}"
    return f"{base}-gateway-ip", f"{base}-certificates"


def security_policy_name(namespace: str, component: str) -> str:
    """The policy's GCP name: lowercase, at most 63 characters, unique per environment and component
    (`component` is its Kubernetes name); a long one is cut and keeps a hash of the whole."""
    base = f"{namespace}-{component}"
    if len(base) > 52:
        base = f"{base[:43]}-{hashlib.sha256(base.encode()).hexdigest()[:8]}"
    return f"{base}-rate-limit"
