"""The docs cannot rot: their code parses, names what exists, and the site builds.

Python blocks are checked after their snippet includes (``--8<-- "file:section"``)
are expanded, so an included file is held to the same rules as inline code. A
block that is deliberately not valid Python is preceded by ``<!-- fragment -->``.
"""

from __future__ import annotations

import argparse
import ast
import importlib
import importlib.util
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.core.management import get_commands, load_command_class

from djobs.conf import DEFAULTS

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.rglob("*.md"))

FENCE = re.compile(r"^(?P<indent> *)```(?P<lang>[\w-]*)[^\n]*\n(?P<body>.*?)^(?P=indent)```", re.M | re.S)
SNIPPET = re.compile(r'^\s*--8<--\s+"(?P<target>[^"]+)"\s*$', re.M)
FRAGMENT = "<!-- fragment -->"
DJOBS_KEY = re.compile(r"""DJOBS\[["'](?P<key>\w+)["']\]""")
MANAGE = re.compile(r"manage\.py\s+(?P<rest>[^`\n|]*)")
# Other projects' commands the docs name on purpose (the django.tasks migration table).
FOREIGN_COMMANDS = {"db_worker"}


@dataclass(frozen=True)
class Block:
    page: Path
    line: int
    lang: str
    code: str
    fragment: bool

    def __str__(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def section(text: str, name: str, target: str) -> str:
    """Return the lines between ``--8<-- [start:name]`` and ``--8<-- [end:name]``."""
    start = re.search(rf"^.*--8<-- \[start:{re.escape(name)}\].*\n", text, re.M)
    end = re.search(rf"^.*--8<-- \[end:{re.escape(name)}\].*$", text, re.M)
    if not start or not end or end.start() < start.end():
        raise AssertionError(f"snippet {target!r}: no section {name!r}; add the [start:]/[end:] markers")
    return text[start.end() : end.start()]


def resolve_snippet(target: str) -> str:
    """Return the text a ``--8<-- "target"`` line includes, as pymdownx.snippets does."""
    path, *selector = target.split(":")
    file = ROOT / path
    if not file.is_file():
        raise AssertionError(
            f"snippet {target!r}: {path} does not exist (paths are relative to the repository)"
        )
    text = file.read_text()
    if not selector:
        return text
    if len(selector) == 1 and not selector[0].isdigit():
        return section(text, selector[0], target)
    lines = text.splitlines(keepends=True)
    first = int(selector[0] or 1)
    last = int(selector[1]) if len(selector) > 1 and selector[1] else len(lines)
    return "".join(lines[first - 1 : last])


def strip_markers(text: str) -> str:
    return re.sub(r"^.*--8<-- \[(start|end):\w+\].*\n?", "", text, flags=re.M)


def expand(match: re.Match[str]) -> str:
    """Inline an include; a broken one is left as is for the snippet test to report."""
    try:
        return strip_markers(resolve_snippet(match["target"]))
    except AssertionError:
        return match[0]


def blocks() -> Iterator[Block]:
    for page in PAGES:
        text = page.read_text()
        for match in FENCE.finditer(text):
            before = text[: match.start()].rstrip()
            indent = len(match["indent"])
            body = "\n".join(line[indent:] for line in match["body"].splitlines())
            code = SNIPPET.sub(expand, body)
            yield Block(
                page=page,
                line=text.count("\n", 0, match.start()) + 1,
                lang=match["lang"],
                code=code,
                fragment=before.endswith(FRAGMENT),
            )


PYTHON = [b for b in blocks() if b.lang in ("python", "py", "pycon") and not b.fragment]


def tree(block: Block) -> ast.AST:
    """Parse a block; one that does not parse is reported by the parse test alone."""
    try:
        return ast.parse(block.code)
    except SyntaxError:
        pytest.skip(f"{block} does not parse")


def test_the_docs_have_pages_and_python_blocks() -> None:
    assert len(PAGES) > 10 and len(PYTHON) > 20


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(DOCS)))
def test_every_snippet_include_names_a_file_and_section_that_exist(page: Path) -> None:
    for match in SNIPPET.finditer(page.read_text()):
        assert resolve_snippet(match["target"]).strip(), f"{page}: snippet {match['target']!r} is empty"


@pytest.mark.parametrize("block", PYTHON, ids=str)
def test_every_python_block_parses(block: Block) -> None:
    try:
        ast.parse(block.code)
    except SyntaxError as exc:
        pytest.fail(f"{block}: {exc.msg} at block line {exc.lineno}; fix it or mark it {FRAGMENT}")


def djobs_imports(tree: ast.AST) -> Iterator[tuple[str, str | None]]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from ((a.name, None) for a in node.names if a.name.split(".")[0] == "djobs")
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "djobs":
            yield from ((node.module, a.name) for a in node.names)


