"""A shell command line as the simple commands it runs, read with the bash grammar (tree-sitter), so that
approval rules judge what bash will execute rather than how the text happens to be spelled.

`parse_command` returns every simple command, nested ones included (command and process substitutions,
`bash -c` strings, literal `eval`, `find -exec`, wrappers such as `env`, `sudo` or `timeout`), with its words
unquoted. A word that only exists at run time (an expansion, a glob) is None. Whatever cannot be known
statically (a computed command word, `source`, a script file, an alias or function definition, a shell
reading its input...) becomes a command whose program is None and whose `why` says what was not resolved.
Redirections that write files are listed in `writes`."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tree_sitter import Node, Parser

Argv = tuple[str | None, ...]
MAX_DEPTH = 8  # nested `bash -c "eval '...'"` levels read before giving up
MAX_NESTING = 120  # syntax nodes inside one another (`((((...))))`), over all levels, before giving up
SHELLS = frozenset({"bash", "sh", "zsh", "dash", "ksh", "mksh", "ash", "fish", "yash", "posh"})
# Variables that change which program runs or make a program run another one.
_STEERING_VARIABLES = frozenset(
    {"PATH", "BASH_ENV", "ENV", "IFS", "PAGER", "EDITOR", "VISUAL", "SHELLOPTS", "BASHOPTS", "PS4", "PROMPT_COMMAND"}
)
_STEERING_PREFIXES = ("GIT_", "LD_", "DYLD_")
_HARMLESS_TARGETS = frozenset({"/dev/null", "/dev/stdout", "/dev/stderr", "/dev/tty"})
_WRITING_REDIRECTS = frozenset({">", ">>", "&>", "&>>", ">|"})
_BRACE_EXPANSION = re.compile(r"\{[^{}]*(,|\.\.)[^{}]*\}")


@dataclass(frozen=True)
class Options:
    """How a wrapper's own options are spelled, so that the command it runs can be found after them."""

    short_values: str = ""  # short options that take a value: `-n 5` or `-n5`
    long_values: frozenset[str] = frozenset()  # long options that take a value unless given as `--opt=value`
    positionals: int = 0  # words after the options that belong to the wrapper (timeout's duration)
    assignments: bool = False  # `NAME=value` words before the command (env, sudo)


