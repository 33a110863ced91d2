"""``proxbalance ai ask`` (the AI's checked second opinion on the newest snapshot) and ``proxbalance ai models``."""

from __future__ import annotations

import argparse
import json

from proxbalance.config import load_settings
from proxbalance.store import Store


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("ai", help="ask the configured AI provider for a second opinion (checked by the engine)")
    s = p.add_subparsers(dest="ai_command", metavar="ACTION", required=True)
    ask = s.add_parser("ask", help="analysis and suggested moves for the newest snapshot, each one checked")
    ask.add_argument("--cpu-threshold", type=float, help="node CPU %% counted as loaded")
    ask.add_argument("--mem-threshold", type=float, help="node memory %% counted as loaded")
    ask.add_argument("--period", default="24h", choices=("1h", "6h", "24h", "7d", "30d"), help="load figures shown")
    ask.add_argument("--json", action="store_true", help="print the whole answer as JSON")
    ask.set_defaults(func=cmd_ask)
    models = s.add_parser("models", help="list the models of a provider (with its stored key and URL)")
    models.add_argument("provider", choices=("openai", "anthropic", "ollama"))
    models.set_defaults(func=cmd_models)


def cmd_ask(args) -> int:
    from proxbalance.ai import service
    from proxbalance.executor.context import ExecContext

    settings = load_settings(args.config)
    store = Store.open(settings)
    out = service.ai_recommendations(settings, store, cpu_threshold=args.cpu_threshold,
                                     mem_threshold=args.mem_threshold, analysis_period=args.period,
                                     exec_ctx=lambda: ExecContext.from_settings(settings, store))
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    lines = [out["analysis"], "", f"{len(out['recommendations'])} suggested moves kept, {len(out['dropped'])} "
             f"dropped (validation: {out['validation']['source']})"]
    for r in out["recommendations"]:
        e = r["engine"]
        lines.append(f"  {r['vmid']:>7} {r['name'][:20]:20} {r['source_node']} -> {r['target_node']}  "
                     f"engine {e['score_improvement']:+.1f} ({e['verdict']}, {e['comparison']})")
    for d in out["dropped"]:
        lines.append(f"  dropped {d.get('vmid')}: {d['reason']}: {d.get('detail', '')}")
    for i in out["predicted_issues"]:
        lines.append(f"  issue [{i['severity']}] {i['node'] or 'cluster'}: {i['issue']}")
    print("\n".join(lines))
    return 0


def cmd_models(args) -> int:
    from proxbalance.ai import service

    out = service.models(load_settings(args.config), provider=args.provider)
    for m in out["models"]:
        print(m["id"])
    return 0
