"""Fine-tuning on recordings: masking decoded back to text for three template families, packing checked
numerically against separate forwards, a real LoRA run on the bundled model that is killed and resumed, and
the adapter served by the real vLLM CPU server."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import httpx
import pytest

from finetune.__main__ import main as finetune_main
from finetune.data import (
    IGNORE,
    DataError,
    Example,
    Renderer,
    Source,
    TemplateError,
    check_tool_support,
    select_sources,
)
from finetune.data import load_tokenizer as load_model_tokenizer
from finetune.packing import Row, bucket, fit, pack
from finetune.runs import find_run, read_manifest, write_manifest
from finetune.train import chunked_loss, collate, wants_checkpointing
from model_server.bundled import BUNDLED_MODEL_NAME
from model_server.launcher import ServerRegistry, list_adapters, stop_server
from recordings.formats import canonical_json
from recordings.select import SessionFilter
from recordings.store import read_trajectory
from tests.tooling import make_recording, messages

ROOT = Path(__file__).resolve().parent.parent
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "read_file",
            "description": "Read a file.",
            "parameters": {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]},
        },
    }
]
CALL = {"id": "c1", "type": "function", "function": {"name": "read_file", "arguments": {"path": "calc.py"}}}
CONVERSATION: list[dict[str, Any]] = [
    {"role": "system", "content": "You are sii, a coding agent."},
    {"role": "user", "content": "Fix calc.py"},
    {"role": "assistant", "content": "Let me read it.", "reasoning": "First look at calc.py.", "tool_calls": [CALL]},
    {"role": "tool", "tool_call_id": "c1", "content": "def add(a, b):\n    return a - b"},
    {"role": "assistant", "content": "Fixed: add returns a + b.", "reasoning": "The sign is wrong."},
    {"role": "user", "content": "Thanks!"},
    {"role": "assistant", "content": "You are welcome.", "reasoning": "Just be polite."},
]

# Qwen3's handling, reduced: tools in the system prompt, <think> only after the last user query (and always
# on the last message), Hermes <tool_call>, tool results as user <tool_response> blocks.
QWEN_TEMPLATE = """
{%- if tools %}{{- '<|im_start|>system\\n' + messages[0].content + '\\n\\n# Tools\\n<tools>' }}
{%- for tool in tools %}{{ '\\n' + (tool | tojson) }}{% endfor %}{{- '\\n</tools><|im_end|>\\n' }}{%- endif %}
{%- set ns = namespace(last_query=0) %}
{%- for m in messages %}{%- if m.role == 'user' %}{%- set ns.last_query = loop.index0 %}{%- endif %}{%- endfor %}
{%- for m in messages %}
{%- if m.role == 'user' or (m.role == 'system' and not tools) %}
{{- '<|im_start|>' + m.role + '\\n' + m.content + '<|im_end|>\\n' }}
{%- elif m.role == 'assistant' %}
{{- '<|im_start|>assistant\\n' }}
{%- if loop.index0 > ns.last_query and (loop.last or m.reasoning_content) %}
{{- '<think>\\n' + (m.reasoning_content or '') + '\\n</think>\\n\\n' }}
{%- endif %}
{{- m.content }}
{%- for call in m.tool_calls or [] %}
{{- '\\n<tool_call>\\n{"name": "' + call.function.name + '", "arguments": ' + (call.function.arguments | tojson) }}
{{- '}\\n</tool_call>' }}
{%- endfor %}
{{- '<|im_end|>\\n' }}
{%- elif m.role == 'tool' %}
{{- '<|im_start|>user\\n<tool_response>\\n' + m.content + '\\n</tool_response><|im_end|>\\n' }}
{%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}
"""

# GLM-4.5's handling, reduced: [gMASK]<sop>, role tokens without an end token, <think></think> emptied before
# the last user message, tool calls as <arg_key>/<arg_value> pairs, results after <|observation|>.
GLM_TEMPLATE = """[gMASK]<sop>
{%- if tools %}{{ '<|system|>\\n# Tools\\n<tools>' }}
{%- for tool in tools %}{{ tool | tojson }}{% endfor %}</tools>{% endif %}
{%- set ns = namespace(last_user=-1) %}
{%- for m in messages %}{%- if m.role == 'user' %}{%- set ns.last_user = loop.index0 %}{%- endif %}{%- endfor %}
{%- for m in messages %}
{%- if m.role in ('system', 'user') %}{{ '<|' + m.role + '|>\\n' + m.content }}
{%- elif m.role == 'assistant' %}<|assistant|>
{%- if loop.index0 > ns.last_user and m.reasoning_content %}{{ '\\n<think>' + m.reasoning_content + '</think>' }}
{%- else %}{{ '\\n<think></think>' }}{%- endif %}
{%- if m.content %}{{ '\\n' + m.content }}{%- endif %}
{%- for call in m.tool_calls or [] %}{{ '\\n<tool_call>' + call.function.name }}
{%- for k, v in call.function.arguments.items() %}
{{- '\\n<arg_key>' + k + '</arg_key>\\n<arg_value>' + v + '</arg_value>' }}
{%- endfor %}{{ '\\n</tool_call>' }}{%- endfor %}
{%- elif m.role == 'tool' %}
{%- if loop.first or messages[loop.index0 - 1].role != 'tool' %}<|observation|>{% endif %}
{{- '\\n<tool_response>\\n' + m.content + '\\n</tool_response>' }}
{%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}<|assistant|>{%- endif %}"""


def source(messages: list[dict[str, Any]], tools: list[dict] | None = TOOLS) -> Source:
    return Source("s", 0, {"messages": messages, "tools": tools}, "sha")


def trained_runs(example: Example, tokenizer: Any) -> list[str]:
    """The trained positions decoded, one string per contiguous run."""
    runs: list[list[int]] = []
    for position, (token, label) in enumerate(zip(example.input_ids, example.labels, strict=True)):
        if label == IGNORE:
            continue
        if position == 0 or example.labels[position - 1] == IGNORE:
            runs.append([])
        runs[-1].append(token)
    return [tokenizer.decode(run) for run in runs]


def rendered(example: Example, tokenizer: Any) -> str:
    return tokenizer.decode(example.input_ids)


@pytest.fixture(scope="module")
def tokenizer(bundled_model_dir: Path) -> Any:
    return load_model_tokenizer(bundled_model_dir)


def with_template(bundled_model_dir: Path, template: str) -> Any:
    from transformers import AutoTokenizer

    loaded = AutoTokenizer.from_pretrained(bundled_model_dir)
    loaded.chat_template = template
    return loaded


def test_bundled_template_trains_exactly_the_assistant_turns(tokenizer: Any) -> None:
    (example,) = Renderer(tokenizer).examples(source(CONVERSATION))
    call = '<tool_call>\n{"name": "read_file", "arguments": {"path": "calc.py"}}\n</tool_call>'
    assert trained_runs(example, tokenizer) == [
        f"Let me read it.\n{call}<|im_end|>",
        "Fixed: add returns a + b.<|im_end|>",
        "You are welcome.<|im_end|>",
    ]
    full = tokenizer.apply_chat_template(CONVERSATION, tools=TOOLS, tokenize=False)
    assert rendered(example, tokenizer) == full  # masked + unmasked pieces are the whole render


def test_qwen_style_template_splits_per_user_turn_as_the_model_saw_it(bundled_model_dir: Path) -> None:
    qwen = with_template(bundled_model_dir, QWEN_TEMPLATE)
    first, second = Renderer(qwen).examples(source(CONVERSATION))
    call = '<tool_call>\n{"name": "read_file", "arguments": {"path": "calc.py"}}\n</tool_call>'
    assert trained_runs(first, qwen) == [
        f"<think>\nFirst look at calc.py.\n</think>\n\nLet me read it.\n{call}<|im_end|>",
        "<think>\nThe sign is wrong.\n</think>\n\nFixed: add returns a + b.<|im_end|>",
    ]
    assert trained_runs(second, qwen) == ["<think>\nJust be polite.\n</think>\n\nYou are welcome.<|im_end|>"]
    # The second turn's context is what Qwen3 showed the model then: earlier reasoning dropped.
    context = rendered(second, qwen)
    assert "First look at calc.py." not in context and "Let me read it." in context
    assert "<tool_response>\ndef add(a, b):" in context and "<tool_response>" not in "".join(trained_runs(second, qwen))


def test_qwen_style_empty_think_on_the_last_message_trains_per_model_call(bundled_model_dir: Path) -> None:
    qwen = with_template(bundled_model_dir, QWEN_TEMPLATE)
    plain = [{k: v for k, v in m.items() if k != "reasoning"} for m in CONVERSATION[:5]]
    first, second = Renderer(qwen).examples(source(plain))
    assert trained_runs(first, qwen)[0].startswith("<think>\n\n</think>\n\nLet me read it.")
    assert trained_runs(second, qwen) == ["<think>\n\n</think>\n\nFixed: add returns a + b.<|im_end|>"]
    assert "<think>" not in rendered(second, qwen).split("<tool_response>")[0]  # as re-rendered for call 2


def test_glm_style_template_masks_observations_and_keeps_its_reasoning_policy(bundled_model_dir: Path) -> None:
    glm = with_template(bundled_model_dir, GLM_TEMPLATE)
    check_tool_support(glm)
    first, second = Renderer(glm).examples(source(CONVERSATION))
    call = "<tool_call>read_file\n<arg_key>path</arg_key>\n<arg_value>calc.py</arg_value>\n</tool_call>"
    assert trained_runs(first, glm) == [
        f"\n<think>First look at calc.py.</think>\nLet me read it.\n{call}",
        "\n<think>The sign is wrong.</think>\nFixed: add returns a + b.",
    ]
    assert trained_runs(second, glm) == ["\n<think>Just be polite.</think>\nYou are welcome."]
    assert "<|observation|>\n<tool_response>" in rendered(second, glm)
    assert "<think></think>\nLet me read it." in rendered(second, glm)


def test_template_without_tools_and_missing_recordings_fail_clearly(
    bundled_model_dir: Path, sii_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from transformers import AutoTokenizer

    with pytest.raises(TemplateError, match="does not render tools"):
        check_tool_support(AutoTokenizer.from_pretrained(bundled_model_dir))  # SmolLM2's own template
    write_session(sii_home / "recordings", "failed", 0, "fail")
    with pytest.raises(DataError, match="no recorded sessions with label success"):
        select_sources(sii_home / "recordings", SessionFilter(label="success"))
    assert finetune_main(["--max-steps", "1"]) == 2
    assert "sii finetune: error: no recorded sessions with label success" in capsys.readouterr().err


def test_split_keeps_the_head_and_whole_turns_within_the_length() -> None:
    head, prompt, reply = ([1] * 10, False), ([2] * 5, False), ([3] * 4, True)
    example = Example([head, reply, prompt, reply, prompt, reply, prompt, reply, ([9] * 2, False)], "s/0")
    fitted = fit([example], max_length=25, policy="split")
    assert [len(piece) for piece in fitted.examples] == [23, 19, 19]  # head+reply+pair, head+pair, head+pair
    assert all(piece.segments[0] == head for piece in fitted.examples)
    assert sum(piece.trained_tokens() for piece in fitted.examples) == example.trained_tokens()
    assert fit([example], max_length=25, policy="drop").dropped == 1


def packed_reference(row: Row) -> dict[str, Any]:
    """The layout the trainer used before rows went mask-free: one sequence, `position_ids` restarting per
    example, from which transformers builds a dense block-diagonal mask."""
    import torch

    return {
        "input_ids": torch.tensor([[t for ids in row.input_ids for t in ids]]),
        "labels": torch.tensor([[t for labels in row.labels for t in labels]]),
        "position_ids": torch.tensor([[p for ids in row.input_ids for p in range(len(ids))]]),
    }


def test_packed_forward_equals_separate_forwards(bundled_model_dir: Path, tokenizer: Any) -> None:
    import torch
    from transformers import AutoModelForCausalLM

    renderer = Renderer(tokenizer)
    examples = [renderer.examples(source(CONVERSATION[:n]))[0] for n in (3, 5)]
    (row,) = pack(examples, max_length=1024)
    assert len(row.input_ids) == 2 and row.labels[1][0] == IGNORE  # no loss across
    model = AutoModelForCausalLM.from_pretrained(bundled_model_dir, dtype=torch.float32, attn_implementation="sdpa")
    batch = collate([asdict(row)], 0, "varlen")
    assert batch["position_ids"][0].tolist().count(0) == 2
    with torch.no_grad():
        packed = model(input_ids=batch["input_ids"], position_ids=batch["position_ids"], use_cache=False).logits[0]
        separate = torch.cat(
            [model(input_ids=torch.tensor([e.input_ids])).logits[0] for e in (examples[1], examples[0])]
        )
        cached = model(input_ids=batch["input_ids"], position_ids=batch["position_ids"]).logits[0]
    torch.testing.assert_close(packed, separate, atol=2e-4, rtol=1e-4)
    # Why training turns the cache off: with it, transformers ignores the restarts and attends across.
    assert (cached - separate).abs().max() > 1


@pytest.fixture(scope="module")
def lora_model(bundled_model_dir: Path) -> Any:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    base = AutoModelForCausalLM.from_pretrained(bundled_model_dir, dtype=torch.float32, attn_implementation="sdpa")
    base.config.use_cache = False
    config = LoraConfig(r=8, lora_alpha=16, target_modules="all-linear", task_type="CAUSAL_LM", init_lora_weights=False)
    return get_peft_model(base, config)  # random B as well as A: the adapter changes the output


def loss_and_grads(model: Any, compute: Any) -> tuple[float, list[Any]]:
    model.zero_grad()
    loss = compute()
    loss.backward()
    grads = [p.grad.clone() for p in model.parameters() if p.requires_grad]
    model.zero_grad()
    return loss.item(), grads


@pytest.mark.parametrize("layout", ["padded", "varlen"])
def test_chunked_loss_equals_the_full_logits_loss_of_the_packed_row(
    lora_model: Any, tokenizer: Any, layout: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Loss and LoRA gradients of a mask-free row, loss projected in chunks (7 positions, so several, one
    short), equal the old trainer's: the packed row with the block-diagonal mask and the model's own loss."""

    monkeypatch.setattr("finetune.train.LOSS_CHUNK", 7)
    renderer = Renderer(tokenizer)
    examples = [renderer.examples(source(CONVERSATION[:n]))[0] for n in (3, 5)]
    (row,) = (bucket if layout == "padded" else pack)(examples, max_length=4096)
    assert len(row.input_ids) == 2
    reference = packed_reference(row)
    old_loss, old_grads = loss_and_grads(lora_model, lambda: lora_model(**reference).loss)
    inputs = collate([asdict(row)], tokenizer.pad_token_id, layout)  # type: ignore[arg-type]
    assert "attention_mask" not in inputs and inputs["logits_to_keep"].numel() == 0
    labels = inputs.pop("labels")
    head = lora_model.get_output_embeddings()
    new_loss, new_grads = loss_and_grads(
        lora_model, lambda: chunked_loss(lora_model(**inputs).hidden_states[-1], labels, head)
    )
    assert new_loss == pytest.approx(old_loss, rel=1e-5)
    for old, new in zip(old_grads, new_grads, strict=True):  # float32 rounding through 30 layers: ~1e-4
        assert (new - old).norm() <= 1e-3 * old.norm()


