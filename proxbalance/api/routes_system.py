"""System management: Proxmox token and host, version and updates, services, logs.

Handlers validate, call one function of :mod:`proxbalance.token_service`, :mod:`proxbalance.updates`,
:mod:`proxbalance.updates_git` or :mod:`proxbalance.services`, and shape the answer.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from typing import Literal

from flask import Blueprint, Response
from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from proxbalance import services as svc
from proxbalance import token_service, updates, updates_git
from proxbalance.api.endpoint import endpoint
from proxbalance.api.models import StrictModel
from proxbalance.api.routes_config import actor, reload
from proxbalance.api.state import state
from proxbalance.errors import UpstreamError
from proxbalance.logsetup import under_systemd

bp = Blueprint("system_ops", __name__)
Host = Field(min_length=1, max_length=253, description="Proxmox VE host name or address")


class OpenResponse(BaseModel):
    model_config = ConfigDict(extra="allow")
    success: bool


#: PVE's USER@REALM!TOKENNAME (it travels in the Authorization header: no spaces or control characters)
_PART = r"[\x22-\x3f\x41-\x7e]+"  # visible ASCII but '!' and '@'
TOKEN_ID = rf"^{_PART}@{_PART}!{_PART}$"
#: a token secret travels in a header too: visible ASCII only
TOKEN_SECRET = r"^[\x21-\x7e]*$"


class ValidateTokenBody(StrictModel):
    host: str | None = Field(None, max_length=253, validation_alias=AliasChoices("host", "proxmox_host"))
    port: int | None = Field(None, ge=1, le=65535, validation_alias=AliasChoices("port", "proxmox_port"))
    token_id: str = Field(max_length=200, pattern=TOKEN_ID,
                          validation_alias=AliasChoices("token_id", "proxmox_api_token_id"))
    token_secret: str | None = Field(None, max_length=200, pattern=TOKEN_SECRET, validation_alias=AliasChoices(
        "token_secret", "proxmox_api_token_secret"), description="Needed unless host and token are the configured ones")


class AdminCredentials(StrictModel):
    """Credentials with User.Modify/Permissions.Modify, used once on the CONFIGURED host and never stored."""

    username: str | None = Field(None, max_length=200)
    password: str | None = Field(None, max_length=500)
    token_id: str | None = Field(None, max_length=200, pattern=r"^$|" + TOKEN_ID, description="USER@REALM!NAME")
    token_secret: str | None = Field(None, max_length=200, pattern=TOKEN_SECRET)


class TokenPermissionsBody(StrictModel):
    action: Literal["check", "grant"] = "check"
    mode: Literal["read_only", "full"] = Field("full", description="grant: PVEAuditor, or also PVEVMAdmin and "
                                                                   "PVESysAdmin (migrate, tags, HA)")
    admin: AdminCredentials | None = None


class RecreateTokenBody(StrictModel):
    privsep: bool = Field(True, description="When the token is created: separate privileges from the user's")
    create_user: bool = Field(False, description="Create the token's Proxmox user when it does not exist")
    admin: AdminCredentials | None = None


class DeleteTokenBody(StrictModel):
    admin: AdminCredentials | None = None


class ChangeHostBody(StrictModel):
    host: str = Host
    port: int | None = Field(None, ge=1, le=65535)


class BranchBody(StrictModel):
    branch: str = Field(min_length=1, max_length=100)


class ServiceBody(StrictModel):
    service: str = Field(min_length=1, max_length=100)


class LogsQuery(StrictModel):
    service: str = Field("proxbalance.service", max_length=100)
    lines: int = Field(200, ge=1, le=svc.MAX_LINES)


def _admin(body) -> dict | None:
    return body.admin.model_dump(exclude_none=True) if body.admin else None


# -- token and host -----------------------------------------------------------------------------------------
@endpoint(bp, "POST", "/api/validate-token", body=ValidateTokenBody, response=OpenResponse,
          summary="Connect with a host and token; report the version and which features the token allows.")
def validate_token(body: ValidateTokenBody):
    return token_service.validate_token(state().settings, host=body.host, port=body.port, token_id=body.token_id,
                                        token_secret=body.token_secret)


@endpoint(bp, "POST", "/api/system/token-permissions", body=TokenPermissionsBody, response=OpenResponse,
          summary="Check ProxBalance's Proxmox token (info, ACLs, features) or grant it the roles it needs.")
def token_permissions(body: TokenPermissionsBody):
    return token_service.token_permissions(state().settings, body.action, body.mode, _admin(body))


@endpoint(bp, "POST", "/api/system/recreate-token", body=RecreateTokenBody, response=OpenResponse,
          summary="New secret for ProxBalance's token (created when missing); stored, and shown only once.")
def recreate_token(body: RecreateTokenBody):
    st = state()
    result = token_service.recreate_token(st.store, st.cache["config_base"], st.settings, actor(),
                                          privsep=body.privsep, create_user=body.create_user, admin=_admin(body))
    reload(st)
    return result


@endpoint(bp, "POST", "/api/system/delete-token", body=DeleteTokenBody, response=OpenResponse,
          summary="Delete ProxBalance's token on Proxmox and forget its secret.")
def delete_token(body: DeleteTokenBody):
    st = state()
    result = token_service.delete_token(st.store, st.cache["config_base"], st.settings, actor(), _admin(body))
    reload(st)
    return result


@endpoint(bp, "POST", "/api/system/change-host", body=ChangeHostBody, response=OpenResponse,
          summary="Point ProxBalance at another Proxmox node: address rules, a PVE check, a test with the "
                  "current token, then saved.")
def change_host(body: ChangeHostBody):
    st = state()
    result = token_service.change_host(st.store, st.cache["config_base"], st.settings, actor(), body.host,
                                       body.port)
    reload(st)
    return result


# -- version and updates ------------------------------------------------------------------------------------
@endpoint(bp, "GET", "/api/system/info", response=OpenResponse,
          summary="Version, install method (git or pip), commit and branch, and the last update.")
def system_info():
    st = state()
    recent = updates.history(st.settings)[-1:] or [None]
    return {**updates_git.info(st.settings), "last_update": recent[0], "under_systemd": under_systemd()}


@endpoint(bp, "GET", "/api/system/check-update", response=OpenResponse,
          summary="Fetch the remote and say whether the current branch has new commits.")
def check_update():
    return updates_git.check_update(state().settings)


def _detached(args: list[str]) -> dict | None:
    """Under systemd the restart would kill this worker mid-update: run it in a transient unit instead."""
    if not under_systemd():
        return None
    unit = f"proxbalance-update-{int(time.time())}"
    setenv = [f"--setenv=PROXBALANCE_CONFIG={os.environ['PROXBALANCE_CONFIG']}"] \
        if os.environ.get("PROXBALANCE_CONFIG") else []
    argv = ["systemd-run", "--collect", "--unit", unit, *setenv, sys.executable, "-m", "proxbalance.cli", "update",
            *args]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    if proc.returncode != 0:
        raise UpstreamError(f"could not start the update unit: {proc.stderr.strip()[:300]}", code="update_failed")
    return {"started": True, "unit": unit, "message": f"update running in {unit}; see GET /api/system/info"}


@endpoint(bp, "POST", "/api/system/update", response=OpenResponse,
          summary="Update the git checkout to its remote branch: pip install, restart, health check, "
                  "automatic rollback.")
def system_update():
    return _detached(["apply"]) or updates.update(state().settings, state().store.engine)


@endpoint(bp, "GET", "/api/system/branches", response=OpenResponse, summary="Branches of the git remote.")
def branches():
    return updates_git.branches(state().settings)


@endpoint(bp, "GET", "/api/system/branch-preview/<path:branch>", response=OpenResponse,
          summary="Commits and changed files a switch to a branch would bring.")
def branch_preview(branch: str):
    return updates_git.preview(state().settings, branch)


@endpoint(bp, "POST", "/api/system/switch-branch", body=BranchBody, response=OpenResponse,
          summary="Switch the checkout to another remote branch (deployed and health-checked like an update).")
def switch_branch(body: BranchBody):
    return _detached(["switch", body.branch]) or updates.switch_branch(state().settings, body.branch,
                                                                        state().store.engine)


@endpoint(bp, "POST", "/api/system/rollback-branch", response=OpenResponse,
          summary="Go back to the commit and branch the last update or switch started from.")
def rollback_branch():
    return _detached(["rollback"]) or updates.rollback_branch(state().settings, state().store.engine)


# -- services and logs --------------------------------------------------------------------------------------
@endpoint(bp, "POST", "/api/system/restart-service", body=ServiceBody, response=OpenResponse,
          summary="Restart one of ProxBalance's systemd units (allow-list); 409 when not under systemd.")
def restart_service(body: ServiceBody):
    return svc.restart(state().settings, body.service)


@endpoint(bp, "GET", "/api/logs/download", query=LogsQuery, produces=("text/plain",),
          summary="Download the last lines of a ProxBalance unit's log (journald, else the log file).")
def logs_download(query: LogsQuery):
    unit, source, lines = svc.logs(state().settings, query.service, query.lines)
    name = unit.replace(".", "-")
    return Response("\n".join(lines) + ("\n" if lines else ""), mimetype="text/plain",
                    headers={"Content-Disposition": f"attachment; filename={name}.log", "X-Log-Source": source})
