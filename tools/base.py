"""The tool contract: schema in, Observation out. Tools never print; faces render what they return."""

from __future__ import annotations

import contextlib
import ctypes
import errno
import json
import os
import re
import secrets
import stat
import sys
import weakref
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from recordings.schema import json_type, unicode_safe
from recordings.strictjson import parse_json
from tools.text import clip

if TYPE_CHECKING:  # both import this module
    from tools.sandbox import Sandbox
    from tools.shell import JobTable, PersistentShell


class ToolError(Exception):
    """A failure the model should read and can act on (bad path, missing string...)."""


@dataclass
class Observation:
    """What a tool returns: text for the model, structured data for the UI and the recording."""

    text: str
    is_error: bool = False
    data: dict[str, Any] = field(default_factory=dict)


MAX_SYMLINKS = 40  # the kernel's own bound: more links in one path means a loop
_NOFOLLOW = os.O_NOFOLLOW | os.O_CLOEXEC | getattr(os, "O_NOCTTY", 0)
_DIRECTORY = os.O_RDONLY | os.O_DIRECTORY
# openat2(2) RESOLVE_* flags: stay on the directory's own mount (bind mounts included), beneath it, and never
# through /proc-style magic links. 437 is openat2's number on every Linux architecture (the unified table).
_RESOLVE = 0x01 | 0x02 | 0x08
_SYS_OPENAT2 = 437
_MOUNTINFO_ESCAPE = re.compile(r"\\([0-7]{3})")  # mountinfo writes space, tab, newline, backslash as \ooo
_PROC_FD = Path("/proc/self/fd")
_ABSENT = -1  # a directory the walk passes that does not exist (yet)
_OTHER_MOUNT = "{!r} is on another filesystem or mount than the workspace; it is not used"


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64)]


