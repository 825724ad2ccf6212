"""`sii recordings export | import`: training data out of the recordings, in the format a trainer reads,
and existing datasets in, as recordings."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from recordings.export import FORMATS, Export, Selection, export
from recordings.importer import IMPORT_FORMATS, import_file
from recordings.importers import AGENT_FORMATS, AgentImport, detect, import_logs, logs_under
from recordings.store import OUTCOMES
from recordings.tool_names import PROFILES

LABELS = (*OUTCOMES, "unlabelled", "all")


def export_command(args: argparse.Namespace, directory: Path) -> int:
    if args.format in ("parquet", "slime", "hf") and args.out is None:
        raise ValueError(f"--format {args.format} needs --out {'DIR' if args.format == 'hf' else 'FILE'}")
    if args.duplicate_times < 1 or (args.duplicate_times > 1 and args.format != "slime"):
        raise ValueError("--duplicate-times is a positive count, for --format slime")
    if args.max_tokens is not None and args.tokenizer is None:
        raise ValueError("--max-tokens needs --tokenizer to measure with")
    selection = Selection(
        labels=None if args.label in (None, "all") else frozenset([args.label]),
        models=frozenset(args.model) if args.model else None,
        max_tokens=args.max_tokens,
        tokenizer=args.tokenizer,
        too_long=args.too_long,
        dedupe=not args.no_dedupe,
        redact=not args.no_redact,
        duplicate_times=args.duplicate_times,
        tool_names=args.tool_names,
        tool_schemas=_profile_schemas(args.tool_names),
    )
    result = export(directory, args.format, args.out, selection, args.ids, sys.stdout)
    print(summary(result, args.out), file=sys.stderr)
    return 0


def _profile_schemas(profile: str | None) -> list[dict]:
    """The tools list of `profile`, which the renamed samples declare; tools/ is imported only for a renaming."""
    if profile is None:
        return []
    from tools.profiles import profile_schemas

    return profile_schemas(profile)


def summary(result: Export, out: Path | None) -> str:
    counts, selection = result.counts, result.selection
    where = f" to {out} (manifest: {out}.manifest.json)" if out else ""
    if result.fmt == "sharegpt" and out:
        where += f"; LLaMA-Factory entry {out.stem!r} in {out.with_name('dataset_info.json')}"
    if result.fmt == "hf" and out:
        where += f"; card {out / 'README.md'}, TRL recipe {out / 'train_trl.py'}"
    if result.fmt == "slime" and selection.duplicate_times > 1:
        where += f", each {selection.duplicate_times} times"
    line = f"exported {counts.written} samples from {counts.sessions} sessions as {result.fmt}{where}"
    if selection.max_tokens is not None:
        line += f"; {counts.too_long} dropped as longer than {selection.max_tokens} tokens"
        line += f", {counts.truncated} truncated" if selection.too_long == "truncate" else ""
    if selection.dedupe:
        line += f"; {counts.duplicates} duplicates, {counts.near_duplicates} near-duplicates skipped"
    if selection.redact:
        line += f"; {counts.redacted} secrets redacted"
    skipped = {
        "other label": counts.other_label,
        "other model": counts.other_model,
        "unreadable": counts.unreadable,
        "no assistant message": counts.no_assistant,
        "measured as JSON (chat template failed)": counts.template_failures,
        "dropped for argument types that disagree with earlier samples": counts.type_conflicts,
    }
    details = ", ".join(f"{count} {why}" for why, count in skipped.items() if count)
    return line + (f"; {details}" if details else "")


def import_command(args: argparse.Namespace, directory: Path) -> int:
    """Agent logs become one recording each; datasets (JSONL, Parquet, ShareGPT) one recording per sample."""
    if args.dir is not None and not args.dir.is_dir():
        raise ValueError(f"no directory {args.dir}")
    if not args.paths and args.dir is None:
        raise ValueError("name files to import, or --dir DIR")
    fmt = None if args.source == "auto" else args.source
    agent = AgentImport()
    samples = before = 0
    for path in args.paths:
        if not path.is_file():
            agent.failed.append((path, "no such file"))
        elif fmt in AGENT_FORMATS or (fmt is None and _is_log(path)):
            import_logs([path], directory, fmt, args.outcome, agent)
        else:  # not an agent's log: a dataset
            done = import_file(path, directory, fmt or "auto", args.outcome or "success")
            samples, before = samples + len(done.session_ids), before + done.already_there
    if args.dir is not None:  # a folder's logs of the wanted format; its other files are left alone
        found = [path for path in logs_under(args.dir) if _is_log(path, fmt)]
        import_logs(found, directory, None, args.outcome, agent)
    print(import_summary(agent, samples, before), file=sys.stderr)
    for path, why in agent.failed:
        print(f"  not imported: {path}: {why}", file=sys.stderr)
    return 1 if agent.failed else 0


def _is_log(path: Path, fmt: str | None = None) -> bool:
    """Whether `path` is an agent's session log (of format `fmt`, if given); one too large to look at counts,
    so that importing it reports why it was refused."""
    try:
        detected = detect(path)
    except ValueError:
        return True
    return detected is not None and fmt in (None, detected)


def import_summary(agent: AgentImport, samples: int, before: int) -> str:
    parts = [f"{len(agent.session_ids)} session log(s)"] if agent.session_ids or agent.already_there else []
    parts += [f"{samples} samples as sessions"] if samples or before or not parts else []
    line = "imported " + " and ".join(parts)
    again = len(agent.already_there) + before
    line += f"; {again} were imported before" if again else ""
    return line + (f"; {len(agent.failed)} failed" if agent.failed else "")


def register(actions: argparse._SubParsersAction) -> None:
    export_parser = actions.add_parser(
        "export", help="write training samples (JSONL, Parquet, ShareGPT, slime Parquet, Hugging Face folder)"
    )
    export_parser.add_argument("ids", nargs="*", help="session ids or unique prefixes (default: all)")
    export_parser.add_argument(
        "--format",
        choices=FORMATS,
        default="jsonl",
        help="jsonl (LIMI/OpenAI, the default), parquet (JSON text columns), sharegpt (LLaMA-Factory, with "
        "dataset_info.json), slime (LIMI's nested Parquet), hf (datasets folder with a card and a TRL recipe)",
    )
    export_parser.add_argument("--out", type=Path, help="output file, or folder for hf (default: stdout, line formats)")
    export_parser.add_argument(
        "--duplicate-times", type=int, default=1, help="slime: write each sample this many times (LIMI's default: 10)"
    )
    export_parser.add_argument(
        "--label",
        nargs="?",
        const="success",
        choices=LABELS,
        help="only sessions with this label (--label alone: success; default: any)",
    )
    export_parser.add_argument("--model", action="append", help="only sessions that used this model (repeatable)")
    export_parser.add_argument("--max-tokens", type=int, help="token limit per sample (needs --tokenizer)")
    export_parser.add_argument("--tokenizer", help="tokenizer folder or cached hub name, loaded offline")
    export_parser.add_argument(
        "--too-long",
        choices=("drop", "truncate"),
        default="drop",
        help="over the limit: drop the sample (default) or cut it after the last assistant message that fits",
    )
    export_parser.add_argument(
        "--tool-names", choices=PROFILES, help="rename tool calls and tools to this profile's names (default: as sent)"
    )
    export_parser.add_argument("--no-dedupe", action="store_true", help="keep duplicates and near-duplicates")
    export_parser.add_argument("--no-redact", action="store_true", help="keep secrets (they are redacted by default)")
    export_parser.set_defaults(handler=export_command)
    import_parser = actions.add_parser(
        "import", help="import agent session logs, or a dataset (JSONL, Parquet, ShareGPT), as recordings"
    )
    import_parser.add_argument("paths", nargs="*", type=Path, metavar="PATH")
    import_parser.add_argument(
        "--from",
        "--format",
        dest="source",
        choices=("auto", *AGENT_FORMATS, *IMPORT_FORMATS[1:]),
        default="auto",
        help="the format (default: detected from each file)",
    )
    import_parser.add_argument(
        "--dir", type=Path, help="also import every session log under this folder not imported yet"
    )
    import_parser.add_argument(
        "--outcome",
        choices=OUTCOMES,
        help="label for what has none (default: datasets success, session logs unlabelled)",
    )
    import_parser.set_defaults(handler=import_command)
