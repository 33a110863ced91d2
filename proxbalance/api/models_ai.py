"""Response models of the AI endpoints (see proxbalance/ai/service.py for where each key comes from)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class AICheck(BaseModel):
    name: str
    passed: bool
    detail: str


class AIValidation(BaseModel):
    passed: bool
    source: str = Field(description="engine (hard filters on the newest snapshot) or executor (validate_move)")
    checks: list[AICheck]


class AIEngineVerdict(_Open):
    score_improvement: float = Field(description="points the cluster total drops by (engine's score; < 0 = worse)")
    verdict: str = Field(description="improves | neutral | worsens")
    breakdown: dict[str, float]
    predicted: dict[str, float] = Field(description="source/target CPU and memory % before and after")
    comparison: str = Field(description="same_as_engine | engine_moves_elsewhere | engine_does_not_move")
    engine_target: str | None = None


class AIRecommendation(BaseModel):
    vmid: int
    name: str
    source_node: str
    target_node: str
    type: str = Field(description="VM or CT")
    priority: str
    reasoning: str
    risk_score: float
    estimated_impact: str
    best_time: str
    validation: AIValidation
    engine: AIEngineVerdict
    warnings: list[str]


class AIDropped(_Open):
    reason: str = Field(description="unknown_vmid | duplicate | wrong_source | unknown_node | same_node | a failed "
                                    "check name (anti_affinity, mem_limit, target_online, ...) | malformed: ...")
    vmid: int | None = None
    target_node: str | None = None
    detail: str | None = None


class AIIssue(BaseModel):
    node: str
    issue: str
    severity: str
    timeframe: str


class AIInfo(BaseModel):
    provider: str
    model: str
    base_url: str
    key_source: str = Field(description="settings | request | none (the key itself is never returned)")
    usage: dict[str, Any]
    structured_output: bool
    prompt_chars: int
    duration_ms: float
    anonymized: bool


class AIValidationInfo(BaseModel):
    source: str = Field(description="executor (live validate_move + engine) or engine (newest snapshot only)")
    note: str | None = Field(None, description="why live validation was not used, when it was not")


class AIRecommendationsResponse(BaseModel):
    success: bool
    analysis: str
    recommendations: list[AIRecommendation]
    predicted_issues: list[AIIssue]
    dropped: list[AIDropped]
    agreement: dict[str, int]
    validation: AIValidationInfo
    engine_plan: dict[str, Any]
    ai: AIInfo


class AIModel(_Open):
    id: str


class AIModelsResponse(BaseModel):
    success: bool
    provider: str
    models: list[AIModel]
    count: int
    default_model: str
    base_url: str
