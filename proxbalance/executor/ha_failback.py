"""Keeping the PVE HA manager from failing an evacuated guest back to the node being emptied.

PVE's HA manager moves a started service to the highest-priority node of its node-affinity rule in every CRM
round (Manager.pm next_state_started -> select_service_node). An HA guest whose rule ranks the node under
evacuation above its planned target would be migrated there and straight back. PVE's own answer is HA node
maintenance (``ha-manager crm-command node-maintenance enable NODE``), but that is a CLI command that writes
the CRM's command queue: pve-ha-manager (5.x, PVE 9) offers no REST API call for it, so ProxBalance cannot
set it. What the API does offer is the resource option ``failback`` (PUT /cluster/ha/resources/{sid}): with
it off, select_service_node keeps a service on its current node while that node is allowed. So for exactly
those guests ProxBalance switches ``failback`` off before moving them, records it in the session, and
switches it on again when ProxBalance maintenance of the node is cleared; the CRM then moves them back to
the node their rule prefers, as it would after PVE's own maintenance mode.
"""

from __future__ import annotations

from typing import Any

from proxbalance.model import HARule


def sid_of(guest_type: str, vmid: int) -> str:
    return f"{'vm' if guest_type == 'qemu' else 'ct'}:{vmid}"


def prefers_node(rules: list[HARule], sid: str, node: str, target: str) -> bool:
    """True when ``sid``'s node-affinity rule ranks ``node`` above ``target`` (a node a non-strict rule does
    not name ranks below every named one), i.e. HA would fail the guest back from ``target`` to ``node``."""
    for r in rules:
        if r.type != "node-affinity" or r.disabled or sid not in r.resources:
            continue
        pri = dict(r.nodes)
        if node not in pri:
            return False
        return pri[node] > pri.get(target, -1)
    return False


def at_risk(rules: list[HARule], resources: list[dict[str, Any]], sid: str, node: str, target: str) -> bool:
    """``prefers_node`` and the resource's ``failback`` is on (PVE's default)."""
    res = next((r for r in resources if r.get("sid") == sid), None)
    if res is None or not int(res.get("failback", 1)):
        return False
    return prefers_node(rules, sid, node, target)
