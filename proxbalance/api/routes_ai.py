"""AI second opinion: suggestions checked by the engine, and the provider's model list."""

from __future__ import annotations

from typing import Literal

from flask import Blueprint
from pydantic import Field

from proxbalance.ai import service
from proxbalance.api.endpoint import endpoint
from proxbalance.api.executor_ctx import executor_ctx
from proxbalance.api.models import NodeName, StrictModel
from proxbalance.api.models_ai import AIModelsResponse, AIRecommendationsResponse
from proxbalance.api.state import state

bp = Blueprint("ai", __name__)

Provider = Literal["openai", "anthropic", "ollama"]
KEY = Field(None, min_length=1, max_length=500, pattern=r"^[\x21-\x7e]+$",
            description="Provider key for this request only (never stored); visible ASCII")
URL = Field(None, min_length=1, max_length=2000,
            description="Provider URL for this request only; the stored key is never sent to it")


class ProviderOverride(StrictModel):
    provider: Provider | None = Field(None, description="Default: ai.provider")
    model: str | None = Field(None, min_length=1, max_length=200, description="Default: ai.<provider>_model")
    api_key: str | None = KEY
    base_url: str | None = URL


class AIRecommendBody(ProviderOverride):
    cpu_threshold: float | None = Field(None, ge=1, le=100, description="Node CPU % counted as loaded")
    mem_threshold: float | None = Field(None, ge=1, le=100, description="Node memory % counted as loaded")
    analysis_period: Literal["1h", "6h", "24h", "7d", "30d"] = Field("24h", description="Load figures shown")
    maintenance_nodes: list[NodeName] = Field(default_factory=list, max_length=200,
                                              description="Nodes to treat as in maintenance (evacuate)")


class AIModelsBody(StrictModel):
    provider: Provider
    api_key: str | None = KEY
    base_url: str | None = URL


@endpoint(bp, "POST", "/api/ai-recommendations", body=AIRecommendBody, response=AIRecommendationsResponse,
          summary="Ask the configured AI for an analysis and moves; every move is checked and scored by the engine.")
def ai_recommendations(body: AIRecommendBody):
    st = state()
    return service.ai_recommendations(st.settings, st.store, exec_ctx=lambda: executor_ctx(reconcile=False),
                                      **body.model_dump(exclude_none=True))


@endpoint(bp, "POST", "/api/ai-models", body=AIModelsBody, response=AIModelsResponse,
          summary="List the models of an AI provider (stored key only with the stored URL).")
def ai_models(body: AIModelsBody):
    return service.models(state().settings, **body.model_dump(exclude_none=True))
