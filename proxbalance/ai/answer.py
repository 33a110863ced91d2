"""The answer we ask the AI for: a JSON schema (for structured output / tool use) and a tolerant parser.

:func:`parse` accepts a dict (tool input, parsed structured output) or text: plain JSON, JSON in a
```json fence, or JSON after some prose. What is not an object with ``analysis`` or ``recommendations`` is a
:class:`AIBadResponseError`. Malformed recommendation items are not fatal: they are returned apart, each
with the reason, and the caller lists them as dropped.
"""

from __future__ import annotations

import json
import re
from typing import Any

from proxbalance.ai.errors import AIBadResponseError

PRIORITIES = ("low", "medium", "high", "critical")
MAX_ITEMS = 50
MAX_TEXT = 4000

_MOVE = {
    "type": "object",
    "properties": {
        "vmid": {"type": "integer", "description": "guest id from the summary"},
        "source_node": {"type": "string", "description": "node the guest runs on now"},
        "target_node": {"type": "string", "description": "node to move it to"},
        "priority": {"type": "string", "enum": list(PRIORITIES)},
        "reasoning": {"type": "string"},
        "risk_score": {"type": "number", "description": "0 (safe) to 1 (risky)"},
        "estimated_impact": {"type": "string", "description": "e.g. 'Reduces pve1 CPU to ~65%'"},
        "best_time": {"type": "string", "description": "'now' or a time window"},
    },
    "required": ["vmid", "source_node", "target_node", "priority", "reasoning", "risk_score",
                 "estimated_impact", "best_time"],
    "additionalProperties": False,
}
_ISSUE = {
    "type": "object",
    "properties": {
        "node": {"type": "string", "description": "node concerned, '' for the whole cluster"},
        "issue": {"type": "string"},
        "severity": {"type": "string", "enum": ["info", "warning", "critical"]},
        "timeframe": {"type": "string", "description": "when it is expected, e.g. 'within 24h'"},
    },
    "required": ["node", "issue", "severity", "timeframe"],
    "additionalProperties": False,
}
SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "analysis": {"type": "string", "description": "short summary of the cluster's state and your advice"},
        "recommendations": {"type": "array", "items": _MOVE},
        "predicted_issues": {"type": "array", "items": _ISSUE},
    },
    "required": ["analysis", "recommendations", "predicted_issues"],
    "additionalProperties": False,
}

_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.S | re.I)


def _loads(text: str) -> Any:
    text = text.strip()
    candidates = [m.group(1) for m in _FENCE.finditer(text)] + [text]
    decoder = json.JSONDecoder()
    for cand in candidates:
        cand = cand.strip()
        try:
            return json.loads(cand)
        except ValueError:
            pass
        for start in [m.start() for m in re.finditer(r"\{", cand)][:20]:
            try:
                return decoder.raw_decode(cand[start:])[0]
            except ValueError:
                continue
    raise AIBadResponseError("the AI's answer is not valid JSON",
                             details={"answer_start": text[:300]})


def _text(value: Any, limit: int = 1000) -> str:
    return "" if value is None else str(value)[:limit]


def _move(item: Any) -> tuple[dict | None, str]:
    if not isinstance(item, dict):
        return None, "not an object"
    vmid = item.get("vmid")
    if isinstance(vmid, str) and vmid.strip().isdigit():
        vmid = int(vmid.strip())
    if isinstance(vmid, float) and vmid.is_integer():
        vmid = int(vmid)
    if not isinstance(vmid, int) or isinstance(vmid, bool):
        return None, "vmid is not an integer"
    target = item.get("target_node")
    if not isinstance(target, str) or not target.strip():
        return None, "target_node missing"
    risk = item.get("risk_score")
    try:
        risk = min(1.0, max(0.0, float(risk)))
    except (TypeError, ValueError):
        risk = None
    prio = str(item.get("priority", "medium")).lower()
    source = item.get("source_node")
    return {"vmid": vmid, "source_node": source.strip() if isinstance(source, str) and source.strip() else None,
            "target_node": target.strip(), "priority": prio if prio in PRIORITIES else "medium",
            "reasoning": _text(item.get("reasoning")), "risk_score": risk,
            "estimated_impact": _text(item.get("estimated_impact"), 300),
            "best_time": _text(item.get("best_time") or "now", 100)}, ""


def _issue(item: Any) -> dict | None:
    if isinstance(item, str):
        return {"node": "", "issue": item[:1000], "severity": "warning", "timeframe": ""}
    if not isinstance(item, dict) or not item.get("issue"):
        return None
    return {"node": _text(item.get("node"), 100), "issue": _text(item.get("issue")),
            "severity": _text(item.get("severity") or "warning", 20), "timeframe": _text(item.get("timeframe"), 100)}


def parse(raw: dict | str) -> tuple[dict, list[dict]]:
    """(answer, malformed) where answer = ``{analysis, recommendations, predicted_issues}`` and malformed =
    ``[{"item", "reason"}]`` for recommendation entries that could not be read."""
    data = raw if isinstance(raw, dict) else _loads(raw or "")
    if not isinstance(data, dict) or not ({"analysis", "recommendations"} & set(data)):
        raise AIBadResponseError("the AI's answer has neither 'analysis' nor 'recommendations'",
                                 details={"answer_start": json.dumps(data)[:300] if not isinstance(raw, str)
                                          else raw[:300]})
    recs_in = data.get("recommendations") or []
    if not isinstance(recs_in, list):
        recs_in = []
    moves, malformed = [], []
    for item in recs_in[:MAX_ITEMS]:
        move, why = _move(item)
        if move is None:
            malformed.append({"item": json.dumps(item, default=str)[:300], "reason": f"malformed: {why}"})
        else:
            moves.append(move)
    issues_in = data.get("predicted_issues") or []
    issues = [i for i in (_issue(x) for x in (issues_in if isinstance(issues_in, list) else [])[:MAX_ITEMS]) if i]
    return {"analysis": _text(data.get("analysis"), MAX_TEXT), "recommendations": moves,
            "predicted_issues": issues}, malformed
