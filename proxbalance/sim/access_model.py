"""The simulator's access-control state: PVE's roles, users, groups, token secrets, the ACL tree, and the
permission rules of ``PVE/AccessControl.pm`` (see :mod:`proxbalance.sim.api_access` for the API over it).

Roles on a path are found walking the ACL tree from ``/``: deeper entries replace shallower ones; token entries
before user entries before group entries; an entry on a parent path counts only with ``propagate``.
``root@pam`` has every privilege; a token without privilege separation has its user's privileges; a privsep
token has the *intersection* of its own and its user's.
"""

from __future__ import annotations

import hmac
import re
import threading
import time
import uuid
from dataclasses import dataclass, field

from proxbalance.sim.auth import Auth

_VM = ["VM.Config.Disk", "VM.Config.CPU", "VM.Config.Memory", "VM.Config.Network", "VM.Config.HWType",
       "VM.Config.Options", "VM.Allocate", "VM.Clone", "VM.Migrate", "VM.Replicate", "VM.Snapshot",
       "VM.Snapshot.Rollback"]
_VM_USER = ["VM.Config.CDROM", "VM.Config.Cloudinit", "VM.Console", "VM.Backup", "VM.PowerMgmt"]
_AUDIT = ["VM.Audit", "Sys.Audit", "Datastore.Audit", "Pool.Audit", "SDN.Audit", "Mapping.Audit"]
ALL_PRIVS = sorted(set(_VM + _VM_USER + _AUDIT + [
    "Sys.PowerMgmt", "Sys.Modify", "Sys.Incoming", "Sys.AccessNetwork", "Sys.Console", "Sys.Syslog",
    "Datastore.Allocate", "Datastore.AllocateTemplate", "Datastore.AllocateSpace", "SDN.Allocate", "SDN.Use",
    "Realm.Allocate", "User.Modify", "Group.Allocate", "Realm.AllocateUser", "Pool.Allocate", "Mapping.Modify",
    "Mapping.Use", "Permissions.Modify", "VM.Monitor"]))
ROLES: dict[str, frozenset[str]] = {
    "NoAccess": frozenset(),
    "Administrator": frozenset(ALL_PRIVS),
    "PVEAuditor": frozenset(_AUDIT),
    "PVEVMUser": frozenset(_VM_USER + ["VM.Audit"]),
    "PVEVMAdmin": frozenset(_VM + _VM_USER + ["VM.Audit", "VM.Monitor"]),
    "PVESysAdmin": frozenset(["Sys.Console", "Sys.Syslog", "Sys.Audit"]),
    "PVEDatastoreUser": frozenset(["Datastore.AllocateSpace", "Datastore.Audit"]),
    "PVEAdmin": frozenset(set(ALL_PRIVS) - {"Sys.PowerMgmt", "Sys.Modify", "Sys.Incoming", "Sys.AccessNetwork",
                                            "Realm.Allocate", "Permissions.Modify", "Mapping.Modify"}),
}
USERID = re.compile(r"^[^\s:/@!]+@[A-Za-z][A-Za-z0-9.\-_]+$")
TOKEN_SUBID = re.compile(r"^[A-Za-z][A-Za-z0-9.\-_]+$")


@dataclass
class User:
    userid: str
    enable: int = 1
    expire: int = 0
    comment: str = ""
    password: str | None = None
    groups: set[str] = field(default_factory=set)
    tokens: dict[str, dict] = field(default_factory=dict)  # tokenid -> {privsep, expire, comment?}


