"""The one CLI convention (recordings.cli): every family's bad input ends in one line on stderr and exit code 2,
never a traceback; the agent flags mean the same before and after a subcommand; export takes the same session
filters as list; and the rooms below the faces import nothing of sii (DESIGN.md's rule)."""

from __future__ import annotations

import argparse
import ast
import importlib
import json
import time
from pathlib import Path

import pytest

from recordings.cli import EXIT_ERROR, EXIT_INTERRUPTED, reports
from recordings.store import recordings_dir
from sii.agent_flags import settings_from_args
from sii.cli import FAMILIES, build_parser, main, parse_args
from tests.test_curation import DAY, record, three_sessions

ROOT = Path(__file__).resolve().parent.parent
LOWER_ROOMS = ("finetune", "tools", "recordings", "model_server")


def one_error_line(capsys: pytest.CaptureFixture, argv: list[str]) -> str:
    """Runs `sii ARGV` in this process (a traceback would fail the test) and returns its one stderr line."""
    assert main(argv) == EXIT_ERROR
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


@pytest.fixture
def sessions(sii_home: Path) -> Path:
    now = time.time()
    folder = three_sessions(sii_home, now)
    record(folder, "s-odd", label="unknown", started=now - 3 * DAY, model="third", tokens=9_000)
    return folder


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["-r", "nope", "-p", "hi"], "sii: error: no session match 'nope'"),
        (["-c", "-p", "hi"], "sii: error: no earlier session in"),
        (["serve", "{tmp}/no-model"], "sii serve: error: no model folder"),
        (["eval", "run"], "sii eval: error: give task files or folders to run"),
        (["eval", "run", "{tmp}/missing.json"], "sii eval: error:"),
        (["eval", "run", "--official", "{tmp}/no-scenario", "x"], "sii eval: error: give --official SCENARIO_DIR"),
        (["eval", "compare", "{tmp}/a", "{tmp}/b"], "sii eval: error:"),
        (["tasks", "import", "{tmp}/missing.jsonl"], "sii tasks: error:"),
        (["tasks", "show", "nope"], "sii tasks: error:"),
        (["tasks", "add", "   "], "sii tasks: error: the query is empty"),
        (["annotate", "--task", "nope"], "sii annotate: error:"),
        (["finetune", "--model-dir", "{tmp}"], "sii finetune: error:"),
        (["recordings", "show", "nope"], "sii recordings: error: no session match 'nope'"),
        (["recordings", "label", "nope", "success"], "sii recordings: error: no session match 'nope'"),
        (["recordings", "export", "--max-length", "5"], "sii recordings: error: --max-length needs --tokenizer"),
        (["recordings", "import", "--dir", "{tmp}/nowhere"], "sii recordings: error: no directory"),
        (["recordings", "view", "nope"], "sii recordings: error: no session match 'nope'"),
    ],
)
def test_every_family_reports_bad_input_in_one_line_with_exit_2(
    argv: list[str], expected: str, sii_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    recordings_dir(sii_home).mkdir(parents=True)
    line = one_error_line(capsys, [arg.replace("{tmp}", str(tmp_path)) for arg in argv])
    assert line.startswith(expected), line


def test_a_message_over_several_lines_and_its_notes_become_one_line(capsys: pytest.CaptureFixture) -> None:
    @reports("demo")
    def failing(args: argparse.Namespace) -> int:
        error = ValueError("first\nsecond\r\nthird")
        error.add_note("(a hint)")
        raise error

    assert failing(argparse.Namespace()) == EXIT_ERROR
    assert capsys.readouterr().err == "sii demo: error: first second third (a hint)\n"


def test_ctrl_c_exits_130_with_its_hint_and_a_bug_keeps_its_traceback(capsys: pytest.CaptureFixture) -> None:
    @reports("demo", "tests.test_cli_convention.Declared", interrupted="run it again")
    def handler(args: argparse.Namespace) -> int:
        raise args.error

    assert handler(argparse.Namespace(error=KeyboardInterrupt())) == EXIT_INTERRUPTED
    assert capsys.readouterr().err == "\nsii demo: interrupted; run it again\n"
    assert handler(argparse.Namespace(error=Declared("declared"))) == EXIT_ERROR
    assert handler(argparse.Namespace(error=FileNotFoundError(2, "No such file", "x"))) == EXIT_ERROR
    with pytest.raises(RuntimeError, match="a bug"):  # not a user's error: the traceback is the report
        handler(argparse.Namespace(error=RuntimeError("a bug")))


class Declared(Exception):
    """An error a family declares by its qualified name."""


def leaf_parsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    """Every parser of a complete command (one without subcommands of its own)."""
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in dict.fromkeys(action.choices.values()):
                found += leaf_parsers(child) or [child]
    return found


def test_every_command_registers_a_handler_behind_the_one_decorator() -> None:
    parser = build_parser()
    leaves = leaf_parsers(parser)
    assert len(leaves) >= 22
    for leaf in [parser, *leaves]:
        handler = leaf.get_default("handler")
        assert callable(handler) and hasattr(handler, "__wrapped__"), leaf.prog  # functools.wraps by `reports`
    names = [
        name for action in parser._actions if isinstance(action, argparse._SubParsersAction) for name in action.choices
    ]
    assert names == list(FAMILIES)


def test_every_declared_error_names_an_exception_class() -> None:
    """A family names the errors of higher rooms by string (recordings.cli): a typo would let them escape."""
    modules = [importlib.import_module(name) for name in {"sii.cli", *FAMILIES.values()}]
    declared = [name for module in modules for name in getattr(module, "ERRORS", ())]
    assert len(declared) >= 10
    for name in declared:
        where, _, cls = name.rpartition(".")
        assert issubclass(getattr(importlib.import_module(where), cls), Exception), name


@pytest.mark.parametrize(
    "flags",
    [
        ["--base-url", "http://127.0.0.1:9/v1", "--model", "m1"],
        ["--yolo", "--max-steps", "7", "--sandbox"],
        ["--mode", "plan", "--allowed-tools", "read_file,grep", "--disallowed-tools", "grep"],
        ["--append-system-prompt", "be brief", "--trust-project-mcp", "-C", "."],
    ],
)
@pytest.mark.parametrize("command", [["annotate"], ["eval", "run"], ["config"]])
def test_agent_flags_mean_the_same_before_and_after_the_subcommand(
    command: list[str], flags: list[str], sii_home: Path
) -> None:
    before, after = parse_args([*flags, *command]), parse_args([*command, *flags])
    plain = parse_args(command)
    assert settings_from_args(before) == settings_from_args(after) != settings_from_args(plain)


def test_a_flag_after_the_subcommand_wins_over_the_one_before(sii_home: Path) -> None:
    args = parse_args(["--model", "outer", "--max-steps", "3", "annotate", "--model", "inner"])
    settings = settings_from_args(args)
    assert (settings.model, settings.max_steps) == ("inner", 3)


def manifest_ids(out: Path) -> set[str]:
    return {
        entry["session_id"] for entry in json.loads(out.with_name(out.name + ".manifest.json").read_text())["samples"]
    }


@pytest.mark.parametrize(
    "filters",
    [
        [],
        ["--label", "none"],
        ["--label", "success"],
        ["--label", "fail"],
        ["--label", "unknown"],
        ["--model", "other"],
        ["--model", "other", "--model", "third"],
        ["--since", time.strftime("%Y-%m-%d", time.localtime(time.time() - 2 * DAY))],
        ["--until", time.strftime("%Y-%m-%d", time.localtime(time.time() - 2 * DAY))],
        ["--repo", "/work/api"],
        ["--min-tokens", "30000"],
        ["--max-tokens", "10000"],
        ["--min-tokens", "5000", "--max-tokens", "100000", "--label", "success"],
        ["--tool", "run_shell"],
        ["--tag", "frontend"],
        ["--tag", "nothing-has-it"],
    ],
)
def test_export_selects_exactly_the_sessions_list_shows(
    filters: list[str], sessions: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    assert main(["recordings", "list", "--json", *filters]) == 0
    listed = {summary["session_id"] for summary in json.loads(capsys.readouterr().out)}
    out = tmp_path / "out.jsonl"
    assert main(["recordings", "export", "--out", str(out), "--no-dedupe", *filters]) == 0
    assert manifest_ids(out) == listed
    left_out = 4 - len(listed)
    summary = capsys.readouterr().err
    assert (f"{left_out} left out by the session filters" in summary) == bool(left_out), summary


@pytest.mark.parametrize("old", [["--label", "unlabelled"], ["--label", "all"], ["--label"]])
def test_export_refuses_the_old_label_spellings(old: list[str], sessions: Path, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["recordings", "export", *old])
    assert stopped.value.code == EXIT_ERROR and "--label" in capsys.readouterr().err


def sii_imports(path: Path) -> list[str]:
    """The sii modules a file imports, at its top or inside a function, plus any it loads by name."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append(node.module)
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) in (
            "import_module",
            "__import__",
        ):
            found += [arg.value for arg in node.args if isinstance(arg, ast.Constant) and isinstance(arg.value, str)]
    return [name for name in found if name == "sii" or name.startswith("sii.")]


def test_the_rooms_below_the_faces_import_nothing_of_sii() -> None:
    files = [path for room in LOWER_ROOMS for path in sorted((ROOT / room).rglob("*.py"))]
    assert len(files) > 40 and any(path.name == "commands.py" for path in files)
    upward = {str(path.relative_to(ROOT)): names for path in files if (names := sii_imports(path))}
    assert upward == {}


def test_the_import_scan_sees_every_way_of_importing(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text(
        "import sii\nimport os, sii.config as c\nfrom sii.session import Session\n"
        "def f():\n    from sii import cli\n    import importlib\n    importlib.import_module('sii.repl')\n"
        "    __import__('sii.bridge')\nfrom . import sibling\nimport siix\n"
    )
    assert sorted(sii_imports(probe)) == ["sii", "sii", "sii.bridge", "sii.config", "sii.repl", "sii.session"]
