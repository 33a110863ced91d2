"""Generated parts of the docs: the settings table, the endpoint table and the CLI command list.

Each doc keeps its generated part between ``<!-- BEGIN GENERATED -->`` and ``<!-- END GENERATED -->``;
``proxbalance docs --write`` refreshes them and tests/test_docs.py fails when one is stale.
"""

from __future__ import annotations

import argparse
import importlib
import json
import re
from pathlib import Path

from proxbalance.config import SETTINGS

BEGIN, END = "<!-- BEGIN GENERATED -->", "<!-- END GENERATED -->"
DOCS_DIR = Path(__file__).resolve().parents[1] / "docs"


def settings_table() -> str:
    lines = ["| setting | environment | type | default | secret | description |",
             "| --- | --- | --- | --- | --- | --- |"]
    for s in SETTINGS:
        lines.append(f"| `{s.name}` | `{s.env_var}` | {s.type.__name__} | `{json.dumps(s.default)}` | "
                     f"{'yes' if s.secret else ''} | {s.help} |")
    return "\n".join(lines)


def endpoints_table() -> str:
    from proxbalance.api import BLUEPRINTS
    from proxbalance.api.endpoint import ENDPOINTS

    for name in BLUEPRINTS:  # importing a blueprint module declares its endpoints
        importlib.import_module(name)
    lines = ["| method | path | scope | summary |", "| --- | --- | --- | --- |"]
    for spec in sorted(ENDPOINTS, key=lambda s: (s.openapi_path, s.method)):
        lines.append(f"| {spec.method} | `{spec.openapi_path}` | {spec.scope or 'public'} | {spec.summary} |")
    return "\n".join(lines)


def cli_table() -> str:
    from proxbalance.cli import build_parser

    lines = ["| command | what it does |", "| --- | --- |"]

    def walk(parser: argparse.ArgumentParser, prefix: str) -> None:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                helps = {a.dest: a.help for a in action._choices_actions}
                for name, sub in action.choices.items():
                    lines.append(f"| `proxbalance {prefix}{name}` | {helps.get(name) or ''} |")
                    walk(sub, f"{prefix}{name} ")

    walk(build_parser(), "")
    return "\n".join(lines)


GENERATED = {"configuration.md": settings_table, "api.md": endpoints_table, "cli.md": cli_table}


def splice(text: str, generated: str) -> str:
    pattern = re.compile(re.escape(BEGIN) + ".*?" + re.escape(END), re.S)
    if not pattern.search(text):
        raise ValueError("generated-section markers missing")
    return pattern.sub(lambda _: f"{BEGIN}\n{generated}\n{END}", text)


def stale(docs_dir: Path = DOCS_DIR) -> list[str]:
    """Docs whose generated section differs from the code."""
    return [name for name, make in GENERATED.items()
            if (docs_dir / name).read_text() != splice((docs_dir / name).read_text(), make())]


def write(docs_dir: Path = DOCS_DIR) -> list[str]:
    changed = []
    for name, make in GENERATED.items():
        path = docs_dir / name
        new = splice(path.read_text(), make())
        if new != path.read_text():
            path.write_text(new)
            changed.append(name)
    return changed
