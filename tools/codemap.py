"""The code map (Aider's repo map): the workspace's most important definitions, ranked by PageRank over the
graph of which file uses names defined in which other file, rendered within a token budget.

Ranking is personalised towards the files and names the conversation mentions, so the map shows their
neighbourhood first. `repo_map` builds one for a system prompt; `code_map` and `find_symbol` are the tools.
"""

from __future__ import annotations

import difflib
import hashlib
import math
import os
import re
import subprocess
from collections import defaultdict
from collections.abc import Iterable
from contextlib import closing
from dataclasses import dataclass
from operator import attrgetter, sub
from pathlib import Path
from typing import Any, NamedTuple

import platformdirs

from tools.base import Observation, Tool, ToolContext, ToolError
from tools.codemap_cache import Definition, FileTags, TagCache, language_for
from tools.listing import git_listed_files
from tools.schema import array, integer, obj, string
from tools.search import ripgrep_binary

DEFAULT_BUDGET_TOKENS = 2000
CHARS_PER_TOKEN = 4
MAX_SYMBOL_HITS = 50
DAMPING = 0.85
MAX_DEFINERS = 10  # a name defined in more files (`handle`, `run`) does not say which one is meant
SYMBOL_KINDS = ("definition", "reference", "both")
SELF_SHARE = 0.1  # of a file's own rank spread over its definitions, so unreferenced ones still order sensibly


def default_cache_dir() -> Path:
    return Path(os.environ.get("SII_CACHE") or platformdirs.user_cache_dir("sii")) / "codemap"


def list_source_files(root: Path) -> list[str]:
    """Supported source files under `root`, relative to it, honouring .gitignore: `git ls-files` inside a
    repository (tracked plus untracked-but-not-ignored), else `rg --files`."""
    paths = git_listed_files(root)
    if paths is None:
        rg = subprocess.run(
            [ripgrep_binary(), "--files", "--null", "--no-require-git"],
            cwd=root,
            capture_output=True,
            stdin=subprocess.DEVNULL,
            timeout=60,
        )
        paths = os.fsdecode(rg.stdout).split("\0")
    return sorted({path for path in paths if path and language_for(path)})


@dataclass
class Index:
    """Every supported file's tags, and what building them cost (the tests count parses)."""

    tags: dict[str, FileTags]
    hashed: int
    parsed: int


def build_index(root: Path, cache_dir: Path) -> Index:
    """Tags of every supported file under `root`, read through a ToolContext so no link leads the index out."""
    with closing(ToolContext(workspace=root)) as context, TagCache(cache_dir) as cache:
        snapshot = cache.snapshot(context, list_source_files(root))
        return Index(cache.load(root, snapshot), snapshot.hashed, snapshot.parsed)


def _name_weight(name: str, definers: int, mentioned_names: set[str]) -> float:
    """Aider's heuristics: mentioned names and long descriptive names matter; private names and names
    defined in many files (`get`, `run`) say little about which file is meant."""
    weight = 1.0
    if name in mentioned_names:
        weight *= 10
    if len(name) >= 8 and ("_" in name or (name != name.lower() and name != name.upper())):
        weight *= 10
    if name.startswith("_"):
        weight *= 0.1
    if definers > 5:
        weight *= 0.1
    return weight


def pagerank(
    count: int, edges: dict[tuple[int, int], float], personal: list[float], iterations: int = 100
) -> list[float]:
    """Power iteration; a node without outgoing edges hands its rank back through the personalisation."""
    out_weight = [0.0] * count
    for (source, _), weight in edges.items():
        out_weight[source] += weight
    adjacency: list[list[tuple[int, float]]] = [[] for _ in range(count)]
    for (source, target), weight in edges.items():
        adjacency[source].append((target, weight / out_weight[source]))
    dangling = [node for node in range(count) if not adjacency[node]]
    linked = [(source, targets) for source, targets in enumerate(adjacency) if targets]
    rank = list(personal)
    for _ in range(iterations):
        teleport = 1 - DAMPING + DAMPING * sum([rank[node] for node in dangling])
        new = [teleport * p for p in personal]
        for source, targets in linked:
            share = DAMPING * rank[source]
            for target, weight in targets:
                new[target] += share * weight
        error = sum(map(abs, map(sub, new, rank)))
        rank = new
        if error < 1e-6 * count:
            break
    return rank


class Ranked(NamedTuple):
    score: float
    path: str
    definition: Definition


