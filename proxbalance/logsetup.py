"""Logging from the settings: ``logging.level`` on the ``proxbalance`` loggers, a rotating log file
(``logging.file``, default ``<data_dir>/logs/proxbalance.log``) and, under systemd, stderr for journald.

Every handler we add carries a :class:`RedactSecrets` filter holding the current secret values, so a secret
that reaches a log message (a URL with a token, an exception text) is written as ``********``.
:func:`configure` is idempotent: calling it again (the API does after a settings change) updates the level,
the secrets and — if the path changed — the file.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import sys
import threading
from pathlib import Path

from proxbalance.config import REDACTED, SETTINGS, Settings

LOGGER = "proxbalance"
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_lock = threading.Lock()
_state: dict[str, object] = {}


class RedactSecrets(logging.Filter):
    """Replaces every known secret value in a record's final message (args included)."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: tuple[str, ...] = ()

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            msg = record.getMessage()
            if record.exc_info and not record.exc_text:
                record.exc_text = logging.Formatter().formatException(record.exc_info)
            for s in self.secrets:
                msg = msg.replace(s, REDACTED)
                if record.exc_text:
                    record.exc_text = record.exc_text.replace(s, REDACTED)
            record.msg, record.args = msg, None
        return True


def secret_values(settings: Settings) -> tuple[str, ...]:
    out: list[str] = []
    for s in SETTINGS:
        if s.secret:
            value = settings[s.name]
            out.extend(v for v in (value if isinstance(value, list) else [value]) if isinstance(v, str) and
                       len(v) >= 4)
    return tuple(sorted(set(out), key=len, reverse=True))


def log_path(settings: Settings) -> Path:
    return Path(settings["logging.file"]) if settings["logging.file"] else settings.data_dir / "logs" / \
        "proxbalance.log"


def under_systemd() -> bool:
    return bool(os.environ.get("INVOCATION_ID")) and Path("/run/systemd/system").is_dir()


def configure(settings: Settings) -> Path:
    """Apply the logging settings; return the log file's path."""
    path = log_path(settings)
    with _lock:
        logger = logging.getLogger(LOGGER)
        logger.setLevel(settings["logging.level"])
        filt = _state.get("filter")
        if filt is None:
            filt = _state["filter"] = RedactSecrets()
        filt.secrets = secret_values(settings)
        handler = _state.get("file")
        if handler is None or handler.baseFilename != str(path.resolve()) or \
                handler.maxBytes != settings["logging.max_bytes"]:
            if handler is not None:
                logger.removeHandler(handler)
                handler.close()
            path.parent.mkdir(parents=True, exist_ok=True)
            handler = logging.handlers.RotatingFileHandler(path, maxBytes=settings["logging.max_bytes"],
                                                           backupCount=settings["logging.backup_count"],
                                                           encoding="utf-8", delay=False)
            handler.setFormatter(logging.Formatter(FORMAT))
            handler.addFilter(filt)
            logger.addHandler(handler)
            _state["file"] = handler
        if under_systemd() and "stderr" not in _state:
            err = logging.StreamHandler(sys.stderr)
            err.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
            err.addFilter(filt)
            logger.addHandler(err)
            _state["stderr"] = err
    return path


def tail(path: Path, lines: int, max_bytes: int = 2_000_000) -> list[str]:
    """The last ``lines`` lines of ``path`` (reading at most ``max_bytes`` from its end)."""
    if not path.exists():
        return []
    with path.open("rb") as f:
        f.seek(0, os.SEEK_END)
        size = f.tell()
        f.seek(max(0, size - max_bytes))
        data = f.read()
    text = data.decode("utf-8", "replace").splitlines()
    if size > max_bytes and text:
        text = text[1:]  # the first line is probably cut
    return text[-lines:] if lines else []
