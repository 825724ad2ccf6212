"""Hypothesis fuzz of everything that handles model output together: malformed replies (streamed and whole
bodies, wrong types in every field, broken JSON, surrogates, huge strings, unknown tools, text-format calls of
every family, duplicated and missing ids, arguments as objects, lists or numbers) are served over loopback HTTP
by the scripted server and go through the real client, agent, tools (on a temp workspace) and recorder. No
exception may escape, the conversation must go on afterwards, and every recording must validate.

Hypothesis picks each reply's kind and a random source from which the reply is built (drawing every leaf
through hypothesis costs more than running the reply). `SII_FUZZ_REPLIES` sets how many replies are tried
(default 4,000, BATCH per session: about two minutes on two cores, within the suite's budget;
`SII_FUZZ_REPLIES=10000` for a deeper run); `derandomize` fixes the seed, so CI runs the same cases every time."""

from __future__ import annotations

import json
import os
import random
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from recordings.store import RecordingWriter, SessionSummary, read_trajectory
from recordings.strictjson import MAX_DEPTH
from recordings.validate import file_problems
from sii.agent import Agent
from sii.client import ModelClient
from sii.events import ErrorEvent, Event, TurnEnd
from sii.recorder import Recorder
from tests.scripted_server import Reply, ScriptedServer
from tests.tooling import meta
from tools import ToolContext
from tools.default import default_registry

REPLIES = int(os.environ.get("SII_FUZZ_REPLIES", "4000"))
BATCH = 20
# The errors that may end a turn: the server faults the generator chose (an error reported in the stream, a
# body with nothing readable, a body that does not decode). Nothing else the model sends may end a turn.
SERVER_FAULTS = (
    "the model server reported an error",
    "the model server's reply is not an OpenAI chat completion",
    "the model server sent an empty reply",
    "the model server sent a body that does not decode",
    "the stream from ",  # ... ended without a finish_reason or [DONE]
)
NOTICES = ("the reply was malformed", "the model returned an empty summary")  # said, and the turn goes on

# Tools that run fast enough to be called thousands of times; unknown and odd names beside them.
NAMES = ["read_file", "write_file", "edit_file", "list_directory", "undo_edit", "glob", "git_status"]
NAMES += ["nope", "", " read_file", "read_file\n", "a" * 300]
KEYS = ["path", "content", "old_string", "new_string", "pattern", "offset", "replace_all", "extra"]
PATHS = ["a.txt", "sub/b.txt", "new.txt", "../out.txt", "", "a.txt\x00", "sub", "~/x", "\udc80.txt"]
# Values a broken server or model puts where something else belongs: every JSON type, deep nesting, odd text.
WRONG_VALUES: list[Any] = [
    *(None, True, False, 0, -1, 2**70, 1.5, 1e300, "", "x", "\udc80", "0", "[]"),
    *([], [1, "a"], [None], {}, {"a": 1}, {"index": 0}, {"function": None}, {"text": 5}, [[["deep"]]]),
    *({"type": "text"}, [{"type": "text", "text": 7}], {"name": "read_file", "arguments": "{}"}),
    json.loads("[" * (MAX_DEPTH + 20) + "]" * (MAX_DEPTH + 20)),
    json.loads('{"a":' * (MAX_DEPTH + 20) + "1" + "}" * (MAX_DEPTH + 20)),
]
# Text as models and servers garble it: lone surrogates, control characters, markup, JSON-looking text.
TEXT_PIECES = [
    *("", "hello ", "ünïcödé 漢字 ", "\udc80", "\ud83d", "\ud83d\ude00", "\x00\x01", "\u2028", "\r\n", "\\u0000"),
    *("{", '{"name": "x", "n": 1}', "123", "null", "true", "</tool_call>", "<tool_call>", "<function=", "```json"),
    *("<parameter=", "</parameter>", "<arg_key>", "<arg_value>", "data: ", "[DONE]", "\\udc80", "x" * 3000),
]


class Gen(random.Random):
    """The random source of one reply; `wrong` is how often a field gets a wrong value (0 for some replies, so
    well-formed calls with odd content reach the real tools too)."""

    wrong = 0.3


