"""The code map on real tree-sitter parses of real files: tags in eight languages, ranking, budget, cache,
.gitignore, and the two tools through the registry."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tools import ToolContext, ToolRegistry
from tools.codemap import (
    CODE_MAP,
    FIND_SYMBOL,
    build_index,
    conversation_focus,
    list_source_files,
    rank_definitions,
    render_map,
    repo_map,
)
from tools.codemap.extract import extract_tags, language_for
from tools.default import default_registry

SOURCES = {
    "shapes.py": """\
from geometry.base import Shape, helper


class Circle(Shape):
    @property
    def area(self,
             scale: float) -> Result:
        return helper(self.r).round()


def make_circle(r):
    return Circle(r)
""",
    "app.js": """\
import { Widget } from "./widget";

class Button extends Widget {
  render() { return draw(this.label); }
}
function mount(node) { return new Button(node); }
const unmount = (node) => node.remove();
""",
    "model.ts": """\
interface Shape { area(): number; }
type Id = string;
enum Color { Red }
export class Square implements Shape {
  area(): number { return compute(this.side); }
}
export function build(id: Id): Shape { return new Square(); }
""",
    "view.tsx": """\
export function Panel(props: Props) {
  return <Card title={format(props.title)} />;
}
""",
    "point.go": """\
package geo

type Point struct{ X int }
type Shape interface{ Area() float64 }

func (p *Point) Area() float64 { return math.Sqrt(float64(p.X)) }
func NewPoint() *Point { return &Point{} }
""",
    "lib.rs": """\
struct Point { x: i32 }
trait Shape { fn area(&self) -> f64; }
enum Color { Red }
impl Shape for Point {
    fn area(&self) -> f64 { helper(self.x) }
}
fn main() { let p: Point = Point::new(); let a = p.area(); println!("{}", a); }
""",
    "Circle.java": """\
package geo;

public class Circle extends Base implements Shape {
    public Circle(int r) { super(r); }
    public double area() { return Helper.square(r); }
}
interface Shape { double area(); }
""",
    "util.c": """\
#include <stdio.h>
struct point { int x; };
typedef struct point point_t;

static int add(int a, int b) { return helper(a) + b; }
char *name(point_t *p) { return format(p); }
""",
    "shape.cpp": """\
