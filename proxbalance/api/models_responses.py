"""Response models of the keys, audit, recommendations and penalty endpoints (so the OpenAPI document is a
real contract and schema checks mean something). Extra keys are allowed; the declared ones are required
with their types. Times are ISO 8601 strings (keys, audit) or Unix seconds (plans), as documented."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class Ok(Open):
    success: bool


# --- keys and audit -------------------------------------------------------------------------------------
class KeyInfo(Open):
    id: int
    name: str
    prefix: str = Field(description="First characters of the key, to recognise it")
    scope: str = Field(description="read | admin")
    active: bool
    created_at: str | None
    last_used_at: str | None
    revoked_at: str | None


class KeysResponse(Ok):
    keys: list[KeyInfo]
    count: int


class KeyCreatedResponse(Ok):
    key: KeyInfo
    api_key: str = Field(description="The plaintext key: shown this once, never again")


class KeyResponse(Ok):
    key: KeyInfo


class AuditEntryModel(Open):
    id: int
    time: str | None
    actor: str
    method: str
    path: str
    status: int
    result: str = Field(description="ok | error")
    request_id: str
    remote_addr: str | None
    detail: dict[str, Any] | None


class AuditResponse(Ok):
    entries: list[AuditEntryModel]
    total_count: int
    count: int


# --- recommendations ------------------------------------------------------------------------------------
class Recommendation(Open):
    vmid: int
    name: str | None
    type: str
    source_node: str
    target_node: str
    reason: str
    priority: str
    score_improvement: float
    confidence_score: float
    risk_score: float


class Skip(Open):
    vmid: int
    reason: str
    detail: str | None = None


class LoadSummary(Open):
    peak_pct: float
    cpu_max_pct: float
    mem_max_pct: float
    nodes: dict[str, dict[str, Any]]


class BatchImpact(Open):
    before: LoadSummary
    after: LoadSummary
    score_improvement: float
    moves: int
    gib_moved: float


class RunFields(Ok):
    run_id: int | None = None
    generated_at: float
    batch_impact: BatchImpact
    skip_reason_breakdown: dict[str, int]
    conflicts: list[Any]
    conflicts_count: int
    generation_time_ms: float
    guests_evaluated: int
    snapshot_time: float


class RunResponse(RunFields):
    recommendations: list[Recommendation]
    skipped: list[Skip]


class RunPageResponse(RunFields):
    recommendations: list[Recommendation]
    total_count: int
    filtered_count: int
    count: int


class SkippedResponse(Ok):
    skipped: list[Skip]
    total_count: int
    filtered_count: int
    count: int
    skip_reason_breakdown: dict[str, int]


class ThresholdSuggestionsResponse(Ok):
    suggested_cpu_threshold: float
    suggested_mem_threshold: float
    confidence: str
    reasoning: str
    cluster_stats: dict[str, float | int]


class DiagnosticsResponse(Ok):
    diagnostics: dict[str, Any]


class ExportResponse(Open):
    generated_at: float
    recommendations: list[Recommendation]


class FeedbackCreatedResponse(Ok):
    feedback_id: int


class FeedbackStats(Open):
    total: int
    helpful: int
    not_helpful: int
    helpful_rate: float | None


class FeedbackEntry(Open):
    id: int
    time: float
    vmid: int
    rating: str
    comment: str | None
    run_id: int | None


class FeedbackResponse(Ok):
    stats: FeedbackStats
    recent: list[FeedbackEntry]


class NodeOption(Open):
    node: str
    score: float | None
    suitability: float | None
    allowed: bool
    filtered_by: list[str]
    current: bool
    breakdown: dict[str, Any] | None = None


class NodeScores(Open):
    vmid: int | None
    current_node: str | None
    hypothetical: bool
    best_node: str | None
    nodes: list[NodeOption]


class NodeScoresResponse(Ok):
    node_scores: NodeScores


class MigrationOptionsResponse(Ok):
    vmid: int
    current_node: str | None
    best_node: str | None
    options: list[NodeOption]


# --- penalty configuration ------------------------------------------------------------------------------
class PresetInfo(Open):
    name: str
    label: str
    description: str


class PenaltyConfigResponse(Ok):
    config: dict[str, Any]
    preset: str | None
    customized: bool
    presets: list[PresetInfo]


class PlanCount(Open):
    count: int
    batch_impact: BatchImpact


class ProposedPlan(PlanCount):
    recommendations: list[Recommendation]


class MoveRef(Open):
    vmid: int
    target_node: str


class Changes(Open):
    added: list[MoveRef]
    removed: list[MoveRef]


class SimulateResponse(Ok):
    current: PlanCount
    proposed: ProposedPlan
    changes: Changes


class OpenApiResponse(Open):
    openapi: str
    info: dict[str, Any]
    paths: dict[str, Any]
    components: dict[str, Any]
