"""Batches: many moves in dependency order, within in-flight limits, never over the memory limit.

Order: a move out of node X runs before a move into X that comes after it (Kahn's algorithm over
"frees memory on my target" edges; moves on a cycle, such as swaps, keep their given order and wait only on
memory). A move starts when (a) every move it depends on has ended, (b) fewer than
``executor.max_in_flight_cluster`` ProxBalance migrations are active in the cluster and fewer than
``executor.max_in_flight_per_node`` touch its source or its target (counted from the store, so other
batches, workers and the CLI count too), and (c) it validates on live numbers — whose resource check counts
memory already on its way to the target, so no intermediate state overfills a node. A move that fails
validation only on resources while others are in flight waits for them; otherwise it fails.

A failure stops the batch (queued moves become ``skipped``) unless ``continue_on_failure``. The batch is
persisted (``migration_batches``) with a heartbeat; a batch whose runner died is marked ``interrupted`` by
``resolve_orphans`` and its unstarted moves are never started behind the user's back.
"""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from typing import Any

from proxbalance.errors import ConflictError, ProxBalanceError, ValidationError
from proxbalance.executor import migrations as ex
from proxbalance.executor.context import ExecContext
from proxbalance.executor.live import LiveView
from proxbalance.store import migrations_log as mlog

FINAL = ("completed", "failed", "cancelled", "skipped")


def dependency_order(moves: list[dict[str, Any]]) -> tuple[list[int], dict[int, set[int]]]:
    """(order of indices, deps: index -> indices that must end before it). Moves are dicts with
    ``source_node`` and ``target_node``."""
    n = len(moves)
    edges = {i: {j for j in range(n) if j != i and moves[j]["target_node"] == moves[i]["source_node"]}
             for i in range(n)}  # i frees memory on j's target: i before j
    indeg = Counter(j for i in range(n) for j in edges[i])
    ready = [i for i in range(n) if indeg[i] == 0]
    order: list[int] = []
    deps: dict[int, set[int]] = {i: set() for i in range(n)}
    while ready:
        i = ready.pop(0)
        order.append(i)
        for j in sorted(edges[i]):
            deps[j].add(i)
            indeg[j] -= 1
            if indeg[j] == 0:
                ready.append(j)
        ready.sort()
    rest = [i for i in range(n) if i not in order]  # on a cycle: given order, memory decides
    placed = set(order)
    for i in rest:
        deps[i] = {d for d in deps[i] if d in placed}
    return order + rest, deps


def create_batch(ctx: ExecContext, moves: list[dict[str, Any]], *, actor: str, origin: str = "batch",
                 continue_on_failure: bool = False, request_id: str | None = None,
                 session_id: str | None = None) -> dict[str, Any]:
    """Check the moves (unknown guest/node: 404; a guest twice: 400), reconcile, and persist the batch in
    dependency order. Nothing starts here: ``run_batch`` does."""
    if not moves:
        raise ValidationError("a batch needs at least one migration", details={"field": "migrations"})
    seen = Counter(int(m["vmid"]) for m in moves)
    dup = sorted(v for v, c in seen.items() if c > 1)
    if dup:
        raise ValidationError(f"guest(s) {dup} appear more than once in the batch", details={"field": "migrations"})
    ex.reconcile(ctx)
    live = LiveView.read(ctx.pve)
    items = []
    for m in moves:
        g = live.guest(int(m["vmid"]))
        live.node(m["target_node"])
        if m.get("source_node") and m["source_node"] != g.node:
            raise ConflictError(f"guest {g.vmid} runs on {g.node}, not on {m['source_node']}",
                                code="wrong_source", details={"vmid": g.vmid, "node": g.node})
        items.append({"vmid": g.vmid, "name": g.name, "guest_type": g.type, "source_node": g.node,
                      "target_node": m["target_node"], "targetstorage": m.get("targetstorage"),
                      "status": "queued", "migration_id": None, "error": None})
    order, deps = dependency_order(items)
    for pos, i in enumerate(order):
        items[i]["order"] = pos + 1
        items[i]["after"] = sorted(items[d]["vmid"] for d in deps[i])
    items = [items[i] for i in order]
    bid = uuid.uuid4().hex
    data = {"moves": items, "continue_on_failure": continue_on_failure, "request_id": request_id,
            "session_id": session_id or bid, "limits": _limits(ctx)}
    mlog.save_batch(ctx.store.engine, bid, now=ctx.now(), state="queued", data=data, actor=actor, origin=origin,
                    create=True)
    return mlog.load_batch(ctx.store.engine, bid)


