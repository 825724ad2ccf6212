"""The tool set sii gives the model by default, and the one way to narrow it by name."""

import re
from collections.abc import Iterable, Sequence

from tools.base import Tool, ToolRegistry
from tools.codemap import CODE_MAP, FIND_SYMBOL
from tools.files import APPLY_PATCH, EDIT_FILE, LIST_DIRECTORY, READ_FILE, UNDO_EDIT, WRITE_FILE
from tools.git import GIT_BRANCH, GIT_COMMIT, GIT_DIFF, GIT_LOG, GIT_SHOW, GIT_STATUS
from tools.search import GLOB, GREP
from tools.shell import JOB_OUTPUT, KILL_JOB, RUN_SHELL
from tools.todo import TODO_WRITE

NAME_SEPARATORS = re.compile(r"[,\s]+")


class UnknownTools(ValueError):
    """Names that match no tool; `unknown` holds them, str() lists the tools there are."""

    def __init__(self, unknown: list[str], known: Iterable[str]) -> None:
        self.unknown, self.known = unknown, sorted(known)
        super().__init__(f"unknown tool(s): {', '.join(unknown)}; known tools: {', '.join(self.known)}")


def default_registry(extra: Sequence[Tool] = ()) -> ToolRegistry:
    """The built-in tools, plus `extra` ones (MCP servers' tools)."""
    return ToolRegistry(
        [
            READ_FILE,
            WRITE_FILE,
            EDIT_FILE,
            APPLY_PATCH,
            UNDO_EDIT,
            LIST_DIRECTORY,
            RUN_SHELL,
            GREP,
            GIT_STATUS,
            GIT_DIFF,
            JOB_OUTPUT,
            KILL_JOB,
            GLOB,
            GIT_LOG,
            GIT_SHOW,
            GIT_COMMIT,
            GIT_BRANCH,
            CODE_MAP,
            FIND_SYMBOL,
            TODO_WRITE,
            *extra,
        ]
    )


def tool_names(values: Iterable[str]) -> list[str]:
    """Tool names from flags or config: each value may hold several, separated by commas or spaces."""
    return list(dict.fromkeys(name for value in values for name in NAME_SEPARATORS.split(str(value)) if name))


def narrow_registry(
    registry: ToolRegistry, allowed: Iterable[str] | None = None, disallowed: Iterable[str] = ()
) -> ToolRegistry:
    """Only the `allowed` tools (None: all) minus the `disallowed` ones, in the registry's order. A name that
    matches no tool raises UnknownTools, so a typo never silently leaves a tool offered or one missing."""
    wanted = None if allowed is None else set(allowed)
    unwanted = set(disallowed)
    known = [schema["function"]["name"] for schema in registry.schemas()]
    unknown = sorted(((wanted or set()) | unwanted) - set(known))
    if unknown:
        raise UnknownTools(unknown, known)
    kept = [name for name in known if (wanted is None or name in wanted) and name not in unwanted]
    return ToolRegistry([tool for name in kept if (tool := registry.get(name)) is not None])
