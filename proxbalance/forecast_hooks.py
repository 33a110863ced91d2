"""What a recommendation run adds from the forecast area (called from recommendations.generate).

* before the plan: the forecast_peak term's input (:func:`proxbalance.forecasts.attach`), and a
  ``forecast_critical`` notification for each node forecast to cross its threshold soon
  (:func:`proxbalance.forecasts.notify_critical`, deduplicated);
* after the plan: each recommendation gains ``guest_profile`` (steady / daily_cycle / bursty / growing, from
  the guest's last 7 days of CPU) and ``profile_adjustment``; the profile scales ``confidence_score`` and adds
  to ``risk_score`` (:data:`PROFILE_EFFECT`): a bursty or growing guest's gain is less sure to last;
* after the run is stored: its scores go to the score history.

Forecast problems never fail a run: they are logged and the run goes on without them.
"""

from __future__ import annotations

import logging
from typing import Any

from proxbalance.config import Settings
from proxbalance.model import ClusterSnapshot
from proxbalance.store import Store

log = logging.getLogger(__name__)

#: profile -> (confidence factor, risk added)
PROFILE_EFFECT = {"steady": (1.0, 0.0), "daily_cycle": (0.95, 0.05), "bursty": (0.85, 0.1), "growing": (0.9, 0.1)}


def before_plan(settings: Settings, store: Store, arrays, snapshot: ClusterSnapshot) -> None:
    if not settings["forecast.enabled"]:
        arrays.forecast = None
        return
    from proxbalance import forecasts

    try:
        fc = forecasts.node_forecasts(settings, store, snapshot, snapshot.time)
        forecasts.attach(settings, store, arrays, snapshot, snapshot.time, fc=fc)
    except Exception:  # noqa: BLE001
        log.exception("forecast for the plan failed; planning without it")
        arrays.forecast = None
        return
    try:
        from proxbalance.recommendations import active_penalty_config

        cfg = active_penalty_config(settings, store)[0]  # the saved thresholds, not this request's overrides
        found = forecasts.alerts(settings, fc, snapshot, {"cpu": cfg.cpu_threshold, "memory": cfg.mem_threshold},
                                 snapshot.time)
        forecasts.notify_critical(settings, store, found, snapshot.time)
    except Exception:  # noqa: BLE001
        log.exception("forecast_critical notifications failed")


def after_plan(settings: Settings, store: Store, snapshot: ClusterSnapshot, result: dict[str, Any]) -> None:
    recs = result.get("recommendations", [])
    profiles: dict[int, dict] = {}
    if recs:
        try:
            from proxbalance.workload import guest_profiles

            profiles = guest_profiles(store, snapshot, snapshot.time, vmids=sorted({int(r["vmid"]) for r in recs}))
        except Exception:  # noqa: BLE001
            log.exception("guest profiles failed")
    for r in recs:
        prof = profiles.get(int(r["vmid"]))
        r["guest_profile"] = prof
        if prof is None or r.get("reason") == "maintenance":
            r["profile_adjustment"] = None
            continue
        factor, risk = PROFILE_EFFECT[prof["profile"]]
        r["confidence_score"] = int(round(max(1.0, min(100.0, r["confidence_score"] * factor))))
        r["risk_score"] = round(min(1.0, r["risk_score"] + risk), 2)
        r["profile_adjustment"] = {"confidence_factor": factor, "risk_added": risk}


def after_run(settings: Settings, store: Store, snapshot: ClusterSnapshot, run_id: int | None,
              result: dict[str, Any]) -> None:
    try:
        from proxbalance.score_history import record

        record(settings, store, snapshot, "recommendation", run_id=run_id, impact=result.get("batch_impact"))
    except Exception:  # noqa: BLE001
        log.exception("score history after a recommendation run failed")
