"""`/permissions`: what may run unasked, and where each grant comes from. The user's config rules are shown;
this session's "always" answers are listed, can be taken back, and can be saved to the user's config."""

from __future__ import annotations

from pathlib import Path

import tomlkit
from rich.console import Console
from rich.text import Text

from sii.approval import ApprovalPolicy
from sii.config import user_config_file

USAGE = "/permissions [revoke N | save N]"


def save_allow_rule(rule: str, path: Path | None = None) -> Path:
    """Add `rule` to `[shell] allow` in the user's config, keeping the file's comments and layout."""
    target = path or user_config_file()
    document = tomlkit.parse(target.read_text(encoding="utf-8")) if target.exists() else tomlkit.document()
    shell = document.get("shell")
    if shell is None:
        shell = tomlkit.table()
        document["shell"] = shell
    allow = shell.get("allow")
    if allow is None:
        allow = tomlkit.array()
        shell["allow"] = allow
    if rule not in allow:
        allow.append(rule)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".tmp")
    partial.write_text(tomlkit.dumps(document), encoding="utf-8")
    partial.replace(target)
    return target


def session_grants(policy: ApprovalPolicy) -> list[str]:
    return [*policy.session_allow, *sorted(policy.session_tools)]


def show_permissions(console: Console, policy: ApprovalPolicy, argument: str) -> None:
    action, _, number = argument.partition(" ")
    grants = session_grants(policy)
    if action in ("revoke", "save"):
        if not number.strip().isdigit() or not 1 <= int(number) <= len(grants):
            console.print(Text(f"usage: {USAGE}, N from the /permissions list", "red"))
            return
        grant = grants[int(number) - 1]
        if action == "revoke":
            policy.revoke(grant)
            console.print(Text(f"revoked: {grant} asks again", "green"))
        elif grant in policy.session_tools:
            console.print(Text(f"{grant} is a tool, not a command prefix: use mode auto-edit for edits", "red"))
        else:
            console.print(Text(f"saved: `{grant}` is allowed in {save_allow_rule(grant)}", "green"))
        return
    if action:
        console.print(Text(f"usage: {USAGE}", "red"))
        return
    console.print(f"mode: {policy.mode}", highlight=False)
    console.print(f"allow (config): {', '.join(policy.allow) or '-'}", highlight=False)
    console.print(f"deny (config): {', '.join(policy.deny) or '-'}", highlight=False)
    if not grants:
        console.print(Text('no "always" answers in this session', "dim"))
    for index, grant in enumerate(grants, start=1):
        kind = "tool" if grant in policy.session_tools else "commands starting with"
        console.print(f"{index:>3}  {kind} {grant}", highlight=False)
    if grants:
        console.print(Text(f"{USAGE}: take one back, or keep it in your config", "dim"))
