"""AI second opinion: newest snapshot → engine plan → bounded prompt → provider → engine checks.

The API calls :func:`ai_recommendations` (POST /api/ai-recommendations), :func:`models` (POST
/api/ai-models) and :func:`attach_insight` (POST /api/recommendations when ``ai.attach_to_recommendations``).
The engine's plan is computed here without being saved, so asking the AI never replaces the current run.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import time
from collections.abc import Callable
from typing import Any

from proxbalance import engine as eng
from proxbalance import recommendations as recsvc
from proxbalance.ai import answer, check, connection, prompt, providers
from proxbalance.ai.errors import AIBadResponseError, AIDisabledError
from proxbalance.config import Settings
from proxbalance.errors import NoDataError, ProxBalanceError, ValidationError
from proxbalance.model import ClusterSnapshot
from proxbalance.store import Store
from proxbalance.store.history import usage_history
from proxbalance.store.snapshots import latest_snapshot

log = logging.getLogger(__name__)
_GUEST_TOKEN = re.compile(r"\bguest-(\d{3,9})\b")


def _snapshot(store: Store, maintenance_nodes: list[str] | None) -> ClusterSnapshot:
    snap = latest_snapshot(store.engine)
    if snap is None:
        raise NoDataError("no cluster data collected yet: run `proxbalance collect` or POST /api/refresh")
    if maintenance_nodes:
        names = {n.name for n in snap.nodes}
        unknown = sorted(set(maintenance_nodes) - names)
        if unknown:
            raise ValidationError(f"unknown nodes in maintenance_nodes: {', '.join(unknown)}",
                                  details={"field": "maintenance_nodes", "unknown": unknown})
        snap = dataclasses.replace(snap, nodes=tuple(
            dataclasses.replace(n, maintenance=True) if n.name in maintenance_nodes else n for n in snap.nodes))
    return snap


def _unanonymize(text: str, snap: ClusterSnapshot) -> str:
    names = {g.vmid: g.name for g in snap.guests}
    return _GUEST_TOKEN.sub(lambda m: names.get(int(m.group(1)), m.group(0)), text)


def _validator(exec_ctx: Callable[[], Any] | None) -> tuple[Any, dict]:
    """(validator factory for check_moves, what the answer says about validation). ``exec_ctx`` builds the
    executor's context; when it or the live read of PVE fails, moves are checked on the snapshot only."""
    if exec_ctx is None:
        return None, {"source": "engine", "note": "checked on the newest snapshot only"}
    try:
        from proxbalance.executor.live import LiveView

        ctx = exec_ctx()
        live = LiveView.read(ctx.pve)
    except Exception as exc:  # noqa: BLE001 - any failure means: no live validation, said plainly
        msg = exc.message if isinstance(exc, ProxBalanceError) else type(exc).__name__
        log.warning("AI moves checked without live validation: %s", msg)
        return None, {"source": "engine", "note": f"live validation unavailable ({msg}); checked on the newest "
                                                  "snapshot only, the executor validates again before any move"}
    return (lambda engine: check.ExecutorValidator(ctx, live, engine)), {"source": "executor", "note": None}


def consult(settings: Settings, conn: connection.Connection, snap: ClusterSnapshot, arrays, cfg, plan: dict,
            period: str, exec_ctx: Callable[[], Any] | None = None) -> dict:
    """Ask the provider about ``plan`` and check its answer: the response keys of /api/ai-recommendations."""
    started = time.perf_counter()
    anonymize = bool(settings["ai.anonymize_names"])
    system, user = prompt.build(arrays, plan, cluster_name=snap.cluster_name,
                                thresholds={"cpu_pct": cfg.cpu_threshold, "mem_pct": cfg.mem_threshold,
                                            "mem_limit_pct": cfg.mem_limit_pct},
                                period=period, max_guests=settings["ai.max_guests"],
                                max_chars=settings["ai.max_prompt_chars"], anonymize=anonymize)
    done = providers.complete(conn, system, user, connection.secrets_of(settings, conn))
    try:
        parsed, malformed = answer.parse(done.raw)
    except AIBadResponseError as exc:
        if done.truncated:
            exc.message = f"{exc.message} (the answer stopped at ai.max_output_tokens = {conn.max_output_tokens})"
        raise
    validator, validation = _validator(exec_ctx)
    kept, dropped = check.check_moves(snap, arrays, cfg, parsed["recommendations"], plan, validator)
    if anonymize:
        parsed["analysis"] = _unanonymize(parsed["analysis"], snap)
        for rec in kept + dropped:
            rec["reasoning" if "reasoning" in rec else "ai_reasoning"] = _unanonymize(
                rec.get("reasoning", rec.get("ai_reasoning", "")), snap)
    agreement: dict[str, int] = {}
    for rec in kept:
        c = rec["engine"]["comparison"]
        agreement[c] = agreement.get(c, 0) + 1
    return {
        "analysis": parsed["analysis"],
        "recommendations": kept,
        "predicted_issues": parsed["predicted_issues"],
        "dropped": malformed + dropped,
        "agreement": agreement,
        "validation": validation,
        "engine_plan": {"moves": [{k: r[k] for k in ("vmid", "source_node", "target_node", "reason",
                                                     "score_improvement")} for r in plan["recommendations"]],
                        "batch_impact": plan.get("batch_impact", {})},
        "ai": {**conn.describe(), "usage": done.usage, "structured_output": done.structured,
               "prompt_chars": len(system) + len(user), "duration_ms": round((time.perf_counter() - started) * 1e3, 1),
               "anonymized": anonymize},
    }