def _openat2_or_none() -> Callable[[int, str, int, int], int] | None:
    """openat2 through libc's syscall(), when this kernel has it (5.6+) and no seccomp filter hides it; without
    it, opening falls back to openat plus a st_dev check, which sees other filesystems but not bind mounts."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        syscall = ctypes.CDLL(None, use_errno=True).syscall
    except (OSError, AttributeError):
        return None
    syscall.restype = ctypes.c_long

    def openat2(dir_fd: int, name: str, flags: int, mode: int) -> int:
        how = _OpenHow(flags, mode if flags & os.O_CREAT else 0, _RESOLVE)
        size = ctypes.c_size_t(ctypes.sizeof(how))
        for _ in range(8):  # EAGAIN: a rename raced the lookup, and the kernel asks to retry
            fd = syscall(ctypes.c_long(_SYS_OPENAT2), ctypes.c_int(dir_fd), os.fsencode(name), ctypes.byref(how), size)
            if fd >= 0:
                return fd
            code = ctypes.get_errno()
            if code != errno.EAGAIN:
                raise OSError(code, os.strerror(code), name)
        raise OSError(errno.EAGAIN, os.strerror(errno.EAGAIN), name)

    probe = os.open("/", _DIRECTORY | os.O_CLOEXEC)
    try:
        os.close(openat2(probe, ".", _DIRECTORY | _NOFOLLOW, 0))
    except OSError:
        return None
    finally:
        os.close(probe)
    return openat2


_OPENAT2 = _openat2_or_none()


def _close(fd: int) -> None:
    if fd != _ABSENT:
        os.close(fd)


@dataclass(frozen=True)
class _Root:
    """The workspace directory, held open for the session: every path is walked from this handle."""

    fd: int
    dev: int
    real: str
    release: weakref.finalize  # closes `fd` once: on close(), or when the context is collected


@dataclass
class _Spot:
    """Where a walk ended: `name` inside the open directory `dir_fd` ('.' when the path names that directory),
    its canonical workspace-relative path, and its lstat (None: it does not exist)."""

    dir_fd: int
    name: str
    relative: str
    stat: os.stat_result | None


@dataclass
class ToolContext:
    """What a tool may touch: the workspace root; what the session gives the tools (the sandbox, whether hooks
    may run, the code map's cache and focus); and what the tools keep for the session (the shell, its jobs, the
    undo history, the todo list), each in a field of its own type.

    Every workspace file is reached through this class, one component at a time from a handle on the workspace
    directory (`openat` with O_NOFOLLOW, or `openat2` confined to the workspace's mount where the kernel has it),
    so a symlink, `..`, a bind mount or a concurrent swap of a directory for a symlink cannot lead out. Symlinks
    that stay inside are followed by the walk itself; files with several hard links and non-regular files are
    refused, since their content may belong to something outside."""

    workspace: Path
    session_id: str = ""
    # Where the tools keep their private temporary files (the shell's output and job logs): a folder of sii's own
    # home, given by the session; None: a `sii` folder in the system's temporary directory.
    scratch: Path | None = None
    # Given by the session.
    sandbox: Sandbox | None = None  # contains the shell and git when the user turned it on
    git_hooks: bool = False  # the user lets git_commit / git_branch run the repository's hooks
    cache_dir: Path | None = None  # the code map's tag cache; None: the user's cache folder
    conversation_focus: list[str] = field(default_factory=list)  # paths and names the user talks about
    # Kept by the tools, for this workspace only.
    shell: PersistentShell | None = field(default=None, compare=False)
    jobs: JobTable | None = field(default=None, compare=False)
    undo: dict[str, list[str | None]] = field(default_factory=dict)  # path -> its contents before each write
    todos: list[dict[str, str]] = field(default_factory=list)  # the model's checklist (todo_write)
    _root: _Root | None = field(default=None, init=False, repr=False, compare=False)

    def moved_to(self, workspace: Path) -> ToolContext:
        """A context for another workspace of the same session: what the session gave carries over; what the
        tools kept here (the shell and its jobs, the undo history, the todo list) belonged to this one."""
        return ToolContext(
            workspace,
            self.session_id,
            self.scratch,
            self.sandbox,
            self.git_hooks,
            self.cache_dir,
            list(self.conversation_focus),
        )

    # --- the workspace handle and the walk -------------------------------------------------------------------

    def _handle(self) -> _Root:
        if self._root is None:
            real = os.path.realpath(self.workspace)  # the user chose the workspace: its own path may be a link
            fd = os.open(real, _DIRECTORY | os.O_CLOEXEC)
            self._root = _Root(fd, os.fstat(fd).st_dev, real, weakref.finalize(self, os.close, fd))
        return self._root

    def _parts(self, path: object) -> list[str]:
        """The components of `path` relative to the workspace; refuses what it would misread or crash on:
        non-strings, null bytes, `~` (not expanded here), absolute paths elsewhere."""
        if not isinstance(path, str):
            raise ToolError(f"path must be a string, got {type(path).__name__}")
        if "\0" in path:
            raise ToolError(f"path {path!r} contains a null byte")
        if path.startswith("~"):
            raise ToolError(
                f"path {path!r} starts with '~', which is not expanded; use a path relative to the workspace"
            )
        inside = self._under_root(path) if path.startswith("/") else path
        if inside is None:
            raise ToolError(f"path {path!r} is outside the workspace {self._handle().real}")
        return inside.split("/")

    def _under_root(self, absolute: str) -> str | None:
        """The part of an absolute path below the workspace, spelled as given or as its real path; else None."""
        for prefix in (os.path.abspath(self.workspace), self._handle().real):
            if absolute == prefix or absolute.startswith(prefix.rstrip("/") + "/"):
                return absolute[len(prefix) :]
        return None

    def _open_at(self, dir_fd: int, name: str, flags: int, mode: int = 0o666) -> int:
        """Open one component without following it, refusing one on another mount or filesystem."""
        try:
            if _OPENAT2 is not None:
                fd = _OPENAT2(dir_fd, name, flags | _NOFOLLOW, mode)
            else:
                fd = os.open(name, flags | _NOFOLLOW, mode, dir_fd=dir_fd)
        except OSError as exc:
            if exc.errno == errno.EXDEV:
                raise ToolError(_OTHER_MOUNT.format(name)) from exc
            raise
        if os.fstat(fd).st_dev != self._handle().dev:
            os.close(fd)
            raise ToolError(_OTHER_MOUNT.format(name))
        return fd

    @contextlib.contextmanager
    def _walk(self, path: object, *, missing: str = "raise", follow_last: bool = True) -> Iterator[_Spot]:
        """Walk `path` from the workspace handle. Directories are opened with O_NOFOLLOW as they are passed, so
        a swap after the check cannot redirect the walk; symlinks are read and their targets walked the same
        way, and one that climbs above the workspace (or points at an absolute path outside it) is refused.
        A missing directory on the way is an error (`missing="raise"`), created ("create"), or walked on as
        empty ("absent": what a path under it would be, without touching the disk)."""
        root = self._handle()
        # Without openat2 a bind mount of the same filesystem shows no new st_dev: the mount table tells.
        mounts = frozenset() if _OPENAT2 is not None else frozenset(self.mounts_inside())
        parts = deque(self._parts(path))
        stack: list[tuple[str, int]] = []  # the directories entered below the root, each held open (or _ABSENT)
        hops = 0
        try:
            while True:
                while parts and parts[0] in ("", "."):
                    parts.popleft()
                dir_fd = stack[-1][1] if stack else root.fd
                here = "/".join(name for name, _ in stack)
                if not parts:
                    yield _Spot(dir_fd, ".", here or ".", None if dir_fd == _ABSENT else os.fstat(dir_fd))
                    return
                name = parts.popleft()
                if name == "..":
                    if not stack:
                        raise ToolError(f"path {path!r} is outside the workspace {root.real}")
                    _close(stack.pop()[1])
                    continue
                last = all(part in ("", ".") for part in parts)
                relative = f"{here}/{name}" if here else name
                info = self._lstat(dir_fd, name)
                if info is not None and relative in mounts:
                    raise ToolError(_OTHER_MOUNT.format(relative))
                if info is not None and stat.S_ISLNK(info.st_mode) and (follow_last or not last):
                    hops += 1
                    if hops > MAX_SYMLINKS:
                        raise ToolError(f"path {path!r} cannot be resolved: too many levels of symbolic links")
                    target = self._link_target(path, dir_fd, name, relative)
                    if target.startswith("/"):  # made relative to the root by _link_target
                        while stack:
                            _close(stack.pop()[1])
                    parts.extendleft(reversed(target.split("/")))
                    continue
                if last:
                    if info is not None and info.st_dev != root.dev:
                        raise ToolError(_OTHER_MOUNT.format(relative))
                    yield _Spot(dir_fd, name, relative, info)
                    return
                if missing == "absent" and (info is None or not stat.S_ISDIR(info.st_mode)):
                    stack.append((name, _ABSENT))  # as os.path.exists sees it: nothing lies below a file
                elif info is None and missing == "raise":
                    raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), relative)
                elif info is None:
                    with contextlib.suppress(FileExistsError):
                        os.mkdir(name, dir_fd=dir_fd)
                    parts.appendleft(name)
                elif not stat.S_ISDIR(info.st_mode):
                    raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), relative)
                else:
                    try:
                        stack.append((name, self._open_at(dir_fd, name, _DIRECTORY)))
                    except (NotADirectoryError, FileNotFoundError):  # swapped since the lstat: look again
                        hops += 1
                        if hops > MAX_SYMLINKS:
                            raise
                        parts.appendleft(name)
        finally:
            for _, fd in stack:
                _close(fd)

    @staticmethod
    def _lstat(dir_fd: int, name: str) -> os.stat_result | None:
        if dir_fd == _ABSENT:
            return None
        try:
            return os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            return None

    def _link_target(self, path: object, dir_fd: int, name: str, relative: str) -> str:
        """The symlink's target: relative as it is, or absolute inside the workspace (returned as '/' plus the
        path under the root); one that points anywhere else is refused."""
        target = os.readlink(name, dir_fd=dir_fd)
        if not target.startswith("/"):
            return target
        inside = self._under_root(target)
        if inside is None:
            real = self._handle().real
            raise ToolError(f"path {path!r} is outside the workspace {real} ({relative} is a symlink to {target})")
        return "/" + inside

    @staticmethod
    def _failure(path: object, exc: OSError) -> ToolError:
        if isinstance(exc, (FileNotFoundError, NotADirectoryError)):
            return ToolError(f"{path} does not exist")
        return ToolError(f"{path} cannot be opened: {exc.strerror or exc}")

    # --- what the tools use ------------------------------------------------------------------------------------

    def locate(self, path: object) -> str:
        """The canonical workspace-relative path of `path` ('.' for the root), symlinks inside resolved."""
        try:
            with self._walk(path, missing="absent") as spot:
                return spot.relative
        except OSError as exc:
            raise self._failure(path, exc) from exc

    def resolve(self, path: object) -> Path:
        """The absolute path of `path` inside the workspace, for handing to a subprocess; checked like every
        open (prefer the other methods: a path can be swapped after this returns)."""
        return Path(self._handle().real) / self.locate(path)

    def stat(self, path: object, *, follow_symlinks: bool = True) -> os.stat_result | None:
        """The stat of `path` (its lstat with follow_symlinks=False), or None where it does not exist."""
        try:
            with self._walk(path, missing="absent", follow_last=follow_symlinks) as spot:
                return spot.stat
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:
            raise self._failure(path, exc) from exc

    def open_read(self, path: object) -> IO[bytes]:
        """A regular file of the workspace with a single hard link, opened for reading. O_NONBLOCK keeps a FIFO
        swapped in after the check from blocking; the opened inode must be the one that was checked."""
        try:
            with self._walk(path) as spot:
                checked = self._check_file(path, spot.stat)
                if checked is None:
                    raise ToolError(f"{path} does not exist")
                fd = self._open_at(spot.dir_fd, spot.name, os.O_RDONLY | os.O_NONBLOCK)
        except OSError as exc:
            raise self._failure(path, exc) from exc
        opened = os.fstat(fd)
        if (opened.st_dev, opened.st_ino) != (checked.st_dev, checked.st_ino) or opened.st_nlink > 1:
            os.close(fd)
            raise ToolError(f"{path} changed while it was being opened; try again")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")

    def read_bytes(self, path: object, limit: int = -1) -> bytes:
        """The content of `path` (its first `limit` bytes if given), opened as open_read does."""
        with self.open_read(path) as handle:
            return handle.read(limit)

    @staticmethod
    def _check_file(path: object, info: os.stat_result | None) -> os.stat_result | None:
        if info is None:
            return None
        if stat.S_ISDIR(info.st_mode):
            raise ToolError(f"{path} is a directory; use list_directory to see what it holds")
        if not stat.S_ISREG(info.st_mode):
            raise ToolError(f"{path} is not a regular file (a device, socket or pipe); it is not used")
        if info.st_nlink > 1:
            raise ToolError(
                f"{path} has {info.st_nlink} hard links: the same file is reachable from elsewhere, maybe from "
                "outside the workspace, so it is neither read nor written"
            )
        return info

    def write_bytes(self, path: object, data: bytes) -> None:
        """Replace `path` atomically with `data`: written to a temporary file in the same directory handle, then
        renamed over it. Parent directories are created; an existing file keeps its permission bits."""
        try:
            with self._walk(path, missing="create") as spot:
                if spot.stat is not None:
                    self._check_file(path, spot.stat)
                temporary = f".sii-{secrets.token_hex(6)}.tmp"
                fd = self._open_at(spot.dir_fd, temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
                try:
                    with os.fdopen(fd, "wb") as handle:
                        if spot.stat is not None:
                            os.fchmod(handle.fileno(), stat.S_IMODE(spot.stat.st_mode))
                        handle.write(data)
                    os.replace(temporary, spot.name, src_dir_fd=spot.dir_fd, dst_dir_fd=spot.dir_fd)
                except BaseException:
                    with contextlib.suppress(OSError):
                        os.unlink(temporary, dir_fd=spot.dir_fd)
                    raise
        except OSError as exc:
            raise self._failure(path, exc) from exc

    def unlink(self, path: object) -> None:
        """Delete the file `path` (never a directory, never what a symlink swapped in at the last moment points
        to: unlinkat removes the name itself). A missing file is not an error."""
        try:
            with self._walk(path) as spot:
                if spot.stat is None:
                    return
                if stat.S_ISDIR(spot.stat.st_mode):
                    raise ToolError(f"{path} is a directory; it is not deleted")
                os.unlink(spot.name, dir_fd=spot.dir_fd)
        except FileNotFoundError:
            return
        except OSError as exc:
            raise self._failure(path, exc) from exc

    def _open_directory(self, path: object) -> tuple[int, str]:
        """An open handle on the workspace directory `path`, and its canonical relative path."""
        try:
            with self._walk(path) as spot:
                if spot.stat is None or not stat.S_ISDIR(spot.stat.st_mode):
                    raise ToolError(f"{path} is not a directory" if spot.stat else f"{path} does not exist")
                return self._open_at(spot.dir_fd, spot.name, _DIRECTORY), spot.relative
        except OSError as exc:
            raise self._failure(path, exc) from exc

    @contextlib.contextmanager
    def directory(self, path: object) -> Iterator[Path]:
        """A path to the directory `path` pinned by an open handle (/proc/self/fd/N), to run a subprocess in:
        the child enters the directory that was checked, whatever is renamed meanwhile. Without /proc it is
        the directory's real path, checked just before."""
        fd, relative = self._open_directory(path)
        try:
            yield Path(f"/proc/self/fd/{fd}") if _PROC_FD.is_dir() else Path(self._handle().real) / relative
        finally:
            os.close(fd)

    def walk(self, path: object) -> Iterator[tuple[str, list[str], list[str]]]:
        """Like os.walk on a workspace directory: (relative dir, subdirectory names, other names), top down,
        pruned by editing the names in place. Symlinks are listed, never entered; nor are other mounts."""
        fd, _ = self._open_directory(path)
        try:
            yield from self._walk_fd(fd, "")
        finally:
            os.close(fd)

    def _walk_fd(self, fd: int, relative: str) -> Iterator[tuple[str, list[str], list[str]]]:
        with os.scandir(fd) as entries:
            listed = list(entries)
        dirnames = [entry.name for entry in listed if entry.is_dir(follow_symlinks=False)]
        yield relative, dirnames, [entry.name for entry in listed if not entry.is_dir(follow_symlinks=False)]
        for name in dirnames:
            try:
                child = self._open_at(fd, name, _DIRECTORY)
            except (OSError, ToolError):  # gone, swapped, or another mount
                continue
            try:
                yield from self._walk_fd(child, f"{relative}{name}/")
            finally:
                os.close(child)

    def mounts_inside(self) -> list[str]:
        """Workspace-relative paths of the mounts below the workspace root (bind mounts included), read from
        /proc/self/mountinfo, for the programs that walk a tree themselves (rg) to leave out; [] where unknown."""
        prefix = self._handle().real.rstrip("/") + "/"
        try:
            with open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as table:
                points = [line.split()[4] for line in table if len(line.split()) > 4]
        except OSError:
            return []
        decoded = (_MOUNTINFO_ESCAPE.sub(lambda match: chr(int(match[1], 8)), point) for point in points)
        return sorted({point[len(prefix) :] for point in decoded if point.startswith(prefix)})

    def close(self) -> None:
        """Kill the persistent shell, then what is left of its background jobs; release the workspace handle."""
        shell, jobs, self.shell, self.jobs = self.shell, self.jobs, None, None
        if shell is not None:
            shell.close()
        if jobs is not None:
            jobs.close()
        if self._root is not None:
            self._root.release()
            self._root = None


