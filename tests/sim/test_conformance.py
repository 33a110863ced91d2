"""Conformance: every endpoint the simulator serves, walked over HTTPS, held against the field reference
(proxbalance/sim/reference/fields.json), and the reference held against PVE's own API schema."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import requests

from proxbalance.sim import SimServer, reference
from proxbalance.sim.routing import ROUTES
from tests.sim.conftest import admin
from tests.sim.test_ha import HA

TF = ("hour", "day", "week", "month", "year", "decade")
SCHEMA = json.loads((Path(__file__).resolve().parent / "data" / "pve-api-returns.json").read_text())["returns"]
OWNED_ELSEWHERE = ("/access/",)  # proxbalance/sim/api_access.py (its own reference and tests)


def route_keys() -> set[str]:
    out = set()
    for method, rx, _, _ in ROUTES:
        path = re.sub(r"\(\?P<(\w+)>\[\^/\]\+\)", r"{\1}", rx.pattern.strip("^$"))
        if not path.startswith(OWNED_ELSEWHERE):
            out.add(f"{method} {path}")
    return out


class Walker:
    """Calls endpoints with a plain requests session and checks each answer against the reference."""

    def __init__(self, sim: SimServer):
        self.sim = sim
        self.s = requests.Session()
        self.s.trust_env = False
        self.s.verify = sim.ca_file
        self.s.headers["Authorization"] = f"PVEAPIToken={sim.token}"
        self.hit: dict[str, int] = {}
        self.timeframes_done: set[tuple[str, str]] = set()  # (guest type, status) with every timeframe read
        self.problems: list[str] = []

    def call(self, method: str, key_path: str, params: dict | None = None, **path):
        r = self.s.request(method, self.sim.api_url + key_path.format(**path),
                           params=params if method == "GET" else None,
                           data=params if method != "GET" else None, timeout=30)
        assert r.status_code == 200, (method, key_path, path, r.status_code, r.text[:300])
        data = r.json()["data"]
        key = f"{method} {key_path}"
        self.hit[key] = self.hit.get(key, 0) + 1
        spec = reference.endpoints()[key]["returns"]
        self.problems += [f"{key} {path} {params or ''}: {p}" for p in reference.check(spec, data)][:5]
        return data

    def get(self, key_path: str, params: dict | None = None, **path):
        return self.call("GET", key_path, params, **path)

    def reads(self, every_timeframe: bool = True, guests: bool = True) -> None:
        """GET every endpoint; rrddata in every timeframe and cf (two nodes, a guest of each type and
        status) unless ``every_timeframe`` is off."""
        g = self.get
        tfs = TF if every_timeframe else ("hour",)
        g("/version")
        nodes = g("/nodes")
        vms = g("/cluster/resources", {"type": "vm"})
        for typ in (None, "vm", "node", "storage", "sdn"):
            g("/cluster/resources", {"type": typ} if typ else None)
        for k, n in enumerate(x["node"] for x in nodes if x["status"] == "online"):
            for sub in ("", "/subscription", "/replication", "/status", "/version", "/qemu", "/lxc", "/storage"):
                g("/nodes/{node}" + sub, node=n)
            g("/nodes/{node}/tasks", {"source": "all"}, node=n)
            for tf in tfs if k < 2 else ("hour",):  # every timeframe on two nodes
                for cf in ("AVERAGE", "MAX"):
                    g("/nodes/{node}/rrddata", {"timeframe": tf, "cf": cf}, node=n)
        buckets: dict[tuple, int] = {}  # a few guests of every kind: type, status, HA, lock, pool, tags
        for v in vms if guests else ():
            if v["status"] == "unknown":
                continue
            b = (v["type"], v["status"], "hastate" in v, "lock" in v, "pool" in v, "tags" in v, v["template"])
            buckets[b] = buckets.get(b, 0) + 1
            if buckets[b] > 1:
                continue
            args = {"node": v["node"], "vmid": v["vmid"]}
            base = "/nodes/{node}/" + v["type"] + "/{vmid}"
            for sub in ("/status/current", "/config"):
                g(base + sub, **args)
            if not v.get("lock"):
                g(base + "/migrate", **args)
            g(base + "/rrddata", {"timeframe": "hour"}, **args)
        for kind in ("qemu", "lxc"):  # every timeframe for one running and one stopped guest of each type
            for status in ("running", "stopped"):
                v = next((x for x in vms if x["type"] == kind and x["status"] == status), None)
                if v and (kind, status) not in self.timeframes_done:
                    self.timeframes_done.add((kind, status))
                    for tf in TF:
                        for cf in ("AVERAGE", "MAX"):
                            g("/nodes/{node}/" + kind + "/{vmid}/rrddata", {"timeframe": tf, "cf": cf},
                              node=v["node"], vmid=v["vmid"])
        online = {x["node"] for x in nodes if x["status"] == "online"}
        for t in [t for t in g("/cluster/tasks") if t["node"] in online][:12]:
            g("/nodes/{node}/tasks/{upid}/status", node=t["node"], upid=t["upid"])
            g("/nodes/{node}/tasks/{upid}/log", {"limit": 1000}, node=t["node"], upid=t["upid"])
        for key in ("/cluster/status", "/cluster/options", "/cluster/nextid", "/cluster/backup",
                    "/cluster/backup-info/not-backed-up", "/cluster/ha/resources", "/cluster/ha/status/current",
                    "/cluster/ha/status/manager_status", "/cluster/ha/rules", "/cluster/ha/groups", "/pools",
                    "/storage"):
            g(key)
        for r in g("/cluster/ha/resources"):
            g("/cluster/ha/resources/{sid}", sid=r["sid"])
        for p in g("/pools"):
            g("/pools/{poolid}", poolid=p["poolid"])


def _writes(w: Walker) -> None:
    """One of every write, on the HA scenario; the reads then also see tasks, locks and HA states."""
    c = w.call
    for kind, vmid, node in (("qemu", 200, "h1"), ("lxc", 210, "h2")):
        base = "/nodes/{node}/" + kind + "/{vmid}"
        c("PUT", base + "/config", {"tags": "conformance"}, node=node, vmid=vmid)
        upid = c("POST", base + "/status/shutdown", {}, node=node, vmid=vmid)
        c("DELETE", "/nodes/{node}/tasks/{upid}", node=node, upid=upid)
        c("POST", base + "/status/stop", {}, node=node, vmid=vmid)
        w.sim.advance(3)
        c("POST", base + "/status/start", {}, node=node, vmid=vmid)
        w.sim.advance(3)
    c("POST", "/nodes/{node}/qemu/{vmid}/status/stop", {}, node="h1", vmid=205)
    c("PUT", "/cluster/options", {"keyboard": "de"})
    c("POST", "/nodes/{node}/qemu/{vmid}/migrate", {"target": "h3", "online": 1}, node="h1", vmid=201)
    c("POST", "/nodes/{node}/lxc/{vmid}/migrate", {"target": "h3", "restart": 1}, node="h2", vmid=210)
    c("POST", "/nodes/{node}/lxc/{vmid}/migrate", {"target": "h3", "restart": 1}, node="h4", vmid=208)
    c("POST", "/nodes/{node}/qemu/{vmid}/migrate", {"target": "h1", "online": 1}, node="h4", vmid=207)
    c("POST", "/cluster/ha/resources/{sid}/migrate", {"node": "h4"}, sid="vm:203")
    c("POST", "/cluster/ha/resources/{sid}/relocate", {"node": "h2"}, sid="vm:202")
    c("PUT", "/cluster/ha/resources/{sid}", {"failback": 0}, sid="vm:206")


@pytest.fixture(scope="module")
def walked():
    """The demo cluster, then the HA cluster mid-migration and with a node being fenced."""
    walkers = []
    with SimServer(scenario="demo", seed=0, stepped=True) as sim:
        w = Walker(sim)
        w.reads()
        walkers.append(w)
    with SimServer(scenario=HA, seed=0, stepped=True) as sim:
        done = w.timeframes_done
        w = Walker(sim)
        w.timeframes_done = done
        _writes(w)
        sim.advance(7)
        w.reads(every_timeframe=False)
        admin(sim, "POST", "nodes/h4/offline")
        sim.advance(90)
        w.reads(every_timeframe=False, guests=False)
        walkers.append(w)
    return walkers


def test_every_route_has_a_reference_entry():
    keys = route_keys()
    ref = set(reference.endpoints())
    assert keys - ref == set(), "served but not in fields.json"
    assert ref - keys == set(), "in fields.json but not served"


def test_every_answer_conforms(walked):
    problems = [p for w in walked for p in w.problems]
    assert problems == [], "\n".join(problems[:40])


def test_walk_covers_every_endpoint(walked):
    hit = set().union(*(w.hit for w in walked))
    assert route_keys() - hit == set()


def test_reference_rejects_what_pve_would_not_send():
    """The checker itself: a missing field, an unknown field, a wrong type, a JSON bool all fail."""
    spec = reference.endpoints()["GET /nodes"]["returns"]
    good = {"id": "node/a", "type": "node", "node": "a", "status": "online", "cpu": 0.5, "maxcpu": 4}
    assert reference.check(spec, [good]) == []
    assert reference.check(spec, [{k: v for k, v in good.items() if k != "id"}]) == ["$[0].id: missing"]
    assert reference.check(spec, [{**good, "cgroup-mode": 2}]) == ["$[0].cgroup-mode: not in the reference"]
    assert reference.check(spec, [{**good, "maxcpu": "4"}])[0].startswith("$[0].maxcpu: expected integer")
    qm = reference.endpoints()["GET /nodes/{node}/qemu/{vmid}/migrate"]["returns"]
    assert any("running" in p for p in reference.check(qm, {"running": True}))


SCHEMA_TYPES = {"integer": {"integer", "boolean"}, "number": {"number", "integer"}, "string": {"string"},
                "boolean": {"boolean"}, "array": {"array"}, "object": {"object"}}


def _kind(spec) -> str:
    if isinstance(spec, list):
        return "array"
    if isinstance(spec, dict):
        return "object"
    return spec


def _schema_props(ret: dict) -> dict | None:
    if ret.get("type") == "array":
        ret = ret.get("items", {})
    return ret.get("properties") or None


def _ref_fields(spec) -> list[dict]:
    if isinstance(spec, list):
        spec = spec[0]
    if not isinstance(spec, dict):
        return []
    if "$by" in spec:
        return [v for k, v in spec.items() if k != "$by"]
    return [spec]


@pytest.mark.parametrize("key", sorted(k for k in SCHEMA if k in reference.endpoints()))
def test_reference_agrees_with_pve_schema(key):
    """Where PVE's schema lists fields, the reference's types agree and its mandatory fields are required."""
    props = _schema_props(SCHEMA[key])
    if not props:
        return
    for fields in _ref_fields(reference.endpoints()[key]["returns"]):
        names = {k.rstrip("?"): (v, not k.endswith("?")) for k, v in fields.items() if k[:1] not in "*~"}
        for name, schema in props.items():
            if name not in names:
                assert schema.get("optional"), f"{key}: mandatory '{name}' missing from the reference"
                continue
            spec, required = names[name]
            want = schema.get("type")
            if want in SCHEMA_TYPES and _kind(spec) != "any":
                assert _kind(spec) in SCHEMA_TYPES[want], f"{key}.{name}: {spec} vs schema {want}"
            if not schema.get("optional"):
                assert required, f"{key}.{name} is mandatory in PVE's schema"
