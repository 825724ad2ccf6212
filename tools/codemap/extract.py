"""Tags of source files (definitions and references), extracted with tree-sitter queries: which grammar a file
gets, what each definition's one-line signature is, and which names each line uses."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple, cast

from tree_sitter import Node, Parser, Query, QueryCursor

if TYPE_CHECKING:  # the pack itself loads a hundred grammars: imported only when parsing
    from tree_sitter_language_pack import SupportedLanguage

QUERIES = Path(__file__).parent.parent / "queries"  # package data of `tools`
EXTENSIONS = {
    ".py": "python",
    ".pyi": "python",
    ".js": "javascript",
    ".jsx": "javascript",
    ".mjs": "javascript",
    ".cjs": "javascript",
    ".ts": "typescript",
    ".mts": "typescript",
    ".cts": "typescript",
    ".tsx": "tsx",
    ".go": "go",
    ".rs": "rust",
    ".java": "java",
    ".c": "c",
    ".h": "c",
    ".cc": "cpp",
    ".cpp": "cpp",
    ".cxx": "cpp",
    ".hh": "cpp",
    ".hpp": "cpp",
    ".hxx": "cpp",
}
QUERY_FILES = {"javascript": ("javascript", "jsx"), "tsx": ("typescript", "jsx")}
MAX_SIGNATURE_CHARS = 160


class Definition(NamedTuple):
    name: str
    kind: str
    line: int
    signature: str  # the declaration up to its body on one line, with the source's indentation


@dataclass
class FileTags:
    definitions: list[Definition]
    references: dict[str, list[int]]  # name -> the lines that use it


def language_for(path: str) -> str | None:
    """The grammar for `path` by its extension (this runs for every file of the workspace on every map)."""
    dot = path.rfind(".")
    return EXTENSIONS.get(path[dot:].lower()) if dot > path.rfind("/") else None


@cache
def _parser(language: str) -> Parser:
    from tree_sitter_language_pack import get_parser  # loads a hundred grammars: only when parsing

    return get_parser(cast("SupportedLanguage", language))


@cache
def _query(language: str) -> Query:
    files = QUERY_FILES.get(language, (language,))
    source = "\n".join((QUERIES / f"{name}.scm").read_text() for name in files)
    from tree_sitter_language_pack import get_language

    return Query(get_language(cast("SupportedLanguage", language)), source)


_TIGHT_OPEN = re.compile(r"([(\[]) ")  # what collapsing a multi-line parameter list leaves behind
_TIGHT_CLOSE = re.compile(r",? ([)\]])")


def _signature(node: Node, source: bytes) -> str:
    """From the start of the definition's line to its body (or the end of that line), whitespace collapsed."""
    line_start = source.rfind(b"\n", 0, node.start_byte) + 1
    body = node.child_by_field_name("body")
    end = body.start_byte if body is not None and body.start_byte > node.start_byte else node.end_byte
    newline = source.find(b"\n", node.start_byte)
    if body is None and newline != -1:
        end = min(end, newline)
    text = source[line_start:end].decode("utf-8", "replace").rstrip()
    indent = text[: len(text) - len(text.lstrip())].expandtabs(4)
    collapsed = indent + _TIGHT_CLOSE.sub(r"\1", _TIGHT_OPEN.sub(r"\1", " ".join(text.split())))
    if len(collapsed) > MAX_SIGNATURE_CHARS:
        collapsed = collapsed[: MAX_SIGNATURE_CHARS - 3] + "..."
    return collapsed


def extract_tags(language: str, source: bytes) -> FileTags:
    """Run the language's tags query: `@name.definition.KIND` with `@definition.KIND` around it, and
    `@name.reference.KIND`. When several patterns define the same name node, the later pattern (the more
    specific one, e.g. a method rather than a function) wins; a reference on a definition's name is dropped."""
    tree = _parser(language).parse(source)
    found: dict[int, tuple[int, Definition]] = {}
    references: dict[str, set[int]] = {}
    reference_nodes: list[tuple[int, str, int]] = []
    for pattern, captures in QueryCursor(_query(language)).matches(tree.root_node):
        for capture, nodes in captures.items():
            if not capture.startswith("name."):
                continue
            role, kind = capture.split(".")[1:3]
            name_node = nodes[0]
            name = name_node.text.decode("utf-8", "replace") if name_node.text else ""
            line = name_node.start_point.row + 1
            if role == "reference":
                reference_nodes.append((name_node.start_byte, name, line))
                continue
            outer = captures.get(f"definition.{kind}", [name_node])[0]
            previous = found.get(name_node.start_byte)
            if previous is None or previous[0] < pattern:
                found[name_node.start_byte] = (pattern, Definition(name, kind, line, _signature(outer, source)))
    for start, name, line in reference_nodes:
        if start not in found:
            references.setdefault(name, set()).add(line)
    definitions = sorted((definition for _, definition in found.values()), key=lambda d: d.line)
    return FileTags(definitions, {name: sorted(lines) for name, lines in references.items()})