@pytest.mark.parametrize("block", PYTHON, ids=str)
def test_every_djobs_import_in_the_docs_resolves(block: Block) -> None:
    for module_name, name in djobs_imports(tree(block)):
        module = importlib.import_module(module_name)
        if name is None or name == "*" or hasattr(module, name):
            continue
        try:
            importlib.import_module(f"{module_name}.{name}")
        except ModuleNotFoundError:
            pytest.fail(f"{block}: `from {module_name} import {name}`: {module_name} has no {name!r}")


def djobs_setting_keys() -> Iterator[tuple[str, str]]:
    for block in PYTHON:
        try:
            parsed = ast.parse(block.code)
        except SyntaxError:
            continue
        for node in ast.walk(parsed):
            if (
                isinstance(node, ast.Assign)
                and any(isinstance(t, ast.Name) and t.id == "DJOBS" for t in node.targets)
                and isinstance(node.value, ast.Dict)
            ):
                for key in node.value.keys:
                    if isinstance(key, ast.Constant) and isinstance(key.value, str):
                        yield str(block), key.value
    for page in PAGES:
        for match in DJOBS_KEY.finditer(page.read_text()):
            yield str(page.relative_to(ROOT)), match["key"]


def test_every_djobs_setting_named_in_the_docs_exists() -> None:
    unknown = [f"{where}: {key}" for where, key in djobs_setting_keys() if key not in DEFAULTS]
    assert not unknown, f"DJOBS keys not in djobs.conf.DEFAULTS: {unknown}"


def command_options(parser: argparse.ArgumentParser) -> tuple[set[str], dict[str, argparse.ArgumentParser]]:
    options = {s for action in parser._actions for s in action.option_strings}
    subcommands: dict[str, argparse.ArgumentParser] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            subcommands.update(action.choices)
    return options, subcommands


def manage_py_mentions() -> Iterator[tuple[str, list[str]]]:
    for page in PAGES:
        for match in MANAGE.finditer(page.read_text()):
            try:
                words = shlex.split(match["rest"], comments=True)
            except ValueError:
                words = match["rest"].split()
            if words and re.fullmatch(r"[a-z][a-z_]*", words[0]):
                yield str(page.relative_to(ROOT)), words


def test_every_manage_py_command_and_option_in_the_docs_exists() -> None:
    commands = get_commands()
    problems = []
    for where, (name, *words) in manage_py_mentions():
        if name in FOREIGN_COMMANDS:
            continue
        if name not in commands:
            problems.append(f"{where}: manage.py {name}: no such command")
            continue
        options, subcommands = command_options(
            load_command_class(commands[name], name).create_parser("manage.py", name)
        )
        if subcommands and words and not words[0].startswith("-") and words[0] not in subcommands:
            problems.append(f"{where}: manage.py {name} {words[0]}: no such subcommand")
        for word in words:
            if word in subcommands:
                sub_options, _ = command_options(subcommands[word])
                options |= sub_options
                subcommands = {}
            elif word.startswith("-") and word.split("=")[0] not in options:
                problems.append(
                    f"{where}: manage.py {name} {' '.join(words)}: no option {word.split('=')[0]}"
                )
    assert not problems, "\n".join(problems)


@pytest.mark.skipif(importlib.util.find_spec("mkdocs") is None, reason="mkdocs is in the dev extra")
def test_the_site_builds_with_warnings_as_errors(tmp_path: Path) -> None:
    build = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert build.returncode == 0, build.stderr


def test_every_test_the_docs_name_as_proof_exists() -> None:
    defined = set()
    for test_file in (ROOT / "tests").glob("test_*.py"):
        defined |= set(re.findall(r"^def (test_\w+)", test_file.read_text(), re.M))
    named = {
        (str(page.relative_to(ROOT)), name)
        for page in PAGES
        for name in re.findall(r"`(?:tests/test_\w+\.py::)?(test_\w+)`", page.read_text())
    }
    missing = sorted(f"{where}: {name}" for where, name in named if name not in defined)
    assert not missing, f"tests named in the docs that do not exist: {missing}"


def test_every_test_file_the_docs_name_exists() -> None:
    missing = sorted(
        f"{page.relative_to(ROOT)}: {path}"
        for page in PAGES
        for path in re.findall(r"`(tests/[\w/]+\.py)", page.read_text())
        if not (ROOT / path).is_file()
    )
    assert not missing, f"test files named in the docs that do not exist: {missing}"


def test_every_djobs_setting_is_documented_in_the_settings_reference() -> None:
    reference = (DOCS / "reference" / "settings.md").read_text()
    assert not [key for key in DEFAULTS if f"`{key}`" not in reference]


def test_the_system_checks_the_docs_list_are_the_ones_the_code_raises() -> None:
    check_id = re.compile(r"djobs(?:\.\w+)?\.[EW]\d{3}")
    in_docs = {i for page in PAGES for i in check_id.findall(page.read_text())}
    in_code = {i for f in (ROOT / "djobs").rglob("*.py") for i in check_id.findall(f.read_text())}
    assert in_docs == in_code, f"only in docs: {in_docs - in_code}; only in code: {in_code - in_docs}"
