"""The server's settings: read from the environment once, at start-up, into one frozen object."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


class SettingsError(ValueError):
    """One or more environment variables are missing or malformed; the message lists them all."""


@dataclasses.dataclass(frozen=True, slots=True)
class Settings:
    """Everything the server needs to know about its environment."""

    webhook_secret: str | None = dataclasses.field(default=None, repr=False)
    github_api_url: str = "https://api.github.com"
    data_dir: Path = Path(".orchestrator")
    host: str = "127.0.0.1"
    port: int = 8080
    webhook_path: str = "/webhooks"
    max_attempts: int = 5
    retry_base_seconds: float = 2.0
    retry_max_seconds: float = 300.0
    handler_timeout_seconds: float = 300.0
    done_retention_days: float = 7.0
    log_level: str = "INFO"
    # GitHub asks integrations to leave a second between writes (its "best practices").
    write_interval_seconds: float = 1.0
    # GitHub's secondary limit is about 80 content-creating requests a minute; the App stays
    # under it (a burst past it is refused for a minute or more).
    writes_per_minute: int = 75
    # The App's identity; without it the server journals and dispatches but cannot act.
    app_id: str | None = None
    private_key: str | None = dataclasses.field(default=None, repr=False)
    private_key_path: str | None = None
    # Running repository code: "bubblewrap", or the explicitly unsafe "unsafe-host".
    sandbox_mode: str = "bubblewrap"
    sandbox_toolchain: tuple[str, ...] = ()  # read-only paths; empty: the sandbox's default
    sandbox_cgroup: str | None = None  # a delegated cgroup v2 directory; None: find one
    sandbox_timeout_seconds: float = 900.0
    sandbox_memory_mb: int = 4096
    sandbox_max_processes: int = 512
    sandbox_cpus: float = 1.0
    sandbox_output_kb: int = 1024
    sandbox_file_mb: int = 2048
    worktree_cap_gb: float = 20.0
    worktree_maintenance_seconds: float = 600.0
    # The local runner: runs at once (all repositories, and one repository), and how long a
    # job's lease lasts without a heartbeat before another runner may take the job over.
    runner_jobs: int = 3
    runner_jobs_per_repository: int = 1
    job_lease_seconds: float = 60.0
    #: The model runs started from GitHub use (`anthropic:…`, `openai:…`, …); the
    #: repository's `.github/orchestrator.yml` may choose among the allowed ones per persona.
    default_model: str | None = None
    #: Story issues made per board pass (GitHub limits content creation), and the wait
    #: before the next pass makes more.
    story_issues_per_pass: int = 20
    story_issues_pass_seconds: float = 60.0

    @property
    def journal_path(self) -> Path:
        return self.data_dir / "journal.sqlite3"

    @property
    def jobs_path(self) -> Path:
        return self.data_dir / "jobs.sqlite3"

    @property
    def pacing_path(self) -> Path:
        """The write slots of the last minute per installation, so a restart keeps the pace."""
        return self.data_dir / "pacing.sqlite3"

    @property
    def has_app_identity(self) -> bool:
        return bool(self.app_id or self.private_key or self.private_key_path)

    @property
    def dev_secret_path(self) -> Path:
        return self.data_dir / "dev-webhook-secret"

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        """Build settings from `environ`, collecting every problem before raising."""
        problems: list[str] = []

        def read(name: str, parse: Callable[[str], T], default: T, check: str = "") -> T:
            raw = environ.get(name, "").strip()
            if not raw:
                return default
            try:
                value = parse(raw)
            except ValueError:
                problems.append(f"{name}={raw!r} is not a valid {check or parse.__name__}")
                return default
            return value

        def positive(parse: Callable[[str], T]) -> Callable[[str], T]:
            def parse_positive(raw: str) -> T:
                value = parse(raw)
                if not value > 0:  # type: ignore[operator]
                    raise ValueError(raw)
                return value

            return parse_positive

        defaults = cls()
        secret = environ.get("GITHUB_WEBHOOK_SECRET") or None
        webhook_path = read("ORCHESTRATOR_WEBHOOK_PATH", str, defaults.webhook_path)
        if not webhook_path.startswith("/"):
            problems.append(f"ORCHESTRATOR_WEBHOOK_PATH={webhook_path!r} must start with '/'")
        api_url = read("GITHUB_API_URL", str, defaults.github_api_url).rstrip("/")
        if not api_url.startswith(("http://", "https://")):
            problems.append(f"GITHUB_API_URL={api_url!r} must be an http(s) URL")
        log_level = read("ORCHESTRATOR_LOG_LEVEL", str.upper, defaults.log_level)
        if log_level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            problems.append(f"ORCHESTRATOR_LOG_LEVEL={log_level!r} is not DEBUG/INFO/WARNING/ERROR")
        app_id = environ.get("GITHUB_APP_ID", "").strip() or None
        if app_id is not None and not app_id.isdigit():
            problems.append(f"GITHUB_APP_ID={app_id!r} is not a number (App settings > App ID)")
        settings = cls(
            webhook_secret=secret,
            github_api_url=api_url,
            data_dir=Path(read("ORCHESTRATOR_DATA_DIR", str, str(defaults.data_dir))),
            host=read("ORCHESTRATOR_HOST", str, defaults.host),
            port=read("ORCHESTRATOR_PORT", positive(int), defaults.port, "port number"),
            webhook_path=webhook_path,
            max_attempts=read(
                "ORCHESTRATOR_MAX_ATTEMPTS",
                positive(int),
                defaults.max_attempts,
                "positive integer",
            ),
            retry_base_seconds=read(
                "ORCHESTRATOR_RETRY_BASE_SECONDS",
                positive(float),
                defaults.retry_base_seconds,
                "positive number",
            ),
            retry_max_seconds=read(
                "ORCHESTRATOR_RETRY_MAX_SECONDS",
                positive(float),
                defaults.retry_max_seconds,
                "positive number",
            ),
            handler_timeout_seconds=read(
                "ORCHESTRATOR_HANDLER_TIMEOUT_SECONDS",
                positive(float),
                defaults.handler_timeout_seconds,
                "positive number",
            ),
            done_retention_days=read(
                "ORCHESTRATOR_DONE_RETENTION_DAYS",
                positive(float),
                defaults.done_retention_days,
                "positive number",
            ),
            log_level=log_level,
            write_interval_seconds=read(
                "ORCHESTRATOR_WRITE_INTERVAL_SECONDS",
                float,
                defaults.write_interval_seconds,
                "number of seconds",
            ),
            app_id=app_id,
            private_key=environ.get("GITHUB_PRIVATE_KEY") or None,
            private_key_path=environ.get("GITHUB_PRIVATE_KEY_PATH", "").strip() or None,
        )
        sandbox_mode = read("ORCHESTRATOR_SANDBOX", str.lower, defaults.sandbox_mode)
        if sandbox_mode not in {"bubblewrap", "unsafe-host"}:
            problems.append(f"ORCHESTRATOR_SANDBOX={sandbox_mode!r} is not bubblewrap/unsafe-host")
        toolchain = environ.get("ORCHESTRATOR_SANDBOX_TOOLCHAIN", "")

        def number(field: str, kind: Callable[[str], T]) -> T:
            default: T = getattr(defaults, field)
            return read(f"ORCHESTRATOR_{field.upper()}", positive(kind), default, "positive number")

        settings = dataclasses.replace(
            settings,
            sandbox_mode=sandbox_mode,
            sandbox_toolchain=tuple(p for p in toolchain.split(":") if p),
            sandbox_cgroup=environ.get("ORCHESTRATOR_SANDBOX_CGROUP", "").strip() or None,
            sandbox_timeout_seconds=number("sandbox_timeout_seconds", float),
            sandbox_memory_mb=number("sandbox_memory_mb", int),
            sandbox_max_processes=number("sandbox_max_processes", int),
            sandbox_cpus=number("sandbox_cpus", float),
            sandbox_output_kb=number("sandbox_output_kb", int),
            sandbox_file_mb=number("sandbox_file_mb", int),
            worktree_cap_gb=number("worktree_cap_gb", float),
            worktree_maintenance_seconds=number("worktree_maintenance_seconds", float),
            runner_jobs=number("runner_jobs", int),
            runner_jobs_per_repository=number("runner_jobs_per_repository", int),
            job_lease_seconds=number("job_lease_seconds", float),
            writes_per_minute=number("writes_per_minute", int),
            story_issues_per_pass=number("story_issues_per_pass", int),
            story_issues_pass_seconds=number("story_issues_pass_seconds", float),
            default_model=environ.get("ORCHESTRATOR_DEFAULT_MODEL", "").strip() or None,
        )
        if problems:
            raise SettingsError("invalid configuration:\n  " + "\n  ".join(problems))
        return settings

    def with_overrides(self, **changes: Any) -> Settings:
        """A copy with command-line flags applied (flags win over the environment)."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})