def _require_enabled(settings: Settings) -> None:
    if not settings["ai.enabled"]:
        raise AIDisabledError("AI recommendations are disabled: set ai.enabled = true (and a provider)",
                              details={"setting": "ai.enabled"})


def ai_recommendations(settings: Settings, store: Store, *, cpu_threshold: float | None = None,
                       mem_threshold: float | None = None, analysis_period: str = "24h",
                       maintenance_nodes: list[str] | None = None, exec_ctx: Callable[[], Any] | None = None,
                       **overrides: Any) -> dict:
    """``overrides``: ``provider, model, api_key, base_url`` from the request (see :mod:`connection`);
    ``exec_ctx`` builds the executor's context for live validation (see :func:`_validator`)."""
    _require_enabled(settings)
    conn = connection.resolve(settings, **overrides)
    thresholds = {k: v for k, v in (("cpu_threshold", cpu_threshold), ("mem_threshold", mem_threshold))
                  if v is not None}
    cfg = eng.PenaltyConfig.from_dict(thresholds, base=recsvc.active_penalty_config(settings, store)[0])
    snap = _snapshot(store, maintenance_nodes)
    arrays = eng.build_arrays(snap, usage_history(store.engine, now=snap.time), cfg)
    plan = eng.plan(arrays, cfg).to_dict()
    return consult(settings, conn, snap, arrays, cfg, plan, analysis_period, exec_ctx)


def models(settings: Settings, *, provider: str, api_key: str | None = None, base_url: str | None = None) -> dict:
    conn = connection.resolve(settings, provider=provider, api_key=api_key, base_url=base_url)
    found = providers.list_models(conn, connection.secrets_of(settings, conn))
    return {"provider": conn.provider, "models": sorted(found, key=lambda m: m["id"]), "count": len(found),
            "default_model": conn.model, "base_url": conn.base_url}


def attach_insight(settings: Settings, store: Store, result: dict,
                   exec_ctx: Callable[[], Any] | None = None) -> dict:
    """``result`` of :func:`recommendations.generate` plus ``ai_enhanced`` / ``ai_insight`` when enabled.

    Unchanged when ``ai.enabled`` or ``ai.attach_to_recommendations`` is off. An AI failure never fails
    the engine's answer: it comes back as ``ai_enhanced: false`` with ``ai_error``.
    """
    if not (settings["ai.enabled"] and settings["ai.attach_to_recommendations"]):
        return result
    try:
        conn = connection.resolve(settings)
        pc = result.get("penalty_config", {})
        cfg = eng.PenaltyConfig.from_dict({k: pc[k] for k in ("cpu_threshold", "mem_threshold") if k in pc},
                                          base=recsvc.active_penalty_config(settings, store)[0])
        snap = _snapshot(store, None)
        arrays = eng.build_arrays(snap, usage_history(store.engine, now=snap.time), cfg)
        insight = consult(settings, conn, snap, arrays, cfg, result, "24h", exec_ctx)
    except ProxBalanceError as exc:
        return {**result, "ai_enhanced": False, "ai_error": {"code": exc.code, "message": exc.message}}
    return {**result, "ai_enhanced": True, "ai_insight": insight}
