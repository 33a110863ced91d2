"""One registry of every setting, loaded from a TOML file and ``PROXBALANCE_*`` environment variables.

Precedence (last wins): defaults < TOML file < environment. A setting ``proxmox.token_secret`` lives in the
file as ``[proxmox] token_secret = ...`` and in the environment as ``PROXBALANCE_PROXMOX_TOKEN_SECRET``.
Secret values may be written as ``{"$env": "NAME"}`` or ``{"$file": "/path"}`` (TOML inline tables) and are
resolved at load. Anything invalid raises :class:`ConfigError` naming the key and the reason.
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from proxbalance.errors import ConfigError

DEFAULT_CONFIG_PATH = "/etc/proxbalance/config.toml"
ENV_PREFIX = "PROXBALANCE_"
REDACTED = "********"
#: events a notification can be sent for (notifications.events)
NOTIFY_EVENTS = ("migration_started", "migration_completed", "migration_failed", "cycle_summary",
                 "automation_paused", "evacuation_finished", "forecast_critical")


@dataclass(frozen=True)
class Setting:
    name: str  # dotted: "section.key"
    type: type  # str, int, float, bool or list (of str)
    default: Any
    help: str
    secret: bool = False
    min: float | None = None
    max: float | None = None
    choices: tuple[str, ...] | None = None

    @property
    def env_var(self) -> str:
        return ENV_PREFIX + self.name.replace(".", "_").upper()


def _s(name, type_, default, help_, **kw) -> Setting:
    return Setting(name, type_, default, help_, **kw)


SETTINGS: tuple[Setting, ...] = (
    # Proxmox connection
    _s("proxmox.host", str, "", "Proxmox VE host name or address (any cluster node)."),
    _s("proxmox.port", int, 8006, "Proxmox VE API port.", min=1, max=65535),
    _s("proxmox.token_id", str, "", "API token id, USER@REALM!TOKENNAME (preferred auth)."),
    _s("proxmox.token_secret", str, "", "API token secret (UUID).", secret=True),
    _s("proxmox.username", str, "", "User for ticket login, USER@REALM (fallback when no token is set)."),
    _s("proxmox.password", str, "", "Password for ticket login.", secret=True),
    _s("proxmox.verify_tls", bool, True, "Verify the Proxmox TLS certificate."),
    _s("proxmox.ca_file", str, "", "PEM CA bundle to verify Proxmox with (e.g. the cluster's pve-root-ca.pem)."),
    _s("proxmox.timeout", float, 10.0, "Seconds before one Proxmox API call times out.", min=0.1, max=600),
    _s("proxmox.retries", int, 2, "Retries on connection errors and 5xx (never on 4xx).", min=0, max=10),
    _s("proxmox.max_parallel", int, 8, "Concurrent per-node API calls during collection.", min=1, max=64),
    _s("proxmox.allowed_networks", list, [], "Networks (CIDR) a new Proxmox host may resolve into "
       "(change-host, validate-token, import). Empty = any unicast address except loopback; link-local, "
       "multicast and metadata addresses are always refused. List 127.0.0.0/8 to allow localhost."),
    # Storage
    _s("paths.data_dir", str, "/var/lib/proxbalance", "Directory for the database and runtime state."),
    _s("database.url", str, "", "SQLAlchemy URL; empty = SQLite file proxbalance.sqlite in paths.data_dir.",
       secret=True),
    # HTTP server
    _s("server.host", str, "127.0.0.1", "Address the API listens on (localhost unless you need otherwise)."),
    _s("server.port", int, 5000, "Port the API listens on.", min=1, max=65535),
    _s("server.cors_origins", list, [], "Origins allowed to call the API from a browser (CORS)."),
    _s("server.behind_proxy", bool, False, "Trust X-Forwarded-* from one proxy (nginx) in front."),
    _s("server.serve_web", bool, True, "Serve the dashboard files from Flask (demo; nginx does it in production)."),
    _s("server.web_dir", str, "", "Dashboard directory; empty = the web/ folder shipped with ProxBalance."),
    _s("server.proxmox_workers", int, 2, "Threads per API process for Proxmox-bound request work (the bulkhead); "
       "a request finding them all busy gets 503 at once instead of holding a server thread.", min=1, max=32),
    _s("server.proxmox_wait_seconds", float, 10.0, "Longest a request waits for Proxmox-bound work before "
       "answering 504 (the work itself goes on in the background).", min=0.5, max=600),
    _s("server.max_body_bytes", int, 1048576, "Largest request body accepted (413 above it, before parsing "
       "and before auth).", min=1024, max=104857600),
    _s("server.max_json_depth", int, 32, "Deepest JSON nesting accepted in a request body (400 above it).",
       min=2, max=1000),
    # Auth, limits, metrics
    _s("auth.enabled", bool, True, "Require an API key on every endpoint but /api/health."),
    _s("auth.bootstrap_admin_key", str, "", "An admin API key accepted in addition to stored keys "
       "(for first setup and the demo). Empty = none.", secret=True),
    _s("ratelimit.enabled", bool, True, "Rate-limit requests per API key (per address when anonymous)."),
    _s("ratelimit.read_per_minute", int, 600, "Read requests allowed per key per minute.", min=1),
    _s("ratelimit.write_per_minute", int, 60, "Write requests allowed per key per minute.", min=1),
    _s("ratelimit.storage_uri", str, "shared", "Where request counts live: shared = a file in paths.data_dir "
       "that every worker process on the host counts in (exact per-key budgets under gunicorn); memory:// = "
       "per process; redis://... = across hosts (limits storage URI)."),
    _s("metrics.public", bool, False, "Serve /metrics without an API key (for a local Prometheus)."),
    # Collection and history
    _s("collection.interval_seconds", int, 60, "Seconds between collections.", min=10, max=86400),
    _s("collection.config_refresh_cycles", int, 30, "Re-read every guest config at least every N cycles.",
       min=1, max=10000),
    _s("collection.backfill", bool, True, "Backfill day/week history from Proxmox rrddata on first run."),
    _s("collection.in_process", bool, False, "Run the collector inside the API process (APScheduler) instead "
       "of the systemd timer. Single-process servers only (proxbalance serve, demo): each gunicorn worker "
       "would run its own."),
    _s("retention.raw_hours", int, 48, "Hours of raw samples kept.", min=1),
    _s("retention.five_min_days", int, 14, "Days of 5-minute rollups kept.", min=1),
    _s("retention.hourly_days", int, 365, "Days of hourly rollups kept.", min=1),
    _s("retention.full_snapshots", int, 30, "Newest snapshots that keep their full per-guest detail "
       "(older ones keep node rows and metadata only; history lives in the sample tables).", min=1, max=100000),
    _s("collection.config_reads_per_cycle", int, 0, "Most guest configs re-read per cycle because they are due "
       "(every collection.config_refresh_cycles); changed or new guests are always read. 0 = one per node.",
       min=0, max=100000),
    _s("collection.backfill_parallel", int, 8, "Concurrent rrddata calls while backfilling history.",
       min=1, max=64),
    _s("collection.stale_after_seconds", float, 0.0, "Age of the newest snapshot above which /api/health says "
       "degraded (stale data). 0 = three collection intervals.", min=0, max=604800),
    # Thresholds and scoring
    _s("thresholds.cpu_percent", float, 60.0, "Node CPU % above which a node counts as loaded.", min=1, max=100),
    _s("thresholds.mem_percent", float, 70.0, "Node memory % above which a node counts as loaded.",
       min=1, max=100),
    _s("thresholds.mem_limit_percent", float, 90.0, "No move may push a node's memory above this %.",
       min=10, max=100),
    _s("thresholds.stale_minutes", float, 15.0, "Data older than this blocks migrations.", min=1),
    _s("penalty.preset", str, "balanced", "Penalty preset the engine starts from.",
       choices=("conservative", "balanced", "aggressive", "cpu_focus", "memory_focus")),
    # Executor (migrations, batches, evacuation)
    _s("executor.max_in_flight_per_node", int, 2, "Most migrations in flight touching one node (as source or "
       "target) during a batch or evacuation.", min=1, max=64),
    _s("executor.max_in_flight_cluster", int, 4, "Most migrations ProxBalance runs at once in the cluster.",
       min=1, max=256),
    _s("executor.ct_restart_timeout", int, 180, "Seconds a running container gets to shut down before a "
       "restart-mode migration (PVE's timeout).", min=1, max=3600),
    _s("executor.poll_interval_seconds", float, 2.0, "Seconds between task polls while following migrations.",
       min=0.01, max=60),
    _s("executor.intent_grace_seconds", float, 120.0, "Seconds an intent whose PVE call left no trace may stay "
       "undecided before reconciliation resolves it from where the guest is.", min=1, max=86400),
    _s("executor.ha_follow_timeout_seconds", float, 300.0, "Seconds to wait for the HA manager to start the "
       "migration task of an HA request before resolving it from the guest's location.", min=5, max=86400),
    _s("executor.max_target_cpu_percent", float, 95.0, "A move is refused when the target's CPU would exceed "
       "this % (live numbers).", min=10, max=1000),
    _s("executor.outcome_delay_minutes", float, 10.0, "Minutes after a migration ends before its measured "
       "outcome is captured.", min=0, max=10080),
    # Automation (docs/automation.md): off and dry-run by default; every gate below is checked on live data
    _s("automation.enabled", bool, False, "Let automation migrate guests (off by default)."),
    _s("automation.dry_run", bool, True, "Plan, gate and record, never migrate (on by default)."),
    _s("automation.interval_minutes", int, 15, "Minutes between automation cycles (timer and in-process job).",
       min=1, max=10080),
    _s("automation.in_process", bool, False, "Run automation cycles inside the API process (APScheduler) instead "
       "of the systemd timer proxbalance-automigrate.timer. Single-process servers only."),
    _s("automation.max_migrations_per_run", int, 3, "Most migrations one cycle starts.", min=1, max=100),
    _s("automation.max_concurrent", int, 1, "Most migrations in flight in the cluster at once (ours and "
       "others'); a cycle starts nothing while this many run.", min=1, max=16),
    _s("automation.min_confidence", int, 70, "Only act on recommendations at least this confident (0-100).",
       min=0, max=100),
    _s("automation.windows", list, [], "Migration windows, each '[DAYS] HH:MM-HH:MM' (DAYS: mon-fri, sat,sun, "
       "daily; end before start crosses midnight). Empty = any time."),
    _s("automation.blackouts", list, [], "Blackout periods that always block: '[DAYS] HH:MM-HH:MM', "
       "'YYYY-MM-DD', 'YYYY-MM-DD..YYYY-MM-DD' or 'YYYY-MM-DD HH:MM-HH:MM'."),
    _s("automation.timezone", str, "UTC", "IANA time zone of windows and blackouts (e.g. Europe/Berlin)."),
    _s("automation.observation_cycles", int, 3, "A move runs only after being recommended in this many "
       "consecutive cycles (K).", min=1, max=100),
    _s("automation.observation_minutes", float, 30.0, "... spanning at least this many minutes (T).",
       min=0, max=10080),
    _s("automation.cooldown_minutes", float, 240.0, "A guest moved recently waits this long before moving again; "
       "doubled for each further move inside the lookback.", min=0, max=100000),
    _s("automation.cooldown_growth", float, 2.0, "Cooldown multiplier per earlier move of the guest inside "
       "automation.cooldown_lookback_hours.", min=1, max=100),
    _s("automation.cooldown_lookback_hours", float, 168.0, "Moves counted for the growing cooldown.",
       min=1, max=8760),
    _s("automation.no_return_hours", float, 24.0, "Never move a guest back to a node it left within this many "
       "hours.", min=0, max=8760),
    _s("automation.target_max_cpu_percent", float, 80.0, "The target's live CPU % plus the guest's must stay "
       "below this.", min=1, max=100),
    _s("automation.target_max_mem_percent", float, 85.0, "The target's live memory % plus the guest's must stay "
       "below this.", min=1, max=100),
    _s("automation.whitelist_mode", bool, False, "Only move guests tagged auto-migrate-ok."),
    _s("automation.move_ha_guests", bool, True, "Move HA-managed guests (always through HA, never directly)."),
    _s("automation.pause_after_failures", int, 3, "Pause automation after this many consecutive failed "
       "migrations (until an admin resumes it).", min=1, max=100),
    _s("automation.crs_conflict", str, "skip_ha", "When PVE's CRS rebalances HA guests itself: skip_ha (leave "
       "HA guests to CRS), pause (move nothing) or ignore.", choices=("skip_ha", "pause", "ignore")),
    _s("automation.require_all_nodes_online", bool, True, "Act only while every node is online and answered."),
    _s("automation.refresh_after_seconds", int, 120, "Collect first when the newest snapshot is older than this.",
       min=0, max=86400),
    _s("automation.balance_guest_count", bool, False, "Also propose moves that even out guest counts per node "
       "(smallest guests first) when the count spread exceeds automation.guest_count_max_spread."),
    _s("automation.guest_count_max_spread", int, 10, "Guest-count spread (most - fewest running guests on a "
       "node) tolerated before guest-count balancing proposes a move.", min=1, max=10000),
    _s("automation.lease_seconds", int, 900, "A cycle's lease (seconds, renewed while it runs): a crashed "
       "cycle's lease expires after this.", min=2, max=86400),
    # Forecasts, score history, workload patterns
    _s("forecast.enabled", bool, True, "Forecast node load and let the plan avoid nodes about to peak "
       "(forecast_peak term)."),
    _s("forecast.horizon_hours", int, 48, "Hours ahead forecasts and forecast alerts look.", min=1, max=48),
    _s("forecast.penalty_horizon_hours", int, 24, "Hours ahead the forecast_peak term looks for a node's peak.",
       min=1, max=48),
    _s("forecast.penalty_band", str, "mean", "Peak the forecast_peak term uses: the mean forecast or the upper "
       "80 % band.", choices=("mean", "upper")),
    _s("forecast.history_days", int, 28, "Days of hourly history the forecaster reads.", min=2, max=365),
    _s("forecast.critical_hours", int, 6, "A forecast threshold crossing sooner than this is critical.",
       min=1, max=48),
    _s("forecast.backtest_interval_minutes", int, 60, "Minutes between backtests of the forecaster on the "
       "store's own history.", min=1, max=10080),
    _s("forecast.score_history_days", int, 30, "Days of score history kept.", min=1, max=3650),
    # Notifications (docs/automation.md)
    _s("notifications.enabled", bool, False, "Send notifications through apprise."),
    _s("notifications.urls", list, [], "Apprise URLs (discord://..., mailto://..., json://...). Secret: they carry "
       "tokens.", secret=True),
    _s("notifications.events", list, ["migration_failed", "cycle_summary", "automation_paused",
                                      "evacuation_finished", "forecast_critical"],
       "Events that notify: migration_started, migration_completed, migration_failed, cycle_summary, "
       "automation_paused, evacuation_finished, forecast_critical."),
    _s("notifications.summary_when_idle", bool, False, "Send cycle_summary also for cycles that moved nothing."),
    _s("notifications.timeout_seconds", float, 10.0, "Seconds one delivery may take.", min=1, max=120),
    # AI second opinion (optional extra proxbalance[ai]); keys are per provider so one is never sent to another
    _s("ai.enabled", bool, False, "Allow POST /api/ai-recommendations to ask an AI provider for a second opinion."),
    _s("ai.provider", str, "openai", "AI provider: openai (also any OpenAI-compatible server: vLLM, LM Studio, "
       "...), anthropic or ollama.", choices=("openai", "anthropic", "ollama")),
    _s("ai.attach_to_recommendations", bool, False, "When ai.enabled, POST /api/recommendations also asks the AI "
       "and attaches ai_enhanced / ai_insight (the engine's plan is returned even if the AI fails)."),
    _s("ai.openai_api_key", str, "", "OpenAI (or compatible server) API key.", secret=True),
    _s("ai.openai_base_url", str, "", "OpenAI-compatible base URL (e.g. http://127.0.0.1:8000/v1); empty = "
       "api.openai.com."),
    _s("ai.openai_model", str, "gpt-4o-mini", "Model used with the openai provider."),
    _s("ai.anthropic_api_key", str, "", "Anthropic API key.", secret=True),
    _s("ai.anthropic_base_url", str, "", "Anthropic API base URL; empty = api.anthropic.com."),
    _s("ai.anthropic_model", str, "claude-sonnet-4-5", "Model used with the anthropic provider."),
    _s("ai.ollama_host", str, "http://127.0.0.1:11434", "Ollama server URL."),
    _s("ai.ollama_api_key", str, "", "Bearer token for an Ollama behind an authenticating proxy (usually empty).",
       secret=True),
    _s("ai.ollama_model", str, "llama3.1", "Model used with the ollama provider."),
    _s("ai.timeout_seconds", float, 60.0, "Seconds before one AI provider call times out.", min=0.05, max=600),
    _s("ai.max_retries", int, 2, "Retries on 429, 5xx and connection errors (exponential backoff, honours "
       "Retry-After).", min=0, max=10),
    _s("ai.max_output_tokens", int, 2000, "Most tokens the AI may answer with (per request).", min=64, max=64000),
    _s("ai.max_prompt_chars", int, 24000, "Most characters of cluster summary sent (about 4 characters a token); "
       "fewer guests are listed until it fits.", min=2000, max=400000),
    _s("ai.max_guests", int, 30, "Hottest guests listed in the prompt.", min=1, max=500),
    _s("ai.anonymize_names", bool, False, "Send guest names (and tag group names) as placeholders; the answer is "
       "mapped back to the real names."),
    _s("ai.structured_output", bool, True, "Ask for a JSON schema / tool call; falls back to tolerant parsing of "
       "plain text when the server refuses the schema."),
    # Logging
    _s("logging.level", str, "INFO", "Log level of ProxBalance's loggers (file, and stderr under systemd).",
       choices=("DEBUG", "INFO", "WARNING", "ERROR")),
    _s("logging.file", str, "", "Rotating log file; empty = logs/proxbalance.log in paths.data_dir."),
    _s("logging.max_bytes", int, 5_000_000, "Size at which the log file rotates.", min=10_000, max=1_000_000_000),
    _s("logging.backup_count", int, 5, "Rotated log files kept.", min=1, max=100),
    # Updates and services (file/environment only: they name commands and directories)
    _s("updates.install_dir", str, "", "Git checkout ProxBalance runs from; empty = the checkout holding this "
       "package (none when installed with pip)."),
    _s("updates.remote", str, "origin", "Git remote updates come from."),
    _s("updates.restart_command", list, ["systemctl", "restart", "proxbalance.service"],
       "Command (argv) that restarts the API after an update."),
    _s("updates.health_url", str, "http://127.0.0.1:5000/api/health", "URL that must answer 200 with "
       "status ok after a restart, or the update is rolled back."),
    _s("updates.health_timeout_seconds", float, 60.0, "Seconds to wait for the health check after a restart.",
       min=1, max=3600),
    _s("updates.pip_install", bool, True, "Run pip install in the checkout after git moves it."),
    _s("system.services", list, ["proxbalance.service", "proxbalance-collector.service",
                                 "proxbalance-collector.timer", "proxbalance-recommend.service",
                                 "proxbalance-recommend.timer"],
       "systemd units restart-service may restart and logs/download may read."),
)

BY_NAME: dict[str, Setting] = {s.name: s for s in SETTINGS}


def _coerce(setting: Setting, value: Any, *, from_env: bool) -> Any:
    """Convert and check one value; raise ConfigError naming the key."""
    name, typ = setting.name, setting.type

    def bad(reason: str) -> ConfigError:
        return ConfigError(f"invalid setting {name!r}: {reason}", details={"key": name})

    if from_env and typ is not str:
        if typ is list:
            value = [v.strip() for v in value.split(",") if v.strip()] if not value.startswith("[") else \
                _json_or(bad, value)
        elif typ is bool:
            low = value.strip().lower()
            if low not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
                raise bad(f"expected a boolean, got {value!r}")
            value = low in ("1", "true", "yes", "on")
    if typ is bool:
        if not isinstance(value, bool):
            raise bad(f"expected a boolean, got {type(value).__name__}")
    elif typ in (int, float):
        if isinstance(value, bool):
            raise bad("expected a number, got a boolean")
        if isinstance(value, str):
            try:
                value = typ(value)
            except ValueError:
                raise bad(f"expected {'an integer' if typ is int else 'a number'}, got {value!r}") from None
        if typ is int and isinstance(value, float) and value.is_integer():
            value = int(value)
        if not isinstance(value, (int, float)) or (typ is int and not isinstance(value, int)):
            raise bad(f"expected {'an integer' if typ is int else 'a number'}, got {type(value).__name__}")
        value = typ(value)
        if setting.min is not None and value < setting.min:
            raise bad(f"must be >= {setting.min:g}, got {value}")
        if setting.max is not None and value > setting.max:
            raise bad(f"must be <= {setting.max:g}, got {value}")
    elif typ is str:
        if not isinstance(value, str):
            raise bad(f"expected a string, got {type(value).__name__}")
        if setting.choices and value not in setting.choices:
            raise bad(f"must be one of {', '.join(setting.choices)}, got {value!r}")
    elif typ is list:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise bad("expected a list of strings")
        value = list(value)
    return value


def _json_or(bad: Callable[[str], ConfigError], text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        raise bad("not valid JSON") from None


def _resolve_reference(name: str, value: Any) -> Any:
    """Resolve ``{"$env": NAME}`` / ``{"$file": path}`` (also inside lists)."""
    if isinstance(value, list):
        return [_resolve_reference(name, v) for v in value]
    if not isinstance(value, dict):
        return value
    if set(value) == {"$env"}:
        var = value["$env"]
        if not isinstance(var, str) or var not in os.environ:
            raise ConfigError(f"invalid setting {name!r}: environment variable {var!r} is not set",
                              details={"key": name})
        return os.environ[var]
    if set(value) == {"$file"}:
        path = value["$file"]
        try:
            return Path(str(path)).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"invalid setting {name!r}: cannot read secret file {path!r}: {exc.strerror}",
                              details={"key": name}) from None
    raise ConfigError(f"invalid setting {name!r}: a table must be {{\"$env\": NAME}} or {{\"$file\": PATH}}",
                      details={"key": name})


def _flatten(data: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and not (set(value) <= {"$env", "$file"} and value):
            if name in BY_NAME:  # a table where a value belongs
                yield name, value
            else:
                yield from _flatten(value, name + ".")
        else:
            yield name, value


class Settings(Mapping[str, Any]):
    """Validated settings: ``settings["proxmox.host"]``. Immutable; build a new one with :meth:`replace`."""

    def __init__(self, values: Mapping[str, Any], sources: Mapping[str, str] | None = None):
        self._values = {s.name: s.default for s in SETTINGS}
        self._values.update(values)
        self._sources = dict(sources or {})

    def __getitem__(self, name: str) -> Any:
        return self._values[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def source(self, name: str) -> str:
        """Where a value came from: default, the file path, or the environment variable."""
        return self._sources.get(name, "default")

    def replace(self, **overrides: Any) -> Settings:
        """A copy with dotted names given as ``section__key=value`` keyword arguments, validated."""
        values = dict(self._values)
        for key, value in overrides.items():
            name = key.replace("__", ".")
            if name not in BY_NAME:
                raise ConfigError(f"unknown setting {name!r}", details={"key": name})
            values[name] = _coerce(BY_NAME[name], value, from_env=False)
        return Settings(values, self._sources)

    @property
    def data_dir(self) -> Path:
        return Path(self["paths.data_dir"])

    @property
    def database_url(self) -> str:
        return self["database.url"] or f"sqlite:///{self.data_dir / 'proxbalance.sqlite'}"

    def redacted(self) -> dict[str, Any]:
        """Every setting with secret values replaced by ``REDACTED`` (empty secrets stay empty)."""
        return {name: (REDACTED if BY_NAME[name].secret and value not in ("", [], None) else value)
                for name, value in self._values.items()}


def load_settings(path: str | os.PathLike | None = None, env: Mapping[str, str] | None = None,
                  overrides: Mapping[str, Any] | None = None) -> Settings:
    """Load defaults < TOML file < environment < ``overrides`` (dotted names), validating everything.

    ``path`` None means ``$PROXBALANCE_CONFIG`` or :data:`DEFAULT_CONFIG_PATH`; the default path may be absent,
    an explicitly named file may not.
    """
    env = os.environ if env is None else env
    explicit = path is not None or "PROXBALANCE_CONFIG" in env
    path = Path(path or env.get("PROXBALANCE_CONFIG") or DEFAULT_CONFIG_PATH)
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    raw: dict[str, Any] = {}
    if path.exists():
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
        except OSError as exc:
            raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    elif explicit:
        raise ConfigError(f"config file {path} does not exist")
    for name, value in _flatten(raw):
        if name not in BY_NAME:
            raise ConfigError(f"unknown setting {name!r} in {path}", details={"key": name})
        values[name] = _coerce(BY_NAME[name], _resolve_reference(name, value), from_env=False)
        sources[name] = str(path)
    for setting in SETTINGS:
        if setting.env_var in env:
            values[setting.name] = _coerce(setting, env[setting.env_var], from_env=True)
            sources[setting.name] = setting.env_var
    for name, value in (overrides or {}).items():
        if name not in BY_NAME:
            raise ConfigError(f"unknown setting {name!r}", details={"key": name})
        values[name] = _coerce(BY_NAME[name], value, from_env=False)
        sources[name] = "override"
    _check_consistency(values)
    return Settings(values, sources)


def _check_consistency(values: Mapping[str, Any]) -> None:
    token_id = values.get("proxmox.token_id", "")
    if token_id and ("!" not in token_id or "@" not in token_id.split("!")[0]):
        raise ConfigError("invalid setting 'proxmox.token_id': expected USER@REALM!TOKENNAME, "
                          f"got {token_id!r}", details={"key": "proxmox.token_id"})
    from proxbalance.periods import parse_periods  # automation windows/blackouts/timezone

    for key, blackout in (("automation.windows", False), ("automation.blackouts", True)):
        try:
            parse_periods(values.get(key, []), allow_dates=blackout)
        except ValueError as exc:
            raise ConfigError(f"invalid setting {key!r}: {exc}", details={"key": key}) from None
    tz = values.get("automation.timezone", "UTC")
    try:
        from zoneinfo import ZoneInfo
        ZoneInfo(tz)
    except (ValueError, KeyError, OSError):
        raise ConfigError(f"invalid setting 'automation.timezone': unknown time zone {tz!r}",
                          details={"key": "automation.timezone"}) from None
    unknown = sorted(set(values.get("notifications.events", [])) - set(NOTIFY_EVENTS))
    if unknown:
        raise ConfigError(f"invalid setting 'notifications.events': unknown event(s) {', '.join(unknown)}; "
                          f"known: {', '.join(NOTIFY_EVENTS)}", details={"key": "notifications.events"})
