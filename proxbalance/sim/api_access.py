"""PVE access control: users, groups, API tokens, ACLs and effective permissions, as PVE shapes them.

Follows pve-access-control (``PVE/API2/User.pm``, ``PVE/API2/ACL.pm``, ``PVE/AccessControl.pm``):

- ``/access/users`` (GET, POST), ``/access/users/{userid}`` (GET, DELETE), ``/access/groups`` (GET, POST);
- ``/access/users/{userid}/token`` (GET: ``[{tokenid, privsep, expire, comment?}]``) and
  ``/access/users/{userid}/token/{tokenid}``: GET (token info), POST (``{info, value, full-tokenid}``; 400
  ``tokenid: Token already exists.``), PUT (``expire``/``privsep``/``comment``/``delete``/``regenerate``; a
  regenerated secret replaces the old one at once), DELETE (also removes the token's ACL entries);
- ``/access/acl`` GET (``[{path, type: user|group|token, ugid, roleid, propagate}]``) and PUT (``path``,
  ``roles``, ``users``/``groups``/``tokens``, ``propagate`` default 1, ``delete``);
- ``/access/permissions`` (``{path: {privilege: propagate}}``): roles are found walking the ACL tree from ``/``
  (deeper entries replace shallower ones; token entries before user entries before group entries; an entry on
  a parent path counts only with ``propagate``). ``root@pam`` has every privilege; a token without privilege
  separation has its user's privileges; a privsep token has the *intersection* of its own and its user's.

Token management needs ``User.Modify`` on ``/access/groups`` (a ticket of the user itself also may manage its
own tokens; a token is never "self"); ACL changes need ``Permissions.Modify`` on the path.
"""

from __future__ import annotations

import re
import uuid

from proxbalance.sim.access_model import (  # noqa: F401 (AccessAuth: the server's auth)
    ROLES,
    TOKEN_SUBID,
    USERID,
    AccessAuth,
    AccessState,
    User,
)
from proxbalance.sim.pve_errors import PVEError, param_error
from proxbalance.sim.routing import Ctx, route

PERM_PATHS = ("/", "/access", "/access/groups", "/nodes", "/pool", "/sdn", "/storage", "/vms")


def access(ctx: Ctx) -> AccessState:
    auth = ctx.sim.auth
    if not isinstance(auth, AccessAuth):  # a server built without access control: give it one
        if not hasattr(ctx.sim, "_access_fallback"):
            ctx.sim._access_fallback = AccessState(auth.password, auth.token_name, auth.token_value)
        return ctx.sim._access_fallback
    return auth.access


def _forbid(ctx: Ctx, path: str, priv: str) -> PVEError:
    return PVEError(403, f"Permission check failed ({path}, {priv})")


def _may_manage_user(ctx: Ctx, a: AccessState, userid: str) -> None:
    if ctx.user == userid or a.has(ctx.user, "/access/groups", "User.Modify"):
        return
    raise _forbid(ctx, "/access/groups", "User.Modify")


def _user(a: AccessState, userid: str) -> User:
    if not USERID.match(userid):
        raise param_error({"userid": "value does not match the regex pattern"})
    user = a.users.get(userid)
    if user is None:
        raise PVEError(500, f"no such user ('{userid}')")
    return user


def _token(a: AccessState, userid: str, tokenid: str) -> dict:
    user = _user(a, userid)
    if not TOKEN_SUBID.match(tokenid):
        raise param_error({"tokenid": "value does not match the regex pattern"})
    info = user.tokens.get(tokenid)
    if info is None:
        raise PVEError(500, f"no such token '{tokenid}' for user '{userid}'")
    return info


# -- users and groups ---------------------------------------------------------------------------------------
def _user_row(u: User, full: bool) -> dict:
    row = {"userid": u.userid, "enable": u.enable, "expire": u.expire, "realm-type": u.userid.split("@")[1]}
    if u.comment:
        row["comment"] = u.comment
    if u.groups:
        row["groups"] = ",".join(sorted(u.groups))
    if full:
        row["tokens"] = [{"tokenid": t, **info} for t, info in sorted(u.tokens.items())]
    return row


@route("GET", "/access/users", enabled=("bool", False), full=("bool", False))
def list_users(ctx: Ctx, p: dict):
    a = access(ctx)
    me = ctx.user.partition("!")[0]
    with a.lock:
        see_all = a.has(ctx.user, "/access/groups", "User.Modify") or a.has(ctx.user, "/access/groups", "Sys.Audit")
        return [_user_row(u, bool(p.get("full"))) for uid, u in sorted(a.users.items())
                if (see_all or uid == me) and ("enabled" not in p or bool(u.enable) == bool(p["enabled"]))]