class AccessState:
    """Users, groups, token secrets and the ACL tree of one simulated cluster (thread-safe)."""

    def __init__(self, root_password: str, token_name: str, token_value: str):
        self.lock = threading.RLock()
        self.users: dict[str, User] = {"root@pam": User("root@pam", password=root_password)}
        self.groups: dict[str, str] = {}  # groupid -> comment
        self.secrets: dict[str, str] = {}  # full token id -> value
        self.acl: list[dict] = []  # {path, type, ugid, roleid, propagate}
        self.add_token("root@pam", token_name, privsep=0, value=token_value)

    def add_token(self, userid: str, tokenid: str, privsep: int = 1, expire: int = 0, comment: str = "",
                  value: str | None = None) -> str:
        info = {"privsep": privsep, "expire": expire}
        if comment:
            info["comment"] = comment
        self.users[userid].tokens[tokenid] = info
        value = value or str(uuid.uuid4())
        self.secrets[f"{userid}!{tokenid}"] = value
        return value

    def check_token(self, full: str, secret: str) -> bool:
        with self.lock:
            userid, _, tokenid = full.partition("!")
            user = self.users.get(userid)
            info = user.tokens.get(tokenid) if user else None
            known = self.secrets.get(full)
            if info is None or known is None or not user.enable:
                return False
            if info.get("expire") and time.time() > info["expire"]:
                return False
            return hmac.compare_digest(secret.encode(), known.encode())

    # -- permissions --------------------------------------------------------------------------------------
    def _roles(self, kind: str, ugid: str, path: str) -> tuple[dict[str, int], bool]:
        """Roles (role -> propagate) of a user/group/token on ``path``, walking the tree from ``/``; and
        whether any entry applied. For ``kind="group"``, ``ugid`` is a user and its groups' entries count."""
        parts = [x for x in path.split("/") if x]
        prefixes = ["/"] + ["/" + "/".join(parts[:i + 1]) for i in range(len(parts))]
        member = self.users[ugid].groups if kind == "group" and ugid in self.users else set()
        roles: dict[str, int] = {}
        found = False
        for i, prefix in enumerate(prefixes):
            final = i == len(prefixes) - 1
            here = [e for e in self.acl if e["path"] == prefix and e["type"] == kind
                    and (e["ugid"] in member if kind == "group" else e["ugid"] == ugid)
                    and (final or e["propagate"])]
            if here:  # a deeper entry replaces what the parents gave
                roles = {e["roleid"]: e["propagate"] for e in here}
                found = True
        return roles, found

    def _user_privs(self, userid: str, path: str) -> dict[str, int]:
        if userid == "root@pam":
            return {p: 1 for p in ALL_PRIVS}
        roles, found = self._roles("user", userid, path)
        if not found:
            roles, _ = self._roles("group", userid, path)
        return _privs(roles)

    def privileges(self, principal: str, path: str) -> dict[str, int]:
        """Effective ``{privilege: propagate}`` of a user or token (``user@realm!name``) on ``path``."""
        with self.lock:
            if "!" not in principal:
                return self._user_privs(principal, path)
            userid, _, tokenid = principal.partition("!")
            info = self.users.get(userid, User(userid)).tokens.get(tokenid)
            if info is None:
                return {}
            user_privs = self._user_privs(userid, path)
            if not info["privsep"]:
                return user_privs
            token_roles, _ = self._roles("token", principal, path)
            token_privs = _privs(token_roles)
            return {p: min(v, user_privs[p]) for p, v in token_privs.items() if p in user_privs}

    def has(self, principal: str, path: str, priv: str) -> bool:
        return priv in self.privileges(principal, path)


def _privs(roles: dict[str, int]) -> dict[str, int]:
    out: dict[str, int] = {}
    for role, propagate in roles.items():
        for priv in ROLES.get(role, ()):
            out[priv] = max(out.get(priv, 0), int(propagate))
    return out


class AccessAuth(Auth):
    """:class:`Auth` whose API tokens come from the access state (created, regenerated, deleted by the API)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.access = AccessState(self.password, self.token_name, self.token_value)

    @property
    def token_value(self) -> str:  # the bootstrap token's current secret
        return self.access.secrets.get(f"{self.user}!{self.token_name}", "") if hasattr(self, "access") \
            else self._initial_value

    @token_value.setter
    def token_value(self, value: str) -> None:
        self._initial_value = value

    def login(self, username: str, password: str, realm: str | None = None) -> dict | None:
        if realm and "@" not in username:
            username = f"{username}@{realm}"
        user = self.access.users.get(username)
        if user is None or not user.enable or not user.password:
            return None
        saved_user, saved_pw = self.user, self.password
        self.user, self.password = username, user.password
        try:
            return super().login(username, password)
        finally:
            self.user, self.password = saved_user, saved_pw

    def check(self, environ: dict, write: bool) -> tuple[str | None, str]:
        header = environ.get("HTTP_AUTHORIZATION", "")
        if header.startswith("PVEAPIToken"):
            tok = header[len("PVEAPIToken"):].lstrip("= ")
            tid, _, secret = tok.rpartition("=")
            if self.access.check_token(tid, secret):
                return tid, ""
            return None, "invalid token value!"
        return super().check(environ, write)
