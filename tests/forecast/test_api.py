"""Forecast alerts, score history, workload patterns and diagnostics over the real stack (simulator)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from proxbalance.api import create_app
from proxbalance.collector import collect_once
from proxbalance.sim import SimServer
from proxbalance.store import Store
from proxbalance.store.keys import create_key
from proxbalance.store.snapshots import latest_snapshot
from tests.collector.conftest import sim_settings
from tests.sim.conftest import admin

NODE = "pve3"  # 16 cores, about 30 % CPU in the demo scenario at the start


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """Demo sim with 8 days of backfilled history; then pve3's guests are driven to full CPU for 3 hours."""
    with SimServer(scenario="demo", seed=0, stepped=True) as sim:
        settings = sim_settings(sim, tmp_path_factory.mktemp("fc") / "data", **{"collection.backfill": True})
        store = Store.open(settings)
        collect_once(settings, store, now=sim.now())
        app = create_app(settings, store, clock=sim.now)
        client = app.test_client()
        key = create_key(store.engine, "fc", "admin")[1]
        h = {"X-API-Key": key}
        before = client.get("/api/recommendations/forecasts", headers=h).get_json()
        snap = latest_snapshot(store.engine)
        for g in snap.guests:
            if g.node == NODE and g.status == "running":
                admin(sim, "POST", f"guests/{g.vmid}/spike", cpu=1.0, duration=12 * 3600)
        for _ in range(18):  # 3 hours, a collection every 10 minutes
            admin(sim, "POST", "advance", seconds=600)
            collect_once(settings, store, now=sim.now())
        yield {"client": client, "h": h, "before": before, "sim": sim, "settings": settings, "store": store}
        store.close()


def test_alert_fires_for_the_node_driven_over_its_threshold(stack):
    c, h = stack["client"], stack["h"]
    assert not [a for a in stack["before"]["forecasts"] if a["node"] == NODE and a["severity"] != "info"]
    j = c.get(f"/api/recommendations/forecasts?node={NODE}&metric=cpu", headers=h).get_json()
    assert j["success"] and j["count"] >= 1
    a = j["forecasts"][0]
    assert a["node"] == NODE and a["metric"] == "cpu" and a["severity"] in ("critical", "warning")
    assert a["exceeds_by_pct"] > 0 and a["predicted_peak_pct"] > a["threshold_pct"] == 60.0
    assert 0.5 < a["probability"] <= 1.0 and a["band_80_pct"][0] <= a["predicted_peak_pct"] <= a["band_80_pct"][1]
    assert a["crosses_at"].endswith("Z") and a["hours_until"] >= 0
    series = j["node_forecasts"][NODE]["cpu"]
    assert len(series["mean_pct"]) == 48 and list(j["node_forecasts"]) == [NODE]
    assert max(series["hi_pct"]) <= 100.0 and a["band_80_pct"][1] <= 100.0
    # filters
    only = c.get("/api/recommendations/forecasts?severity=info", headers=h).get_json()
    assert all(x["severity"] == "info" for x in only["forecasts"])
    mem = c.get("/api/recommendations/forecasts?metric=memory", headers=h).get_json()
    assert all(x["metric"] == "memory" for x in mem["forecasts"])


def test_node_forecasts_stop_at_100_pct_and_guests_do_not():
    """A node's measured CPU never exceeds 100 %: neither do its forecast and band. A node near full load
    with noise has an uncut upper band above 100 %; the service's node forecast cuts it, a guest's does not
    (a VM's CPU can exceed its vCPUs a little)."""
    from proxbalance.engine.forecast import NODE_PARAMS, forecast
    from proxbalance.forecasts import Hourly, forecast_both

    rng = np.random.default_rng(3)
    y = np.clip(93.0 + rng.normal(0.0, 4.0, (2, 24 * 21)), 0.0, 100.0)
    assert forecast(y, 0, 48, NODE_PARAMS).hi.max() > 100.0  # uncut
    h = Hourly(["a", "b"], {"cpu": y, "memory": y[::-1].copy()}, 24 * 21)
    node, guest = forecast_both(h, 48, "node"), forecast_both(h, 48, "guest")
    for m in ("cpu", "memory"):
        assert node[m].hi.max() == 100.0 and node[m].mean.max() <= 100.0
        assert guest[m].hi.max() > 100.0


