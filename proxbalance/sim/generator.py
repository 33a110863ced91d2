"""Scenario generator: heterogeneous, imbalanced but feasible clusters as plain scenario dicts.

The output has the same shape as a scenario file's explicit tables (``nodes``, ``guests``, ``storages``,
``pools``, ``ha_resources``, ``ha_rules``), so generated and hand-written scenarios load the same way.
Sizes: memory in GiB/MiB as in the file format; ``load`` is a CPU scale applied to the trace VM.
"""

from __future__ import annotations

import numpy as np

ROLES = ("web", "db", "app", "cache", "ci", "mon", "mail", "files")
TAGS = ("affinity_web", "affinity_db", "exclude_db", "exclude_web", "ignore", "pinned", "prod", "dev")
WEEK = 7 * 86400


def generate(gen: dict, seed: int, trace_cpu_mean: np.ndarray, base_offset: float) -> dict:
    """Build a scenario dict from generator settings (see docs/simulator.md for each key)."""
    rng = np.random.default_rng(seed)
    n_nodes = int(gen.get("nodes", 5))
    n_guests = int(gen.get("guests", 60))
    skew = float(gen.get("skew", 0.6))
    ha_density = float(gen.get("ha_density", 0.2))
    tag_density = float(gen.get("tag_density", 0.25))
    lxc_fraction = float(gen.get("lxc_fraction", 0.3))
    stopped_fraction = float(gen.get("stopped_fraction", 0.08))
    templates = int(gen.get("templates", 2))
    node_cores = list(gen.get("node_cores", [16, 24, 32]))
    node_mem = list(gen.get("node_memory_gib", [64, 96, 128]))
    guest_cores = list(gen.get("guest_cores", [1, 2, 2, 4, 4, 8]))
    guest_mem = list(gen.get("guest_memory_gib", [1, 2, 2, 4, 4, 8, 16]))
    cpu_target = float(gen.get("cpu_target", 0.2))

    nodes = [{"name": f"pve{i + 1}", "cores": int(rng.choice(node_cores)),
              "memory_gib": int(rng.choice(node_mem))} for i in range(n_nodes)]
    zfs_nodes = [n["name"] for i, n in enumerate(nodes) if i % 3 == 1]
    storages = [
        {"storage": "local", "type": "dir", "shared": False, "content": "iso,vztmpl,backup", "size_gib": 100},
        {"storage": "local-lvm", "type": "lvmthin", "shared": False, "content": "images,rootdir",
         "size_gib": 2048},
        {"storage": "ceph", "type": "rbd", "shared": True, "content": "images,rootdir",
         "size_gib": 64 * 1024},
        {"storage": "nfs-backup", "type": "nfs", "shared": True, "content": "backup", "size_gib": 16 * 1024},
    ]
    if zfs_nodes:
        storages.append({"storage": "local-zfs", "type": "zfspool", "shared": False,
                         "content": "images,rootdir", "size_gib": 1024, "nodes": zfs_nodes})

    # node weights: node 0 gets the most guests; skew 0 = uniform
    w = (1 - skew) + skew * np.exp(-3.0 * np.arange(n_nodes) / max(n_nodes - 1, 1))
    w = w / w.sum()
    room = np.array([n["memory_gib"] * 0.8 - 3 for n in nodes], dtype=float)
    guests = []
    for k in range(n_guests):
        vmid = 100 + k
        gtype = "lxc" if rng.random() < lxc_fraction else "qemu"
        role = ROLES[int(rng.integers(len(ROLES)))]
        mem = float(rng.choice(guest_mem))
        if gtype == "lxc":
            mem = max(0.5, mem / 2)
        foot = 0.6 * mem
        ok = room >= foot
        i = int(rng.choice(n_nodes, p=(w * ok) / (w * ok).sum())) if ok.any() else int(np.argmax(room))
        room[i] -= foot
        node = nodes[i]["name"]
        store = "ceph" if rng.random() < 0.75 else ("local-zfs" if node in zfs_nodes and rng.random() < 0.4
                                                     else "local-lvm")
        size = int(rng.choice([16, 32, 64, 100])) if gtype == "qemu" else int(rng.choice([8, 16, 32]))
        disks = [f"{'scsi0' if gtype == 'qemu' else 'rootfs'}={store}:{size}"]
        if gtype == "qemu" and rng.random() < 0.15:
            disks.append(f"scsi1=ceph:{int(rng.choice([50, 200]))}")
        row = int(rng.integers(len(trace_cpu_mean)))
        target = float(np.clip(rng.lognormal(np.log(cpu_target), 0.7), 0.02, 0.9))
        tags = []
        if rng.random() < tag_density:
            tags = sorted(set(rng.choice(TAGS, size=int(rng.integers(1, 3)), replace=False).tolist()))
        guests.append({
            "vmid": vmid, "name": f"{'vm' if gtype == 'qemu' else 'ct'}-{role}-{k + 1:02d}", "type": gtype,
            "node": node, "cores": int(rng.choice(guest_cores)), "memory_mib": int(mem * 1024),
            "disks": disks, "tags": ";".join(tags),
            "status": "stopped" if rng.random() < stopped_fraction else "running",
            "trace": row, "offset": float(base_offset + WEEK * int(rng.integers(2)) + 300 * int(rng.integers(-12, 13))),
            "load": round(target / max(float(trace_cpu_mean[row]), 0.005), 3),
            "passthrough": bool(gtype == "qemu" and rng.random() < 0.02),
        })
    for t in range(min(templates, len(guests))):
        g = guests[-1 - t]
        if g["type"] == "qemu":
            g.update(status="stopped", template=True, name=f"tmpl-{g['name']}", tags="")
    pool_names = ["prod", "dev", "infra"]
    pools = [{"poolid": p, "comment": f"{p} guests"} for p in pool_names]
    for g in guests:
        if rng.random() < 0.6:
            g["pool"] = pool_names[int(rng.integers(3))]
    cands = [g for g in guests if g["status"] == "running" and not g["passthrough"] and not g.get("template")]
    n_ha = int(round(ha_density * len(cands)))
    ha_guests = [cands[i] for i in sorted(rng.choice(len(cands), size=n_ha, replace=False))] if n_ha else []
    ha_resources = [{"sid": _sid(g), "state": "started"} for g in ha_guests]
    rules = []
    if len(ha_guests) >= 6 and n_nodes >= 3:
        a, b, c, d, e, f = ha_guests[:6]
        other = next(n["name"] for n in nodes if n["name"] != a["node"])
        rules.append({"rule": "pin-" + a["name"], "type": "node-affinity", "resources": _sid(a),
                      "nodes": f"{a['node']}:2,{other}", "strict": 1})
        rules.append({"rule": "prefer-" + b["name"], "type": "node-affinity", "resources": _sid(b),
                      "nodes": b["node"], "strict": 0})
        if c["node"] == d["node"]:
            d["node"] = next(n["name"] for n in nodes if n["name"] != c["node"])
        rules.append({"rule": "keep-apart", "type": "resource-affinity", "resources": f"{_sid(c)},{_sid(d)}",
                      "affinity": "negative"})
        e["node"] = f["node"]
        e["disks"] = [dk.replace("local-zfs", "ceph").replace("local-lvm", "ceph") for dk in e["disks"]]
        rules.append({"rule": "keep-together", "type": "resource-affinity", "resources": f"{_sid(e)},{_sid(f)}",
                      "affinity": "positive"})
    return {"nodes": nodes, "guests": guests, "storages": storages, "pools": pools,
            "ha_resources": ha_resources, "ha_rules": rules}


def _sid(g: dict) -> str:
    return f"{'vm' if g['type'] == 'qemu' else 'ct'}:{g['vmid']}"
