"""Bad input: each mistake gets exactly one line naming the file, the key and the fix, through the
validator. (The same mistakes through the program and the CLI: test_bad_input_program_cli.py.)"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from spec.environment import load_environment
from spec.errors import ConfigError

from .bad_input_helpers import CATALOGUE, first_version, in_catalogue, in_stack, pin, rename_key, set_key, write
from .conftest import edit_yaml

# (id, stack, how to break the project, file named, key named, words of the fix)
CASES: list[tuple[str, str, Callable[[Path], None], str, str, str]] = [
    (
        "misspelt-pin-key",
        "uat",
        in_stack("uat", pin("document_tagging", versoin=1)),
        "Pulumi.uat.yaml",
        "mlops:components[document_tagging].versoin",
        "did you mean 'version'",
    ),
    (
        "misspelt-top-key",
        "uat",
        in_stack("uat", rename_key("mlops:worker_groups", "mlops:worker_group")),
        "Pulumi.uat.yaml",
        "mlops:worker_group",
        "did you mean 'worker_groups'",
    ),
    (
        "misspelt-ingress-key",
        "uat",
        in_stack("uat", lambda c: c["mlops:routing"].update(hots="x.example")),
        "Pulumi.uat.yaml",
        "mlops:routing.hots",
        "did you mean 'host'",
    ),
    (
        "unknown-component",
        "uat",
        in_stack("uat", pin("document_tagging", name="document_taging")),
        "Pulumi.uat.yaml",
        "mlops:components[document_taging].name",
        "did you mean 'document_tagging'",
    ),
    (
        "unknown-version-id",
        "uat",
        in_stack("uat", pin("sentiment_analysis", version=999)),
        "Pulumi.uat.yaml",
        "mlops:components[sentiment_analysis].version",
        "use an id or label",
    ),
    (
        "unknown-version-label",
        "uat",
        in_stack("uat", pin("document_tagging", version="v9")),
        "Pulumi.uat.yaml",
        "mlops:components[document_tagging].version",
        "use an id or label",
    ),
    (
        "unknown-worker-group",
        "uat",
        in_stack("uat", lambda c: c["mlops:settings"].update(worker_group="gpu-pool")),
        "Pulumi.uat.yaml",
        "mlops:settings.worker_group",
        "add it under mlops:worker_groups",
    ),
    (
        "unknown-worker-group-on-pin",
        "uat",
        in_stack("uat", pin("document_tagging", settings={"worker_group": "uat-pol"})),
        "Pulumi.uat.yaml",
        "mlops:components[document_tagging].settings.worker_group",
        "did you mean 'uat-pool'",
    ),
    (
        "unknown-worker-type",
        "uat",
        in_stack("uat", lambda c: c["mlops:worker_groups"]["uat-pool"].update(worker_type="4-CPU-26GB")),
        "Pulumi.uat.yaml",
        "mlops:worker_groups.uat-pool",
        "use one of",
    ),
    (
        "duplicate-pin",
        "uat",
        in_stack("uat", lambda c: c["mlops:components"].append(dict(c["mlops:components"][0]))),
        "Pulumi.uat.yaml",
        "mlops:components[document_tagging]",
        "keep one pin per component",
    ),
    (
        "replicas-zero",
        "uat",
        in_stack("uat", pin("document_tagging", settings={"replicas": 0})),
        "Pulumi.uat.yaml",
        "mlops:components[document_tagging].settings.replicas",
        "greater than or equal to 1",
    ),
    (
        "replicas-not-a-number",
        "uat",
        in_stack("uat", lambda c: c["mlops:settings"].update(replicas="two")),
        "Pulumi.uat.yaml",
        "mlops:settings.replicas",
        "valid integer",
    ),
    (
        "low-latency-not-a-bool",
        "uat",
        in_stack("uat", lambda c: c["mlops:settings"].update(low_latency_mode="yes")),
        "Pulumi.uat.yaml",
        "mlops:settings.low_latency_mode",
        "valid boolean",
    ),
    (
        "production-one-replica",
        "production",
        in_stack("production", lambda c: c["mlops:settings"].update(replicas=1)),
        "Pulumi.production.yaml",
        "mlops:settings.replicas",
        "needs replicas >= 2",
    ),
    (
        "production-one-replica-on-pin",
        "production",
        in_stack("production", pin("sentiment_analysis", settings={"replicas": 1})),
        "Pulumi.production.yaml",
        "mlops:components[sentiment_analysis].settings.replicas",
        "set mlops:components[sentiment_analysis].settings.replicas: 2 or more",
    ),
    (
        "wrong-type",
        "uat",
        in_stack("uat", pin("document_tagging", type="app")),
        "Pulumi.uat.yaml",
        "mlops:components[document_tagging].type",
        "set type: model",
    ),
    (
        "bad-component-type",
        "uat",
        in_stack("uat", pin("document_tagging", type="service")),
        "Pulumi.uat.yaml",
        "mlops:components[document_tagging].type",
        "'app' or 'model'",
    ),
    (
        "promotes-to-itself",
        "uat",
        in_stack("uat", set_key("mlops:environment", {"promotes_to": "uat"})),
        "Pulumi.uat.yaml",
        "mlops:environment.promotes_to",
        "cannot promote to itself",
    ),
    (
        "cluster-both-kinds",
        "uat",
        in_stack("uat", lambda c: c["mlops:cluster"].update(kubeconfig_context="kind-mlops")),
        "Pulumi.uat.yaml",
        "mlops:cluster",
        "not both",
    ),
    (
        "cluster-missing-location",
        "uat",
        in_stack("uat", lambda c: c["mlops:cluster"].pop("location")),
        "Pulumi.uat.yaml",
        "mlops:cluster",
        "add location",
    ),
    (
        "size-and-autoscaling",
        "uat",
        in_stack("uat", lambda c: c["mlops:worker_groups"]["uat-pool"].update(size=2)),
        "Pulumi.uat.yaml",
        "mlops:worker_groups.uat-pool",
        "not both",
    ),
    (
        "existing-with-size",
        "uat",
        in_stack("uat", lambda c: c["mlops:worker_groups"]["uat-pool"].update(existing=True)),
        "Pulumi.uat.yaml",
        "mlops:worker_groups.uat-pool",
        "existing worker group is never managed",
    ),
    (
        "bad-worker-group-name",
        "uat",
        in_stack("uat", lambda c: c["mlops:worker_groups"].update({"GPU_pool": {"existing": True}})),
        "Pulumi.uat.yaml",
        "mlops:worker_groups",
        "lowercase letters",
    ),
    (
        "bad-host",
        "uat",
        in_stack("uat", lambda c: c["mlops:routing"].update(host="https://ml.acme.example/")),
        "Pulumi.uat.yaml",
        "mlops:routing.host",
        "not a DNS host name",
    ),
    (
        "missing-ingress",
        "uat",
        in_stack("uat", lambda c: c.pop("mlops:routing")),
        "Pulumi.uat.yaml",
        "mlops:routing",
        "required key is missing",
    ),
    (
        "plaintext-api-key",
        "uat",
        in_stack("uat", set_key("mlops:api_key", "hunter2")),
        "Pulumi.uat.yaml",
        "mlops:api_key",
        "pulumi config set --secret mlops:api_key",
    ),
    (
        "missing-gcp-project",
        "uat",
        in_stack("uat", lambda c: c.pop("gcp:project")),
        "Pulumi.uat.yaml",
        "gcp:project",
        "set gcp:project",
    ),
    (
        "requests-exceed-node",
        "integration",
        in_catalogue(
            "sentiment_analysis", lambda d: d["resources"].update(requests={"cpu": "8", "memory": "2Gi"}, limits={})
        ),
        "Pulumi.integration.yaml",
        "mlops:worker_groups.integration-pool.worker_type",
        "choose a larger worker type",
    ),
    (
        "malformed-digest",
        "uat",
        in_catalogue("document_tagging", first_version(lambda v: v.update(digest="sha256:abc"))),
        "config/components/document_tagging.yaml",
        "versions[0].digest",
        "64 lowercase hex",
    ),
    (
        "missing-catalogue-file",
        "uat",
        lambda root: (root / CATALOGUE / "sentiment_analysis.yaml").unlink(),
        "Pulumi.uat.yaml",
        "mlops:components[sentiment_analysis].name",
        "add config/components/sentiment_analysis.yaml",
    ),
    (
        "catalogue-name-mismatch",
        "uat",
        in_catalogue("sentiment_analysis", lambda d: d.update(name="sentiment")),
        "config/components/sentiment_analysis.yaml",
        "name",
        "rename the file",
    ),
    (
        "catalogue-duplicate-id",
        "uat",
        in_catalogue("document_tagging", lambda d: d["versions"][1].update(id=151)),
        "config/components/document_tagging.yaml",
        "",
        "version ids must be unique",
    ),
    (
        "catalogue-unknown-default",
        "uat",
        in_catalogue("document_tagging", lambda d: d.update(default_version=1)),
        "config/components/document_tagging.yaml",
        "",
        "default_version 1 is not one of the versions",
    ),
    (
        "catalogue-image-with-tag",
        "uat",
        in_catalogue("document_tagging", lambda d: d.update(image=d["image"] + ":latest")),
        "config/components/document_tagging.yaml",
        "image",
        "without tag or digest",
    ),
    (
        "catalogue-limits-below-requests",
        "uat",
        in_catalogue("document_tagging", lambda d: d["resources"].update(limits={"memory": "256Mi"})),
        "config/components/document_tagging.yaml",
        "resources",
        "limits.memory 256Mi is below requests.memory 1Gi",
    ),
    (
        "catalogue-bad-quantity",
        "uat",
        in_catalogue("document_tagging", lambda d: d["resources"]["requests"].update(cpu="lots")),
        "config/components/document_tagging.yaml",
        "resources.requests.cpu",
        "not a Kubernetes quantity",
    ),
    (
        "catalogue-misspelt-key",
        "uat",
        in_catalogue("document_tagging", lambda d: d.update(health=d.pop("health_path"))),
        "config/components/document_tagging.yaml",
        "health",
        "did you mean 'health_path'",
    ),
    (
        "label-looks-like-id",
        "uat",
        in_catalogue("document_tagging", first_version(lambda v: v.update(label="7"))),
        "config/components/document_tagging.yaml",
        "versions[0].label",
        "must start with a letter",
    ),
    (
        "invalid-yaml",
        "uat",
        write("Pulumi.uat.yaml", "config:\n  mlops:components: [\n"),
        "Pulumi.uat.yaml",
        "line",
        "not valid YAML",
    ),
    (
        "project-unknown-key",
        "uat",
        lambda root: edit_yaml(root / "Pulumi.yaml", lambda d: d["config"].update({"mlops:setting": {"value": {}}})),
        "Pulumi.yaml",
        "config.mlops:setting",
        "did you mean 'mlops:settings'",
    ),
    (
        "project-bad-setting",
        "uat",
        lambda root: edit_yaml(
            root / "Pulumi.yaml", lambda d: d["config"]["mlops:settings"]["value"].update(replica=3)
        ),
        "Pulumi.yaml",
        "mlops:settings.replica",
        "did you mean 'replicas'",
    ),
]


@pytest.mark.parametrize(("stack", "breaks", "file", "key", "fix"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_one_line_naming_file_key_and_fix(project: Path, stack: str, breaks, file: str, key: str, fix: str) -> None:
    breaks(project)
    with pytest.raises(ConfigError) as caught:
        load_environment(project, stack)
    message = str(caught.value)
    assert "\n" not in message, message
    assert message.startswith(f"{file}: {key}"), message
    assert fix in message, message


def test_there_are_at_least_twenty_cases() -> None:
    assert len(CASES) >= 20
