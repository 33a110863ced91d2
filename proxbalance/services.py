"""ProxBalance's own systemd units: restart one (allow-list ``system.services``) and read logs.

Logs come from journald (``journalctl -u UNIT``) when ProxBalance runs under systemd, else from its own
rotating log file (:mod:`proxbalance.logsetup`). Either way the answer is bounded (``MAX_LINES`` lines,
``MAX_BYTES`` bytes) and every known secret value in it is replaced by ``********``.
"""

from __future__ import annotations

import subprocess

from proxbalance.config import REDACTED, Settings
from proxbalance.errors import ConflictError, UpstreamError, ValidationError
from proxbalance.logsetup import log_path, secret_values, tail, under_systemd

MAX_LINES = 5000
MAX_BYTES = 2_000_000
#: names people use for the API unit (the contract's example is "proxmox-balance")
ALIASES = {"proxmox-balance": "proxbalance.service", "proxbalance": "proxbalance.service",
           "api": "proxbalance.service", "collector": "proxbalance-collector.service"}


def resolve(settings: Settings, service: str) -> str:
    allowed = list(settings["system.services"])
    unit = ALIASES.get(service, service)
    if unit not in allowed and f"{unit}.service" in allowed:
        unit = f"{unit}.service"
    if unit not in allowed:
        raise ValidationError(f"service {service[:80]!r} is not one of ProxBalance's units: "
                              f"{', '.join(allowed)}", details={"field": "service", "allowed": allowed})
    return unit


def restart(settings: Settings, service: str) -> dict:
    unit = resolve(settings, service)
    if not under_systemd():
        raise ConflictError("ProxBalance is not running under systemd: restart it the way it was started",
                            code="not_systemd")
    # --no-block: restarting our own unit must not wait for this process to be stopped
    proc = subprocess.run(["systemctl", "restart", "--no-block", unit], capture_output=True, text=True,
                          timeout=60, check=False)
    if proc.returncode != 0:
        raise UpstreamError(f"systemctl restart {unit} failed: {proc.stderr.strip()[:300]}",
                            code="restart_failed")
    return {"service": unit, "restarted": True}


def _redact(settings: Settings, lines: list[str]) -> list[str]:
    secrets = secret_values(settings)
    out = []
    for line in lines:
        for s in secrets:
            line = line.replace(s, REDACTED)
        out.append(line)
    return out


def logs(settings: Settings, service: str, lines: int) -> tuple[str, str, list[str]]:
    """(unit, source "journald"|"file", lines)."""
    unit = resolve(settings, service)
    lines = max(1, min(MAX_LINES, lines))
    if under_systemd():
        proc = subprocess.run(["journalctl", "--unit", unit, "--lines", str(lines), "--no-pager",
                               "--output", "short-iso"], capture_output=True, text=True, timeout=30, check=False)
        if proc.returncode != 0:
            raise UpstreamError(f"journalctl failed: {proc.stderr.strip()[:300]}", code="journal_failed")
        text = proc.stdout[-MAX_BYTES:].splitlines()[-lines:]
        return unit, "journald", _redact(settings, text)
    return unit, "file", _redact(settings, tail(log_path(settings), lines, MAX_BYTES))