@dataclass(frozen=True)
class Tool:
    """A callable the model can use. `mutates`: it changes something, so it needs approval outside yolo mode.
    `edits_files`: it only edits workspace files (with undo and diffs), so auto-edit mode runs it unasked.
    `paths_written`: the paths a call would write, as given, so approval can protect `.git/` and `.sii/`.
    `preview`: the diff a call would make, for the approval question."""

    name: str
    description: str
    parameters: dict[str, Any]
    run: Callable[[dict[str, Any], ToolContext], Observation]
    mutates: bool = False
    edits_files: bool = False
    paths_written: Callable[[dict[str, Any]], list[str]] | None = None
    # The diff the call would make, computed without making it, so a person sees it before approving.
    preview: Callable[[dict[str, Any], ToolContext], str | None] | None = None
    # The bash command a call would run (None: not a shell tool, or no command string), so approval judges every
    # shell tool, whatever its name or arguments, by what it would run.
    shell_command: Callable[[dict[str, Any]], str | None] | None = None

    def schema(self) -> dict[str, Any]:
        """The OpenAI function schema the model sees. Unknown arguments are declared invalid, which also
        keeps a server's constrained decoding (`tool_choice: required`) from inventing some."""
        parameters = {**self.parameters, "additionalProperties": False}
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.description, "parameters": parameters},
        }


