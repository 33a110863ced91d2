"""Migration cost and pressure (PSI) penalties. ``(m, c)`` points."""

from __future__ import annotations

import numpy as np

from ..arrays import CPU, IOW, MEM
from ..registry import register, zero

GIB = 1024.0**3


def migration_seconds(copy_bytes: np.ndarray, bandwidth: float) -> np.ndarray:
    """Predicted duration (s) of copying ``copy_bytes`` at ``bandwidth`` bytes/s."""
    return np.asarray(copy_bytes, dtype=float) / bandwidth


@register("migration_cost", "penalty", "cost",
          ("migration_cost_per_gib", "migration_cost_per_minute", "migration_bandwidth", "ct_restart_penalty"),
          dynamic=False,
          help="Any node but the guest's original one: GiB copied (memory + local disks), predicted minutes, "
               "and a running container's restart.")
def migration_cost(v, a):
    b = v.a.copy_bytes[v.rows]
    per = (a["migration_cost_per_gib"] * b / GIB
           + a["migration_cost_per_minute"] * migration_seconds(b, a["migration_bandwidth"]) / 60.0
           + a["ct_restart_penalty"] * v.a.ct_running[v.rows])
    moved = v.state.orig[v.rows][:, None] != v.cols[None, :]
    return per[:, None] * moved


@register("pressure", "penalty", "pressure", ("pressure_cpu_penalty", "pressure_mem_penalty", "pressure_io_penalty"),
          dynamic=False, help="Node PSI (some, %) x the guest's share of the node (%), per resource.")
def pressure(v, a):
    out = zero(v.shape)
    for i, (r, key) in enumerate(((CPU, "pressure_cpu_penalty"), (MEM, "pressure_mem_penalty"),
                                  (IOW, "pressure_io_penalty"))):
        if a[key] and v.a.psi[:, i].any():
            share = v.a.g["blend"][v.rows, r][:, None] / v.a.cap[v.cols, r][None, :]
            out = out + a[key] * v.a.psi[v.cols, i][None, :] * share
    return out
