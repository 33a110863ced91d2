"""Texts of the notifications: ``(title, body)`` pairs carrying the numbers an admin needs at 3 a.m.
Pure string formatting, no I/O. Percentages are node load in % of capacity, sizes in GiB, durations in s."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


def _ts(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _guest(c: dict[str, Any]) -> str:
    name = f" ({c['name']})" if c.get("name") else ""
    return f"{c.get('type', 'guest')} {c['vmid']}{name}"


def migration_started(c: dict[str, Any]) -> tuple[str, str]:
    """``c``: vmid, name, type, source_node, target_node, reason, score_improvement, confidence_score,
    migration {gib, seconds}, predicted {source_cpu_pct_before, source_cpu_pct, target_cpu_pct, ...}."""
    mig, pred = c.get("migration") or {}, c.get("predicted") or {}
    lines = [f"{_guest(c)}: {c['source_node']} -> {c['target_node']} ({c.get('reason', 'balance')}).",
             f"Score gain {c.get('score_improvement', 0):.1f}, confidence {c.get('confidence_score', 0)}%."]
    if mig:
        lines.append(f"Transfer {mig.get('gib', 0):.2f} GiB, about {mig.get('seconds', 0):.0f} s.")
    if pred:
        lines.append(f"{c['source_node']} CPU {pred.get('source_cpu_pct_before', 0):.1f}% -> "
                     f"{pred.get('source_cpu_pct', 0):.1f}%, mem {pred.get('source_mem_pct_before', 0):.1f}% -> "
                     f"{pred.get('source_mem_pct', 0):.1f}%; {c['target_node']} CPU "
                     f"{pred.get('target_cpu_pct_before', 0):.1f}% -> {pred.get('target_cpu_pct', 0):.1f}%, mem "
                     f"{pred.get('target_mem_pct_before', 0):.1f}% -> {pred.get('target_mem_pct', 0):.1f}%.")
    return f"ProxBalance: migrating {c['vmid']} to {c['target_node']}", "\n".join(lines)


def migration_completed(c: dict[str, Any], seconds: float | None) -> tuple[str, str]:
    took = f" in {seconds:.0f} s" if seconds is not None else ""
    return (f"ProxBalance: {c['vmid']} now on {c['target_node']}",
            f"{_guest(c)} migrated {c['source_node']} -> {c['target_node']}{took}.")


def migration_failed(c: dict[str, Any], error: str) -> tuple[str, str]:
    return (f"ProxBalance: migration of {c['vmid']} FAILED",
            f"{_guest(c)} {c['source_node']} -> {c['target_node']} failed: {error}")


def cycle_summary(s: dict[str, Any]) -> tuple[str, str]:
    """``s``: cycle_id, mode, candidates, executed, blocked {gate: n}, spread_before/after {cpu, mem}."""
    mode = "dry run" if s.get("dry_run") else "live"
    lines = [f"Cycle {s['cycle_id']} ({mode}) at {_ts(s['started_at'])}: {s['candidates']} candidate(s), "
             f"{s['executed']} started, {s['failed']} failed, {s['blocked']} held back."]
    if s.get("by_gate"):
        lines.append("Held back by: " + ", ".join(f"{g} {n}" for g, n in sorted(s["by_gate"].items())) + ".")
    b, a = s.get("spread_before") or {}, s.get("spread_after") or {}
    if b:
        lines.append(f"Node CPU spread (std) {b.get('cpu_std_pct', 0):.1f} pts, memory "
                     f"{b.get('mem_std_pct', 0):.1f} pts; the plan would reach "
                     f"{a.get('cpu_std_pct', 0):.1f} / {a.get('mem_std_pct', 0):.1f}.")
    for m in s.get("moves", [])[:10]:
        lines.append(f"- {m['vmid']}: {m['source_node']} -> {m['target_node']} ({m['verdict']})")
    return f"ProxBalance cycle {s['cycle_id']}: {s['executed']} migration(s) started", "\n".join(lines)


def automation_paused(failures: int, last_error: str) -> tuple[str, str]:
    return ("ProxBalance automation PAUSED",
            f"Paused after {failures} consecutive failed migrations. Last error: {last_error}\n"
            "Nothing will be migrated until an admin resumes automation (POST /api/automigrate/config "
            '{"resume": true}).')


def evacuation_finished(node: str, moved: int, failed: int, seconds: float, *, outcome: str | None = None,
                        left: list[dict] | None = None) -> tuple[str, str]:
    """``outcome``: the session's end state; ``left``: ``{vmid, name, status, reason}`` per guest still on it."""
    state = "finished" if failed == 0 else f"finished with {failed} failure(s)"
    if outcome == "cancelled":
        state = "cancelled"
    elif outcome == "completed_with_errors":
        state = "finished with guests left on the node"
    body = f"Node {node}: {moved} guest(s) moved, {failed} failed, in {seconds:.0f} s."
    if left:
        body += f"\n{len(left)} guest(s) still on {node}:" + "".join(
            f"\n- {x['vmid']} ({x.get('name') or '?'}, {x.get('status') or '?'}): {x['reason']}" for x in left)
    return f"ProxBalance: evacuation of {node} {state}", body


def forecast_critical(node: str, resource: str, predicted_pct: float, at: float) -> tuple[str, str]:
    return (f"ProxBalance: {node} {resource} forecast critical",
            f"Node {node} {resource} is forecast to reach {predicted_pct:.1f}% around {_ts(at)}.")


def test_message(now: float) -> tuple[str, str]:
    return "ProxBalance test notification", f"Test notification sent at {_ts(now)}. Delivery works."