class ToolRegistry:
    """Hands schemas to the model and dispatches calls, turning every failure into an error Observation."""

    def __init__(self, tools: list[Tool]) -> None:
        self._tools = {tool.name: tool for tool in tools}
        self._validators: dict[str, Any] = {}

    def __contains__(self, name: str) -> bool:
        return name in self._tools

    def get(self, name: str) -> Tool | None:
        return self._tools.get(name)

    def schemas(self) -> list[dict[str, Any]]:
        return [tool.schema() for tool in self._tools.values()]

    def dispatch(
        self,
        name: str,
        arguments: dict[str, Any] | str,
        context: ToolContext,
        approve: Callable[[Tool], str | None] | None = None,
    ) -> Observation:
        """Run one call. Unknown tools, arguments that are no JSON object or break the tool's schema, refusals
        and tool errors become observations, never raise. `approve` is asked only about a valid call: it
        returns None to run it, or why it may not run."""
        tool = self._tools.get(name)
        if tool is None:
            known = ", ".join(sorted(self._tools))
            return Observation(f"Error: unknown tool {name!r}. Available tools: {known}.", is_error=True)
        if isinstance(arguments, str):
            return Observation(_not_an_object(name, arguments), is_error=True)
        if violations := self._violations(tool, arguments):
            listed = "; ".join(violations[:MAX_VIOLATIONS])
            return Observation(
                f"Error: invalid arguments for {name}: {listed}. Schema: {json.dumps(tool.parameters)}", is_error=True
            )
        if approve is not None and (refusal := approve(tool)):
            return Observation(f"Not run: {refusal}", is_error=True, data={"refused": refusal})
        try:
            observation = tool.run(arguments, context)
            # Tools pass on text they did not write (file names, command output), which may hold lone
            # surrogates (undecodable bytes): the model, the server and the recording need valid Unicode.
            observation.text = unicode_safe(observation.text)
            return observation
        except ToolError as exc:
            return Observation(f"Error: {exc}", is_error=True)
        except (OSError, ValueError, TypeError) as exc:
            return Observation(f"Error: {name} failed: {type(exc).__name__}: {exc}", is_error=True)

    def _violations(self, tool: Tool, arguments: object) -> list[str]:
        """How `arguments` break the schema the model was shown, checked by jsonschema, one line each."""
        validator = self._validator(tool)
        if validator is None:
            return []
        from jsonschema.exceptions import relevance
        from referencing.exceptions import Unresolvable

        try:
            errors = sorted(validator.iter_errors(arguments), key=relevance)
        except (Unresolvable, re.error, RecursionError):  # a schema jsonschema cannot apply: the tool judges
            return []
        return [_describe_violation(error) for error in errors]

    def _validator(self, tool: Tool) -> Any:
        """One validator per tool, built on first use (jsonschema is imported only then); None when the tool's
        schema is itself invalid (an MCP server's), so the call goes to the tool as it came.

        JSON Schema counts 2.0 as an integer; the tools index, slice and count with what they get, so here an
        integer is what JSON writes as one (a Python int), and 2.0 is refused like any other wrong type."""
        if tool.name not in self._validators:
            from jsonschema import Draft202012Validator, validators
            from jsonschema.exceptions import SchemaError

            schema = tool.schema()["function"]["parameters"]
            cls = validators.validator_for(schema, default=Draft202012Validator)
            strict = validators.extend(cls, type_checker=cls.TYPE_CHECKER.redefine("integer", _is_integer))
            try:
                cls.check_schema(schema)
                self._validators[tool.name] = strict(schema)
            except SchemaError:
                self._validators[tool.name] = None
        return self._validators[tool.name]


