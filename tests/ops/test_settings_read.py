"""Every setting of the operations area (proxmox.*, paths.*, logging.*, updates.*, system.*) is read by code."""

from __future__ import annotations

from pathlib import Path

from proxbalance.config import SETTINGS

ROOT = Path(__file__).resolve().parents[2] / "proxbalance"
OURS = ("proxmox.", "paths.", "logging.", "updates.", "system.")
REGISTRY = {ROOT / "config.py", ROOT / "config_service.py"}  # naming a setting there is not reading it
ACCESSORS = {"paths.data_dir": "data_dir"}  # read through Settings.data_dir


def test_every_ops_setting_is_read():
    sources = "\n".join(p.read_text() for p in ROOT.rglob("*.py") if p not in REGISTRY)
    unread = [s.name for s in SETTINGS if s.name.startswith(OURS) and f'"{s.name}"' not in sources
              and not (s.name in ACCESSORS and f".{ACCESSORS[s.name]}" in sources)]
    assert unread == []
