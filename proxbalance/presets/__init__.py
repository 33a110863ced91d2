"""Penalty presets shipped with the package (TOML files next to this module).

Each preset is a partial penalty config applied over the defaults; a ``[terms]`` table sets term weights
(0 disables a term). Unknown keys, unknown terms and bad values are errors when the preset is loaded.
"""

from __future__ import annotations

import tomllib
from importlib import resources

from ..errors import NotFoundError, ValidationError

PRESETS = ("conservative", "balanced", "aggressive", "cpu_focus", "memory_focus")


def list_presets() -> list[str]:
    """Names of the shipped presets."""
    return list(PRESETS)


def preset_data(name: str) -> dict:
    """The raw preset table (with its ``label``/``description`` metadata removed)."""
    if name not in PRESETS:
        raise NotFoundError(f"unknown preset {name!r}", details={"preset": name, "available": list(PRESETS)})
    text = resources.files(__package__).joinpath(f"{name}.toml").read_text(encoding="utf-8")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValidationError(f"preset {name}: {exc}", details={"preset": name}) from exc
    data.pop("label", None)
    data.pop("description", None)
    return data


def preset_info(name: str) -> dict:
    text = resources.files(__package__).joinpath(f"{name}.toml").read_text(encoding="utf-8")
    data = tomllib.loads(text)
    return {"name": name, "label": data.get("label", name), "description": data.get("description", "")}


def load_preset(name: str):
    """The preset as a validated :class:`~proxbalance.engine.config.PenaltyConfig`."""
    from ..engine.config import PenaltyConfig

    return PenaltyConfig.from_dict(preset_data(name))
