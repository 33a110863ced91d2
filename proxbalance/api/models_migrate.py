"""Request and response models of the migration, task, rollback, history and guest-operation endpoints."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from proxbalance.api.models import NodeName, StrictModel, VmId

GUEST_TYPES = {"vm": "qemu", "qemu": "qemu", "ct": "lxc", "lxc": "lxc"}
StorageSpec = Field(None, pattern=r"^[A-Za-z0-9_.:,-]{1,200}$",
                    description="PVE targetstorage: a storage id, or src:dst pairs separated by commas")


class MoveBody(StrictModel):
    vmid: VmId
    target_node: NodeName
    source_node: NodeName | None = None
    guest_type: str | None = Field(None, description="VM or CT (qemu/lxc accepted)")
    targetstorage: str | None = StorageSpec
    online: bool | None = Field(None, description="force live (true) or offline (false); default: by state")

    @field_validator("guest_type")
    @classmethod
    def _gtype(cls, v: str | None) -> str | None:
        if v is None:
            return None
        low = v.lower()
        if low not in GUEST_TYPES:
            raise ValueError("guest_type must be VM or CT (or qemu/lxc)")
        return GUEST_TYPES[low]


class BatchBody(StrictModel):
    migrations: list[MoveBody] = Field(min_length=1, max_length=1000)
    continue_on_failure: bool = Field(False, description="keep going after a failed move")


class RollbackBody(StrictModel):
    vmid: VmId


class TagBody(StrictModel):
    tag: str = Field(min_length=1, max_length=128)


class StorageVerifyBody(StrictModel):
    vmid: VmId
    target_node: NodeName
    targetstorage: str | None = StorageSpec


class HistoryQuery(StrictModel):
    vmid: VmId | None = None
    origin: Literal["manual", "batch", "automation", "rollback", "evacuation", "cli"] | None = None
    state: Literal["pending", "started", "unknown", "completed", "failed", "cancelled"] | None = None
    from_: str | None = Field(None, alias="from", description="ISO 8601 start (created at or after)")
    to: str | None = Field(None, description="ISO 8601 end")
    limit: int = Field(100, ge=1, le=10_000)
    offset: int = Field(0, ge=0)


class ExportQuery(StrictModel):
    format: Literal["json", "csv"] = "json"
    from_: str | None = Field(None, alias="from", description="ISO 8601 start")
    to: str | None = Field(None, description="ISO 8601 end")


class OutcomesQuery(StrictModel):
    vmid: VmId | None = None
    limit: int = Field(20, ge=1, le=1000)


class Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class CheckModel(BaseModel):
    name: str
    passed: bool
    detail: str


class ValidationModel(BaseModel):
    passed: bool
    checks: list[CheckModel]
    warnings: list[str]


class ValidationResponse(BaseModel):
    success: bool
    validation: ValidationModel


class MigrationRecord(Open):
    migration_id: str
    vmid: int
    guest_type: str
    source_node: str
    target_node: str
    state: str = Field(description="pending | started | completed | failed | cancelled | unknown")
    upid: str | None = None
    request_upid: str | None = Field(None, description="hamigrate task of an HA guest")
    actor: str
    origin: str
    created_at: float
    started_at: float | None = None
    finished_at: float | None = None
    error: str | None = None


class MigrationResponse(Open):
    success: bool
    migration_id: str
    upid: str | None
    state: str
    migration: MigrationRecord


class BatchMove(Open):
    vmid: int
    source_node: str
    target_node: str
    status: str = Field(description="queued | running | completed | failed | cancelled | skipped")
    order: int
    after: list[int] = Field(description="vmids whose moves must end first")
    migration_id: str | None = None
    error: str | None = None


class BatchResponse(Open):
    success: bool
    batch_id: str
    state: str
    moves: list[BatchMove]


class MigrationStatusResponse(Open):
    success: bool
    vmid: int
    migrating: bool
    state: str | None
    percent: float | None
    transferred_bytes: int | None
    rate_bytes_per_s: float | None
    elapsed_seconds: float | None
    eta_seconds: float | None


class HistoryResponse(Open):
    success: bool
    history: list[MigrationRecord]
    count: int
    total: int


class TagsWriteResponse(Open):
    success: bool
    vmid: int
    tags: list[str]


def as_open(data: dict[str, Any]) -> dict[str, Any]:
    return data
