"""Static checks of a Proxmox host a request asks us to use (change-host, validate-token, import).

Every address the name resolves to must be a unicast address that is not link-local, multicast, unspecified,
broadcast or reserved, and not a cloud metadata address — whatever ``proxmox.allowed_networks`` says. Loopback
addresses (``localhost``) are allowed only when an allowed network contains them. When
``proxmox.allowed_networks`` is non-empty, every resolved address must lie in one of those networks.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Iterable

from proxbalance.errors import ValidationError

#: cloud instance metadata services (AWS/GCP/Azure/OpenStack, AWS IPv6, Alibaba)
METADATA = frozenset(ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200"))
_HOSTNAME = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                       r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$")


def _fail(host: str, reason: str, **details) -> ValidationError:
    return ValidationError(f"refusing Proxmox host {host!r}: {reason}", code="host_not_allowed",
                           details={"field": "host", "host": host, **details})


def resolve(host: str) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    try:
        return [ipaddress.ip_address(host.strip("[]"))]
    except ValueError:
        pass
    if not _HOSTNAME.match(host):
        raise _fail(host, "not a valid host name or IP address")
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except OSError as exc:
        raise _fail(host, f"the name does not resolve ({exc.strerror or exc})") from None
    return sorted({ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos}, key=str)


def check_host_static(host: str, allowed_networks: Iterable[str] = ()) -> list[str]:
    """Raise a 400 naming the reason, or return the resolved addresses."""
    if not host or len(host) > 253:
        raise _fail(host, "empty or too long")
    nets = []
    for text in allowed_networks:
        try:
            nets.append(ipaddress.ip_network(text, strict=False))
        except ValueError:
            raise ValidationError(f"invalid setting 'proxmox.allowed_networks': {text!r} is not a network",
                                  details={"key": "proxmox.allowed_networks"}) from None
    addresses = resolve(host)
    for ip in addresses:
        mapped = getattr(ip, "ipv4_mapped", None)
        ip4 = mapped or ip
        if ip4 in METADATA or ip in METADATA:
            raise _fail(host, f"{ip} is a cloud metadata address", address=str(ip))
        if ip4.is_link_local:
            raise _fail(host, f"{ip} is a link-local address", address=str(ip))
        if ip4.is_multicast:
            raise _fail(host, f"{ip} is a multicast address", address=str(ip))
        if ip4.is_unspecified or ip4.is_reserved or (ip4.version == 4 and ip4 == ipaddress.ip_address(
                "255.255.255.255")):
            raise _fail(host, f"{ip} is not a unicast host address", address=str(ip))
        inside = any(ip4 in n for n in nets if n.version == ip4.version)
        if ip4.is_loopback and not inside:
            raise _fail(host, f"resolves to the loopback address {ip}, which proxmox.allowed_networks does "
                        "not allow", address=str(ip))
        if nets and not inside:
            raise _fail(host, f"resolves to {ip}, outside proxmox.allowed_networks "
                        f"({', '.join(map(str, nets))})", address=str(ip))
    return [str(a) for a in addresses]
