"""`mlops settings`: set or inherit `replicas`, `worker_group`, `low_latency_mode` at the project
(Pulumi.yaml), environment (`mlops:settings`) or component (`settings:` on a pin) level.

Values are parsed and checked before anything is written; the whole environment is validated
with the new value (a worker group must be known to the stack, production keeps replicas >= 2),
and for a project-level change every stack is validated, so no stack is left broken.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from mlops.promotion import Update, _update, pinned, require_stack
from mlops.stackfile import atomic_write, pin_entries, project_lock, read_text, render_config_key, validate_stack_text
from spec.environment import (
    NAMESPACE,
    PROJECT_FILE,
    list_stacks,
    load_environment,
    stack_file_name,
)
from spec.errors import ConfigError, did_you_mean
from spec.schema import SETTING_KEYS

SETTINGS_KEY = f"{NAMESPACE}:settings"


def parse_value(key: str, text: str) -> Any:
    """A setting's value from the command line, checked: one line naming the key and the fix."""
    if key not in SETTING_KEYS:
        raise ConfigError.one(
            "KEY", key, f"unknown setting{did_you_mean(key, SETTING_KEYS)}: use one of {', '.join(SETTING_KEYS)}"
        )
    if key == "replicas":
        if not text.isdigit() or int(text) < 1:
            raise ConfigError.one("VALUE", key, f"'{text}' is not a positive integer (replicas 2)")
        return int(text)
    if key == "low_latency_mode":
        if text.lower() not in ("true", "false"):
            raise ConfigError.one("VALUE", key, f"'{text}' is not a boolean: use true or false")
        return text.lower() == "true"
    return text


def _settings_update(root: Path, stack: str, component: str | None, key: str, value: Any | None) -> Update:
    """The stack with `key` set to `value` (None: inherit) at the environment or component level."""
    require_stack(root, stack)
    env = load_environment(root, stack)
    display = stack_file_name(stack)
    text = read_text(root, stack)
    if component is None:
        current = env.config.settings.explicit()
        if value is None:
            current.pop(key, None)
        else:
            current[key] = value
        after_text = render_config_key(text, SETTINGS_KEY, current or None, display)
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
    return _update(root, stack, "settings", pins, {"settings": key, "component": component}, provenance=False)


def set_setting(root: Path, stack: str, component: str | None, key: str, value: Any | None) -> Update:
    from mlops.promotion import commit

    return commit(root, lambda: _settings_update(root, stack, component, key, value))


def set_project_setting(root: Path, key: str, value: Any | None) -> list[str]:
    """Change the project level in Pulumi.yaml (comments kept), then validate every stack; if any
    fails, Pulumi.yaml is put back as it was and the error is raised. Returns the stacks checked."""
    path = root / PROJECT_FILE
    with project_lock(root):
        before = path.read_text(encoding="utf-8")
        yaml = YAML()
        yaml.preserve_quotes = True
        # The house layout of our YAML files: lists indented under their key, long lines kept.
        yaml.indent(mapping=2, sequence=4, offset=2)
        yaml.width = 4096
        data = yaml.load(before)
        config = data.setdefault("config", {})
        entry = config.get(SETTINGS_KEY)
        if entry is None:
            entry = {"value": {}}
            config[SETTINGS_KEY] = entry
        holder = entry if not (isinstance(entry, dict) and "value" in entry) else entry["value"]
        if holder is None:
            entry["value"] = holder = {}
        if value is None:
            holder.pop(key, None)
        else:
            holder[key] = value
        import io

        buffer = io.StringIO()
        yaml.dump(data, buffer)
        atomic_write(path, buffer.getvalue())
        stacks = list_stacks(root)
        try:
            for stack in stacks:
                load_environment(root, stack)
        except ConfigError:
            atomic_write(path, before)
            raise
    return stacks