def _is_integer(_checker: object, instance: object) -> bool:
    return isinstance(instance, int) and not isinstance(instance, bool)


MAX_VIOLATIONS = 5


def _not_an_object(name: str, arguments: str) -> str:
    try:
        kind = json_type(parse_json(arguments))
    except ValueError:
        return (
            f"Error: the arguments for {name} are not valid JSON: {clip(arguments, 200)!r}. "
            "Send a JSON object matching the tool's schema."
        )
    return f"Error: the arguments for {name} must be a JSON object, not a JSON {kind}: {clip(arguments, 200)!r}."


def _describe_violation(error: Any) -> str:
    """One jsonschema error as the model should read it: which argument, what was expected, what came."""
    where = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in error.absolute_path)[1:]
    instance = error.instance
    if error.validator == "required" and isinstance(instance, dict):
        missing = [key for key in error.validator_value if key not in instance]
        return f"missing required argument {', '.join(map(repr, missing))}" + (f" in {where}" if where else "")
    if error.validator == "additionalProperties" and isinstance(instance, dict):
        known = error.schema.get("properties", {})
        unexpected = ", ".join(repr(key) for key in instance if key not in known)
        return f"unexpected argument {unexpected}" + (f" in {where}" if where else "")
    came = f"{json_type(instance)} {json.dumps(instance, ensure_ascii=False, default=repr)[:80]}"
    subject = f"argument {where!r}" if where else "the arguments"
    if error.validator == "type":
        expected = error.validator_value
        expected = " or ".join(expected) if isinstance(expected, list) else expected
        return f"{subject} must be of type {expected}, got {came}"
    return f"{subject}: {error.message[:200]} (got {came})"
