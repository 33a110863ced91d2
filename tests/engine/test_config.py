"""PenaltyConfig validation, presets, term registry, docs coverage."""

import pathlib

import pytest

from proxbalance.engine import KEYS, TERMS, PenaltyConfig, list_presets, load_preset
from proxbalance.engine.terms import register
from proxbalance.errors import ConfigError, NotFoundError, ValidationError

DOCS = pathlib.Path(__file__).resolve().parents[2] / "docs" / "engine.md"


def test_defaults_roundtrip():
    cfg = PenaltyConfig.defaults()
    assert PenaltyConfig.from_dict(cfg.to_dict()) == cfg
    assert cfg.cpu_high_penalty == 20 and cfg["min_score_improvement"] == cfg.min_score_improvement


@pytest.mark.parametrize("data,key", [
    ({"cpu_high_penaltyy": 1}, "cpu_high_penaltyy"),
    ({"cpu_high_penalty": "x"}, "cpu_high_penalty"),
    ({"cpu_high_penalty": True}, "cpu_high_penalty"),
    ({"cpu_high_penalty": -1}, "cpu_high_penalty"),
    ({"cpu_threshold": float("nan")}, "cpu_threshold"),
    ({"max_moves": 1.5}, "max_moves"),
    ({"local_search": 1}, "local_search"),
    ({"weight_current": 0.9}, "weight_current"),
    ({"terms": {"nope": 1}}, "terms.nope"),
    ({"terms": {"balance": -1}}, "terms.balance"),
])
def test_invalid_values_name_the_key(data, key):
    with pytest.raises(ValidationError) as exc:
        PenaltyConfig.from_dict(data)
    assert exc.value.details["key"] == key


def test_term_arg_check():
    cfg = PenaltyConfig.from_dict({"cpu_threshold_offset_1": 30, "cpu_threshold_offset_2": 10})
    with pytest.raises(ValidationError):
        TERMS["cpu_load"].args(cfg)


def test_partial_update_keeps_base():
    base = PenaltyConfig.from_dict({"cpu_threshold": 50})
    cfg = PenaltyConfig.from_dict({"mem_threshold": 60}, base=base)
    assert cfg.cpu_threshold == 50 and cfg.mem_threshold == 60


@pytest.mark.parametrize("name", ["conservative", "balanced", "aggressive", "cpu_focus", "memory_focus"])
def test_presets_load_and_validate(name):
    cfg = load_preset(name)
    assert isinstance(cfg, PenaltyConfig)
    assert PenaltyConfig.from_dict(cfg.to_dict()) == cfg


def test_presets_differ_and_unknown_preset():
    assert list_presets() == ["conservative", "balanced", "aggressive", "cpu_focus", "memory_focus"]
    cons, aggr = load_preset("conservative"), load_preset("aggressive")
    assert cons.min_score_improvement > aggr.min_score_improvement
    assert load_preset("cpu_focus").cpu_balance_weight > load_preset("memory_focus").cpu_balance_weight
    with pytest.raises(NotFoundError):
        load_preset("yolo")


def test_registry_rejects_bad_terms():
    with pytest.raises(ConfigError):
        register("balance", "penalty", "x")(lambda v, a: 0)  # duplicate
    with pytest.raises(ConfigError):
        register("new_term", "penalty", "x", ("no_such_key",))(lambda v, a: 0)
    with pytest.raises(ConfigError):
        register("new_term2", "penalty", "x", default_weight=None)(lambda v, a: 0)


def test_every_key_and_term_is_documented():
    text = DOCS.read_text()
    missing = [k.name for k in KEYS if f"`{k.name}`" not in text]
    missing += [t for t in TERMS if f"`{t}`" not in text]
    assert not missing, f"undocumented in docs/engine.md: {missing}"
