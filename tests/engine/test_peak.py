"""Peak phase, batched re-scoring and batched step records (hypothesis + hand-built cases)."""

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from proxbalance.engine import PenaltyConfig, build_arrays, plan
from proxbalance.engine.arrays import CPU, MEM
from proxbalance.engine.planner import Search
from proxbalance.engine.score import Scorer
from proxbalance.engine.state import State, View
from proxbalance.engine.steps import cells, replay
from proxbalance.engine.units import group_units

from .builders import make_guest, make_node, make_snapshot, random_history, random_snapshot
from .reference import ref_scores
from .test_planner_props import _replay

SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
sizes = dict(seed=st.integers(0, 2**32 - 1), n_nodes=st.integers(2, 6), n_guests=st.integers(1, 16))
# only the peak phase moves: the greedy bar is out of reach, thresholds low so the phase is active
# (load and balance terms off and a high bar: the greedy finds nothing; a huge peak weight carries the peak steps)
_LOAD_TERMS = ("pressure", "cpu_load", "mem_load", "predicted_cpu", "predicted_mem", "iowait", "sustained_cpu",
               "sustained_mem", "spikes_cpu", "spikes_mem", "trend_cpu", "trend_mem", "balance", "guest_count",
               "mem_overcommit")
PEAK_ONLY = {"min_score_improvement": 1000.0, "peak_weight": 1e4, "local_search": False, "cpu_threshold": 5.0,
             "mem_threshold": 5.0, "peak_min_step_pct": 0.01, "terms": {t: 0.0 for t in _LOAD_TERMS}}


def _case(seed, n_nodes, n_guests, **cfg):
    rng = np.random.default_rng(seed)
    snap = random_snapshot(rng, n_nodes, n_guests)
    hist = random_history(rng, snap)
    c = PenaltyConfig.from_dict(cfg)
    return snap, c, build_arrays(snap, hist, c)


def _peak(a, place):
    st = State(a)
    for g, t in enumerate(place):
        st.apply(g, int(t))
    live = a.online & ~a.maintenance
    if not live.any():
        return -np.inf
    u = st.n["blend"][live][:, [CPU, MEM]] / a.cap[live][:, [CPU, MEM]]
    return float(u.max())


@SETTINGS
@given(**sizes, limit=st.floats(60, 100), budget=st.integers(0, 5))
def test_peak_phase_steps_are_allowed_and_lower_the_peak(seed, n_nodes, n_guests, limit, budget):
    snap, cfg, a = _case(seed, n_nodes, n_guests, mem_limit_pct=limit, **PEAK_ONLY)
    p = plan(a, cfg, max_moves=budget)
    for cur, gi, t in _replay(a, cfg, p):
        _, allowed, _ = ref_scores(cur, cfg)
        assert allowed[gi][t], "a filtered cell was chosen"
        assert cur.n["now"][t, MEM] + a.mem_hard[gi] <= limit / 100 * a.cap[t, MEM] + 1e-6, "over the memory limit"
    by_id = {g.vmid: g for g in snap.guests}
    for r in p.recommendations:
        g = by_id[r.vmid]
        assert not {t.lower() for t in g.tags} & {"ignore", "pinned", "pin"} and g.status == "running"
    non_maint = [r for r in p.recommendations if r.reason not in ("maintenance", "companion")]
    assert not budget or len(non_maint) <= budget
    place = a.placement.copy()
    idx = {n: j for j, n in enumerate(a.node_names)}
    for r in p.recommendations:
        place[a.index_of(r.vmid)] = idx[r.target_node]
    if not a.maintenance.any():
        assert _peak(a, place) <= _peak(a, a.placement) + 1e-9, "the plan raised the peak"


@SETTINGS
@given(**sizes)
def test_full_plan_never_raises_the_peak(seed, n_nodes, n_guests):
    _, cfg, a = _case(seed, n_nodes, n_guests, min_score_improvement=1.0)
    p = plan(a, cfg)
    if not a.maintenance.any() and p.recommendations:
        assert p.batch_impact["after"]["peak_pct"] <= p.batch_impact["before"]["peak_pct"] + 0.01


