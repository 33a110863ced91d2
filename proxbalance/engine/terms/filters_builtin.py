"""Hard filters, ``(m, c)`` bool (True = allowed). Only for the impossible.

A filter never applies to the guest's own current node (staying is always possible); the score module
ignores filter values there.
"""

from __future__ import annotations

import numpy as np

from ..arrays import CPU, MEM
from . import register


@register("guest_movable", "filter", "filter", dynamic=False,
          help="Pinned, ignored, template, locked, passthrough, stopped / HA by policy: never moved.")
def guest_movable(v, a):
    return np.broadcast_to((v.a.skip[v.rows] == "")[:, None], v.shape)


@register("target_online", "filter", "filter", dynamic=False,
          help="Target must be online, reachable and not in maintenance.")
def target_online(v, a):
    ok = v.a.online[v.cols] & ~v.a.maintenance[v.cols]
    return np.broadcast_to(ok[None, :], v.shape)


@register("ha_strict", "filter", "filter", dynamic=False, help="Strict HA node-affinity rule: listed nodes only.")
def ha_strict(v, a):
    if v.a.ha_allowed.all():
        return np.broadcast_to(True, v.shape)
    return v.a.ha_allowed[np.ix_(v.rows, v.cols)]


@register("mem_limit", "filter", "filter", ("mem_limit_pct",),
          help="Node memory now + the guest's memory (+ safety margin on its configured memory) "
               "<= mem_limit_pct of the node's memory.")
def mem_limit(v, a):
    room = a["mem_limit_pct"] / 100.0 * v.a.cap[v.cols, MEM] - v.state.n["now"][v.cols, MEM]  # (c,)
    need = v.a.mem_hard if v.full_rows else v.a.mem_hard[v.rows]
    if len(room) <= 8:
        out = np.empty(v.shape, dtype=bool)
        for j in range(len(room)):
            out[:, j] = need <= room[j]
        return out
    return need[:, None] <= room[None, :]


@register("cpu_limit", "filter", "filter", ("cpu_limit_pct",),
          help="If cpu_limit_pct > 0: predicted (blended) CPU after the move <= cpu_limit_pct.")
def cpu_limit(v, a):
    if a["cpu_limit_pct"] <= 0:
        return np.ones(v.shape, dtype=bool)
    return v.util_added("blend", CPU) * 100.0 <= a["cpu_limit_pct"]