# Programs that run the rest of their arguments as a command.
WRAPPERS: dict[str, Options] = {
    "env": Options("uCS", frozenset({"--unset", "--chdir", "--split-string"}), assignments=True),
    "command": Options(),
    "builtin": Options(),
    "exec": Options("a"),
    "nice": Options("n", frozenset({"--adjustment"})),
    "time": Options("fo", frozenset({"--format", "--output"})),
    "nohup": Options(),
    "setsid": Options(),
    "coproc": Options(),
    "busybox": Options(),
    "timeout": Options("sk", frozenset({"--signal", "--kill-after"}), positionals=1),
    "stdbuf": Options("ioe", frozenset({"--input", "--output", "--error"})),
    "sudo": Options(
        "ugCDhprtTU",
        frozenset({"--user", "--group", "--close-from", "--chdir", "--host", "--prompt", "--role", "--type"}),
        assignments=True,
    ),
    "doas": Options("uC"),
    "ionice": Options("cn", frozenset({"--class", "--classdata"})),
    "chrt": Options("TPD", frozenset({"--sched-runtime", "--sched-period", "--sched-deadline"}), positionals=1),
    "taskset": Options(positionals=1),
    "flock": Options("wEs", frozenset({"--timeout", "--conflict-exit-code"}), positionals=1),
    "chroot": Options("", frozenset({"--userspec", "--groups"}), positionals=1),
    "strace": Options("eoOpPsuIS", frozenset({"--output", "--user"})),
    "ltrace": Options("eoOpPsuIS"),
    "unbuffer": Options(),
    "xargs": Options(
        "ILnPsdEa",  # -i, -l and -e take their optional value attached, never the next word
        frozenset(
            {"--replace", "--max-lines", "--max-args", "--max-procs", "--max-chars", "--delimiter", "--eof"}
            | {"--arg-file", "--process-slot-var"}
        ),
    ),
}
# Options that hand the program a shell command string.
SHELL_STRING_OPTIONS: dict[str, frozenset[str]] = {
    "su": frozenset({"-c", "--command"}),
    "runuser": frozenset({"-c", "--command"}),
    "flock": frozenset({"-c", "--command"}),
    "script": frozenset({"-c", "--command"}),
    "mapfile": frozenset({"-C"}),
    "readarray": frozenset({"-C"}),
}
# git subcommands given commands to run: options whose value is a shell command line.
GIT_COMMAND_OPTIONS: dict[str, frozenset[str]] = {
    "rebase": frozenset({"-x", "--exec"}),
    "difftool": frozenset({"-x", "--extcmd"}),
    "filter-branch": frozenset(
        f"--{name}-filter" for name in ("env", "tree", "index", "parent", "msg", "commit", "tag-name")
    ),
}
# git configuration that names a command git will run later.
_GIT_RUNNING_KEYS = re.compile(
    r"(alias\.|core\.(pager|sshcommand|fsmonitor|hookspath|editor|askpass|gitproxy)|diff\.external|filter\.|"
    r"sequence\.editor|pager\.|.*\.(textconv|cmd|command|helper|tool|program))",
    re.IGNORECASE,
)
# Builtins that take variable names, in which `a[...]` subscripts are evaluated as arithmetic.
_NAME_BUILTINS = frozenset({"read", "mapfile", "readarray", "getopts", "unset", "wait", "printf", "test", "["})
_NAMED_BY_V = frozenset({"printf", "test", "["})  # only the word after -v is a name
# git options placed before the subcommand, and those that take a separate value.
GIT_GLOBAL_VALUES = frozenset(
    {"-C", "-c", "--git-dir", "--work-tree", "--namespace", "--super-prefix", "--config-env", "--attr-source"}
)
# A git alias never shadows a builtin, so these names are what they say; any other may be an alias.
_GIT_COMMAND_NAMES = (
    "add am annotate apply archive bisect blame branch bugreport bundle cat-file check-attr check-ignore "
    "check-mailmap check-ref-format checkout checkout-index cherry cherry-pick citool clean clone column "
    "commit commit-graph commit-tree config count-objects credential describe diagnose diff diff-files "
    "diff-index diff-tree difftool fast-export fast-import fetch fetch-pack filter-branch fmt-merge-msg "
    "for-each-ref for-each-repo format-patch fsck gc get-tar-commit-id grep gui hash-object help hook "
    "index-pack init interpret-trailers log ls-files ls-remote ls-tree mailinfo mailsplit maintenance merge "
    "merge-base merge-file merge-index merge-tree mergetool mktag mktree multi-pack-index mv name-rev notes "
    "pack-objects pack-redundant pack-refs patch-id prune prune-packed pull push range-diff read-tree rebase "
    "reflog remote repack replace request-pull rerere reset restore rev-list rev-parse revert rm send-pack "
    "shortlog show show-branch show-index show-ref sparse-checkout stash status stripspace submodule switch "
    "symbolic-ref tag unpack-file unpack-objects update-index update-ref update-server-info var "
    "verify-commit verify-pack verify-tag version whatchanged worktree write-tree"
)
GIT_COMMANDS = frozenset(_GIT_COMMAND_NAMES.split())


@dataclass(frozen=True)
class SimpleCommand:
    """One command bash would run. `argv[0]` is None when the program is unknown; `why` is set whenever part
    of it could not be resolved statically."""

    argv: Argv
    text: str
    why: str = ""


@dataclass
class ParsedCommand:
    """Everything a command line runs (`commands`) and the files its redirections write (`writes`)."""

    commands: list[SimpleCommand] = field(default_factory=list)
    writes: list[str] = field(default_factory=list)

    @property
    def unresolved(self) -> list[SimpleCommand]:
        return [command for command in self.commands if command.why]


@cache
def _parser() -> Parser:
    from tree_sitter_language_pack import get_parser  # loads every grammar: only when a command is checked

    return get_parser("bash")


def parse_command(source: str) -> ParsedCommand:
    """The simple commands in `source` and the files it writes; see the module docstring."""
    result = ParsedCommand()
    _Reader(result).read(source, 0)
    return result


def _text(node: Node) -> str:
    return node.text.decode("utf-8", errors="replace") if node.text is not None else ""