@route("POST", "/access/users", userid=("str", True), password=("str", False), comment=("str", False),
       enable=("bool", False), expire=("int", False), groups=("str", False), email=("str", False),
       firstname=("str", False), lastname=("str", False), keys=("str", False))
def create_user(ctx: Ctx, p: dict):
    a = access(ctx)
    if not a.has(ctx.user, "/access/groups", "User.Modify"):
        raise _forbid(ctx, "/access/groups", "User.Modify")
    userid = p["userid"]
    if not USERID.match(userid):
        raise param_error({"userid": "value does not match the regex pattern"})
    with a.lock:
        if userid in a.users:
            raise PVEError(500, f"create user failed: user '{userid}' already exists")
        groups = {g for g in p.get("groups", "").split(",") if g}
        for g in groups:
            if g not in a.groups:
                raise PVEError(500, f"create user failed: no such group '{g}'")
        a.users[userid] = User(userid, enable=p.get("enable", 1), expire=p.get("expire", 0),
                               comment=p.get("comment", ""), password=p.get("password"), groups=groups)
    return None


@route("GET", "/access/users/{userid}", userid=("str", True))
def read_user(ctx: Ctx, p: dict):
    a = access(ctx)
    _may_manage_user(ctx, a, p["userid"])
    with a.lock:
        row = _user_row(_user(a, p["userid"]), True)
        row["tokens"] = {r.pop("tokenid"): r for r in row["tokens"]}
        row.pop("userid")
        return row


@route("DELETE", "/access/users/{userid}", userid=("str", True))
def delete_user(ctx: Ctx, p: dict):
    a = access(ctx)
    if not a.has(ctx.user, "/access/groups", "User.Modify"):
        raise _forbid(ctx, "/access/groups", "User.Modify")
    with a.lock:
        user = _user(a, p["userid"])
        for t in list(user.tokens):
            a.secrets.pop(f"{user.userid}!{t}", None)
        a.acl = [e for e in a.acl if e["ugid"] != user.userid and not e["ugid"].startswith(user.userid + "!")]
        del a.users[user.userid]
    return None


@route("GET", "/access/groups")
def list_groups(ctx: Ctx, p: dict):
    a = access(ctx)
    with a.lock:
        out = []
        for gid, comment in sorted(a.groups.items()):
            row = {"groupid": gid, "users": ",".join(sorted(u for u, x in a.users.items() if gid in x.groups))}
            if comment:
                row["comment"] = comment
            out.append(row)
        return out


@route("POST", "/access/groups", groupid=("str", True), comment=("str", False))
def create_group(ctx: Ctx, p: dict):
    a = access(ctx)
    if not a.has(ctx.user, "/access/groups", "Group.Allocate"):
        raise _forbid(ctx, "/access/groups", "Group.Allocate")
    with a.lock:
        if p["groupid"] in a.groups:
            raise PVEError(500, f"create group failed: group '{p['groupid']}' already exists")
        a.groups[p["groupid"]] = p.get("comment", "")
    return None


# -- tokens -------------------------------------------------------------------------------------------------
TOKEN_PARAMS = {"userid": ("str", True), "tokenid": ("str", True)}


@route("GET", "/access/users/{userid}/token", userid=("str", True))
def list_tokens(ctx: Ctx, p: dict):
    a = access(ctx)
    _may_manage_user(ctx, a, p["userid"])
    with a.lock:
        return [{"tokenid": t, **info} for t, info in _user(a, p["userid"]).tokens.items()]


@route("GET", "/access/users/{userid}/token/{tokenid}", **TOKEN_PARAMS)
def read_token(ctx: Ctx, p: dict):
    a = access(ctx)
    _may_manage_user(ctx, a, p["userid"])
    with a.lock:
        return dict(_token(a, p["userid"], p["tokenid"]))


@route("POST", "/access/users/{userid}/token/{tokenid}", **TOKEN_PARAMS, expire=("int", False),
       privsep=("bool", False), comment=("str", False))
def generate_token(ctx: Ctx, p: dict):
    a = access(ctx)
    _may_manage_user(ctx, a, p["userid"])
    with a.lock:
        user = _user(a, p["userid"])
        if not TOKEN_SUBID.match(p["tokenid"]):
            raise param_error({"tokenid": "value does not match the regex pattern"})
        if p["tokenid"] in user.tokens:
            raise param_error({"tokenid": "Token already exists."})
        value = a.add_token(user.userid, p["tokenid"], privsep=p.get("privsep", 1), expire=p.get("expire", 0),
                            comment=p.get("comment", ""))
        return {"info": dict(user.tokens[p["tokenid"]]), "value": value,
                "full-tokenid": f"{user.userid}!{p['tokenid']}"}


@route("PUT", "/access/users/{userid}/token/{tokenid}", **TOKEN_PARAMS, expire=("int", False),
       privsep=("bool", False), comment=("str", False), regenerate=("bool", False), delete=("str", False))