def _limits(ctx: ExecContext) -> dict[str, int]:
    return {"per_node": int(ctx.settings["executor.max_in_flight_per_node"]),
            "cluster": int(ctx.settings["executor.max_in_flight_cluster"])}


def _in_flight(ctx: ExecContext) -> tuple[int, Counter]:
    active = mlog.active(ctx.store.engine)
    per_node: Counter = Counter()
    for m in active:
        per_node[m["source_node"]] += 1
        per_node[m["target_node"]] += 1
    return len(active), per_node


def run_batch(ctx: ExecContext, batch_id: str, *, stop: threading.Event | None = None,
              max_loops: int = 1_000_000) -> dict[str, Any]:
    """Execute a persisted batch to the end (blocking; polls every ``executor.poll_interval_seconds``)."""
    eng = ctx.store.engine
    b = mlog.load_batch(eng, batch_id)
    moves, actor = b["moves"], b["actor"]
    by_vmid = {m["vmid"]: m for m in moves}
    state = "running"
    ex.reconcile(ctx)
    for _ in range(max_loops):
        if stop is not None and stop.is_set():
            state = "cancelled"
            break
        if mlog.load_batch(eng, batch_id)["state"] == "cancelling":
            state = "cancelled"
        live = LiveView.read(ctx.pve)
        for m in moves:  # follow what runs
            if m["status"] == "running":
                rec = ex.refresh(ctx, m["migration_id"], live=live)
                if rec["state"] in mlog.FINAL_STATES:
                    m["status"], m["error"] = rec["state"], rec["error"]
        failed = any(m["status"] in ("failed", "cancelled") for m in moves)
        if state == "cancelled" or (failed and not b["continue_on_failure"]):
            for m in moves:
                if m["status"] == "queued":
                    m["status"] = "skipped"
                    m["error"] = "batch cancelled" if state == "cancelled" else "batch stopped after a failure"
        _start_ready(ctx, b, moves, by_vmid, live, actor)
        mlog.save_batch(eng, batch_id, now=ctx.now(), state="cancelling" if state == "cancelled" else "running",
                        data={**{k: b[k] for k in ("continue_on_failure", "request_id", "session_id", "limits")},
                              "moves": moves})
        if all(m["status"] in FINAL for m in moves):
            break
        ctx.sleep(float(ctx.settings["executor.poll_interval_seconds"]))
    if state != "cancelled":
        state = "completed" if all(m["status"] == "completed" for m in moves) else "failed"
    mlog.save_batch(eng, batch_id, now=ctx.now(), state=state,
                    data={**{k: b[k] for k in ("continue_on_failure", "request_id", "session_id", "limits")},
                          "moves": moves})
    return mlog.load_batch(eng, batch_id)


