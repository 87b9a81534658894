"""The `orchestrator` command: `serve`, `demo`, `workflows`, `run`, and `deliveries` and `jobs`
for operators."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import secrets
import sqlite3
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import orjson

from bot.intake import store
from bot.intake.delivery import STATES, DeliveryRecord
from bot.moments import utc
from bot.runs.jobs_cli import add_parser as add_jobs_parser
from bot.runs.jobs_cli import jobs
from bot.runs.jobstore import QueueError
from bot.settings import Settings, SettingsError

if TYPE_CHECKING:
    from aiohttp import web

log = logging.getLogger(__name__)

_HOW_TO_CONFIGURE = """\
orchestrator: GITHUB_WEBHOOK_SECRET is not set, so webhooks could not be verified.
Set these variables and start again:
  GITHUB_WEBHOOK_SECRET   the webhook secret of your GitHub App (App settings > Webhook)
  GITHUB_API_URL          optional, for GitHub Enterprise Server (default https://api.github.com)
  ORCHESTRATOR_DATA_DIR   optional, where the journal lives (default ./.orchestrator)
or try it locally with a development secret:  orchestrator serve --dev
"""


def main(argv: Sequence[str] | None = None, environ: dict[str, str] | None = None) -> int:
    args = _parser().parse_args(argv)
    env = dict(os.environ if environ is None else environ)
    try:
        settings = Settings.from_env(env)
    except SettingsError as exc:
        print(f"orchestrator: {exc}", file=sys.stderr)
        return 2
    if args.command == "workflows":
        return workflows(args, sys.stdout)
    if args.command == "run":
        from bot.runs.cli import run_workflow

        runs_dir = Path(args.data_dir) if args.data_dir else settings.data_dir
        return run_workflow(args, runs_dir, sys.stdout, env)
    if args.command == "demo":
        from bot.demo import demo

        demo_dir = Path(args.data_dir) if args.data_dir else None
        summary = Path(args.summary) if args.summary else None
        return demo(demo_dir, args.port, wait=not args.exit, out=sys.stdout, llm=args.llm,
                    summary=summary, environ=env)  # fmt: skip
    if getattr(args, "data_dir", None):
        settings = settings.with_overrides(data_dir=Path(args.data_dir))
    if args.command == "serve":
        return serve(settings, args)
    if args.command == "jobs":
        return jobs(settings, args, sys.stdout)
    return deliveries(settings, args, sys.stdout)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="orchestrator", description="Agent Orchestrator: BMAD workflows run by LLM agents."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    serve_cmd = commands.add_parser("serve", help="receive GitHub webhooks and dispatch them")
    serve_cmd.add_argument(
        "--dev",
        action="store_true",
        help="use (and on first run create) a development webhook secret",
    )
    serve_cmd.add_argument("--host", help="address to listen on (ORCHESTRATOR_HOST)")
    serve_cmd.add_argument("--port", type=int, help="port to listen on (ORCHESTRATOR_PORT)")
    serve_cmd.add_argument("--data-dir", help="journal and state (ORCHESTRATOR_DATA_DIR)")

    demo_cmd = commands.add_parser(
        "demo", help="try the product on a local GitHub: no account, no key, no network"
    )
    demo_cmd.add_argument(
        "--data-dir", help="where the demo keeps its files (default: a new temp dir)"
    )
    demo_cmd.add_argument(
        "--port", type=int, help="the orchestrator's port (default: any free one)"
    )
    demo_cmd.add_argument(
        "--exit", action="store_true", help="stop after the flows instead of serving until Ctrl-C"
    )
    demo_cmd.add_argument(
        "--llm",
        metavar="SPEC",
        help="the agents' model: anthropic:MODEL (ANTHROPIC_API_KEY), openai:MODEL "
        "(OPENAI_API_KEY) or openai-compatible:MODEL (ORCHESTRATOR_OPENAI_COMPATIBLE_URL); "
        "default: the scripted local model, which needs no key and is not a language model",
    )
    demo_cmd.add_argument(
        "--summary",
        metavar="FILE",
        help="write what the flows left on GitHub (issues, pulls, branches, runs) as JSON, "
        "read back from the local GitHub's API",
    )

    wf = commands.add_parser("workflows", help="the BMAD workflows installed in a repository")
    wf_actions = wf.add_subparsers(dest="action", required=True)
    wf_list = wf_actions.add_parser("list", help="every workflow, task and skill, with its agent")
    wf_list.add_argument("--repo", default=".", help="the repository (default: here)")
    wf_check = wf_actions.add_parser(
        "validate", help="check a repository's workflows, or one workflow; exit 1 on any error"
    )
    wf_check.add_argument("path", help="a repository, or a workflow file or folder in one")

    run_cmd = commands.add_parser(
        "run", help="run a BMAD workflow on a local repository, step by step, resumable"
    )
    run_cmd.add_argument(
        "workflow",
        help="the workflow's name, or MODULE:NAME where two modules ship one "
        "(see `orchestrator workflows list`)",
    )
    run_cmd.add_argument("--repo", default=".", help="the repository (default: here)")
    run_cmd.add_argument(
        "--llm",
        default=None,
        metavar="SPEC",
        help="the agents' model: anthropic:MODEL (ANTHROPIC_API_KEY), openai:MODEL "
        "(OPENAI_API_KEY), openai-compatible:MODEL (a local or hosted server at "
        "ORCHESTRATOR_OPENAI_COMPATIBLE_URL; its window from ORCHESTRATOR_CONTEXT_WINDOWS or "
        "the server), or replay:FILE (a run's recorded exchanges, no model called)",
    )
    run_cmd.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="a variable's value"
    )
    run_cmd.add_argument("--resume", action="store_true", help="go on from the last checkpoint")
    run_cmd.add_argument("--answer", help="a person's answer to the escalation the run paused on")
    run_cmd.add_argument("--data-dir", help="checkpoints (ORCHESTRATOR_DATA_DIR)")

    dlv = commands.add_parser("deliveries", help="inspect and replay journaled webhook deliveries")
    dlv.add_argument("--data-dir", help="journal location (ORCHESTRATOR_DATA_DIR)")
    actions = dlv.add_subparsers(dest="action", required=True)
    ls = actions.add_parser("list", help="newest deliveries first")
    ls.add_argument("--state", choices=STATES)
    ls.add_argument("--limit", type=int, default=50)
    ls.add_argument("--json", action="store_true", help="one JSON object per line")
    show = actions.add_parser("show", help="one delivery, by GitHub delivery id or journal number")
    show.add_argument("ref")
    show.add_argument("--payload", action="store_true", help="print the payload too")
    replay = actions.add_parser("replay", help="queue a finished or dead delivery again")
    replay.add_argument("ref")
    purge = actions.add_parser("purge", help="delete dead deliveries for good")
    purge.add_argument(
        "--dead",
        action="store_true",
        required=True,
        help="required: only dead deliveries are ever purged",
    )
    add_jobs_parser(commands)
    return parser


# serve ---------------------------------------------------------------------------------


def ensure_dev_secret(path: Path) -> tuple[str, bool]:
    """Read the development secret, creating it (owner-only) on first use."""
    with contextlib.suppress(FileNotFoundError):
        existing = path.read_text().strip()
        if existing:
            return existing, False
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_hex(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(secret + "\n")
    return secret, True


def serve(settings: Settings, args: argparse.Namespace) -> int:
    from bot.github.auth import AppCredentials, CredentialsError
    from bot.intake.preflight import JournalUnusable
    from bot.intake.preflight import check as check_journal
    from bot.logs import configure_logging
    from bot.web.app import create_app

    settings = settings.with_overrides(host=args.host, port=args.port)
    if not settings.webhook_secret:
        if not args.dev:
            sys.stderr.write(_HOW_TO_CONFIGURE)
            return 2
        secret, created = ensure_dev_secret(settings.dev_secret_path)
        settings = settings.with_overrides(webhook_secret=secret)
        if created:
            print(
                f"Development webhook secret (saved to {settings.dev_secret_path}):\n"
                f"  {secret}\nSign test deliveries with it; it is not printed again.",
                flush=True,
            )
        else:
            print(f"Using the development webhook secret in {settings.dev_secret_path}", flush=True)
    assert settings.webhook_secret is not None
    secrets = [settings.webhook_secret]
    credentials = None
    if settings.has_app_identity:
        try:
            credentials = AppCredentials.load(
                settings.app_id, settings.private_key, settings.private_key_path
            )
        except CredentialsError as exc:
            print(f"orchestrator: {exc}", file=sys.stderr)
            return 2
        secrets.append(credentials.private_key)
    else:
        print(
            "No GitHub App identity (GITHUB_APP_ID, GITHUB_PRIVATE_KEY[_PATH]): deliveries"
            " are journaled and dispatched, but the bot cannot act on GitHub.",
            flush=True,
        )
    configure_logging(settings.log_level, secrets=secrets)
    try:
        check_journal(settings.journal_path)
        app = create_app(settings, credentials=credentials)
        url = f"http://{settings.host}:{settings.port}{settings.webhook_path}"
        print(f"Agent Orchestrator is receiving webhooks at {url}", flush=True)
        run_server(app, settings)
    except (JournalUnusable, QueueError) as exc:  # refused at start-up, before the port is taken
        log.error("not started", extra={"data_dir": str(settings.data_dir), "error": str(exc)})
        print(f"orchestrator: {exc}", file=sys.stderr)
        return 2
    return 0


def run_server(app: web.Application, settings: Settings) -> None:
    """Serve `app` until SIGINT/SIGTERM, on uvloop where it is installed."""
    from aiohttp import web

    # The journal's commit thread needs the GIL back after every fsync; with the default
    # 5 ms switch interval it can wait that long behind a busy event loop, stretching every
    # group commit. 1 ms measured ~14% more deliveries per second under load.
    sys.setswitchinterval(0.001)
    web.run_app(
        app,
        host=settings.host,
        port=settings.port,
        access_log=None,
        print=None,
        loop=_new_event_loop(),
    )


def _new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop where it is installed (Linux, macOS): the same server, less CPU per request."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


# deliveries ----------------------------------------------------------------------------


@contextlib.contextmanager
def _journal(settings: Settings) -> Iterator[sqlite3.Connection]:
    if not settings.journal_path.exists():
        raise FileNotFoundError(f"no journal at {settings.journal_path}")
    conn = store.connect(settings.journal_path)
    try:
        yield conn
    finally:
        conn.close()


def workflows(args: argparse.Namespace, out: TextIO) -> int:
    """`orchestrator workflows list|validate`: what the engine reads in a repository."""
    from bot.engine.loader import load
    from bot.engine.report import list_lines, validate_lines

    if args.action == "list":
        repository = Path(args.repo)
        if not repository.is_dir():
            print(f"orchestrator: {repository} is not a directory", file=sys.stderr)
            return 2
        project = load(repository)
        print("\n".join(list_lines(project)), file=out)
        for problem in project.errors:
            print(problem, file=out)
        return 1 if project.errors and not project.workflows else 0
    target = Path(args.path)
    if not target.exists():
        print(f"orchestrator: {target} does not exist", file=sys.stderr)
        return 2
    repository = _repository_of(target)
    only = None if target.resolve() == repository else target
    lines, ok = validate_lines(load(repository), only)
    if only is None:
        config_lines, config_ok = _config_lines(repository)
        lines, ok = [*lines[:-1], *config_lines, *lines[-1:]], ok and config_ok  # summary last
    print("\n".join(lines), file=out)
    return 0 if ok else 1


def _config_lines(repository: Path) -> tuple[list[str], bool]:
    """The repository's `.github/orchestrator.yml`: its problems, and the settings it sets
    that do not act yet."""
    from bot.agents.config import CONFIG_PATH, ConfigError, not_active, parse_config

    path = repository / CONFIG_PATH
    if not path.is_file():
        return [f"config: no {CONFIG_PATH} (every setting has its default)"], True
    text = path.read_text(encoding="utf-8", errors="replace")
    try:
        parse_config(text, os.environ, check_models=False)
    except ConfigError as exc:
        return [f"config: {exc}"], False
    lines = [f"config: {CONFIG_PATH} is valid"]
    for key, why in not_active(text).items():
        lines.append(f"  {key}: accepted, not active yet ({why})")
    return lines, True


def _repository_of(path: Path) -> Path:
    """The repository a path is in: the nearest folder with a BMAD install or a `.git`."""
    from bot.engine.installation import BMAD_FOLDERS, SKILL_FOLDERS, find_root

    start = path.resolve() if path.is_dir() else path.resolve().parent
    for folder in (start, *start.parents):
        if (
            (folder / ".git").exists()
            or any((folder / b).is_dir() for b in BMAD_FOLDERS)
            or any((folder / s).is_dir() for s in SKILL_FOLDERS)
            or (folder == start and find_root(folder) == folder)
        ):
            return folder
    return start


def deliveries(settings: Settings, args: argparse.Namespace, out: TextIO) -> int:
    try:
        with _journal(settings) as conn:
            return _deliveries(conn, args, out)
    except FileNotFoundError as exc:
        print(f"orchestrator: {exc} (set ORCHESTRATOR_DATA_DIR or --data-dir)", file=sys.stderr)
        return 1
    except sqlite3.Error as exc:
        from bot.intake.preflight import explain

        print(f"orchestrator: {explain(settings.journal_path, exc)}", file=sys.stderr)
        return 1


def _deliveries(conn: sqlite3.Connection, args: argparse.Namespace, out: TextIO) -> int:
    if args.action == "list":
        records = store.listing(conn, args.state, args.limit)
        if args.json:
            for each in records:
                out.write(orjson.dumps(_as_dict(each)).decode() + "\n")
        else:
            out.write(_table(records))
        return 0
    if args.action == "purge":
        count = store.purge_dead(conn)
        out.write(f"purged {count} dead deliver{'y' if count == 1 else 'ies'}\n")
        return 0
    record = store.find(conn, args.ref)
    if record is None:
        print(f"orchestrator: no delivery {args.ref!r} in the journal", file=sys.stderr)
        return 1
    if args.action == "show":
        for key, value in _as_dict(record).items():
            out.write(f"{key:>16}: {'' if value is None else value}\n")
        if args.payload:
            raw = store.body(conn, record.seq) or b"null"
            out.write(orjson.dumps(orjson.loads(raw), option=orjson.OPT_INDENT_2).decode() + "\n")
        return 0
    if store.replay(conn, record.seq):
        out.write(
            f"delivery {record.delivery_id} queued again; a running server picks it up"
            " within seconds\n"
        )
        return 0
    print(f"orchestrator: delivery {record.delivery_id} is still pending", file=sys.stderr)
    return 1


def _as_dict(record: DeliveryRecord) -> dict[str, object]:
    return {
        "seq": record.seq,
        "delivery_id": record.delivery_id,
        "event": record.event if record.action is None else f"{record.event}.{record.action}",
        "repository": record.repository,
        "installation_id": record.installation_id,
        "state": record.state,
        "attempts": record.attempts,
        "received_at": utc(record.received_at),
        "finished_at": utc(record.finished_at),
        "last_error": record.last_error,
    }


def _table(records: list[DeliveryRecord]) -> str:
    if not records:
        return "no deliveries\n"
    header = ["SEQ", "DELIVERY", "EVENT", "REPOSITORY", "STATE", "TRIES", "RECEIVED (UTC)", "ERROR"]
    rows = [header] + [
        [
            "" if v is None else str(v)
            for v in (
                d["seq"],
                d["delivery_id"],
                d["event"],
                d["repository"],
                d["state"],
                d["attempts"],
                d["received_at"],
                str(d["last_error"] or "")[:60],
            )
        ]
        for d in map(_as_dict, records)
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    return "".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() + "\n"
        for row in rows
    )