def update_token(ctx: Ctx, p: dict):
    a = access(ctx)
    _may_manage_user(ctx, a, p["userid"])
    with a.lock:
        info = _token(a, p["userid"], p["tokenid"])
        for key in ("privsep", "expire", "comment"):
            if key in p:
                info[key] = p[key]
        if not info.get("comment"):
            info.pop("comment", None)
        for key in [k for k in p.get("delete", "").split(",") if k]:
            if key != "comment":
                raise param_error({"delete": f"unknown option '{key}'"})
            info.pop("comment", None)
        res = dict(info)
        if p.get("regenerate"):
            full = f"{p['userid']}!{p['tokenid']}"
            a.secrets[full] = str(uuid.uuid4())
            res.update({"value": a.secrets[full], "full-tokenid": full})
        return res


@route("DELETE", "/access/users/{userid}/token/{tokenid}", **TOKEN_PARAMS)
def remove_token(ctx: Ctx, p: dict):
    a = access(ctx)
    _may_manage_user(ctx, a, p["userid"])
    with a.lock:
        _token(a, p["userid"], p["tokenid"])
        full = f"{p['userid']}!{p['tokenid']}"
        del a.users[p["userid"]].tokens[p["tokenid"]]
        a.secrets.pop(full, None)
        a.acl = [e for e in a.acl if not (e["type"] == "token" and e["ugid"] == full)]
    return None


# -- ACLs and permissions -----------------------------------------------------------------------------------
def _norm_path(path: str) -> str:
    path = "/" + "/".join(x for x in path.split("/") if x)
    return path


@route("GET", "/access/acl")
def read_acl(ctx: Ctx, p: dict):
    a = access(ctx)
    with a.lock:
        return [dict(e) for e in a.acl if a.has(ctx.user, e["path"], "Sys.Audit")
                or a.has(ctx.user, e["path"], "Permissions.Modify")]


@route("PUT", "/access/acl", path=("str", True), roles=("str", True), users=("str", False),
       groups=("str", False), tokens=("str", False), propagate=("bool", False), delete=("bool", False))
def update_acl(ctx: Ctx, p: dict):
    a = access(ctx)
    if not (p.get("users") or p.get("groups") or p.get("tokens")):
        raise param_error({k: "either 'users', 'groups' or 'tokens' is required." for k in ("users", "groups",
                                                                                           "tokens")})
    path = _norm_path(p["path"])
    if not a.has(ctx.user, path, "Permissions.Modify"):
        raise _forbid(ctx, path, "Permissions.Modify")
    roles = [r for r in re.split(r"[,;\s]+", p["roles"]) if r]
    with a.lock:
        for r in roles:
            if r not in ROLES:
                raise PVEError(500, f"role '{r}' does not exist")
        targets = [("user", u) for u in p.get("users", "").split(",") if u] + \
                  [("group", g) for g in p.get("groups", "").split(",") if g] + \
                  [("token", t) for t in p.get("tokens", "").split(",") if t]
        for kind, ugid in targets:
            if kind == "user" and ugid not in a.users:
                raise PVEError(500, f"user '{ugid}' does not exist")
            if kind == "group" and ugid not in a.groups:
                raise PVEError(500, f"group '{ugid}' does not exist")
            if kind == "token":
                uid, _, tid = ugid.partition("!")
                if tid not in a.users.get(uid, User(uid)).tokens:
                    raise PVEError(500, f"no such token '{tid}' for user '{uid}'")
            for role in roles:
                a.acl = [e for e in a.acl if not (e["path"] == path and e["type"] == kind and e["ugid"] == ugid
                                                  and e["roleid"] == role)]
                if not p.get("delete"):
                    a.acl.append({"path": path, "type": kind, "ugid": ugid, "roleid": role,
                                  "propagate": p.get("propagate", 1)})
    return None


@route("GET", "/access/permissions", path=("str", False), userid=("str", False))
def permissions(ctx: Ctx, p: dict):
    a = access(ctx)
    who = p.get("userid") or ctx.user
    if who != ctx.user and not (who.startswith(ctx.user + "!") or a.has(ctx.user, "/access", "Sys.Audit")):
        raise _forbid(ctx, "/access", "Sys.Audit")
    with a.lock:
        paths = [_norm_path(p["path"])] if p.get("path") else sorted(set(PERM_PATHS) | {e["path"] for e in a.acl})
        out = {}
        for path in paths:
            privs = a.privileges(who, path)
            if privs or p.get("path"):
                out[path] = privs
        return out


# PVE's access routes answer before any older stand-in registered by another module (first match wins)
from proxbalance.sim.routing import ROUTES  # noqa: E402

ROUTES[:] = [r for r in ROUTES if r[2].__module__ == __name__] + [r for r in ROUTES if r[2].__module__ != __name__]