def _start_ready(ctx: ExecContext, b: dict, moves: list[dict], by_vmid: dict, live: LiveView, actor: str) -> None:
    limits = _limits(ctx)
    running_any = any(m["status"] == "running" for m in moves)
    for m in moves:
        if m["status"] != "queued":
            continue
        if any(by_vmid[v]["status"] in ("failed", "cancelled", "skipped") for v in m["after"]):
            m["status"], m["error"] = "skipped", "a move it depends on did not complete"
            continue
        if any(by_vmid[v]["status"] != "completed" for v in m["after"]):
            continue
        total, per_node = _in_flight(ctx)
        if total >= limits["cluster"]:
            return
        if per_node[m["source_node"]] >= limits["per_node"] or per_node[m["target_node"]] >= limits["per_node"]:
            continue
        try:
            rec = ex.start_migration(ctx, m["vmid"], m["target_node"], source_node=m["source_node"], actor=actor,
                                     origin=b["origin"], session_id=b["session_id"], request_id=b.get("request_id"),
                                     targetstorage=m.get("targetstorage"), live=live)
        except ConflictError as exc:
            checks = [c["name"] for c in (exc.details or {}).get("validation", {}).get("checks", []) if not c["passed"]]
            if checks and set(checks) <= {"resources", "locks"} and (running_any or total):
                m["waiting"] = exc.message  # room (or the lock) comes when what runs ends
                continue
            m["status"], m["error"] = "failed", exc.message
            if not b["continue_on_failure"]:
                return
            continue
        except ProxBalanceError as exc:
            m["status"], m["error"] = "failed", exc.message
            if not b["continue_on_failure"]:
                return
            continue
        m.pop("waiting", None)
        m["migration_id"] = rec["migration_id"]
        m["status"] = "running" if rec["state"] in mlog.ACTIVE_STATES else rec["state"]
        m["error"] = rec["error"]
        running_any = True
        # no re-read: the new intent (store) blocks the guest and reserves its memory on the target
        g = live.guests.get(m["vmid"])
        if g is not None:
            g.lock = "migrate"


def resolve_orphans(ctx: ExecContext, *, stale_seconds: float | None = None) -> list[str]:
    """Batches marked running whose runner stopped beating: ``interrupted``, unstarted moves ``skipped``."""
    stale = stale_seconds if stale_seconds is not None else max(
        30.0, 10 * float(ctx.settings["executor.poll_interval_seconds"]))
    out = []
    for b in mlog.batches(ctx.store.engine, ("queued", "running", "cancelling")):
        if ctx.now() - (b["heartbeat"] or b["created_at"]) < stale:
            continue
        # the runner may have died between starting a move and saving the batch: the intents (tagged with
        # the batch's session id) are the truth
        recs, _ = mlog.query(ctx.store.engine, session_id=b["session_id"], limit=None, newest_first=False)
        by_vmid = {r["vmid"]: r for r in recs}
        for m in b["moves"]:
            rec = by_vmid.get(m["vmid"])
            if rec is not None:
                m["migration_id"], m["status"], m["error"] = rec["migration_id"], rec["state"], rec["error"]
            elif m["status"] in ("queued", "running"):
                m["status"], m["error"] = "skipped", "batch interrupted (ProxBalance restarted)"
        mlog.save_batch(ctx.store.engine, b["batch_id"], now=ctx.now(), state="interrupted",
                        data={**{k: b[k] for k in ("continue_on_failure", "request_id", "session_id", "limits")},
                              "moves": b["moves"]})
        out.append(b["batch_id"])
    return out


def start_thread(ctx: ExecContext, batch_id: str) -> threading.Thread:
    t = threading.Thread(target=run_batch, args=(ctx, batch_id), name=f"batch-{batch_id[:8]}", daemon=True)
    t.start()
    return t


def cancel_batch(ctx: ExecContext, batch_id: str) -> dict[str, Any]:
    """Ask the runner to stop starting moves (running migrations finish; cancel them one by one if needed)."""
    b = mlog.load_batch(ctx.store.engine, batch_id)
    if b["state"] in ("completed", "failed", "cancelled", "interrupted"):
        raise ConflictError(f"batch {batch_id} is already {b['state']}", code="not_running")
    mlog.save_batch(ctx.store.engine, batch_id, now=ctx.now(), state="cancelling",
                    data={k: b[k] for k in ("continue_on_failure", "request_id", "session_id", "limits", "moves")})
    return mlog.load_batch(ctx.store.engine, batch_id)