def test_chunked_loss_counts_only_trained_positions() -> None:
    """Changing what a masked position would predict leaves the loss unchanged; each trained position counts
    once, against the token after it, averaged over the trained count (or the Trainer's count over steps)."""
    import torch

    torch.manual_seed(0)
    head = torch.nn.Linear(4, 11, bias=False)
    hidden = torch.randn(2, 6, 4)
    labels = torch.tensor([[IGNORE, IGNORE, 3, 5, IGNORE, IGNORE], [IGNORE, 1, IGNORE, IGNORE, IGNORE, IGNORE]])
    loss = chunked_loss(hidden, labels, head)
    logits = head(hidden)
    expected = [(0, 1, 3), (0, 2, 5), (1, 0, 1)]  # (line, predicting position, target)
    manual = sum(torch.nn.functional.cross_entropy(logits[b, p], torch.tensor(t)) for b, p, t in expected) / 3
    torch.testing.assert_close(loss, manual)
    changed = hidden.clone()
    changed[0, 3:] += 5  # predicting from these positions is masked (and the last position predicts nothing)
    changed[1, 1:] -= 5
    torch.testing.assert_close(chunked_loss(changed, labels, head), loss)
    torch.testing.assert_close(chunked_loss(hidden, labels, head, num_items_in_batch=6), manual / 2)
    nothing = chunked_loss(hidden.requires_grad_(), torch.full_like(labels, IGNORE), head, num_items_in_batch=1)
    nothing.backward()  # a row with nothing trained still backpropagates (a zero gradient)
    assert nothing.item() == 0 and hidden.grad is not None and not hidden.grad.any()


