"""Threshold suggestions from the cluster's current state (for GET /api/recommendations/threshold-suggestions).

Rule: start from 60 % CPU / 70 % memory; a balanced cluster (coefficient of variation < 30 %) tolerates
+10, an imbalanced one -5; a busy cluster (mean CPU > 50 % or memory > 60 %) +10 to avoid migration
storms; clamp CPU to 40-85 and memory to 50-90. Input: node utilisation of online nodes (blended).
"""

from __future__ import annotations

import numpy as np

from .arrays import CPU, MEM, ClusterArrays


def threshold_suggestions(arrays: ClusterArrays) -> dict:
    live = arrays.online & ~arrays.maintenance
    if not live.any():
        return {"suggested_cpu_threshold": 60.0, "suggested_mem_threshold": 70.0, "confidence": "low",
                "reasoning": "no online nodes"}
    cpu = arrays.n["blend"][live, CPU] / arrays.cap[live, CPU] * 100
    mem = arrays.n["blend"][live, MEM] / arrays.cap[live, MEM] * 100
    cv_cpu = float(cpu.std() / cpu.mean() * 100) if cpu.mean() > 0 else 0.0
    cv_mem = float(mem.std() / mem.mean() * 100) if mem.mean() > 0 else 0.0
    balanced = cv_cpu < 30 and cv_mem < 30
    busy = cpu.mean() > 50 or mem.mean() > 60
    adj = (10 if balanced else -5) + (10 if busy else 0)
    c = float(np.clip(60 + adj, 40, 85))
    m = float(np.clip(70 + adj, 50, 90))
    return {
        "suggested_cpu_threshold": c,
        "suggested_mem_threshold": m,
        "confidence": "high" if arrays.has_history.any() and live.sum() >= 3 else "medium",
        "reasoning": f"{'balanced' if balanced else 'imbalanced'} (CV cpu {cv_cpu:.0f} %, mem {cv_mem:.0f} %), "
                     f"{'busy' if busy else 'normal'} load (mean cpu {cpu.mean():.0f} %, mem {mem.mean():.0f} %)",
        "cluster_stats": {"nodes": int(live.sum()), "avg_cpu": round(float(cpu.mean()), 1),
                          "max_cpu": round(float(cpu.max()), 1), "avg_mem": round(float(mem.mean()), 1),
                          "max_mem": round(float(mem.max()), 1), "cpu_cv": round(cv_cpu, 1),
                          "mem_cv": round(cv_mem, 1)},
    }
