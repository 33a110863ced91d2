"""PVE's error answers: an HTTP status, a reason phrase carrying the message, and a JSON body."""

from __future__ import annotations


class PVEError(Exception):
    """A failed API call. ``message`` becomes the HTTP reason phrase and the body's ``message``."""

    def __init__(self, status: int, message: str, errors: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = errors


def param_error(errors: dict[str, str]) -> PVEError:
    """400 "Parameter verification failed." with per-parameter reasons, as PVE's schema validator answers."""
    return PVEError(400, "Parameter verification failed.", errors)


def no_such_node(node: str) -> PVEError:
    return PVEError(500, f"hostname lookup '{node}' failed - failed to get address info for: {node}: "
                         "Name or service not known")


def node_unreachable(node: str) -> PVEError:
    return PVEError(595, f"Connection refused - no route to host '{node}'")


def no_config(node: str, g_type: str, vmid: int) -> PVEError:
    d = "qemu-server" if g_type == "qemu" else "lxc"
    return PVEError(500, f"Configuration file 'nodes/{node}/{d}/{vmid}.conf' does not exist")


NO_QUORUM = "cluster not ready - no quorum?"