def test_a_100_pct_threshold_alerts_on_a_node_forecast_to_saturate():
    """Forecasts stop at 100 %: a node whose CPU climbs towards full must still reach a 100 % threshold,
    a quiet one must not."""
    from proxbalance.config import load_settings
    from proxbalance.forecasts import Hourly, alerts, forecast_both
    from tests.engine.builders import make_node, make_snapshot

    rng = np.random.default_rng(4)
    T = 24 * 21
    climbing = 40.0 + 58.0 * np.arange(T) / T + rng.normal(0.0, 0.5, T)  # ~98 % now, rising ~2.8 points a day
    quiet = 30.0 + rng.normal(0.0, 2.0, T)
    h = Hourly(["hot", "calm"], {"cpu": np.stack([climbing, quiet]), "memory": np.stack([quiet, quiet])}, T)
    fc = {"hourly": h, **forecast_both(h, 48, "node")}
    assert fc["cpu"].mean[0].max() == 100.0  # the climb goes on beyond 100 %: cut at the cap
    snap = make_snapshot([make_node("hot", cpu=0.98), make_node("calm", cpu=0.3)], [], fill=False)
    found = alerts(load_settings(env={}), fc, snap, {"cpu": 100.0, "memory": 100.0}, now=T * 3600.0)
    assert [(a["node"], a["metric"]) for a in found] == [("hot", "cpu")]
    assert found[0]["severity"] in ("critical", "warning") and found[0]["predicted_peak_pct"] == 100.0


def test_probability_reads_a_band_cut_at_100_pct_from_its_lower_half():
    from proxbalance.forecasts import Z80, _prob_above

    # mean 95, lower band 85: sigma = 10 / Z80 whether the upper band was 105 (uncut) or cut to 100
    assert _prob_above(95.0, 85.0, 100.0, 90.0) == pytest.approx(_prob_above(95.0, 85.0, 105.0, 90.0))
    assert _prob_above(95.0, 85.0, 100.0, 90.0) == pytest.approx(0.5 * (1 + math.erf(5 / (10 / Z80) / math.sqrt(2))))
    assert _prob_above(60.0, 50.0, 70.0, 60.0) == pytest.approx(0.5)  # uncut: the band's half-width


@pytest.mark.parametrize("query, field", [("severity=bad", "severity"), ("metric=disk", "metric"),
                                          ("node=bad%20name", "node"), ("extra=1", "extra")])
def test_forecast_filters_are_validated(stack, query, field):
    r = stack["client"].get(f"/api/recommendations/forecasts?{query}", headers=stack["h"])
    assert r.status_code == 400 and r.get_json()["error"]["details"]["field"] == field


def test_unknown_node_is_404(stack):
    c, h = stack["client"], stack["h"]
    for path in ("/api/recommendations/forecasts?node=nope", "/api/score-history?node=nope",
                 "/api/workload-patterns?node=nope"):
        assert c.get(path, headers=h).status_code == 404


