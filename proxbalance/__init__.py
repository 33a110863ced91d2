"""ProxBalance: load balancing for Proxmox VE clusters."""

__version__ = "0.1.0"
