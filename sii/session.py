"""One working session: the model client, tools, agent and recorder wired together for any face."""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Literal, cast

from model_server.bundled import BUNDLED_MODEL_NAME, TOOL_TEMPLATE
from recordings.records import RecordKind
from recordings.redact import KINDS, Redactor
from recordings.schema import Message, ToolCall
from recordings.store import RecordingWriter
from sii.agent import Agent
from sii.approval import ApprovalPolicy, Asker, Mode
from sii.client import ModelClient
from sii.config import Settings, project_config_file
from sii.events import Event, ToolResult, TurnEnd, UserMessage
from sii.mcp import start_mcp
from sii.mentions import strip_attachments
from sii.prompts import PLAN_MODE_OFF, PLAN_MODE_ON, REMINDER, appended, system_prompt
from sii.recorder import Lineage, session_meta
from tools import ToolContext, ToolRegistry
from tools.base import Tool
from tools.checkpoints import Checkpoint, CheckpointError, CheckpointStore
from tools.codemap import conversation_focus
from tools.default import UnknownTools, narrow_registry, tool_names
from tools.profiles import profile_registry
from tools.sandbox import Sandbox, SandboxError

# The chat templates sii ships, by served model name, so a recording says how its tokens were rendered.
CHAT_TEMPLATE_IDS = {BUNDLED_MODEL_NAME: f"sii/{TOOL_TEMPLATE.name}"}


@dataclass(frozen=True)
class TurnCheckpoint:
    """A snapshot taken before a turn changed the workspace, and where that turn began in the conversation. The
    label and time are the turn's own: a turn that changed nothing shares its snapshot with the turn before."""

    checkpoint: Checkpoint
    message_index: int
    label: str
    time: float


@dataclass(frozen=True)
class RewindUndo:
    """What `/rewind undo` puts back: the files as they were (a snapshot taken just before), and the conversation."""

    checkpoint: Checkpoint | None
    messages: list[Message]
    turn_checkpoints: list[TurnCheckpoint]


def session_redactor(settings: Settings) -> Redactor | None:
    """What the recording redacts, from the settings; a bad extra pattern is a clear error."""
    if not settings.redaction:
        return None
    kinds = set(KINDS) - (set() if settings.redaction_emails else {"email"})
    try:
        return Redactor(kinds=kinds, extra_patterns=settings.redaction_patterns)
    except re.error as exc:
        raise SessionError(f"a [redaction.patterns] regex is invalid: {exc}") from exc


def settings_tools(settings: Settings, registry: ToolRegistry, notify: Callable[[str], None]) -> ToolRegistry:
    """The tools the settings allow (tools.allowed / tools.disallowed, --allowed-tools / --disallowed-tools).
    A name that matches no tool stops the start with the list of known tools, except where it cannot be the
    user's typo: a tool of a configured MCP server that is not running (it failed, or is not trusted yet), and a
    disallowed name the project's config added (a repository's mistakes never stop sii). Those are noted."""
    allowed = None if settings.tools_allowed is None else tool_names(settings.tools_allowed)
    disallowed = tool_names(settings.tools_disallowed)
    try:
        return narrow_registry(registry, allowed, disallowed)
    except UnknownTools as exc:
        configured = [f"mcp__{server.name}__" for server in (*settings.mcp_servers, *settings.project_mcp_servers)]
        down = [prefix for prefix in configured if not any(name.startswith(prefix) for name in exc.known)]
        from_project = settings.sources.get("tools.disallowed") == str(project_config_file(settings.workspace))
        skipped = {
            name for name in exc.unknown if name.startswith(tuple(down)) or (from_project and name in disallowed)
        }
        if typos := [name for name in exc.unknown if name not in skipped]:
            raise SessionError(f"tools.allowed / tools.disallowed: {UnknownTools(typos, exc.known)}") from None
        notify(f"sii: ignored tool name(s), no such tool is running: {', '.join(sorted(skipped))}")
        kept = None if allowed is None else [name for name in allowed if name not in skipped]
        return narrow_registry(registry, kept, [name for name in disallowed if name not in skipped])