def test_buckets_fit_padded_and_keep_every_example_once() -> None:
    lengths = [300, 40, 290, 100, 120, 35, 600, 1000, 50, 45]
    examples = [Example([([7] * n, True)], f"s/{i}") for i, n in enumerate(lengths)]
    rows = bucket(examples, max_length=1000)
    assert sorted(len(ids) for row in rows for ids in row.input_ids) == sorted(lengths)
    assert all(row.processed("padded") <= 1000 for row in rows)
    assert [[len(ids) for ids in row.input_ids] for row in rows] == [
        [1000],
        [600],
        [300, 290, 120],
        [100, 50, 45, 40, 35],
    ]
    assert [row.processed("padded") - row.tokens() for row in rows] == [0, 0, 10 + 180, 50 + 55 + 60 + 65]


def test_gradient_checkpointing_defaults_on_for_long_rows(bundled_model_dir: Path) -> None:
    from finetune.presets import PRESETS
    from finetune.train import CHECKPOINTING_FROM, Options

    def options(max_length: int, flag: bool | None = None) -> Options:
        hyper = dataclasses.replace(PRESETS["quick"], max_length=max_length)
        return Options(bundled_model_dir, "t", SessionFilter(), hyper, gradient_checkpointing=flag)

    assert wants_checkpointing(options(CHECKPOINTING_FROM)) and not wants_checkpointing(options(512))
    assert wants_checkpointing(options(512, True)) and not wants_checkpointing(options(65536, False))


