"""Validate a URL the server is asked to connect to (an AI provider's ``base_url``, a Proxmox host, ...).

Rules: scheme ``http`` or ``https``; a host; no user:password part; no fragment. The host — an address or
every address a name resolves to — must not be link-local (169.254.0.0/16 holds the cloud metadata
services; fe80::/10), multicast, unspecified (0.0.0.0, ::), broadcast or reserved; the well-known
metadata names and addresses are refused by name too. Loopback and private addresses are allowed by
default, because a local Ollama or an LM Studio on the LAN is the normal case; pass ``allow_private=False``
to refuse them as well.

A name that does not resolve is refused (we cannot say where it points). The check is made once, before
connecting: a name whose DNS answer changes between the check and the connection (rebinding) is not
caught here.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from proxbalance.errors import ValidationError

METADATA_HOSTS = frozenset({"metadata", "metadata.google.internal", "metadata.goog", "instance-data",
                            "instance-data.ec2.internal", "metadata.azure.internal"})
METADATA_ADDRESSES = frozenset(ipaddress.ip_address(a) for a in (
    "169.254.169.254", "169.254.170.2", "100.100.100.200", "fd00:ec2::254", "192.0.0.192"))


class UnsafeURLError(ValidationError):
    code = "unsafe_url"


def address_problem(addr: ipaddress.IPv4Address | ipaddress.IPv6Address, *, allow_private: bool = True) -> str:
    """Why the server must not connect to ``addr`` ("" when it may)."""
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    if addr in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if addr.is_link_local:
        return "a link-local address"
    if addr.is_multicast:
        return "a multicast address"
    if addr.is_unspecified:
        return "the unspecified address"
    if isinstance(addr, ipaddress.IPv4Address) and addr == ipaddress.IPv4Address("255.255.255.255"):
        return "the broadcast address"
    if addr.is_reserved and not addr.is_loopback:  # ::1 sits in the reserved ::/8
        return "a reserved address"
    if not allow_private and (addr.is_private or addr.is_loopback):
        return "a private or loopback address"
    return ""


def check_url(url: str, *, field: str = "base_url", allow_private: bool = True, resolve: bool = True) -> str:
    """Return ``url`` without a trailing slash if it is safe to connect to; raise :class:`UnsafeURLError`."""

    def bad(reason: str) -> UnsafeURLError:
        return UnsafeURLError(f"{field} {reason}", details={"field": field})

    if not isinstance(url, str) or not url.strip() or len(url) > 2000:
        raise bad("must be a non-empty URL of at most 2000 characters")
    url = url.strip()
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise bad(f"is not a valid URL: {exc}") from None
    if parts.scheme not in ("http", "https"):
        raise bad("must start with http:// or https://")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise bad("must not contain a user name or password")
    if parts.fragment:
        raise bad("must not contain a fragment (#...)")
    host = (parts.hostname or "").rstrip(".").lower()
    if not host:
        raise bad("has no host")
    if host in METADATA_HOSTS:
        raise bad(f"points at {host}, a cloud metadata service")
    try:
        addrs = [ipaddress.ip_address(host)]
    except ValueError:
        addrs = _resolve(host, port or (443 if parts.scheme == "https" else 80), bad) if resolve else []
    for addr in addrs:
        problem = address_problem(addr, allow_private=allow_private)
        if problem:
            raise bad(f"points at {addr}, {problem}")
    return url.rstrip("/")


def _resolve(host: str, port: int, bad) -> list:
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError):
        raise bad(f"host {host!r} does not resolve") from None
    return [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]
