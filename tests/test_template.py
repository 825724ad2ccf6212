"""sii's tool-aware chat template for the bundled model: identical to the original without tools,
Hermes-style (tools in the system prompt, <tool_call> JSON, <tool_response>) with them."""

from __future__ import annotations

from pathlib import Path

import pytest
from transformers import AutoTokenizer

from model_server.bundled import TOOL_TEMPLATE
from tools.default import default_registry

CONVERSATIONS = [
    [{"role": "user", "content": "hi"}],
    [{"role": "system", "content": "Be terse."}, {"role": "user", "content": "hi"}],
    [
        {"role": "user", "content": "a"},
        {"role": "assistant", "content": "b"},
        {"role": "user", "content": "c"},
    ],
]


@pytest.fixture(scope="module")
def tokenizer(bundled_model_dir: Path):
    return AutoTokenizer.from_pretrained(bundled_model_dir)


@pytest.mark.parametrize("conversation", CONVERSATIONS)
@pytest.mark.parametrize("generation_prompt", [True, False])
def test_without_tools_it_renders_exactly_as_the_original(tokenizer, conversation, generation_prompt) -> None:
    original = tokenizer.apply_chat_template(conversation, tokenize=False, add_generation_prompt=generation_prompt)
    ours = tokenizer.apply_chat_template(
        conversation, chat_template=TOOL_TEMPLATE.read_text(), tokenize=False, add_generation_prompt=generation_prompt
    )
    assert ours == original


def test_tools_calls_and_results_render_hermes_style(tokenizer) -> None:
    tools = default_registry().schemas()
    conversation = [
        {"role": "system", "content": "Be terse."},
        {"role": "user", "content": "status?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "1", "type": "function", "function": {"name": "git_status", "arguments": {}}},
                {"id": "2", "type": "function", "function": {"name": "read_file", "arguments": '{"path": "a"}'}},
            ],
        },
        {"role": "tool", "tool_call_id": "1", "content": "## main"},
        {"role": "tool", "tool_call_id": "2", "content": "1\tx"},
        {"role": "assistant", "content": "Clean."},
    ]
    text = tokenizer.apply_chat_template(
        conversation, tools=tools, chat_template=TOOL_TEMPLATE.read_text(), tokenize=False
    )
    assert text.startswith("<|im_start|>system\nBe terse.\n\n# Tools\n")
    assert text.count("<|im_start|>system") == 1
    assert '"name": "run_shell"' in text
    assert (
        '<|im_start|>assistant\n<tool_call>\n{"name": "git_status", "arguments": {}}\n</tool_call>\n'
        '<tool_call>\n{"name": "read_file", "arguments": {"path": "a"}}\n</tool_call><|im_end|>\n'
    ) in text
    assert (
        "<|im_start|>user\n<tool_response>\n## main\n</tool_response>\n<tool_response>\n1\tx\n</tool_response>"
        "<|im_end|>\n<|im_start|>assistant\nClean.<|im_end|>\n"
    ) in text
