"""Penalty presets: the TOML files of the repository's top-level ``presets/`` folder.

Found in the source checkout (``<repo>/presets``, editable installs included) or, installed from a wheel, where
the wheel's data files put them (``<prefix>/share/proxbalance/presets``, pyproject ``[tool.setuptools.data-files]``).

Each preset is a partial penalty config applied over the defaults; a ``[terms]`` table sets term weights
(0 disables a term). Unknown keys, unknown terms and bad values are errors when the preset is loaded.
"""

from __future__ import annotations

import sys
import sysconfig
import tomllib
from functools import cache
from pathlib import Path

from ..errors import NotFoundError, ValidationError

PRESETS = ("conservative", "balanced", "aggressive", "cpu_focus", "memory_focus")


@cache
def preset_dir() -> Path:
    """The folder holding the preset TOML files."""
    here = Path(__file__).resolve()
    candidates = [here.parents[2] / "presets",  # source checkout / editable install
                  Path(sysconfig.get_path("data")) / "share" / "proxbalance" / "presets",  # wheel data files
                  Path(sys.prefix) / "share" / "proxbalance" / "presets"]
    for c in candidates:
        if (c / "balanced.toml").is_file():
            return c
    raise FileNotFoundError(f"preset folder not found (looked in {', '.join(map(str, candidates))})")


def _text(name: str) -> str:
    return (preset_dir() / f"{name}.toml").read_text(encoding="utf-8")


def list_presets() -> list[str]:
    """Names of the shipped presets."""
    return list(PRESETS)


def preset_data(name: str) -> dict:
    """The raw preset table (with its ``label``/``description`` metadata removed)."""
    if name not in PRESETS:
        raise NotFoundError(f"unknown preset {name!r}", details={"preset": name, "available": list(PRESETS)})
    text = _text(name)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValidationError(f"preset {name}: {exc}", details={"preset": name}) from exc
    data.pop("label", None)
    data.pop("description", None)
    return data


def preset_info(name: str) -> dict:
    data = tomllib.loads(_text(name))
    return {"name": name, "label": data.get("label", name), "description": data.get("description", "")}


def load_preset(name: str):
    """The preset as a validated :class:`~proxbalance.engine.config.PenaltyConfig`."""
    from ..engine.config import PenaltyConfig

    return PenaltyConfig.from_dict(preset_data(name))