def hostile(rnd: Gen, good: Callable[[], Any]) -> Any:
    """Mostly the right thing, sometimes a value of the wrong type, sometimes left out (None)."""
    roll = rnd.random()
    return good() if roll >= rnd.wrong else rnd.choice(WRONG_VALUES) if roll >= rnd.wrong / 5 else None


def text(rnd: Gen) -> str:
    roll = rnd.random()
    if roll < 0.03:
        return "y" * rnd.choice([20_000, 100_000])  # huge
    if roll < 0.15:  # any code points, surrogates included
        return "".join(chr(rnd.randrange(0x110000)) for _ in range(rnd.randint(1, 12)))
    return "".join(rnd.choice(TEXT_PIECES) for _ in range(rnd.randint(0, 4)))


def good_arguments(rnd: Gen, name: str) -> dict[str, Any]:
    """Arguments that fit the tool's schema (odd paths and text), with a wrong value now and then."""
    path = rnd.choice(PATHS)
    fitting = {
        "read_file": {"path": path},
        "write_file": {"path": path, "content": text(rnd)},
        "edit_file": {"path": path, "old_string": rnd.choice(["hello", "", "x"]), "new_string": text(rnd)},
        "list_directory": {"path": rnd.choice(["", ".", "sub"])},
        "undo_edit": {"path": path},
        "glob": {"pattern": rnd.choice(["*", "**/*.txt", "[", "../*"])},
    }.get(name, {})
    arguments = {key: hostile(rnd, lambda v=value: v) for key, value in fitting.items()}
    if rnd.random() < rnd.wrong:
        arguments[rnd.choice(KEYS)] = hostile(rnd, lambda: text(rnd))
    return arguments


def arguments(rnd: Gen, name: str) -> Any:
    """Arguments as a model writes them: JSON text (the protocol's form) or an object, of right or wrong types;
    JSON cut short or quoted wrongly; values of other types."""
    if rnd.random() >= rnd.wrong:
        return json.dumps(good_arguments(rnd, name))
    kind = rnd.randrange(5)
    if kind == 0:
        return good_arguments(rnd, name)
    if kind == 1:
        whole = json.dumps(good_arguments(rnd, name))
        return whole[: rnd.randrange(len(whole))]  # cut short
    if kind == 2:
        return json.dumps(good_arguments(rnd, name)).replace('"', "'", rnd.randint(1, 3))  # quoted wrongly
    return rnd.choice(WRONG_VALUES) if kind == 3 else text(rnd)


def text_call(rnd: Gen) -> str:
    """One tool call written into the text, in each family the client reads (and broken ones)."""
    name = rnd.choice(NAMES)
    drawn = good_arguments(rnd, name).items()
    pairs = [(key, value if isinstance(value, str) else json.dumps(value)) for key, value in drawn]
    family = rnd.randrange(5)
    if family == 0:
        return f"<tool_call>\n{json.dumps({'name': name, 'arguments': arguments(rnd, name)})}\n</tool_call>"
    if family == 1:
        body = "".join(f"<arg_key>{k}</arg_key>\n<arg_value>{v}</arg_value>\n" for k, v in pairs)
        return f"<tool_call>{name}\n{body}" + rnd.choice(["</tool_call>", ""])
    if family == 2:
        body = "".join(f"<parameter={k}>\n{v}\n</parameter>\n" for k, v in pairs)
        return f"<tool_call>\n<function={name}>\n{body}</function>\n</tool_call>"[: rnd.choice([None, 40])]
    if family == 3:
        return f"<function={name}>\n" + "".join(f"<parameter={k}>\n{v}\n" for k, v in pairs)  # no closing tags
    return rnd.choice(["<tool_call>{broken", '<tool_call>```json\n{"name": "glob",}\n```</tool_call>', "<tool_call>"])


def content(rnd: Gen) -> Any:
    calls = [text_call(rnd) for _ in range(rnd.choice([0, 0, 1, 2]))]
    return hostile(rnd, lambda: "\n".join([text(rnd), *calls]))


