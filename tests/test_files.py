"""The file tools on real files: apply_patch, undo_edit, list_directory, read_file limits, path confinement,
and property tests that edits and patches can be reversed exactly."""

from __future__ import annotations

import difflib
import os
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from tools import Observation, ToolContext, ToolRegistry
from tools.files import (
    APPLY_PATCH,
    EDIT_FILE,
    LIST_DIRECTORY,
    MAX_READ_BYTES,
    MAX_READ_CHARS,
    READ_FILE,
    UNDO_EDIT,
    WRITE_FILE,
)
from tools.patch import AddFile, DeleteFile, PatchError, UpdateFile, apply_operations, parse_patch, split_lines

FILE_TOOLS = ToolRegistry([READ_FILE, WRITE_FILE, EDIT_FILE, APPLY_PATCH, UNDO_EDIT, LIST_DIRECTORY])


def run(ctx: ToolContext, name: str, **arguments) -> Observation:
    return FILE_TOOLS.dispatch(name, arguments, ctx)


def patch(*lines: str) -> str:
    return "\n".join(["*** Begin Patch", *lines, "*** End Patch"]) + "\n"


def update_patch(path: str, before: str, after: str, context: int) -> str:
    """An Update File patch turning `before` into `after`, one hunk per difflib group of changes."""
    old, new = split_lines(before)[0], split_lines(after)[0]
    lines = [f"*** Update File: {path}"]
    for group in difflib.SequenceMatcher(None, old, new, autojunk=False).get_grouped_opcodes(context):
        lines.append("@@")
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                lines += [f" {line}" for line in old[i1:i2]]
            else:
                lines += [f"-{line}" for line in old[i1:i2]] + [f"+{line}" for line in new[j1:j2]]
    return patch(*lines)


# --- apply_patch --------------------------------------------------------------------------------------------


def test_apply_patch_adds_updates_deletes_and_moves_in_one_go(ctx: ToolContext) -> None:
    root = ctx.workspace
    (root / "old.txt").write_text("bye\n")
    (root / "pkg").mkdir()
    (root / "pkg" / "util.py").write_text("def helper():\n    return 1\n")
    obs = run(
        ctx,
        "apply_patch",
        patch=patch(
            "*** Add File: docs/notes.md",
            "+# Notes",
            "+",
            "+written by a patch",
            "*** Update File: calc.py",
            "@@ def add(a, b):",
            "-    return a - b",
            "+    return a + b",
            "*** Delete File: old.txt",
            "*** Update File: pkg/util.py",
            "*** Move to: pkg/helpers.py",
            " def helper():",
            "-    return 1",
            "+    return 2",
        ),
    )
    assert not obs.is_error, obs.text
    assert (root / "docs" / "notes.md").read_text() == "# Notes\n\nwritten by a patch\n"
    assert (root / "calc.py").read_text() == "def add(a, b):\n    return a + b\n"
    assert not (root / "old.txt").exists() and not (root / "pkg" / "util.py").exists()
    assert (root / "pkg" / "helpers.py").read_text() == "def helper():\n    return 2\n"
    assert obs.text.splitlines() == [
        "Applied the patch:",
        "  A docs/notes.md (+3 -0)",
        "  M calc.py (+1 -1)",
        "  D old.txt (+0 -1)",
        "  R pkg/util.py -> pkg/helpers.py (+1 -1)",
    ]
    diff = obs.data["diff"]
    assert "+++ b/docs/notes.md" in diff and "+    return a + b" in diff and "-bye" in diff
    assert "--- a/pkg/util.py\n+++ b/pkg/helpers.py" in diff
    assert APPLY_PATCH.mutates


def test_a_failing_hunk_changes_no_file(ctx: ToolContext) -> None:
    root = ctx.workspace
    (root / "other.py").write_text("alpha = 1\nbeta = 2\ngamma = 3\n")
    snapshot = {path: path.read_bytes() for path in root.rglob("*") if path.is_file() and ".git" not in path.parts}
    obs = run(
        ctx,
        "apply_patch",
        patch=patch(
            "*** Add File: brand_new.py",
            "+x = 1",
            "*** Update File: calc.py",
            "-    return a - b",
            "+    return a + b",
            "*** Delete File: .gitignore",
            "*** Update File: other.py",
            " alpha = 1",
            "-beta = 20",
            "+beta = 3",
        ),
    )
    assert obs.is_error
    assert obs.text.startswith("Error: the patch was not applied and no file was changed: in other.py, hunk 1")
    assert "  |beta = 20" in obs.text and "Nearest lines in other.py" in obs.text
    assert "     2\tbeta = 2" in obs.text
    after = {path: path.read_bytes() for path in root.rglob("*") if path.is_file() and ".git" not in path.parts}
    assert after == snapshot
    assert ctx.undo == {}