def checkpoint_dir(home: Path, workspace: Path) -> Path:
    """One shadow repository per workspace, shared by its sessions."""
    return home / "checkpoints" / hashlib.sha1(str(workspace).encode()).hexdigest()[:16]


class SessionError(Exception):
    """sii cannot start a session; str() says why and what to do."""


class Session:
    """Owns the resources of one session; `close()` ends the recording and stops the shell."""

    def __init__(
        self,
        settings: Settings,
        face: str,
        ask: Asker | None,
        notify: Callable[[str], None],
        resume: Path | None = None,
        fork: bool = False,
        prompt: Callable[[Path], str] | None = None,
        select_tools: Callable[[ToolRegistry], ToolRegistry] = lambda registry: registry,
    ) -> None:
        """`settings.base_url` names the server (see model_server.endpoint.resolve_endpoint, which the faces call
        first). `ask` is how the face asks the human about a call; None where nobody can be asked. `resume`: a
        recording to continue (its conversation is restored and new events are appended to it); with `fork`,
        the conversation is restored into a new recording whose parent is the old one. `prompt` builds the
        system prompt for the workspace and `select_tools` narrows the tools (an SDK client may change both)."""
        if not settings.base_url:
            raise SessionError("no model server given: resolve the endpoint (model_server.endpoint) first")
        base_url = settings.base_url
        lineage = Lineage.choose(settings.recordings, resume, fork)
        redactor = session_redactor(settings)  # what can fail on the settings alone fails before anything starts
        workspace = settings.workspace.resolve()
        sandbox = Sandbox(network=settings.sandbox_network) if settings.sandbox else None
        if sandbox is not None:
            try:
                sandbox.command(workspace)  # fail now, clearly, if bubblewrap is missing
            except SandboxError as exc:
                raise SessionError(str(exc)) from exc
        sampling = dict(settings.sampling)
        self.client = ModelClient(
            base_url, settings.model, settings.api_key, settings.server, context_window=settings.context_window
        )
        model = self.client.model  # fails fast, with a clear ModelError, when the server is down
        self.id = lineage.session_id
        self._notify = notify
        for notice in settings.notices():  # ignored project settings; project MCP servers left unstarted
            notify(notice)
        self.mcp = start_mcp(settings.mcp_servers)  # the user's, and the project's once trusted
        for error in self.mcp.errors:
            notify(error)
        try:
            offered = profile_registry(settings.tool_profile, extra=self.mcp.tools())
            registry = select_tools(settings_tools(settings, offered, notify))
        except (SessionError, UnknownTools) as exc:  # the face's own selection may name a tool that is not there
            self.mcp.close()
            self.client.close()
            raise SessionError(str(exc)) from None
        self.policy = ApprovalPolicy(
            mode=cast(Mode, settings.mode),
            allow=settings.shell_allow,
            deny=settings.shell_deny,
            ask=ask,
            workspace=workspace,
        )
        self.context = ToolContext(
            workspace=workspace,
            session_id=self.id,
            scratch=settings.home / "tmp",
            sandbox=sandbox,
            git_hooks=settings.git_hooks,
        )
        self.policy.preview = self._preview_call
        self._prompt = prompt or partial(system_prompt, profile=settings.prompt_profile, sandbox=settings.sandbox)
        self._select_tools = select_tools
        self._prompt_append = settings.system_prompt_append
        self.agent = Agent(
            self.client,
            registry,
            self.context,
            self.system_prompt(),
            sampling,
            approve=self.policy.check,
            max_steps=settings.max_steps,
            before_run=self._checkpoint_before_change,
        )
        if lineage.messages:
            self.agent.messages = list(lineage.messages)
        self.recording_path = lineage.path
        writer = RecordingWriter(self.recording_path, redactor=redactor, warn=notify)
        new_meta = partial(
            session_meta,
            self.id,
            face,
            model,
            base_url,
            sampling,
            workspace,
            CHAT_TEMPLATE_IDS.get(model),
            settings.tool_profile,
        )
        self.recorder = lineage.recorder(
            writer, (face, model, base_url), new_meta, registry.schemas(), self.agent.messages
        )
        self.agent.subscribe(self.recorder)
        self.agent.subscribe(self._follow_mentions)
        self.output_files: dict[str, str] = {}  # tool call id -> the file that holds the command's whole output
        self.agent.subscribe(self._keep_output_files)
        self.checkpoints = (  # off: no copy of the workspace is kept
            self._open_checkpoints(checkpoint_dir(settings.home, self.context.workspace), notify)
            if settings.checkpoints
            else None
        )
        self.turn_checkpoints: list[TurnCheckpoint] = []
        self.rewind_undo: RewindUndo | None = None
        self._turn_start = 0
        self._turn_checkpointed = False
        self.agent.subscribe(self._mark_turn_start)
        last_user = next((m for m in reversed(self.agent.messages) if m["role"] == "user"), None)
        self._told_plan = last_user is not None and (last_user["content"] or "").endswith(PLAN_MODE_ON)

    def system_prompt(self) -> str:
        """The system prompt as it stands now: the face's (AGENTS.md read afresh), then the user's addition."""
        return appended(self._prompt(self.context.workspace), self._prompt_append)

    @property
    def messages(self) -> list[Message]:
        """The conversation as the model sees it (read it; change it through the session)."""
        return self.agent.messages

    @property
    def recorded(self) -> bool:
        """Whether the recording is on disk: a session closed before its first message leaves no file."""
        return self.recorder.writer.started

    def subscribe(self, listener: Callable[[Event], None]) -> None:
        """`listener` gets every event of the session's turns (see sii.events), after the recorder."""
        self.agent.subscribe(listener)

    def note(self, kind: RecordKind, sync: bool = False, **fields: Any) -> None:
        """A record of `kind` in the recording, beside the conversation (an eval verdict, a task link)."""
        self.recorder.writer.write(kind, sync, **fields)

    def append(self, messages: list[Message]) -> None:
        """Add messages to the conversation (a transcript the client brought), recorded as they are."""
        for message in messages:
            self.agent.messages.append(message)
            self.note("message", message=message)

    def _restart_view(self, system: Message, kind: Literal["system_prompt", "retune"], **fields: Any) -> None:
        """The model's view starts over from `system`, the rest of the conversation kept, and the recording says
        so with a `kind` record of the whole view, so a training sample is exactly what the model saw."""
        messages = self.agent.messages
        rest = messages[1:] if messages and messages[0]["role"] == "system" else messages
        self.agent.messages = [system, *rest]
        self.note(kind, sync=True, **fields, messages=list(self.agent.messages))

    def reload_system_prompt(self) -> bool:
        """Use the project's instructions as they are now (AGENTS.md written by /init or edited by the user).
        When the prompt changed, the model's view restarts from the new one (a `system_prompt` record)."""
        system: Message = {"role": "system", "content": self.system_prompt()}
        if self.agent.messages[:1] == [system]:
            return False
        self._restart_view(system, "system_prompt")
        return True

    def run_turn(self, text: str) -> TurnEnd:
        """The one place the faces build a turn's user message: the system prompt brought up to date, and the
        approval mode told to the model when it is plan (or has just stopped being plan), as a reminder after the
        user's text, so the recording holds exactly what the model read."""
        self.reload_system_prompt()
        planning = self.policy.mode == "plan"
        if planning:
            text = f"{text}\n\n{PLAN_MODE_ON}"
        elif self._told_plan:
            text = f"{text}\n\n{PLAN_MODE_OFF.format(mode=self.policy.mode)}"
        self._told_plan = planning
        return self.agent.run_turn(text)

    def _open_checkpoints(self, store: Path, notify: Callable[[str], None]) -> CheckpointStore | None:
        """The shadow repository for /rewind; a full or read-only SII_HOME turns checkpoints off, not the session."""
        try:
            return CheckpointStore(self.context.workspace, store)
        except (CheckpointError, OSError) as exc:
            notify(f"checkpoints are off for this session: {store} cannot be written ({exc})")
            return None

    def _preview_call(self, tool: Tool, call: ToolCall) -> str | None:
        """The diff an edit would make, for the approval question; None for calls that have no preview."""
        arguments = call["function"]["arguments"]
        return tool.preview(arguments, self.context) if tool.preview and isinstance(arguments, dict) else None

    def _keep_output_files(self, event: Event) -> None:
        if isinstance(event, ToolResult) and isinstance(path := event.observation.data.get("output_file"), str):
            self.output_files[event.call["id"]] = path

    def _follow_mentions(self, event: Event) -> None:
        """Keep the code map pointed at what the user talks about."""
        if isinstance(event, UserMessage):
            texts = [m["content"] or "" for m in self.agent.messages if m["role"] == "user"]
            self.context.conversation_focus = conversation_focus(texts)

    def _mark_turn_start(self, event: Event) -> None:
        if isinstance(event, UserMessage):
            self._turn_start = len(self.agent.messages) - 1
            self._turn_checkpointed = False

    def _checkpoint_before_change(self, tool: Tool, call: ToolCall) -> None:
        """Snapshot the workspace before the first approved call of a turn that may change it (shell included).
        The agent calls this as part of the call, so a Ctrl-C during the snapshot interrupts that call."""
        if self._turn_checkpointed or self.checkpoints is None or not tool.mutates:
            return
        self._turn_checkpointed = True
        typed = REMINDER.sub("", strip_attachments(self.agent.messages[self._turn_start]["content"] or ""))
        label = " ".join(typed.split())
        try:
            checkpoint = self.checkpoints.snapshot(label)  # the store cuts it, around any secret
        except CheckpointError as exc:  # never stop the work for a checkpoint
            self.recorder.writer.error(f"checkpoint failed: {exc}")
            return
        self.turn_checkpoints.append(TurnCheckpoint(checkpoint, self._turn_start, label, time.time()))
        self.recorder.writer.checkpoint(id=checkpoint.id, label=checkpoint.label, message_index=self._turn_start)

    def rewind_changes(self, checkpoint: TurnCheckpoint) -> dict[str, str]:
        """What rewinding the files to before `checkpoint`'s turn would do, by path (see CheckpointStore.changes)."""
        return self.checkpoints.changes(checkpoint.checkpoint.id) if self.checkpoints else {}

    def rewind(self, checkpoint: TurnCheckpoint, files: bool = True, conversation: bool = True) -> list[str]:
        """Go back to the moment before `checkpoint`'s turn: its files, its conversation, or both. The state just
        before is kept (files snapshotted, conversation held) so `undo_rewind` can put it back."""
        before: Checkpoint | None = None
        if files and self.checkpoints:
            before = self.checkpoints.snapshot(f"before rewinding to: {checkpoint.label}")
        self.rewind_undo = RewindUndo(before, list(self.agent.messages), list(self.turn_checkpoints))
        restored = self.checkpoints.restore(checkpoint.checkpoint.id) if before is not None and self.checkpoints else []
        if conversation:
            self.agent.messages = self.agent.messages[: checkpoint.message_index]
            self.turn_checkpoints = [c for c in self.turn_checkpoints if c.message_index < checkpoint.message_index]
        self.recorder.writer.rewind(checkpoint=checkpoint.checkpoint.id, files=restored, messages=self.agent.messages)
        return restored

    def undo_rewind(self) -> list[str]:
        """Put back the files and the conversation as they were before the last rewind."""
        undo, self.rewind_undo = self.rewind_undo, None
        if undo is None:
            raise ValueError("there is no rewind to undo")
        restored = self.checkpoints.restore(undo.checkpoint.id) if undo.checkpoint and self.checkpoints else []
        self.agent.messages, self.turn_checkpoints = undo.messages, undo.turn_checkpoints
        checkpoint_id = undo.checkpoint.id if undo.checkpoint else None
        self.recorder.writer.rewind(checkpoint=checkpoint_id, files=restored, messages=self.agent.messages, undo=True)
        return restored

    def switch_model(self, name: str) -> None:
        """Use another served model from the next request on; the recording notes the switch."""
        self.client.use_model(name)
        self.recorder.writer.model(model=name)

    def retune(
        self,
        settings: Settings,
        prompt: Callable[[Path], str] | None = None,
        select_tools: Callable[[ToolRegistry], ToolRegistry] | None = None,
        notify: Callable[[str], None] | None = None,
    ) -> list[str]:
        """Run the next turns under `settings` (its step limit, temperature and approval mode) in
        `settings.workspace`, with the system prompt and tools built for it; `prompt` and `select_tools`, when
        given, replace the session's (an SDK client may change each per query). A new workspace gets a new tool
        context: the old shell is stopped and the next `run_shell` starts one there, so nothing the model left in
        the old shell (its cwd, variables, jobs) carries over, and the file tools are confined to the new root.
        When anything the model sees changed, a `retune` record restarts its view in the recording (system prompt
        first) and names the workspace and tools. Returns what changed: "workspace", "tools", "system_prompt"."""
        self._prompt = prompt or self._prompt
        self._select_tools = select_tools or self._select_tools
        self.agent.max_steps = settings.max_steps
        self.agent.sampling.update(temperature=settings.sampling["temperature"])
        self.policy.mode = cast(Mode, settings.mode)  # checked by Settings.resolve
        workspace = settings.workspace.resolve()
        offered = profile_registry(settings.tool_profile, extra=self.mcp.tools())
        registry = self._select_tools(settings_tools(settings, offered, notify or self._notify))
        system: Message = {"role": "system", "content": self._prompt(workspace)}
        changed = [
            name
            for name, differs in (
                ("workspace", workspace != self.context.workspace),
                ("tools", registry.schemas() != self.agent.registry.schemas()),
                ("system_prompt", self.agent.messages[:1] != [system]),
            )
            if differs
        ]
        if "workspace" in changed:
            self._move_to(workspace, settings, notify or self._notify)
        if not changed:
            return changed
        self.agent.registry = registry
        self.recorder.meta.workspace = str(workspace)  # where the session ends: its git_head_end
        self._restart_view(system, "retune", changed=changed, workspace=str(workspace), tools=registry.schemas())
        return changed

    def _move_to(self, workspace: Path, settings: Settings, notify: Callable[[str], None]) -> None:
        """A fresh tool context (and approval root and checkpoint store) for `workspace`; the old one is closed."""
        old = self.context
        moved = old.moved_to(workspace)
        if settings.sandbox and moved.sandbox is None:  # the new workspace's settings may tighten, never loosen
            moved.sandbox = Sandbox(network=settings.sandbox_network)
        old.close()
        self.context = self.agent.context = moved
        self.policy.workspace = workspace
        store = checkpoint_dir(settings.home, workspace)
        self.checkpoints = self._open_checkpoints(store, notify) if settings.checkpoints else None
        self.turn_checkpoints, self.rewind_undo = [], None

    def label(self, outcome: str | None = None, note: str | None = None) -> None:
        self.recorder.writer.label(outcome, note)

    def close(self) -> None:
        self.recorder.close()
        self.context.close()
        self.mcp.close()
        self.client.close()