def _unquoted_word(raw: str) -> str | None:
    """An unquoted word with backslashes removed; None if bash would glob it."""
    out, i = [], 0
    while i < len(raw):
        char = raw[i]
        if char == "\\" and i + 1 < len(raw):
            if raw[i + 1] != "\n":  # backslash-newline joins lines
                out.append(raw[i + 1])
            i += 2
            continue
        if char in "*?" or (char == "[" and "]" in raw[i:]):
            return None
        out.append(char)
        i += 1
    return "".join(out)


def _double_quoted(raw: str) -> str:
    """The contents of "..." once bash has removed the backslashes that quote `$`, backquote, `"`, `\\`."""
    return re.sub(r"\\([$`\"\\\n])", lambda m: "" if m.group(1) == "\n" else m.group(1), raw)


def word_value(node: Node) -> str | None:
    """What a word node becomes after quote removal, or None when only bash at run time can tell."""
    kind = node.type
    if kind in ("word", "test_operator", "number", "_special_character", "file_descriptor"):
        raw = _text(node)
        return None if _BRACE_EXPANSION.search(raw) else _unquoted_word(raw)
    if kind == "raw_string":
        return _text(node)[1:-1]
    if kind == "ansi_c_string":
        inner = _text(node)[2:-1]
        return None if "\\" in inner else inner  # escapes decoded only by bash: not guessed here
    if kind == "string":
        parts = []
        for child in node.children:
            if child.type == "string_content":
                parts.append(_double_quoted(_text(child)))
            elif child.type != '"':
                return None  # an expansion or substitution inside the quotes
        return "".join(parts)
    if kind == "concatenation":
        if _BRACE_EXPANSION.search(_text(node)):
            return None
        values = [word_value(child) for child in node.children]
        return None if None in values else "".join(v for v in values if v is not None)
    return None


def _steering(name: str) -> bool:
    return name in _STEERING_VARIABLES or name.startswith(_STEERING_PREFIXES)


def _short_cluster_takes_value(word: str, options: Options) -> bool:
    """`-n` (value next) vs `-n5` (value attached) vs `-ab` (flags): whether the next word is a value."""
    for index, char in enumerate(word[1:], start=1):
        if char in options.short_values:
            return index == len(word) - 1
    return False


def skip_options(argv: Argv, options: Options) -> int | None:
    """The index where the wrapped command starts in `argv` (a wrapper's words first), or None if an
    unresolved word leaves it unknown."""
    i = 1
    while i < len(argv):
        word = argv[i]
        if word is None:
            return None
        if word == "--":
            i += 1
            break
        if word.startswith("--"):
            takes_value = word in options.long_values
            i += 2 if takes_value else 1
        elif word.startswith("-") and len(word) > 1:
            i += 2 if _short_cluster_takes_value(word, options) else 1
        else:
            break
    i += options.positionals
    while options.assignments and i < len(argv) and (word := argv[i]) is not None and _is_assignment(word):
        i += 1
    if i < len(argv) and argv[i] is None:
        return None
    return i


def _names(program: str, argv: Argv) -> Argv:
    """The words of a name-taking builtin that may be variable names."""
    if program not in _NAMED_BY_V:
        return argv[1:]
    return tuple(argv[i + 1] for i in range(1, len(argv) - 1) if argv[i] == "-v")


def _is_split_string(word: str | None) -> bool:
    """env's -S/--split-string, alone, attached or inside a cluster (`-iS`)."""
    if word is None or word == "--" or not word.startswith("-"):
        return False
    return word.split("=", 1)[0] == "--split-string" if word.startswith("--") else "S" in word


def _is_assignment(word: str) -> bool:
    return re.match(r"[A-Za-z_][A-Za-z0-9_]*=", word) is not None


