"""Placement penalties: maintenance, storage, anti-affinity, affinity, HA node preference. ``(m, c)`` points."""

from __future__ import annotations

import numpy as np

from ..registry import register, zero


@register("maintenance", "penalty", "placement", ("maintenance_score_boost",), dynamic=False,
          help="A guest on a node in maintenance costs this (so evacuation always gains); never a target.")
def maintenance(v, a):
    if not v.a.maintenance.any():
        return zero(v.shape)
    return np.broadcast_to(a["maintenance_score_boost"] * v.a.maintenance[v.cols][None, :].astype(float),
                           v.shape)


@register("storage", "penalty", "placement", ("storage_incompatible_penalty",), dynamic=False,
          help="The target lacks a storage that holds one of the guest's disks.")
def storage(v, a):
    if v.a.storage_ok.all():
        return zero(v.shape)
    return a["storage_incompatible_penalty"] * (~v.a.storage_ok[np.ix_(v.rows, v.cols)])


@register("anti_affinity", "penalty", "placement", ("anti_affinity_penalty",),
          help="Per pair of guests of one exclude_* tag / negative HA rule on the node.")
def anti_affinity(v, a):
    m = v.a.anti[v.rows]  # (m, K)
    if m.shape[1] == 0:
        return zero(v.shape)
    mates = m @ v.state.anti_count[:, v.cols]  # members of my groups on the node (me included if there)
    self_pairs = (m * m).sum(axis=1)[:, None]
    return a["anti_affinity_penalty"] * (mates - self_pairs * v.on)


@register("affinity", "penalty", "placement", ("affinity_penalty",),
          help="Per pair of affinity_* / positive HA rule members that would be on different nodes.")
def affinity(v, a):
    m = v.a.aff[v.rows]
    if m.shape[1] == 0:
        return zero(v.shape)
    others = (m @ v.state.aff_tot)[:, None] - (m * m).sum(axis=1)[:, None]  # group mates elsewhere or here
    here = m @ v.state.aff_count[:, v.cols] - (m * m).sum(axis=1)[:, None] * v.on
    return a["affinity_penalty"] * (others - here)


@register("ha_node_preference", "penalty", "placement", ("ha_node_preference_penalty", "ha_priority_penalty"),
          dynamic=False, help="Non-strict HA node rule: node not listed; and per priority step below the best.")
def ha_node_preference(v, a):
    if not (v.a.ha_outside.any() or v.a.ha_steps.any()):
        return zero(v.shape)
    ix = np.ix_(v.rows, v.cols)
    return a["ha_node_preference_penalty"] * v.a.ha_outside[ix] + a["ha_priority_penalty"] * v.a.ha_steps[ix]