def write_session(directory: Path, session_id: str, number: int, outcome: str) -> None:
    conversation = messages(
        {"role": "system", "content": "You are sii, a coding agent."},
        {"role": "user", "content": f"Fix bug {number} in calc.py"},
        {"role": "assistant", "content": "Let me read it.", "tool_calls": [CALL]},
        {"role": "tool", "tool_call_id": "c1", "content": "def add(a, b):\n    return a - b"},
        {"role": "assistant", "content": f"Fixed bug {number}: the pelican now returns a + b at noon."},
    )
    path = directory / f"{session_id}.jsonl"
    make_recording(path, conversation, tools=TOOLS, label=outcome, face="headless", started_at=float(number))


TRAIN_ARGS = ["--out", "t", "--max-length", "512", "--max-steps", "6", "--save-steps", "2", "--lr", "1e-3"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, bundled_model_dir: Path) -> Iterator[tuple[Path, Path]]:
    """A LoRA run on three successful sessions, SIGKILLed after its step-2 checkpoint and resumed (with merged
    weights written too): (home, run)."""
    home = tmp_path_factory.mktemp("finetune-home")
    for number in range(3):
        write_session(home / "recordings", f"ok{number}", number, "success")
    write_session(home / "recordings", "bad", 9, "fail")
    env = {**os.environ, "SII_HOME": str(home)}
    process = subprocess.Popen(
        [sys.executable, "-m", "finetune", *TRAIN_ARGS], cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True
    )
    checkpoint = home / "finetune" / "t-v1" / "checkpoints" / "checkpoint-2" / "trainer_state.json"
    deadline = time.monotonic() + 180
    while not checkpoint.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    process.send_signal(signal.SIGKILL)
    _, stderr = process.communicate()
    assert checkpoint.exists(), stderr[-2000:]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SII_HOME", str(home))
        assert finetune_main([*TRAIN_ARGS, "--resume", "--merge"]) == 0
    yield home, home / "finetune" / "t-v1"


