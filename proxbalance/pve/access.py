"""Proxmox access control calls: connect with given credentials, recognise a PVE API, manage ProxBalance's token.

Calls go through :class:`PveClient` (one path for auth, TLS, timeouts, errors), except :func:`looks_like_pve`,
which asks ``/api2/json/version`` WITHOUT credentials so a host that is not a PVE API never sees a secret.
"""

from __future__ import annotations

from typing import Any

import requests

from proxbalance.config import Settings
from proxbalance.errors import UpstreamError, ValidationError
from proxbalance.pve.client import PveClient, _verify

TOKEN_PATH = "/access/users/{userid}/token/{tokenid}"


def client_for(settings: Settings, *, host: str | None = None, port: int | None = None,
               token_id: str | None = None, token_secret: str | None = None, username: str | None = None,
               password: str | None = None, timeout: float | None = None) -> PveClient:
    """A client for ``settings`` with some connection values replaced (credentials replace each other)."""
    over: dict[str, Any] = {"proxmox__retries": 0}
    if host is not None:
        over["proxmox__host"] = host
    if port is not None:
        over["proxmox__port"] = port
    if token_id is not None:
        over.update(proxmox__token_id=token_id, proxmox__token_secret=token_secret or "",
                    proxmox__username="", proxmox__password="")
    elif username is not None:
        over.update(proxmox__token_id="", proxmox__token_secret="", proxmox__username=username,
                    proxmox__password=password or "")
    if timeout is not None:
        over["proxmox__timeout"] = timeout
    return PveClient(settings.replace(**over))


def looks_like_pve(settings: Settings, host: str, port: int, timeout: float = 5.0) -> dict[str, Any]:
    """Ask ``https://host:port/api2/json/version`` without credentials; raise a 400 unless PVE answers.

    PVE answers 401 with ``Server: pve-api-daemon/...`` and a JSON body ``{"data": null, ...}``.
    """
    url = f"https://{host if ':' not in host else '[' + host + ']'}:{port}/api2/json/version"
    try:
        resp = requests.get(url, verify=_verify(settings), timeout=timeout, allow_redirects=False)
    except requests.exceptions.SSLError:
        raise ValidationError(f"{host}:{port} failed TLS verification (the cluster CA in proxmox.ca_file must "
                              "sign its certificate)", code="host_not_pve", details={"field": "host"}) from None
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise ValidationError(f"{host}:{port} could not be reached over HTTPS ({type(exc).__name__})",
                              code="host_unreachable", details={"field": "host"}) from None
    server = resp.headers.get("Server", "")
    try:
        body = resp.json()
    except ValueError:
        body = None
    if "pve-api-daemon" not in server or not isinstance(body, dict) or "data" not in body \
            or resp.status_code not in (200, 401):
        raise ValidationError(f"{host}:{port} is not a Proxmox VE API (HTTP {resp.status_code}, "
                              f"server {server[:40]!r})", code="host_not_pve", details={"field": "host"})
    return {"status_code": resp.status_code, "server": server}


def inspect_token(client: PveClient) -> dict[str, Any]:
    """``/version`` and ``/access/permissions`` of whoever ``client`` authenticates as."""
    version = client.version()
    if "version" not in version:
        raise UpstreamError(f"{client.target} answered /version without a version: not a Proxmox VE API")
    return {"version": version, "permissions": client.permissions()}


def split_token_id(token_id: str) -> tuple[str, str]:
    user, sep, name = token_id.partition("!")
    if not sep or "@" not in user or not name:
        raise ValidationError(f"token id must be USER@REALM!TOKENNAME, got {token_id!r}",
                              details={"field": "token_id"})
    return user, name


def token_info(client: PveClient, token_id: str) -> dict[str, Any] | None:
    """The token's ``{privsep, expire, comment?}``, or None when it does not exist."""
    from proxbalance.pve.client import PveApiError

    userid, tokenid = split_token_id(token_id)
    try:
        return client.get(TOKEN_PATH, userid=userid, tokenid=tokenid)
    except PveApiError as exc:
        if "no such token" in exc.message or "no such user" in exc.message or exc.status_code == 404:
            return None
        raise


def user_exists(client: PveClient, userid: str) -> bool:
    from proxbalance.pve.client import PveApiError

    try:
        client.get("/access/users/{userid}", userid=userid)
        return True
    except PveApiError as exc:
        if "no such user" in exc.message or exc.status_code == 404:
            return False
        raise


def create_user(client: PveClient, userid: str, comment: str) -> None:
    client.call("POST", "/access/users", {"userid": userid, "comment": comment})


def create_token(client: PveClient, token_id: str, privsep: bool, comment: str) -> str:
    """Create the token; returns its secret (PVE shows it only here)."""
    userid, tokenid = split_token_id(token_id)
    res = client.call("POST", TOKEN_PATH, {"privsep": int(privsep), "comment": comment},
                      userid=userid, tokenid=tokenid) or {}
    return str(res["value"])


def regenerate_token(client: PveClient, token_id: str) -> str:
    """A new secret for an existing token (the old one stops working at once)."""
    userid, tokenid = split_token_id(token_id)
    res = client.call("PUT", TOKEN_PATH, {"regenerate": 1}, userid=userid, tokenid=tokenid) or {}
    return str(res["value"])


def delete_token(client: PveClient, token_id: str) -> None:
    userid, tokenid = split_token_id(token_id)
    client.call("DELETE", TOKEN_PATH, userid=userid, tokenid=tokenid)


def acl_entries(client: PveClient, token_id: str) -> list[dict[str, Any]]:
    """ACL entries for the token and its user."""
    userid = split_token_id(token_id)[0]
    return [e for e in (client.get("/access/acl") or []) if e.get("ugid") in (token_id, userid)]


def grant(client: PveClient, path: str, roles: list[str], *, users: list[str] = (), tokens: list[str] = (),
          propagate: bool = True) -> None:
    params: dict[str, Any] = {"path": path, "roles": ",".join(roles), "propagate": int(propagate)}
    if users:
        params["users"] = ",".join(users)
    if tokens:
        params["tokens"] = ",".join(tokens)
    client.call("PUT", "/access/acl", params)
