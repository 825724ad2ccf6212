"""One working session: the model client, tools, agent and recorder wired together for any face."""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from model_server.bundled import BUNDLED_MODEL_NAME, TOOL_TEMPLATE, BundledModelError, ensure_bundled_model
from model_server.launcher import ServerError, ServerRegistry
from recordings.redact import KINDS, Redactor
from recordings.schema import Message, SessionMeta, ToolCall
from recordings.store import RecordingWriter, read_trajectory, write_label
from sii import __version__
from sii.agent import Agent, answer_unanswered_calls
from sii.approval import ApprovalPolicy, Asker, Mode
from sii.client import ModelClient
from sii.config import Settings, project_config_file
from sii.events import Event, ToolCallStarted, ToolResult, TurnEnd, UserMessage
from sii.mcp import McpConnections
from sii.mentions import strip_attachments
from sii.prompts import PLAN_MODE_OFF, PLAN_MODE_ON, REMINDER, appended, system_prompt
from sii.recorder import Recorder, git_facts
from tools import ToolContext, ToolRegistry
from tools.base import Tool
from tools.checkpoints import Checkpoint, CheckpointError, CheckpointStore
from tools.codemap import conversation_focus
from tools.default import UnknownTools, default_registry, narrow_registry, tool_names
from tools.git import GIT_HOOKS
from tools.sandbox import Sandbox, SandboxError

# The chat templates sii ships, by served model name, so a recording says how its tokens were rendered.
CHAT_TEMPLATE_IDS = {BUNDLED_MODEL_NAME: f"sii/{TOOL_TEMPLATE.name}"}
# Resources a workspace change keeps; the rest (the shell, background jobs, the undo stack) belong to the old one.
WORKSPACE_FREE_RESOURCES = ("sandbox", "conversation_focus")
# SmolLM2-135M on two CPU cores makes ~17 tokens/s and tends to ramble: cap its replies.
EMBEDDED_MAX_TOKENS = 512


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


def new_session_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(3)


WAIT_REPORT_EVERY_S = 10


