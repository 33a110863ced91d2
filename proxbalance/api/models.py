"""Request/response models shared by several blueprints (area-specific ones live beside their routes)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

VmId = Annotated[int, Field(ge=100, le=999_999_999, description="Proxmox VM/CT id")]
NodeName = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,50}$", description="Proxmox node name")]


class StrictModel(BaseModel):
    """Unknown fields are an error, so a typo in a request never passes silently."""

    model_config = ConfigDict(extra="forbid")


class Page(StrictModel):
    limit: int = Field(100, ge=1, le=1000, description="Max items to return")
    offset: int = Field(0, ge=0, description="Items to skip")


class ComponentStatus(BaseModel):
    status: str = Field(description="ok | error | unreachable | auth_failed | not_configured | unknown | degraded "
                                    "| no_data | stale | failed")
    detail: str | None = None
    quorate: bool | None = None
    offline_nodes: list[str] | None = None
    unreachable_nodes: list[str] | None = None
    age_seconds: float | None = Field(None, description="seconds since the newest snapshot")


class HealthResponse(BaseModel):
    success: bool
    status: str = Field(description="ok when every component is ok, else degraded")
    version: str
    reasons: list[str] = Field(description="why degraded: database_error, proxmox_<status>, quorum_lost, "
                                           "nodes_offline, nodes_unreachable, no_data, data_stale, collection_failed")
    components: dict[str, ComponentStatus]


class RouteInfo(BaseModel):
    method: str
    path: str
    summary: str
    scope: str | None


class RoutesResponse(BaseModel):
    success: bool
    routes: list[RouteInfo]
    count: int


class AnyResponse(BaseModel):
    model_config = ConfigDict(extra="allow")
    success: bool
    extra: dict[str, Any] | None = None
