"""The `code_map` and `find_symbol` tools: the map centred on what the call and the conversation mention, and
one name's definitions and references."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from tools.base import Observation, Tool, ToolContext, ToolError
from tools.codemap.repomap import DEFAULT_BUDGET_TOKENS, build_index, cached_map, default_cache_dir, list_source_files
from tools.schema import array, integer, obj, string

MAX_SYMBOL_HITS = 50
SYMBOL_KINDS = ("definition", "reference", "both")


def _cache_dir(ctx: ToolContext) -> Path:
    return ctx.cache_dir or default_cache_dir()


def _split_focus(focus: Iterable[str], files: Iterable[str], ctx: ToolContext) -> tuple[set[str], set[str]]:
    """Focus entries naming a file or a directory of the workspace become mentioned files; the rest names."""
    mentioned_files: set[str] = set()
    mentioned_names: set[str] = set()
    for entry in focus:
        try:
            relative = ctx.locate(entry) if ctx.stat(entry) is not None else None
        except ToolError:
            relative = None
        if relative is not None:
            prefix = "" if relative == "." else relative + "/"
            mentioned_files |= {path for path in files if path == relative or path.startswith(prefix)}
        else:
            mentioned_names.add(entry)
    return mentioned_files, mentioned_names


_MENTION = re.compile(r"[A-Za-z_][\w./-]*[\w]")


def conversation_focus(texts: Iterable[str]) -> list[str]:
    """Words of the conversation that look like paths (`src/app.py`) or code names (`parse_args`,
    `HttpClient`), for the map to favour, as Aider does with the chat's mentions."""
    focus: dict[str, None] = {}
    for text in texts:
        for word in _MENTION.findall(text):
            looks_like_path = "/" in word or re.search(r"\.[A-Za-z]{1,4}$", word) is not None
            looks_like_name = "_" in word or re.search(r"[a-z][A-Z]", word) is not None
            if looks_like_path or looks_like_name:
                focus[word] = None
    return list(focus)


def code_map(args: dict[str, Any], ctx: ToolContext) -> Observation:
    budget = int(args.get("budget_tokens", DEFAULT_BUDGET_TOKENS))
    if budget < 1:
        raise ToolError("budget_tokens must be positive")
    paths = list_source_files(ctx.workspace)
    focus = [*(args.get("focus") or []), *ctx.conversation_focus]
    files, names = _split_focus(focus, paths, ctx)
    text, total = cached_map(ctx, _cache_dir(ctx), paths, budget, files, names)
    shown = text.count("│")
    data = {"source_files": total, "definitions_shown": shown}
    if not text:
        return Observation("No definitions found in supported source files (or the budget is too small).", data=data)
    mapped = sum(1 for line in text.splitlines() if "│" not in line)
    return Observation(f"{text}[{shown} definitions from {mapped} of {total} source files; line│signature]", data=data)


def _context_lines(ctx: ToolContext, path: str, cache: dict[str, list[str]]) -> list[str]:
    if path not in cache:
        try:
            cache[path] = ctx.read_bytes(path).decode(errors="replace").splitlines()
        except ToolError:
            cache[path] = []
    return cache[path]


def find_symbol(args: dict[str, Any], ctx: ToolContext) -> Observation:
    name = args["name"]
    kind = args.get("kind", "both")
    if kind not in SYMBOL_KINDS:
        raise ToolError("kind must be 'definition', 'reference' or 'both'")
    tags = build_index(ctx.workspace, _cache_dir(ctx)).tags
    definitions = [(path, d) for path in sorted(tags) for d in tags[path].definitions if d.name == name]
    references = [(path, line) for path in sorted(tags) for line in tags[path].references.get(name, ())]
    sections = []
    if kind in ("definition", "both"):
        lines = [f"{path}:{d.line}: {d.signature.strip()}" for path, d in definitions[:MAX_SYMBOL_HITS]]
        sections.append(_section(f"Definitions of {name}", lines, len(definitions)))
    if kind in ("reference", "both"):
        sources: dict[str, list[str]] = {}
        lines = []
        for path, line in references[:MAX_SYMBOL_HITS]:
            text = _context_lines(ctx, path, sources)
            lines.append(f"{path}:{line}: {text[line - 1].strip() if line <= len(text) else ''}")
        sections.append(_section(f"References to {name}", lines, len(references)))
    data = {"definitions": len(definitions), "references": len(references)}
    if not definitions and not references:
        known = {d.name for file_tags in tags.values() for d in file_tags.definitions}
        close = difflib.get_close_matches(name, known, n=5)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        return Observation(f"No definition or reference of {name!r} in supported source files.{hint}", data=data)
    return Observation("\n".join(sections), data=data)


def _section(title: str, lines: list[str], total: int) -> str:
    if not lines:
        return f"{title}: none found."
    more = f"\n[{total - len(lines)} more not shown]" if total > len(lines) else ""
    return f"{title} ({total}):\n" + "\n".join(lines) + more


CODE_MAP = Tool(
    "code_map",
    "Map of the workspace's most important definitions (classes, functions, methods, types) with their "
    "signatures and line numbers, ranked by how much the rest of the code uses them. Python, JavaScript, "
    "TypeScript, Go, Rust, Java, C and C++. Use it to find your way around an unfamiliar repository.",
    obj(
        budget_tokens=integer(f"Size of the map (default {DEFAULT_BUDGET_TOKENS})."),
        focus=array(string(), "Paths (files or directories) or symbol names to centre the map on."),
    ),
    code_map,
)

FIND_SYMBOL = Tool(
    "find_symbol",
    "Where a name (function, class, method, type) is defined and where it is used, as path:line: code. "
    "Parsed with tree-sitter, so comments and strings do not match.",
    obj(
        name=string("The exact identifier, e.g. 'parse_args'."),
        kind=string("Default both.", enum=SYMBOL_KINDS),
        required=["name"],
    ),
    find_symbol,
)
