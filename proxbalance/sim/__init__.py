"""Simulated Proxmox VE cluster serving the real PVE API over HTTPS, with load replayed from real traces.

    from proxbalance.sim import SimServer
    with SimServer(scenario="demo", stepped=True) as sim:
        ...  # proxmoxer.ProxmoxAPI(sim.host, port=sim.port, user=sim.token_user, token_name=sim.token_name,
             #                     token_value=sim.token_value, verify_ssl=sim.ca_file)
"""

from proxbalance.sim.server import SimServer

__all__ = ["SimServer"]
