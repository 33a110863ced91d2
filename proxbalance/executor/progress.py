"""Parse a PVE migration task log into progress: percent, bytes transferred, rate, ETA.

Lines understood (PVE 8/9 qemu-server and pve-container, and the simulator, which writes the same):
``migration active, transferred 1.2 GiB of 4.0 GiB VM-state, 100.0 MiB/s`` (RAM of a live VM),
``drive-scsi0: transferred 1.0 GiB of 4.0 GiB (25.00%) in 10s`` (storage mirror),
``transferred 1.0 GiB of 4.0 GiB (25.00%)`` (offline disk copy). Each log line may start with PVE's
``YYYY-MM-DD HH:MM:SS`` stamp. Each *stream* (one drive, the VM state, the offline copy) keeps its newest
figures; the overall percent is bytes done over bytes known across streams. Pure functions, no I/O.
"""

from __future__ import annotations

import calendar
import re
import time
from typing import Any

_UNITS = {"B": 1, "KiB": 1024, "MiB": 1024**2, "GiB": 1024**3, "TiB": 1024**4,
          "KB": 1000, "MB": 1000**2, "GB": 1000**3, "TB": 1000**4}
_SIZE = r"(\d+(?:\.\d+)?)\s?(B|KiB|MiB|GiB|TiB|KB|MB|GB|TB)"
_STAMP = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) (.*)$")
_RAM = re.compile(r"migration active, transferred " + _SIZE + " of " + _SIZE + r" VM-state(?:, " + _SIZE + "/s)?")
_DRIVE = re.compile(r"^(drive-[\w-]+): transferred " + _SIZE + " of " + _SIZE + r".*?(?: in (\d+)s)?(?:,|$)")
_COPY = re.compile(r"^transferred " + _SIZE + " of " + _SIZE)


def _bytes(num: str, unit: str) -> float:
    return float(num) * _UNITS[unit]


def _stamp(text: str) -> float | None:
    try:
        return float(calendar.timegm(time.strptime(text, "%Y-%m-%d %H:%M:%S")))
    except ValueError:
        return None


def parse_line(line: str) -> tuple[float | None, str | None, dict[str, float] | None]:
    """(stamp in Unix s or None, stream name or None, {transferred, total, rate?}) of one log line."""
    t = None
    m = _STAMP.match(line)
    if m:
        t, line = _stamp(m.group(1)), m.group(2)
    if (r := _RAM.search(line)) is not None:
        fig = {"transferred": _bytes(r.group(1), r.group(2)), "total": _bytes(r.group(3), r.group(4))}
        if r.group(5):
            fig["rate"] = _bytes(r.group(5), r.group(6))
        return t, "vm-state", fig
    if (r := _DRIVE.match(line)) is not None:
        fig = {"transferred": _bytes(r.group(2), r.group(3)), "total": _bytes(r.group(4), r.group(5))}
        if r.group(6) and float(r.group(6)) > 0:
            fig["rate"] = fig["transferred"] / float(r.group(6))
        return t, r.group(1), fig
    if (r := _COPY.match(line)) is not None:
        return t, "disks", {"transferred": _bytes(r.group(1), r.group(2)), "total": _bytes(r.group(3), r.group(4))}
    return t, None, None


def update(progress: dict[str, Any] | None, lines: list[str]) -> dict[str, Any]:
    """Fold new log lines into ``progress`` (the stored dict; None at first) and return the new dict.

    Keys: ``streams`` {name: {transferred, total, rate, t}}, ``log_lines`` (lines consumed), ``percent``
    (0-100), ``transferred_bytes``, ``total_bytes``, ``rate_bytes_per_s``, ``last_line``, ``error`` (the newest
    ``ERROR:`` line), ``updates`` (progress lines seen).
    """
    p = {"streams": {}, "log_lines": 0, "updates": 0, **(progress or {})}
    streams = {k: dict(v) for k, v in p["streams"].items()}
    for line in lines:
        p["log_lines"] += 1
        t, name, fig = parse_line(line)
        body = _STAMP.sub(r"\2", line)
        if body.startswith("ERROR:") or body.startswith("TASK ERROR:"):
            p["error"] = body
        if line.strip():
            p["last_line"] = body
        if not name:
            continue
        prev = streams.get(name)
        if "rate" not in fig and prev and t is not None and prev.get("t") is not None and t > prev["t"]:
            fig["rate"] = max(fig["transferred"] - prev["transferred"], 0.0) / (t - prev["t"])
        streams[name] = {**fig, "t": t}
        p["updates"] += 1
    p["streams"] = streams
    if streams:
        done = sum(s["transferred"] for s in streams.values())
        total = sum(s["total"] for s in streams.values())
        p["transferred_bytes"] = int(done)
        p["total_bytes"] = int(total)
        p["percent"] = round(100.0 * done / total, 2) if total else 0.0
        newest = max(streams.values(), key=lambda s: (s.get("t") or 0.0))
        if newest.get("rate"):
            p["rate_bytes_per_s"] = round(newest["rate"], 1)
    return p


def summary(progress: dict[str, Any] | None, *, state: str, started_at: float | None, finished_at: float | None,
            now: float) -> dict[str, Any]:
    """The API's view: state, percent, transferred_bytes, total_bytes, rate_bytes_per_s, elapsed_seconds,
    eta_seconds (None when unknown)."""
    p = progress or {}
    end = finished_at if finished_at else now
    elapsed = max(0.0, end - started_at) if started_at else None
    percent = 100.0 if state == "completed" else p.get("percent")
    eta = None
    rate = p.get("rate_bytes_per_s")
    if state == "started" and rate and p.get("total_bytes"):
        eta = round(max(p["total_bytes"] - p.get("transferred_bytes", 0), 0) / rate, 1)
    return {"state": state, "percent": percent, "transferred_bytes": p.get("transferred_bytes"),
            "total_bytes": p.get("total_bytes"), "rate_bytes_per_s": rate,
            "elapsed_seconds": None if elapsed is None else round(elapsed, 1), "eta_seconds": eta,
            "last_log_line": p.get("last_line"), "progress_updates": p.get("updates", 0)}
