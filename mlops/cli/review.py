"""`mlops review --base REF`: what the working tree changes in what runs, compared with git ref REF
(a pull request's base), as text, markdown (the pull-request comment) or JSON. The base's project
files are read from git's objects into a temporary directory: nothing is checked out."""

import dataclasses
import json
import subprocess
import tempfile
from pathlib import Path, PurePosixPath
from typing import Annotated, Any

import typer

from mlops.cli.common import EXIT_ERROR, RICH_ROWS, app, fail, print_table, project_root, user_errors

# Besides the stack files and the catalogue, what decides the objects the program declares: its
# `main:` directory (added from Pulumi.yaml), its components, the pure model, its dependencies and
# the source trees images are built from. Only listed: `pulumi preview` shows what they change.
PROGRAM_PATHS = ("components", "spec", "apps", "requirements.txt", "pyproject.toml")
STACK_SECTIONS = (
    ("pins", "Pins"),
    ("settings", "Settings as written (environment and component level)"),
    ("resolved", "Settings as resolved per component (value and level)"),
    ("environment_config", "Environment config"),
    ("worker_groups", "Worker groups"),
    ("config", "Other stack config"),
)
CHANGE_COLUMNS = ["what", "change", "before", "after"]
OBJECT_COLUMNS = ["object", "kind", "change", "fields"]
NO_CHANGE = "No change to what runs."
# A markdown cell: long values are cut (the comment must stay under GitHub's size limit).
CELL_CHARS = 160


@app.command()
@user_errors
def review(
    base: Annotated[
        str, typer.Option("--base", help="The git ref to compare with: the pull request's base (origin/main).")
    ],
    format: Annotated[str, typer.Option("--format", help="text, markdown or json.")] = "text",
) -> None:
    """Everything the working tree changes in what runs, compared with git ref BASE: pins, settings
    at every level, environment config (secrets masked), worker groups, catalogue versions and the
    Kubernetes objects. Exit 0 when reviewed; 2 when an existing catalogue version changed in place
    (versions are immutable) or on error."""
    from mlops.review import Review, compare
    from spec.errors import ConfigError
    from spec.project import read_project_file

    if format not in ("text", "markdown", "json"):
        raise fail(ValueError(f"--format {format!r}: use text, markdown or json"))
    root = project_root()
    commit = resolve_commit(root, base)
    result = Review(base, commit)
    try:
        main = read_project_file(root).get("main")
    except ConfigError:  # reported by compare, with the file and the fix
        main = None
    result.program = program_files(root, commit, main if isinstance(main, str) else None)
    with tempfile.TemporaryDirectory(prefix="mlops-review-") as tmp:
        extract(root, commit, Path(tmp))
        compare(Path(tmp), root, result)
    if format == "json":
        data = dataclasses.asdict(result)
        data.update(changed=result.changed, rejected=bool(result.rejections), affected_stacks=result.affected)
        typer.echo(json.dumps(data, indent=2))
    elif format == "markdown":
        typer.echo(markdown(result))
    else:
        text(result)
    if result.rejections:
        for line in result.rejections:
            typer.echo(line, err=True)
        raise typer.Exit(EXIT_ERROR)


# --------------------------------------------------------------------------- git


