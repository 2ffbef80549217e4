"""`mlops settings`: set or inherit `replicas`, `worker_group`, `low_latency_mode`, `autoscale`,
`rate_limit`, `alerts` at the project (Pulumi.yaml), environment (`mlops:settings`) or component (`settings:`
on a pin) level.

Values are parsed and checked before anything is written; the whole environment is validated
with the new value (a worker group must be known to the stack, production keeps at least 2 pods,
replicas and autoscale are never both set at one level, a rate limit needs GKE's external
Gateway), and for a project-level change every stack is validated, so no stack is left broken.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from mlops.promotion import Update, pinned, require_stack, update_pins
from mlops.stackfile import atomic_write, pin_entries, project_lock, read_text, render_config_key, validate_stack_text
from mlops.yamledit import YamlDocument
from spec.environment import load_environment
from spec.errors import ConfigError, did_you_mean
from spec.files import parse_yaml
from spec.files import read_text as read_file_text
from spec.problems import plain_key, problems
from spec.project import NAMESPACE, PROJECT_FILE, list_stacks, stack_file_name
from spec.settings import SETTING_KEYS, Alerts, Autoscale, RateLimit

SETTINGS_KEY = f"{NAMESPACE}:settings"
# Settings whose value is a mapping: given as the file has it, a YAML flow mapping.
MAPPINGS: dict[str, type[BaseModel]] = {"autoscale": Autoscale, "rate_limit": RateLimit, "alerts": Alerts}
EXAMPLES = {
    "autoscale": "{min: 2, max: 6, cpu_target_percent: 70}",
    "rate_limit": "{requests_per_minute: 20}",
    "alerts": "{error_ratio: 0.1, restarts: 5}",
}


def check_key(key: str) -> None:
    if key not in SETTING_KEYS:
        raise ConfigError.one(
            "KEY", key, f"unknown setting{did_you_mean(key, SETTING_KEYS)}: use one of {', '.join(SETTING_KEYS)}"
        )


def parse_value(key: str, text: str) -> Any:
    """A setting's value from the command line, checked: one line naming the key and the fix."""
    check_key(key)
    if key in MAPPINGS:
        return _mapping(key, text)
    if key == "replicas":
        if not text.isdigit() or int(text) < 1:
            raise ConfigError.one("VALUE", key, f"'{text}' is not a positive integer (replicas 2)")
        return int(text)
    if key == "low_latency_mode":
        if text.lower() not in ("true", "false"):
            raise ConfigError.one("VALUE", key, f"'{text}' is not a boolean: use true or false")
        return text.lower() == "true"
    return text


def _mapping(key: str, text: str) -> dict[str, Any]:
    """`autoscale '{min: 2, max: 6, cpu_target_percent: 70}'`: the plain data, once its model accepts it."""
    try:
        data = parse_yaml(text, "VALUE")
    except ConfigError:
        data = None
    if not isinstance(data, dict):
        raise ConfigError.one("VALUE", key, f"'{text}' is not a mapping: write it as in a stack file, {EXAMPLES[key]}")
    try:
        return MAPPINGS[key].model_validate(data).model_dump(exclude_none=True)
    except ValidationError as exc:
        first = problems(exc, MAPPINGS[key], "VALUE", plain_key, data)[0]
        raise ConfigError.one("VALUE", f"{key}.{first.key}" if first.key else key, first.message) from None


def _settings_update(root: Path, stack: str, component: str | None, key: str, value: Any | None) -> Update:
    """The stack with `key` set to `value` (None: inherit) at the environment or component level."""
    require_stack(root, stack)
    env = load_environment(root, stack)
    display = stack_file_name(stack)
    text = read_text(root, stack)
    if component is None:
        # `pulumi config set --path mlops:settings.<key>` (or `config rm --path`): the other
        # settings, their order and the file's layout stay as they are.
        after_text = render_config_key(text, f"{SETTINGS_KEY}.{key}", value, display)
        after = validate_stack_text(root, stack, after_text)
        return Update(stack, "settings", env, after, text, after_text, {"settings": key})
    pinned(env, component)
    pins = pin_entries(env)
    for pin in pins:
        if pin["name"] == component:
            settings = dict(pin.get("settings", {}))
            if value is None:
                settings.pop(key, None)
            else:
                settings[key] = value
            pin.pop("settings", None)
            if settings:
                pin["settings"] = settings
    return update_pins(root, stack, "settings", pins, {"settings": key, "component": component}, provenance=False)


def set_setting(root: Path, stack: str, component: str | None, key: str, value: Any | None) -> Update:
    from mlops.promotion import commit

    return commit(root, lambda: _settings_update(root, stack, component, key, value))


def set_project_setting(root: Path, key: str, value: Any | None) -> list[str]:
    """Change the project level in Pulumi.yaml (`config: mlops:settings: value:`, comments and
    layout kept), then validate every stack; if any fails, Pulumi.yaml is put back as it was and
    the error is raised. Returns the stacks checked."""
    path = root / PROJECT_FILE
    with project_lock(root):
        before = read_file_text(path, PROJECT_FILE)
        doc = YamlDocument.load(before, PROJECT_FILE)
        entry = doc.get(("config", SETTINGS_KEY))
        # Project config holds an object in its long form (`value:`, or `default:`); a bare
        # mapping there is the short form of the same thing.
        field = next((f for f in ("value", "default") if isinstance(entry, dict) and f in entry), None)
        if field is None and isinstance(entry, dict) and entry:
            holder: tuple[str, ...] = ("config", SETTINGS_KEY)
        else:
            holder = ("config", SETTINGS_KEY, field or "value")
        if value is None:
            doc.delete((*holder, key))
        else:
            doc.set((*holder, key), value)
        atomic_write(path, doc.text())
        stacks = list_stacks(root)
        try:
            for stack in stacks:
                load_environment(root, stack)
        except ConfigError:
            atomic_write(path, before)
            raise
    return stacks
