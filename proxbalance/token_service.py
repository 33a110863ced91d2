"""Proxmox token and host operations behind the API: validate a token, report permissions, manage
ProxBalance's own token (check, grant, recreate, delete) and change the Proxmox host.

Rules: a STORED secret is sent only to the configured host — validate-token against another host needs the
secret in the request; change-host first checks the address (:mod:`proxbalance.hostcheck`) and that the host
answers like a PVE API *without* credentials, and only then tests it with the current token. A new token
secret is stored in the API settings layer and returned once; it is never logged.
"""

from __future__ import annotations

import logging
from typing import Any

from proxbalance.api.cluster_shape import permissions_report
from proxbalance.config import REDACTED, Settings
from proxbalance.config_service import apply_changes
from proxbalance.errors import ConflictError, ValidationError
from proxbalance.hostcheck import check_host_static
from proxbalance.pve import access as pve
from proxbalance.store import Store

log = logging.getLogger(__name__)

#: contract feature names -> the permission report's features they need
FEATURE_MAP = {"read_only": ("collect",), "migrate": ("collect", "migrate"), "ha": ("ha_migrate",),
               "tags": ("tags",)}
#: roles granted by token-permissions ``grant``: read_only = PVEAuditor; full adds VM admin (migrate, tags)
#: and PVESysAdmin (Sys.Console for HA migrations)
GRANT_ROLES = {"read_only": ["PVEAuditor"], "full": ["PVEAuditor", "PVEVMAdmin", "PVESysAdmin"]}


def report(perms: dict[str, dict[str, Any]], who: str, version: dict[str, Any] | None = None) -> dict[str, Any]:
    rep = permissions_report(perms, who)
    avail = {f["feature"]: f["available"] for f in rep["features"]}
    rep["allows"] = {name: all(avail.get(n, False) for n in needs) for name, needs in FEATURE_MAP.items()}
    missing = sorted({m for f in rep["features"] for m in f["missing"]})
    rep["missing_privileges"] = missing
    if version is not None:
        rep["version"] = version.get("version")
        rep["release"] = version.get("release")
    return rep


def validate_token(settings: Settings, *, host: str | None, port: int | None, token_id: str,
                   token_secret: str | None) -> dict[str, Any]:
    """POST /api/validate-token."""
    host = host or settings["proxmox.host"]
    port = port or settings["proxmox.port"]
    same_host = (host, port) == (settings["proxmox.host"], settings["proxmox.port"])
    if not host:
        raise ValidationError("give host (no proxmox.host is configured)", details={"field": "host"})
    pve.split_token_id(token_id)
    if token_secret in (None, "", REDACTED):
        if not same_host or token_id != settings["proxmox.token_id"] or not settings["proxmox.token_secret"]:
            raise ValidationError("give token_secret: the stored secret is used only for the configured host and "
                                  "token", details={"field": "token_secret"})
        token_secret = settings["proxmox.token_secret"]
    if not same_host:
        check_host_static(host, settings["proxmox.allowed_networks"])
        pve.looks_like_pve(settings, host, port)
    client = pve.client_for(settings, host=host, port=port, token_id=token_id, token_secret=token_secret,
                            timeout=min(10.0, settings["proxmox.timeout"]))
    info = pve.inspect_token(client)
    return {"valid": True, "host": host, "port": port, **report(info["permissions"], token_id, info["version"])}


def configured_permissions(settings: Settings) -> dict[str, Any]:
    client = pve.client_for(settings)
    info = pve.inspect_token(client)
    who = settings["proxmox.token_id"] or settings["proxmox.username"]
    return report(info["permissions"], who, info["version"])


def _admin_client(settings: Settings, admin: dict[str, Any] | None):
    """A client on the CONFIGURED host with the request's admin credentials, or the configured ones."""
    admin = admin or {}
    if admin.get("token_id"):
        return pve.client_for(settings, token_id=admin["token_id"], token_secret=admin.get("token_secret", ""))
    if admin.get("username"):
        return pve.client_for(settings, username=admin["username"], password=admin.get("password", ""))
    return pve.client_for(settings)


