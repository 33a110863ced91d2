"""Recommendations service: the latest snapshot and history from the store → engine → stored plan.

The API and the CLI call these functions; the engine stays pure. Penalty configuration precedence:
the saved configuration (``POST /api/penalty-config``) if any, else the preset named by ``penalty.preset``
with the ``thresholds.*`` settings; request parameters (thresholds, max moves) override either for one run.
"""

from __future__ import annotations

import csv
import io
import time
from typing import Any

from proxbalance import engine as eng
from proxbalance import forecast_hooks
from proxbalance.config import Settings
from proxbalance.errors import NoDataError, ValidationError
from proxbalance.gcpause import gc_paused
from proxbalance.memtune import keep_heap
from proxbalance.store import Store, plans
from proxbalance.store.snapshots import latest_snapshot

EXPORT_FIELDS = ("order", "vmid", "name", "type", "source_node", "target_node", "reason", "priority",
                 "score_improvement", "confidence_score", "risk_score", "suitability", "companion_of")


# --- penalty configuration -------------------------------------------------------------------------------

def preset_config(settings: Settings, name: str) -> eng.PenaltyConfig:
    """A preset with the settings' thresholds and memory limit."""
    return eng.PenaltyConfig.from_dict({
        "cpu_threshold": settings["thresholds.cpu_percent"],
        "mem_threshold": settings["thresholds.mem_percent"],
        "mem_limit_pct": settings["thresholds.mem_limit_percent"],
    }, base=eng.load_preset(name))


def base_penalty_config(settings: Settings) -> eng.PenaltyConfig:
    """The configured preset (``penalty.preset``) with the settings' thresholds."""
    return preset_config(settings, settings["penalty.preset"])


def active_penalty_config(settings: Settings, store: Store) -> tuple[eng.PenaltyConfig, str | None, bool]:
    """(config, preset name, saved?) currently in force."""
    saved = plans.load_penalty_config(store.engine)
    if saved is None:
        return base_penalty_config(settings), settings["penalty.preset"], False
    data, preset = saved
    return eng.PenaltyConfig.from_dict(data), preset, True


def save_penalty_config(settings: Settings, store: Store, changes: dict[str, Any]) -> eng.PenaltyConfig:
    """Validate ``changes`` over the active config and save the result (nothing saved on error)."""
    current, preset, _ = active_penalty_config(settings, store)
    cfg = eng.PenaltyConfig.from_dict(changes, base=current)
    plans.save_penalty_config(store.engine, cfg.to_dict(), preset)
    return cfg


def apply_preset(settings: Settings, store: Store, name: str) -> eng.PenaltyConfig:
    cfg = preset_config(settings, name)
    plans.save_penalty_config(store.engine, cfg.to_dict(), name)
    return cfg


def reset_penalty_config(settings: Settings, store: Store) -> eng.PenaltyConfig:
    plans.clear_penalty_config(store.engine)
    return base_penalty_config(settings)


# --- generating plans -----------------------------------------------------------------------------------

def current_arrays(settings: Settings, store: Store, cfg: eng.PenaltyConfig,
                   maintenance_nodes: list[str] | tuple[str, ...] = ()):
    """(arrays, snapshot) of the newest stored snapshot; NoDataError when nothing was collected yet.

    Nodes in ProxBalance maintenance mode (stored flags) and ``maintenance_nodes`` count as in maintenance:
    never a target, and their guests are evacuated first."""
    from dataclasses import replace

    from proxbalance.store.maintenance import flags as maintenance_flags

    snapshot, history = store.inputs.get(store.engine)  # decoded once per collection
    if snapshot is None:
        raise NoDataError("no cluster data collected yet: run `proxbalance collect` or POST /api/refresh")
    unknown = sorted(set(maintenance_nodes) - {n.name for n in snapshot.nodes})
    if unknown:
        raise ValidationError(f"unknown node(s): {', '.join(unknown)}", details={"field": "maintenance_nodes"})
    masked = set(maintenance_flags(store.engine)) | set(maintenance_nodes)
    if masked:
        snapshot = replace(snapshot, nodes=tuple(replace(n, maintenance=n.maintenance or n.name in masked)
                                                 for n in snapshot.nodes))
    return eng.build_arrays(snapshot, history, cfg), snapshot


def previous_moves(store: Store) -> tuple[int | None, list[tuple[int, str]] | None]:
    """(run id, ``(vmid, target_node)`` moves) of the newest stored run; (None, None) before the first run."""
    run = plans.latest_run(store.engine)
    if run is None:
        return None, None
    return run.id, [(int(r["vmid"]), str(r["target_node"])) for r in run.result.get("recommendations", [])]


def generate(settings: Settings, store: Store, overrides: dict[str, Any] | None = None,
             cfg: eng.PenaltyConfig | None = None, save: bool = True,
             maintenance_nodes: list[str] | None = None, stable: bool = True) -> dict[str, Any]:
    """Plan from the newest snapshot; save it as the current run unless ``save`` is False.

    ``maintenance_nodes``: nodes to plan as if in maintenance (their guests are evacuated). ``stable``: compare
    with the newest stored run (hysteresis, see ``engine.plan(previous=...)``); the result's ``stability`` says
    how many moves were kept, added and dropped against that run. Runs with the cyclic garbage collector
    paused (:mod:`proxbalance.gcpause`: its temporaries are freed by reference count, not walked); the first
    decision of a process keeps freed heap memory for the next ones (:func:`proxbalance.memtune.keep_heap`).
    """
    keep_heap()
    with gc_paused():
        return _generate(settings, store, overrides, cfg, save, maintenance_nodes, stable)