class _Reader:
    """Walks a syntax tree, adding each simple command it finds to `result`."""

    def __init__(self, result: ParsedCommand) -> None:
        self.result = result
        self.nesting = 0

    def unknown(self, text: str, why: str) -> None:
        self.result.commands.append(SimpleCommand((None,), text, why))

    def read(self, source: str, depth: int) -> None:
        if depth > MAX_DEPTH:
            self.unknown(source, f"commands nested more than {MAX_DEPTH} levels deep are not read")
            return
        self.walk(_parser().parse(source.encode("utf-8", errors="replace")).root_node, depth)

    def walk(self, node: Node, depth: int) -> None:
        if self.nesting >= MAX_NESTING:
            self.unknown(_text(node), f"syntax nested more than {MAX_NESTING} levels deep is not read")
            return
        self.nesting += 1
        try:
            self.visit(node, depth)
        finally:
            self.nesting -= 1

    def visit(self, node: Node, depth: int) -> None:
        kind = node.type
        if node.is_error or node.is_missing:
            self.unknown(_text(node.parent or node), "bash syntax that could not be parsed")
            return
        if kind == "command":
            self.command(node, depth)
            return
        if kind == "function_definition":
            self.unknown(_text(node), "defines a function, which changes what later command words run")
        elif kind == "command_substitution" and _text(node).startswith("`"):
            # Inside backquotes bash unescapes \\ \` \$ and parses the text again: read it the same way.
            self.read(re.sub(r"\\([\\`$])", r"\1", _text(node)[1:-1]), depth + 1)
            return
        elif kind == "file_redirect":
            self.redirect(node)
        elif kind == "heredoc_redirect":
            self.heredoc(node)
        elif kind in ("arithmetic_expansion", "c_style_for_statement", "binary_expression"):
            self.arithmetic(node)
        elif kind == "variable_assignment":
            self.assignment(node)
        elif kind == "expansion":
            self.expansion(node)
        elif kind == "declaration_command" and any(
            _text(c).startswith("-") and set(_text(c)) & set("in") for c in node.children
        ):
            self.unknown(_text(node), "declares integer or reference variables, whose values are evaluated")
        elif kind in ("unset_command", "unary_expression") and "[" in _text(node):
            self.unknown(_text(node), "an array subscript, which bash evaluates as arithmetic")
        for child in node.children:
            self.walk(child, depth)

    def heredoc(self, node: Node) -> None:
        """An unquoted here-document expands `$(...)` (walked as usual) and backquotes, which the grammar
        leaves as text: those are not read."""
        start = next((c for c in node.children if c.type == "heredoc_start"), None)
        body = next((c for c in node.children if c.type == "heredoc_body"), None)
        if start is None or body is None or any(q in _text(start) for q in "'\\\""):
            return
        literal = [body] if not body.named_child_count else [c for c in body.children if c.type == "heredoc_content"]
        if any("`" in _text(part) for part in literal):
            self.unknown(_text(body), "a backquoted command inside a here-document")

    def expansion(self, node: Node) -> None:
        """`${x@P}` runs the command substitutions in x's value, `${!x}` and `${a[i]}` or `${x:i}` evaluate
        arithmetic: only plain, default, length, trim and replace forms are left to the usual checks."""
        operators = {_text(c) for c in node.children if not c.is_named}
        index = next((c for c in node.named_children if c.type == "subscript"), None)
        if operators & {"@", "!", ":"} or (index is not None and not re.fullmatch(r"\w+\[(\d+|@|\*)\]", _text(index))):
            self.unknown(_text(node), "a parameter expansion that evaluates its value as code or arithmetic")

    def arithmetic(self, node: Node) -> None:
        """Arithmetic evaluates variables whose values are expressions, and `a[$(cmd)]` in them runs cmd.
        Outside `$((...))` a binary expression is a test: only `-eq`-style comparisons are arithmetic."""
        if node.type == "binary_expression" and not any(
            _text(c) in ("-eq", "-ne", "-lt", "-le", "-gt", "-ge") for c in node.children
        ):
            return
        stack = list(node.children)
        while stack:
            child = stack.pop()
            if child.type in ("variable_name", "word", "simple_expansion", "expansion"):
                self.unknown(_text(node), "arithmetic on variables, whose values can run commands")
                return
            stack.extend(child.children)

    def assignment(self, node: Node) -> None:
        name = node.child_by_field_name("name")
        if name is not None and _steering(_text(name)):
            self.unknown(_text(node), f"sets {_text(name)}, which changes what programs run")

    def redirect(self, node: Node) -> None:
        operator = next((_text(c) for c in node.children if not c.is_named), "")
        target = node.child_by_field_name("destination")
        value = word_value(target) if target is not None else None
        writes = operator in _WRITING_REDIRECTS or (
            operator == ">&" and target is not None and target.type != "number" and value != "-"
        )
        if writes and value not in _HARMLESS_TARGETS:
            self.result.writes.append(_text(node))

    def command(self, node: Node, depth: int) -> None:
        words: list[Node] = []
        for index, child in enumerate(node.children):
            if child.type == "command_name" and child.named_child_count:
                if child.named_children[0].type != "arithmetic_expansion":  # `(( ... ))` is no program
                    words.append(child.named_children[0])
            elif node.field_name_for_child(index) == "argument":
                words.append(child)
            self.walk(child, depth)
        if words:
            self.simple(tuple(word_value(word) for word in words), _text(node), depth)

    def simple(self, argv: Argv, text: str, depth: int) -> None:
        """Record `argv`, first looking through wrappers and into programs that run other commands."""
        program = argv[0]
        if program is None:
            self.unknown(text, "the command word is only known when it runs")
            return
        name = program.rsplit("/", 1)[-1]
        if "/" in program:
            self.unknown(text, f"runs the file {program}, whose contents are not checked")
            argv = (name, *argv[1:])
        if name in SHELL_STRING_OPTIONS:
            self.shell_string_options(name, argv, text, depth)
        if name in WRAPPERS:
            self.wrapper(name, argv, text, depth)
        elif name in SHELLS:
            self.shell(argv, text, depth)
        elif name == "eval":
            self.code(argv[1:], text, depth, "eval")
        elif name in ("source", "."):
            self.unknown(text, f"`{name}` runs the commands in a file, which are not checked")
        elif name in ("alias", "enable", "hash") and len(argv) > 1:
            self.unknown(text, f"`{name}` changes what later command words run")
        elif name == "trap" and len(argv) > 2 and argv[1] != "-":
            self.code(argv[1:2], text, depth, "trap")
        elif name == "watch":
            start = skip_options(argv, Options("nd", frozenset({"--interval", "--differences"})))
            self.code(argv[start:] if start is not None else (None,), text, depth, "watch")
        elif name == "let" or (name in _NAME_BUILTINS and any(w is None or "[" in w for w in _names(name, argv))):
            self.unknown(text, f"`{name}` evaluates arithmetic or array subscripts, which can run commands")
        elif name == "find":
            self.find(argv, text, depth)
        elif name == "git":
            self.git(argv, text, depth)
        else:
            self.result.commands.append(SimpleCommand((name, *argv[1:]), text))

    def code(self, words: Argv, text: str, depth: int, how: str) -> None:
        """Words that bash joins and runs as a command line (eval, trap, watch, `bash -c`)."""
        if None in words:
            self.unknown(text, f"{how} runs text that is only known when it runs")
        elif words:
            self.read(" ".join(word for word in words if word is not None), depth + 1)

    def wrapper(self, name: str, argv: Argv, text: str, depth: int) -> None:
        options = WRAPPERS[name]
        start = skip_options(argv, options)
        if start is None:
            self.unknown(text, f"the command run by {name} depends on words only known when it runs")
            return
        if name == "env" and any(_is_split_string(word) for word in argv[1:start]):
            self.unknown(text, "env -S splits a string into a command, which is not checked")
            return
        for word in argv[1:start]:
            if word and _is_assignment(word) and _steering(word.split("=", 1)[0]):
                self.unknown(text, f"sets {word.split('=', 1)[0]}, which changes what programs run")
        if name == "sudo" and any(w and re.fullmatch(r"-[A-Za-z]*[si][A-Za-z]*", w) for w in argv[1:start]):
            self.code(argv[start:], text, depth, "sudo -s")
            return
        inner = argv[start:]
        if name == "xargs":
            inner = (*(inner or ("echo",)), None)  # xargs adds the words it reads
        if inner:
            self.simple(inner, text, depth)
        else:
            self.result.commands.append(SimpleCommand((name, *argv[1:]), text))

    def shell(self, argv: Argv, text: str, depth: int) -> None:
        """`bash -c STRING` is read as code; `bash FILE` and a bare `bash` (reading its input) cannot be."""
        i, command_mode = 1, False
        while i < len(argv) and (word := argv[i]) is not None and word[:1] in "-+" and word not in ("-", "--"):
            command_mode = command_mode or (not word.startswith("--") and "c" in word[1:])
            takes_value = word in ("-o", "+o", "-O", "+O", "--rcfile", "--init-file")
            i += 2 if takes_value else 1
        if i < len(argv) and argv[i] == "--":
            i += 1
        if command_mode:
            self.code(argv[i : i + 1] or (None,), text, depth, f"{argv[0]} -c")
        elif i < len(argv):
            self.unknown(text, f"runs the script {argv[i] or '(unknown)'}, whose commands are not checked")
        else:
            self.unknown(text, "a shell reading commands from its input, which are not checked")

    def shell_string_options(self, name: str, argv: Argv, text: str, depth: int) -> None:
        for index, word in enumerate(argv[1:], start=1):
            if word in SHELL_STRING_OPTIONS[name]:
                self.code(argv[index + 1 : index + 2] or (None,), text, depth, f"{name} {word}")
            elif word is None:
                self.unknown(text, f"an argument of {name} is only known when it runs")

    def find(self, argv: Argv, text: str, depth: int) -> None:
        """`-delete` is an `rm -r -f`; `-exec CMD ;` runs CMD; anything unresolved may hide either."""
        if None in argv:
            self.unknown(text, "find's arguments are only known when it runs (they may add -exec or -delete)")
        i = 1
        while i < len(argv):
            word = argv[i]
            if word == "-delete":
                self.result.commands.append(SimpleCommand(("rm", "-r", "-f", None), text))
            elif word in ("-fprint", "-fprint0", "-fprintf", "-fls"):
                self.result.writes.append(f"{word} {argv[i + 1] if i + 1 < len(argv) else ''}")
            elif word in ("-exec", "-execdir", "-ok", "-okdir"):
                end = next((j for j in range(i + 1, len(argv)) if argv[j] in (";", "+")), len(argv))
                inner = tuple(None if w is not None and "{}" in w else w for w in argv[i + 1 : end])
                if inner:
                    self.simple(inner, text, depth)
                i = end
            i += 1
        self.result.commands.append(SimpleCommand(argv, text))

    def git(self, argv: Argv, text: str, depth: int) -> None:
        """Drop git's global options, so that `git -C . push` is the `push` it is."""
        i = 1
        while i < len(argv) and (word := argv[i]) is not None and word.startswith("-"):
            option = word.split("=", 1)[0]
            if option in ("-c", "--config-env", "--exec-path"):
                self.unknown(text, f"git {option} sets configuration or programs that can run commands")
            i += 2 if word in GIT_GLOBAL_VALUES else 1
        rest = argv[i:]
        if rest and rest[0] is not None and rest[0] not in GIT_COMMANDS:
            why = f"`git {rest[0]}` may be an alias or a git-{rest[0]} program, which could run anything"
            self.result.commands.append(SimpleCommand(("git", None, *rest[1:]), text, why))
            return
        self.git_commands(rest, text, depth)
        self.result.commands.append(SimpleCommand(("git", *rest), text))

    def git_commands(self, rest: Argv, text: str, depth: int) -> None:
        """Commands a git subcommand is told to run: `submodule foreach`, `bisect run`, `rebase --exec`..."""
        sub = rest[0] if rest else None
        if sub == "submodule" and "foreach" in rest:
            words = rest[rest.index("foreach") + 1 :]
            self.code(tuple(w for w in words if w not in ("--recursive", "-q", "--quiet")), text, depth, "foreach")
        elif sub == "bisect" and rest[1:2] == ("run",) and len(rest) > 2:
            self.simple(rest[2:], text, depth)
        elif sub == "config" and any(w is None or _GIT_RUNNING_KEYS.match(w) for w in rest[1:]):
            self.unknown(text, "sets git configuration that runs a command later")
        options = GIT_COMMAND_OPTIONS.get(sub or "", frozenset())
        for index, word in enumerate(rest):
            if word in options:
                self.code(rest[index + 1 : index + 2] or (None,), text, depth, f"git {sub} {word}")
            elif word and "=" in word and word.split("=", 1)[0] in options:
                self.code((word.split("=", 1)[1],), text, depth, f"git {sub} {word.split('=', 1)[0]}")


def split_rule(rule: str) -> Argv:
    """A rule from the configuration as words (shell quoting allowed)."""
    try:
        return tuple(shlex.split(rule))
    except ValueError:
        return tuple(rule.split())