def test_score_history_records_collections_and_runs(stack):
    c, h = stack["client"], stack["h"]
    run = c.post("/api/recommendations", json={}, headers=h).get_json()
    j = c.get("/api/score-history?hours=6", headers=h).get_json()
    sources = [p["source"] for p in j["history"]]
    assert sources.count("collection") == 19 and sources[-1] == "recommendation"
    last = j["history"][-1]
    assert last["run_id"] == run["run_id"] and last["after_peak_pct"] is not None
    assert {n["node"] for n in last["nodes"]} == {"pve1", "pve2", "pve3", "pve4", "pve5"}
    hot = [n for n in j["history"][-2]["nodes"] if n["node"] == NODE][0]
    assert hot["cpu_pct"] > 60 and hot["score"] == pytest.approx(100 - max(hot["cpu_pct"], hot["mem_pct"]), abs=0.01)
    one = c.get(f"/api/score-history?hours=6&node={NODE}", headers=h).get_json()
    assert one["count"] == j["count"] and all([n["node"] for n in p["nodes"]] == [NODE] for p in one["history"])
    assert c.get("/api/score-history?hours=0", headers=h).status_code == 400
    # profiles are shown with each recommendation and used in confidence and risk
    rec = run["recommendations"][0]
    assert "guest_profile" in rec and "profile_adjustment" in rec
    assert rec["guest_profile"]["profile"] in ("steady", "daily_cycle", "bursty", "growing")


def test_workload_patterns(stack):
    c, h = stack["client"], stack["h"]
    j = c.get("/api/workload-patterns", headers=h).get_json()
    assert j["hours"] == 168 and j["count"] == 5
    n = j["nodes"][0]
    for m in ("cpu", "memory"):
        assert set(n[m]) >= {"daily_cycle", "weekly_cycle", "bursts", "trend", "profile"}
        assert len(n[m]["daily_cycle"]["hourly_profile_pct"]) == 24
    assert len(n["recommended_migration_windows"]) == 3
    hot = c.get(f"/api/workload-patterns?node={NODE}&hours=48", headers=h).get_json()["nodes"][0]
    assert hot["cpu"]["trend"]["slope_pct_per_day"] > 0  # the last hours were driven up
    assert c.get("/api/workload-patterns?hours=5", headers=h).status_code == 400


def test_diagnostics_show_the_last_backtest(stack):
    d = stack["client"].get("/api/recommendations/diagnostics", headers=stack["h"]).get_json()["diagnostics"]
    bt = d["forecast_backtest"]
    assert bt is not None and bt["nodes"]["origins"] >= 1
    assert bt["nodes"]["cpu"]["h1"]["points"] > 0 and bt["nodes"]["cpu"]["h24"]["mae_pct"] is not None
    assert "guests_evaluated" in d  # the rest of the diagnostics is still there


def test_forecast_critical_is_notified_once_per_block(stack):
    """The node driven over its threshold is sent to a local apprise json:// endpoint, once per key."""
    from proxbalance import forecast_api, forecasts, recommendations
    from tests.automation.servers import HttpReceiver

    http = HttpReceiver()
    try:
        s = stack["settings"].replace(notifications__enabled=True, notifications__urls=[http.url()],
                                      notifications__events=["forecast_critical"])
        store, now = stack["store"], stack["sim"].now()
        j = forecast_api.forecast_alerts(s, store, now)
        crit = [a for a in j["forecasts"] if a["severity"] == "critical"]
        assert (NODE, "cpu") in [(a["node"], a["metric"]) for a in crit]
        assert len(http.received) == len(crit)  # one message per critical node and metric
        payload = next(p for _, _, p in http.received if p["title"] == f"ProxBalance: {NODE} CPU forecast critical")
        a = next(a for a in crit if a["node"] == NODE and a["metric"] == "cpu")
        for text in (f"forecast to reach {a['predicted_peak_pct']:.1f}%", "Threshold 60%",
                     f"probability {a['probability'] * 100:.0f}%"):
            assert text in payload["message"], text
        # a recommendation run and another GET in the same block: the key is taken, nothing more is sent
        recommendations.generate(s, store, save=False)
        forecast_api.forecast_alerts(s, store, now + 60)
        assert len(http.received) == len(crit)
        # the next block of forecast.critical_hours notifies again while the node is still critical
        later = now + s["forecast.critical_hours"] * 3600
        assert [x["delivered"] for x in forecasts.notify_critical(s, store, crit, later)] == [1] * len(crit)
        assert len(http.received) == 2 * len(crit)
    finally:
        http.close()