def test_lora_run_lowers_the_loss_resumes_after_a_kill_and_writes_its_manifest(trained: tuple[Path, Path]) -> None:
    home, run = trained
    manifest = read_manifest(run)
    assert manifest["method"] == "lora" and manifest["base_model"].endswith(BUNDLED_MODEL_NAME)
    assert manifest["metrics"]["steps"] == 6
    assert manifest["metrics"]["final_loss"] < manifest["metrics"]["first_loss"] / 2
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert metrics[0]["step"] == 1 and metrics[-1]["step"] == 6 and metrics[-1]["tokens_per_s"] > 0
    expected = {}
    for number in range(3):
        (sample,) = read_trajectory(home / "recordings" / f"ok{number}.jsonl").samples()
        expected[f"ok{number}"] = hashlib.sha256(canonical_json(sample).encode()).hexdigest()
    assert {s["session_id"]: s["sha256"] for s in manifest["data"]["samples"]} == expected  # "bad" left out
    assert manifest["data"]["trained_tokens"] > 0 and manifest["hyperparameters"]["lora_rank"] == 16
    assert (run / "adapter_config.json").exists() and (run / "loss.png").stat().st_size > 1000
    assert not (run / "checkpoints").exists()


def test_merged_weights_compute_what_base_plus_adapter_computes(trained: tuple[Path, Path], tokenizer: Any) -> None:
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    _, run = trained
    manifest = read_manifest(run)
    merged_dir = run / manifest["weights"]
    assert manifest["merged"] and merged_dir.name == BUNDLED_MODEL_NAME  # the launcher serves it like the base
    assert "<tool_call>" in load_model_tokenizer(merged_dir).chat_template  # saved with the template it learned
    ids = torch.tensor([Renderer(tokenizer).examples(source(CONVERSATION[:5]))[0].input_ids])
    base = AutoModelForCausalLM.from_pretrained(manifest["base_model"], dtype=torch.float32)
    with torch.no_grad():
        before = base(input_ids=ids).logits
        adapted = PeftModel.from_pretrained(base, run).eval()(input_ids=ids).logits
        merged = AutoModelForCausalLM.from_pretrained(merged_dir, dtype=torch.float32)(input_ids=ids).logits
    # Saved in the base's bfloat16: equal up to its rounding, far closer than the base without the adapter.
    assert (merged - adapted).abs().mean() < (before - adapted).abs().mean() / 5
    assert (merged.argmax(-1) == adapted.argmax(-1)).float().mean() > 0.95


