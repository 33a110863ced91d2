"""Real VM utilisation traces (Bitbrains GWA-T-12, Grid Workloads Archive, TU Delft) as dense arrays.

A :class:`Trace` holds ``M = 6`` metrics for ``V`` trace VMs over ``T`` slots of ``step`` seconds:

- ``X``: (M, V, T) float32 values per slot. Metric order :data:`METRICS`: ``cpu`` (fraction of the VM's
  provisioned cores, 0..1), ``mem`` (fraction of provisioned memory, 0..1), ``diskread``, ``diskwrite``,
  ``netin``, ``netout`` (bytes/s).
- ``C``: (M, V, T + 1) float64 running integral of ``X`` over time (value × seconds), ``C[..., 0] == 0``.

The trace is a step function (constant within a slot) repeated with period ``T * step``, so integrals are
exact and cumulative counters are a pure function of time.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

METRICS = ("cpu", "mem", "diskread", "diskwrite", "netin", "netout")
SUBSET_PATH = Path(__file__).resolve().parent.parent / "data" / "traces" / "bitbrains-subset.npz"
_RATE_KEYS = ("disk_read_kbs", "disk_write_kbs", "net_rx_kbs", "net_tx_kbs")
MAX_FULL_DAYS = 28  # a full trace file is cut to its last 28 days to bound memory (C is float64)


def _ffill(a: np.ndarray) -> np.ndarray:
    """Carry the last value forward along axis 1; leading gaps take the first value; all-NaN rows -> 0."""
    a = a.astype(np.float32)
    mask = np.isnan(a)
    idx = np.where(~mask, np.arange(a.shape[1])[None, :], 0)
    np.maximum.accumulate(idx, axis=1, out=idx)
    out = a[np.arange(a.shape[0])[:, None], idx]
    first = np.argmax(~np.isnan(out), axis=1)
    lead = np.isnan(out)
    out[lead] = np.broadcast_to(out[np.arange(a.shape[0]), first][:, None], out.shape)[lead]
    return np.nan_to_num(out, nan=0.0)


@dataclass
class Trace:
    X: np.ndarray  # (M, V, T) float32
    C: np.ndarray  # (M, V, T + 1) float64
    step: int  # seconds per slot
    t0: int  # Unix time of slot 0 in the original trace
    cores: np.ndarray  # (V,) int, provisioned vCPUs
    mem_bytes: np.ndarray  # (V,) float64, provisioned memory
    cpu_mean: np.ndarray  # (V,) float64, mean cpu fraction

    @property
    def n_vms(self) -> int:
        return self.X.shape[1]

    @property
    def period(self) -> int:
        return self.X.shape[2] * self.step

    @classmethod
    def load(cls, path: str | Path | None = None) -> Trace:
        """Load the shipped subset (``path=None``) or a full trace npz (cut to :data:`MAX_FULL_DAYS`)."""
        d = np.load(path or SUBSET_PATH)
        step = int(d["step"])
        T = d["cpu_pct"].shape[1]
        start = max(0, T - MAX_FULL_DAYS * 86400 // step)
        keep = np.flatnonzero(d["mem_kb"] > 0)
        cols = slice(start, T)
        cpu = np.clip(_ffill(d["cpu_pct"][keep, cols]) / 100.0, 0.0, 1.0)
        mem = np.clip(_ffill(d["mem_pct"][keep, cols]) / 100.0, 0.0, 1.0)
        rates = [np.maximum(_ffill(d[k][keep, cols]), 0.0) * 1024.0 for k in _RATE_KEYS]
        X = np.stack([cpu, mem, *rates]).astype(np.float32)
        C = np.zeros(X.shape[:2] + (X.shape[2] + 1,), dtype=np.float64)
        np.cumsum(X, axis=2, dtype=np.float64, out=C[:, :, 1:])
        C *= step
        return cls(X=X, C=C, step=step, t0=int(d["t0"]) + start * step,
                   cores=np.maximum(d["cores"][keep], 1).astype(np.int64),
                   mem_bytes=d["mem_kb"][keep].astype(np.float64) * 1024.0,
                   cpu_mean=cpu.mean(axis=1).astype(np.float64))

    def values(self, rows: np.ndarray, tau: np.ndarray) -> np.ndarray:
        """Values at trace times ``tau`` (seconds since slot 0, any real, wraps) for trace rows ``rows``.

        ``rows`` and ``tau`` broadcast to a common shape S; returns (M, *S) float32.
        """
        slot = (np.floor_divide(tau, self.step).astype(np.int64)) % self.X.shape[2]
        return self.X[:, rows, slot]

    def integral(self, rows: np.ndarray, tau: np.ndarray) -> np.ndarray:
        """∫ X dt from trace time 0 to ``tau`` (wrapping periodically), shape (M, *S) float64."""
        tau = np.asarray(tau, dtype=np.float64)
        T = self.X.shape[2]
        periods, rem = np.divmod(tau, float(self.period))
        k = (rem // self.step).astype(np.int64)
        k = np.minimum(k, T - 1)
        frac = rem - k * self.step
        return (periods * self.C[:, rows, T] + self.C[:, rows, k] + frac * self.X[:, rows, k])

    def window_mean(self, rows: np.ndarray, tau_end: np.ndarray, width: float) -> np.ndarray:
        """Mean over ``[tau_end - width, tau_end)``, shape (M, *S) float64."""
        return (self.integral(rows, tau_end) - self.integral(rows, tau_end - width)) / width
