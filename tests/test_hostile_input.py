"""Hostile input refused: every command that reads a YAML or JSON file answers a broken or
malicious one with one line naming the file, exit 2, within 2 s and bounded memory, and writes
nothing. The CLI runs in a subprocess (under an address-space limit) so that a crash, a hang or a
memory blow-up fails the test instead of taking pytest down with it.

"Writes nothing" allows exactly one thing: the parse cache (`build/cache/parsed.marshal`), which
may keep the good catalogue files parsed in the same run, but never an entry for the refused file
(else the next run would skip the check)."""

from __future__ import annotations

import hashlib
import marshal
import os
import resource
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from spec.errors import ConfigError
from spec.files import MAX_BYTES, MAX_DEPTH, MAX_JSON_BYTES, MAX_NODES, parse_json, parse_yaml, read_text

MLOPS = str(Path(sys.executable).parent / "mlops")
MEMORY_LIMIT = 3 * 512 * 1024 * 1024  # 1.5 GiB: a blow-up fails fast instead of swapping
CACHE_PATHS = {"project/build", "project/build/cache", "project/build/cache/parsed.marshal"}
AS_ROOT = os.geteuid() == 0
ROOT_READS_ANYTHING = "root reads a mode-000 file; the directory and FIFO payloads cover unreadable files"

Writer = Callable[[Path], None]


def _bomb(levels: int = 9, width: int = 9) -> str:
    """Billion laughs: `levels` anchors of `width` aliases each, width**levels values expanded;
    under `config:`, where code that walks the stack's values would expand them all."""
    lines = [f"  l0: &l0 [{', '.join(['lol'] * width)}]"]
    lines += [f"  l{n}: &l{n} [{', '.join([f'*l{n - 1}'] * width)}]" for n in range(1, levels)]
    return "config:\n" + "\n".join(lines) + "\n"


def _block(levels: int) -> str:
    return "".join(f"{'  ' * n}k:\n" for n in range(levels)) + f"{'  ' * levels}leaf\n"


def content(data: str | bytes) -> Writer:
    return lambda path: path.write_bytes(data.encode() if isinstance(data, str) else data)


def directory(path: Path) -> None:
    path.unlink(missing_ok=True)
    path.mkdir()


def fifo(path: Path) -> None:
    """A named pipe nobody writes to: a plain open() of it blocks forever."""
    path.unlink(missing_ok=True)
    os.mkfifo(path)


def unreadable(path: Path) -> None:
    path.write_text("config: {}\n")
    path.chmod(0)


def sparse(size: int) -> Writer:
    def write(path: Path) -> None:
        path.write_bytes(b"")
        os.truncate(path, size)  # instant: no bytes are written

    return write


