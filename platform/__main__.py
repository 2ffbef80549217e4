"""Entry point of the platform project (`platform/Pulumi.yaml`): read the stack's config, validate
it once, declare the shared platform, export its outputs (the contract the environment stacks
read through pulumi.StackReference).

This directory has no __init__.py on purpose: a package named `platform` would shadow Python's
own `platform` module for everything that imports it.
"""

import pulumi

from components.platform import SharedPlatform, SharedPlatformArgs
from spec.errors import ConfigError, Problem
from spec.platform_config import NAMESPACE, PLATFORM_KEYS, STRUCTURED_KEYS, platform_config
from spec.project import stack_file_name

display = f"platform/{stack_file_name(pulumi.get_stack())}"
settings, gcp_settings = pulumi.Config(NAMESPACE), pulumi.Config("gcp")
values = {f"{NAMESPACE}:{key}": settings.get(key) for key in PLATFORM_KEYS if key not in STRUCTURED_KEYS}
for key in STRUCTURED_KEYS:
    try:
        values[f"{NAMESPACE}:{key}"] = settings.get_object(key)
    except pulumi.ConfigTypeError:
        problem = Problem(display, f"{NAMESPACE}:{key}", "is not structured data: write it as a YAML list or mapping")
        raise pulumi.RunError(str(ConfigError([problem]))) from None
values.update({"gcp:project": gcp_settings.get("project"), "gcp:region": gcp_settings.get("region")})
try:
    config = platform_config(values, display)
except ConfigError as exc:
    # One line per problem, as `pulumi up` shows a RunError: no traceback.
    raise pulumi.RunError(str(exc)) from None

outputs = SharedPlatform("platform", SharedPlatformArgs(config)).outputs
for name, value in outputs.items():
    pulumi.export(name, value)
