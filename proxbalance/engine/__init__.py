"""The pure scoring engine: arrays in, arrays out; no I/O, no clock (except plan()'s timing_ms).

Public API::

    cfg = PenaltyConfig.from_dict({...}); load_preset("balanced"); list_presets()
    arrays = build_arrays(snapshot, history=None, cfg=cfg)
    result = plan(arrays, cfg, max_moves=None)        # Plan
    options = score_guest(arrays, cfg, vmid, hypothetical=None)
"""

from .config import KEYS, PenaltyConfig  # noqa: I001  (config before presets: presets import it)
from ..presets import list_presets, load_preset, preset_info
from .arrays import RES, ClusterArrays, build_arrays
from .recommend import Plan, Recommendation, plan
from .score import score_guest, score_matrix
from .terms import REGISTRY as TERMS
from .suggest import threshold_suggestions

__all__ = [
    "KEYS", "PenaltyConfig", "list_presets", "load_preset", "preset_info", "RES", "ClusterArrays",
    "build_arrays", "Plan", "Recommendation", "plan", "score_guest", "score_matrix", "TERMS",
    "threshold_suggestions",
]
