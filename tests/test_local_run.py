"""`mlops run` and `mlops smoke --local`: the example project's components run on this machine with a
stack's config, answer one another by component name, pass the smoke tests, and fail them when
one is stopped. Real processes on 127.0.0.1; no Docker, cluster or network."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from mlops import local_run
from mlops.cli import app
from spec.environment import load_environment

from .conftest import edit_stack

MLOPS = Path(sys.executable).with_name("mlops")


def invoke(project: Path, monkeypatch: pytest.MonkeyPatch, *args: str) -> Any:
    monkeypatch.chdir(project)
    return CliRunner().invoke(app, list(args))


class TestPlan:
    """What `mlops run` would start, without starting it."""

    def test_each_component_gets_its_pinned_config_and_local_neighbours(self, project: Path, tmp_path: Path) -> None:
        env = load_environment(project, "integration")
        names = [c.name for c in env.components]
        ports = {name: 30000 + i for i, name in enumerate(names)}
        planned = {p.name: p for p in local_run.plan(project, env, names, ports, {}, tmp_path / "mirror")}
        web = planned["nlp_document_classifier"]
        assert web.command[0] == sys.executable
        assert web.command[-1] == str(ports["nlp_document_classifier"])
        assert web.directory == project / "apps" / "nlp_document_classifier"
        assert json.loads(web.env["MLOPS_COMPONENT_URLS"]) == {
            "document_tagging": f"http://127.0.0.1:{ports['document_tagging']}",
            "sentiment_analysis": f"http://127.0.0.1:{ports['sentiment_analysis']}",
        }
        run_dir = project / ".mlops" / "run" / "integration"
        assert web.env["MLOPS_APP_CONFIG_PATH"] == str(run_dir / "nlp_document_classifier" / "app_config.yaml")
        assert web.env["MLOPS_API_KEY_PATH"] == str(run_dir / "api-key")
        assert "MLOPS_API_KEY_PATH" not in planned["document_tagging"].env
        assert planned["document_tagging"].env["MLOPS_CALLERS"] == "nlp_document_classifier"
        assert web.env["MLOPS_ARTIFACT_MIRROR"] == str(tmp_path / "mirror")

    def test_files_hold_the_versions_config_and_no_secret(self, project: Path) -> None:
        secure = {"secure": "v1:x"}
        edit_stack(project, "integration", lambda c: c["mlops:environment_config"].update(db_password=secure))
        env = load_environment(project, "integration")
        key_file = local_run.write_files(project, env, [c.name for c in env.components])
        base = key_file.parent
        config = json.loads((base / "environment_config.yaml").read_text())
        assert "db_password" not in config and config["log_level"] == "DEBUG"
        for c in env.components:
            assert json.loads((base / c.name / "app_config.yaml").read_text()) == (c.version.app_config or {})
        assert oct(key_file.stat().st_mode & 0o777) == "0o600"
        assert len(key_file.read_text().strip()) >= 40

    def test_a_component_without_run_is_one_line(self, project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        path = project / "config" / "components" / "document_tagging.yaml"
        text = path.read_text()
        start = text.index("run:\n")
        end = text.index("port:", start)
        path.write_text(text[:start] + text[end:])
        result = invoke(project, monkeypatch, "run", "document_tagging", "-s", "integration")
        assert result.exit_code == 2
        assert result.output.startswith("config/components/document_tagging.yaml: run: missing"), result.output
        assert len(result.output.strip().splitlines()) == 1

    def test_a_command_that_cannot_start_is_one_line_and_leaves_nothing(
        self, project: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        path = project / "config" / "components" / "document_tagging.yaml"
        path.write_text(path.read_text().replace("command: [python, -m,", "command: [no-such-program-here, -m,"))
        result = invoke(project, monkeypatch, "run", "document_tagging", "-s", "integration")
        assert result.exit_code == 2, result.output
        assert result.output.strip() == (
            "config/components/document_tagging.yaml: run.command: cannot start 'no-such-program-here' "
            "(No such file or directory): fix the command"
        )
        assert not (project / ".mlops").exists()

    def test_an_unwritable_run_folder_is_one_line(self, project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        (project / ".mlops").write_text("a file where the run folder goes")
        result = invoke(project, monkeypatch, "run", "document_tagging", "-s", "integration")
        assert result.exit_code == 2, result.output
        assert result.output.startswith(".mlops/run/integration: cannot write the run's files (")
        assert len(result.output.strip().splitlines()) == 1

    @pytest.mark.parametrize(
        ("args", "expected"),
        [
            (["run", "-s", "integration"], "name one component, or give --all"),
            (["run", "document_tagging", "--all", "-s", "integration"], "name one component, or give --all"),
            (["run", "--all", "--port", "8080", "-s", "integration"], "--port: is for one component"),
            (["run", "nope", "-s", "integration"], "'nope' is not pinned"),
            (["smoke", "--local", "-s", "integration"], "nothing runs locally for integration"),
            (["smoke", "--local"], "--stack: nothing runs locally (start components with mlops run --all)"),
            (["smoke"], "--stack: name the stack to check"),
        ],
    )
    def test_usage_mistakes_are_one_line(
        self, project: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], expected: str
    ) -> None:
        result = invoke(project, monkeypatch, *args)
        assert result.exit_code == 2, result.output
        assert expected in result.output
        assert len(result.output.strip().splitlines()) == 1, result.output
        assert not (project / ".mlops" / "run").exists() or not any((project / ".mlops" / "run").glob("*.json"))


def _get(url: str, headers: dict[str, str] | None = None, body: Any = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, None


@pytest.fixture()
def running(project: Path) -> Iterator[tuple[Path, subprocess.Popen[str], dict[str, Any]]]:
    """`mlops run --all -s integration` in a copy of the project, until its state file is written."""
    state = project / ".mlops" / "run" / "integration.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLOPS_")}
    process = subprocess.Popen(
        [str(MLOPS), "run", "--all", "-s", "integration"],
        cwd=project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not state.exists():
            if process.poll() is not None:
                pytest.fail(f"mlops run stopped: {process.stdout.read() if process.stdout else ''}")
            if time.monotonic() > deadline:
                pytest.fail("mlops run did not start the components within 60 s")
            time.sleep(0.2)
        yield project, process, json.loads(state.read_text())
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


class TestRunAll:
    def test_the_web_app_answers_with_a_model_prediction_and_smoke_passes(
        self, running: tuple[Path, subprocess.Popen[str], dict[str, Any]]
    ) -> None:
        project, _, state = running
        components = state["components"]
        assert set(components) == {"document_tagging", "nlp_document_classifier", "sentiment_analysis"}
        key = Path(state["api_key_file"]).read_text().strip()
        web = components["nlp_document_classifier"]["url"]
        article = "The club's striker scored twice in the cup final and the fans cheered the team."
        status, answer = _get(web + "/predict", {"X-API-Key": key}, {"documents": [article]})
        assert status == 200, answer
        assert answer["predictions"][0]["category"] == "sport"
        assert _get(web + "/predict", {}, {"documents": [article]})[0] == 401
        smoke = subprocess.run(
            [str(MLOPS), "smoke", "--local", "--timeout", "20"],  # the one local run: integration
            cwd=project,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert smoke.returncode == 0, smoke.stdout + smoke.stderr
        assert "All 6 checks passed." in smoke.stdout  # health of each, and a sample request of each

    def test_smoke_fails_when_one_component_is_stopped(
        self, running: tuple[Path, subprocess.Popen[str], dict[str, Any]]
    ) -> None:
        project, process, state = running
        os.kill(state["components"]["sentiment_analysis"]["pid"], signal.SIGKILL)
        smoke = subprocess.run(
            [str(MLOPS), "smoke", "--local", "-s", "integration", "--timeout", "3"],
            cwd=project,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert smoke.returncode == 1, smoke.stdout + smoke.stderr
        assert "sentiment_analysis" in smoke.stdout and "failed" in smoke.stderr
        # The others keep running until Ctrl-C; then the run says what stopped on its own, exits
        # non-zero and leaves nothing behind.
        os.kill(state["components"]["document_tagging"]["pid"], 0)
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 1
        output = process.stdout.read() if process.stdout else ""
        assert "sentiment_analysis stopped with exit code" in output
        assert "1 of 3 components stopped on their own: sentiment_analysis" in output
        assert not (project / ".mlops").exists()
        for name in ("document_tagging", "nlp_document_classifier"):
            with pytest.raises(ProcessLookupError):
                os.kill(state["components"][name]["pid"], 0)

    def test_ctrl_c_stops_everything_and_cleans_up(
        self, running: tuple[Path, subprocess.Popen[str], dict[str, Any]]
    ) -> None:
        project, process, state = running
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
        assert not (project / ".mlops").exists()
        for info in state["components"].values():
            with pytest.raises(ProcessLookupError):
                os.kill(info["pid"], 0)
