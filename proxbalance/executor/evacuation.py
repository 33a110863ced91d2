"""Node evacuation: a reviewed plan that runs as reviewed, guest by guest, persisted, and nothing left silently.

1. ``create_session(ctx, node, dry_run=...)`` plans from the newest snapshot with ``node`` masked out as in
   maintenance (the engine evacuates it first; stopped guests included, HA guests allowed), keeps only the
   moves off ``node``, and reports every guest that gets no move up front with its reason (pinned,
   passthrough, template, no node with room or storage, failed validation). A preview (``dry_run``) is stored
   too; running ``from_preview`` copies the reviewed plan verbatim.
2. ``run_session`` sets ProxBalance maintenance on the node (so nothing is moved onto it) and executes the
   plan through the executor (validation, intents, exactly once) within the in-flight limits. A move that no
   longer validates is re-planned to the best node that does validate, and the change is recorded in the
   session (``replanned_from``, an event); it is never applied silently.
3. It ends ``completed`` only when no running guest is left on the node, else ``completed_with_errors`` with
   each guest left and why; ``cancel_session`` stops it starting moves (``cancelled``).
The session lives in ``evacuation_sessions`` with a heartbeat; ``resume_orphans`` picks up sessions whose
runner died (after a restart) and carries on from the intents recorded under the session id.
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import replace
from typing import Any

from proxbalance import engine as eng
from proxbalance import notify_messages as msg
from proxbalance import recommendations as svc
from proxbalance.errors import ConflictError, NoDataError, NotFoundError, ProxBalanceError, UpstreamError
from proxbalance.executor import ha_failback as hf
from proxbalance.executor import migrations as ex
from proxbalance.executor.context import ExecContext
from proxbalance.executor.live import LiveView
from proxbalance.executor.maintenance import maintenance_nodes, set_maintenance
from proxbalance.executor.validate import validate_move
from proxbalance.notify import notify
from proxbalance.store import maintenance as repo
from proxbalance.store import migrations_log as mlog
from proxbalance.store.history import usage_history
from proxbalance.store.snapshots import latest_snapshot

FINAL = ("completed", "completed_with_errors", "cancelled")
WAIT_CHECKS = {"resources", "locks"}  # room or the lock comes back when what runs ends


def plan_evacuation(ctx: ExecContext, node: str, live: LiveView) -> tuple[list[dict], list[dict]]:
    """(moves off ``node`` in the engine's order, guests that get no move with their reason)."""
    snap = latest_snapshot(ctx.store.engine)
    if snap is None:
        raise NoDataError("no cluster data collected yet: run `proxbalance collect` first")
    masked = maintenance_nodes(ctx.store) | {node}
    snap = replace(snap, nodes=tuple(replace(n, maintenance=n.maintenance or n.name in masked) for n in snap.nodes))
    on_node = sorted((g for g in live.guests.values() if g.node == node), key=lambda g: g.vmid)
    base = svc.active_penalty_config(ctx.settings, ctx.store)[0]
    cfg = eng.PenaltyConfig.from_dict({"include_stopped": True, "exclude_ha_managed": False,
                                       "max_moves": max(len(on_node) * 2, 1)}, base=base)
    plan = eng.plan(eng.build_arrays(snap, usage_history(ctx.store.engine, now=snap.time), cfg), cfg).to_dict()
    recs = {r["vmid"]: r for r in plan["recommendations"] if r["source_node"] == node}
    skipped = {s["vmid"]: s for s in plan.get("skipped", [])}
    moves, left = [], []
    for g in on_node:
        base_row = {"vmid": g.vmid, "name": g.name, "guest_type": g.type, "status": g.status, "ha": g.ha_managed}
        r = recs.get(g.vmid)
        if r is None:
            s = skipped.get(g.vmid)
            reason = f"{s['reason']}: {s['detail']}" if s else "no node has room, storage or an allowed placement"
            if g.template:
                reason = "template: not moved"
            left.append({**base_row, "reason": reason})
            continue
        v = validate_move(ctx, g.vmid, r["target_node"], live=live, ignore_maintenance_of=set())
        if not v.passed and not (set(c.name for c in v.failed) <= {"staleness"}):
            alt = _replan(ctx, g.vmid, node, live, exclude={r["target_node"]})
            if alt is None:
                left.append({**base_row, "reason": f"cannot move: {v.reason()}"})
                continue
            r = {**r, "target_node": alt}
        moves.append({**base_row, "target_node": r["target_node"], "order": len(moves) + 1,
                      "reason": r.get("reason"), "state": "planned", "migration_id": None, "error": None})
    _mark_failback(ctx, node, moves)
    return moves, left


def _mark_failback(ctx: ExecContext, node: str, moves: list[dict]) -> None:
    """Preview: ``ha_failback_off`` on each HA move whose rule would make the HA manager fail it back to
    ``node`` (see executor/ha_failback.py); run_session switches failback off for those before moving them."""
    if not any(m["ha"] for m in moves):
        return
    try:
        rules, resources = ctx.pve.ha_rules(), ctx.pve.ha_resources()
    except UpstreamError:
        return
    for m in moves:
        if m["ha"] and hf.at_risk(rules, resources, hf.sid_of(m["guest_type"], m["vmid"]), node, m["target_node"]):
            m["ha_failback_off"] = True


def _replan(ctx: ExecContext, vmid: int, source: str, live: LiveView, exclude: set[str]) -> str | None:
    """The least memory-loaded node (other than ``source``) where the move validates now, or None."""
    cands = sorted((n for n in live.nodes.values() if n.name != source and n.name not in exclude and n.online),
                   key=lambda n: n.mem / max(n.maxmem, 1))
    for n in cands:
        if validate_move(ctx, vmid, n.name, live=live).passed:
            return n.name
    return None


def create_session(ctx: ExecContext, node: str, *, dry_run: bool, actor: str,
                   from_preview: str | None = None) -> dict[str, Any]:
    live = LiveView.read(ctx.pve)
    live.node(node)
    if not dry_run:
        busy = [s for s in repo.sessions(ctx.store.engine, ("running", "cancelling")) if s["node"] == node]
        if busy:
            raise ConflictError(f"node {node} is already being evacuated ({busy[0]['session_id']})",
                                code="evacuation_running", details={"session_id": busy[0]["session_id"]})
    if from_preview:
        prev = repo.load_session(ctx.store.engine, from_preview)
        if prev is None or prev["node"] != node:
            raise NotFoundError(f"no preview {from_preview!r} of node {node}", code="session_not_found")
        moves, left = [dict(m) for m in prev["moves"]], [dict(x) for x in prev["left"]]
    else:
        moves, left = plan_evacuation(ctx, node, live)
    sid = uuid.uuid4().hex
    now = ctx.now()
    data = {"moves": moves, "left": left, "from_preview": from_preview, "events": [
        {"time": now, "event": "planned", "detail": f"{len(moves)} moves, {len(left)} guests cannot move"}]}
    repo.save_session(ctx.store.engine, sid, node=node, state="preview" if dry_run else "queued", dry_run=dry_run,
                      actor=actor, now=now, data=data, create=True)
    return repo.load_session(ctx.store.engine, sid)


def _save(ctx: ExecContext, s: dict[str, Any], state: str) -> None:
    data = {k: s[k] for k in ("moves", "left", "from_preview", "events", "ha_failback") if k in s}
    for k in ("summary",):
        if k in s:
            data[k] = s[k]
    repo.save_session(ctx.store.engine, s["session_id"], node=s["node"], state=state, dry_run=s["dry_run"],
                      actor=s["actor"], now=ctx.now(), data=data)


def _event(ctx: ExecContext, s: dict, event: str, detail: str, vmid: int | None = None) -> None:
    s["events"].append({"time": ctx.now(), "event": event, "detail": detail, **({"vmid": vmid} if vmid else {})})


def run_session(ctx: ExecContext, session_id: str, *, max_loops: int = 1_000_000) -> dict[str, Any]:
    """Execute a queued (or resumed) session to its end. Blocking; polls every executor.poll_interval_seconds."""
    s = repo.load_session(ctx.store.engine, session_id)
    if s is None:
        raise NotFoundError(f"no evacuation session {session_id!r}", code="session_not_found")
    if s["dry_run"]:
        raise ConflictError("a preview does not run: start an evacuation with from_preview", code="preview")
    node = s["node"]
    if node not in maintenance_nodes(ctx.store):
        set_maintenance(ctx.store, node, True, s["actor"], f"evacuation {session_id}", now=ctx.now())
        _event(ctx, s, "maintenance", f"ProxBalance maintenance set on {node}")
    if s["state"] == "queued":
        _event(ctx, s, "running", "execution started")
        _save(ctx, s, "running")
    try:
        ex.reconcile(ctx)
    except UpstreamError:
        pass  # the loop below follows every recorded intent once PVE answers
    # intents already recorded under this session (a resumed run) are the truth
    recs, _ = mlog.query(ctx.store.engine, session_id=session_id, limit=None, newest_first=False)
    latest = {r["vmid"]: r for r in recs}
    for m in s["moves"]:
        r = latest.get(m["vmid"])
        if r is not None and m["state"] in ("planned", "running"):
            m["migration_id"] = r["migration_id"]
            m["state"] = "running" if r["state"] in mlog.ACTIVE_STATES else r["state"]
    state = "running"
    per_node = int(ctx.settings["executor.max_in_flight_per_node"])
    for _ in range(max_loops):
        if repo.load_session(ctx.store.engine, session_id)["state"] == "cancelling":
            state = "cancelling"
        live = _read_live(ctx, s)
        if live is None:  # PVE unreachable: nothing starts, nothing is decided; the heartbeat goes on
            _save(ctx, s, state)
            ctx.sleep(float(ctx.settings["executor.poll_interval_seconds"]))
            continue
        for m in s["moves"]:
            if m["state"] == "running":
                r = ex.refresh(ctx, m["migration_id"], live=live)
                if r["state"] in mlog.FINAL_STATES:
                    m["state"], m["error"] = r["state"], r["error"]
                    _event(ctx, s, r["state"], f"{m['vmid']} -> {m['target_node']}" +
                           (f": {r['error']}" if r["error"] else ""), m["vmid"])
                else:
                    m["progress"] = ex.status_of(ctx, r)["percent"]
        if state == "running":
            _start_some(ctx, s, live, per_node)
        else:
            for m in s["moves"]:
                if m["state"] == "planned":
                    m["state"], m["error"] = "skipped", "evacuation cancelled"
        _save(ctx, s, state)
        if not any(m["state"] in ("planned", "running") for m in s["moves"]):
            break
        ctx.sleep(float(ctx.settings["executor.poll_interval_seconds"]))
    return _finish(ctx, s, cancelled=state == "cancelling", max_loops=max_loops)


def _read_live(ctx: ExecContext, s: dict) -> LiveView | None:
    """The live view, or None while the PVE API does not answer; the outage's start and end are events."""
    try:
        live = LiveView.read(ctx.pve)
    except UpstreamError as exc:
        if s.get("api_down") is None:
            s["api_down"] = ctx.now()
            _event(ctx, s, "api_unreachable", f"Proxmox VE API unreachable ({exc.message}): nothing new starts "
                                              "and running migrations are followed once it answers again")
        return None
    if s.get("api_down") is not None:
        _event(ctx, s, "api_restored", f"Proxmox VE API answers again after {ctx.now() - s.pop('api_down'):.0f} s")
    return live


def _start_some(ctx: ExecContext, s: dict, live: LiveView, per_node: int) -> None:
    node = s["node"]
    cluster = int(ctx.settings["executor.max_in_flight_cluster"])
    for m in s["moves"]:
        if m["state"] != "planned":
            continue
        g = live.guests.get(m["vmid"])
        if g is not None and g.node != node and not g.lock:
            # the HA manager moved it along with a positive-affinity partner (or someone else moved it)
            m["state"], m["landed_on"] = "completed", g.node
            _event(ctx, s, "moved_outside", f"{m['vmid']}: already off {node}, on {g.node} (moved by the PVE HA "
                   "manager: node maintenance or a positive-affinity partner; or by someone else): not migrated again", m["vmid"])
            continue
        active = mlog.active(ctx.store.engine)
        from_node = sum(1 for a in active if node in (a["source_node"], a["target_node"]))
        if len(active) >= cluster or from_node >= per_node:
            return
        into = sum(1 for a in active if m["target_node"] in (a["source_node"], a["target_node"]))
        if into >= per_node:
            continue
        v = validate_move(ctx, m["vmid"], m["target_node"], live=live)
        if not v.passed:
            failed = {c.name for c in v.failed}
            if failed <= WAIT_CHECKS and active:
                continue
            if failed & {"staleness", "quorum", "guest_state", "devices"}:
                m["state"], m["error"] = "failed", v.reason()
                _event(ctx, s, "failed", f"{m['vmid']}: {v.reason()}", m["vmid"])
                continue
            alt = _replan(ctx, m["vmid"], node, live, exclude={m["target_node"]})
            if alt is None:
                m["state"], m["error"] = "failed", f"no valid target any more: {v.reason()}"
                _event(ctx, s, "failed", f"{m['vmid']}: {m['error']}", m["vmid"])
                continue
            _event(ctx, s, "replanned", f"{m['vmid']}: {m['target_node']} -> {alt} ({v.reason()})", m["vmid"])
            m["replanned_from"], m["target_node"] = m["target_node"], alt
        if m["ha"]:
            _guard_failback(ctx, s, m, live)
        try:
            rec = ex.start_migration(ctx, m["vmid"], m["target_node"], source_node=node, actor=s["actor"],
                                     origin="evacuation", session_id=s["session_id"], live=live)
        except ProxBalanceError as exc:
            m["state"], m["error"] = "failed", exc.message
            _event(ctx, s, "failed", f"{m['vmid']}: {exc.message}", m["vmid"])
            continue
        m["migration_id"], m["state"] = rec["migration_id"], "running"
        g = live.guests.get(m["vmid"])
        if g is not None:
            g.lock = "migrate"
        _event(ctx, s, "started", f"{m['vmid']} -> {m['target_node']} ({rec['upid'] or rec['request_upid']})",
               m["vmid"])


def _guard_failback(ctx: ExecContext, s: dict, m: dict, live: LiveView) -> None:
    """Before an HA guest leaves: switch its HA ``failback`` off when its node-affinity rule prefers the
    evacuated node to its target, so the HA manager does not move it back (PVE has no API for HA node
    maintenance; executor/ha_failback.py). Recorded in the session's ``ha_failback`` and as an event."""
    node, sid = s["node"], hf.sid_of(m["guest_type"], m["vmid"])
    held = s.setdefault("ha_failback", [])
    if node in live.nodes and live.nodes[node].ha_maintenance:
        if not any(e["event"] == "ha_maintenance" for e in s["events"]):
            _event(ctx, s, "ha_maintenance", f"{node} is in PVE HA node maintenance: the HA manager moves its HA "
                   "guests itself and fails none back to it; HA failback is left as it is")
        return
    if any(x["sid"] == sid and not x.get("restored_at") for x in held):
        return
    try:
        if not hf.at_risk(ctx.pve.ha_rules(), ctx.pve.ha_resources(), sid, node, m["target_node"]):
            return
        ctx.pve.ha_set_failback(sid, False)
    except UpstreamError as exc:
        _event(ctx, s, "ha_failback_failed", f"{sid}: HA failback could not be switched off ({exc.message}): the "
               f"HA manager may move it back to {node}; `ha-manager crm-command node-maintenance enable {node}` "
               "on a cluster node prevents that", m["vmid"])
        return
    held.append({"sid": sid, "vmid": m["vmid"], "since": ctx.now(), "restored_at": None})
    _event(ctx, s, "ha_failback_off", f"{sid}: HA failback off until the maintenance of {node} is cleared (its "
           f"node-affinity rule prefers {node} to {m['target_node']})", m["vmid"])
    _save(ctx, s, "running")  # stored before the move starts: a runner killed now still knows to switch it on


def release_ha_failback(ctx: ExecContext, node: str) -> list[str]:
    """ProxBalance maintenance of ``node`` cleared: switch HA failback on again for every guest an evacuation
    of ``node`` switched it off for (the HA manager then moves them back to the node their rule prefers, as
    after PVE's own node maintenance). Returns the sids restored; a failure is a session event, never raised."""
    out = []
    for s in repo.sessions(ctx.store.engine):
        held = [x for x in s.get("ha_failback", []) if not x.get("restored_at")]
        if s["node"] != node or not held or s["state"] not in FINAL:
            continue
        for x in held:
            try:
                ctx.pve.ha_set_failback(x["sid"], True)
            except UpstreamError as exc:
                _event(ctx, s, "ha_failback_failed", f"{x['sid']}: HA failback could not be switched on again "
                       f"({exc.message}): set it with `ha-manager set {x['sid']} --failback 1`", x["vmid"])
                continue
            x["restored_at"] = ctx.now()
            out.append(x["sid"])
            _event(ctx, s, "ha_failback_on", f"{x['sid']}: HA failback on again ({node} left maintenance)", x["vmid"])
        _save(ctx, s, s["state"])
    return out


def _finish(ctx: ExecContext, s: dict, *, cancelled: bool, max_loops: int = 1_000_000) -> dict[str, Any]:
    for _ in range(max_loops):  # where every guest is decides the end state: wait for PVE to answer
        live = _read_live(ctx, s)
        if live is not None:
            break
        _save(ctx, s, "cancelling" if cancelled else "running")
        ctx.sleep(float(ctx.settings["executor.poll_interval_seconds"]))
    else:
        raise UpstreamError("Proxmox VE API unreachable: the evacuation's end state cannot be decided yet")
    remaining = [g for g in live.guests.values() if g.node == s["node"]]
    why = {x["vmid"]: x["reason"] for x in s["left"]}
    why.update({m["vmid"]: f"{m['state']}: {m['error']}" for m in s["moves"] if m["state"] != "completed"})
    why.update({m["vmid"]: f"moved to {m['target_node']}, then moved back" + (
        " by the PVE HA manager (its node-affinity rule prefers this node)" if m["ha"] else "")
        for m in s["moves"] if m["state"] == "completed"})
    s["remaining"] = [{"vmid": g.vmid, "name": g.name, "status": g.status,
                       "reason": why.get(g.vmid, "appeared on the node during the evacuation")} for g in remaining]
    running_left = [g for g in remaining if g.status == "running"]
    state = "cancelled" if cancelled else ("completed_with_errors" if running_left else "completed")
    s["summary"] = {"moved": sum(m["state"] == "completed" for m in s["moves"]), "left": len(remaining),
                    "running_left": len(running_left), "remaining": s["remaining"]}
    _event(ctx, s, state, f"{s['summary']['moved']} moved, {len(remaining)} left ({len(running_left)} running)")
    _save(ctx, s, state)
    _notify_finished(ctx, s, state)
    if s["node"] not in maintenance_nodes(ctx.store):  # cleared while it ran: nothing holds failback off now
        release_ha_failback(ctx, s["node"])
    return repo.load_session(ctx.store.engine, s["session_id"])


def _notify_finished(ctx: ExecContext, s: dict, state: str) -> None:
    """``evacuation_finished``, once per session (the key is claimed in the store: a resumed run that ends
    again sends nothing). Never raises."""
    failed = sum(m["state"] in ("failed", "cancelled") for m in s["moves"])
    title, body = msg.evacuation_finished(s["node"], s["summary"]["moved"], failed, ctx.now() - s["created_at"],
                                          outcome=state, left=s["remaining"])
    level = "success" if state == "completed" else "warning"
    notify(ctx.settings, ctx.store, "evacuation_finished", f"evacuation_finished:{s['session_id']}", title, body,
           level=level, now=ctx.now())


def cancel_session(ctx: ExecContext, session_id: str) -> dict[str, Any]:
    s = repo.load_session(ctx.store.engine, session_id)
    if s is None:
        raise NotFoundError(f"no evacuation session {session_id!r}", code="session_not_found")
    if s["state"] not in ("queued", "running"):
        raise ConflictError(f"session {session_id} is {s['state']}", code="not_running")
    _event(ctx, s, "cancel", "cancel requested: running migrations finish, nothing new starts")
    _save(ctx, s, "cancelling")
    return repo.load_session(ctx.store.engine, session_id)


def start_thread(ctx: ExecContext, session_id: str) -> threading.Thread:
    t = threading.Thread(target=run_session, args=(ctx, session_id), name=f"evacuate-{session_id[:8]}", daemon=True)
    t.start()
    return t


def resume_orphans(ctx: ExecContext, *, stale_seconds: float | None = None) -> list[str]:
    """Sessions whose runner stopped beating (a restart): run them on from their recorded intents."""
    stale = stale_seconds if stale_seconds is not None else max(
        30.0, 10 * float(ctx.settings["executor.poll_interval_seconds"]))
    out = []
    for s in repo.sessions(ctx.store.engine, ("queued", "running", "cancelling")):
        if ctx.now() - (s["heartbeat"] or s["created_at"]) >= stale:
            _event(ctx, s, "resumed", "runner found dead (restart): resuming from the recorded intents")
            _save(ctx, s, s["state"])
            start_thread(ctx, s["session_id"])
            out.append(s["session_id"])
    return out


def format_session(s: dict[str, Any]) -> str:
    lines = [f"evacuation {s['session_id'][:8]} of {s['node']}: {s['state']}"]
    for m in s["moves"]:
        lines.append(f"  {m['vmid']:>7} {m['name'][:20]:20} {m['status']:8} -> {m['target_node']:10} {m['state']}"
                     + (f" ({m['error']})" if m.get("error") else "")
                     + (f" (on {m['landed_on']})" if m.get("landed_on") else ""))
    for x in s["left"]:
        lines.append(f"  {x['vmid']:>7} {x['name'][:20]:20} {x['status']:8} stays: {x['reason']}")
    return "\n".join(lines)
