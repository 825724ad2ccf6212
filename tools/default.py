"""The tool set sii gives the model by default."""

from collections.abc import Sequence

from tools.base import Tool, ToolRegistry
from tools.codemap import CODE_MAP, FIND_SYMBOL
from tools.files import APPLY_PATCH, EDIT_FILE, LIST_DIRECTORY, READ_FILE, UNDO_EDIT, WRITE_FILE
from tools.git import GIT_BRANCH, GIT_COMMIT, GIT_DIFF, GIT_LOG, GIT_SHOW, GIT_STATUS
from tools.search import GLOB, GREP
from tools.shell import JOB_OUTPUT, KILL_JOB, RUN_SHELL


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
            *extra,
        ]
    )