def test_peak_phase_moves_what_the_greedy_would_not():
    """Two hot nodes and a cold one: with the greedy bar out of reach only the peak phase can act."""
    nodes = [make_node("a"), make_node("b"), make_node("c")]
    guests = [make_guest(100 + i, "a" if i < 4 else "b", cores=4, cpu=0.8, mem_gib=6) for i in range(7)]
    cfg = PenaltyConfig.from_dict(PEAK_ONLY)
    a = build_arrays(make_snapshot(nodes, guests), cfg=cfg)
    p = plan(a, cfg)
    assert p.recommendations and all(r.target_node == "c" for r in p.recommendations)
    assert p.batch_impact["after"]["peak_pct"] < p.batch_impact["before"]["peak_pct"]
    off = plan(a, cfg.replace(peak_search=False))
    assert off.recommendations == []


@settings(max_examples=25, deadline=None)
@given(**sizes, moves=st.lists(st.tuples(st.integers(0, 15), st.integers(0, 5)), min_size=1, max_size=6))
def test_apply_many_equals_one_apply_per_move(seed, n_nodes, n_guests, moves):
    _, cfg, a = _case(seed, n_nodes, n_guests)
    ua, _ = group_units(a)
    moves = [(u % ua.n_guests, t % ua.n_nodes) for u, t in moves]
    one, many = Search(ua, cfg, 0), Search(ua, cfg, 0)
    for u, t in moves:
        one.apply(u, t)
    many.apply_many(moves)
    assert np.allclose(one.S, many.S) and (one.F == many.F).all()
    assert np.array_equal(one.best_val, many.best_val) and np.allclose(one.S_src, many.S_src)
    assert one.order == many.order


@settings(max_examples=25, deadline=None)
@given(**sizes, moves=st.lists(st.tuples(st.integers(0, 15), st.integers(0, 5)), min_size=1, max_size=6))
def test_batched_step_records_equal_per_step_windows(seed, n_nodes, n_guests, moves):
    _, cfg, a = _case(seed, n_nodes, n_guests)
    ua, _ = group_units(a)
    seen, ordered = set(), []
    for u, t in moves:
        u, t = u % ua.n_guests, t % ua.n_nodes
        if u not in seen and t != ua.placement[u]:
            seen.add(u)
            ordered.append((u, t))
    if not ordered:
        return
    sc = Scorer(cfg)
    batched = {k: cells(x) for k, x in sc.breakdown(replay(ua, ordered).view).items()}
    st_ = State(ua)
    for k, (u, t) in enumerate(ordered):
        s = int(st_.cur[u])
        per = sc.breakdown(View(st_, np.array([u]), np.array([s, t])))
        for name, x in per.items():
            assert np.allclose(batched[name][k], x[0], rtol=1e-9, atol=1e-6), (name, k)
        st_.apply(u, t)


@SETTINGS
@given(**sizes, limit=st.floats(40, 90), budget=st.integers(0, 5))
def test_peak_steps_pass_the_filters_in_the_search(seed, n_nodes, n_guests, limit, budget):
    """Checked where the phase moves (the execution order would otherwise hide a bad pick by dropping it)."""
    from proxbalance.engine import peak

    _, cfg, a = _case(seed, n_nodes, n_guests, mem_limit_pct=limit, **PEAK_ONLY)
    ua, _ = group_units(a)
    s = Search(ua, cfg, budget)
    sc, checked = Scorer(cfg), []
    real = peak.PeakRun.move

    def move(self, u, t):
        v = View(self.st, np.array([u]), np.arange(ua.n_nodes))
        # sending a planned unit home cancels its move (the guest never leaves; its home may be off an HA rule)
        home = t == self.st.orig[u] != self.st.cur[u]
        assert (home or sc.allowed(v)[0, t]) and t != self.st.cur[u], "a filtered cell was chosen"
        assert ua.skip[u] == "", "an immovable guest moved"
        checked.append(u)
        real(self, u, t)

    peak.PeakRun.move = move
    try:
        peak.peak_phase(s, cfg.peak_min_step_pct, 50)
    finally:
        peak.PeakRun.move = real
    assert not budget or int((s.st.cur != s.st.orig).sum()) <= budget
