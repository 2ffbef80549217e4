"""The stack's configuration, read the Pulumi way: `pulumi.Config` hands over what the Pulumi CLI
passed to this run (structured values with `get_object`, secrets with `get_secret` /
`get_secret_object`), validated once into a `spec.Environment`. Secrets stay `Output.secret`.

Bad config stops the run with one line per problem (file, key, fix), before anything deploys.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi

from components.manifests import to_config_text
from spec.environment import Environment, build_environment
from spec.errors import ConfigError, Problem
from spec.project import NAMESPACE, PROJECT_FILE, find_project_root, load_catalogue, load_project, stack_file_name

# The stack's structured keys (mlops:<key>); the API key is read as a secret on its own.
OBJECT_KEYS = (
    "environment",
    "cluster",
    "routing",
    # Read only to say it moved to mlops:routing.
    "ingress",
    "worker_groups",
    "settings",
    "environment_config",
    "components",
    "promoted_from",
    "challenger",
    "promotion",
)
# Keys whose values are plain strings.
TEXT_KEYS = ("platform", "pulumi_org")
MASK = "[secret]"


@dataclass(frozen=True)
class StackInputs:
    """What the program deploys: the validated environment, the configured API key (None: the
    program generates one) and the environment config's text (a secret Output when it holds a
    secret)."""

    env: Environment
    api_key: pulumi.Output[str] | None
    environment_config_text: pulumi.Input[str]
    root: Path  # the project's top directory: build contexts are relative to it
    commit: str  # the source commit images are built from (tags carry it)


def _masked_leaves(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _masked_leaves(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_masked_leaves(v) for v in value]
    return MASK


def read_stack() -> StackInputs:
    """Read and validate this run's config (raises pulumi.RunError: one line per problem)."""
    stack = pulumi.get_stack()
    try:
        return _read(stack)
    except ConfigError as exc:
        raise pulumi.RunError(str(exc)) from None


def _read(stack: str) -> StackInputs:
    display = stack_file_name(stack)
    config = pulumi.Config(NAMESPACE)
    # The CLI marks a key secret when its value is, or holds, a `secure:` value. The program
    # cannot tell which part of mlops:environment_config was secure, so all of it is treated as
    # secret: it is only ever seen masked here, and deployed from get_secret_object below.
    secret_keys = {f"{NAMESPACE}:{k}" for k in ("environment_config", "api_key") if _is_secret(k)}
    values: dict[str, Any] = {}
    problems: list[Problem] = []
    for key in OBJECT_KEYS:
        try:
            value = config.get_object(key)
        except pulumi.ConfigTypeError:
            problems.append(
                Problem(display, f"{NAMESPACE}:{key}", "is not structured data: write it as a YAML mapping")
            )
            continue
        if value is None:
            continue
        if key == "environment_config" and f"{NAMESPACE}:{key}" in secret_keys:
            value = _masked_leaves(value)
        values[f"{NAMESPACE}:{key}"] = value
    for key in TEXT_KEYS:
        text_value = config.get(key)
        if text_value is not None:
            values[f"{NAMESPACE}:{key}"] = text_value
    api_key = config.get_secret("api_key")
    if api_key is not None:
        values[f"{NAMESPACE}:api_key"] = MASK
    gcp_project = pulumi.Config("gcp").get("project")
    if gcp_project is not None:
        values["gcp:project"] = gcp_project
    if problems:
        raise ConfigError(problems)

    root = find_project_root(Path.cwd())
    project = load_project(root)
    if project.name != pulumi.get_project():
        raise ConfigError.one(
            PROJECT_FILE, "name", f"'{project.name}' but Pulumi runs project '{pulumi.get_project()}'"
        )
    env = build_environment(project, stack, values, secret_keys, load_catalogue(root))
    if env.environment_config_secret:
        secret = config.get_secret_object("environment_config")
        assert secret is not None  # present: its key is secret
        text: pulumi.Input[str] = secret.apply(to_config_text)
    else:
        text = to_config_text(env.config.environment_config)
    commit = source_commit(root) if any(c.built for c in env.components) else ""
    return StackInputs(env=env, api_key=api_key, environment_config_text=text, root=root, commit=commit)


def source_commit(root: Path) -> str:
    """The commit source images are built from: MLOPS_SOURCE_COMMIT, else CI's GITHUB_SHA, else
    the checkout's HEAD, else `local` (a tree outside git)."""
    for variable in ("MLOPS_SOURCE_COMMIT", "GITHUB_SHA"):
        if os.environ.get(variable):
            return os.environ[variable][:12]
    try:
        found = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"], cwd=root, capture_output=True, text=True, check=False
        )
    except OSError:
        return "local"
    return found.stdout.strip() if found.returncode == 0 and found.stdout.strip() else "local"


def _is_secret(key: str) -> bool:
    return pulumi.runtime.is_config_secret(f"{NAMESPACE}:{key}")
