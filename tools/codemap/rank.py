"""Ranking (Aider's repo map): PageRank over the graph of which file uses names defined in which other file,
personalised towards the files and names the conversation mentions; and the best-ranked definitions rendered
within a token budget."""

from __future__ import annotations

import math
import os
from collections import defaultdict
from collections.abc import Iterable
from operator import attrgetter, sub
from typing import NamedTuple

from tools.codemap.extract import Definition, FileTags

CHARS_PER_TOKEN = 4
DAMPING = 0.85
MAX_DEFINERS = 10  # a name defined in more files (`handle`, `run`) does not say which one is meant
SELF_SHARE = 0.1  # of a file's own rank spread over its definitions, so unreferenced ones still order sensibly


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