namespace geo {
class Shape { public: virtual double area() const = 0; };
struct Circle : public Shape {
  double area() const override { return helper(r); }
  double r;
};
double Circle::perimeter() { return this->area(); }
}
""",
}

# (name, kind, line) of every definition, and some (name, line) references, per file.
EXPECTED = {
    "shapes.py": (
        {("Circle", "class", 4), ("area", "method", 6), ("make_circle", "function", 11)},
        {("Shape", 1), ("helper", 1), ("Shape", 4), ("property", 5), ("Result", 7), ("helper", 8), ("round", 8)},
    ),
    "app.js": (
        {("Button", "class", 3), ("render", "method", 4), ("mount", "function", 6), ("unmount", "function", 7)},
        {("Widget", 3), ("draw", 4), ("Button", 6), ("remove", 7)},
    ),
    "model.ts": (
        {
            ("Shape", "interface", 1),
            ("area", "method", 1),
            ("Id", "type", 2),
            ("Color", "enum", 3),
            ("Square", "class", 4),
            ("area", "method", 5),
            ("build", "function", 7),
        },
        {("Shape", 4), ("compute", 5), ("Id", 7), ("Shape", 7), ("Square", 7)},
    ),
    "view.tsx": ({("Panel", "function", 1)}, {("Props", 1), ("format", 2), ("Card", 2)}),
    "point.go": (
        {
            ("Point", "struct", 3),
            ("Shape", "interface", 4),
            ("Area", "method", 4),
            ("Area", "method", 6),
            ("NewPoint", "function", 7),
        },
        {("Sqrt", 6), ("Point", 6), ("Point", 7)},
    ),
    "lib.rs": (
        {
            ("Point", "struct", 1),
            ("Shape", "trait", 2),
            ("area", "method", 2),
            ("Color", "enum", 3),
            ("area", "method", 5),
            ("main", "function", 7),
        },
        {("Shape", 4), ("Point", 4), ("helper", 5), ("Point", 7), ("new", 7), ("println", 7), ("area", 7)},
    ),
    "Circle.java": (
        {
            ("Circle", "class", 3),
            ("Circle", "method", 4),
            ("area", "method", 5),
            ("Shape", "interface", 7),
            ("area", "method", 7),
        },
        {("Base", 3), ("Shape", 3), ("square", 5)},
    ),
    "util.c": (
        {("point", "struct", 2), ("point_t", "type", 3), ("add", "function", 5), ("name", "function", 6)},
        {("point", 3), ("helper", 5), ("point_t", 6), ("format", 6)},
    ),
    "shape.cpp": (
        {
            ("Shape", "class", 2),
            ("area", "method", 2),
            ("Circle", "struct", 3),
            ("area", "method", 4),
            ("perimeter", "method", 7),
        },
        {("Shape", 3), ("helper", 4), ("area", 7)},
    ),
}


def git(root: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)


def age(path: Path, seconds: float = 10.0) -> None:
    """Back-date a file so the cache trusts its mtime (a just-written file is re-hashed, see tools.codemap.cache)."""
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns - int(seconds * 1e9)))


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        age(path)


@pytest.fixture
def cache_dir(tmp_path: Path) -> Path:
    return tmp_path / "cache"


@pytest.fixture
def ctx(workspace: Path, cache_dir: Path) -> Iterator[ToolContext]:
    context = ToolContext(workspace=workspace, cache_dir=cache_dir)
    yield context
    context.close()


@pytest.mark.parametrize("filename", sorted(SOURCES))
def test_tags_in_every_language(filename: str) -> None:
    language = language_for(filename)
    assert language is not None
    tags = extract_tags(language, SOURCES[filename].encode())
    definitions, references = EXPECTED[filename]
    assert {(d.name, d.kind, d.line) for d in tags.definitions} == definitions
    found = {(name, line) for name, lines in tags.references.items() for line in lines}
    assert references <= found, references - found


def test_signatures_are_one_line_up_to_the_body() -> None:
    python = {d.name: d.signature for d in extract_tags("python", SOURCES["shapes.py"].encode()).definitions}
    assert python["area"] == "    def area(self, scale: float) -> Result:"
    assert python["Circle"] == "class Circle(Shape):"
    c = {d.name: d.signature for d in extract_tags("c", SOURCES["util.c"].encode()).definitions}
    assert c["name"] == "char *name(point_t *p)"
    assert c["point_t"] == "typedef struct point point_t;"
    go = {d.name: d.signature for d in extract_tags("go", SOURCES["point.go"].encode()).definitions}
    assert go["Point"] == "type Point struct{ X int }"


def test_a_definition_name_is_not_its_own_reference() -> None:
    tags = extract_tags("go", SOURCES["point.go"].encode())
    assert 3 not in tags.references.get("Point", [])


def hub_tree(root: Path) -> None:
    """`core.py` is used by everyone; `leaf.py` and `other.py` by no one."""
    core = "def load_config(path):\n    return path\n\n\nclass Registry:\n    pass\n"
    users = {f"user{i}.py": f"from core import load_config\n\nload_config({i})\nRegistry()\n" for i in range(4)}
    write(
        root,
        {
            "core.py": core,
            **users,
            "leaf.py": "def render_leaf_widget():\n    return 1\n",
            "other.py": "def compute_other_total():\n    return 2\n",
        },
    )


def test_ranking_puts_the_most_used_first_and_follows_mentions(tmp_path: Path, cache_dir: Path) -> None:
    hub_tree(tmp_path)
    tags = build_index(tmp_path, cache_dir).tags
    plain = rank_definitions(tags)
    assert plain[0].path == "core.py" and plain[0].definition.name == "load_config"
    by_file = rank_definitions(tags, mentioned_files=["leaf.py"])
    assert by_file[0].definition.name == "render_leaf_widget"
    by_name = rank_definitions(tags, mentioned_names=["compute_other_total"])
    assert by_name[0].definition.name == "compute_other_total"
    small = repo_map(tmp_path, cache_dir, budget_tokens=20, mentioned_names=["compute_other_total"])
    assert small.startswith("other.py:\n") and "compute_other_total" in small and "core.py" not in small


def test_map_respects_the_budget(tmp_path: Path, cache_dir: Path) -> None:
    write(tmp_path, {f"m{i}.py": "".join(f"def func_{i}_{j}(a, b):\n    pass\n" for j in range(20)) for i in range(10)})
    ranked = rank_definitions(build_index(tmp_path, cache_dir).tags)
    assert len(ranked) == 200
    for budget in (10, 50, 200, 1000):
        text = render_map(ranked, budget)
        assert len(text) / 4 <= budget
        assert text.count("│") < 200
    everything = render_map(ranked, 100_000)
    assert everything.count("│") == 200
    assert render_map(ranked, 1) == ""
    first = render_map(ranked, 50).splitlines()
    assert first[0].endswith(".py:") and first[1] == "    1│def func_0_0(a, b):"


def test_cache_skips_unchanged_files_and_reparses_changed_ones(tmp_path: Path, cache_dir: Path) -> None:
    write(tmp_path, {f"m{i}.py": f"def f{i}():\n    pass\n" for i in range(5)})
    cold = build_index(tmp_path, cache_dir)
    assert (cold.parsed, cold.hashed) == (5, 5)
    warm = build_index(tmp_path, cache_dir)
    assert (warm.parsed, warm.hashed) == (0, 0)
    assert warm.tags == cold.tags
    (tmp_path / "m1.py").write_text("def g1():\n    pass\n")
    changed = build_index(tmp_path, cache_dir)
    assert (changed.parsed, changed.hashed) == (1, 1)
    assert [d.name for d in changed.tags["m1.py"].definitions] == ["g1"]
    age(tmp_path / "m1.py")
    age(tmp_path / "m2.py", 20)  # touched, same content: hashed, not parsed
    again = build_index(tmp_path, cache_dir)
    assert (again.parsed, again.hashed) == (0, 2)
    (tmp_path / "m3.py").unlink()
    assert "m3.py" not in build_index(tmp_path, cache_dir).tags


def test_remembered_map_follows_edits_and_mentions(tmp_path: Path, cache_dir: Path) -> None:
    hub_tree(tmp_path)
    first = repo_map(tmp_path, cache_dir)
    assert repo_map(tmp_path, cache_dir) == first
    assert repo_map(tmp_path, cache_dir, mentioned_files=["leaf.py"]).startswith("leaf.py:")
    assert repo_map(tmp_path, cache_dir, mentioned_files=[str(tmp_path / "leaf.py")]).startswith("leaf.py:")
    (tmp_path / "core.py").write_text("def load_settings(path):\n    return path\n")
    changed = repo_map(tmp_path, cache_dir)
    assert "load_settings" in changed and "load_config" not in changed
    assert build_index(tmp_path, cache_dir).parsed == 0


def test_same_size_edit_within_a_second_is_not_missed(tmp_path: Path, cache_dir: Path) -> None:
    path = tmp_path / "quick.py"
    path.write_text("def aa():\n    pass\n")
    build_index(tmp_path, cache_dir)
    stat = path.stat()
    path.write_text("def bb():\n    pass\n")
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # same size, same mtime
    assert [d.name for d in build_index(tmp_path, cache_dir).tags["quick.py"].definitions] == ["bb"]


def test_listing_respects_gitignore_in_and_out_of_git(tmp_path: Path) -> None:
    ignored = {"build/gen.py": "y = 2\n", "notes.txt": "hi\n", ".gitignore": "build/\n"}
    repo, plain = tmp_path / "repo", tmp_path / "plain"
    write(repo, {"src/a.py": "x = 1\n", **ignored})
    write(plain, {"keep.py": "x = 1\n", **ignored})
    git(repo, "init", "-q")
    assert list_source_files(repo) == ["src/a.py"]  # untracked but not ignored counts
    git(repo, "add", "src/a.py")
    (repo / "src" / "b.py").write_text("z = 3\n")
    assert list_source_files(repo) == ["src/a.py", "src/b.py"]
    assert list_source_files(repo / "src") == ["a.py", "b.py"]
    assert list_source_files(plain) == ["keep.py"]  # no repository: ripgrep reads the .gitignore


def test_code_map_tool(ctx: ToolContext) -> None:
    hub_tree(ctx.workspace)
    registry = default_registry()
    obs = registry.dispatch("code_map", {}, ctx)
    assert not obs.is_error
    assert obs.text.startswith("core.py:\n    1│def load_config(path):\n")
    assert "calc.py:\n    1│def add(a, b):" in obs.text
    assert obs.text.endswith("files; line│signature]")
    focused = registry.dispatch("code_map", {"focus": ["leaf.py"], "budget_tokens": 15}, ctx)
    assert focused.text.startswith("leaf.py:\n    1│def render_leaf_widget():")
    assert "core.py" not in focused.text
    assert not CODE_MAP.mutates and not FIND_SYMBOL.mutates
    assert registry.dispatch("code_map", {"budget_tokens": 0}, ctx).is_error


def test_code_map_follows_what_the_conversation_mentions(ctx: ToolContext) -> None:
    hub_tree(ctx.workspace)
    focus = conversation_focus(["The total is wrong: check compute_other_total please."])
    assert focus == ["compute_other_total"]
    ctx.conversation_focus = focus
    text = default_registry().dispatch("code_map", {"budget_tokens": 15}, ctx).text
    assert text.startswith("other.py:\n    1│def compute_other_total():")
    assert conversation_focus(["see src/app.py and HttpClient"]) == ["src/app.py", "HttpClient"]


def test_find_symbol_tool(ctx: ToolContext) -> None:
    hub_tree(ctx.workspace)
    registry = ToolRegistry([CODE_MAP, FIND_SYMBOL])
    both = registry.dispatch("find_symbol", {"name": "load_config"}, ctx)
    assert both.text.splitlines() == [
        "Definitions of load_config (1):",
        "core.py:1: def load_config(path):",
        "References to load_config (8):",
        *[
            f"user{i}.py:{line}: {text}"
            for i in range(4)
            for line, text in ((1, "from core import load_config"), (3, f"load_config({i})"))
        ],
    ]
    only = registry.dispatch("find_symbol", {"name": "Registry", "kind": "definition"}, ctx)
    assert only.text == "Definitions of Registry (1):\ncore.py:5: class Registry:"
    missing = registry.dispatch("find_symbol", {"name": "load_confg"}, ctx)
    assert "No definition or reference" in missing.text and "Did you mean: load_config" in missing.text
    assert registry.dispatch("find_symbol", {"name": "x", "kind": "calls"}, ctx).is_error
