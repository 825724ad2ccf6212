"""The sandbox is a boundary: from inside the real sandboxed shell (the run_shell tool on a real bubblewrap), every
escape a model would try fails, and ordinary work in the workspace still succeeds."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sii.config import sii_home
from tests.tooling import run
from tools import ToolContext
from tools.sandbox import Sandbox, SandboxError

pytestmark = pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed")


def sandboxed_context(workspace: Path, network: bool = False) -> ToolContext:
    context = ToolContext(workspace=workspace, session_id="sandbox-test", scratch=sii_home() / "tmp")
    context.sandbox = Sandbox(network=network)
    return context


@pytest.fixture
def ctx(workspace: Path) -> Iterator[ToolContext]:
    context = sandboxed_context(workspace)
    yield context
    context.close()


def shell(ctx: ToolContext, command: str) -> str:
    return run(ctx, "run_shell", command=command, timeout=20).text


@pytest.fixture
def host_file(tmp_path: Path) -> Iterator[Path]:
    """A file the sandbox must neither read nor write, outside /tmp when we can (in the host's home)."""
    home = Path.home().resolve()
    folder = home if os.access(home, os.W_OK) and not home.is_relative_to("/tmp") else tmp_path
    path = folder / f".sii-sandbox-probe-{os.getpid()}-{time.monotonic_ns()}"
    path.write_text("host secret\n")
    yield path
    path.unlink(missing_ok=True)


# --- the host's processes: invisible, unkillable, and their /proc/<pid>/root no way out ---------------------------


@pytest.mark.parametrize("via", ["/proc/1/root", "/proc/{host_pid}/root", "/proc/self/root", "/proc/{parent}/root"])
def test_writes_through_proc_root_do_not_reach_the_host(ctx: ToolContext, host_file: Path, via: str) -> None:
    prefix = via.format(host_pid=os.getpid(), parent=os.getppid())
    shell(ctx, f"echo pwned > {prefix}{host_file}; echo pwned >> {prefix}{host_file}.new; cat {prefix}{host_file}")
    assert host_file.read_text() == "host secret\n"
    assert not Path(f"{host_file}.new").exists()


@pytest.mark.parametrize("how", ["kill -9 {pid}", "kill -9 -1", "kill -STOP {pid}", "pkill -9 sleep"])
def test_host_processes_cannot_be_signalled(ctx: ToolContext, how: str) -> None:
    # On a sandbox that lost its pid namespace `kill -9 -1` would kill every process of the host: check first.
    assert shell(ctx, "tr '\\0' ' ' < /proc/1/cmdline").split(" ")[0].endswith("bwrap"), "no pid namespace"
    victim = subprocess.Popen(["sleep", "60"])
    try:
        shell(ctx, how.format(pid=victim.pid))
        time.sleep(0.1)
        assert victim.poll() is None
        assert Path(f"/proc/{victim.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "T"
    finally:
        victim.kill()
        victim.wait()


def test_proc_lists_only_the_sandbox_processes(ctx: ToolContext) -> None:
    listed = shell(ctx, "for p in /proc/[0-9]*; do echo ${p#/proc/}:$(tr '\\0' ' ' < $p/cmdline); done")
    processes = [line for line in listed.splitlines() if ":" in line and line.split(":")[0].isdigit()]
    assert 1 <= len(processes) <= 5, listed  # bwrap's init, bash, the loop's subshells
    assert not any(" -m pytest" in line for line in processes), listed


# --- what it can read: no environment, no /etc secrets, no home, no sockets ---------------------------------------


def test_the_environment_is_cleared(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    leaked = {"SII_API_KEY": "sk-sandbox-probe-1", "OPENAI_API_KEY": "sk-probe-2", "AWS_SECRET_ACCESS_KEY": "probe-3"}
    leaked |= {"SSH_AUTH_SOCK": "/tmp/ssh-probe/agent.1", "GITHUB_TOKEN": "ghp-probe-4", "HTTPS_PROXY": "http://p:5"}
    for name, value in leaked.items():
        monkeypatch.setenv(name, value)
    context = sandboxed_context(workspace)
    try:
        names = "".join(f"${name}" for name in leaked)
        echoed = shell(context, f"echo \"[{names}]\"; env; cat /proc/1/environ /proc/self/environ | tr '\\0' '\\n'")
        home = shell(context, "echo $HOME")
    finally:
        context.close()
    assert "[]" in echoed
    assert not any(value in echoed for value in leaked.values())
    assert not home.startswith(str(Path.home()))


@pytest.mark.parametrize("path", ["/etc/shadow", "/etc/gshadow", "/etc/sudoers", "/etc/ssl/private", "/etc/pip.conf"])
def test_etc_secrets_are_hidden(ctx: ToolContext, path: str) -> None:
    out = shell(ctx, f"cat {path} 2>&1; ls {path} 2>&1; echo [$(head -c 200 {path} 2>/dev/null)]")
    assert "[]" in out
    if Path(path).is_file() and os.access(path, os.R_OK) and Path(path).read_text().strip():
        assert Path(path).read_text().splitlines()[0] not in out


def test_the_home_directory_and_run_are_hidden(ctx: ToolContext, host_file: Path) -> None:
    out = shell(ctx, f"cat {host_file} 2>/dev/null; ls -a {host_file.parent} /run /var/run /root /home 2>/dev/null")
    assert "host secret" not in out
    assert host_file.name not in out


def listening_unix(path: str) -> socket.socket:
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(1)
    server.setblocking(False)
    return server


CONNECT = (
    "python3 -c \"import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); print('CONNECTED')\""
)


@pytest.mark.parametrize("where", ["tmp", "workspace parent", "abstract"])
def test_host_unix_sockets_are_unreachable(ctx: ToolContext, tmp_path: Path, workspace: Path, where: str) -> None:
    folder = {"tmp": tmp_path, "workspace parent": workspace.parent, "abstract": tmp_path}[where]
    path = str(folder / f"probe-{where.split()[0]}.sock")
    address = "\0" + path if where == "abstract" else path
    server = listening_unix(address)
    try:
        target = f"'@{path}'" if where == "abstract" else path
        script = CONNECT.replace("s.connect(sys.argv[1])", "s.connect(sys.argv[1].replace('@', chr(0), 1))")
        out = shell(ctx, f"{script} {target} 2>&1")
        try:
            accepted = server.accept()[0]
            accepted.close()
        except BlockingIOError:
            accepted = None
    finally:
        server.close()
        Path(path).unlink(missing_ok=True)
    assert "CONNECTED" not in out
    assert accepted is None


def test_the_live_recording_under_sii_home_in_tmp_cannot_be_appended(ctx: ToolContext, sii_home: Path) -> None:
    recording = sii_home / "recordings" / "live.jsonl"
    recording.parent.mkdir(parents=True)
    recording.write_text('{"type": "meta"}\n')
    shell(ctx, f'echo \'{{"type": "forged"}}\' >> {recording}; ls {sii_home}')
    assert recording.read_text() == '{"type": "meta"}\n'


# --- the workspace's .git and .sii: read-only, and never a door to somewhere else ---------------------------------


@pytest.mark.parametrize(
    "attack",
    [
        "echo '[core]\n\tfsmonitor = touch /tmp/x' >> .git/config",
        "git config core.fsmonitor 'touch pwned'",
        "printf '#!/bin/sh\ntouch pwned\n' > .git/hooks/x",
        "printf '#!/bin/sh\ntouch pwned\n' > .git/hooks/pre-commit; chmod +x .git/hooks/pre-commit",
        "mv .git .git-old && mkdir .git",
        "rm -rf .git/hooks",
        "mount -o remount,rw,bind .git",
    ],
)
def test_git_metadata_is_read_only(ctx: ToolContext, workspace: Path, attack: str) -> None:
    config = (workspace / ".git" / "config").read_text()
    hooks = sorted(path.name for path in (workspace / ".git" / "hooks").iterdir())
    shell(ctx, attack)
    assert (workspace / ".git" / "config").read_text() == config
    assert sorted(path.name for path in (workspace / ".git" / "hooks").iterdir()) == hooks
    assert not (workspace / ".git-old").exists()


def test_project_config_is_read_only(workspace: Path) -> None:
    (workspace / ".sii").mkdir()
    (workspace / ".sii" / "config.toml").write_text('mode = "ask"\n')
    context = sandboxed_context(workspace)
    try:
        shell(context, "echo 'mode = \"yolo\"' > .sii/config.toml; echo x > .sii/new.toml")
    finally:
        context.close()
    assert (workspace / ".sii" / "config.toml").read_text() == 'mode = "ask"\n'
    assert not (workspace / ".sii" / "new.toml").exists()


def test_a_linked_sii_folder_does_not_show_its_target(workspace: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "key").write_text("host secret\n")
    (workspace / ".sii").symlink_to(outside)
    context = sandboxed_context(workspace)
    try:
        out = shell(context, "cat .sii/key; ls .sii/")
    finally:
        context.close()
    assert "host secret" not in out


# --- the shell's own files: what sii writes the sandbox cannot redirect, what it writes sii reads safely ------------


def test_a_job_log_replaced_by_a_link_does_not_read_a_host_file(ctx: ToolContext, host_file: Path) -> None:
    started = run(ctx, "run_shell", command="echo started", background=True)
    assert not started.is_error
    shell(ctx, "sleep 0.2")
    folder = ctx.shell.tmp_dir
    shell(ctx, f"for log in {folder}/job-1/log; do rm -f $log; ln -s {host_file} $log; done")
    shown = run(ctx, "job_output", job_id=1).text
    assert "host secret" not in shown


# What the shell writes and sii reads or rewrites: its output, a job's folder, FIFO, log and its done marker, the
# cwd sii records when it must kill bash. (Scripts sii writes are in a folder the sandbox sees read-only.)
@pytest.mark.parametrize(
    "name", ["out-3.log", "job-2", "job-2/fifo", "job-2/log", "job-2/log.done", "cwd", "scripts/job-2.sh"]
)
def test_files_sii_writes_cannot_be_pointed_elsewhere(ctx: ToolContext, host_file: Path, name: str) -> None:
    run(ctx, "run_shell", command="true", background=True)
    folder = ctx.shell.tmp_dir
    if name.startswith("scripts/"):
        folder, name = ctx.shell.scripts, name.removeprefix("scripts/")
    shell(ctx, f"mkdir -p {folder}/job-2; rm -rf {folder}/{name}; ln -sf {host_file} {folder}/{name}")
    run(ctx, "run_shell", command="echo second", background=True)
    shell(ctx, "sleep 0.2")
    assert "host secret" not in run(ctx, "job_output", job_id=2).text
    run(ctx, "run_shell", command="sleep 10", timeout=0.5)
    assert host_file.read_text() == "host secret\n"


def test_the_scratch_stays_read_only_in_a_workspace_that_holds_it(
    workspace: Path, host_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SII_HOME", str(workspace / "home"))  # sii's home, and so its scratch, in the workspace
    context = sandboxed_context(workspace)
    try:
        shell(context, "true")
        scripts = context.shell.scripts.relative_to(workspace)
        shell(context, f"rm -f {scripts}/command.sh; ln -sf {host_file} {scripts}/command.sh")
        shell(context, "true")
    finally:
        context.close()
    assert host_file.read_text() == "host secret\n"


def test_a_sandboxed_job_is_killed_by_its_own_pid(ctx: ToolContext) -> None:
    bystander = subprocess.Popen(["sleep", "60"])
    try:
        started = run(ctx, "run_shell", command="sleep 60", background=True)
        job = ctx.jobs.get(started.data["job_id"])
        assert job.pid is not None and job.running()  # the host's number for it, in the sandbox's namespace
        assert os.readlink(f"/proc/{job.pid}/ns/pid") != os.readlink("/proc/self/ns/pid")
        killed = run(ctx, "kill_job", job_id=started.data["job_id"])
        assert killed.data["killed"] is True
        assert "sleep 60" not in shell(ctx, "ps -eo args 2>/dev/null || cat /proc/[0-9]*/cmdline")
        assert bystander.poll() is None
    finally:
        bystander.send_signal(signal.SIGKILL)
        bystander.wait()


# --- network --------------------------------------------------------------------------------------------------------


@pytest.fixture
def tcp_server() -> Iterator[int]:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    yield server.getsockname()[1]
    server.close()


TCP = "python3 -c \"import socket; socket.create_connection(('127.0.0.1', {port}), timeout=3); print('CONNECTED')\""


def test_no_network_unless_allowed(workspace: Path, tcp_server: int) -> None:
    outputs = []
    for network in (False, True):
        context = sandboxed_context(workspace, network=network)
        try:
            outputs.append(shell(context, TCP.format(port=tcp_server) + " 2>&1"))
        finally:
            context.close()
    assert "CONNECTED" not in outputs[0]
    assert "CONNECTED" in outputs[1]


# --- ordinary work ------------------------------------------------------------------------------------------------


def test_ordinary_work_in_the_workspace_succeeds(ctx: ToolContext, workspace: Path) -> None:
    out = shell(
        ctx,
        "mkdir -p build && echo hello > build/out.txt && cat build/out.txt && "
        "python3 -c 'print(6 * 7)' && git status --short && git log --oneline | wc -l && "
        "echo tmp > /tmp/scratch && cat /tmp/scratch && touch $HOME/.cache-probe && echo home-ok",
    )
    assert out.splitlines()[:2] == ["hello", "42"]
    assert "home-ok" in out and "[exit code 0]" in out
    assert (workspace / "build" / "out.txt").read_text() == "hello\n"


def test_a_refused_namespace_is_a_clear_error(workspace: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "bin" / "bwrap"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\necho 'bwrap: Creating new namespace failed: Operation not permitted' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(fake.parent))
    with pytest.raises(SandboxError, match=r"cannot isolate the sandbox here .*Operation not permitted"):
        Sandbox().command(workspace)


# --- the prefix as sii's git tools use it: no terminal to type into, git works read-only --------------------------


def test_a_prefixed_program_has_no_terminal_to_type_into(workspace: Path) -> None:
    """Started from sii's own terminal (here a pty), it runs in a new session: /dev/tty, and with it TIOCSTI
    into the terminal sii reads from, is out of reach."""
    import pexpect

    script = "true >/dev/tty && echo HAS_TERMINAL || echo NO_TERMINAL"
    child = pexpect.spawn(Sandbox().command(workspace)[0], [*Sandbox().command(workspace)[1:], "sh", "-c", script])
    try:
        child.expect(["HAS_TERMINAL", "NO_TERMINAL"], timeout=20)
        assert child.after == b"NO_TERMINAL"
    finally:
        child.close(force=True)


def test_git_through_the_prefix_reads_but_cannot_configure(workspace: Path) -> None:
    prefix = Sandbox().command(workspace)
    status = subprocess.run([*prefix, "git", "status", "--short"], capture_output=True, text=True, timeout=30)
    (workspace / "new.txt").write_text("x\n")
    listed = subprocess.run([*prefix, "git", "status", "--short"], capture_output=True, text=True, timeout=30)
    configured = subprocess.run([*prefix, "git", "config", "core.fsmonitor", "touch /tmp/x"], capture_output=True)
    assert status.returncode == 0 and listed.stdout == "?? new.txt\n"
    assert configured.returncode != 0
    assert "fsmonitor" not in (workspace / ".git" / "config").read_text()