def rank_definitions(
    tags: dict[str, FileTags], mentioned_files: Iterable[str] = (), mentioned_names: Iterable[str] = ()
) -> list[Ranked]:
    """Every definition, most important first: the PageRank flowing into it along references from other
    files, plus a share of its own file's rank."""
    files = sorted(tags)
    index = {path: i for i, path in enumerate(files)}
    chat_files = {path for path in mentioned_files if path in index}
    names = set(mentioned_names)
    defines: dict[str, set[int]] = defaultdict(set)
    for path, file_tags in tags.items():
        for definition in file_tags.definitions:
            defines[definition.name].add(index[path])

    weights = {
        name: (targets, _name_weight(name, len(targets), names))
        for name, targets in defines.items()
        if len(targets) <= MAX_DEFINERS
    }
    edges: dict[tuple[int, int], float] = defaultdict(float)
    flows: list[tuple[int, int, str, float]] = []
    for path, file_tags in tags.items():
        source = index[path]
        boost = 10.0 if path in chat_files else 1.0
        for name, lines in file_tags.references.items():
            used = weights.get(name)
            if used is None:
                continue
            weight = boost * used[1] * math.sqrt(len(lines))
            for target in used[0]:
                if target != source:
                    edges[source, target] += weight
                    flows.append((source, target, name, weight))

    personal = [1.0 if path in chat_files else 0.0 for path in files]
    if names:
        for i, path in enumerate(files):
            if os.path.splitext(os.path.basename(path))[0] in names:
                personal[i] = 1.0
        for name in names:
            for target in defines.get(name, ()):
                personal[target] = 1.0
    total = sum(personal)
    personal = [p / total for p in personal] if total else [1.0 / max(len(files), 1)] * len(files)
    rank = pagerank(len(files), edges, personal)

    out_weight = [0.0] * len(files)
    for (source, _), weight in edges.items():
        out_weight[source] += weight
    inflow: dict[tuple[int, str], float] = defaultdict(float)
    for source, target, name, weight in flows:
        inflow[target, name] += rank[source] * weight / out_weight[source]
    ranked = []
    for target, path in enumerate(files):
        definitions = tags[path].definitions
        own = SELF_SHARE * rank[target] / max(len(definitions), 1)
        for definition in definitions:
            score = inflow.get((target, definition.name), 0.0) + own
            ranked.append(Ranked(score * (10 if definition.name in names else 1), path, definition))
    ranked.sort(key=attrgetter("score"), reverse=True)  # stable: ties stay in path and line order
    return ranked


def _line(definition: Definition) -> str:
    return f"{definition.line:>5}│{definition.signature}\n"


def render_map(ranked: list[Ranked], budget_tokens: int) -> str:
    """The best-ranked prefix of `ranked` that fits: files in order of their best definition, each as its
    path and its chosen definitions in source order. The text is additive (a header per file, a line per
    definition), so the largest fitting prefix is found in one pass rather than by rendering repeatedly."""
    budget = budget_tokens * CHARS_PER_TOKEN
    chosen: dict[str, list[Definition]] = {}
    used = 0
    for item in ranked:
        cost = len(_line(item.definition)) + (0 if item.path in chosen else len(item.path) + 2)
        if used + cost > budget:
            break
        used += cost
        chosen.setdefault(item.path, []).append(item.definition)
    parts = []
    for path, definitions in chosen.items():
        parts.append(f"{path}:\n")
        parts.extend(_line(definition) for definition in sorted(definitions, key=lambda d: d.line))
    return "".join(parts)


def _cached_map(
    context: ToolContext, cache_dir: Path, paths: list[str], budget_tokens: int, files: set[str], names: set[str]
) -> tuple[str, int]:
    """The rendered map and the number of source files. The map is remembered under a key of everything it
    depends on (each file's content key, the mentions, the budget), so an unchanged workspace is not ranked
    again: what is left is listing and a stat per file."""
    with TagCache(cache_dir) as cache:
        snapshot = cache.snapshot(context, paths)
        material = repr((list(snapshot.keys.items()), sorted(files), sorted(names), budget_tokens))
        key = hashlib.sha1(material.encode("utf-8", "surrogateescape")).hexdigest()
        text = cache.get_map(key)
        if text is None:
            tags = cache.load(context.workspace, snapshot)
            text = render_map(rank_definitions(tags, files, names), budget_tokens)
            cache.put_map(key, text)
        return text, len(snapshot.keys)


def repo_map(
    root: Path,
    cache_dir: Path | None = None,
    budget_tokens: int = DEFAULT_BUDGET_TOKENS,
    mentioned_files: Iterable[str] = (),
    mentioned_names: Iterable[str] = (),
) -> str:
    """The code map of `root` for a system prompt ('' when it holds no supported source). Mentioned files
    are paths relative to `root` (absolute ones under it are accepted too)."""
    paths = list_source_files(root)
    base = root.resolve()
    files = {os.path.relpath(Path(path).resolve(), base) if os.path.isabs(path) else path for path in mentioned_files}
    names = set(mentioned_names)
    with closing(ToolContext(workspace=root)) as context:
        return _cached_map(context, cache_dir or default_cache_dir(), paths, budget_tokens, files, names)[0]


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
    text, total = _cached_map(ctx, _cache_dir(ctx), paths, budget, files, names)
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
