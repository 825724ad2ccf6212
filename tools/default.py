"""The tool set sii gives the model by default."""

from tools.base import ToolRegistry
from tools.files import EDIT_FILE, READ_FILE, WRITE_FILE
from tools.git import GIT_DIFF, GIT_STATUS
from tools.search import GREP
from tools.shell import RUN_SHELL


def default_registry() -> ToolRegistry:
    return ToolRegistry([READ_FILE, WRITE_FILE, EDIT_FILE, RUN_SHELL, GREP, GIT_STATUS, GIT_DIFF])