def tool_calls(rnd: Gen, whole: bool) -> list[Any]:
    calls = []
    for position in range(rnd.choice([0, 0, 1, 1, 2, 3])):
        name = rnd.choice(NAMES)
        call: dict[str, Any] = {
            "id": hostile(rnd, lambda p=position: rnd.choice([f"c{p}", f"c{p}", "dup", ""])),
            "type": hostile(rnd, lambda: "function"),
            "function": hostile(rnd, lambda n=name: {"name": hostile(rnd, lambda: n), "arguments": arguments(rnd, n)}),
        }
        if not whole:
            call["index"] = hostile(rnd, lambda p=position: p)
        calls.append(hostile(rnd, lambda c=call: c))
    return calls


def fragments(rnd: Gen, call: Any) -> list[Any]:
    """A call as vLLM streams it: the id and name first, then its argument text in pieces."""
    function = call.get("function") if isinstance(call, dict) else None
    raw = function.get("arguments") if isinstance(function, dict) else None
    if not isinstance(raw, str) or len(raw) < 8:
        return [call]
    cuts = sorted(rnd.sample(range(1, len(raw)), min(3, len(raw) - 1)))
    pieces = [raw[a:b] for a, b in zip([0, *cuts], [*cuts, len(raw)], strict=True)]
    head = {**call, "function": {**function, "arguments": pieces[0]}}
    return [head, *({"index": call.get("index"), "function": {"arguments": piece}} for piece in pieces[1:])]