def _our_token(settings: Settings) -> str:
    token_id = settings["proxmox.token_id"]
    if not token_id:
        raise ConflictError("proxmox.token_id is not set: configure ProxBalance's token id first",
                            code="token_not_configured")
    return token_id


def token_permissions(settings: Settings, action: str, mode: str, admin: dict[str, Any] | None) -> dict[str, Any]:
    """POST /api/system/token-permissions: ``check`` the token (info, ACL entries, features) or ``grant`` it
    the roles of ``mode`` on ``/`` (to the token and, for a privsep token, its user too)."""
    token_id = _our_token(settings)
    client = _admin_client(settings, admin)
    info = pve.token_info(client, token_id)
    if info is None:
        raise ConflictError(f"token {token_id} does not exist on Proxmox: POST /api/system/recreate-token "
                            "creates it", code="token_missing")
    granted: list[str] = []
    if action == "grant":
        roles = GRANT_ROLES[mode]
        userid = pve.split_token_id(token_id)[0]
        pve.grant(client, "/", roles, tokens=[token_id], users=[userid] if info.get("privsep") else [])
        granted = roles
        log.info("granted roles %s on / to token %s", ",".join(roles), token_id)
    perms = client.get("/access/permissions", {"userid": token_id}) or {}
    return {"token_id": token_id, "token": info, "acl": pve.acl_entries(client, token_id), "granted": granted,
            **report(perms, token_id)}


def recreate_token(store: Store, base: Settings, settings: Settings, actor: str, *, privsep: bool,
                   create_user: bool, admin: dict[str, Any] | None) -> dict[str, Any]:
    """Regenerate ProxBalance's token secret (or create user/token when missing); store and return it once."""
    token_id = _our_token(settings)
    userid = pve.split_token_id(token_id)[0]
    client = _admin_client(settings, admin)
    info = pve.token_info(client, token_id)
    created = False
    if info is None:
        if not pve.user_exists(client, userid):
            if not create_user:
                raise ConflictError(f"Proxmox user {userid} does not exist (set create_user to create it)",
                                    code="user_missing")
            pve.create_user(client, userid, "ProxBalance")
        secret = pve.create_token(client, token_id, privsep, "ProxBalance")
        created = True
    else:
        secret = pve.regenerate_token(client, token_id)
    result = apply_changes(store, base, {"proxmox.token_secret": secret}, actor)
    log.info("%s Proxmox token %s; the new secret is stored in the API settings layer",
             "created" if created else "regenerated", token_id)
    return {"token_id": token_id, "token_secret": secret, "created": created, "stored": True,
            "revision": result["revision"],
            "message": "store this secret now if you need it elsewhere: it is shown only once"}


def delete_token(store: Store, base: Settings, settings: Settings, actor: str,
                 admin: dict[str, Any] | None) -> dict[str, Any]:
    token_id = _our_token(settings)
    client = _admin_client(settings, admin)
    if pve.token_info(client, token_id) is None:
        raise ConflictError(f"token {token_id} does not exist on Proxmox", code="token_missing")
    pve.delete_token(client, token_id)
    apply_changes(store, base, {"proxmox.token_secret": ""}, actor)
    log.info("deleted Proxmox token %s and cleared the stored secret", token_id)
    return {"token_id": token_id, "deleted": True}


def change_host(store: Store, base: Settings, settings: Settings, actor: str, host: str,
                port: int | None) -> dict[str, Any]:
    """Validate, test with the current credentials, then save ``proxmox.host``/``port``."""
    port = port or settings["proxmox.port"]
    addresses = check_host_static(host, settings["proxmox.allowed_networks"])
    pve.looks_like_pve(settings, host, port)  # no credentials are sent to something that is not PVE
    client = pve.client_for(settings, host=host, port=port, timeout=min(10.0, settings["proxmox.timeout"]))
    info = pve.inspect_token(client)
    previous = {"host": settings["proxmox.host"], "port": settings["proxmox.port"]}
    result = apply_changes(store, base, {"proxmox.host": host, "proxmox.port": port}, actor, allow_host=True)
    log.info("Proxmox host changed from %s:%s to %s:%s", previous["host"], previous["port"], host, port)
    return {"host": host, "port": port, "addresses": addresses, "previous": previous,
            "version": info["version"].get("version"), "changed": result["changed"]}
