"""The one convention of sii's subcommands. A family module exposes `register(commands)`, which adds its parser(s)
to sii's command line, and each action sets `handler(args) -> exit code` with `set_defaults`; every handler is
wrapped by `reports(family, ...)`, which turns the errors a user can fix into one line on stderr and a documented
exit code, never a traceback. It lives in the lowest room so that `recordings/`, `finetune/` and `sii/` all follow
it without importing upward; a family names the error classes of higher rooms by their qualified name, and the
class is looked up only when such an error is raised (so declaring them imports nothing)."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import wraps
from pathlib import Path

import platformdirs

Handler = Callable[[argparse.Namespace], int]
SubParsers = argparse._SubParsersAction

# The exit codes of every command (the top-level parser's epilog says so too).
EXIT_OK = 0
EXIT_NOTHING = 1  # nothing to do, or problems found (a failed import, an invalid recording, an unsolved task)
EXIT_ERROR = 2  # bad input, or the command could not run (argparse's own usage errors exit 2 as well)
EXIT_INTERRUPTED = 130  # Ctrl-C
EXIT_CODES = (
    f"exit codes of every command: {EXIT_OK} done, {EXIT_NOTHING} nothing to do or problems found, "
    f"{EXIT_ERROR} bad input or could not run, {EXIT_INTERRUPTED} Ctrl-C"
)
# What every family reports as a user's error: bad values (ConfigError, TaskError, DataError... subclass
# ValueError) and files that are missing, unreadable or on a full disk.
USER_ERRORS = ("builtins.ValueError", "builtins.OSError")


def qualified_names(error: BaseException) -> set[str]:
    """`module.Class` for the error's class and each class it derives from."""
    return {f"{cls.__module__}.{cls.__qualname__}" for cls in type(error).__mro__}


def one_line(error: BaseException) -> str:
    """The error's message and its notes (`add_note`: a hint such as how to resume) as one line."""
    return " ".join(" ".join(str(part).split()) for part in (error, *getattr(error, "__notes__", ())) if str(part))


def reports(family: str | None, *errors: str, interrupted: str | None = None) -> Callable[[Handler], Handler]:
    """The decorator of `family`'s handlers (None: the top-level command): `errors` (qualified class names, with
    USER_ERRORS) become `sii FAMILY: error: MESSAGE` and exit 2; Ctrl-C exits 130, after `interrupted` or the
    interrupt's notes when there are any."""
    prefix = f"sii {family}" if family else "sii"
    known = {*USER_ERRORS, *errors}

    def decorate(handler: Handler) -> Handler:
        @wraps(handler)
        def run(args: argparse.Namespace) -> int:
            try:
                return handler(args)
            except KeyboardInterrupt as stop:
                if hint := one_line(stop) or interrupted:
                    print(f"\n{prefix}: interrupted; {hint}", file=sys.stderr)
                return EXIT_INTERRUPTED
            except Exception as exc:
                if not qualified_names(exc) & known:
                    raise  # a bug: its traceback is what a report needs
                print(f"{prefix}: error: {one_line(exc)}", file=sys.stderr)
                return EXIT_ERROR

        return run

    return decorate


def sii_home() -> Path:
    """All of sii's data: `$SII_HOME` when set, else the XDG data dir."""
    return Path(os.environ.get("SII_HOME") or platformdirs.user_data_dir("sii"))


def sii_cache() -> Path:
    """Rebuildable data (the converted bundled model): `$SII_CACHE` when set, else the XDG cache dir."""
    return Path(os.environ.get("SII_CACHE") or platformdirs.user_cache_dir("sii"))


@dataclass(frozen=True)
class Places:
    """Where sii keeps its data. The `sii` face resolves it from the settings (config files included) and hands
    it down as `args.places()`; a family run without that face (`python -m finetune`) reads the environment."""

    home: Path
    cache: Path
    recordings: Path

    @classmethod
    def from_environment(cls) -> Places:
        home = sii_home()
        recordings = os.environ.get("SII_RECORDINGS_DIR")
        return cls(home, sii_cache(), Path(recordings).expanduser() if recordings else home / "recordings")


def register_all(commands: SubParsers, modules: Iterable[str]) -> None:
    """Each family module's `register(commands)`, in order."""
    for module in modules:
        importlib.import_module(module).register(commands)