def chunk(delta: Any, finish: Any = None) -> dict[str, Any]:
    return {"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


def usage(rnd: Gen) -> Any:
    counts = {"prompt_tokens": rnd.choice([0, 50, 10**6]), "completion_tokens": rnd.randint(0, 5000)}
    return hostile(rnd, lambda: {key: hostile(rnd, lambda v=value: v) for key, value in counts.items()})


def finish_reason(rnd: Gen) -> Any:
    return hostile(rnd, lambda: rnd.choice(["stop", "tool_calls", "length"]))


def streamed(rnd: Gen) -> tuple[Reply, bool]:
    """A stream with damage in its fields and between its chunks; sometimes an error reported inside it."""
    events: list[Any] = [chunk({"role": "assistant", "content": ""})]
    for _ in range(rnd.randint(0, 3)):
        events.append(chunk({rnd.choice(["content", "reasoning_content", "reasoning"]): content(rnd)}))
    for call in tool_calls(rnd, whole=False):
        events += [chunk({"tool_calls": hostile(rnd, lambda f=fragment: [f])}) for fragment in fragments(rnd, call)]
    events += [chunk({}, finish_reason(rnd)), {"choices": [], "usage": usage(rnd)}]
    for _ in range(rnd.choice([0, 0, 1, 2])):
        at = rnd.randrange(len(events))
        damage = rnd.randrange(5)
        if damage == 0 and isinstance(events[at], dict):
            events[at] = {**events[at], "choices": rnd.choice(WRONG_VALUES)}
        elif damage == 1:
            events[at] = chunk(rnd.choice(WRONG_VALUES), rnd.choice(WRONG_VALUES))
        elif damage == 2:
            events[at] = {"choices": [rnd.choice(WRONG_VALUES)], "usage": rnd.choice(WRONG_VALUES)}
        else:  # a chunk that is no JSON, or no object
            events.insert(at, rnd.choice(["{broken", "", "[DONE", "data: x", "\udc80", "nul", *WRONG_VALUES]))
    fault = rnd.random() < 0.03
    if fault:
        events.insert(rnd.randint(1, len(events)), {"object": "error", "message": "injected fault", "code": 500})
    wire = [event if isinstance(event, str) else json.dumps(event) for event in events]
    done = rnd.choice([True, False])
    # Without [DONE], a stream whose finish_reason was damaged away cannot be told from a cut one: the client
    # must then report it as cut (and run none of its calls), a server fault like the injected error.
    return Reply(events=[*wire, *(["[DONE]"] if done else [])]), fault or not done


def whole_body(rnd: Gen) -> tuple[Reply, bool]:
    """A non-streamed completion, as a server that ignores `stream: true` sends it."""
    message = {
        "role": "assistant",
        "content": content(rnd),
        "tool_calls": hostile(rnd, lambda: tool_calls(rnd, whole=True)),
    }
    choice = {"index": 0, "message": message, "finish_reason": finish_reason(rnd)}
    body = {"object": "chat.completion", "choices": [hostile(rnd, lambda: choice)], "usage": usage(rnd)}
    # Nested deeper than the client reads, the whole body is unreadable: a server fault like any garbage body.
    return Reply(body=json.dumps(body).encode(), headers={"Content-Type": "application/json"}), depth(body) > MAX_DEPTH


def depth(value: Any) -> int:
    children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else None
    return 0 if children is None else 1 + max(map(depth, children), default=0)


def server_fault(rnd: Gen) -> tuple[Reply, bool]:
    faults = [
        Reply(body=b"<html>502 Bad Gateway</html>"),
        Reply(body=b""),
        Reply(body=b"\x1f\x8bnot gzip", headers={"Content-Encoding": "gzip"}),
        Reply(body=b"not deflate", headers={"Content-Encoding": "deflate"}),
        Reply(events=["not json at all", "[DONE]"]),
    ]
    return rnd.choice(faults), True


KINDS = {"streamed": streamed, "whole": whole_body, "server fault": server_fault}


def reply(kind: str, seed: int, wrong: float) -> tuple[Reply, bool]:
    rnd = Gen(seed)
    rnd.wrong = wrong
    return KINDS[kind](rnd)


replies = st.builds(
    reply,
    st.sampled_from(["streamed"] * 12 + ["whole"] * 7 + ["server fault"]),
    st.integers(0, 2**32),
    st.sampled_from([0.0, 0.1, 0.3, 0.6]),
)


@pytest.fixture(scope="module")
def harness() -> Iterator[tuple[ScriptedServer, ModelClient, Path]]:
    """One server and one client (keep-alive) for every case; recordings on tmpfs where there is one."""
    with (
        tempfile.TemporaryDirectory(dir="/dev/shm" if os.path.isdir("/dev/shm") else None) as root,
        ScriptedServer() as server,
    ):
        workspace = Path(root) / "workspace"
        (workspace / "sub").mkdir(parents=True)
        (workspace / "a.txt").write_text("hello\n")
        subprocess.run(["git", "init", "-q"], cwd=workspace, check=True)
        client = ModelClient(server.base_url)
        yield server, client, Path(root)
        client.close()


tried = {"replies": 0, "sessions": 0, "seconds": 0.0}


def new_agent(client: ModelClient, root: Path) -> tuple[Agent, Recorder, list[Event]]:
    """What `Session` wires for a face, on the shared client: the default tools, a workspace context, the
    recorder (without redaction, which is tested on its own and costs more than the rest put together)."""
    registry = default_registry()
    context = ToolContext(workspace=root / "workspace", session_id=f"fuzz-{tried['sessions']}")
    agent = Agent(client, registry, context, "You are fuzzed.", {"max_tokens": 64}, max_steps=8)
    workspace = str(context.workspace)
    facts = meta(context.session_id, face="fuzz", model=client.model, base_url=client.base_url, workspace=workspace)
    recorder = Recorder(RecordingWriter(root / f"{context.session_id}.jsonl", redactor=None), facts)
    recorder.start(registry.schemas(), agent.messages)
    agent.subscribe(recorder)
    events: list[Event] = []
    agent.subscribe(events.append)
    return agent, recorder, events


@settings(
    max_examples=max(1, REPLIES // BATCH),
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
    phases=[Phase.explicit, Phase.reuse, Phase.generate],  # a failure is reported as found: shrinking takes minutes
)
@given(batch=st.lists(replies, min_size=BATCH, max_size=BATCH))
def test_malformed_replies_never_crash_hang_or_corrupt_a_recording(
    harness: tuple[ScriptedServer, ModelClient, Path], batch: list[tuple[Reply, bool]]
) -> None:
    server, client, root = harness
    started = time.perf_counter()
    tried["sessions"] += 1
    tried["replies"] += len(batch)
    agent, recorder, events = new_agent(client, root)
    server.script = [reply for reply, _ in batch]
    try:
        while server.script:
            agent.run_turn("go")
        server.script = [Reply("the session goes on")] * 2  # the first may be asked for a summary
        assert agent.run_turn("still there?").reason == "done"
        assert agent.messages[-1]["content"] == "the session goes on"
    finally:
        server.script = []
        recorder.close()
        agent.context.close()
    errors = [e.message for e in events if isinstance(e, ErrorEvent)]
    unexpected = sorted({m[:200] for m in errors if not m.startswith((*SERVER_FAULTS, *NOTICES))})
    assert not unexpected, unexpected
    ended = sum(e.reason == "error" for e in events if isinstance(e, TurnEnd))
    assert ended == sum(m.startswith(SERVER_FAULTS) for m in errors) <= sum(fault for _, fault in batch)
    path = recorder.writer.path
    assert file_problems(path) == []
    assert read_trajectory(path).contexts[-1] == agent.messages  # recorded exactly as the model was sent it
    path.unlink()
    tried["seconds"] += time.perf_counter() - started


def test_zz_report_the_count() -> None:
    """Not a check: prints how many replies the fuzz tried (pytest -s shows it)."""
    replies, sessions, seconds = tried["replies"], tried["sessions"], tried["seconds"]
    print(f"\nfuzz: {replies} malformed replies in {sessions} sessions, {seconds:.1f} s running them")


json_leaves = st.sampled_from(WRONG_VALUES) | st.text(max_size=4) | st.integers()
json_any = (
    json_leaves | st.lists(json_leaves, max_size=3) | st.dictionaries(st.text(max_size=4), json_leaves, max_size=3)
)
calls_any = st.lists(
    st.fixed_dictionaries(
        {}, optional={"id": json_any | st.sampled_from(["c1", "c2"]), "type": json_any, "function": json_any}
    )
    | json_any,
    max_size=3,
)
messages_any = st.fixed_dictionaries(
    {"role": st.sampled_from(["system", "user", "assistant", "tool"]) | json_any},
    optional={"content": st.text(max_size=5) | json_any, "tool_calls": calls_any | json_any, "tool_call_id": json_any},
)
FIELDS = ["message", "messages", "meta", "usage", "tools", "tags", "message_index", "note", "outcome", "redacted"]
records_any = st.one_of(
    json_any,
    st.builds(
        lambda kind, fields: {"type": kind, **fields},
        st.sampled_from(["session", "message", "compaction", "rewind", "tags", "exclude", "end", "label", "error"])
        | json_any,
        st.dictionaries(st.sampled_from(FIELDS), json_any | messages_any | st.lists(messages_any, max_size=3)),
    ),
)
HEADER = {"type": "session", "tools": [], "meta": {"session_id": "s", "sii_version": "0", "face": "f", "model": "m"}}
HEADER["meta"] |= {"base_url": "http://x", "sampling": {}, "workspace": "/w", "started_at": 0.0}


@settings(max_examples=1000, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck))
@given(records=st.lists(records_any | st.sampled_from(["{torn", "", "[DONE]"]), max_size=6), header=st.booleans())
def test_validate_never_crashes_on_any_json(tmp_path: Path, records: list[Any], header: bool) -> None:
    """Any JSON lines at all: `validate` answers with findings (strings), never an exception; and what it passes
    is safe for everything that reads a trajectory (samples, token counts, listing)."""
    path = tmp_path / "r.jsonl"
    lines = [json.dumps(HEADER)] * header + [r if isinstance(r, str) else json.dumps(r) for r in records]
    path.write_bytes("".join(line + "\n" for line in lines).encode("utf-8", "surrogatepass"))  # bytes no UTF-8
    found = file_problems(path)
    assert all(isinstance(problem, str) for problem in found)
    if not found:
        trajectory = read_trajectory(path)
        trajectory.samples(), trajectory.token_count(), trajectory.tools_used()
        SessionSummary.of(path, trajectory)
