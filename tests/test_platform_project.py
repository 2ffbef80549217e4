"""The platform project (`platform/`): every committed stack file runs under Pulumi's mocks, bad
config stops the program with one line naming the file, the key and the fix, a stack file may leave
out what derives from the rest, and platform/ is a Pulumi project of its own."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from spec.errors import ConfigError, ProgramError
from spec.platform_config import platform_config

from .conftest import REPO, edit_yaml, load_yaml
from .platform_run import PLATFORM, platform_stacks, run_platform
from .test_packaging import imported_modules
from .test_platform import (
    ACCOUNT,
    BUCKET,
    CLUSTER,
    COMPONENT,
    NAT,
    NETWORK,
    REPOSITORY,
    ROUTER,
    SUBNETWORK,
    cluster,
    one,
)
from .test_platform import platform_copy as platform_copy  # the fixture (the alias marks it as re-exported)

STACK_FILE = "platform/Pulumi.shared.yaml"


class TestStackFiles:
    """Every committed platform stack file runs under the mocks and names only known keys."""

    @pytest.mark.parametrize("stack", platform_stacks())
    def test_runs_and_declares_one_of_each(self, stack: str) -> None:
        run = run_platform(stack=stack)
        for type_ in (COMPONENT, NETWORK, SUBNETWORK, ROUTER, NAT, CLUSTER, REPOSITORY, BUCKET, ACCOUNT):
            assert len(run.of_type(type_)) == 1, type_

    @pytest.mark.parametrize("stack", platform_stacks())
    def test_every_key_is_known(self, stack: str) -> None:
        # The program reads known keys only; a misspelt key would be silently ignored by it.
        config = load_yaml(PLATFORM / f"Pulumi.{stack}.yaml")["config"]
        platform_config(config, f"platform/Pulumi.{stack}.yaml")

    def test_there_is_a_shared_stack(self) -> None:
        assert "shared" in platform_stacks()


# (id, config overrides as the CLI hands them, key named, words of the fix)
BAD_VALUES = [
    ("master-not-28", {"platform:master_cidr": "172.16.0.0/24"}, "platform:master_cidr", "must be a /28"),
    ("pods-overlap", {"platform:pods_cidr": "10.10.0.0/16"}, "platform:pods_cidr", "overlaps subnet_cidr"),
    ("host-bits", {"platform:subnet_cidr": "10.10.0.1/20"}, "platform:subnet_cidr", "host bits zero"),
    ("channel", {"platform:release_channel": "FAST"}, "platform:release_channel", "'REGULAR'"),
    (
        "open-to-all",
        {"platform:master_authorized_networks": [{"cidr": "0.0.0.0/0", "name": "all"}]},
        "platform:master_authorized_networks[all]",
        "whole internet",
    ),
    (
        "network-extra-key",
        {"platform:master_authorized_networks": [{"cidr": "10.0.0.0/8", "name": "vpn", "port": 443}]},
        "platform:master_authorized_networks[vpn].port",
        "allowed keys: cidr, name",
    ),
    ("not-a-list", {"platform:master_authorized_networks": "office"}, "platform:master_authorized_networks", "YAML"),
    ("days-text", {"platform:untagged_image_retention_days": "two weeks"}, "platform:untagged", "valid integer"),
    ("days-zero", {"platform:noncurrent_version_retention_days": 0}, "platform:noncurrent", "greater than or equal"),
    ("bucket", {"platform:bucket_name": "Models"}, "platform:bucket_name", "GCS bucket name"),
    ("registry", {"platform:registry_id": "ML_images"}, "platform:registry_id", "repository id"),
    ("label", {"platform:labels": {"Team": "x"}}, "platform:labels", "GCP label"),
    ("long-name", {"platform:cluster_name": "c" * 30}, "platform:node_service_account_id", "set a shorter one"),
    ("region", {"platform:region": "Europe West 2"}, "platform:region", "europe-west2"),
]


class TestBadConfig:
    """A bad value stops the program with one line: the stack file, the key as written, the fix."""

    @pytest.mark.parametrize(("overrides", "key", "fix"), [c[1:] for c in BAD_VALUES], ids=[c[0] for c in BAD_VALUES])
    def test_bad_value_is_one_line(self, platform_copy: Path, overrides: dict[str, Any], key: str, fix: str) -> None:
        with pytest.raises(ProgramError) as raised:
            run_platform(platform_copy, overrides=overrides)
        (line,) = str(raised.value).splitlines()
        assert line.startswith(f"{STACK_FILE}: {key}"), line
        assert fix in line, line

    @pytest.mark.parametrize(
        ("key", "fix"),
        [
            ("gcp:project", "pulumi config set gcp:project"),
            ("platform:master_authorized_networks", "list the networks that may reach the control plane"),
            ("platform:region", "pulumi config set region"),
        ],
    )
    def test_missing_required_key_is_one_line(self, platform_copy: Path, key: str, fix: str) -> None:
        edit_yaml(platform_copy / "Pulumi.shared.yaml", lambda d: d["config"].pop(key))
        with pytest.raises(ProgramError) as raised:
            run_platform(platform_copy)
        (line,) = str(raised.value).splitlines()
        assert line.startswith(f"{STACK_FILE}: {key}: required key is missing: "), line
        assert fix in line, line

    def test_misspelt_key_in_a_stack_file_is_named(self) -> None:
        config = {**load_yaml(PLATFORM / "Pulumi.shared.yaml")["config"], "platform:relase_channel": "STABLE"}
        with pytest.raises(ConfigError) as raised:
            platform_config(config, STACK_FILE)
        assert str(raised.value).startswith(
            f"{STACK_FILE}: platform:relase_channel: unknown key (did you mean 'release_channel'?)"
        )


class TestDefaults:
    """What a stack file may leave out: names derived from the project and the cluster, the region from gcp:region."""

    def test_names_derive_from_project_and_cluster(self, platform_copy: Path) -> None:
        def change(data: dict) -> None:
            for key in ("bucket_name", "registry_id", "cluster_name", "untagged_image_retention_days", "labels"):
                data["config"].pop(f"platform:{key}")

        edit_yaml(platform_copy / "Pulumi.shared.yaml", change)
        run = run_platform(platform_copy)
        assert one(run, BUCKET).inputs["name"] == "acme-ml-platform-ml-artifacts"
        assert one(run, REPOSITORY).inputs["repositoryId"] == "ml-images"
        assert one(run, ACCOUNT).inputs["accountId"] == "ml-platform-nodes"
        assert cluster(run)["name"] == "ml-platform"
        assert cluster(run)["resourceLabels"] == {"managed-by": "pulumi", "mlops-platform": "ml-platform"}
        assert one(run, REPOSITORY).inputs["cleanupPolicies"][0]["condition"]["olderThan"] == "14d"

    def test_region_falls_back_to_gcp_region(self, platform_copy: Path) -> None:
        def change(data: dict) -> None:
            data["config"].pop("platform:region")
            data["config"]["gcp:region"] = "europe-west1"

        edit_yaml(platform_copy / "Pulumi.shared.yaml", change)
        run = run_platform(platform_copy)
        assert cluster(run)["location"] == "europe-west1"
        assert run.outputs["registry_host"] == "europe-west1-docker.pkg.dev"


class TestLayout:
    """platform/ is a Pulumi project of its own, never a Python package, importing only the program's packages."""

    def test_project_file(self) -> None:
        project = load_yaml(PLATFORM / "Pulumi.yaml")
        assert project["name"] == "platform"
        assert project["runtime"] == {
            "name": "python",
            "options": {"toolchain": "pip", "virtualenv": "../.venv"},
        }
        assert project.get("main", ".") in (".", "./")
        assert (PLATFORM / "__main__.py").is_file()

    def test_no_package_named_platform_shadows_the_standard_library(self) -> None:
        assert not (PLATFORM / "__init__.py").exists()
        # The repository root first on sys.path, as under pytest or `python -m` from the root.
        code = (
            "import sys; assert 'platform' not in sys.modules; sys.path[:0] = ['.']; "
            "import platform; print(platform.__file__)"
        )
        result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=False)
        assert result.returncode == 0, result.stderr
        assert not Path(result.stdout.strip()).resolve().is_relative_to(REPO)

    def test_program_imports_work_from_its_directory_alone(self) -> None:
        """The language host puts only platform/ on sys.path: the installed packages must resolve."""
        code = "import sys; sys.path[:0] = ['.']; import components.platform, spec.platform_config"
        result = subprocess.run([sys.executable, "-c", code], cwd=PLATFORM, capture_output=True, text=True, check=False)
        assert result.returncode == 0, result.stderr

    def test_program_imports_neither_the_tooling_nor_the_environment_program(self) -> None:
        sources = [*PLATFORM.rglob("*.py"), REPO / "components" / "platform.py", REPO / "spec" / "platform_config.py"]
        for path in sources:
            for module, _ in imported_modules(path):
                assert module.split(".")[0] not in ("mlops", "tests", "infra"), f"{path}: imports {module}"