@pytest.mark.vllm
def test_published_adapter_is_served_by_the_running_vllm(
    trained: tuple[Path, Path], bundled_model_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """`sii finetune publish RUN` serves a finished run without retraining it."""
    home, run = trained
    servers = ServerRegistry(home / "server")
    monkeypatch.setenv("SII_HOME", str(home))
    mtime = (run / "adapter_model.safetensors").stat().st_mtime
    try:
        assert finetune_main(["publish", run.name]) == 0
        notes = capsys.readouterr().err
        info = servers.running(BUNDLED_MODEL_NAME)
        assert info is not None
        assert "LoRA enabled" in notes and info.max_lora_rank >= 16
        assert f"Adapter {run.name} is served at {info.base_url}" in notes
        assert (run / "adapter_model.safetensors").stat().st_mtime == mtime  # served as trained
        assert list_adapters(info) == [run.name]
        assert finetune_main(["list"]) == 0
        assert f"{run.name} " in (listed := capsys.readouterr().out) and listed.rstrip().endswith("published")
        prompt = [
            {"role": "system", "content": "You are sii, a coding agent."},
            {"role": "user", "content": "Fix bug 1 in calc.py"},
        ]
        answers = {}
        for model in (BUNDLED_MODEL_NAME, run.name):
            body = {"model": model, "messages": prompt, "tools": TOOLS, "temperature": 0, "max_tokens": 30}
            reply = httpx.post(f"{info.base_url}/chat/completions", json=body, timeout=300).json()
            answers[model] = reply["choices"][0]["message"]
        assert answers[run.name] != answers[BUNDLED_MODEL_NAME]
        learned = str(answers[run.name].get("tool_calls") or answers[run.name]["content"])
        assert "read_file" in learned or "Let me read" in learned or "Fixed bug" in learned, answers
    finally:  # whatever publish started, even when it failed half way
        if (left := servers.running(BUNDLED_MODEL_NAME)) is not None:
            stop_server(left)


def fake_run(home: Path, name: str, manifest: dict[str, Any] | str | None) -> Path:
    """A run folder as train() leaves it: finished (a manifest), interrupted (checkpoints only) or damaged."""
    run = home / "finetune" / name
    (run / "checkpoints" / "checkpoint-2").mkdir(parents=True)
    if isinstance(manifest, dict):
        write_manifest(run, manifest)
    elif isinstance(manifest, str):
        (run / "manifest.json").write_text(manifest)
    return run


def test_finetune_list_shows_every_run_and_publish_refuses_what_it_cannot_serve(
    sii_home: Path, bundled_model_dir: Path, capsys: pytest.CaptureFixture
) -> None:
    from sii.cli import main as sii_main

    manifest = {
        "base_model": str(bundled_model_dir),
        "method": "lora",
        "weights": None,
        "created": "2026-12-01T10:00:00+0000",
        "data": {"sessions": 3},
        "hyperparameters": {"lora_rank": 16},
        "metrics": {"steps": 6, "final_loss": 0.5},
    }
    assert sii_main(["finetune", "list"]) == 0 and "no fine-tune runs" in capsys.readouterr().out
    older = fake_run(sii_home, "agent-v1", manifest)
    fake_run(sii_home, "agent-v2", None)  # interrupted
    fake_run(sii_home, "broken-v1", "{not json")
    fake_run(sii_home, "odd-v1", '["a list"]')
    assert sii_main(["finetune", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    by_name = {line.split()[0]: line for line in lines}
    assert set(by_name) == {"agent-v1", "agent-v2", "broken-v1", "odd-v1"}
    assert f"{BUNDLED_MODEL_NAME}  lora  3 sessions  6 steps  loss 0.500" in by_name["agent-v1"]
    assert "unfinished" in by_name["agent-v2"] and "--resume" in by_name["agent-v2"]
    assert "cannot read" in by_name["broken-v1"] and "not a fine-tune manifest" in by_name["odd-v1"]

    assert find_run(sii_home, "agent") == older  # the newest *finished* version of a name
    assert find_run(sii_home, "agent-v1") == find_run(sii_home, str(older)) == older
    for name, why in (
        ("agent-v2", "agent-v2 is not finished"),
        ("nothing", "no fine-tune run 'nothing'"),
        ("..", "no fine-tune run '..'"),
        ("broken-v1", "cannot read"),
        ("agent-v1 --merge", "has no merged weights"),
    ):
        assert sii_main(["finetune", "publish", *name.split()]) == 2, name
        error = capsys.readouterr().err
        assert why in error, (name, error)
    assert not (sii_home / "server").exists()  # nothing was started for any of them


def test_sii_finetune_takes_its_options_first(sii_home: Path, capsys: pytest.CaptureFixture) -> None:
    """`sii finetune --out x ...` through sii's own command line (not only `python -m finetune`)."""
    from sii.cli import main as sii_main

    assert sii_main(["finetune", "--out", "agent", "--label", "success", "--max-steps", "1"]) == 2
    assert "sii finetune: error: no recorded sessions with label success" in capsys.readouterr().err
