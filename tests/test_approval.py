"""Deny and allow rules judged from what bash runs (real tree-sitter), protected .git/.sii paths, and the
same decisions end to end through `sii -p` with the scripted model server and the user's config."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from recordings.schema import ToolCall
from sii.approval import Answer, ApprovalPolicy, Match, Question, Rule
from sii.config import user_config_file
from sii.events import StopTurn
from sii.permissions import save_allow_rule
from sii.shell_commands import parse_command
from tests.scripted_server import Reply, ScriptedServer, call
from tools.base import Tool
from tools.files import APPLY_PATCH, EDIT_FILE, UNDO_EDIT, WRITE_FILE
from tools.shell import RUN_SHELL


def tool_call(name: str, arguments: dict[str, Any]) -> ToolCall:
    return {"id": "1", "type": "function", "function": {"name": name, "arguments": arguments}}


def shell(command: str) -> ToolCall:
    return tool_call("run_shell", {"command": command})


class Asker:
    """A user who answers `answer` and remembers what was asked."""

    def __init__(self, answer: bool = False) -> None:
        self.answer = answer
        self.asked: list[ToolCall] = []

    def __call__(self, question: Question) -> Answer:
        self.asked.append(question.call)
        return Answer(allow=self.answer, go_on=True)  # a refusal that lets the turn go on: check() returns it


GIT_PUSH_REWRITES = [
    "git push",
    "git  push",
    "git push origin main",
    "FOO=1 git push",
    "git -C . push",
    'git -C "$(pwd)" push',
    "git   -C  .   push   origin",
    "git --no-pager push",
    "git -P push",
    "git --git-dir=.git push",
    "git --work-tree . push",
    "git -c user.name=x push",
    "git -c alias.p=push p",
    "git --exec-path=/tmp push",
    "git push --force",
    "env git push",
    "env -i PATH=/usr/bin git push",
    "env -u HOME -- git push",
    "command git push",
    "command -p git push",
    "builtin command git push",
    "nice git push",
    "nice -n 10 git push",
    "nice -10 git push",
    "time git push",
    "time -p git push",
    "nohup git push",
    "timeout 10 git push",
    "timeout -s KILL --preserve-status 10 git push",
    "stdbuf -oL -e 0 git push",
    "sudo git push",
    "sudo -u root -E git push",
    "sudo -s git push",
    "exec git push",
    "exec -a name git push",
    "setsid git push",
    "ionice -c 3 git push",
    "chrt -o 0 git push",
    "taskset 1 git push",
    "strace -f git push",
    "coproc git push",
    "! git push",
    "echo origin | xargs git push",
    "xargs -I{} git push {} <<< origin",
    'bash -c "git push"',
    "sh -c 'git push origin'",
    'zsh -c "git push"',
    "dash -c 'git push'",
    'bash -lc "git push"',
    "bash -o pipefail -c 'git push'",
    "bash -c 'bash -c \"git push\"'",
    'busybox sh -c "git push"',
    'su -c "git push" root',
    "watch -n 1 git push",
    'trap "git push" EXIT',
    "$(echo git) push",
    "`echo git` push",
    "'git' push",
    '"git" push',
    'g"it" push',
    "gi't' push",
    "\\git push",
    "gi\\t pu\\sh",
    "git $'push'",
    "g$'it' push",
    "$'\\x67it' push",
    "gi? push",
    "git pus?",
    "git pu{s,}h",
    "G=git; $G push",
    '"$G" push',
    "${G} push",
    "git $SUB",
    'set -- git push; "$@"',
    "alias g=git; g push",
    "g() { git push; }; g",
    "function g { git push; }; g",
    "eval git push",
    'eval "git push"',
    "eval \"eval 'git push'\"",
    'eval "$CMD"',
    "./push.sh",
    "/usr/bin/git push",
    "bash push.sh",
    "sh ./push.sh",
    "source push.sh",
    ". ./push.sh",
    'echo "git push" | bash',
    'bash <<< "git push"',
    "cat <<EOF | sh\ngit push\nEOF\n",
    "git status && git push",
    "git status; git push",
    "git status || git push",
    "git status | git push",
    "git status & git push",
    "git status\ngit push",
    "git pu\\\nsh",
    "(git push)",
    "{ git push; }",
    "if true; then git push; fi",
    "for i in 1; do git push; done",
    "while git push; do break; done",
    "case x in x) git push;; esac",
    "echo $(git push)",
    'echo "$(git push)"',
    "echo `git push`",
    "echo `echo \\`git push\\``",
    "cat <(git push)",
    "echo x > >(git push)",
    "x=$(git push)",
    "export X=$(git push)",
    "cat <<EOF\n$(git push)\nEOF\n",
    "cat <<EOF\n`git push`\nEOF\n",
    "find . -maxdepth 0 -exec git push \\;",
    "PATH=/tmp/bin git status",
    "echo $((a[$(git push)]))",
    "git push ||",
    "{git,push}",
    "git$IFS'push'",
    'git pu""sh',
    "git -C . -c x=y --no-pager push",
    "sudo --user root git push",
    "nice --adjustment 5 git push",
    "doas git push",
    "env -S 'git push'",
    "env --split-string='git push'",
    "env -iS'git push'",
    "ls | xargs -i git push {}",
    'git submodule foreach "git push"',
    "git submodule --quiet foreach --recursive git push",
    "git rebase --exec 'git push' HEAD~1",
    "git rebase -x 'git push' main",
    "git bisect run git push",
    "git config alias.p push",
    "git config core.sshCommand 'sh -c \"git push\"'",
    "x='$(git push)'; echo ${x@P}",
    "x='a[$(git push)]'; echo ${!x}",
    "i='a[$(git push)]'; echo ${b[i]}",
    "i='a[$(git push)]'; echo ${s:i}",
    "i='a[$(git push)]'; let i",
    "i='a[$(git push)]'; declare -i j=i",
    "read 'a[$(git push)]' <<< x",
    "printf -v 'a[$(git push)]' x",
    "mapfile -C 'git push' -c 1 < /etc/hostname",
    "[[ -v 'a[$(git push)]' ]]",
    "[[ -n x && $i -eq 1 ]]",
    "unset 'a[$(git push)]'",
]

RM_RF_REWRITES = [
    "rm -rf victim",
    "rm -fr victim",
    "rm -r -f victim",
    "rm -R -f victim",
    "rm -f -R victim",
    "rm -rfv victim",
    "rm --recursive --force victim",
    "rm -r --force victim",
    "rm --rec --for victim",
    "rm -rf -- victim",
    "/bin/rm -rf victim",
    "\\rm -rf victim",
    "r''m -rf victim",
    "command rm -rf victim",
    "find victim -delete",
    "find . -name victim -exec rm -rf {} +",
    "find . -exec rm -r -f {} \\;",
    "echo victim | xargs rm -rf",
    "ls | xargs rm",
    "for d in victim; do rm -rf $d; done",
    'bash -c "rm -rf victim"',
    "rm $FLAGS victim",
]

ALLOW_LS_ESCAPES = [
    "ls > f",
    "ls >> f",
    "ls &> f",
    "ls &>> f",
    "ls >| f",
    "ls 2> f",
    "ls >& f",
    "ls > /dev/null/../../tmp/f",
    "exec > f; ls",
    "ls <(touch f)",
    "ls >(touch f)",
    "ls $(touch f)",
    'ls "$(touch f)"',
    "ls `touch f`",
    "ls; touch f",
    "ls && rm x",
    "ls || touch f",
    "ls & touch f",
    "ls | sh",
    "ls | xargs rm",
    "ls | tee f",
    "ls\ntouch f",
    "ls; $(echo touch) f",
    "PATH=. ls",
    "LD_PRELOAD=./evil.so ls",
    "./ls",
    "lsblk",
    "ls2",
    "ls $((x))",
    "ls ||",
    'eval "$X"',
]

ALLOWED_BY_LS = ["ls", "ls -la", "ls 2>/dev/null", "ls > /dev/null 2>&1", "ls && ls -l", 'ls "my dir"', "ls $HOME"]


@pytest.mark.parametrize("command", GIT_PUSH_REWRITES)
def test_no_rewrite_of_a_denied_git_push_runs_unasked(command: str) -> None:
    asker = Asker()
    assert ApprovalPolicy(mode="yolo", deny=["git push"], ask=asker).check(RUN_SHELL, shell(command)) is not None
    assert ApprovalPolicy(mode="yolo", deny=["git push"], ask=None).check(RUN_SHELL, shell(command)) is not None


@pytest.mark.parametrize("command", RM_RF_REWRITES)
def test_no_rewrite_of_a_denied_rm_rf_runs_unasked(command: str) -> None:
    assert ApprovalPolicy(mode="yolo", deny=["rm -rf"], ask=Asker()).check(RUN_SHELL, shell(command)) is not None
    assert ApprovalPolicy(mode="yolo", deny=["rm -rf"], ask=None).check(RUN_SHELL, shell(command)) is not None


@pytest.mark.parametrize(
    ("command", "shown"),
    [
        ("git -C . push origin", "runs `git push origin`"),
        ("rm -R --force victim", "runs `rm -R --force victim`"),
        ("find victim -delete", "runs `rm -r -f …`"),
    ],
)
def test_a_denied_command_is_refused_without_asking_and_the_model_reads_the_rule(command: str, shown: str) -> None:
    asker = Asker(answer=True)
    rule = "git push" if "git" in command else "rm -rf"
    refusal = ApprovalPolicy(mode="yolo", deny=[rule], ask=asker).check(RUN_SHELL, shell(command))
    assert refusal is not None and f"deny rule {rule!r}" in refusal and shown in refusal
    assert asker.asked == []


def test_an_unresolved_command_asks_and_says_why() -> None:
    asker = Asker(answer=True)
    policy = ApprovalPolicy(mode="yolo", deny=["git push"], ask=asker)
    assert policy.check(RUN_SHELL, shell("$(echo git) push")) is None  # the user said yes
    assert len(asker.asked) == 1
    refusal = ApprovalPolicy(mode="yolo", deny=["git push"]).check(RUN_SHELL, shell("$(echo git) push"))
    assert "command word is only known when it runs" in refusal and "cannot ask" in refusal


@pytest.mark.parametrize(
    ("deny", "command"),
    [
        (["git push"], "git status"),
        (["git push"], "git -C . status"),
        (["git push"], "git log --oneline -3"),
        (["git push"], 'git commit -m "do not git push yet"'),
        (["git push"], 'echo "git push"'),
        (["git push"], "printf '%s\\n' 'git push'"),
        (["git push"], "cat push.txt"),
        (["git push"], "ls -la"),
        (["git push"], "ls 2>/dev/null"),
        (["git push"], "ls $HOME"),
        (["git push", "rm -rf"], "grep -r 'rm -rf' ."),
        (["rm -rf"], "rm -f stale.txt"),
        (["rm -rf"], "rm -r empty_dir"),
        (["rm -rf"], "rm -- -rf"),
        (["rm -rf"], "find . -name '*.py'"),
        (["rm -rf"], 'bash -c "ls -la"'),
        (["rm -rf"], "FOO=1 env -i make test"),
        (["git push"], 'printf "%s\\n" "$x"'),
        (["git push"], 'test -f "$f" && echo ${x:-default} ${#x} ${f%.py}'),
        (["git push"], "git config user.name sii"),
        (["git push"], "read -r line < notes.txt"),
        (["git push"], "git rebase main"),
    ],
)
def test_legitimate_commands_are_not_over_blocked(deny: list[str], command: str) -> None:
    assert ApprovalPolicy(mode="yolo", deny=deny, ask=None).check(RUN_SHELL, shell(command)) is None


@pytest.mark.parametrize(
    ("rule", "argv", "prefix", "expected"),
    [
        ("git push", ("git", "push", "origin", "main"), False, Match.YES),
        ("git push", ("git", "pushy"), False, Match.NO),
        ("git push", ("git", "status"), False, Match.NO),
        ("git push", ("git", None), False, Match.MAYBE),
        ("rm -rf", ("rm", "-fr", "x"), False, Match.YES),
        ("rm -rf", ("rm", "-r", "x"), False, Match.NO),
        ("git status", ("git", "status", "-s"), True, Match.YES),
        ("git status", ("git", "log", "status"), True, Match.NO),
        ("git status", ("git", None, "status"), True, Match.MAYBE),
        ("ls", ("lsblk",), True, Match.NO),
    ],
)
def test_rule_words_match_argv_words(rule: str, argv: tuple, prefix: bool, expected: Match) -> None:
    parsed = Rule.parse(rule)
    assert parsed is not None and parsed.match(argv, prefix=prefix) is expected


@pytest.mark.parametrize("command", ALLOW_LS_ESCAPES)
def test_an_allow_rule_covers_nothing_but_the_allowed_command(command: str) -> None:
    asker = Asker()
    assert ApprovalPolicy(mode="ask", allow=["ls"], ask=asker).check(RUN_SHELL, shell(command)) is not None
    assert len(asker.asked) == 1


@pytest.mark.parametrize("command", ALLOWED_BY_LS)
def test_an_allowed_command_runs_unasked(command: str) -> None:
    assert ApprovalPolicy(mode="ask", allow=["ls"], ask=None).check(RUN_SHELL, shell(command)) is None


@pytest.mark.parametrize(
    ("command", "allowed"),
    [
        ("git status", True),
        ("git -C sub status --short", True),
        ("git status; git push", False),
        ("git -c core.fsmonitor='touch pwned' status", False),
        ("git statusx", False),
        ("git st", False),
        ("git push status", False),
    ],
)
def test_allow_rules_with_a_subcommand(command: str, allowed: bool) -> None:
    decision = ApprovalPolicy(mode="ask", allow=["git status"], ask=None).check(RUN_SHELL, shell(command))
    assert (decision is None) is allowed


def test_plan_mode_stays_read_only_even_for_allowed_commands() -> None:
    assert "plan mode" in ApprovalPolicy(mode="plan", allow=["ls"]).check(RUN_SHELL, shell("ls"))


def write(path: str) -> ToolCall:
    return tool_call("write_file", {"path": path, "content": "x"})


PROTECTED_WRITES: list[tuple[Tool, dict[str, Any]]] = [
    (WRITE_FILE, {"path": ".git/config", "content": ""}),
    (WRITE_FILE, {"path": ".git/hooks/pre-commit", "content": "#!/bin/sh\n"}),
    (WRITE_FILE, {"path": "sub/.git/hooks/pre-commit", "content": ""}),
    (WRITE_FILE, {"path": "./x/../.git/config", "content": ""}),
    (WRITE_FILE, {"path": "a/./.git/x", "content": ""}),
    (WRITE_FILE, {"path": ".GIT/config", "content": ""}),
    (WRITE_FILE, {"path": ".git", "content": "gitdir: /tmp/evil\n"}),
    (WRITE_FILE, {"path": ".sii/config.toml", "content": ""}),
    (WRITE_FILE, {"path": ".sii/commands/x.md", "content": ""}),
    (WRITE_FILE, {"path": "src/../.sii/config.toml", "content": ""}),
    (EDIT_FILE, {"path": ".git/config", "old_string": "a", "new_string": "b"}),
    (UNDO_EDIT, {"path": ".sii/config.toml"}),
    (APPLY_PATCH, {"patch": "*** Begin Patch\n*** Add File: .git/hooks/post-checkout\n+#!/bin/sh\n*** End Patch"}),
    (APPLY_PATCH, {"patch": "*** Begin Patch\n*** Delete File: .sii/config.toml\n*** End Patch"}),
    (
        APPLY_PATCH,
        {
            "patch": "*** Begin Patch\n*** Update File: notes.txt\n*** Move to: .git/info/attributes\n"
            "@@\n-a\n+b\n*** End Patch"
        },
    ),
    (
        APPLY_PATCH,
        {"patch": "*** Begin Patch\n*** Add File: ok.txt\n+x\n*** Add File: sub/.sii/config.toml\n+x\n*** End Patch"},
    ),
]


@pytest.mark.parametrize(("tool", "arguments"), PROTECTED_WRITES)
def test_protected_paths_always_ask_in_auto_edit(tool: Tool, arguments: dict[str, Any]) -> None:
    asker = Asker()
    assert ApprovalPolicy(mode="auto-edit", ask=asker).check(tool, tool_call(tool.name, arguments)) is not None
    assert len(asker.asked) == 1
    refusal = ApprovalPolicy(mode="auto-edit", ask=None).check(tool, tool_call(tool.name, arguments))
    assert "protected .git or .sii path" in refusal and "--yolo" in refusal
    assert ApprovalPolicy(mode="yolo", ask=None).check(tool, tool_call(tool.name, arguments)) is None


@pytest.mark.parametrize(
    "path", ["calc.py", ".gitignore", ".github/workflows/ci.yml", "x.git/y", ".sii-notes.md", "docs/.gitkeep"]
)
def test_ordinary_paths_still_run_unasked_in_auto_edit(path: str) -> None:
    assert ApprovalPolicy(mode="auto-edit", ask=None).check(WRITE_FILE, write(path)) is None


def test_protected_paths_are_judged_after_symlinks_and_absolute_spellings(workspace: Path) -> None:
    (workspace / "docs").symlink_to(".git")
    (workspace / "nested").mkdir()
    (workspace / "nested" / "up").symlink_to("..")
    policy = ApprovalPolicy(mode="auto-edit", ask=None, workspace=workspace)
    for path in ["docs/hooks/pre-commit", "nested/up/.git/config", str(workspace / ".sii" / "config.toml")]:
        assert "protected" in policy.check(WRITE_FILE, write(path)), path
    assert policy.check(WRITE_FILE, write(str(workspace / "calc.py"))) is None


# End to end: `sii -p` with the user's config, the scripted model and real git, bash and files.

SII = [sys.executable, "-m", "sii"]


def sii(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*SII, *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def tool_results(server: ScriptedServer) -> list[str]:
    return [m["content"] for m in server.requests[-1]["messages"] if m["role"] == "tool"]


def test_headless_yolo_with_deny_rules_runs_no_rewrite(scripted: ScriptedServer, workspace: Path) -> None:
    remote = workspace.parent / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", str(remote)], check=True)
    subprocess.run(["git", "remote", "add", "origin", str(remote)], cwd=workspace, check=True)
    (workspace / "victim").mkdir()
    (workspace / "victim" / "keep.txt").write_text("precious\n")
    (workspace / "push.sh").write_text("git push origin main\n")
    user_config_file().parent.mkdir(parents=True, exist_ok=True)
    user_config_file().write_text('[shell]\ndeny = ["git push", "rm -rf"]\n')
    attacks = [
        "git -C . push origin main",
        "env -i PATH=/usr/bin:/bin git push origin main",
        "$(echo git) push origin main",
        'g"it" push origin main',
        "bash -c 'git push origin main'",
        "alias g=git; g push origin main",
        "sh push.sh",
        "rm -fr victim",
        "rm --recursive --force victim",
        "find victim -delete",
        "echo victim | xargs rm -r -f",
    ]
    commands = [*attacks, "git status --short"]
    scripted.script = [Reply("", [call("run_shell", {"command": c}) for c in commands]), Reply("done")]
    result = sii("-p", "clean up and publish", "--yolo", "--base-url", scripted.base_url, cwd=workspace)
    assert result.returncode == 4, result.stderr  # refused actions show in the exit code
    results = tool_results(scripted)
    assert [r.startswith("Not run") for r in results] == [True] * len(attacks) + [False]
    assert subprocess.run(["git", "-C", str(remote), "rev-parse", "--verify", "-q", "main"]).returncode != 0
    assert (workspace / "victim" / "keep.txt").read_text() == "precious\n"


def test_headless_allow_rule_and_protected_paths(scripted: ScriptedServer, workspace: Path) -> None:
    user_config_file().parent.mkdir(parents=True, exist_ok=True)
    user_config_file().write_text('mode = "auto-edit"\n[shell]\nallow = ["ls"]\n')
    calls = [
        call("run_shell", {"command": "ls > listing.txt"}),
        call("run_shell", {"command": "ls <(touch touched.txt)"}),
        call("run_shell", {"command": "ls -la"}),
        call("write_file", {"path": ".git/hooks/pre-commit", "content": "#!/bin/sh\ntouch pwned\n"}),
        call("write_file", {"path": "./x/../.sii/config.toml", "content": 'mode = "plan"\n'}),
        call("write_file", {"path": "notes.txt", "content": "fine\n"}),
    ]
    scripted.script = [Reply("", calls), Reply("done")]
    result = sii("-p", "work", "--base-url", scripted.base_url, cwd=workspace)
    assert result.returncode == 4, result.stderr  # refused actions show in the exit code
    results = tool_results(scripted)
    assert [r.startswith("Not run") for r in results] == [True, True, False, True, True, False]
    assert "calc.py" in results[2] and "protected" in results[3]
    assert not (workspace / "listing.txt").exists() and not (workspace / "touched.txt").exists()
    assert not (workspace / ".git" / "hooks" / "pre-commit").exists() and not (workspace / ".sii").exists()
    assert (workspace / "notes.txt").read_text() == "fine\n"


@pytest.mark.parametrize(
    "command",
    ["(" * 400 + "git push" + ")" * 400, "echo $(" * 400 + "git push" + ")" * 400, "git push \ud800", "git \x00push"],
)
def test_hostile_command_text_is_refused_not_crashed_on(command: str) -> None:
    assert ApprovalPolicy(mode="yolo", deny=["git push"], ask=None).check(RUN_SHELL, shell(command)) is not None


def test_refusals_quote_a_huge_command_briefly() -> None:
    refusal = ApprovalPolicy(mode="yolo", deny=["git push"]).check(RUN_SHELL, shell("git push " + "x " * 50_000))
    assert refusal is not None and "deny rule 'git push'" in refusal and len(refusal) < 600


def test_the_parser_resolves_words_and_lists_writes_and_unresolved_parts() -> None:
    parsed = parse_command("FOO=1 env -i g\\it -C . 'pu'\"sh\" >f 2>/dev/null; ls <(touch t) && ./x.sh")
    assert [c.argv for c in parsed.commands if not c.why] == [("git", "push"), ("touch", "t"), ("ls", None), ("x.sh",)]
    assert parsed.writes == [">f"]
    assert [c.why for c in parsed.unresolved] == ["runs the file ./x.sh, whose contents are not checked"]
    nested = parse_command("bash -c \"eval 'find . -exec rm -rf {} +'\" | xargs -0 nice -n 5 grep x")
    assert [c.argv for c in nested.commands] == [
        ("rm", "-rf", None),
        ("find", ".", "-exec", "rm", "-rf", "{}", "+"),
        ("grep", "x", None),
    ]


class Answering:
    """A user who gives the next answer of a list, and remembers each question."""

    def __init__(self, *answers: Answer) -> None:
        self.answers = list(answers)
        self.questions: list[Question] = []

    def __call__(self, question: Question) -> Answer:
        self.questions.append(question)
        return self.answers.pop(0)


def test_always_means_this_command_prefix_not_every_command() -> None:
    user = Answering(Answer(allow=True, always=True), Answer(allow=False, go_on=True), Answer(allow=False, go_on=True))
    policy = ApprovalPolicy(mode="ask", ask=user)
    assert policy.check(RUN_SHELL, shell("pytest -q")) is None
    assert user.questions[0].always == "commands starting with `pytest`"
    assert policy.session_allow == ["pytest"]
    assert policy.check(RUN_SHELL, shell("pytest tests/test_x.py -x")) is None  # not asked
    assert policy.check(RUN_SHELL, shell("rm -r build")) is not None  # asked, and refused
    assert policy.check(RUN_SHELL, shell("pytest -q > report.txt")) is not None  # it writes a file: asked
    assert len(user.questions) == 3


def test_always_for_git_covers_the_subcommand_only() -> None:
    user = Answering(Answer(allow=True, always=True), Answer(allow=False, go_on=True))
    policy = ApprovalPolicy(mode="ask", ask=user)
    assert policy.check(RUN_SHELL, shell("git status --short && python -m pytest -q")) is None
    assert policy.session_allow == ["git status", "python -m pytest"]
    assert policy.check(RUN_SHELL, shell("git push origin main")) is not None
    assert policy.check(RUN_SHELL, shell("python -m pytest tests")) is None


def test_always_is_not_offered_where_a_rule_made_it_ask() -> None:
    user = Answering(Answer(allow=True, always=True), Answer(allow=True, always=True))
    policy = ApprovalPolicy(mode="ask", deny=["git push"], ask=user)
    policy.check(RUN_SHELL, shell("$(echo git) push"))  # a deny rule may hide in it
    assert user.questions[0].always is None and user.questions[0].reason
    assert policy.session_allow == []
    policy.check(RUN_SHELL, shell("make && ./run.sh"))  # a script file: cannot be covered by prefixes
    assert user.questions[1].always is None


def test_always_for_an_edit_tool_never_covers_protected_paths(workspace: Path) -> None:
    user = Answering(Answer(allow=True, always=True), Answer(allow=False, go_on=True))
    policy = ApprovalPolicy(mode="ask", ask=user, workspace=workspace)
    assert policy.check(WRITE_FILE, write("notes.txt")) is None
    assert policy.check(WRITE_FILE, write("other.txt")) is None  # not asked again
    assert policy.check(WRITE_FILE, write(".git/hooks/pre-commit")) is not None  # asked: protected
    assert len(user.questions) == 2 and user.questions[1].reason


def test_revoked_grants_ask_again() -> None:
    user = Answering(Answer(allow=True, always=True), Answer(allow=False, go_on=True))
    policy = ApprovalPolicy(mode="ask", ask=user)
    policy.check(RUN_SHELL, shell("pytest -q"))
    assert policy.revoke("pytest") and not policy.revoke("pytest")
    assert policy.check(RUN_SHELL, shell("pytest -q")) is not None and len(user.questions) == 2


def test_the_question_shows_the_whole_command() -> None:
    command = "python - <<'EOF'\nimport pathlib\npathlib.Path('out.txt').write_text('ok')\nEOF"
    user = Answering(Answer(allow=False, go_on=True))
    ApprovalPolicy(mode="ask", ask=user).check(RUN_SHELL, shell(command))
    assert user.questions[0].command == command


def test_a_refusal_without_go_on_stops_the_turn() -> None:
    policy = ApprovalPolicy(mode="ask", ask=lambda question: Answer(allow=False, reason="not on main"))
    with pytest.raises(StopTurn, match="declined this call: not on main"):
        policy.check(RUN_SHELL, shell("git commit -am wip"))


def test_saving_a_grant_keeps_the_user_config_as_written(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('# my settings\nmodel = "qwen"  # the big one\n\n[shell]\nallow = ["ls"]\ndeny = ["git push"]\n')
    save_allow_rule("pytest", config)
    save_allow_rule("pytest", config)
    text = config.read_text()
    assert "# my settings" in text and "# the big one" in text
    assert tomllib.loads(text)["shell"] == {"allow": ["ls", "pytest"], "deny": ["git push"]}
    fresh = tmp_path / "new" / "config.toml"
    save_allow_rule("git status", fresh)
    assert tomllib.loads(fresh.read_text()) == {"shell": {"allow": ["git status"]}}