def _git(root: Path, *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(["git", *args], cwd=root, input=stdin, capture_output=True, check=False)
    except FileNotFoundError:
        raise fail(RuntimeError("--base: git is not installed: review compares with a git ref")) from None


def resolve_commit(root: Path, ref: str) -> str:
    """The commit `ref` names, or one line saying what to do."""
    if not ref.strip() or ref.startswith("-"):
        raise fail(ValueError(f"--base: '{ref}' is not a git ref: name a branch, tag or commit (origin/main)"))
    if _git(root, "rev-parse", "--show-prefix").returncode != 0:
        raise fail(ValueError(f"--base: {root} is not in a git repository: review compares with a git ref"))
    found = _git(root, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}")
    if found.returncode != 0:
        raise fail(
            ValueError(
                f"--base: '{ref}' is not a commit in this repository: "
                "fetch it first (git fetch --no-tags --depth=1 origin <branch>)"
            )
        )
    return found.stdout.decode().strip()


def extract(root: Path, commit: str, dest: Path) -> None:
    """Write the project's Pulumi.yaml, stack files and catalogue as they are at `commit` into
    `dest`: regular files from git's objects only (no symlinks, nothing outside `dest`)."""
    prefix = _git(root, "rev-parse", "--show-prefix").stdout.decode().strip()
    tree = f"{commit}:{prefix}"
    listing = _git(root, "ls-tree", "-z", tree).stdout + _git(root, "ls-tree", "-r", "-z", tree, "--", "config").stdout
    blobs: list[tuple[str, str]] = []
    for entry in listing.split(b"\0"):
        meta, _, name = entry.decode(errors="replace").partition("\t")
        parts, path = meta.split(), PurePosixPath(name)
        if len(parts) != 3 or parts[:2] not in (["100644", "blob"], ["100755", "blob"]) or ".." in path.parts:
            continue
        stack_or_project = len(path.parts) == 1 and name.startswith("Pulumi.") and name.endswith(".yaml")
        if stack_or_project or (len(path.parts) == 3 and path.parts[:2] == ("config", "components")):
            blobs.append((parts[2], name))
    if not blobs:
        return
    out = _git(root, "cat-file", "--batch", stdin="".join(f"{sha}\n" for sha, _ in blobs).encode()).stdout
    position = 0
    for _, name in blobs:  # each: "<sha> blob <size>\n<content>\n", in the order asked
        header_end = out.index(b"\n", position)
        size = int(out[position:header_end].split()[2])
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(out[header_end + 1 : header_end + 1 + size])
        position = header_end + 1 + size + 1


def program_files(root: Path, commit: str, main: str | None) -> list[str]:
    """Files the program is made of (or builds images from) that differ from `commit`, or are new."""
    paths = [*PROGRAM_PATHS, *([main] if main else [])]
    changed = _git(root, "diff", "--name-only", "-z", "--relative", commit, "--", *paths).stdout
    new = _git(root, "ls-files", "-z", "--others", "--exclude-standard", "--", *paths).stdout  # not yet added
    return sorted({name for name in (changed + b"\0" + new).decode(errors="replace").split("\0") if name})


# --------------------------------------------------------------------------- output


def _rows(changes: list[Any]) -> list[list[str]]:
    return [[c.subject, c.change, c.before, c.after] for c in changes]


def _object_rows(objects: list[Any], limit: int = 8) -> list[list[str]]:
    rows = []
    for r in objects:
        more = f" (+{len(r.fields) - limit} more)" if len(r.fields) > limit else ""
        rows.append([r.object, r.kind, r.status, ", ".join(r.fields[:limit]) + more])
    return rows


def _print(title: str, columns: list[str], rows: list[list[str]]) -> None:
    """print_table, with the files' text shown as written: rich would take "[secret]" for markup."""
    if len(rows) <= RICH_ROWS:
        from rich.markup import escape

        rows = [[escape(value) for value in row] for row in rows]
    print_table(title, columns, rows)


def _listed(names: list[str], limit: int = 40) -> list[str]:
    return names if len(names) <= limit else [*names[:limit], f"... and {len(names) - limit} more"]


def _stack_title(stack: Any) -> str:
    return stack.stack + {"added": " (new stack)", "removed": " (stack removed)"}.get(stack.status, "")


def text(result: Any) -> None:
    from mlops.review import IMMUTABLE

    typer.echo(f"Compared with {result.base} ({result.commit[:12]}).")
    if result.rejections:
        typer.echo(f"REJECTED: {IMMUTABLE}.")
        for line in result.rejections:
            typer.echo(f"  {line}")
    for line in result.problems:
        typer.echo(f"problem: {line}")
    if not result.changed:
        typer.echo(NO_CHANGE)
        return
    if result.project:
        _print("Project settings (Pulumi.yaml, every stack)", CHANGE_COLUMNS, _rows(result.project))
    if result.program:
        typer.echo("Program files changed (what they change shows in `pulumi preview`):")
        for name in _listed(result.program):
            typer.echo(f"  {name}")
    if result.catalogue:
        _print("Catalogue", CHANGE_COLUMNS, _rows(result.catalogue))
    for stack in (s for s in result.stacks if s.changed):
        typer.echo(f"== {_stack_title(stack)}")
        for problem in stack.problems:
            typer.echo(f"does not validate: {problem}")
        for key, title in STACK_SECTIONS:
            if getattr(stack, key):
                _print(f"{stack.stack}: {title}", CHANGE_COLUMNS, _rows(getattr(stack, key)))
        if stack.objects:
            _print(f"{stack.stack}: Kubernetes objects and node pools", OBJECT_COLUMNS, _object_rows(stack.objects))
    same = [s.stack for s in result.stacks if not s.changed]
    if same:
        typer.echo(f"No change to what runs in: {', '.join(same)}.")


def cell(value: str) -> str:
    """A markdown table cell: one line, no table or HTML syntax from the files (a value must not
    end the table, nor fake the comment's hidden marker), cut at CELL_CHARS."""
    value = " ".join(str(value).split())
    if len(value) > CELL_CHARS:
        value = value[: CELL_CHARS - 1] + "…"
    return value.replace("\\", "\\\\").replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


def _table(columns: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    return lines + ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows] + [""]


def markdown(result: Any) -> str:
    from mlops.review import IMMUTABLE

    lines = ["### What this pull request changes in what runs", ""]
    lines += [f"Compared with `{cell(result.base)}` ({result.commit[:12]}).", ""]
    if result.rejections:
        lines += [f"**Rejected: {IMMUTABLE}.**", ""] + [f"- {cell(r)}" for r in result.rejections] + [""]
    if result.problems:
        lines += ["**Problems:**", ""] + [f"- {cell(p)}" for p in result.problems] + [""]
    if not result.changed:
        return "\n".join([*lines, NO_CHANGE])
    if result.project:
        lines += [
            "#### Project settings (`Pulumi.yaml`, every stack)",
            "",
            *_table(CHANGE_COLUMNS, _rows(result.project)),
        ]
    if result.program:
        lines += ["#### Program files changed", "", "What they change shows in `pulumi preview`:", ""]
        lines += [f"- `{cell(name)}`" for name in _listed(result.program)] + [""]
    if result.catalogue:
        lines += ["#### Catalogue", "", *_table(CHANGE_COLUMNS, _rows(result.catalogue))]
    for stack in (s for s in result.stacks if s.changed):
        lines += [f"#### `{cell(_stack_title(stack))}`", ""]
        lines += [f"> **Does not validate:** {cell(p)}" for p in stack.problems] + [""] * bool(stack.problems)
        for key, title in STACK_SECTIONS:
            if getattr(stack, key):
                lines += [f"**{title}**", "", *_table(CHANGE_COLUMNS, _rows(getattr(stack, key)))]
        if stack.objects:
            lines += ["**Kubernetes objects and node pools**", "", *_table(OBJECT_COLUMNS, _object_rows(stack.objects))]
    same = [f"`{cell(s.stack)}`" for s in result.stacks if not s.changed]
    if same:
        lines.append(f"No change to what runs in: {', '.join(same)}.")
    return "\n".join(lines).rstrip() + "\n"