def test_a_failing_write_puts_back_the_files_already_written(ctx: ToolContext) -> None:
    # calc.py is a file, so creating calc.py/inner.py fails after notes.txt was already written.
    (ctx.workspace / "notes.txt").write_text("one\n")
    obs = run(
        ctx,
        "apply_patch",
        patch=patch("*** Update File: notes.txt", "-one", "+two", "*** Add File: calc.py/inner.py", "+x = 1"),
    )
    assert obs.is_error and "could not write calc.py/inner.py" in obs.text and "restored" in obs.text
    assert (ctx.workspace / "notes.txt").read_text() == "one\n"
    assert (ctx.workspace / "calc.py").read_text() == "def add(a, b):\n    return a - b\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("*** Update File: calc.py\n-x\n+y", "must start with '*** Begin Patch'"),
        ("*** Begin Patch\n*** Update File: calc.py\n-x\n+y", "must end with '*** End Patch'"),
        (patch(), "no file operations"),
        (patch("hello"), "expected '*** Add File: '"),
        (patch("*** Update File: calc.py"), "has no hunks"),
        (patch("*** Update File: calc.py", "-def add(a, b):", "oops"), "unexpected line in the hunk"),
        (patch("*** Add File: x.py", "no plus"), "must start with '+'"),
        (patch("*** Add File: calc.py", "+x"), "calc.py already exists"),
        (patch("*** Delete File: missing.py"), "missing.py does not exist"),
        (patch("*** Update File: missing.py", "-a", "+b"), "missing.py does not exist"),
        (patch("*** Update File: calc.py", "*** Move to: .gitignore", " def add(a, b):"), "already exists"),
        (patch("*** Update File: calc.py", "@@ def sub(a, b):", "-x", "+y"), "@@ context line did not match"),
        (patch("*** Delete File: ."), "workspace root"),
        (patch("*** Add File: ../escape.py", "+x"), "outside the workspace"),
        (patch("*** Update File: calc.py", "*** Move to: ../moved.py", " def add(a, b):"), "outside the workspace"),
        (patch("*** Add File: ", "+x"), "needs a path"),
    ],
)
def test_apply_patch_errors_are_clear(ctx: ToolContext, text: str, message: str) -> None:
    obs = run(ctx, "apply_patch", patch=text)
    assert obs.is_error and message in obs.text, obs.text
    assert (ctx.workspace / "calc.py").read_text() == "def add(a, b):\n    return a - b\n"
    assert not (ctx.workspace.parent / "escape.py").exists() and not (ctx.workspace.parent / "moved.py").exists()


def test_apply_patch_matching_is_forgiving_only_at_line_ends(ctx: ToolContext) -> None:
    (ctx.workspace / "ws.py").write_text("x = 1   \ny = 2\t\n")
    obs = run(ctx, "apply_patch", patch=patch("*** Update File: ws.py", " x = 1", "-y = 2", "+y = 3"))
    assert not obs.is_error, obs.text
    assert (ctx.workspace / "ws.py").read_text() == "x = 1   \ny = 3\n"
    indented = run(ctx, "apply_patch", patch=patch("*** Update File: ws.py", "-  y = 3", "+y = 4"))
    assert indented.is_error and "did not match" in indented.text


def test_apply_patch_context_line_end_of_file_and_crlf(ctx: ToolContext) -> None:
    (ctx.workspace / "dup.py").write_text("def a():\n    pass\n\ndef b():\n    pass\n\nx = 1\nx = 1\n")
    obs = run(
        ctx,
        "apply_patch",
        patch=patch(
            "*** Update File: dup.py",
            "@@ def b():",
            "-    pass",
            "+    return 2",
            "@@",
            "-x = 1",
            "+x = 2",
            "*** End of File",
        ),
    )
    assert not obs.is_error, obs.text
    assert (ctx.workspace / "dup.py").read_text() == "def a():\n    pass\n\ndef b():\n    return 2\n\nx = 1\nx = 2\n"
    (ctx.workspace / "win.txt").write_bytes(b"one\r\ntwo\r\nthree\r\n")
    assert not run(ctx, "apply_patch", patch=patch("*** Update File: win.txt", " one", "-two", "+2")).is_error
    assert (ctx.workspace / "win.txt").read_bytes() == b"one\r\n2\r\nthree\r\n"


