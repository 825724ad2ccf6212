"""The code map (Aider's repo map) and the tools over it. `extract`: a file's tags, with tree-sitter; `cache`: the
tags kept on disk; `rank`: PageRank and rendering; `repomap`: a workspace's map; `tools`: code_map and
find_symbol. The tree-sitter queries are package data in tools/queries."""

from tools.codemap.rank import rank_definitions, render_map
from tools.codemap.repomap import build_index, list_source_files, repo_map
from tools.codemap.tools import CODE_MAP, FIND_SYMBOL, conversation_focus

__all__ = [
    "CODE_MAP",
    "FIND_SYMBOL",
    "build_index",
    "conversation_focus",
    "list_source_files",
    "rank_definitions",
    "render_map",
    "repo_map",
]
