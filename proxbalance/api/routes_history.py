"""Usage history for the dashboard's charts: node CPU, memory and iowait over a chosen range."""

from __future__ import annotations

import math
from typing import Literal

from flask import Blueprint
from pydantic import BaseModel, Field

from proxbalance.api.endpoint import endpoint
from proxbalance.api.models import NodeName, StrictModel
from proxbalance.api.state import state
from proxbalance.errors import NotFoundError
from proxbalance.store.series import RANGES, node_series
from proxbalance.store.snapshots import latest_snapshot

bp = Blueprint("history", __name__)


class HistoryQuery(StrictModel):
    range: Literal["1h", "6h", "24h", "7d", "30d", "1y"] = Field("24h", description="How far back")
    node: NodeName | None = Field(None, description="Only this node")
    points: int = Field(120, ge=10, le=1000, description="Buckets in the answer")


class NodeSeries(BaseModel):
    cpu_percent: list[float | None]
    mem_percent: list[float | None]
    iowait_percent: list[float | None]


class NodeHistoryResponse(BaseModel):
    success: bool
    range: str
    step_seconds: int
    t: list[float] = Field(description="bucket start times, Unix seconds")
    nodes: dict[str, NodeSeries]


def _pct(values, total: float) -> list[float | None]:
    return [None if math.isnan(v) or total <= 0 else round(100.0 * v / total, 2) for v in values]


@endpoint(bp, "GET", "/api/history/nodes", query=HistoryQuery, response=NodeHistoryResponse,
          summary="Node CPU/memory/iowait % over a range (1h to 1y), bucketed for charts.")
def node_history(query: HistoryQuery):
    st = state()
    snap = latest_snapshot(st.store.engine)
    capacity = {n.name: (n.maxcpu, n.maxmem) for n in snap.nodes} if snap else {}
    if query.node is not None and query.node not in capacity:
        raise NotFoundError(f"unknown node '{query.node}'", details={"field": "node"})
    seconds = RANGES[query.range]
    t, series = node_series(st.store.engine, now=st.clock(), seconds=seconds, points=query.points,
                            node=query.node)
    nodes = {}
    for name, s in sorted(series.items()):
        maxcpu, maxmem = capacity.get(name, (0, 0))
        nodes[name] = {"cpu_percent": _pct(s["cpu"], maxcpu), "mem_percent": _pct(s["mem"], maxmem),
                       "iowait_percent": _pct(s["iowait"], 1.0)}
    return {"range": query.range, "step_seconds": max(60, seconds // query.points),
            "t": [float(x) for x in t], "nodes": nodes}