def test_apply_patch_accepts_diff_ranges_blank_separators_and_missing_final_newline(ctx: ToolContext) -> None:
    (ctx.workspace / "nonl.txt").write_text("a\nb\nc")
    text = patch(
        "*** Update File: nonl.txt",
        "@@ -1,2 +1,2 @@",
        " a",
        "-b",
        "+B",
        "",
        "*** Update File: calc.py",
        "@@ -1,2 +1,2 @@ def add(a, b):",
        "-    return a - b",
        "+    return a + b",
    )
    obs = run(ctx, "apply_patch", patch=text)
    assert not obs.is_error, obs.text
    assert (ctx.workspace / "nonl.txt").read_text() == "a\nB\nc"
    assert "a + b" in (ctx.workspace / "calc.py").read_text()


def test_parse_and_apply_are_pure_functions() -> None:
    operations = parse_patch(
        patch(
            "*** Add File: a.txt",
            "+1",
            "*** Update File: b.txt",
            "*** Move to: c.txt",
            "-x",
            "+y",
            "*** Delete File: d",
        )
    )
    assert [type(op) for op in operations] == [AddFile, UpdateFile, DeleteFile]
    files = {"a.txt": None, "b.txt": "x\n", "c.txt": None, "d": "gone\n"}
    result = apply_operations(operations, files)
    assert result == {"a.txt": "1\n", "b.txt": None, "c.txt": "y\n", "d": None}
    assert files["b.txt"] == "x\n"
    with pytest.raises(PatchError, match="hunk 1"):
        apply_operations(parse_patch(patch("*** Update File: b.txt", "-nope")), files)


# --- property tests -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def scratch() -> Iterator[ToolContext]:
    with tempfile.TemporaryDirectory() as directory:
        context = ToolContext(workspace=Path(directory))
        yield context
        context.close()


