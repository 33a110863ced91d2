"""Request/response models of routes_cluster (the OpenAPI document is built from them)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter
from pydantic import ValidationError as PydanticValidationError

from proxbalance.api.models import NodeName, StrictModel
from proxbalance.errors import ValidationError


def check(annotated: Any, value: Any, field: str) -> Any:
    """Validate a path parameter against a shared annotated type (VmId, NodeName); 400 naming the field."""
    try:
        return TypeAdapter(annotated).validate_python(value)
    except PydanticValidationError as exc:
        msg = exc.errors(include_url=False, include_input=False)[0]["msg"]
        raise ValidationError(f"invalid path parameter '{field}': {msg}", details={"field": field}) from None


class GuestsQuery(StrictModel):
    node: NodeName | None = Field(None, description="only guests on this node")
    type: Literal["qemu", "lxc"] | None = Field(None, description="qemu (VM) or lxc (CT)")
    status: str | None = Field(None, max_length=20, description="running, stopped, ...")
    limit: int = Field(100000, ge=1, le=100000, description="Max guests to return")
    offset: int = Field(0, ge=0, description="Guests to skip (ordered by vmid)")


class TaskQuery(StrictModel):
    log_lines: int = Field(0, ge=0, le=1000, description="Also return the last N log lines")


class _Meta(BaseModel):
    model_config = ConfigDict(extra="allow")
    success: bool
    collected_at: str = Field(description="ISO 8601 UTC time of the snapshot")
    timestamp: float = Field(description="Unix seconds of the snapshot")
    age_seconds: float | None
    collection_duration: float = Field(description="seconds the collection took")


class RefreshResponse(BaseModel):
    success: bool
    message: str
    collection: dict[str, Any] = Field(description="snapshot_id, time, duration, api_calls, quorate, errors, "
                                       "nodes, guests, unreachable_nodes, configs_read, backfill_*")


class AnalyzeResponse(_Meta):
    summary: dict[str, Any]
    nodes: dict[str, dict[str, Any]]
    guests: dict[str, dict[str, Any]]
    storages: list[dict[str, Any]]
    ha_rules: list[dict[str, Any]]


class SummaryResponse(_Meta):
    summary: dict[str, Any]


class NodesResponse(_Meta):
    nodes: dict[str, dict[str, Any]]
    count: int


class GuestsResponse(_Meta):
    guests: dict[str, dict[str, Any]]
    count: int
    total: int


class LocationResponse(_Meta):
    vmid: int
    name: str
    node: str
    type: str
    status: str


class LocationsResponse(_Meta):
    locations: dict[str, dict[str, Any]]
    count: int


class StorageResponse(_Meta):
    node: str
    storage: list[dict[str, Any]]
    count: int


class TagsResponse(_Meta):
    vmid: int
    tags: list[str]
    ignored: bool
    pinned: bool
    affinity_groups: list[str]
    anti_affinity_groups: list[str]


class AffinityMember(BaseModel):
    vmid: int
    name: str
    type: str = Field(description="VM or CT")
    node: str
    status: str


class AffinityGroup(BaseModel):
    name: str
    source: str = Field(description="tag or ha_rule")
    members: list[AffinityMember]
    member_count: int
    nodes: list[str]
    is_split: bool
    status: str = Field(description="together or split")


class AffinityGroupsResponse(_Meta):
    affinity_groups: list[AffinityGroup]
    total_groups: int
    split_groups: int


class TaskResponse(BaseModel):
    success: bool
    task: dict[str, Any] = Field(description="upid, node, type, id, user, status, exitstatus, starttime, pid, "
                                 "running, ok")
    log: list[dict[str, Any]] = Field(description="last log lines {n, t}")


class FeatureStatus(BaseModel):
    feature: str
    description: str
    required: list[str]
    missing: list[str]
    available: bool


class PermissionsResponse(BaseModel):
    success: bool
    token_id: str
    privileges: dict[str, list[str]]
    features: list[FeatureStatus]
    missing_features: list[str]
    all_ok: bool
