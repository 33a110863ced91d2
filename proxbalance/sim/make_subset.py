"""Regenerate the trace subset shipped in ``proxbalance/data/traces/``.

    python -m proxbalance.sim.make_subset /path/to/bitbrains-rnd-2013-07-08.npz [--vms 80 --days 14]

Takes the last ``days`` days of the full Bitbrains GWA-T-12 "Rnd" trace (fewest gaps), keeps VMs with a
known memory size, and picks ``vms`` of them stratified by mean CPU so busy and idle VMs both appear.
Arrays are stored float16 (rates clipped to the float16 range) in a compressed npz.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from proxbalance.sim.traces import SUBSET_PATH

RATE_KEYS = ("disk_read_kbs", "disk_write_kbs", "net_rx_kbs", "net_tx_kbs")


def make_subset(src: str | Path, dst: str | Path = SUBSET_PATH, vms: int = 80, days: int = 14) -> Path:
    full = np.load(src)
    step = int(full["step"])
    slots = days * 86400 // step
    total = full["cpu_pct"].shape[1]
    start = total - slots
    ok = np.flatnonzero(full["mem_kb"] > 0)
    cpu = full["cpu_pct"][ok, start:].astype(np.float32)
    order = ok[np.argsort(np.nanmean(cpu, axis=1))]
    pick = np.sort(order[np.linspace(0, len(order) - 1, vms).round().astype(int)])
    out = {
        "vm_id": full["vm_id"][pick],
        "cores": np.maximum(full["cores"][pick], 1).astype(np.int16),
        "cpu_mhz": full["cpu_mhz"][pick],
        "mem_kb": full["mem_kb"][pick],
        "t0": np.int64(int(full["t0"]) + start * step),
        "step": np.int64(step),
        "cpu_pct": full["cpu_pct"][pick, start:].astype(np.float16),
        "mem_pct": full["mem_pct"][pick, start:].astype(np.float16),
    }
    for key in RATE_KEYS:
        out[key] = np.clip(full[key][pick, start:], 0, 60000).astype(np.float16)
    dst = Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(dst, **out)
    return dst


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("src")
    ap.add_argument("--dst", default=str(SUBSET_PATH))
    ap.add_argument("--vms", type=int, default=80)
    ap.add_argument("--days", type=int, default=14)
    a = ap.parse_args()
    print(make_subset(a.src, a.dst, a.vms, a.days))


if __name__ == "__main__":
    main()