def _generate(settings: Settings, store: Store, overrides: dict[str, Any] | None, cfg: eng.PenaltyConfig | None,
              save: bool, maintenance_nodes: list[str] | None, stable: bool) -> dict[str, Any]:
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    maintenance_nodes = [*(maintenance_nodes or ()), *overrides.pop("maintenance_nodes", ())]
    base = cfg or active_penalty_config(settings, store)[0]
    cfg = eng.PenaltyConfig.from_dict(overrides, base=base)
    started = time.perf_counter()
    arrays, snapshot = current_arrays(settings, store, cfg, maintenance_nodes)
    forecast_hooks.before_plan(settings, store, arrays, snapshot)
    prev_id, prev = previous_moves(store) if stable else (None, None)
    result = eng.plan(arrays, cfg, previous=prev).to_dict()
    forecast_hooks.after_plan(settings, store, snapshot, result)
    generation_ms = (time.perf_counter() - started) * 1000.0
    stab = result["stats"].get("stability")
    result["stability"] = {"previous_run_id": prev_id, **stab} if stab is not None else None
    result["generation_time_ms"] = round(generation_ms, 2)
    result["guests_evaluated"] = len(snapshot.guests)
    result["snapshot_time"] = snapshot.time
    result["penalty_config"] = {k: cfg[k] for k in ("cpu_threshold", "mem_threshold", "mem_limit_pct",
                                                    "min_score_improvement", "max_moves")}
    if not save:
        return {"run_id": None, "generated_at": time.time(), **result}
    run = plans.save_run(store.engine, snapshot_time=snapshot.time, generation_ms=generation_ms,
                         params={**overrides, **({"maintenance_nodes": list(maintenance_nodes)}
                                                 if maintenance_nodes else {})}, result=result)
    forecast_hooks.after_run(settings, store, snapshot, run.id, result)
    return {"run_id": run.id, "generated_at": run.created_at, **result}


def latest(store: Store) -> dict[str, Any]:
    run = plans.latest_run(store.engine)
    if run is None:
        raise NoDataError("no recommendations generated yet: POST /api/recommendations first")
    return {"run_id": run.id, "generated_at": run.created_at, **run.result}


# --- reading a run --------------------------------------------------------------------------------------

SORT_KEYS = {"score_improvement", "confidence_score", "risk_score", "priority", "order"}
_PRIORITY = {"critical": 3, "high": 2, "medium": 1, "low": 0}


def filter_recommendations(recs: list[dict], *, min_confidence: int | None = None, source_node: str | None = None,
                           target_node: str | None = None, sort: str | None = None,
                           sort_dir: str = "desc") -> list[dict]:
    out = [r for r in recs
           if (min_confidence is None or r["confidence_score"] >= min_confidence)
           and (source_node is None or r["source_node"] == source_node)
           and (target_node is None or r["target_node"] == target_node)]
    if sort:
        if sort not in SORT_KEYS:
            raise ValidationError(f"sort must be one of {', '.join(sorted(SORT_KEYS))}", details={"field": "sort"})
        key = (lambda r: _PRIORITY.get(r["priority"], -1)) if sort == "priority" else (lambda r: r[sort])
        out.sort(key=key, reverse=(sort_dir == "desc"))
    return out


def diagnostics(store: Store, cluster_now: float | None = None) -> dict[str, Any]:
    """Contract keys of /api/recommendations/diagnostics. The snapshot's age is measured on ``cluster_now``
    (the clock collections use; default wall clock), the run's on the wall clock."""
    run = plans.latest_run(store.engine)
    snapshot = latest_snapshot(store.engine)
    now = time.time()
    cluster_now = now if cluster_now is None else cluster_now
    if run is None:
        return {"last_generation": None, "generation_time_ms": None, "guests_evaluated": 0,
                "guests_recommended": 0, "guests_skipped": 0, "skip_reason_breakdown": {},
                "ai_enhanced": False, "conflicts_count": 0, "advisories_count": 0,
                "cache_status": {"cluster_cache_age_minutes": _age(cluster_now, snapshot.time if snapshot else None),
                                 "recommendations_cache_age_minutes": None}}
    r = run.result
    return {
        "last_generation": _iso(run.created_at),
        "generation_time_ms": r.get("generation_time_ms"),
        "guests_evaluated": r.get("guests_evaluated", 0),
        "guests_recommended": len(r.get("recommendations", [])),
        "guests_skipped": len(r.get("skipped", [])),
        "skip_reason_breakdown": r.get("skip_reason_breakdown", {}),
        "ai_enhanced": False,
        "cache_status": {"cluster_cache_age_minutes": _age(cluster_now, snapshot.time if snapshot else None),
                         "recommendations_cache_age_minutes": _age(now, run.created_at)},
        "conflicts_count": r.get("conflicts_count", 0),
        "advisories_count": len(r.get("advisories", [])),
        "timing_ms": r.get("timing_ms", {}),
        "stability": r.get("stability"),
        "penalty_config": r.get("penalty_config", {}),
    }


def export_csv(recs: list[dict]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=(*EXPORT_FIELDS, "predicted_target_cpu_pct",
                                             "predicted_target_mem_pct", "migration_gib", "migration_seconds"),
                            extrasaction="ignore")
    writer.writeheader()
    for r in recs:
        pred, mig = r.get("predicted", {}), r.get("migration", {})
        writer.writerow({**{k: r.get(k) for k in EXPORT_FIELDS},
                         "predicted_target_cpu_pct": pred.get("target_cpu_pct"),
                         "predicted_target_mem_pct": pred.get("target_mem_pct"),
                         "migration_gib": mig.get("gib"), "migration_seconds": mig.get("seconds")})
    return buf.getvalue()


def _age(now: float, then: float | None) -> float | None:
    return None if then is None else round((now - then) / 60.0, 2)


def _iso(ts: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
