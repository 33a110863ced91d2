"""Recommendation runs, the saved penalty configuration, and feedback on recommendations.

Tables live here (not in schema.py) because they belong to the recommendations area; migration
``0003_recommendations`` creates them.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Column, Engine, Float, Index, Integer, String, Table, Text, func, select

from proxbalance.store.schema import metadata
from proxbalance.store.tx import write_tx

penalty_config = Table(
    "penalty_config", metadata,
    Column("id", Integer, primary_key=True),  # always 1: the one active configuration
    Column("preset", String(40)),  # preset it started from, if any
    Column("config", Text, nullable=False),  # JSON of PenaltyConfig.to_dict()
    Column("updated_at", Float, nullable=False),
)

recommendation_runs = Table(
    "recommendation_runs", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("created_at", Float, nullable=False),
    Column("snapshot_time", Float, nullable=False),  # time of the snapshot the plan was made from
    Column("generation_ms", Float, nullable=False),
    Column("params", Text, nullable=False),  # JSON: request overrides (thresholds, ...)
    Column("result", Text, nullable=False),  # JSON: the plan (recommendations, skipped, impact, ...)
)

recommendation_feedback = Table(
    "recommendation_feedback", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("time", Float, nullable=False),
    Column("vmid", Integer, nullable=False),
    Column("rating", String(20), nullable=False),  # helpful | not_helpful
    Column("comment", Text),
    Column("run_id", Integer),
    Column("actor", String(120), nullable=False),
)
Index("ix_feedback_time", recommendation_feedback.c.time)

TABLES = (penalty_config, recommendation_runs, recommendation_feedback)


@dataclass(frozen=True)
class Run:
    id: int
    created_at: float
    snapshot_time: float
    generation_ms: float
    params: dict[str, Any]
    result: dict[str, Any]


def save_penalty_config(engine: Engine, config: dict[str, Any], preset: str | None) -> None:
    values = {"config": json.dumps(config, sort_keys=True), "preset": preset, "updated_at": time.time()}
    with write_tx(engine) as conn:
        if conn.execute(select(penalty_config.c.id).where(penalty_config.c.id == 1)).first():
            conn.execute(penalty_config.update().where(penalty_config.c.id == 1).values(**values))
        else:
            conn.execute(penalty_config.insert().values(id=1, **values))


def load_penalty_config(engine: Engine) -> tuple[dict[str, Any], str | None] | None:
    with engine.connect() as conn:
        row = conn.execute(select(penalty_config).where(penalty_config.c.id == 1)).first()
    return (json.loads(row.config), row.preset) if row else None


def clear_penalty_config(engine: Engine) -> None:
    with write_tx(engine) as conn:
        conn.execute(penalty_config.delete())


_SKIP_KEYS = {"vmid", "reason", "detail"}


def pack_skipped(skipped: list[dict]) -> dict[str, Any]:
    """The run's ``skipped`` list ``[{"vmid", "reason", "detail"}]`` as stored: columns, with reasons and details
    as indices into their distinct values (at 10,000 guests the list was ~90 % of a stored run, 1.2 MB)."""
    reasons: dict[str, int] = {}
    details: dict[str, int] = {}
    return {"format": "columns/1", "vmid": [s["vmid"] for s in skipped],
            "reason": [reasons.setdefault(s["reason"], len(reasons)) for s in skipped],
            "detail": [details.setdefault(s["detail"], len(details)) for s in skipped],
            "reasons": list(reasons), "details": list(details)}


def unpack_skipped(stored: Any) -> list[dict]:
    """:func:`pack_skipped` undone (a run stored before packing is a list already)."""
    if not isinstance(stored, dict):
        return stored
    reasons, details = stored["reasons"], stored["details"]
    return [{"vmid": v, "reason": reasons[r], "detail": details[d]}
            for v, r, d in zip(stored["vmid"], stored["reason"], stored["detail"], strict=True)]


def _dump_result(result: dict[str, Any]) -> str:
    if isinstance(result.get("skipped"), list) and all(s.keys() == _SKIP_KEYS for s in result["skipped"]):
        result = {**result, "skipped": pack_skipped(result["skipped"])}
    return json.dumps(result)


def _load_result(text: str) -> dict[str, Any]:
    result = json.loads(text)
    if "skipped" in result:
        result["skipped"] = unpack_skipped(result["skipped"])
    return result


def save_run(engine: Engine, *, snapshot_time: float, generation_ms: float, params: dict[str, Any],
             result: dict[str, Any], keep: int = 200) -> Run:
    """Store a run and prune all but the newest ``keep``. The skipped guests are stored as columns
    (:func:`pack_skipped`); every reader gets the list back."""
    now = time.time()
    with write_tx(engine) as conn:
        run_id = conn.execute(recommendation_runs.insert().values(
            created_at=now, snapshot_time=snapshot_time, generation_ms=generation_ms,
            params=json.dumps(params, sort_keys=True), result=_dump_result(result))).inserted_primary_key[0]
        cutoff = conn.execute(select(recommendation_runs.c.id).order_by(recommendation_runs.c.id.desc())
                              .offset(keep).limit(1)).scalar()
        if cutoff is not None:
            conn.execute(recommendation_runs.delete().where(recommendation_runs.c.id <= cutoff))
    return Run(run_id, now, snapshot_time, generation_ms, params, result)


def latest_run(engine: Engine) -> Run | None:
    with engine.connect() as conn:
        row = conn.execute(select(recommendation_runs).order_by(recommendation_runs.c.id.desc()).limit(1)).first()
    if row is None:
        return None
    return Run(row.id, row.created_at, row.snapshot_time, row.generation_ms, json.loads(row.params),
               _load_result(row.result))


def add_feedback(engine: Engine, *, vmid: int, rating: str, comment: str | None, run_id: int | None,
                 actor: str) -> int:
    with write_tx(engine) as conn:
        return conn.execute(recommendation_feedback.insert().values(
            time=time.time(), vmid=vmid, rating=rating, comment=comment, run_id=run_id,
            actor=actor)).inserted_primary_key[0]


def feedback_summary(engine: Engine, recent: int = 20) -> dict[str, Any]:
    t = recommendation_feedback
    with engine.connect() as conn:
        counts = dict(conn.execute(select(t.c.rating, func.count()).group_by(t.c.rating)).all())
        rows = conn.execute(select(t).order_by(t.c.id.desc()).limit(recent)).all()
    total = sum(counts.values())
    helpful = counts.get("helpful", 0)
    return {
        "stats": {"total": total, "helpful": helpful, "not_helpful": counts.get("not_helpful", 0),
                  "helpful_rate": round(100.0 * helpful / total, 1) if total else None},
        "recent": [{"id": r.id, "time": r.time, "vmid": r.vmid, "rating": r.rating, "comment": r.comment,
                    "run_id": r.run_id} for r in rows],
    }