# payload id -> (how to plant it, words the one line must hold)
COMMON: dict[str, tuple[Writer, str]] = {
    "directory": (directory, "is a directory"),
    "fifo": (fifo, "not a regular file"),
    "unreadable": (unreadable, "cannot read it"),
}
YAML_PAYLOADS: dict[str, tuple[Writer, str]] = {
    **COMMON,
    "non-utf8": (content(b"config:\n  x: \xff\xfe\n"), "is not UTF-8 text (byte 13 is 0xff)"),
    "alias-bomb": (content(_bomb()), f"expands to more than {MAX_NODES:,} values"),
    "deep-flow": (content("[" * 100_000), f"nested deeper than {MAX_DEPTH} levels"),
    "deep-block": (content(_block(40)), f"nested deeper than {MAX_DEPTH} levels"),
    "oversize": (content("# padding\n" * (2 * MAX_BYTES // 10)), f"over the {MAX_BYTES:,}-byte limit"),
    "bad-syntax": (content("config:\n  x: [1, 2\n  y: }\n"), "not valid YAML"),
    "python-tag": (content("config: !!python/object:os.system {}\n"), "python/object"),
    "binary-tag": (content("config:\n  x: !!binary aGVsbG8=\n"), "a YAML tag"),
}
JSON_PAYLOADS: dict[str, tuple[Writer, str]] = {
    **COMMON,
    "non-utf8": (content(b'{"pins": "\xff"}\n'), "is not UTF-8 text (byte 10 is 0xff)"),
    "deep-brackets": (content("[" * 100_000 + "]" * 100_000 + "\n"), f"nested deeper than {MAX_DEPTH} levels"),
    "deep-40": (content("[" * 40 + "]" * 40 + "\n"), f"nested deeper than {MAX_DEPTH} levels"),
    "oversize": (sparse(MAX_JSON_BYTES + 1), f"over the {MAX_JSON_BYTES:,}-byte limit"),
    "bad-syntax": (content('{"pins": [1, 2\n'), "is not JSON"),
}

STACK, CATALOGUE, OUTPUTS, LOG = (
    "Pulumi.uat.yaml",
    "config/components/document_tagging.yaml",
    "outputs.json",
    "config/promotions.jsonl",
)
# (file, command); {file} is the file's absolute path (shown as given), {out} a plan directory.
YAML_COMMANDS = [
    (STACK, "validate"),
    (STACK, "status -s uat"),
    (STACK, "promote integration --dry-run"),
    (STACK, "plan -s uat --out {out}"),
    (STACK, "diff integration uat"),
    (CATALOGUE, "validate"),
    (CATALOGUE, "plan -s uat --out {out}"),
    ("Pulumi.yaml", "validate"),
]
JSON_COMMANDS = [
    (OUTPUTS, "status -s uat --outputs-file {file}"),
    (OUTPUTS, "promote integration --source deployed --outputs-file {file} --dry-run"),
    (LOG, "history -s uat"),
    (LOG, "rollback -s uat --no-deploy --yes"),
]


def _marks(file: str, command: str, payload: str) -> list[pytest.MarkDecorator]:
    return [pytest.mark.skipif(AS_ROOT, reason=ROOT_READS_ANYTHING)] if payload == "unreadable" else []


def _cases(commands: list[tuple[str, str]], payloads: dict[str, tuple[Writer, str]]) -> list:
    return [
        pytest.param(
            file, command, *payloads[name], id=f"{file}-{command.split()[0]}-{name}", marks=_marks(file, command, name)
        )
        for file, command in commands
        for name in payloads
    ]


@dataclass(frozen=True)
class Run:
    code: int
    lines: list[str]
    stderr: str
    seconds: float


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def mlops(cwd: Path, *args: str) -> Run:
    start = time.monotonic()
    done = subprocess.run(
        [MLOPS, *args],
        cwd=cwd,
        capture_output=True,
        encoding="utf-8",
        errors="replace",
        stdin=subprocess.DEVNULL,
        timeout=10,
        preexec_fn=_limit_memory,
    )
    return Run(done.returncode, done.stderr.splitlines(), done.stderr, time.monotonic() - start)


def snapshot(base: Path) -> dict[str, tuple[int, int, int, str]]:
    """Every path under `base`: (mode, size, mtime, sha256 of a readable regular file's bytes).
    A directory is its mode alone: its entries are in the snapshot themselves (its mtime moves
    when the allowed parse cache creates `build/`)."""
    state = {}
    for path in sorted(base.rglob("*")):
        info = path.lstat()
        if stat.S_ISDIR(info.st_mode):
            state[path.relative_to(base).as_posix()] = (info.st_mode, 0, 0, "")
            continue
        digest = ""
        if stat.S_ISREG(info.st_mode) and os.access(path, os.R_OK):
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
        state[path.relative_to(base).as_posix()] = (info.st_mode, info.st_size, info.st_mtime_ns, digest)
    return state


def _cache_entries(project: Path) -> list[str]:
    path = project / "build" / "cache" / "parsed.marshal"
    return list(marshal.loads(path.read_bytes())[2]) if path.exists() else []


class TestHostileFileRefused:
    """Each payload in each file, through each command that reads it: exit 2, one line starting
    with the file's name and saying what is wrong, no traceback, under 2 s, nothing written."""

    def _check(self, project: Path, file: str, command: str, plant: Writer, words: str) -> None:
        base = project.parent
        target = project / file
        given = file == OUTPUTS  # named on the command line: shown as given
        plant(target)
        args = command.format(file=target, out=base / "plan-out").split()
        before = snapshot(base)
        run = mlops(project, *args)
        after = snapshot(base)
        display = str(target) if given else file
        if file == "Pulumi.yaml" and not stat.S_ISREG(target.lstat().st_mode):
            # Not a file, so not the project's file: the search for the project goes on upwards.
            display, words = str(project.resolve()), "no Pulumi.yaml here or in any parent directory"
        assert "Traceback" not in run.stderr
        assert (run.code, len(run.lines)) == (2, 1), run.stderr
        assert run.lines[0].startswith(f"{display}: "), run.lines[0]
        assert words in run.lines[0]
        assert run.seconds < 2.0
        changed = {p for p in before.keys() | after.keys() if before.get(p) != after.get(p)}
        assert changed - CACHE_PATHS == set()
        assert [entry for entry in _cache_entries(project) if entry.endswith(file)] == []

    @pytest.mark.parametrize(("file", "command", "plant", "words"), _cases(YAML_COMMANDS, YAML_PAYLOADS))
    def test_yaml_file(self, project: Path, file: str, command: str, plant: Writer, words: str) -> None:
        self._check(project, file, command, plant, words)

    @pytest.mark.parametrize(("file", "command", "plant", "words"), _cases(JSON_COMMANDS, JSON_PAYLOADS))
    def test_json_file(self, project: Path, file: str, command: str, plant: Writer, words: str) -> None:
        self._check(project, file, command, plant, words)


def _dead_pid() -> int:
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


class TestKilledPlanCleanedUp:
    """What a killed `plan` leaves next to its output (its staging and set-aside directories,
    named with its pid) is gone after the next run; a running plan's directories are left alone."""

    def test_next_run_removes_dead_leftovers_only(self, project: Path, tmp_path: Path) -> None:
        out = tmp_path / "plans" / "integration"
        assert mlops(project, "plan", "-s", "integration", "--out", str(out)).code == 0
        dead = _dead_pid()
        new, old = out.parent / f".integration.new-{dead}-xyz", out.parent / f".integration.old-{dead}-abc"
        live = out.parent / f".integration.new-{os.getpid()}-live"
        for leftover in (new, old / "plan", live):
            leftover.mkdir(parents=True)
            (leftover / "service-half.yaml").write_text("kind: Serv")

        run = mlops(project, "plan", "-s", "integration", "--out", str(out))

        assert (run.code, run.stderr) == (0, "")
        assert sorted(p.name for p in out.parent.iterdir()) == sorted(["integration", live.name])
        written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.yaml"))
        assert (out / ".mlops-plan").read_text() == f"stack: integration\nobjects: {len(written)}\n"
        assert written != [] and all((out / p).stat().st_size > 0 for p in written)


class TestReaderBounds:
    """spec/files.py on its own: depth, alias expansion and encoding are bounded and explained."""

    @staticmethod
    def problem(call: Callable[[], object]) -> str:
        with pytest.raises(ConfigError) as caught:
            call()
        assert len(caught.value.problems) == 1
        return str(caught.value.problems[0])

    @pytest.mark.parametrize("style", ["flow", "block"])
    def test_depth_limit_is_exact(self, style: str) -> None:
        def nested(levels: int) -> str:
            return "[" * levels + "]" * levels if style == "flow" else _block(levels)

        assert parse_yaml(nested(MAX_DEPTH), "f.yaml") is not None
        assert "nested deeper than" in self.problem(lambda: parse_yaml(nested(MAX_DEPTH + 1), "f.yaml"))

    def test_shared_aliases_under_the_limit_expand(self) -> None:
        data = parse_yaml(_bomb(levels=3, width=4), "f.yaml")
        assert data["config"]["l2"] == [[["lol"] * 4] * 4] * 4

    def test_alias_bomb_is_refused(self) -> None:
        line = self.problem(lambda: parse_yaml(_bomb(), "Pulumi.uat.yaml"))
        assert line.startswith("Pulumi.uat.yaml: expands to more than")

    def test_json_depth_is_bounded(self) -> None:
        assert parse_json("[" * MAX_DEPTH + "]" * MAX_DEPTH, "o.json") is not None
        assert "nested deeper than" in self.problem(lambda: parse_json("[" * 100_000 + "]" * 100_000, "o.json"))

    def test_utf8_bom_is_accepted(self, tmp_path: Path) -> None:
        path = tmp_path / "f.yaml"
        path.write_bytes(b"\xef\xbb\xbfconfig: {}\n")
        assert read_text(path, "f.yaml") == "config: {}\n"

    def test_non_utf8_names_the_byte(self, tmp_path: Path) -> None:
        path = tmp_path / "f.yaml"
        path.write_bytes(b"config:\n  x: \xff\xfe\n")
        assert self.problem(lambda: read_text(path, "f.yaml")).startswith("f.yaml: is not UTF-8 text (byte 13 is 0xff)")


class TestDamagedParseCache:
    """The parse cache is ours, but a damaged one (a crash mid-copy, a foreign tool) must cost a
    re-parse, never a traceback or a wrong answer."""

    @pytest.mark.parametrize("damage", ["not bytes", "truncated", "wrong shape", "not marshal"])
    def test_status_reads_the_files_again(self, project: Path, damage: str) -> None:
        assert mlops(project, "status", "-s", "integration").code == 0
        path = project / "build" / "cache" / "parsed.marshal"
        version, tag, entries = marshal.loads(path.read_bytes())
        for name, (key, data) in list(entries.items()):
            if damage == "not bytes":
                entries[name] = (key, {"name": "other"})
            elif damage == "truncated":
                entries[name] = (key, data[: len(data) // 2])
            elif damage == "wrong shape":
                entries[name] = key
        written = b"\x00garbage" if damage == "not marshal" else marshal.dumps((version, tag, entries))
        path.write_bytes(written)
        run = mlops(project, "status", "-s", "integration")
        assert "Traceback" not in run.stderr
        assert run.code == 0, run.stderr
        # The cache was rewritten whole: the next command reads it without a problem.
        assert all(isinstance(data, bytes) for _, data in marshal.loads(path.read_bytes())[2].values())
