"""The repository installs as a package; the program finds its files from the project root (the
directory of Pulumi.yaml above its working directory), never from where the package lives."""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import infra
from spec.errors import ConfigError
from spec.project import find_project_root

from .conftest import REPO, Runner, edit_yaml, load_yaml


def test_project_file_runs_the_infra_program_in_a_virtualenv() -> None:
    project = load_yaml(REPO / "Pulumi.yaml")
    assert project["runtime"]["name"] == "python"
    assert project["runtime"]["options"]["virtualenv"]
    assert project["main"].rstrip("/") == "infra"
    assert (REPO / "infra" / "__main__.py").is_file()


def test_root_is_found_by_walking_up(tmp_path: Path) -> None:
    (tmp_path / "Pulumi.yaml").write_text("name: x\nruntime: python\n")
    deep = tmp_path / "infra" / "a" / "b"
    deep.mkdir(parents=True)
    assert find_project_root(deep) == tmp_path


def test_no_root_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"no Pulumi\.yaml here or in any parent directory"):
        find_project_root(tmp_path)


def test_the_program_reads_the_project_it_runs_in_not_the_installed_package(
    project: Path, offline_engine: Runner
) -> None:
    # The package is installed from the repository; the project copy has its own catalogue.
    assert Path(infra.__file__).resolve().is_relative_to(REPO)
    edit_yaml(
        project / "config" / "components" / "sentiment_analysis.yaml",
        lambda d: d["versions"].append(
            {"id": 300, "label": "v9", "digest": "sha256:" + "ab" * 32, "created": "2026-11-20T10:00:00Z"}
        ),
    )
    edit_yaml(project / "Pulumi.uat.yaml", lambda d: d["config"]["mlops:components"][2].update(version="v9"))
    run = offline_engine(project, "uat")
    images = {
        r.inputs["metadata"]["name"]: r.inputs["spec"]["template"]["spec"]["containers"][0]["image"]
        for r in run.resources
        if r.kind == "Deployment"
    }
    assert images["sentiment-analysis"].endswith("@sha256:" + "ab" * 32)


def test_program_imports_work_from_the_main_directory_alone(tmp_path: Path) -> None:
    """The language host puts only infra/ on sys.path: the installed package must resolve imports."""
    code = "import sys; sys.path[:0] = ['.']; import infra.program, components; print(components.__file__)"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO / "infra", capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert Path(result.stdout.strip()).is_relative_to(REPO / "components")


def test_mlops_console_command_prints_help() -> None:
    command = shutil.which("mlops", path=str(Path(sys.executable).parent))
    assert command, "the mlops console script is not installed in this environment"
    result = subprocess.run([command, "--help"], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert "validate" in result.stdout


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["promote"], "mlops promote: Missing argument 'FROM'. (see mlops promote --help)"),
        (["promote", "integration", "--bogus"], "mlops promote: No such option: --bogus (see mlops promote --help)"),
        (["version", "add"], "mlops version add: Missing argument 'component'. (see mlops version add --help)"),
    ],
)
def test_usage_mistakes_are_one_line_and_exit_2(args: list[str], expected: str) -> None:
    command = shutil.which("mlops", path=str(Path(sys.executable).parent))
    assert command
    result = subprocess.run([command, *args], cwd=REPO, capture_output=True, text=True, check=False)
    assert result.returncode == 2
    assert result.stderr.strip() == expected
    assert "Traceback" not in result.stderr


def test_no_arguments_prints_help() -> None:
    command = shutil.which("mlops", path=str(Path(sys.executable).parent))
    assert command
    result = subprocess.run([command], cwd=REPO, capture_output=True, text=True, check=False)
    assert result.returncode == 0 and "challenger" in result.stdout and "promote" in result.stdout


class TestTheProcessEndsOnceTheCommandIsDone:
    """The console script ends the process without Python's teardown, and loses nothing by it:
    the whole output, the command's exit code, the exit handlers a command registers."""

    def test_the_whole_output_and_the_exit_code_reach_a_pipe(self, project: Path) -> None:
        command = shutil.which("mlops", path=str(Path(sys.executable).parent))
        assert command
        result = subprocess.run(
            [command, "diff", "integration", "uat", "--format", "json"],
            cwd=project,
            capture_output=True,
            text=True,
            check=False,
        )
        # Integration and UAT pin different versions: exit 1, and the JSON is complete.
        assert result.returncode == 1, result.stderr
        assert json.loads(result.stdout)["pins"]

    def test_output_left_for_a_closed_pipe_keeps_the_exit_code(self, tmp_path: Path) -> None:
        """Output still buffered when the reader is gone (`mlops ... | head -0`): the last flush
        fails, quietly, and the command's own exit code stands."""
        script = (
            "import sys\n"
            "import mlops.cli as cli\n"
            "def app(**kwargs):\n"
            "    sys.stdout.write('left in the buffer\\n')\n"
            "    return 3\n"
            "cli.app = app\n"
            "sys.argv = ['mlops']\n"
            "cli.main()\n"
        )
        # Buffered output, as a user's shell has it (this machine's environment sets unbuffered).
        env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
        reader, writer = os.pipe()
        os.close(reader)
        try:
            result = subprocess.run(
                [sys.executable, "-c", script],
                cwd=tmp_path,
                stdout=writer,
                stderr=subprocess.PIPE,
                text=True,
                env=env,
                check=False,
            )
        finally:
            os.close(writer)
        assert result.returncode == 3, result.stderr
        assert "Traceback" not in result.stderr and "Exception ignored" not in result.stderr

    def test_exit_handlers_a_command_registers_still_run(self, project: Path, tmp_path: Path) -> None:
        marker = tmp_path / "handler-ran"
        script = (
            "import atexit, sys\n"
            "import mlops.cli as cli\n"
            "command = cli.app\n"
            "def app(**kwargs):\n"
            f"    atexit.register(lambda: open({str(marker)!r}, 'w').write('ran'))\n"
            "    return command(**kwargs)\n"
            "cli.app = app\n"
            "sys.argv = ['mlops', 'diff', 'integration', 'uat']\n"
            "cli.main()\n"
        )
        result = subprocess.run(
            [sys.executable, "-c", script], cwd=project, capture_output=True, text=True, check=False
        )
        assert result.returncode == 1, result.stderr
        assert marker.read_text() == "ran"


