"""Hard filters, ``(m, c)`` bool (True = allowed). Only for the impossible (what PVE would refuse, or what a
strict rule forbids).

A filter never applies to the guest's own current node while that node is live (staying is always possible);
a node in maintenance or offline is never a target, not even for the guests that started there.
"""

from __future__ import annotations

import numpy as np

from ..arrays import CPU, MEM
from ..registry import register


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


@register("storage_available", "filter", "filter", dynamic=False,
          help="Every disk's storage is on the target, or (storage_mapping) maps to a local storage of the same "
               "type there.")
def storage_available(v, a):
    if v.a.storage_ok.all():
        return np.broadcast_to(True, v.shape)
    return v.a.storage_ok[np.ix_(v.rows, v.cols)]


@register("anti_affinity_strict", "filter", "filter",
          help="Strict anti-affinity (negative HA resource-affinity; exclude_* tags unless exclude_tags_soft): "
               "no other member of the group on the target.")
def anti_affinity_strict(v, a):
    strict = v.a.strict_groups()
    if not strict.any():
        return np.broadcast_to(True, v.shape)
    m = v.a.anti[v.rows][:, strict]  # (m, Ks)
    mates = m @ v.state.anti_count[strict][:, v.cols] - (m * m).sum(axis=1)[:, None] * v.on
    return mates < 0.5
