"""Penalty scoring configuration: read, update, reset, presets, and simulate without saving."""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from pydantic import Field

from proxbalance import engine as eng
from proxbalance import recommendations as svc
from proxbalance.api.endpoint import endpoint
from proxbalance.api.models import StrictModel
from proxbalance.api.state import state

bp = Blueprint("penalty", __name__)


class ConfigBody(StrictModel):
    config: dict[str, Any] = Field(description="Penalty keys to change (see docs/engine.md); others are kept")


class SimulateBody(StrictModel):
    config: dict[str, Any] = Field(default_factory=dict, description="Proposed penalty keys")
    cpu_threshold: float | None = Field(None, ge=1, le=100)
    mem_threshold: float | None = Field(None, ge=1, le=100)


def _answer(cfg: eng.PenaltyConfig, preset: str | None, saved: bool) -> dict:
    return {"config": cfg.to_dict(), "preset": preset, "customized": saved,
            "presets": [eng.preset_info(name) for name in eng.list_presets()]}


@endpoint(bp, "GET", "/api/penalty-config", summary="The penalty scoring configuration in force, and the presets.")
def get_config():
    st = state()
    return _answer(*svc.active_penalty_config(st.settings, st.store))


@endpoint(bp, "POST", "/api/penalty-config", body=ConfigBody,
          summary="Change penalty keys (validated; nothing is saved if any key is invalid).")
def set_config(body: ConfigBody):
    st = state()
    svc.save_penalty_config(st.settings, st.store, body.config)
    return _answer(*svc.active_penalty_config(st.settings, st.store))


@endpoint(bp, "POST", "/api/penalty-config/reset", summary="Forget saved changes: back to the configured preset.")
def reset_config():
    st = state()
    svc.reset_penalty_config(st.settings, st.store)
    return _answer(*svc.active_penalty_config(st.settings, st.store))


@endpoint(bp, "POST", "/api/penalty-config/presets/<name>",
          summary="Apply a preset: conservative, balanced, aggressive, cpu_focus or memory_focus.")
def apply_preset(name: str):
    st = state()
    svc.apply_preset(st.settings, st.store, name)
    return _answer(*svc.active_penalty_config(st.settings, st.store))


@endpoint(bp, "POST", "/api/penalty-config/simulate", body=SimulateBody, scope="read",  # saves nothing
          summary="What recommendations a proposed config would give, compared with the current one. Saves nothing.")
def simulate(body: SimulateBody):
    st = state()
    current = svc.active_penalty_config(st.settings, st.store)[0]
    thresholds = {k: v for k, v in (("cpu_threshold", body.cpu_threshold),
                                    ("mem_threshold", body.mem_threshold)) if v is not None}
    proposed = eng.PenaltyConfig.from_dict({**body.config, **thresholds}, base=current)
    before = svc.generate(st.settings, st.store, cfg=current, save=False)
    after = svc.generate(st.settings, st.store, cfg=proposed, save=False)

    def moves(run):
        return {(r["vmid"], r["target_node"]) for r in run["recommendations"]}

    added, removed = moves(after) - moves(before), moves(before) - moves(after)
    return {
        "current": {"count": len(before["recommendations"]), "batch_impact": before["batch_impact"]},
        "proposed": {"count": len(after["recommendations"]), "batch_impact": after["batch_impact"],
                     "recommendations": after["recommendations"]},
        "changes": {"added": [{"vmid": v, "target_node": t} for v, t in sorted(added)],
                    "removed": [{"vmid": v, "target_node": t} for v, t in sorted(removed)]},
    }