def embedded_base_url(home: Path, cache: Path, notify: Callable[[str], None]) -> str:
    """The embedded server's URL, started (and the bundled model converted) on first use. A start takes a minute
    on two cores: each phase is told as it begins, the log's path first, so a slow start never looks hung."""
    servers = ServerRegistry(home / "server")
    info = servers.running(BUNDLED_MODEL_NAME)
    if info is None:
        notify(
            "Starting the embedded model server (SmolLM2-135M-Instruct on vLLM, CPU). "
            "It stays up for later sessions; `sii serve --stop` stops it."
        )
        reported = [0.0]

        def waiting(elapsed: float) -> None:
            if elapsed - reported[0] >= WAIT_REPORT_EVERY_S:
                reported[0] = elapsed
                notify(f"  3/3 vLLM is loading the model… {elapsed:.0f} s")

        try:
            notify("  1/3 preparing the bundled model (converted once, then cached)")
            model_dir = ensure_bundled_model(cache)
            notify(f"  2/3 starting vLLM; its log: {servers.log_path(BUNDLED_MODEL_NAME)}")
            info, _ = servers.ensure(model_dir, BUNDLED_MODEL_NAME, on_wait=waiting)
        except (BundledModelError, ServerError) as exc:
            raise SessionError(str(exc)) from exc
    notify(f"Using the embedded model server at {info.base_url}")
    return info.base_url


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
        prompt: Callable[[Path], str] = system_prompt,
        select_tools: Callable[[ToolRegistry], ToolRegistry] = lambda registry: registry,
    ) -> None:
        """`ask` is how the face asks the human about a call; None where nobody can be asked. `resume`: a
        recording to continue (its conversation is restored and new events are appended to it); with `fork`,
        the conversation is restored into a new recording whose parent is the old one. `prompt` builds the
        system prompt for the workspace and `select_tools` narrows the tools (an SDK client may change both)."""
        previous = read_trajectory(resume) if resume else None
        redactor = session_redactor(settings)  # what can fail on the settings alone fails before anything starts
        workspace = settings.workspace.resolve()
        sandbox = Sandbox(network=settings.sandbox_network) if settings.sandbox else None
        if sandbox is not None:
            try:
                sandbox.command(workspace)  # fail now, clearly, if bubblewrap is missing
            except SandboxError as exc:
                raise SessionError(str(exc)) from exc
        sampling = dict(settings.sampling)
        if settings.base_url:
            base_url = settings.base_url
        else:
            base_url = embedded_base_url(settings.home, settings.cache, notify)
            sampling["max_tokens"] = min(sampling.get("max_tokens", EMBEDDED_MAX_TOKENS), EMBEDDED_MAX_TOKENS)
        self.client = ModelClient(
            base_url, settings.model, settings.api_key, settings.server, context_window=settings.context_window
        )
        model = self.client.model  # fails fast, with a clear ModelError, when the server is down
        self.id = previous.meta.session_id if previous and not fork else new_session_id()
        for notice in settings.notices():  # ignored project settings; project MCP servers left unstarted
            notify(notice)
        self.mcp = McpConnections.start(settings.mcp_servers)  # the user's, and the project's once trusted
        for error in self.mcp.errors:
            notify(error)
        try:
            registry = select_tools(settings_tools(settings, default_registry(extra=self.mcp.tools()), notify))
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
        self.context = ToolContext(workspace=workspace, session_id=self.id, scratch=settings.home / "tmp")
        self.policy.preview = self._preview_call
        self.context.resources[GIT_HOOKS] = settings.git_hooks
        if sandbox is not None:
            self.context.resources["sandbox"] = sandbox
        self._prompt = prompt
        self._prompt_append = settings.system_prompt_append
        self.agent = Agent(
            self.client,
            registry,
            self.context,
            self.system_prompt(),
            sampling,
            approve=self.policy.check,
            max_steps=settings.max_steps,
        )
        repairs: list[Message] = []
        if previous is not None:
            seen = previous.contexts[-1]  # after a compaction, the model's view, not the whole log
            repairs = answer_unanswered_calls(seen)
            self.agent.messages = seen + repairs
        self.recording_path = (resume if previous and not fork else None) or (settings.recordings / f"{self.id}.jsonl")
        writer = RecordingWriter(self.recording_path, redactor=redactor, warn=notify)
        if previous is None or fork:
            meta = self._new_meta(face, model, base_url, sampling)
            meta.parent_session = previous.meta.session_id if previous else None
            meta.chat_template = CHAT_TEMPLATE_IDS.get(model)
            self.recorder = Recorder(writer, meta)
            self.recorder.start(registry.schemas(), self.agent.messages)
        else:
            self.recorder = Recorder(writer, previous.meta)
            self.recorder.resume(face, model, base_url, repairs)
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
        self.agent.subscribe(self._checkpoint_before_changes)
        last_user = next((m for m in reversed(self.agent.messages) if m["role"] == "user"), None)
        self._told_plan = last_user is not None and (last_user["content"] or "").endswith(PLAN_MODE_ON)

    def system_prompt(self) -> str:
        """The system prompt as it stands now: the face's (AGENTS.md read afresh), then the user's addition."""
        return appended(self._prompt(self.context.workspace), self._prompt_append)

    def reload_system_prompt(self) -> bool:
        """Use the project's instructions as they are now (AGENTS.md written by /init or edited by the user).
        When the prompt changed, the model's view starts over from the new one, and the recording says so with a
        `system_prompt` record of the whole view, so a training sample is exactly what the model saw."""
        prompt = self.system_prompt()
        messages = self.agent.messages
        if messages and messages[0]["role"] == "system" and messages[0]["content"] == prompt:
            return False
        system: Message = {"role": "system", "content": prompt}
        self.agent.messages = [system, *(messages[1:] if messages and messages[0]["role"] == "system" else messages)]
        self.recorder.writer.write("system_prompt", sync=True, messages=list(self.agent.messages))
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
            self.context.resources["conversation_focus"] = conversation_focus(texts)

    def _checkpoint_before_changes(self, event: Event) -> None:
        """Snapshot the workspace before the first call of a turn that may change it (shell included)."""
        if isinstance(event, UserMessage):
            self._turn_start = len(self.agent.messages) - 1
            self._turn_checkpointed = False
            return
        if not isinstance(event, ToolCallStarted) or self._turn_checkpointed or self.checkpoints is None:
            return
        tool = self.agent.registry.get(event.call["function"]["name"])
        if tool is None or not tool.mutates:
            return
        self._turn_checkpointed = True
        typed = REMINDER.sub("", strip_attachments(self.agent.messages[self._turn_start]["content"] or ""))
        label = " ".join(typed.split())
        try:
            checkpoint = self.checkpoints.snapshot(label)  # the store cuts it, around any secret
        except CheckpointError as exc:  # never stop the work for a checkpoint
            self.recorder.writer.write("error", message=f"checkpoint failed: {exc}")
            return
        self.turn_checkpoints.append(TurnCheckpoint(checkpoint, self._turn_start, label, time.time()))
        self.recorder.writer.write(
            "checkpoint", id=checkpoint.id, label=checkpoint.label, message_index=self._turn_start
        )

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
        self.recorder.writer.write(
            "rewind", sync=True, checkpoint=checkpoint.checkpoint.id, files=restored, messages=self.agent.messages
        )
        return restored

    def undo_rewind(self) -> list[str]:
        """Put back the files and the conversation as they were before the last rewind."""
        undo, self.rewind_undo = self.rewind_undo, None
        if undo is None:
            raise ValueError("there is no rewind to undo")
        restored = self.checkpoints.restore(undo.checkpoint.id) if undo.checkpoint and self.checkpoints else []
        self.agent.messages, self.turn_checkpoints = undo.messages, undo.turn_checkpoints
        checkpoint_id = undo.checkpoint.id if undo.checkpoint else None
        self.recorder.writer.write(
            "rewind", sync=True, checkpoint=checkpoint_id, files=restored, messages=self.agent.messages, undo=True
        )
        return restored

    def _new_meta(self, face: str, model: str, base_url: str, sampling: dict) -> SessionMeta:
        facts = git_facts(str(self.context.workspace))
        return SessionMeta(
            session_id=self.id,
            sii_version=__version__,
            face=face,
            model=model,
            base_url=base_url,
            sampling=sampling,
            workspace=str(self.context.workspace),
            started_at=time.time(),
            git_head_start=facts["head"],
            git_remote=facts["remote"],
        )

    def switch_model(self, name: str) -> None:
        """Use another served model from the next request on; the recording notes the switch."""
        self.client.use_model(name)
        self.recorder.writer.write("model", sync=True, model=name)

    def retune(
        self,
        settings: Settings,
        prompt: Callable[[Path], str],
        select_tools: Callable[[ToolRegistry], ToolRegistry],
        notify: Callable[[str], None],
    ) -> list[str]:
        """Run the next turns in `settings.workspace` with the system prompt and tools built for it (an SDK
        client may change each per query). A new workspace gets a new tool context: the old shell is stopped and
        the next `run_shell` starts one there, so nothing the model left in the old shell (its cwd, variables,
        jobs) carries over, and the file tools are confined to the new root. When anything the model sees
        changed, a `retune` record restarts its view in the recording (system prompt first) and names the
        workspace and tools. Returns what changed: "workspace", "tools", "system_prompt"."""
        workspace = settings.workspace.resolve()
        registry = select_tools(settings_tools(settings, default_registry(extra=self.mcp.tools()), notify))
        system: Message = {"role": "system", "content": prompt(workspace)}
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
            self._move_to(workspace, settings, notify)
        if not changed:
            return changed
        self.agent.registry = registry
        self.agent.messages = [system, *self.agent.messages[1:]]  # the Agent keeps its system prompt first
        self.recorder.meta.workspace = str(workspace)  # where the session ends: its git_head_end
        self.recorder.writer.write(
            "retune",
            sync=True,
            changed=changed,
            workspace=str(workspace),
            tools=registry.schemas(),
            messages=self.agent.messages,
        )
        return changed

    def _move_to(self, workspace: Path, settings: Settings, notify: Callable[[str], None]) -> None:
        """A fresh tool context (and approval root and checkpoint store) for `workspace`; the old one is closed."""
        old = self.context
        kept = {name: old.resources.pop(name) for name in WORKSPACE_FREE_RESOURCES if name in old.resources}
        if settings.sandbox and "sandbox" not in kept:  # the new workspace's settings may tighten, never loosen
            kept["sandbox"] = Sandbox(network=settings.sandbox_network)
        old.close()
        self.context = self.agent.context = ToolContext(workspace=workspace, session_id=self.id, resources=kept)
        self.policy.workspace = workspace
        store = checkpoint_dir(settings.home, workspace)
        self.checkpoints = self._open_checkpoints(store, notify) if settings.checkpoints else None
        self.turn_checkpoints, self.rewind_undo = [], None

    def label(self, outcome: str | None = None, note: str | None = None) -> None:
        write_label(self.recorder.writer, outcome, note)

    def close(self) -> None:
        self.recorder.close()
        self.context.close()
        self.mcp.close()
        self.client.close()