# --------------------------------------------------------------------------- layout

PACKAGES = ("infra", "components", "spec", "mlops")
# The done-when grep, assembled from parts so that this file does not match it itself.
FORBIDDEN_SDK = re.compile(
    "|".join(
        [
            r"pulumi\._",
            r"pulumi\.runtime\.(config|rpc|proto|resource|settings|stack|mocks)\b",
            "_sync" + "_await",
            "Mock" + "Monitor",
        ]
    )
)


def python_files() -> list[Path]:
    # Virtualenvs (.venv, CI's .venv-checkov) and build output are not ours.
    return [
        p
        for p in REPO.rglob("*.py")
        if not any(part.startswith(".venv") for part in p.parts) and "build" not in p.parts
    ]


def imported_modules(path: Path) -> list[tuple[str, list[str]]]:
    """(module, names) of every import statement in a file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.module, [alias.name for alias in node.names]))
    return found


def test_nothing_touches_the_sdk_s_private_surface() -> None:
    """The done-when grep of the issue, over every Python file of the repository (tests included)."""
    hits = [
        f"{p.relative_to(REPO)}:{n}"
        for p in python_files()
        for n, line in enumerate(p.read_text().splitlines(), 1)
        if FORBIDDEN_SDK.search(line)
    ]
    assert hits == []


def test_the_program_and_components_never_import_the_tooling() -> None:
    for package in ("infra", "platform", "components", "spec"):
        for path in (REPO / package).rglob("*.py"):
            for module, _ in imported_modules(path):
                assert not module.startswith("mlops"), f"{path.relative_to(REPO)} imports {module}"
                assert not module.startswith("tests"), f"{path.relative_to(REPO)} imports {module}"


def test_the_platform_folder_is_no_package_that_shadows_the_standard_library() -> None:
    """`platform/` is a Pulumi project directory: an __init__.py would make `import platform` ours."""
    assert (REPO / "platform" / "__main__.py").is_file()
    assert not (REPO / "platform" / "__init__.py").exists()
    import platform

    assert Path(platform.__file__).parent != REPO / "platform"


def test_the_model_package_has_no_pulumi_import() -> None:
    for path in (REPO / "spec").rglob("*.py"):
        for module, _ in imported_modules(path):
            assert module.split(".")[0] not in ("pulumi", "pulumi_gcp", "pulumi_kubernetes", "infra", "components")


def test_no_module_imports_another_modules_private_names() -> None:
    for path in python_files():
        for module, names in imported_modules(path):
            if module.split(".")[0] in PACKAGES:
                assert not [n for n in names if n.startswith("_")], f"{path.relative_to(REPO)}: {module} {names}"


def test_no_module_is_over_400_lines() -> None:
    long = [str(p.relative_to(REPO)) for p in python_files() if len(p.read_text().splitlines()) > 400]
    assert long == []  # tests included


def test_command_modules_keep_their_annotations_as_objects() -> None:
    """typer reads every command's parameters on every run: string annotations (the future
    import) would cost an eval each, about 15 ms a run on the build machine."""
    commands = [p for p in (REPO / "mlops" / "cli").glob("*.py") if p.name not in ("__init__.py", "__main__.py")]
    assert len(commands) > 5
    assert [p.name for p in commands if "from __future__ import annotations" in p.read_text()] == []


def test_preview_without_the_pulumi_cli_is_one_line(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`mlops preview` needs the Pulumi CLI; without it, one line saying so and what to run instead."""
    if shutil.which("pulumi"):
        pytest.skip("the Pulumi CLI is on PATH here: this test covers machines without it")
    from typer.testing import CliRunner

    from mlops.cli import app

    monkeypatch.chdir(project)
    result = CliRunner().invoke(app, ["preview", "-s", "uat"])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "pulumi: the Pulumi CLI is not on PATH: install it (https://www.pulumi.com/docs/install/), "
        "or run `mlops plan -s uat` to render what the program declares offline"
    ]


@pytest.mark.skipif(shutil.which("pulumi") is None, reason="needs the Pulumi CLI, which cannot be installed here")
def test_preview_streams_the_pulumi_cli(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from mlops.cli import app

    monkeypatch.chdir(project)
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "offline")
    monkeypatch.setenv("PULUMI_BACKEND_URL", f"file://{project}")
    subprocess.run(["pulumi", "stack", "init", "uat", "--cwd", str(project)], check=False, capture_output=True)
    result = CliRunner().invoke(app, ["preview", "-s", "uat"])
    assert "Previewing update (uat)" in result.output