# Small, quick and without an examples database written into the checkout; the fixture is module-scoped.
PROPERTY = settings(
    max_examples=50, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
TEXT = st.text(alphabet="ab \n\t{}", max_size=40)
SNIPPET = st.text(alphabet="ab \n\t{}", min_size=1, max_size=8)


def _occurs_once(text: str, part: str) -> bool:
    first = text.find(part)
    return first != -1 and text.find(part, first + 1) == -1


@PROPERTY
@given(prefix=TEXT, old=SNIPPET, suffix=TEXT, new=SNIPPET)
def test_edit_then_reverse_edit_restores_the_file(
    scratch: ToolContext, prefix: str, old: str, suffix: str, new: str
) -> None:
    original = prefix + old + suffix
    edited = prefix + new + suffix
    assume(old != new and _occurs_once(original, old) and _occurs_once(edited, new))
    path = scratch.workspace / "prop.txt"
    path.write_text(original)
    forward = FILE_TOOLS.dispatch("edit_file", {"path": "prop.txt", "old_string": old, "new_string": new}, scratch)
    assert not forward.is_error and path.read_text() == edited
    back = FILE_TOOLS.dispatch("edit_file", {"path": "prop.txt", "old_string": new, "new_string": old}, scratch)
    assert not back.is_error and path.read_text() == original
    FILE_TOOLS.dispatch("undo_edit", {"path": "prop.txt"}, scratch)
    assert path.read_text() == edited
    FILE_TOOLS.dispatch("undo_edit", {"path": "prop.txt"}, scratch)
    assert path.read_text() == original


LINE = st.text(alphabet="ab +-*@\t", max_size=5)
NEW_LINE = st.text(alphabet="PQ", min_size=1, max_size=4)


def _ends_with_newline(text: str) -> bool:
    return text == "" or text.endswith("\n")


@PROPERTY
@given(data=st.data())
def test_patch_then_reverse_patch_restores_the_file(scratch: ToolContext, data: st.DataObject) -> None:
    # Lines are unique so that every hunk has exactly one place to go, as a real patch's context provides.
    before_lines = data.draw(st.lists(LINE, unique=True, max_size=12))
    kept = [line for line in before_lines if data.draw(st.booleans())]
    for line in data.draw(st.lists(NEW_LINE, unique=True, max_size=6)):
        kept.insert(data.draw(st.integers(0, len(kept))), line)
    newline = data.draw(st.booleans())
    before = "\n".join(before_lines) + ("\n" if newline and before_lines else "")
    after = "\n".join(kept) + ("\n" if newline and kept else "")
    assume(before != after and _ends_with_newline(before) == _ends_with_newline(after))
    context = data.draw(st.integers(1, 3))
    path = scratch.workspace / "prop.py"
    path.write_text(before)
    forward = FILE_TOOLS.dispatch("apply_patch", {"patch": update_patch("prop.py", before, after, context)}, scratch)
    assert not forward.is_error, forward.text
    assert path.read_text() == after
    back = FILE_TOOLS.dispatch("apply_patch", {"patch": update_patch("prop.py", after, before, context)}, scratch)
    assert not back.is_error, back.text
    assert path.read_text() == before


# --- undo_edit ----------------------------------------------------------------------------------------------


def test_edit_file_counts_overlapping_matches_as_ambiguous(ctx: ToolContext) -> None:
    (ctx.workspace / "aaa.txt").write_text("aaa")
    obs = run(ctx, "edit_file", path="aaa.txt", old_string="aa", new_string="b")
    assert obs.is_error and "occurs 2 times" in obs.text
    assert not run(ctx, "edit_file", path="aaa.txt", old_string="aa", new_string="b", replace_all=True).is_error
    assert (ctx.workspace / "aaa.txt").read_text() == "ba"


def test_undo_walks_back_through_every_kind_of_write(ctx: ToolContext) -> None:
    new = ctx.workspace / "notes.txt"
    run(ctx, "write_file", path="notes.txt", content="one\n")
    run(ctx, "edit_file", path="notes.txt", old_string="one", new_string="two")
    run(ctx, "apply_patch", patch=patch("*** Update File: notes.txt", "-two", "+three"))
    assert new.read_text() == "three\n"
    first = run(ctx, "undo_edit", path="notes.txt")
    assert not first.is_error and new.read_text() == "two\n"
    assert "-three" in first.data["diff"] and "+two" in first.data["diff"]
    assert "2 earlier edits" in first.text
    assert run(ctx, "undo_edit", path="./notes.txt").data["diff"].count("+one") == 1
    last = run(ctx, "undo_edit", path="notes.txt")
    assert "deleted it" in last.text and not new.exists()
    nothing = run(ctx, "undo_edit", path="notes.txt")
    assert nothing.is_error and "nothing to undo" in nothing.text
    assert all(tool.mutates for tool in (WRITE_FILE, EDIT_FILE, APPLY_PATCH, UNDO_EDIT))
    assert not READ_FILE.mutates and not LIST_DIRECTORY.mutates


def test_undo_reverses_a_patch_file_by_file(ctx: ToolContext) -> None:
    root = ctx.workspace
    run(ctx, "apply_patch", patch=patch("*** Update File: calc.py", "*** Move to: maths.py", " def add(a, b):"))
    assert not (root / "calc.py").exists() and (root / "maths.py").exists()
    run(ctx, "undo_edit", path="maths.py")
    run(ctx, "undo_edit", path="calc.py")
    assert (root / "calc.py").read_text() == "def add(a, b):\n    return a - b\n" and not (root / "maths.py").exists()
    run(ctx, "write_file", path="calc.py", content="")
    assert run(ctx, "write_file", path="calc.py", content="x\n").text == "Updated calc.py."
    run(ctx, "undo_edit", path="calc.py")
    assert (root / "calc.py").read_text() == ""


# --- list_directory -----------------------------------------------------------------------------------------


def test_list_directory_respects_gitignore_and_depth(ctx: ToolContext) -> None:
    root = ctx.workspace
    for name in ("build/gen.py", "src/pkg/mod.py", "src/pkg/deep/er/x.py", "src/README.md", "gone.txt"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text("x\n")
    subprocess.run(["git", "add", "gone.txt"], cwd=root, check=True)
    (root / "gone.txt").unlink()
    obs = run(ctx, "list_directory")
    assert obs.text.splitlines() == [".gitignore", "calc.py", "src/", "  README.md", "  pkg/"]
    deep = run(ctx, "list_directory", path="src", depth=9).text.splitlines()
    assert deep == ["README.md", "pkg/", "  deep/", "    er/", "      x.py", "  mod.py"]
    ignored = run(ctx, "list_directory", path="build")
    assert ignored.text == "gen.py"
    (root / "src" / ".gitignore").write_text("*.log\n")
    (root / "src" / "debug.log").write_text("noise\n")
    assert "debug.log" not in run(ctx, "list_directory", path="src").text  # a subfolder keeps git's view
    assert run(ctx, "list_directory", path="calc.py").is_error
    assert "does not exist" in run(ctx, "list_directory", path="nope").text


def test_list_directory_outside_git_skips_noise_and_caps(tmp_path: Path) -> None:
    root = tmp_path / "plain"
    for name in ("a.py", ".venv/lib.py", "node_modules/x/y.js", "pkg/__pycache__/m.pyc", "pkg/m.py"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text("x")
    (root / "empty").mkdir()
    context = ToolContext(workspace=root)
    assert run(context, "list_directory", depth=3).text.splitlines() == ["a.py", "empty/", "pkg/", "  m.py"]
    for index in range(600):
        (root / "many" / f"f{index:03}.txt").parent.mkdir(exist_ok=True)
        (root / "many" / f"f{index:03}.txt").write_text("")
    capped = run(context, "list_directory", path="many")
    assert len(capped.text.splitlines()) == 501 and "100 more entries" in capped.text
    assert capped.data["entries"] == 600


# --- read_file limits ---------------------------------------------------------------------------------------


PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x00" * 20


@pytest.mark.parametrize(
    ("name", "content", "kind"),
    [
        ("logo.png", PNG, "PNG image"),
        ("logo", PNG, "PNG image"),
        ("photo.JPG", b"\xff\xd8\xff\xe0" + b"\x00" * 10, "JPEG image"),
        ("anim.gif", b"GIF89a" + b"\x00" * 10, "GIF image"),
        ("pic", b"RIFF\x10\x00\x00\x00WEBPVP8 ", "WebP image"),
        ("bitmap", b"BM\x36\x00\x00\x00\x00\x00\x00\x00" + b"\x00" * 10, "BMP image"),
        ("favicon.ico", b"\x00\x00\x01\x00\x01\x00", "ICO image"),
        ("paper", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", "PDF document"),
        ("empty.pdf", b"", "PDF document"),
    ],
)
def test_read_file_refuses_images_and_pdfs(ctx: ToolContext, name: str, content: bytes, kind: str) -> None:
    (ctx.workspace / name).write_bytes(content)
    obs = run(ctx, "read_file", path=name)
    assert obs.is_error and f"is a {kind}" in obs.text and "bytes" in obs.text


def test_read_file_does_not_mistake_text_for_a_bitmap(ctx: ToolContext) -> None:
    (ctx.workspace / "bmi.txt").write_text("BMI calculator\n")
    assert run(ctx, "read_file", path="bmi.txt").text == "     1\tBMI calculator"


def test_read_file_refuses_huge_files_unless_a_range_is_asked(ctx: ToolContext) -> None:
    big = ctx.workspace / "big.log"
    line = "x" * 99 + "\n"
    big.write_text(line * (MAX_READ_BYTES // len(line) + 10))
    whole = run(ctx, "read_file", path="big.log")
    assert whole.is_error and "5.0 MB" in whole.text and "offset" in whole.text and "head" in whole.text
    part = run(ctx, "read_file", path="big.log", offset=50_000, limit=2)
    assert not part.is_error
    assert part.text.splitlines()[0] == f" 50000\t{'x' * 99}"
    assert "use offset=50002" in part.text and "MB file" in part.text


def test_read_file_caps_characters_per_call(ctx: ToolContext) -> None:
    (ctx.workspace / "wide.txt").write_text("".join(f"{i:04} {'y' * 195}\n" for i in range(1500)))
    obs = run(ctx, "read_file", path="wide.txt")
    assert len(obs.text) <= MAX_READ_CHARS + 200
    last = obs.text.splitlines()[-2].split("\t")[0].strip()
    assert f"use offset={int(last) + 1}" in obs.text and "of 1500" in obs.text


def test_read_file_counts_lines_like_grep(ctx: ToolContext) -> None:
    (ctx.workspace / "ff.txt").write_bytes(b"a\x0cb\r\nc\n")
    assert run(ctx, "read_file", path="ff.txt").text.split("\n") == ["     1\ta\x0cb", "     2\tc"]


def test_read_file_refuses_special_files(ctx: ToolContext) -> None:
    os.mkfifo(ctx.workspace / "pipe")
    obs = run(ctx, "read_file", path="pipe")
    assert obs.is_error and "not a regular file" in obs.text


# --- path confinement ---------------------------------------------------------------------------------------


@pytest.fixture
def hostile(workspace: Path, tmp_path: Path) -> Path:
    """A workspace beside secrets, full of symlinks that lead out of it."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("s3cret\n")
    (tmp_path / "repo_evil").mkdir()
    (tmp_path / "repo_evil" / "secret.txt").write_text("s3cret\n")
    (workspace / "inner").mkdir()
    links = {
        "link_file": outside / "secret.txt",
        "link_dir": outside,
        "link_root": Path("/"),
        "link_up": Path(".."),
        "link_chain": Path("link_file"),
        "dangling": outside / "new.txt",
        "loop": Path("loop"),
        "inner/deep_link": Path("../../outside"),
        "inner/inlink.py": Path("../calc.py"),
    }
    for name, target in links.items():
        (workspace / name).symlink_to(target)
    return outside


def escape_attempts(workspace: Path, outside: Path) -> list[str]:
    """Paths that lead, or look like they lead, out of the workspace."""
    secret = str(outside / "secret.txt")
    climbs = ["../" * n + "etc/passwd" for n in range(1, 31)] + ["/".join([".."] * n) for n in (1, 2, 5, 50, 5000)]
    relative = [
        "../outside/secret.txt", "../outside", "..", "../", "./..", "../.", ".././outside/secret.txt",
        "calc.py/../../outside/secret.txt", "nosuch/../../outside/secret.txt", "a/b/c/../../../../outside/secret.txt",
        "./../outside/secret.txt", "inner/../../outside/secret.txt", "../repo/../outside/secret.txt",
        "..//outside//secret.txt", "../outside/./secret.txt", "../repo_evil/secret.txt", "../outside/secret.txt ",
        "../outside/new.txt", "inner/../../outside/new.txt",
    ]  # fmt: skip
    absolute = [
        "/", "/etc/passwd", "/etc/shadow", "//etc/passwd", "/./etc/passwd", "/../etc/passwd", "/etc/../etc/passwd",
        "/proc/self/environ", "/proc/self/root/etc/passwd", "/proc/self/cwd", "/dev/zero", "/dev/null", "/tmp",
        "/root/.ssh/id_rsa", "/var/log/syslog", secret, str(outside), str(workspace.parent),
        f"{workspace}/../outside/secret.txt", f"{workspace}/link_file", f"{workspace}x", f"{workspace}_evil/secret.txt",
    ]  # fmt: skip
    symlinked = [
        "link_file", "./link_file", "inner/../link_file", "link_dir", "link_dir/", "link_dir/secret.txt",
        "link_dir/new.txt", "link_root", "link_root/etc/passwd", "link_up", "link_up/outside/secret.txt",
        "link_chain", "dangling", "inner/deep_link", "inner/deep_link/secret.txt", "loop", "loop/x",
    ]  # fmt: skip
    odd = [
        "~", "~/", "~/.bashrc", "~root", "~root/.ssh/id_rsa", "~/../../etc/passwd",
        "\0", "calc.py\0", "calc.py\0../../etc/passwd", "../\0", "\0/etc/passwd", "inner/\0x",
    ]  # fmt: skip
    return climbs + relative + absolute + symlinked + odd


LOOK_ALIKES = [
    "%2e%2e/outside/secret.txt", "%2e%2e%2f%2e%2e%2fetc%2fpasswd", "..%2foutside%2fsecret.txt",
    "..%252f..%252fetc%252fpasswd", "..\\outside\\secret.txt", "..\\..\\etc\\passwd", "....//outside/secret.txt",
    "..;/outside/secret.txt", "\u2025/outside/secret.txt", "\uff0e\uff0e/outside/secret.txt", "file:///etc/passwd",
    "C:\\Windows\\win.ini", "\\\\server\\share", "..%00/secret", "%00", " ../outside/secret.txt", "$HOME/.bashrc",
    "${HOME}", "`whoami`", "$(cat /etc/passwd)", "a/" * 3000 + "x",
]  # fmt: skip
REASONS = ("outside the workspace", "does not exist", "null byte", "not expanded", "cannot be resolved", "too long")


def _outside_state(tmp_path: Path, workspace: Path) -> dict[str, bytes]:
    return {
        str(path): path.read_bytes()
        for path in tmp_path.rglob("*")
        if path.is_file() and not path.is_symlink() and workspace not in path.parents
    }


def _attempts(path: str) -> list[tuple[str, dict[str, object]]]:
    return [
        ("read_file", {"path": path}),
        ("list_directory", {"path": path}),
        ("write_file", {"path": path, "content": "pwned"}),
        ("edit_file", {"path": path, "old_string": "s3cret", "new_string": "pwned"}),
        ("undo_edit", {"path": path}),
        ("apply_patch", {"patch": patch(f"*** Add File: {path}", "+pwned")}),
        ("apply_patch", {"patch": patch(f"*** Update File: {path}", "-s3cret", "+pwned")}),
        ("apply_patch", {"patch": patch(f"*** Delete File: {path}")}),
        ("apply_patch", {"patch": patch("*** Update File: calc.py", f"*** Move to: {path}", " def add(a, b):")}),
    ]


def test_more_than_a_hundred_escapes_are_refused_by_every_tool(workspace: Path, hostile: Path, tmp_path: Path) -> None:
    attempts = escape_attempts(workspace, hostile)
    assert len(attempts) + len(LOOK_ALIKES) >= 100
    before = _outside_state(tmp_path, workspace)
    context = ToolContext(workspace=workspace)
    for path in attempts:
        for name, arguments in _attempts(path):
            obs = run(context, name, **arguments)
            assert obs.is_error, (name, path, obs.text)
            assert any(reason in obs.text for reason in REASONS), (name, path, obs.text)
            assert "s3cret" not in obs.text
    for path in LOOK_ALIKES:  # literal names inside the workspace: harmless, and never a way out
        obs = run(context, "read_file", path=path)
        assert obs.is_error and any(reason in obs.text for reason in REASONS), (path, obs.text)
    assert _outside_state(tmp_path, workspace) == before
    assert not (hostile / "new.txt").exists()
    assert (workspace / "calc.py").read_text() == "def add(a, b):\n    return a - b\n"


def test_paths_inside_the_workspace_are_accepted(workspace: Path, hostile: Path, tmp_path: Path) -> None:
    context = ToolContext(workspace=workspace)
    inside = [
        "new.txt", "./new2.txt", "sub/dir/new3.txt", "sub/../new4.txt", str(workspace / "abs.txt"), "..foo",
        "foo..", "...", "a..b.txt", ".hidden", "dir with spaces/f.txt", "ünïcode.txt", "%2e%2e", "x/~tilde",
        "inner/../inner/ok.txt",
    ]  # fmt: skip
    for path in inside:
        written = run(context, "write_file", path=path, content=f"{path}\n")
        assert not written.is_error, (path, written.text)
        assert run(context, "read_file", path=path).text == f"     1\t{path}"
    assert "return a - b" in run(context, "read_file", path="inner/inlink.py").text
    assert "calc.py" in run(context, "list_directory", path=str(workspace)).text
    (tmp_path / "ws_link").symlink_to(workspace)
    through = ToolContext(workspace=tmp_path / "ws_link")
    assert not run(through, "read_file", path="calc.py").is_error
    assert not run(through, "read_file", path=str(tmp_path / "ws_link" / "calc.py")).is_error


def test_writes_replace_the_file_atomically_and_keep_its_mode(ctx: ToolContext) -> None:
    """A reader that has the file open keeps the old content, the new one appears whole under the same name
    with the same permission bits, and neither a good nor a refused write leaves its temporary file behind."""
    script = ctx.workspace / "run.sh"
    script.write_text("echo old\n")
    script.chmod(0o750)
    inode = script.stat().st_ino
    with script.open() as reader:
        assert not run(ctx, "write_file", path="run.sh", content="echo new\n").is_error
        assert reader.read() == "echo old\n"
    assert script.read_text() == "echo new\n" and script.stat().st_ino != inode
    assert script.stat().st_mode & 0o777 == 0o750
    (ctx.workspace / "adir").mkdir()
    refused = run(ctx, "write_file", path="adir", content="x")
    assert refused.is_error and "is a directory" in refused.text
    leftovers = [path for path in ctx.workspace.rglob(".sii-*") if ".git" not in path.parts]
    assert leftovers == []
