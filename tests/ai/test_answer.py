"""Tolerant parsing of the AI's answer."""

from __future__ import annotations

import json

import pytest

from proxbalance.ai.answer import parse
from proxbalance.ai.errors import AIBadResponseError

MOVE = {"vmid": 100, "source_node": "pve1", "target_node": "pve2", "priority": "high", "reasoning": "r",
        "risk_score": 0.2, "estimated_impact": "i", "best_time": "now"}
ANSWER = {"analysis": "a", "recommendations": [MOVE], "predicted_issues": ["pve1 runs hot"]}


@pytest.mark.parametrize("raw", [ANSWER, json.dumps(ANSWER), "```json\n" + json.dumps(ANSWER) + "\n```",
                                 "Sure, here it is: " + json.dumps(ANSWER) + " Hope that helps {not json}"])
def test_forms_that_parse(raw):
    answer, malformed = parse(raw)
    assert answer["recommendations"][0]["vmid"] == 100 and malformed == []
    assert answer["predicted_issues"][0]["issue"] == "pve1 runs hot"


@pytest.mark.parametrize("raw", ['{"analysis": "cut', "no json at all", "[1, 2]", '{"other": 1}', ""])
def test_bad_answers(raw):
    with pytest.raises(AIBadResponseError):
        parse(raw)


def test_malformed_items_are_listed_and_values_coerced():
    raw = {"analysis": "a", "recommendations": [
        {**MOVE, "vmid": "101", "risk_score": 7, "priority": "URGENT"},
        {**MOVE, "vmid": "vm one-oh-two"}, "just a string", {**MOVE, "target_node": ""}]}
    answer, malformed = parse(raw)
    [m] = answer["recommendations"]
    assert (m["vmid"], m["risk_score"], m["priority"]) == (101, 1.0, "medium")
    assert [x["reason"] for x in malformed] == ["malformed: vmid is not an integer", "malformed: not an object",
                                               "malformed: target_node missing"]
