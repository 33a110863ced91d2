"""Score history (node scores and cluster balance per collection / recommendation run) and forecast backtests.

Migration ``0008_forecast_score_history`` creates the tables. Percentages are 0-100; times Unix seconds.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Column, Engine, Float, ForeignKey, Index, Integer, String, Table, Text, delete, select

from proxbalance.store.schema import metadata

score_points = Table(
    "score_points", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("time", Float, nullable=False),  # time of the snapshot the scores describe
    Column("source", String(20), nullable=False),  # collection | recommendation
    Column("run_id", Integer),  # recommendation run, when source = recommendation
    Column("peak_pct", Float, nullable=False),  # hottest live node: max(cpu %, mem %)
    Column("cpu_std_pct", Float, nullable=False),  # spread of node CPU % (population std)
    Column("mem_std_pct", Float, nullable=False),
    Column("balance_score", Float, nullable=False),  # 100 - mean of the two spreads (0-100, higher = even)
    Column("after_peak_pct", Float),  # recommendation runs: peak after the plan
    Column("after_balance_score", Float),
)
Index("ix_score_points_time", score_points.c.time)

score_nodes = Table(
    "score_nodes", metadata,
    Column("point_id", Integer, ForeignKey("score_points.id", ondelete="CASCADE"), primary_key=True),
    Column("node", String(64), primary_key=True),
    Column("cpu_pct", Float, nullable=False),
    Column("mem_pct", Float, nullable=False),
    Column("score", Float, nullable=False),  # 100 - max(cpu %, mem %): headroom, higher is better
    Column("online", Integer, nullable=False),
)

forecast_backtests = Table(
    "forecast_backtests", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("time", Float, nullable=False),  # cluster time the backtest was run at
    Column("result", Text, nullable=False),  # JSON: origins, per series kind and horizon MAE / coverage
)

TABLES = (score_points, score_nodes, forecast_backtests)


def save_scores(engine: Engine, *, t: float, source: str, point: dict[str, Any], nodes: list[dict[str, Any]],
                run_id: int | None = None, keep_days: float = 30.0) -> int:
    """Store one score point with its nodes; drop points older than ``keep_days`` before ``t``."""
    with engine.begin() as conn:
        pid = conn.execute(score_points.insert().values(time=t, source=source, run_id=run_id, **point)
                           ).inserted_primary_key[0]
        if nodes:
            conn.execute(score_nodes.insert(), [{"point_id": pid, **n} for n in nodes])
        old = select(score_points.c.id).where(score_points.c.time < t - keep_days * 86400)
        conn.execute(delete(score_nodes).where(score_nodes.c.point_id.in_(old)))
        conn.execute(delete(score_points).where(score_points.c.time < t - keep_days * 86400))
    return int(pid)


def load_scores(engine: Engine, since: float, node: str | None = None) -> list[dict[str, Any]]:
    """Score points at or after ``since``, oldest first, each with its ``nodes`` (filtered to ``node``)."""
    with engine.connect() as conn:
        pts = conn.execute(select(score_points).where(score_points.c.time >= since)
                           .order_by(score_points.c.time, score_points.c.id)).all()
        q = (select(score_nodes).join(score_points, score_points.c.id == score_nodes.c.point_id)
             .where(score_points.c.time >= since))
        if node is not None:
            q = q.where(score_nodes.c.node == node)
        rows = conn.execute(q.order_by(score_nodes.c.point_id, score_nodes.c.node)).all()
    by_point: dict[int, list] = {}
    for r in rows:
        by_point.setdefault(r.point_id, []).append(
            {"node": r.node, "cpu_pct": r.cpu_pct, "mem_pct": r.mem_pct, "score": r.score, "online": bool(r.online)})
    out = []
    for p in pts:
        out.append({"time": p.time, "source": p.source, "run_id": p.run_id, "peak_pct": p.peak_pct,
                    "cpu_std_pct": p.cpu_std_pct, "mem_std_pct": p.mem_std_pct, "balance_score": p.balance_score,
                    "after_peak_pct": p.after_peak_pct, "after_balance_score": p.after_balance_score,
                    "nodes": by_point.get(p.id, [])})
    return out


def save_backtest(engine: Engine, t: float, result: dict[str, Any], keep: int = 50) -> None:
    with engine.begin() as conn:
        conn.execute(forecast_backtests.insert().values(time=t, result=json.dumps(result)))
        cutoff = conn.execute(select(forecast_backtests.c.id).order_by(forecast_backtests.c.id.desc())
                              .offset(keep).limit(1)).scalar()
        if cutoff is not None:
            conn.execute(delete(forecast_backtests).where(forecast_backtests.c.id <= cutoff))


def latest_backtest(engine: Engine) -> tuple[float, dict[str, Any]] | None:
    with engine.connect() as conn:
        row = conn.execute(select(forecast_backtests).order_by(forecast_backtests.c.id.desc()).limit(1)).first()
    return (row.time, json.loads(row.result)) if row else None

