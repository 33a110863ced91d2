"""The gates of an automation cycle: small pure functions over (candidate, facts, settings).

Each gate returns ``None`` when the candidate may pass, or a :class:`Verdict` naming the gate and saying why
it stopped the candidate, with the numbers. :func:`evaluate` runs every gate and returns all that fired
(the first is the recorded reason). No gate does I/O or reads a clock: the cycle gathers :class:`Facts`
from live data first (``proxbalance.automation``).

Units: times in Unix seconds, loads in % of the node's capacity, memory in bytes, CPU in cores.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from proxbalance.model import ClusterSnapshot
from proxbalance.periods import local_time, matching, parse_periods
from proxbalance.store.automation import Streak

IGNORE_TAGS = frozenset({"ignore", "no-auto-migrate"})
WHITELIST_TAG = "auto-migrate-ok"
MIGRATE_TASKS = frozenset({"qmigrate", "vzmigrate", "hamigrate"})


@dataclass(frozen=True)
class Verdict:
    gate: str
    reason: str


@dataclass(frozen=True)
class Candidate:
    """One proposed move. ``kind``: plan (the recommendations), evacuation (source in maintenance),
    guest_count (optional guest-count balancing). ``rec`` is the recommendation dict it came from."""

    vmid: int
    name: str
    source: str
    target: str
    confidence: int
    reason: str = "balance"
    kind: str = "plan"
    ha_managed: bool = False
    companion_of: int | None = None
    swap_with: int | None = None
    rec: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PastMove:
    vmid: int
    source: str
    target: str
    time: float  # when it started
    state: str = "completed"  # completed | running | failed ...


@dataclass
class Facts:
    """What the cycle knows, gathered before any gate runs. ``started`` / ``added`` change as it starts moves."""

    now: float
    snapshot: ClusterSnapshot
    snapshot_age: float  # seconds
    cluster_options: Mapping[str, Any] = field(default_factory=dict)
    running_migrations: int = 0  # in the whole cluster (PVE tasks, anyone's), at cycle start
    started: int = 0  # migrations this cycle started so far
    streaks: Mapping[int, Streak] = field(default_factory=dict)  # including this cycle's recommendation
    moves: list[PastMove] = field(default_factory=list)  # past moves inside the lookback, oldest first
    paused: Mapping[str, Any] | None = None  # {"since", "reason", "failures"} while paused
    maintenance_nodes: frozenset[str] = frozenset()
    evacuating: bool = False  # an evacuation (or maintenance moves) is pending: it goes first
    added: dict[str, list[float]] = field(default_factory=dict)  # node -> [cores, bytes] moving in this cycle
    ha_states: Mapping[int, str] = field(default_factory=dict)  # vmid -> HA state (started, error, ...)


Gate = Callable[[Candidate, Facts, Mapping[str, Any]], "Verdict | None"]


# --- cycle-wide gates ---------------------------------------------------------------------------------------

def gate_enabled(c: Candidate, f: Facts, s: Mapping[str, Any]) -> Verdict | None:
    if not s["automation.enabled"]:
        return Verdict("enabled", "automation is switched off (automation.enabled = false)")
    return None


def gate_paused(c: Candidate, f: Facts, s: Mapping[str, Any]) -> Verdict | None:
    if f.paused:
        return Verdict("paused", f"automation is paused since {f.paused.get('since', 0):.0f}: "
                                 f"{f.paused.get('reason', '')}; an admin must resume it")
    return None


def gate_window(c: Candidate, f: Facts, s: Mapping[str, Any]) -> Verdict | None:
    windows = parse_periods(s["automation.windows"])
    if windows and matching(windows, f.now, s["automation.timezone"]) is None:
        local = local_time(f.now, s["automation.timezone"]).strftime("%a %H:%M")
        return Verdict("window", f"outside the migration windows ({'; '.join(s['automation.windows'])}) at "
                                 f"{local} {s['automation.timezone']}")
    return None


def gate_blackout(c: Candidate, f: Facts, s: Mapping[str, Any]) -> Verdict | None:
    hit = matching(parse_periods(s["automation.blackouts"], allow_dates=True), f.now, s["automation.timezone"])
    if hit is not None:
        local = local_time(f.now, s["automation.timezone"]).strftime("%Y-%m-%d %a %H:%M")
        return Verdict("blackout", f"inside blackout period {hit.text!r} at {local} {s['automation.timezone']}")
    return None


def gate_cluster_health(c: Candidate, f: Facts, s: Mapping[str, Any]) -> Verdict | None:
    snap = f.snapshot
    if not snap.quorate:
        return Verdict("cluster_health", "the cluster has no quorum")
    stale = s["thresholds.stale_minutes"] * 60
    if f.snapshot_age > stale:
        return Verdict("cluster_health", f"cluster data is {f.snapshot_age / 60:.1f} min old "
                                         f"(limit {s['thresholds.stale_minutes']:g} min)")
    down = [n.name for n in snap.nodes if not (n.online and n.reachable)]
    for name in (c.source, c.target):
        if name in down or snap.node(name) is None:
            return Verdict("cluster_health", f"node {name} is offline or did not answer")
    if down and s["automation.require_all_nodes_online"]:
        return Verdict("cluster_health", f"node(s) {', '.join(down)} offline or not answering "
                                         "(automation.require_all_nodes_online)")
    return None


def crs_rebalancing(options: Mapping[str, Any]) -> str | None:
    """PVE's own balancer, from ``/cluster/options`` ``crs`` (e.g. ``ha=static,ha-rebalance-on-start=1``):
    a description of what it does, or None when it does not rebalance."""
    crs = str(options.get("crs") or "")
    kv = dict(p.split("=", 1) if "=" in p else (p, "1") for p in crs.replace(" ", "").split(",") if p)
    on = [k for k in ("ha-auto-rebalance", "ha-rebalance-on-start") if kv.get(k, "0") in ("1", "true", "yes")]
    if not on:
        return None
    return f"PVE CRS rebalances HA guests itself (crs: {crs})"


def gate_crs(c: Candidate, f: Facts, s: Mapping[str, Any]) -> Verdict | None:
    mode = s["automation.crs_conflict"]
    what = crs_rebalancing(f.cluster_options)
    if what is None or mode == "ignore":
        return None
    if mode == "pause":
        return Verdict("crs_conflict", f"{what}; automation.crs_conflict = pause: two balancers would fight")
    if c.ha_managed:
        return Verdict("crs_conflict", f"{what}; HA guests are left to CRS (automation.crs_conflict = skip_ha)")
    return None


def gate_maintenance(c: Candidate, f: Facts, s: Mapping[str, Any]) -> Verdict | None:
    if f.evacuating and c.kind != "evacuation":
        nodes = ", ".join(sorted(f.maintenance_nodes)) or "a node"
        return Verdict("maintenance_priority", f"maintenance evacuation of {nodes} goes first; balancing waits")
    if c.target in f.maintenance_nodes:
        return Verdict("maintenance_priority", f"target {c.target} is in maintenance")
    return None


def gate_cluster_busy(c: Candidate, f: Facts, s: Mapping[str, Any]) -> Verdict | None:
    busy = f.running_migrations + f.started
    if busy >= s["automation.max_concurrent"]:
        return Verdict("in_flight", f"{busy} migration(s) in flight in the cluster (max "
                                    f"{s['automation.max_concurrent']}, automation.max_concurrent)")
    return None


def gate_max_per_cycle(c: Candidate, f: Facts, s: Mapping[str, Any]) -> Verdict | None:
    if f.started >= s["automation.max_migrations_per_run"]:
        return Verdict("max_per_cycle", f"this cycle already started {f.started} migration(s) (max "
                                        f"{s['automation.max_migrations_per_run']})")
    return None


# --- per-guest gates ----------------------------------------------------------------------------------------

def gate_tags(c: Candidate, f: Facts, s: Mapping[str, Any]) -> Verdict | None:
    g = f.snapshot.guest(c.vmid)
    tags = {t.lower() for t in (g.tags if g else ())}
    hit = sorted(tags & IGNORE_TAGS)
    if hit:
        return Verdict("tags", f"guest is tagged {hit[0]!r}")
    if s["automation.whitelist_mode"] and WHITELIST_TAG not in tags:
        return Verdict("tags", f"whitelist mode: guest lacks the {WHITELIST_TAG!r} tag")
    return None


def gate_ha(c: Candidate, f: Facts, s: Mapping[str, Any]) -> Verdict | None:
    if not c.ha_managed:
        return None
    if not s["automation.move_ha_guests"]:
        return Verdict("ha_managed", "HA-managed guest and automation.move_ha_guests = false")
    state = f.ha_states.get(c.vmid)
    if state is not None and state not in ("started", "stopped"):
        return Verdict("ha_managed", f"HA state is {state!r}; HA guests move only through a healthy HA manager")
    return None


def gate_confidence(c: Candidate, f: Facts, s: Mapping[str, Any]) -> Verdict | None:
    if c.kind == "evacuation":
        return None
    if c.confidence < s["automation.min_confidence"]:
        return Verdict("min_confidence", f"confidence {c.confidence} < automation.min_confidence "
                                         f"{s['automation.min_confidence']}")
    return None


def gate_observation(c: Candidate, f: Facts, s: Mapping[str, Any]) -> Verdict | None:
    if c.kind == "evacuation":
        return None
    k, t_min = s["automation.observation_cycles"], s["automation.observation_minutes"]
    st = f.streaks.get(c.vmid)
    count = st.count if st is not None and st.target_node == c.target else 0
    span = f.now - st.first_seen if count else 0.0
    if count < k or span < t_min * 60:
        return Verdict("observation", f"recommended {count} consecutive cycle(s) over {span / 60:.1f} min; needs "
                                      f"{k} over >= {t_min:g} min")
    return None


def cooldown_seconds(moves_in_lookback: int, s: Mapping[str, Any]) -> float:
    """Cooldown after the latest move when the guest moved ``n`` times inside the lookback: base * growth^(n-1)."""
    if moves_in_lookback <= 0:
        return 0.0
    return s["automation.cooldown_minutes"] * 60 * s["automation.cooldown_growth"] ** (moves_in_lookback - 1)


def gate_cooldown(c: Candidate, f: Facts, s: Mapping[str, Any]) -> Verdict | None:
    if c.kind == "evacuation":
        return None
    lookback = f.now - s["automation.cooldown_lookback_hours"] * 3600
    mine = [m for m in f.moves if m.vmid == c.vmid and m.time >= lookback and m.state != "failed"]
    if not mine:
        return None
    wait = cooldown_seconds(len(mine), s)
    since = f.now - max(m.time for m in mine)
    if since < wait:
        return Verdict("cooldown", f"moved {len(mine)} time(s) in {s['automation.cooldown_lookback_hours']:g} h, "
                                   f"last {since / 60:.0f} min ago; cooldown {wait / 60:.0f} min")
    return None


def gate_no_return(c: Candidate, f: Facts, s: Mapping[str, Any]) -> Verdict | None:
    if c.kind == "evacuation":
        return None
    h = s["automation.no_return_hours"]
    left = [m for m in f.moves if m.vmid == c.vmid and m.source == c.target and m.state != "failed"
            and m.time >= f.now - h * 3600]
    if left:
        ago = (f.now - max(m.time for m in left)) / 3600
        return Verdict("no_return", f"guest left {c.target} {ago:.1f} h ago (automation.no_return_hours = {h:g})")
    return None


def gate_headroom(c: Candidate, f: Facts, s: Mapping[str, Any]) -> Verdict | None:
    """Live numbers: the target's current use + what this cycle already sends there + this guest."""
    node, g = f.snapshot.node(c.target), f.snapshot.guest(c.vmid)
    if node is None or g is None or node.maxcpu <= 0 or node.maxmem <= 0:
        return Verdict("headroom", f"no live data for target {c.target} or guest {c.vmid}")
    extra = f.added.get(c.target, [0.0, 0.0])
    cores = node.cpu * node.maxcpu + extra[0] + g.cpu * g.maxcpu
    mem = node.mem + extra[1] + g.mem
    cpu_pct, mem_pct = 100 * cores / node.maxcpu, 100 * mem / node.maxmem
    if cpu_pct > s["automation.target_max_cpu_percent"]:
        return Verdict("headroom", f"{c.target} CPU would be {cpu_pct:.1f}% > "
                                   f"{s['automation.target_max_cpu_percent']:g}% (live)")
    if mem_pct > s["automation.target_max_mem_percent"]:
        return Verdict("headroom", f"{c.target} memory would be {mem_pct:.1f}% > "
                                   f"{s['automation.target_max_mem_percent']:g}% (live)")
    return None


def gate_guest_present(c: Candidate, f: Facts, s: Mapping[str, Any]) -> Verdict | None:
    g = f.snapshot.guest(c.vmid)
    if g is None:
        return Verdict("guest_state", f"guest {c.vmid} is no longer in the cluster")
    if g.node != c.source:
        return Verdict("guest_state", f"guest {c.vmid} is on {g.node} now, not {c.source}")
    if g.lock:
        return Verdict("guest_state", f"guest {c.vmid} is locked ({g.lock})")
    return None


#: every gate, in the order they are reported (cycle-wide first)
GATES: tuple[Gate, ...] = (
    gate_enabled, gate_paused, gate_window, gate_blackout, gate_cluster_health, gate_crs, gate_maintenance,
    gate_guest_present, gate_tags, gate_ha, gate_confidence, gate_observation, gate_cooldown, gate_no_return,
    gate_headroom, gate_cluster_busy, gate_max_per_cycle,
)


def evaluate(c: Candidate, f: Facts, s: Mapping[str, Any], gates: tuple[Gate, ...] = GATES) -> list[Verdict]:
    """Every gate that stops ``c`` (empty = it may run). The first is the one recorded as the reason."""
    return [v for v in (gate(c, f, s) for gate in gates) if v is not None]
